"""The math: soft-thresholding and TensorFlow's proximal updates.

Three checks per operator (as jaxopt's prox tests): a tiny scalar reference,
the optimality condition of the argmin, and scalar / per-tensor / per-element
thresholds; then Hypothesis properties, and equality with TensorFlow's own
kernels.
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from l1lab import prox
from l1lab._compat import tf
from l1lab.prox import soft_threshold

BOUND = 1e3
values = st.floats(-BOUND, BOUND, allow_nan=False, allow_infinity=False)
thresholds = st.floats(0.0, 10.0, allow_nan=False, allow_infinity=False)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)


@st.composite
def x_and_threshold(draw, dtype=np.float64):
    """An array, and a threshold that is a scalar, per-tensor (0-d) or per-element."""
    # TensorFlow's CPU kernels flush subnormals to zero, NumPy keeps them: float32
    # draws, of x and of the threshold, stay normal (test_subnormals_agree_up_to_flush_to_zero
    # and test_subnormal_thresholds_agree_up_to_flush_to_zero cover the rest).
    normal32 = dtype == np.float32
    x = draw(
        hnp.arrays(
            dtype,
            draw(shapes),
            elements=values
            if not normal32
            else st.floats(-BOUND, BOUND, allow_nan=False, allow_subnormal=False, width=32),
        )
    )
    scalar_thresholds = st.floats(0.0, 10.0, width=32, allow_subnormal=False) if normal32 else thresholds
    kind = draw(st.sampled_from(["scalar", "per-tensor", "per-element"]))
    if kind == "scalar":
        t = draw(scalar_thresholds)
    elif kind == "per-tensor":
        t = np.asarray(draw(scalar_thresholds), dtype)
    else:
        t = draw(hnp.arrays(dtype, x.shape, elements=st.floats(0.0, 10.0, width=32, allow_subnormal=not normal32)))
    return x, t


# -- a tiny scalar reference --------------------------------------------------


@pytest.mark.parametrize(
    "x, t, expected",
    [
        (3.0, 1.0, 2.0),
        (-3.0, 1.0, -2.0),
        (0.5, 1.0, 0.0),
        (-0.5, 1.0, 0.0),
        (1.0, 1.0, 0.0),
        (-1.0, 1.0, 0.0),
        (0.0, 0.0, 0.0),
        (2.5, 0.0, 2.5),
        (1e-6, 1e-5, 0.0),
    ],
)
def test_scalar_reference(x, t, expected):
    assert soft_threshold(np.float64(x), t) == expected
    assert float(soft_threshold(tf.constant(x, tf.float64), t)) == expected


def test_threshold_shapes():
    x = np.array([[3.0, -3.0], [0.5, -2.0]])
    np.testing.assert_array_equal(soft_threshold(x, 1.0), [[2.0, -2.0], [0.0, -1.0]])  # scalar
    np.testing.assert_array_equal(soft_threshold(x, np.float64(2.5)), [[0.5, -0.5], [0.0, 0.0]])  # per-tensor
    per_element = np.array([[0.0, 3.0], [0.25, 1.5]])
    np.testing.assert_array_equal(soft_threshold(x, per_element), [[3.0, 0.0], [0.25, -0.5]])
    np.testing.assert_array_equal(soft_threshold(x, np.array([1.0, 2.0])), [[2.0, -1.0], [0.0, 0.0]])  # per column


@pytest.mark.parametrize("t", [-1e-9, np.nan, np.inf, np.array([0.1, -0.1])])
def test_bad_threshold_is_refused(t):
    with pytest.raises(ValueError, match="threshold must be finite and >= 0"):
        soft_threshold(np.ones(2), t)


def test_float32_stays_float32():
    assert soft_threshold(np.ones(3, np.float32), 0.5).dtype == np.float32
    assert soft_threshold(tf.ones(3), 0.5).dtype == tf.float32


# -- properties ---------------------------------------------------------------


@given(x_and_threshold())
def test_sign_is_kept(case):
    x, t = case
    y = soft_threshold(x, t)
    assert np.all((y == 0) | (np.sign(y) == np.sign(x)))


@given(x_and_threshold())
def test_magnitude_never_grows(case):
    x, t = case
    assert np.all(np.abs(soft_threshold(x, t)) <= np.abs(x))


@given(x_and_threshold())
def test_exact_zero_exactly_where_magnitude_is_within_threshold(case):
    x, t = case
    y = soft_threshold(x, t)
    np.testing.assert_array_equal(y == 0, np.abs(x) <= np.broadcast_to(t, x.shape))


@given(x_and_threshold())
def test_shift_by_threshold_elsewhere(case):
    x, t = case
    y = soft_threshold(x, t)
    t = np.broadcast_to(t, x.shape)
    outside = np.abs(x) > t
    np.testing.assert_array_equal(y[outside], (x - t * np.sign(x))[outside])


@given(x_and_threshold(), st.data())
def test_non_expansive(case, data):
    x, t = case
    other = data.draw(hnp.arrays(np.float64, x.shape, elements=values))
    gap = np.abs(soft_threshold(x, t) - soft_threshold(other, t))
    # Each side rounds once (|x| - t), so allow a few ulps of the operands.
    slack = 4 * np.finfo(np.float64).eps * np.maximum(np.abs(x), np.abs(other))
    assert np.all(gap <= np.abs(x - other) + slack)


@given(x_and_threshold())
def test_optimality_condition(case):
    """0 is in y - x + t * d|y|: the gradient condition where y != 0, |x| <= t where y == 0."""
    x, t = case
    y = soft_threshold(x, t)
    t = np.broadcast_to(t, x.shape)
    moved = y != 0
    residual = (y - x + t * np.sign(y))[moved]
    np.testing.assert_allclose(residual, 0.0, atol=4 * np.finfo(np.float64).eps * BOUND)
    assert np.all(np.abs(y - x)[~moved] <= t[~moved])


@given(hnp.arrays(np.float64, shapes, elements=values))
def test_zero_threshold_is_identity(x):
    np.testing.assert_array_equal(soft_threshold(x, 0.0), x)


@given(x_and_threshold(np.float32))
def test_numpy_and_tensorflow_agree(case):
    x, t = case
    expected = soft_threshold(x, t)
    actual = soft_threshold(tf.constant(x), tf.constant(np.asarray(t, np.float32))).numpy()
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("t", [0.0, 1e-3])
@pytest.mark.parametrize("x", [1.0493e-41, -3e-45, 1e-39])
def test_subnormals_agree_up_to_flush_to_zero(x, t):
    """Found by Hypothesis: TensorFlow flushed x = 1.0493e-41 to 0 where NumPy kept it."""
    expected = soft_threshold(np.float32([x]), t)
    actual = soft_threshold(tf.constant([x], tf.float32), t).numpy()
    assert abs(actual[0] - expected[0]) <= np.finfo(np.float32).tiny


@pytest.mark.parametrize("t", [1.6900018605400036e-40, 1e-45])
@pytest.mark.parametrize("x", [1.8092177e-35, -2e-38, 3.0])
def test_subnormal_thresholds_agree_up_to_flush_to_zero(x, t):
    """Found by Hypothesis: a float32 threshold of 1.69e-40 is flushed to 0 by TensorFlow, not by NumPy."""
    expected = soft_threshold(np.float32([x]), np.float32(t))
    actual = soft_threshold(tf.constant([x], tf.float32), tf.constant(t, tf.float32)).numpy()
    assert abs(actual[0] - expected[0]) <= np.finfo(np.float32).tiny


# -- TensorFlow's updates -------------------------------------------------------

f32 = st.floats(-10.0, 10.0, allow_nan=False, width=32)
update_case = st.tuples(
    hnp.arrays(np.float32, 16, elements=f32),  # var
    hnp.arrays(np.float32, 16, elements=f32),  # grad
    hnp.arrays(np.float32, 16, elements=st.floats(2.0**-7, 10.0, width=32)),  # accumulator
    st.floats(2.0**-13, 1.0, width=32),  # learning rate
    st.floats(0.0, 1.0, width=32) | st.just(0.0),  # l1
    st.floats(0.0, 1.0, width=32) | st.just(0.0),  # l2
)
# One float32 rounding per operation; TensorFlow's rsqrt may differ from 1/sqrt by an ulp.
RTOL, ATOL = 2e-6, 2e-6


@settings(max_examples=30)
@given(update_case)
def test_proximal_sgd_update_equals_tensorflow_kernel(case):
    var, grad, _, lr, l1, l2 = case
    variable = tf.Variable(var)
    tf.raw_ops.ResourceApplyProximalGradientDescent(
        var=variable.handle, alpha=np.float32(lr), l1=np.float32(l1), l2=np.float32(l2), delta=grad
    )
    np.testing.assert_allclose(prox.proximal_sgd_update(var, grad, lr, l1, l2), variable.numpy(), RTOL, ATOL)
    np.testing.assert_allclose(
        prox.tf_proximal_sgd(tf.constant(var), tf.constant(grad), np.float32(lr), np.float32(l1), np.float32(l2)),
        variable.numpy(),
        RTOL,
        ATOL,
    )


@settings(max_examples=30)
@given(update_case)
def test_proximal_adagrad_update_equals_tensorflow_kernel(case):
    var, grad, accum, lr, l1, l2 = case
    variable, accumulator = tf.Variable(var), tf.Variable(accum)
    tf.raw_ops.ResourceApplyProximalAdagrad(
        var=variable.handle,
        accum=accumulator.handle,
        lr=np.float32(lr),
        l1=np.float32(l1),
        l2=np.float32(l2),
        grad=grad,
    )
    new_var, new_accum = prox.proximal_adagrad_update(var, accum, grad, lr, l1, l2)
    np.testing.assert_allclose(new_accum, accumulator.numpy(), RTOL, ATOL)
    np.testing.assert_allclose(new_var, variable.numpy(), RTOL, ATOL)
    tf_var, tf_accum = prox.tf_proximal_adagrad(
        tf.constant(var), tf.constant(accum), tf.constant(grad), np.float32(lr), np.float32(l1), np.float32(l2)
    )
    np.testing.assert_allclose(tf_var, variable.numpy(), RTOL, ATOL)
    np.testing.assert_allclose(tf_accum, accumulator.numpy(), RTOL, ATOL)


def test_tensorflow_proximal_adagrad_golden():
    """TensorFlow's own test: lr 3.0, accumulator 0.1, l1 0.001, 10 steps (docs/article.md)."""
    var0, var1 = np.array([1.0, 2.0], np.float32), np.array([4.0, 3.0], np.float32)
    acc0, acc1 = np.full(2, 0.1, np.float32), np.full(2, 0.1, np.float32)
    for _ in range(10):
        var0, acc0 = prox.proximal_adagrad_update(var0, acc0, np.float32([0.1, 0.2]), 3.0, l1=0.001)
        var1, acc1 = prox.proximal_adagrad_update(var1, acc1, np.float32([0.01, 0.02]), 3.0, l1=0.001)
    np.testing.assert_allclose(var0, [-6.663634, -9.190331], rtol=1e-6)
    np.testing.assert_allclose(var1, [2.959304, 1.029232], rtol=1e-6)


