"""The math of L1 proximal steps: soft-thresholding, its group form, and TensorFlow's two updates.

Pure functions, no Keras. :func:`soft_threshold` and :func:`group_soft_threshold`
work on NumPy arrays and on TensorFlow tensors; the ``*_update`` functions are NumPy references of
TensorFlow's kernels ``ApplyProximalGradientDescent`` and
``ApplyProximalAdagrad`` (same operations in the same order, so float32
results match to rounding), against which l1lab's Keras optimizers are tested;
the ``tf_*`` functions are the same updates as TensorFlow ops, the ones those
optimizers run inside a compiled step.
"""

from __future__ import annotations

import numpy as np


def _is_tf(*values) -> bool:
    """Whether any value is a TensorFlow tensor or variable (without importing TF)."""
    return any(type(v).__module__.startswith(("tensorflow", "keras", "tf_keras")) for v in values)


def _check_threshold(threshold) -> None:
    t = np.asarray(threshold)
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("threshold must be finite and >= 0 everywhere")


def soft_threshold(x, threshold):
    r"""The soft-thresholding operator, the proximal operator of the L1 norm.

    .. math::

       S_t(x) = \operatorname{argmin}_y \; \tfrac12 \lVert y - x \rVert_2^2 + t \lVert y \rVert_1
              = \operatorname{sign}(x) \max(\lvert x \rvert - t, 0)

    element by element. ``threshold`` is a scalar (one ``t`` for everything),
    or an array broadcastable to ``x``: one ``t`` per tensor (shape ``()``)
    or per element (the shape of ``x``). ``t = 0`` is the identity; ``y == 0``
    exactly where ``|x| <= t``.

    NumPy in, NumPy out; a TensorFlow tensor in, a tensor out (and then the
    threshold is not checked, since it may be a symbolic tensor).

    Raises:
      ValueError: a NumPy ``threshold`` is negative, NaN or infinite.
    """
    if _is_tf(x, threshold):
        from l1lab._compat import tf

        x = tf.convert_to_tensor(x)
        t = tf.cast(tf.convert_to_tensor(threshold, dtype_hint=x.dtype), x.dtype)  # a float stays float64
        return tf.sign(x) * tf.maximum(tf.abs(x) - t, tf.zeros([], x.dtype))
    _check_threshold(threshold)
    x = np.asarray(x)
    t = np.asarray(threshold, dtype=x.dtype if np.issubdtype(x.dtype, np.floating) else None)
    return np.sign(x) * np.maximum(np.abs(x) - t, 0).astype(np.result_type(x, t))


def group_soft_threshold(x, threshold, axis):
    r"""Block soft-thresholding, the proximal operator of the group lasso (L2,1) penalty.

    The groups are the slices of ``x`` along ``axis`` (for a Dense kernel of
    shape ``(inputs, units)``: ``axis=1`` makes each row a group, an input
    feature; ``axis=0`` each column, a unit). With :math:`x_g` a group:

    .. math::

       \operatorname{argmin}_y \; \tfrac12 \lVert y - x \rVert_2^2 + \sum_g t_g \lVert y_g \rVert_2,
       \qquad y_g = x_g \max\Bigl(0, 1 - \frac{t_g}{\lVert x_g \rVert_2}\Bigr)

    A group becomes exactly zero where :math:`\lVert x_g \rVert_2 \le t_g`;
    elsewhere it shrinks towards zero along its own direction. Groups of one
    element reduce to :func:`soft_threshold`.

    Args:
      x: a NumPy array or a TensorFlow tensor.
      threshold: ``t``, >= 0: a scalar (one for every group), or an array
        broadcastable to the groups' norms taken with ``keepdims`` (one per
        group).
      axis: the axis (or tuple of axes) a group extends along.

    Returns:
      ``y``, of ``x``'s kind, shape and dtype.

    Raises:
      ValueError: a NumPy ``threshold`` is negative, NaN or infinite.

    References:
      Yuan and Lin, "Model selection and estimation in regression with grouped
      variables", JRSS B 68 (2006); Wen et al., "Learning structured sparsity in
      deep neural networks", NeurIPS 2016.
    """
    if _is_tf(x, threshold):
        from l1lab._compat import tf

        x = tf.convert_to_tensor(x)
        t = tf.cast(tf.convert_to_tensor(threshold, dtype_hint=x.dtype), x.dtype)  # a float stays float64
        # The norm scaled by the group's largest magnitude, so that squares neither underflow nor overflow.
        scale = tf.reduce_max(tf.abs(x), axis=axis, keepdims=True)
        norm = scale * tf.sqrt(tf.reduce_sum(tf.square(tf.math.divide_no_nan(x, scale)), axis=axis, keepdims=True))
        # divide_no_nan: an all-zero group stays zero (0 * anything finite).
        return x * tf.maximum(1 - tf.math.divide_no_nan(t, norm), tf.zeros([], x.dtype))
    _check_threshold(threshold)
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    x = x.astype(dtype, copy=False)
    t = np.asarray(threshold, dtype)
    scale = np.max(np.abs(x), axis=axis, keepdims=True)
    safe_scale = np.where(scale > 0, scale, 1)
    norm = scale * np.sqrt(np.sum(np.square(x / safe_scale), axis=axis, keepdims=True))
    factor = np.where(norm > t, 1 - t / np.where(norm > 0, norm, 1), 0)
    return (x * factor.astype(dtype)).astype(dtype)


