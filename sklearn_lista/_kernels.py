"""Numba kernels: arrays and scalars in, arrays out.

Every kernel is a single pass over a ``(n_samples, n_components)`` array that
follows a BLAS product computed by the caller. Nothing here knows about
estimators; the callers validate shapes, dtypes and contiguity. All kernels
release the GIL so that chunks can run in threads, and they are compiled lazily
(once per dtype, float32 and float64) and cached on disk.
"""

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True}


@njit(**_JIT)
def _shrink(value, threshold, positive):
    if positive:
        return max(value - threshold, 0.0)
    if value > threshold:
        return value - threshold
    if value < -threshold:
        return value + threshold
    return 0.0


@njit(**_JIT)
def ista_step(product, offset, codes, threshold, positive):
    """ISTA update ``codes <- st(product + offset, threshold)`` in place.

    Parameters
    ----------
    product : ndarray of shape (n_samples, n_components)
        ``codes @ (I - B / L)``, computed by BLAS before the call.
    offset : ndarray of shape (n_samples, n_components)
        ``X @ D.T / L``, constant across iterations.
    codes : ndarray of shape (n_samples, n_components)
        Current iterate, overwritten with the next one.
    threshold : float
        ``alpha / L``.
    positive : bool
        One-sided threshold ``max(u - t, 0)`` instead of the soft threshold.

    Returns
    -------
    nnz : int
        Number of non-zeros of the new iterate (it picks the next product).
    """
    n_samples, n_components = product.shape
    nnz = 0
    for i in range(n_samples):
        for j in range(n_components):
            value = _shrink(product[i, j] + offset[i, j], threshold, positive)
            codes[i, j] = value
            if value != 0:
                nnz += 1
    return nnz


@njit(**_JIT)
def fista_step(product, offset, codes, extrapolated, threshold, momentum, positive):
    """FISTA update of ``codes`` and of the extrapolated point, in place.

    ``z_new = st(product + offset, threshold)`` where ``product`` is
    ``extrapolated @ (I - B / L)``; then
    ``extrapolated <- z_new + momentum * (z_new - codes)`` and ``codes <- z_new``.
    Returns the number of non-zeros of the new extrapolated point.
    """
    n_samples, n_components = product.shape
    nnz = 0
    for i in range(n_samples):
        for j in range(n_components):
            new = _shrink(product[i, j] + offset[i, j], threshold, positive)
            value = new + momentum * (new - codes[i, j])
            extrapolated[i, j] = value
            codes[i, j] = new
            if value != 0:
                nnz += 1
    return nnz


@njit(**_JIT)
def lasso_duality_gap(X, codes, residual, correlation, alpha, positive, gaps, costs):
    """Per-sample primal cost and duality gap of the Lasso, accumulated in float64.

    The dual point is the residual rescaled to be feasible,
    ``theta = s * r`` with ``s = min(1, alpha / ||D r||_inf)`` (for positive codes
    only the positive part of ``D r`` constrains ``theta``). With this choice the
    dual objective ``0.5 ||x||^2 - 0.5 ||x - theta||^2`` equals
    ``s <x, r> - 0.5 s^2 ||r||^2``, which avoids subtracting two large norms.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    codes : ndarray of shape (n_samples, n_components)
    residual : ndarray of shape (n_samples, n_features)
        ``X - codes @ D``.
    correlation : ndarray of shape (n_samples, n_components)
        ``residual @ D.T``.
    alpha : float
    positive : bool
    gaps, costs : ndarray of shape (n_samples,), float64
        Outputs.
    """
    n_samples, n_features = X.shape
    n_components = codes.shape[1]
    for i in range(n_samples):
        r2 = 0.0
        xr = 0.0
        for p in range(n_features):
            r = np.float64(residual[i, p])
            r2 += r * r
            xr += np.float64(X[i, p]) * r
        l1 = 0.0
        dual_norm = 0.0
        for j in range(n_components):
            l1 += abs(np.float64(codes[i, j]))
            c = np.float64(correlation[i, j])
            if not positive:
                c = abs(c)
            if c > dual_norm:
                dual_norm = c
        scale = 1.0
        if dual_norm > alpha:
            scale = alpha / dual_norm
        primal = 0.5 * r2 + alpha * l1
        dual = scale * xr - 0.5 * scale * scale * r2
        costs[i] = primal
        gaps[i] = max(primal - dual, 0.0)