def test_proximal_sgd_by_hand():
    # prox_v = [0.95, -0.03, 0.4]; threshold 0.1 * 0.5 = 0.05
    new = prox.proximal_sgd_update(np.float32([1.0, -0.02, 0.3]), np.float32([0.5, 0.1, -1.0]), 0.1, l1=0.5)
    np.testing.assert_allclose(new, [0.9, 0.0, 0.35], rtol=1e-6)
    assert new[1] == 0.0


def test_proximal_adagrad_by_hand():
    # accum 0.75 + 0.5**2 = 1, so the step is lr = 0.1; prox_v = 0.95; threshold 0.05; / (1 + 0.1 * 1)
    new, accum = prox.proximal_adagrad_update(np.float32([1.0]), np.float32([0.75]), np.float32([0.5]), 0.1, 0.5, 1.0)
    np.testing.assert_allclose(accum, [1.0])
    np.testing.assert_allclose(new, [0.9 / 1.1], rtol=1e-6)


def test_zero_strengths_are_plain_steps():
    var, grad = np.float32([0.3, -2.0]), np.float32([1.0, -1.0])
    np.testing.assert_array_equal(prox.proximal_sgd_update(var, grad, 0.1), var - grad * np.float32(0.1))


# -- group soft-thresholding (group lasso) --------------------------------------