GROUP_AXES = {"inputs": 1, "units": 0}  # a Dense kernel (inputs, units): the axis each kind of group extends along


def group_shrink(x, step, inputs=0.0, units=0.0):
    r"""The group part of a proximal step on a Dense kernel: its rows, then its columns.

    After the element-wise step (:func:`proximal_sgd_update`), the kernel's
    rows (one per input feature of the layer) are block-soft-thresholded by
    ``step * inputs``, then its columns (one per unit) by ``step * units``:

    .. math::

       y \leftarrow \operatorname{prox}_{\alpha \lambda_u \sum_j \lVert \cdot_{:,j} \rVert_2}
       \Bigl(\operatorname{prox}_{\alpha \lambda_i \sum_i \lVert \cdot_{i,:} \rVert_2}(y)\Bigr)

    With L1 and one kind of group this is the exact proximal step of the sum
    (sparse group lasso); with both kinds, whose groups overlap, it is the usual
    sequential approximation. Where ``step`` is per element (Adagrad), each
    group's threshold uses its mean step.

    Args:
      x: a 2-D NumPy array or TensorFlow tensor.
      step: the learning rate, a scalar or per element.
      inputs: the strength of the row groups (>= 0).
      units: the strength of the column groups (>= 0).

    Returns:
      The thresholded kernel, of ``x``'s kind.
    """
    tf_values = _is_tf(x, step)
    if tf_values:
        from l1lab._compat import tf

        mean = tf.reduce_mean
    else:
        x = np.asarray(x)
        step = np.asarray(step, x.dtype)
        mean = np.mean
    for kind, strength in (("inputs", inputs), ("units", units)):
        if strength:
            axis = GROUP_AXES[kind]
            group_step = step if len(getattr(step, "shape", ())) == 0 else mean(step, axis=axis, keepdims=True)
            x = group_soft_threshold(x, group_step * (tf.constant(strength, x.dtype) if tf_values else strength), axis)
    return x