@njit(**_JIT)
def thresholded_layer(product, use_product, offsets, layer, thresholds, out, positive):
    """One unrolled layer ``out = st(product + offsets[:, layer], thresholds)``.

    Parameters
    ----------
    product : ndarray of shape (n_samples, n_components)
        The layer's linear term in the iterate(s), ignored if not `use_product`
        (the first layer, whose input iterate is zero).
    use_product : bool
    offsets : ndarray of shape (n_samples, n_layers, n_components)
        ``x W_x[k]`` for every layer, computed by one BLAS product.
    layer : int
    thresholds : ndarray of shape (n_components,)
        Per-coordinate thresholds of this layer (non-negative).
    out : ndarray of shape (n_samples, n_components)
    positive : bool

    Returns
    -------
    nnz : int
        Number of non-zeros written to `out`.
    """
    n_samples, n_components = out.shape
    nnz = 0
    for i in range(n_samples):
        for j in range(n_components):
            value = offsets[i, layer, j]
            if use_product:
                value += product[i, j]
            value = _shrink(value, thresholds[j], positive)
            out[i, j] = value
            if value != 0:
                nnz += 1
    return nnz


@njit(**_JIT)
def thresholded_layer_backward(grad_out, codes, grad_pre, grad_thresholds):
    """Backward of :func:`thresholded_layer` through the threshold.

    With ``z = st(u, t)`` and ``t >= 0``, ``dz/du`` is 1 where ``z != 0`` and 0
    elsewhere (the subgradient 0 at the kink), and ``dz/dt = -sign(z)`` (for
    the one-sided threshold ``z > 0`` so the same formula holds).

    Writes ``grad_pre = grad_out * (codes != 0)`` and
    ``grad_thresholds = -sum_i grad_pre[i] * sign(codes[i])``.
    """
    n_samples, n_components = codes.shape
    for j in range(n_components):
        grad_thresholds[j] = 0.0
    for i in range(n_samples):
        for j in range(n_components):
            z = codes[i, j]
            if z > 0:
                g = grad_out[i, j]
                grad_pre[i, j] = g
                grad_thresholds[j] -= g
            elif z < 0:
                g = grad_out[i, j]
                grad_pre[i, j] = g
                grad_thresholds[j] += g
            else:
                grad_pre[i, j] = 0.0


@njit(**_JIT)
def adam_step(param, grad, first_moment, second_moment, step, beta_1, beta_2, epsilon):
    """Fused in-place Adam update of flat arrays (one pass, no temporaries)."""
    for i in range(param.size):
        g = grad[i]
        m = beta_1 * first_moment[i] + (1.0 - beta_1) * g
        v = beta_2 * second_moment[i] + (1.0 - beta_2) * g * g
        first_moment[i] = m
        second_moment[i] = v
        param[i] -= step * m / (np.sqrt(v) + epsilon)


# ---------------------------------------------------------------------------
# Sparse-aware products: after a few iterations the iterate has a handful of
# non-zeros per row, and a product with it costs O(nnz * K) when only the rows
# of the other operand selected by those non-zeros are accumulated. Callers
# choose between these and the dense BLAS product from the measured density.


@njit(**_JIT)
def _accumulate_nonzeros(acc, row, matrix):
    """``acc += row @ matrix``, touching only the rows of `matrix` where
    ``row != 0``."""
    n_cols = matrix.shape[1]
    for j in range(row.shape[0]):
        value = row[j]
        if value != 0:
            for col in range(n_cols):
                acc[col] += value * matrix[j, col]