group_cases = st.tuples(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6), elements=values),
    st.sampled_from([0, 1]),
)


@pytest.mark.parametrize(
    "x, t, axis, expected",
    [
        ([[3.0, 4.0]], 1.0, 1, [[2.4, 3.2]]),  # norm 5 -> 4: scaled by 4/5
        ([[3.0, 4.0]], 5.0, 1, [[0.0, 0.0]]),  # norm == t: exactly zero
        ([[3.0, 4.0]], 6.0, 1, [[0.0, 0.0]]),
        ([[3.0], [4.0]], 1.0, 0, [[2.4], [3.2]]),  # the same group as a column
        ([[0.0, 0.0]], 1.0, 1, [[0.0, 0.0]]),  # an all-zero group stays zero
        ([[3.0, 4.0]], 0.0, 1, [[3.0, 4.0]]),  # t = 0: the identity
    ],
)
def test_group_scalar_reference(x, t, axis, expected):
    np.testing.assert_allclose(prox.group_soft_threshold(np.array(x), t, axis), expected, rtol=1e-15, atol=0)
    got = prox.group_soft_threshold(tf.constant(x, tf.float64), t, axis).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def test_group_threshold_shapes():
    """Scalar, per-tensor (0-d) and per-group thresholds, rows and columns."""
    x = np.array([[3.0, 4.0], [0.6, 0.8]])  # row norms 5 and 1; column norms ~3.06 and ~4.08
    np.testing.assert_allclose(prox.group_soft_threshold(x, 2.0, axis=1), [[1.8, 2.4], [0.0, 0.0]])
    np.testing.assert_allclose(prox.group_soft_threshold(x, np.float64(2.0), axis=1), [[1.8, 2.4], [0.0, 0.0]])
    per_row = np.array([[4.0], [0.5]])
    np.testing.assert_allclose(prox.group_soft_threshold(x, per_row, axis=1), [[0.6, 0.8], [0.3, 0.4]])
    per_column = np.array([[4.0, 0.0]])
    y = prox.group_soft_threshold(x, per_column, axis=0)
    np.testing.assert_array_equal(y[:, 0], [0.0, 0.0])  # column norm 3.06 <= 4
    np.testing.assert_array_equal(y[:, 1], x[:, 1])  # t = 0 for that column


