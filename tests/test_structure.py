"""Dead input features and units of a Dense stack (NumPy only)."""

import numpy as np
import pytest

from l1lab import structure
from l1lab.structure import dead_structure, multiply_adds


def test_nothing_dead_in_a_dense_stack():
    rng = np.random.default_rng(0)
    s = dead_structure([rng.normal(size=(5, 4)), rng.normal(size=(4, 3))])
    assert s.inputs.all() and s.widths() == [4, 3] and not any(c.any() for c in s.constant)


def test_zero_rows_columns_and_the_fixed_point():
    w0 = np.ones((5, 4))
    w0[1] = 0  # input 1: nothing reads it
    w0[:, 2] = 0  # unit 2 of layer 0: no incoming weights, constant output
    w0[4, :] = [0, 0, 0, 1]  # input 4 is read by unit 3 only
    w1 = np.ones((4, 3))
    w1[3] = 1e-6  # unit 3 of layer 0: outgoing weights within epsilon, dead; then input 4 dies too
    s = dead_structure([w0, w1], epsilon=1e-5)
    np.testing.assert_array_equal(s.inputs, [True, False, True, True, False])
    np.testing.assert_array_equal(s.units[0], [True, True, False, False])
    np.testing.assert_array_equal(s.constant[0], [False, False, True, False])  # read by layer 1: folded
    assert s.units[-1].all()  # the outputs always stay
    assert s.widths() == [2, 3] and list(s.kept_inputs()) == [0, 2, 3]


def test_a_unit_with_neither_inputs_nor_readers_is_not_folded():
    w0, w1 = np.ones((3, 2)), np.ones((2, 2))
    w0[:, 1], w1[1] = 0, 0
    s = dead_structure([w0, w1])
    assert not s.units[0][1] and not s.constant[0][1]


@pytest.mark.parametrize(
    "kernels, message",
    [
        ([], r"^`kernels` needs at least one Dense kernel. Received: \[\]$"),
        ([np.ones(3)], r"`kernels\[0\]` needs to be 2-D. Received shape \(3,\)"),
        ([np.ones((3, 2)), np.ones((3, 2))], r"^`kernels\[1\]` has 3 inputs; the layer before has 2 units$"),
    ],
)
def test_bad_stacks_are_refused(kernels, message):
    with pytest.raises(ValueError, match=message):
        dead_structure(kernels)


def test_multiply_adds():
    assert multiply_adds([64, 64, 10], 784) == 784 * 64 + 64 * 64 + 64 * 10
    assert multiply_adds([13, 38, 10], 200) == 200 * 13 + 13 * 38 + 38 * 10


def test_summary_is_what_compaction_keeps():
    # Input 1 unread, hidden unit 1 of the first layer without readers: 2 inputs, 1 + 2 units.
    first = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]])
    second = np.array([[1.0, 1.0], [0.0, 0.0]])
    last = np.array([[1.0], [1.0]])
    assert structure.summary([first, second, last]) == {"kept_inputs": 2, "hidden_units": 3, "multiply_adds": 6}


def test_weights_from_dead_or_constant_units_are_not_incoming():
    """A unit fed only by a constant unit is itself constant; one fed only by an unread pixel's row is too."""
    w0 = np.array([[1.0, 0.0, 2.0], [1.0, 0.0, 0.0]])  # layer-0 unit 1: no incoming weights (constant)
    w1 = np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 0.0]])  # layer-1 unit 1 reads only layer-0 unit 1
    w2 = np.array([[1.0], [1.0]])
    s = dead_structure([w0, w1, w2])
    np.testing.assert_array_equal(s.constant[0], [False, True, False])
    np.testing.assert_array_equal(s.units[1], [True, False])  # its only input was constant: constant too
    np.testing.assert_array_equal(s.constant[1], [False, True])  # and read by the outputs: folded
    # A unit whose readers are all dead is dead, and then its inputs' rows are unread.
    w0 = np.array([[1.0, 0.0], [0.0, 1.0]])  # pixel 1 feeds only unit 1
    w1 = np.array([[1.0], [0.0]])  # unit 1 has no reader
    s = dead_structure([w0, w1])
    np.testing.assert_array_equal(s.units[0], [True, False])
    np.testing.assert_array_equal(s.inputs, [True, False])
    assert structure.summary([w0, w1]) == {"kept_inputs": 1, "hidden_units": 1, "multiply_adds": 2}


def test_summary_counts_with_the_given_epsilon():
    first = np.array([[1.0, 0.25], [0.25, 0.25]])  # at epsilon 0.25: input 1 and unit 1 are dead
    last = np.array([[1.0], [1.0]])
    assert structure.summary([first, last], epsilon=0.25) == {"kept_inputs": 1, "hidden_units": 1, "multiply_adds": 2}
    assert structure.summary([first, last]) == {"kept_inputs": 2, "hidden_units": 2, "multiply_adds": 6}