@njit(**_JIT)
def count_nonzero_rows(A):
    """Number of non-zero entries of a 2-D array (any layout)."""
    count = 0
    n_rows, n_cols = A.shape
    for i in range(n_rows):
        for j in range(n_cols):
            if A[i, j] != 0:
                count += 1
    return count


@njit(**_JIT)
def sparse_matmul(A, W, out):
    """``out = A @ W`` accumulating only the rows of `W` where ``A[i] != 0``."""
    n_rows, n_inner = A.shape
    n_cols = W.shape[1]
    acc = np.empty(n_cols, dtype=out.dtype)
    for i in range(n_rows):
        acc[:] = 0.0
        _accumulate_nonzeros(acc, A[i], W)
        for col in range(n_cols):
            out[i, col] = acc[col]


@njit(**_JIT)
def sparse_transpose_matmul(A, B, out):
    """``out = A.T @ B`` accumulating ``A[i, j] * B[i]`` over non-zeros of `A`."""
    n_rows, n_inner = A.shape
    n_cols = B.shape[1]
    out[:, :] = 0.0
    for i in range(n_rows):
        for j in range(n_inner):
            a = A[i, j]
            if a != 0:
                for col in range(n_cols):
                    out[j, col] += a * B[i, col]


@njit(**_JIT)
def sparse_ista_step(codes, step_matrix, offset, threshold, positive):
    """ISTA step with the product fused in, walking the non-zeros of `codes`.

    ``codes[i] <- st(codes[i] @ step_matrix + offset[i], threshold)`` in place
    (each row is read entirely before it is overwritten). Returns the number
    of non-zeros of the new iterate.
    """
    n_samples, n_components = codes.shape
    acc = np.empty(n_components, dtype=codes.dtype)
    nnz = 0
    for i in range(n_samples):
        for col in range(n_components):
            acc[col] = offset[i, col]
        _accumulate_nonzeros(acc, codes[i], step_matrix)
        for col in range(n_components):
            value = _shrink(acc[col], threshold, positive)
            codes[i, col] = value
            if value != 0:
                nnz += 1
    return nnz


@njit(**_JIT)
def sparse_fista_step(
    codes, extrapolated, step_matrix, offset, threshold, momentum, positive
):
    """FISTA step with the product fused in, walking non-zeros of `extrapolated`.

    Returns the number of non-zeros of the new extrapolated point.
    """
    n_samples, n_components = codes.shape
    acc = np.empty(n_components, dtype=codes.dtype)
    nnz = 0
    for i in range(n_samples):
        for col in range(n_components):
            acc[col] = offset[i, col]
        _accumulate_nonzeros(acc, extrapolated[i], step_matrix)
        for col in range(n_components):
            new = _shrink(acc[col], threshold, positive)
            value = new + momentum * (new - codes[i, col])
            extrapolated[i, col] = value
            codes[i, col] = new
            if value != 0:
                nnz += 1
    return nnz


@njit(**_JIT)
def sparse_thresholded_layer(
    current,
    weights,
    previous,
    momentum_weights,
    use_previous,
    offsets,
    layer,
    thresholds,
    out,
    positive,
):
    """:func:`thresholded_layer` with its products fused, walking non-zeros.

    ``out = st(current @ weights [+ previous @ momentum_weights]
    + offsets[:, layer], thresholds)``; the bracketed term only if
    `use_previous` (learned FISTA). Returns the number of non-zeros of `out`.
    """
    n_samples, n_components = out.shape
    acc = np.empty(n_components, dtype=out.dtype)
    nnz = 0
    for i in range(n_samples):
        for col in range(n_components):
            acc[col] = offsets[i, layer, col]
        _accumulate_nonzeros(acc, current[i], weights)
        if use_previous:
            _accumulate_nonzeros(acc, previous[i], momentum_weights)
        for col in range(n_components):
            value = _shrink(acc[col], thresholds[col], positive)
            out[i, col] = value
            if value != 0:
                nnz += 1
    return nnz
