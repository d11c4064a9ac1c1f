"""ISTA/FISTA iterations on whole arrays: one fused pass after the BLAS
product ``codes @ (I - B / L)`` that the caller computes."""

import numpy as np
from numba import njit

from ._jit import INLINE, JIT
from .prox import beyond, shrink


@njit(**INLINE)
def next_t(t):
    """FISTA's ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2``."""
    return (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0


@njit(**JIT)
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
            value = shrink(product[i, j] + offset[i, j], threshold, positive)
            codes[i, j] = value
            if value != 0:
                nnz += 1
    return nnz


@njit(**JIT)
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
            new = shrink(product[i, j] + offset[i, j], threshold, positive)
            value = new + momentum * (new - codes[i, j])
            extrapolated[i, j] = value
            codes[i, j] = new
            if value != 0:
                nnz += 1
    return nnz


@njit(**JIT)
def fista_restart_step(
    product, offset, codes, extrapolated, threshold, t_state, positive
):
    """:func:`fista_step` with a per-row momentum and gradient restart.

    Row ``i`` uses ``t_state[i]`` (updated in place) and resets its momentum
    when ``(y - z_new) . (z_new - z) > 0``, exactly as
    :func:`~sklearn_lista._kernels.thresholding_rows` with ``restart=True``.
    Returns the number of non-zeros of the new extrapolated point.
    """
    n_samples, n_components = product.shape
    new = np.empty(n_components, dtype=codes.dtype)
    momentum_buffer = np.empty(1, dtype=codes.dtype)
    nnz = 0
    for i in range(n_samples):
        for j in range(n_components):
            new[j] = shrink(product[i, j] + offset[i, j], threshold, positive)
        t = t_state[i]
        t_next = next_t(t)
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


@njit(**JIT)
def count_beyond_threshold(A, threshold, positive):
    """Number of non-zeros of ``st(A, threshold)``: the density of the first
    iterate ``z_1 = st(x D^T / L, alpha / L)``, known before computing it."""
    count = 0
    n_rows, n_cols = A.shape
    for i in range(n_rows):
        for j in range(n_cols):
            count += beyond(A[i, j], threshold, positive)
    return count
