"""Numba kernels: arrays and scalars in, arrays out.

Most kernels are a single pass over a ``(n_samples, n_components)`` array that
follows a BLAS product computed by the caller; :func:`thresholding_rows` runs
whole ISTA/FISTA iterations row by row on sparse iterates. Nothing here knows about
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
def _cost_and_gap(r2, xr, l1, dual_norm, alpha):
    """Primal cost and duality gap of one sample from its sums: ``||r||^2``,
    ``<x, r>``, ``||z||_1`` and ``||D r||_inf`` (see :func:`lasso_duality_gap`)."""
    scale = 1.0
    if dual_norm > alpha:
        scale = alpha / dual_norm
    primal = 0.5 * r2 + alpha * l1
    dual = scale * xr - 0.5 * scale * scale * r2
    return primal, max(primal - dual, 0.0)


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
        costs[i], gaps[i] = _cost_and_gap(r2, xr, l1, dual_norm, alpha)


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


# ---------------------------------------------------------------------------
# Row-wise solvers: once the iterate is sparse, each row runs all its
# remaining iterations while its data sit in L1 (offset, iterate, a list of
# its non-zeros). A whole-array step streams three (n, K) arrays through
# memory every iteration, which costs more than the arithmetic on a handful
# of non-zeros; row by row, memory traffic is paid once per row.


# ``contract`` lets LLVM fuse ``a * b + c`` into one FMA instruction (one
# rounding instead of two): the results move at rounding level only.
_JIT_ROWS = {**_JIT, "fastmath": {"contract"}}


@njit(**_JIT_ROWS)
def _load_row(row, indices, values, dense):
    """List the non-zeros of `row` (indices, values) and copy them into the
    zeroed scratch `dense`; returns their count."""
    count = 0
    for j in range(row.shape[0]):
        if row[j] != 0:
            indices[count] = j
            values[count] = row[j]
            dense[j] = row[j]
            count += 1
    return count


@njit(**_JIT_ROWS)
def _store_row(row, indices, values, count, dense):
    """Write the listed non-zeros to `row` (zero elsewhere); re-zero `dense`."""
    for j in range(row.shape[0]):
        row[j] = 0.0
    for s in range(count):
        row[indices[s]] = values[s]
        dense[indices[s]] = 0.0


@njit(**_JIT_ROWS)
def _affine_sparse(acc, offset, indices, values, count, step_matrix):
    """``acc = offset + z @ step_matrix`` for ``z`` given by its non-zeros."""
    n_components = acc.shape[0]
    for col in range(n_components):
        acc[col] = offset[col]
    for s in range(count):
        j = indices[s]
        value = values[s]
        for col in range(n_components):
            acc[col] += value * step_matrix[j, col]


@njit(**_JIT_ROWS)
def _threshold_sparse(acc, threshold, positive, indices, values):
    """Non-zeros of ``st(acc, threshold)`` into (indices, values); returns
    their count. The same values as :func:`_shrink`: only entries beyond the
    threshold are touched, most of ``acc`` is just compared."""
    count = 0
    if positive:
        for j in range(acc.shape[0]):
            if acc[j] > threshold:
                indices[count] = j
                count += 1
        for s in range(count):
            values[s] = acc[indices[s]] - threshold
    else:
        for j in range(acc.shape[0]):
            if abs(acc[j]) > threshold:
                indices[count] = j
                count += 1
        for s in range(count):
            a = acc[indices[s]]
            values[s] = a - threshold if a > 0 else a + threshold
    return count


@njit(**_JIT_ROWS)
def _row_gap_converged(
    x,
    dictionary,
    indices,
    values,
    count,
    z_dense,
    acc,
    lipschitz,
    alpha,
    positive,
    tol,
    work,
):
    """Whether ``z`` meets the relative duality gap `tol`, as
    :func:`lasso_duality_gap` computes it.

    ``z`` is given by its non-zeros (and `z_dense`); `acc` must hold
    ``offset + z @ step_matrix``, so that the correlation ``(x - z D) D^T``
    is ``L * (acc - z)`` and costs no product. The residual is formed over
    the non-zeros (``count * n_features``).
    """
    n_features = x.shape[0]
    for p in range(n_features):
        work[p] = np.float64(x[p])
    l1 = 0.0
    for s in range(count):
        j = indices[s]
        value = np.float64(values[s])
        l1 += abs(value)
        for p in range(n_features):
            work[p] -= value * dictionary[j, p]
    r2 = 0.0
    xr = 0.0
    for p in range(n_features):
        r = work[p]
        r2 += r * r
        xr += np.float64(x[p]) * r
    dual_norm = 0.0
    for j in range(acc.shape[0]):
        c = lipschitz * (np.float64(acc[j]) - np.float64(z_dense[j]))
        if not positive:
            c = abs(c)
        if c > dual_norm:
            dual_norm = c
    primal, gap = _cost_and_gap(r2, xr, l1, dual_norm, alpha)
    return gap <= tol * primal


@njit(**_JIT_ROWS)
def thresholding_rows(
    X,
    dictionary,
    offset,
    step_matrix,
    codes,
    extrapolated,
    t_state,
    threshold,
    alpha,
    lipschitz,
    positive,
    accelerated,
    restart,
    start,
    n_iter,
    tol,
    check_every,
    unconverged,
):
    """Iterations ``start .. n_iter - 1`` of ISTA/FISTA, one row at a time.

    A row's state is the list of its non-zeros (indices and values), rebuilt
    by each thresholding; a product costs ``nnz * K`` and the thresholding
    compares ``K`` entries, all in L1 cache: a row runs all its iterations
    before the next row is loaded. Rows are independent, so the result is
    the whole-array iteration's, to rounding.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    dictionary : ndarray of shape (n_components, n_features)
    offset : ndarray of shape (n_samples, n_components)
        ``X @ D.T / L``.
    step_matrix : ndarray of shape (n_components, n_components)
        ``I - D D^T / L``.
    codes : ndarray of shape (n_samples, n_components)
        Iterate after `start` iterations (not read if ``start == 0``),
        overwritten with the result.
    extrapolated : ndarray of shape (n_samples, n_components)
        FISTA's extrapolated point after `start` iterations (ignored by ISTA
        and if ``start == 0``); not updated.
    t_state : ndarray of shape (n_samples,), float64
        FISTA's ``t_k`` per row, updated in place (rows differ after restarts).
    threshold : float
        ``alpha / L`` in the dtype of `codes`.
    alpha, lipschitz : float
    positive, accelerated, restart : bool
        `restart`: FISTA's momentum is reset on a row when
        ``(y_k - z_{k+1}) . (z_{k+1} - z_k) > 0`` (gradient restart).
    start, n_iter : int
    tol : float
        Relative duality-gap tolerance; <= 0 runs every iteration. The gap of
        ``z_m`` is checked for ``m > start`` a multiple of `check_every`, and
        for ``m = n_iter``; a row stops at the first ``z_m`` that meets it.
    check_every : int
    unconverged : ndarray of shape (n_samples,), bool
        Output: rows above the tolerance after `n_iter` iterations.

    Returns
    -------
    n_unconverged : int
    """
    n_samples, n_components = codes.shape
    dtype = codes.dtype
    acc = np.empty(n_components, dtype=dtype)
    z_acc = np.empty(n_components, dtype=dtype)
    # Non-zeros of z_k, of the new iterate and of FISTA's y_k, with dense
    # scratch copies that are zero outside the listed entries.
    z_idx = np.empty(n_components, dtype=np.int64)
    z_val = np.empty(n_components, dtype=dtype)
    new_idx = np.empty(n_components, dtype=np.int64)
    new_val = np.empty(n_components, dtype=dtype)
    y_idx = np.empty(n_components, dtype=np.int64)
    y_val = np.empty(n_components, dtype=dtype)
    z_dense = np.zeros(n_components, dtype=dtype)
    new_dense = np.zeros(n_components, dtype=dtype)
    y_dense = np.zeros(n_components, dtype=dtype)
    work = np.empty(X.shape[1], dtype=np.float64)
    momentum_buffer = np.empty(1, dtype=dtype)
    # The point multiplied by step_matrix: y (FISTA) or z (ISTA).
    p_idx = y_idx if accelerated else z_idx
    p_val = y_val if accelerated else z_val
    n_unconverged = 0
    for i in range(n_samples):
        offset_i = offset[i]
        # From z_0 = 0 (start == 0) the inputs are not read: they may be
        # uninitialised.
        n_z = 0
        n_y = 0
        if start > 0:
            n_z = _load_row(codes[i], z_idx, z_val, z_dense)
            if accelerated:
                n_y = _load_row(extrapolated[i], y_idx, y_val, y_dense)
        t = t_state[i]
        converged = False
        for m in range(start, n_iter + 1):
            check = tol > 0 and m > start and (m % check_every == 0 or m == n_iter)
            if m == n_iter and not check:
                break
            # acc = offset + y @ step_matrix over y's non-zeros: the first
            # pass adds the n_product % 4 odd rows to the offset, each further
            # pass four rows of step_matrix (so few loads and stores of acc;
            # one pass in all for up to three non-zeros). Written out here,
            # as a call per iteration measurably slows this loop.
            n_product = n_y if accelerated else n_z
            s = n_product % 4
            if s == 0:
                for col in range(n_components):
                    acc[col] = offset_i[col]
            elif s == 1:
                j0, v0 = p_idx[0], p_val[0]
                for col in range(n_components):
                    acc[col] = offset_i[col] + v0 * step_matrix[j0, col]
            elif s == 2:
                j0, j1, v0, v1 = p_idx[0], p_idx[1], p_val[0], p_val[1]
                for col in range(n_components):
                    acc[col] = (
                        offset_i[col]
                        + v0 * step_matrix[j0, col]
                        + v1 * step_matrix[j1, col]
                    )
            else:
                j0, j1, j2 = p_idx[0], p_idx[1], p_idx[2]
                v0, v1, v2 = p_val[0], p_val[1], p_val[2]
                for col in range(n_components):
                    acc[col] = (
                        offset_i[col]
                        + v0 * step_matrix[j0, col]
                        + v1 * step_matrix[j1, col]
                        + v2 * step_matrix[j2, col]
                    )
            while s < n_product:
                j0, j1, j2, j3 = p_idx[s], p_idx[s + 1], p_idx[s + 2], p_idx[s + 3]
                v0, v1, v2, v3 = p_val[s], p_val[s + 1], p_val[s + 2], p_val[s + 3]
                for col in range(n_components):
                    acc[col] = (
                        acc[col]
                        + v0 * step_matrix[j0, col]
                        + v1 * step_matrix[j1, col]
                        + v2 * step_matrix[j2, col]
                        + v3 * step_matrix[j3, col]
                    )
                s += 4
            if check:
                if accelerated:
                    # The product above is at y_m; the gap of z_m needs z_m's.
                    _affine_sparse(z_acc, offset_i, z_idx, z_val, n_z, step_matrix)
                else:
                    z_acc[:] = acc
                converged = _row_gap_converged(
                    X[i],
                    dictionary,
                    z_idx,
                    z_val,
                    n_z,
                    z_dense,
                    z_acc,
                    lipschitz,
                    alpha,
                    positive,
                    tol,
                    work,
                )
                if converged or m == n_iter:
                    break
            # Support of the new iterate. Once identified it rarely changes:
            # a vectorised count of the entries beyond the threshold, and a
            # look at the previous support, usually spare the scalar scan.
            n_new = -1
            count = 0
            if positive:
                for j in range(n_components):
                    count += acc[j] > threshold
            else:
                for j in range(n_components):
                    count += abs(acc[j]) > threshold
            if count == n_z:
                n_new = n_z
                for s in range(n_z):
                    j = z_idx[s]
                    if not (
                        acc[j] > threshold or (not positive and -acc[j] > threshold)
                    ):
                        n_new = -1
                        break
                    new_idx[s] = j
            if n_new < 0:
                # Without branches: while the support moves, a branch per
                # entry would be mispredicted at every change.
                n_new = 0
                if positive:
                    for j in range(n_components):
                        new_idx[n_new] = j
                        n_new += acc[j] > threshold
                else:
                    for j in range(n_components):
                        new_idx[n_new] = j
                        n_new += abs(acc[j]) > threshold
            if positive:
                for s in range(n_new):
                    new_val[s] = acc[new_idx[s]] - threshold
            else:
                for s in range(n_new):
                    a = acc[new_idx[s]]
                    new_val[s] = a - threshold if a > 0 else a + threshold
            if accelerated:
                for s in range(n_new):
                    new_dense[new_idx[s]] = new_val[s]
                t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
                momentum_buffer[0] = (t - 1.0) / t_next
                if restart:
                    # (y - new) . (new - z) over supp(new) and supp(z): the
                    # other terms are zero.
                    direction = 0.0
                    for s in range(n_new):
                        j = new_idx[s]
                        direction += (np.float64(y_dense[j]) - new_dense[j]) * (
                            np.float64(new_dense[j]) - z_dense[j]
                        )
                    for s in range(n_z):
                        j = z_idx[s]
                        if new_dense[j] == 0:
                            direction += np.float64(y_dense[j]) * (
                                -np.float64(z_dense[j])
                            )
                    if direction > 0:
                        momentum_buffer[0] = 0.0
                        t_next = 1.0
                momentum = momentum_buffer[0]
                t = t_next
                # y_{k+1} = new + momentum * (new - z) on supp(new) U supp(z).
                for s in range(n_y):
                    y_dense[y_idx[s]] = 0.0
                n_y = 0
                for s in range(n_new):
                    j = new_idx[s]
                    value = new_dense[j] + momentum * (new_dense[j] - z_dense[j])
                    if value != 0:
                        y_idx[n_y] = j
                        y_val[n_y] = value
                        y_dense[j] = value
                        n_y += 1
                for s in range(n_z):
                    j = z_idx[s]
                    if new_dense[j] == 0:
                        value = momentum * (new_dense[j] - z_dense[j])
                        if value != 0:
                            y_idx[n_y] = j
                            y_val[n_y] = value
                            y_dense[j] = value
                            n_y += 1
                for s in range(n_new):
                    new_dense[new_idx[s]] = 0.0
            # z <- new (copying a few entries: swapping the arrays would cost
            # reference counting in the loop).
            for s in range(n_z):
                z_dense[z_idx[s]] = 0.0
            for s in range(n_new):
                j = new_idx[s]
                z_idx[s] = j
                z_val[s] = new_val[s]
                z_dense[j] = new_val[s]
            n_z = n_new
        _store_row(codes[i], z_idx, z_val, n_z, z_dense)
        for s in range(n_y):
            y_dense[y_idx[s]] = 0.0
        t_state[i] = t
        unconverged[i] = tol > 0 and not converged
        n_unconverged += unconverged[i]
    return n_unconverged


@njit(**_JIT)
def fista_restart_step(
    product, offset, codes, extrapolated, threshold, t_state, positive
):
    """:func:`fista_step` with a per-row momentum and gradient restart.

    Row ``i`` uses ``t_state[i]`` (updated in place) and resets its momentum
    when ``(y - z_new) . (z_new - z) > 0``, exactly as
    :func:`thresholding_rows` with ``restart=True``. Returns the number of
    non-zeros of the new extrapolated point.
    """
    n_samples, n_components = product.shape
    new = np.empty(n_components, dtype=codes.dtype)
    momentum_buffer = np.empty(1, dtype=codes.dtype)
    nnz = 0
    for i in range(n_samples):
        for j in range(n_components):
            new[j] = _shrink(product[i, j] + offset[i, j], threshold, positive)
        t = t_state[i]
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum_buffer[0] = (t - 1.0) / t_next
        direction = 0.0
        for j in range(n_components):
            direction += (np.float64(extrapolated[i, j]) - new[j]) * (
                np.float64(new[j]) - codes[i, j]
            )
        if direction > 0:
            momentum_buffer[0] = 0.0
            t_next = 1.0
        t_state[i] = t_next
        momentum = momentum_buffer[0]
        for j in range(n_components):
            value = new[j] + momentum * (new[j] - codes[i, j])
            extrapolated[i, j] = value
            codes[i, j] = new[j]
            if value != 0:
                nnz += 1
    return nnz


@njit(**_JIT)
def count_beyond_threshold(A, threshold, positive):
    """Number of non-zeros of ``st(A, threshold)``: the density of the first
    iterate ``z_1 = st(x D^T / L, alpha / L)``, known before computing it."""
    count = 0
    n_rows, n_cols = A.shape
    for i in range(n_rows):
        for j in range(n_cols):
            if positive:
                count += A[i, j] > threshold
            else:
                count += abs(A[i, j]) > threshold
    return count
