import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from l1lab import sparsity
from l1lab.sparsity import EPSILON_ZERO, NonFiniteWeightsError, count_nonzero, model_sparsity

finite_weights = hnp.arrays(
    dtype=np.float32,
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=8),
    # Values of the order of epsilon, so both sides of the threshold are hit.
    elements=st.floats(-(2.0**-10), 2.0**-10, allow_nan=False, width=32)
    | st.sampled_from([float(np.float32(v)) for v in (0.0, -0.0, 1e-5, -1e-5, 2e-5)]),
)
variable_lists = st.lists(finite_weights, min_size=1, max_size=4)
epsilons = st.floats(0.0, 1e-3, allow_nan=False)


def _named(arrays):
    return {f"v{i}": a for i, a in enumerate(arrays)}


def _naive_count(arrays, epsilon):
    """The article's loop, element by element."""
    num = nz = 0
    for array in arrays:
        for x in array.ravel():
            num += 1
            if abs(x) > x.dtype.type(epsilon):  # in the weight's dtype
                nz += 1
    return num, nz


@given(variable_lists, epsilons)
def test_equals_naive_per_element_count(arrays, epsilon):
    counts = count_nonzero(_named(arrays), epsilon)
    num, nz = _naive_count(arrays, epsilon)
    assert counts["total"] == {"num": num, "numNz": nz}
    for i, array in enumerate(arrays):
        assert counts[f"v{i}"] == {"num": array.size, "numNz": _naive_count([array], epsilon)[1]}


@given(variable_lists, epsilons)
def test_counts_are_bounded(arrays, epsilon):
    for entry in count_nonzero(_named(arrays), epsilon).values():
        assert 0 <= entry["numNz"] <= entry["num"]


@given(variable_lists, epsilons, st.data())
def test_invariant_under_sign_flips(arrays, epsilon, data):
    flipped = []
    for array in arrays:
        signs = data.draw(hnp.arrays(np.float32, array.shape, elements=st.sampled_from([-1.0, 1.0])))
        flipped.append(array * signs)
    assert count_nonzero(_named(flipped), epsilon) == count_nonzero(_named(arrays), epsilon)


@given(variable_lists, epsilons, epsilons)
def test_non_increasing_in_epsilon(arrays, eps_a, eps_b):
    small, large = sorted([eps_a, eps_b])
    assert (
        count_nonzero(_named(arrays), large)["total"]["numNz"] <= count_nonzero(_named(arrays), small)["total"]["numNz"]
    )


@given(st.floats(0.0, 1.0, allow_nan=False, width=32), st.integers(1, 20))
def test_magnitude_equal_to_epsilon_counts_as_zero(epsilon, size):
    weights = np.full(size, epsilon, dtype=np.float32)
    weights[::2] *= -1
    counts = count_nonzero({"w": weights}, float(np.float32(epsilon)))
    assert counts["w"] == {"num": size, "numNz": 0}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_an_error_naming_the_variable(bad):
    weights = np.ones((3, 3), np.float32)
    weights[1, 2] = bad
    with pytest.raises(
        NonFiniteWeightsError,
        match=r"dense_9/kernel: 1 of 9 weights are NaN or infinite; the model diverged \(lower the learning rate",
    ):
        count_nonzero({"ok": np.ones(2), "dense_9/kernel": weights})


def test_article_table_example():
    """The article's own table: 55,050 weights, 54,905 nonzero."""
    counts = {
        "dense_2/kernel": {"num": 50176, "numNz": 50169},
        "dense_2/bias": {"num": 64, "numNz": 0},
        "dense_3/kernel": {"num": 4096, "numNz": 4096},
        "dense_3/bias": {"num": 64, "numNz": 0},
        "predictions/kernel": {"num": 640, "numNz": 640},
        "predictions/bias": {"num": 10, "numNz": 0},
        "total": {"num": 55050, "numNz": 54905},
    }
    assert model_sparsity(counts) == pytest.approx(145 / 55050)
    table = sparsity.format_table(counts).splitlines()
    assert table[0].split() == ["variable", "numNz", "num", "sparsity"]
    assert table[-1].split() == ["total", "54905", "55050", "0.26%"]
    assert set(table[1].replace(" ", "")) == {"-"}
    assert table[3].split() == ["dense_2/bias", "0", "64", "100.00%"]