@pytest.mark.parametrize("t", [-1e-9, np.nan, np.inf])
def test_group_bad_threshold_is_refused(t):
    with pytest.raises(ValueError, match="threshold must be finite and >= 0"):
        prox.group_soft_threshold(np.ones((2, 2)), t, axis=1)


@given(group_cases, thresholds)
def test_group_is_zero_exactly_where_its_norm_is_within_threshold(case, t):
    x, axis = case
    y = prox.group_soft_threshold(x, t, axis)
    norms = np.hypot.reduce(x, axis=axis)  # no underflow of tiny squares
    zero_groups = np.all(y == 0, axis=axis)
    np.testing.assert_array_equal(zero_groups, norms <= t)


@given(group_cases, thresholds)
def test_group_optimality_condition(case, t):
    """0 is in y - x + t * d||y_g||: x_g - y_g = t y_g / ||y_g|| where y_g != 0, ||x_g|| <= t where y_g == 0."""
    x, axis = case
    y = prox.group_soft_threshold(x, t, axis)
    y_norm = np.sqrt(np.sum(y * y, axis=axis, keepdims=True))
    x_norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    alive = np.broadcast_to(y_norm > 0, x.shape)
    residual = x - y - t * np.divide(y, y_norm, out=np.zeros_like(y), where=y_norm > 0)
    np.testing.assert_allclose(residual[alive], 0, atol=1e-9 * (1 + np.abs(x).max()))
    assert np.all(x_norm[y_norm == 0] <= t * (1 + 1e-12))


