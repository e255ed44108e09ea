"""l1lab.edge.agreement, and the tolerances that compaction's and export's checks judge with it."""

import numpy as np
import pytest

from l1lab.edge import agreement


def test_compare_outputs_by_hand():
    want = [[1.0, 300.0], [2.0, -1.0]]
    got = [[1.5, 300.0], [2.0, 3.0]]
    diff, scale, same = agreement.compare_outputs(want, got)
    assert (diff, scale, same) == (4.0, 300.0, 1)  # row 1's argmax moved from 0 to 1


def test_the_scale_is_the_largest_output_never_below_one():
    assert agreement.compare_outputs([[0.1, -0.2]], [[0.1, -0.2]]) == (0.0, 1.0, 1)
    assert agreement.compare_outputs([[0.1, -250.0]], [[0.1, -250.0]])[1] == 250.0  # |negative| counts
    assert agreement.compare_outputs(np.zeros((0, 10)), np.zeros((0, 10))) == (0.0, 1.0, 0)


class Shifted:
    """A model whose outputs are another's plus a constant: ``predict`` as Keras's."""

    def __init__(self, outputs, shift=0.0):
        self.outputs, self.shift = np.asarray(outputs, np.float32), shift

    def predict(self, x, batch_size=None, verbose=0):
        return self.outputs[: len(x)] + self.shift


@pytest.mark.parametrize("factor, equal", [(0.9, True), (1.1, False)])
def test_compactions_check_is_relative_to_the_outputs_scale(factor, equal):
    from l1lab.edge import compact

    logits = np.array([[300.0, -20.0, 5.0]] * 4)  # raw 0-255 pixels give logits in the hundreds
    shift = factor * compact.CHECK_TOLERANCE * 300.0
    check = compact.check_outputs(Shifted(logits), Shifted(logits, shift), np.zeros((4, 3)))
    assert check["output_scale"] == 300.0 and check["equal"] is equal
    assert check["max_abs_diff"] == pytest.approx(shift, rel=1e-3)


@pytest.mark.parametrize(
    "fmt, kind, factor, agrees",
    [
        ("float", "float", 0.9, True),
        ("float-sparse", "float", 1.1, False),
        ("int8", "int8", 0.9, True),
        ("int8-sparse", "int8", 1.1, False),
        ("int8-full", "int8-full", 0.9, True),
        ("int8-full", "int8-full", 1.1, False),
    ],
)
def test_exports_check_tolerance_just_inside_and_just_outside(monkeypatch, fmt, kind, factor, agrees):
    from l1lab.edge import export

    logits = np.array([[40.0, -20.0, 5.0]] * 10)
    shift = factor * export.TOLERANCES[kind] * 40.0
    monkeypatch.setattr(export, "run", lambda content, x: (logits + shift).astype(np.float32))
    result = export.check(Shifted(logits), b"", fmt, np.zeros((10, 3)))
    assert result.agrees is agrees and result.tolerance == export.TOLERANCES[kind]
    assert export.TOLERANCES["float"] <= 1e-4  # same float32 arithmetic: a 10% error must not "agree"
    assert export.TOLERANCES["int8-full"] <= 0.5  # measured 0.15 at the default calibration (docs/micro.md)


def test_an_int8_file_that_changes_too_many_predictions_disagrees(monkeypatch):
    from l1lab.edge import export

    logits = np.tile([[1.0, 0.98, 0.0]], (100, 1))
    flipped = logits.copy()
    flipped[:2] = [[0.98, 1.0, 0.0]]  # 2% of the classes change, each within the int8 tolerance
    monkeypatch.setattr(export, "run", lambda content, x: flipped.astype(np.float32))
    assert not export.check(Shifted(logits), b"", "int8", np.zeros((100, 3))).agrees
    flipped[1] = logits[1]  # 1%: allowed
    assert export.check(Shifted(logits), b"", "int8", np.zeros((100, 3))).agrees


def test_predictions_are_the_last_axis_of_outputs_of_any_rank():
    want = np.zeros((2, 3, 4))
    want[..., 1] = 1.0  # class 1 everywhere
    got = want.copy()
    got[0, 0] = [0, 0, 2.0, 0]  # one position's class moves to 2
    diff, scale, same = agreement.compare_outputs(want, got)
    assert (diff, scale, same) == (2.0, 1.0, 5)  # 6 positions, one changed


def test_a_difference_is_taken_in_float64():
    """1 - 2**-30 rounds to 1 in float32; the check sees the exact difference."""
    want = np.array([[1.0]], np.float32)
    got = np.array([[2.0**-30]], np.float32)
    assert agreement.compare_outputs(want, got)[0] == 1.0 - 2.0**-30


def test_compactions_check_reports_its_figures_at_the_boundary(capsys):
    from l1lab.edge import compact

    tolerance = float(np.float32(1e-5))
    check = compact.check_outputs(
        Shifted(np.zeros((3, 2))), Shifted(np.zeros((3, 2)), tolerance), np.zeros((3, 2)), tolerance
    )
    assert set(check) == {"examples", "max_abs_diff", "output_scale", "same_predictions", "equal"}
    assert (check["examples"], check["output_scale"], check["same_predictions"]) == (3, 1.0, 3)
    assert check["max_abs_diff"] == tolerance and check["equal"]  # at the tolerance: equal
    assert capsys.readouterr().out == ""  # no progress bar on stdout, which carries --json


def test_compactions_check_prints_nothing(capsys):
    """stdout carries compact --json: Keras's progress bar must not reach it."""
    from l1lab._compat import keras
    from l1lab.edge import compact

    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    capsys.readouterr()
    check = compact.check_outputs(model, model, np.ones((5, 3), np.float32))
    assert check["equal"] and check["max_abs_diff"] == 0.0
    assert capsys.readouterr().out == ""