def coupled_group_shrink(values, slots, num_groups, strength, step=1.0):
    r"""Block soft-thresholding of groups spread over several arrays: the channel groups of a network.

    A group ``g`` (a channel of :mod:`l1lab.channels`: a conv's filter, the
    BatchNorm parameters after it, the next layer's input slice) is every
    slice ``values[v]`` takes at index ``i`` along ``axis`` for each slot
    ``(v, axis, ids)`` with ``ids[i] == g``. With :math:`\lVert x_g \rVert_2`
    the norm of all of them together and :math:`t_g` = ``strength`` times the
    group's step:

    .. math::

       \operatorname{argmin}_y \; \tfrac12 \lVert y - x \rVert_2^2 + \sum_g t_g \lVert y_g \rVert_2,
       \qquad y_g = x_g \max\Bigl(0, 1 - \frac{t_g}{\lVert x_g \rVert_2}\Bigr)

    where the groups do not overlap. An element in two groups (a kernel entry
    reads one channel and writes another) is scaled by both factors, each
    computed from the values before the step: the simultaneous form of the
    overlapping group lasso. A group with :math:`\lVert x_g \rVert_2 \le t_g`
    becomes exactly zero in every array it spans.

    Args:
      values: the arrays (NumPy, or TensorFlow tensors).
      slots: ``(value index, axis, ids)`` triples; ``ids`` gives the group of
        each index along ``axis`` of that value.
      num_groups: groups are ``0 .. num_groups - 1``.
      strength: :math:`\lambda \ge 0`, the same for every group.
      step: the learning rate, a scalar, or one array per value (Adagrad's
        per-element steps), of which each group takes the mean over its
        elements.

    Returns:
      The thresholded arrays, a list of ``values``' kind.

    References:
      Wen et al., "Learning structured sparsity in deep neural networks",
      NeurIPS 2016; Fang et al., "DepGraph: towards any structural pruning",
      CVPR 2023 (coupled groups).
    """
    if _is_tf(*values):
        return _tf_coupled_group_shrink(values, slots, num_groups, strength, step)
    values = [np.asarray(v, np.result_type(v, np.float32)) for v in values]
    per_value_step = isinstance(step, (list, tuple))
    scale = np.zeros(num_groups)
    for index, axis, ids in slots:
        np.maximum.at(scale, ids, _reduce_other_axes(np.abs(values[index]), axis, np.max))
    safe = np.where(scale > 0, scale, 1)
    squares, step_sum, count = np.zeros(num_groups), np.zeros(num_groups), np.zeros(num_groups)
    for index, axis, ids in slots:
        scaled = np.moveaxis(values[index], axis, 0) / _along(safe[ids], np.moveaxis(values[index], axis, 0).ndim)
        np.add.at(squares, ids, _reduce_other_axes(np.square(scaled), 0, np.sum))
        if per_value_step:
            np.add.at(
                step_sum, ids, _reduce_other_axes(np.broadcast_to(step[index], values[index].shape), axis, np.sum)
            )
            np.add.at(count, ids, values[index].size // values[index].shape[axis])
    norm = scale * np.sqrt(squares)
    group_step = step_sum / np.where(count > 0, count, 1) if per_value_step else float(step)
    threshold = group_step * strength
    factor = np.where(norm > threshold, 1 - threshold / np.where(norm > 0, norm, 1), 0)
    out = list(values)
    for index, axis, ids in slots:
        moved = np.moveaxis(out[index], axis, 0) * _along(factor[ids], out[index].ndim)
        out[index] = np.moveaxis(moved, 0, axis).astype(values[index].dtype)
    return out


def _reduce_other_axes(x, axis, reduce):
    moved = np.moveaxis(x, axis, 0)
    return reduce(moved.reshape(moved.shape[0], -1), axis=1) if moved.size else np.zeros(moved.shape[0])


def _along(vector, ndim):
    """A vector shaped to broadcast along the first of ``ndim`` axes."""
    return vector.reshape((-1,) + (1,) * (ndim - 1))


def _tf_coupled_group_shrink(values, slots, num_groups, strength, step):
    """:func:`coupled_group_shrink` in TensorFlow ops (segment sums over the groups; XLA compiles it)."""
    from l1lab._compat import tf

    values = [tf.convert_to_tensor(v) for v in values]
    dtype = values[0].dtype
    per_value_step = isinstance(step, (list, tuple))

    def moved(x, axis):
        return tf.reshape(tf.experimental.numpy.moveaxis(x, axis, 0), [tf.shape(x)[axis], -1])

    def along(vector, x, axis):
        shape = [1] * len(x.shape)
        shape[axis] = -1
        return tf.reshape(vector, shape)

    scale = tf.zeros([num_groups], dtype)
    for index, axis, ids in slots:
        largest = tf.reduce_max(tf.abs(moved(values[index], axis)), axis=1)
        scale = tf.maximum(scale, tf.math.unsorted_segment_max(largest, ids, num_groups))
    squares = tf.zeros([num_groups], dtype)
    step_sum = tf.zeros([num_groups], dtype)
    count = tf.zeros([num_groups], dtype)
    for index, axis, ids in slots:
        scaled = tf.math.divide_no_nan(values[index], along(tf.gather(scale, ids), values[index], axis))
        squares += tf.math.unsorted_segment_sum(tf.reduce_sum(tf.square(moved(scaled, axis)), axis=1), ids, num_groups)
        if per_value_step:
            steps = tf.broadcast_to(tf.cast(step[index], dtype), tf.shape(values[index]))
            step_sum += tf.math.unsorted_segment_sum(tf.reduce_sum(moved(steps, axis), axis=1), ids, num_groups)
            elements = tf.cast(tf.size(values[index]) // tf.shape(values[index])[axis], dtype)
            count += tf.math.unsorted_segment_sum(tf.fill([len(ids)], elements), ids, num_groups)
    norm = scale * tf.sqrt(squares)

    def exact(value):  # tf.cast of a Python float would round it to float32 first
        return tf.cast(tf.convert_to_tensor(value, dtype_hint=dtype), dtype)

    group_step = tf.math.divide_no_nan(step_sum, count) if per_value_step else exact(step)
    threshold = group_step * exact(strength)
    # divide_no_nan: an all-zero group stays zero.
    factor = tf.maximum(1 - tf.math.divide_no_nan(threshold, norm), tf.zeros([], dtype))
    out = list(values)
    for index, axis, ids in slots:
        out[index] = out[index] * along(tf.gather(factor, ids), out[index], axis)
    return out


def _shrink(prox_v, step, l1, l2):
    """TensorFlow's shared ending: soft-threshold by ``step*l1``, then scale by ``1/(1+step*l2)``.

    With ``l1 = 0`` TensorFlow skips the threshold; ``sign(p) * max(|p|, 0)``
    equals ``p`` exactly, so one formula serves both cases.
    """
    return np.sign(prox_v) * np.maximum(np.abs(prox_v) - step * l1, 0).astype(prox_v.dtype) / (1 + step * l2)


def proximal_sgd_update(var, grad, learning_rate, l1=0.0, l2=0.0):
    r"""One step of TensorFlow's ``ApplyProximalGradientDescent``, in NumPy.

    With :math:`\alpha` the learning rate, a gradient step then the proximal
    operator of :math:`\alpha (\lambda_1 \lVert\cdot\rVert_1 + \tfrac{\lambda_2}{2} \lVert\cdot\rVert_2^2)`:

    .. math::

       v' = v - \alpha g, \qquad
       v^{+} = \operatorname{argmin}_y \; \tfrac12 \lVert y - v' \rVert_2^2
               + \alpha \lambda_1 \lVert y \rVert_1 + \tfrac{\alpha \lambda_2}{2} \lVert y \rVert_2^2
             = \frac{S_{\alpha\lambda_1}(v')}{1 + \alpha \lambda_2}

    Returns the new variable; ``l1`` and ``l2`` may be scalars or arrays
    broadcastable to ``var`` (per-element strengths).
    """
    var = np.asarray(var)
    dtype = var.dtype.type
    lr, l1, l2 = dtype(learning_rate), np.asarray(l1, var.dtype), np.asarray(l2, var.dtype)
    prox_v = var - np.asarray(grad, var.dtype) * lr
    return _shrink(prox_v, lr, l1, l2).astype(var.dtype)


def proximal_adagrad_update(var, accum, grad, learning_rate, l1=0.0, l2=0.0):
    r"""One step of TensorFlow's ``ApplyProximalAdagrad``, in NumPy.

    The accumulator gathers squared gradients and sets a per-element step
    :math:`\alpha_i = \alpha / \sqrt{a_i}`; then the proximal step of
    :func:`proximal_sgd_update` with that step:

    .. math::

       a^{+} = a + g^2, \quad \alpha_i = \frac{\alpha}{\sqrt{a^{+}_i}}, \quad
       v' = v - \alpha_i g, \quad
       v^{+}_i = \operatorname{argmin}_y \; \tfrac12 (y - v'_i)^2 + \alpha_i \lambda_1 \lvert y \rvert
                 + \tfrac{\alpha_i \lambda_2}{2} y^2
               = \frac{S_{\alpha_i \lambda_1}(v'_i)}{1 + \alpha_i \lambda_2}

    Returns ``(new_var, new_accum)``.
    """
    var = np.asarray(var)
    dtype = var.dtype.type
    grad = np.asarray(grad, var.dtype)
    accum = np.asarray(accum, var.dtype) + grad * grad
    step = dtype(learning_rate) * (1 / np.sqrt(accum)).astype(var.dtype)
    prox_v = var - grad * step
    l1, l2 = np.asarray(l1, var.dtype), np.asarray(l2, var.dtype)
    return _shrink(prox_v, step, l1, l2).astype(var.dtype), accum


def _tf_shrink(prox_v, step, l1, l2):
    """:func:`_shrink` in TensorFlow ops, written for speed.

    ``p - clip(p, -t, t)`` is ``sign(p) * max(|p| - t, 0)`` bit for bit
    (``|p| - t`` and ``p -+ t`` round alike), except that it gives ``+0.0``
    where the other may give ``-0.0``; it takes fewer ops, and on CPU a step's
    cost is its op count. ``l1``/``l2`` that are Python zeros skip their ops.
    """
    from l1lab._compat import tf

    if isinstance(l1, (int, float)) and l1 == 0:
        shrunk = prox_v
    else:
        threshold = step * l1
        shrunk = prox_v - tf.clip_by_value(prox_v, -threshold, threshold)
    if isinstance(l2, (int, float)) and l2 == 0:
        return shrunk
    return shrunk / (1 + step * l2)


def tf_proximal_sgd(var, grad, learning_rate, l1, l2=0.0):
    """:func:`proximal_sgd_update` as TensorFlow ops (returns the new value)."""
    return _tf_shrink(var - grad * learning_rate, learning_rate, l1, l2)


def tf_proximal_adagrad(var, accum, grad, learning_rate, l1, l2=0.0):
    """:func:`proximal_adagrad_update` as TensorFlow ops: ``(new_var, new_accum)``."""
    from l1lab._compat import tf

    new_accum = accum + grad * grad
    step = learning_rate * tf.math.rsqrt(new_accum)
    return _tf_shrink(var - grad * step, step, l1, l2), new_accum