def assert_within_ulps_of_input(actual, expected, x):
    # The group formula x * (1 - t / |x|) rounds 1 - t / |x| to an ulp of 1, so when |x| is
    # close to t its result carries a few ulps of |x|, not of itself: x = 4.25, t = 4.1875
    # gives 0.0625 - 2.2e-16 (3.6e-15 relative; rtol=1e-15 once failed in CI on it).
    np.testing.assert_array_less(np.abs(actual - expected), 4 * np.finfo(np.float64).eps * np.abs(x) + 1e-300)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6), elements=values), thresholds)
@example(x=np.array([[4.25]]), t=4.1875)
def test_groups_of_one_element_are_soft_thresholding(x, t):
    expected = soft_threshold(x, t)
    for axis in (x.ndim - 1, 0):  # a group is one element when its axis has length 1
        if x.shape[axis] == 1:
            assert_within_ulps_of_input(prox.group_soft_threshold(x, t, axis), expected, x)
    assert_within_ulps_of_input(prox.group_soft_threshold(x[..., None], t, axis=-1)[..., 0], expected, x)


@given(group_cases, thresholds, st.data())
def test_group_is_non_expansive(case, t, data):
    x, axis = case
    other = data.draw(hnp.arrays(np.float64, x.shape, elements=values))
    gap = np.linalg.norm(prox.group_soft_threshold(x, t, axis) - prox.group_soft_threshold(other, t, axis))
    assert gap <= np.linalg.norm(x - other) * (1 + 1e-12) + 1e-12


@given(group_cases, thresholds)
def test_group_numpy_and_tensorflow_agree(case, t):
    x, axis = case
    np.testing.assert_allclose(
        prox.group_soft_threshold(tf.constant(x), t, axis).numpy(),
        prox.group_soft_threshold(x, t, axis),
        rtol=1e-12,
        atol=1e-12,
    )


