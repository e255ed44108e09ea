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


@pytest.mark.parametrize("fmt, factor, agrees", [("float", 0.9, True), ("float", 1.1, False), ("int8", 0.9, True)])
def test_exports_check_tolerance_just_inside_and_just_outside(monkeypatch, fmt, factor, agrees):
    from l1lab.edge import export

    logits = np.array([[40.0, -20.0, 5.0]] * 10)
    shift = factor * export.TOLERANCES["int8" if fmt == "int8" else "float"] * 40.0
    monkeypatch.setattr(export, "run", lambda content, x: (logits + shift).astype(np.float32))
    result = export.check(Shifted(logits), b"", fmt, np.zeros((10, 3)))
    assert result.agrees is agrees and result.tolerance == export.TOLERANCES["int8" if fmt == "int8" else "float"]
    assert export.TOLERANCES["float"] <= 1e-4  # same float32 arithmetic: a 10% error must not "agree"


def test_an_int8_file_that_changes_too_many_predictions_disagrees(monkeypatch):
    from l1lab.edge import export

    logits = np.tile([[1.0, 0.98, 0.0]], (100, 1))
    flipped = logits.copy()
    flipped[:2] = [[0.98, 1.0, 0.0]]  # 2% of the classes change, each within the int8 tolerance
    monkeypatch.setattr(export, "run", lambda content, x: flipped.astype(np.float32))
    assert not export.check(Shifted(logits), b"", "int8", np.zeros((100, 3))).agrees
    flipped[1] = logits[1]  # 1%: allowed
    assert export.check(Shifted(logits), b"", "int8", np.zeros((100, 3))).agrees