def test_structure_and_order_follow_the_variables():
    counts = count_nonzero([_Var("b/kernel:0", [0.0, 1.0]), _Var("a/bias:0", [2e-5])])
    assert list(counts) == ["b/kernel", "a/bias", "total"]
    assert counts["total"] == {"num": 3, "numNz": 2}


def test_model_sparsity_of_a_model_like_object():
    model = _Model([_Var("k", np.zeros(6)), _Var("b", np.ones(2))])
    assert model_sparsity(model) == 0.75
    assert count_nonzero(model)["total"] == {"num": 8, "numNz": 2}


def test_empty_variables_have_zero_sparsity():
    assert model_sparsity({}) == 0.0


@pytest.mark.parametrize("epsilon", [-1.0, math.nan, math.inf])
def test_bad_epsilon_is_refused(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        count_nonzero({"w": np.zeros(1)}, epsilon)


def test_repeated_or_reserved_names_are_refused():
    with pytest.raises(ValueError, match="'total'"):
        count_nonzero({"total": np.zeros(1)})
    with pytest.raises(ValueError, match="repeated"):
        count_nonzero([_Var("w:0", [1.0]), _Var("w", [1.0])])


def test_unnamed_things_are_refused_with_a_fix():
    with pytest.raises(TypeError, match="mapping name -> array"):
        count_nonzero([np.zeros(2)])
    with pytest.raises(TypeError):
        count_nonzero("dense_1")


def test_variable_name_prefers_keras3_path_and_drops_suffix():
    var = _Var("kernel", [1.0])
    var.path = "dense_1/kernel"
    assert sparsity.variable_name(var) == "dense_1/kernel"
    assert sparsity.variable_name(_Var("dense_1/kernel:0", [1.0])) == "dense_1/kernel"


def test_default_epsilon_is_the_articles():
    assert EPSILON_ZERO == 1e-5


class _Var:
    def __init__(self, name, value):
        self.name = name
        self._value = np.asarray(value, np.float32)

    def numpy(self):
        return self._value


class _Model:
    def __init__(self, variables):
        self.trainable_variables = variables


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("epsilon", [1e-3, 1e-5, 0.1])
def test_a_weight_equal_to_epsilon_in_its_dtype_is_zero_and_the_next_one_up_is_not(dtype, epsilon):
    at = dtype(epsilon)
    above = np.nextafter(at, dtype(np.inf), dtype=dtype)
    counts = count_nonzero({"at": np.array([at, -at], dtype), "above": np.array([above, -above], dtype)}, epsilon)
    assert counts["at"]["numNz"] == 0 and counts["above"]["numNz"] == 2


def test_integer_weights_compare_in_float64():
    assert count_nonzero({"w": np.array([0, 1, -2, 0], np.int32)}, 1.0)["w"]["numNz"] == 1


# -- mutation survivors (tox -e mutation): what the earlier tests left unchecked ----------------


@pytest.mark.parametrize("value", ["weights", b"weights", 3])
def test_what_is_not_weights_is_refused_naming_what_it_takes(value):
    with pytest.raises(
        TypeError, match=rf"^count_nonzero takes a model, an iterable of variables, .*got {type(value).__name__}$"
    ):
        count_nonzero(value)


def test_weights_that_are_not_numbers_are_refused_naming_the_variable_and_dtype():
    with pytest.raises(TypeError, match=r"^w: weights of dtype <U1 are not numbers$"):
        count_nonzero({"w": np.array(["a", "b"])})


def test_a_diverged_model_is_told_what_to_lower():
    with pytest.raises(
        NonFiniteWeightsError,
        match=r"^k: 1 of 2 weights are NaN or infinite; .*lower the learning rate or the L1 strength\)$",
    ):
        count_nonzero({"k": np.array([1.0, np.nan])})


def test_model_sparsity_uses_the_epsilon_it_is_given():
    weights = {"k": np.array([0.0, 0.005, 0.5, 1.0])}
    assert model_sparsity(weights) == 0.25 and model_sparsity(weights, epsilon=0.01) == 0.5


def test_the_table_exactly_numbers_right_aligned_and_an_empty_variable_without_a_fraction():
    counts = {
        "dense/kernel": {"num": 1000, "numNz": 5},
        "e": {"num": 0, "numNz": 0},
        "total": {"num": 1000, "numNz": 5},
    }
    assert sparsity.format_table(counts).splitlines() == [
        "variable      numNz   num  sparsity",
        "------------  -----  ----  --------",
        "dense/kernel      5  1000    99.50%",
        "e                 0     0         -",
        "total             5  1000    99.50%",
    ]