def test_group_float32_stays_float32_and_compiles():
    x = np.array([[3.0, 4.0], [0.1, 0.1]], np.float32)
    assert prox.group_soft_threshold(x, 1.0, 1).dtype == np.float32
    compiled = tf.function(lambda v: prox.group_soft_threshold(v, 1.0, 1), jit_compile=True)
    got = compiled(tf.constant(x))
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), [[2.4, 3.2], [0.0, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("operator", ["soft", "group"])
def test_a_python_float_threshold_keeps_float64_precision(operator):
    """``tf.cast(1.3129..., tf.float64)`` would go through float32 first and lose 8 digits."""
    x, t = np.array([[2.0]]), 1.3129123530182363
    apply = soft_threshold if operator == "soft" else (lambda v, th: prox.group_soft_threshold(v, th, 1))
    assert apply(tf.constant(x), t).numpy()[0, 0] == apply(x, t)[0, 0] == 2.0 - t


def test_a_tensor_threshold_makes_a_tensor_result():
    """Either argument being TensorFlow's selects the TF path (a symbolic threshold cannot be checked in NumPy)."""
    got = soft_threshold(np.array([3.0, -0.5]), tf.constant(1.0, tf.float64))
    assert tf.is_tensor(got)
    np.testing.assert_array_equal(got.numpy(), [2.0, -0.0])
    grouped = prox.group_soft_threshold(np.array([[3.0, 4.0]]), tf.constant(1.0, tf.float64), 1)
    assert tf.is_tensor(grouped)


def test_integer_input_thresholds_in_float():
    got = soft_threshold(np.array([3, -1, 5]), 1.5)
    np.testing.assert_array_equal(got, [1.5, 0.0, 3.5])
    assert got.dtype == np.float64


# -- mutation survivors (tox -e mutation) --------------------------------------------------------


def test_soft_threshold_keeps_the_weights_dtype_with_a_python_threshold():
    assert soft_threshold(np.array([0.5, -2.0], np.float32), 1.0).dtype == np.float32
    assert soft_threshold(np.array([0.5, -2.0], np.float16), 1.0).dtype == np.float16


def test_proximal_adagrad_update_without_l1_is_plain_adagrad():
    var, accum, grad = np.array([0.5, -0.25]), np.array([0.1, 0.1]), np.array([0.2, -0.4])
    new_var, new_accum = prox.proximal_adagrad_update(var, accum, grad, 0.1)
    np.testing.assert_allclose(new_accum, accum + grad**2)
    np.testing.assert_allclose(new_var, var - 0.1 * grad / np.sqrt(accum + grad**2))


def _block_threshold(vector, threshold):
    """max(0, 1 - t / ||v||) v, by hand."""
    norm = float(np.sqrt(np.sum(np.square(vector))))
    return vector * max(0.0, 1.0 - threshold / norm) if norm else vector


def test_group_shrink_uses_each_groups_own_mean_step_by_hand():
    """Rows of norm 5; row 0's steps are 1, row 1's 0.2: thresholds 2 and 0.4, not the tensor's mean 1.2."""
    x = np.array([[3.0, 4.0], [3.0, 4.0]])
    step = np.array([[1.0, 1.0], [0.2, 0.2]])
    got = prox.group_shrink(x, step, inputs=2.0)
    np.testing.assert_allclose(got, [[1.8, 2.4], [2.76, 3.68]], rtol=1e-12)  # scales 0.6 and 0.92
    columns = prox.group_shrink(x.T, step.T, units=2.0)  # the same by columns
    np.testing.assert_allclose(columns, [[1.8, 2.76], [2.4, 3.68]], rtol=1e-12)


def test_group_shrink_shrinks_rows_then_columns_by_hand():
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.3, 0.4], [1.0, 0.0, 1.0]])
    step, inputs, units = 0.5, 0.6, 0.8
    rows = np.array([_block_threshold(r, step * inputs) for r in x])
    expected = np.array([_block_threshold(c, step * units) for c in rows.T]).T
    other_order = np.array([_block_threshold(c, step * units) for c in x.T]).T
    other_order = np.array([_block_threshold(r, step * inputs) for r in other_order])
    assert not np.allclose(expected, other_order)  # the order matters for this kernel
    np.testing.assert_allclose(prox.group_shrink(x, step, inputs, units), expected, rtol=1e-12)
    tf = pytest.importorskip("tensorflow")
    np.testing.assert_allclose(
        prox.group_shrink(tf.constant(x), tf.constant(step, tf.float64), inputs, units).numpy(), expected, rtol=1e-12
    )


# -- coupled_group_shrink: groups spread over several arrays ---------------------------------------------------


def test_coupled_group_shrink_by_hand():
    """Group 0 spans a kernel column and a bias entry (norm 5 with 3, 4): threshold 2 scales it by 0.6."""
    kernel = np.array([[3.0, 0.1], [0.0, 0.1]])
    bias = np.array([4.0, 0.1])
    slots = [(0, 1, [0, 1]), (1, 0, [0, 1])]  # kernel's columns and the bias: one group per unit
    new_kernel, new_bias = prox.coupled_group_shrink([kernel, bias], slots, 2, strength=2.0)
    np.testing.assert_allclose(new_kernel, [[1.8, 0.0], [0.0, 0.0]])  # group 1's norm 0.17 <= 2: exactly zero
    np.testing.assert_allclose(new_bias, [2.4, 0.0])
    assert new_kernel[0, 1] == 0 and new_bias[1] == 0


def _coupled(seed, groups=4):
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=(3, 3, 2, groups)), rng.normal(size=groups), rng.normal(size=(groups * 2, 5))]
    slots = [(0, 3, list(range(groups))), (1, 0, list(range(groups))), (2, 0, list(np.tile(range(groups), 2)))]
    return values, slots


def _group_vectors(values, slots, groups):
    """Each group's elements, gathered into one vector (for non-overlapping slots)."""
    parts = [[] for _ in range(groups)]
    for index, axis, ids in slots:
        moved = np.moveaxis(values[index], axis, 0)
        for i, g in enumerate(ids):
            parts[g].append(moved[i].ravel())
    return [np.concatenate(p) for p in parts]


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 6.0))
def test_coupled_group_shrink_meets_the_optimality_condition(seed, t):
    """y_g = 0 iff ||x_g|| <= t; elsewhere y_g - x_g + t y_g / ||y_g|| = 0 (the subgradient of the L2 norm)."""
    values, slots = _coupled(seed)
    out = prox.coupled_group_shrink(values, slots, 4, strength=t)
    for x, y in zip(_group_vectors(values, slots, 4), _group_vectors(out, slots, 4)):
        if np.linalg.norm(x) <= t:
            assert not y.any()
        else:
            np.testing.assert_allclose(y - x + t * y / np.linalg.norm(y), 0, atol=1e-9)


def test_coupled_group_shrink_one_slot_is_group_soft_threshold():
    x = np.random.default_rng(0).normal(size=(3, 5))
    (got,) = prox.coupled_group_shrink([x], [(0, 1, list(range(5)))], 5, strength=1.5)
    np.testing.assert_allclose(got, prox.group_soft_threshold(x, 1.5, axis=0), rtol=1e-12)


def test_coupled_group_shrink_thresholds_scalar_and_per_element_steps():
    """A scalar step is every element's; per-element steps give each group its mean step."""
    values, slots = _coupled(1)
    scalar = prox.coupled_group_shrink(values, slots, 4, strength=2.0, step=0.5)
    per_element = prox.coupled_group_shrink(values, slots, 4, strength=2.0, step=[np.full_like(v, 0.5) for v in values])
    for a, b in zip(scalar, per_element):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    steps = [np.ones_like(v) for v in values]
    steps[1][2] = 39  # group 2 has 18 + 1 + 10 elements: its mean step is (28 + 39) / 29
    mean_step = (28 + 39) / 29
    want = prox.coupled_group_shrink(values, slots, 4, strength=1.0 * mean_step)
    got = prox.coupled_group_shrink(values, slots, 4, strength=1.0, step=steps)
    want_one = prox.coupled_group_shrink(values, slots, 4, strength=1.0)
    np.testing.assert_allclose(np.moveaxis(got[0], 3, 0)[2], np.moveaxis(want[0], 3, 0)[2], rtol=1e-12)
    np.testing.assert_allclose(got[1][[0, 1, 3]], want_one[1][[0, 1, 3]], rtol=1e-12)  # the others' step is 1


def test_an_element_in_two_groups_gets_both_factors():
    kernel = np.array([[3.0, 4.0], [0.0, 0.0]])  # row 0 is group 0 (norm 5), column 0 is group 2 (norm 3)
    slots = [(0, 0, [0, 1]), (0, 1, [2, 3])]
    (got,) = prox.coupled_group_shrink([kernel], slots, 4, strength=1.0)
    np.testing.assert_allclose(got, [[3.0 * 0.8 * (2 / 3), 4.0 * 0.8 * 0.75], [0.0, 0.0]])


@pytest.mark.parametrize("per_element", [False, True])
def test_coupled_group_shrink_in_tensorflow_equals_numpy_and_compiles(per_element):
    values, slots = _coupled(2)
    step = [np.random.default_rng(3).uniform(0.1, 1, v.shape) for v in values] if per_element else 0.7
    want = prox.coupled_group_shrink(values, slots, 4, strength=1.3, step=step)
    tf_step = [tf.constant(s) for s in step] if per_element else tf.constant(0.7, tf.float64)

    def run(*tensors):
        return prox.coupled_group_shrink(list(tensors), slots, 4, 1.3, tf_step)

    for fn in (run, tf.function(run, jit_compile=True)):
        got = fn(*[tf.constant(v) for v in values])
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-12, atol=1e-15)


def test_coupled_group_shrink_keeps_tiny_groups_and_float32():
    tiny = [np.full((2, 2), 1e-30, np.float32)]
    (got,) = prox.coupled_group_shrink(tiny, [(0, 1, [0, 1])], 2, strength=0.0)
    np.testing.assert_array_equal(got, tiny[0])  # strength 0 is the identity, squares' underflow aside
    assert got.dtype == np.float32
    (got_tf,) = prox.coupled_group_shrink([tf.constant(tiny[0])], [(0, 1, [0, 1])], 2, strength=0.0)
    np.testing.assert_array_equal(got_tf.numpy(), tiny[0])
