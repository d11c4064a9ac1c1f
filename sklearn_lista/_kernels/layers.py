"""Layers of the unrolled networks: one fused pass per layer, and its backward.

Each forward pass ends with a proximal operator given by its code ``prox``
(see :mod:`.prox`; the bool ``positive`` is a valid code) and, for support
selection, the layer's ``n_bypass``.
"""

import numpy as np
from numba import njit

from ._jit import JIT
from .prox import (
    SUPPORT_SELECTION,
    bypass_largest,
    is_positive,
    select_largest,
    shrink,
    shrink_row,
)
from .sparse import accumulate_nonzeros


@njit(**JIT)
def thresholded_layer(
    product, use_product, offsets, layer, thresholds, out, prox, n_bypass=0
):
    """One unrolled layer ``out = prox(product + offsets[:, layer], thresholds)``.

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
    prox : bool or int
        Code of the proximal operator (``PROXIMAL_OPERATORS``); a bool is
        ``positive`` (soft or positive threshold).
    n_bypass : int, default=0
        Support selection only: per row, how many of the entries beyond their
        threshold keep their value unshrunk (the largest in magnitude; the
        caller turns LISTA-CPSS's per-layer percentage into this count).

    Returns
    -------
    nnz : int
        Number of non-zeros written to `out`.
    """
    n_samples, n_components = out.shape
    pre = np.empty(n_components, dtype=out.dtype)
    indices = np.empty(n_components, dtype=np.int64)
    nnz = 0
    positive = is_positive(prox)
    for i in range(n_samples):
        for j in range(n_components):
            value = offsets[i, layer, j]
            if use_product:
                value += product[i, j]
            pre[j] = value
            value = shrink(value, thresholds[j], positive)
            out[i, j] = value
            nnz += value != 0
        bypass_largest(pre, out, i, prox, n_bypass, indices)
    return nnz


@njit(**JIT)
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
    prox,
    n_bypass=0,
):
    """:func:`thresholded_layer` with its products fused, walking non-zeros.

    ``out = prox(current @ weights [+ previous @ momentum_weights]
    + offsets[:, layer], thresholds)``; the bracketed term only if
    `use_previous` (learned FISTA). Returns the number of non-zeros of `out`.
    """
    n_samples, n_components = out.shape
    acc = np.empty(n_components, dtype=out.dtype)
    indices = np.empty(n_components, dtype=np.int64)
    nnz = 0
    for i in range(n_samples):
        for col in range(n_components):
            acc[col] = offsets[i, layer, col]
        accumulate_nonzeros(acc, current, i, weights)
        if use_previous:
            accumulate_nonzeros(acc, previous, i, momentum_weights)
        nnz += shrink_row(acc, thresholds, out, i, prox)
        bypass_largest(acc, out, i, prox, n_bypass, indices)
    return nnz


def thresholded_layer_backward(
    grad_out, codes, grad_pre, grad_thresholds, prox=0, n_bypass=0
):
    """Backward of :func:`thresholded_layer` through the proximal operator.

    With ``z = st(u, t)`` and ``t >= 0``, ``dz/du`` is 1 where ``z != 0`` and 0
    elsewhere (the subgradient 0 at the kink), and ``dz/dt = -sign(z)`` (for
    the one-sided threshold ``z > 0`` so the same formula holds). With
    support selection, the bypassed entries (``z = u``) have ``dz/du = 1``
    and ``dz/dt = 0``; they are found again from `codes` alone, as the
    ``n_bypass`` largest ``|z|`` of the row (a shrunk entry is smaller than
    its pre-activation, hence than every bypassed one).

    Writes ``grad_pre = grad_out * (codes != 0)`` and
    ``grad_thresholds = -sum_i grad_pre[i] * sign(codes[i])`` over the
    entries that were shrunk. (Chosen in Python: each kernel compiles on
    first use only, support selection's costs 0.4 s.)
    """
    if prox & SUPPORT_SELECTION and n_bypass > 0:
        _support_selection_backward(
            grad_out, codes, grad_pre, grad_thresholds, n_bypass
        )
    else:
        _threshold_backward(grad_out, codes, grad_pre, grad_thresholds)


@njit(**JIT)
def _threshold_backward(grad_out, codes, grad_pre, grad_thresholds):
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


@njit(**JIT)
def _support_selection_backward(grad_out, codes, grad_pre, grad_thresholds, n_bypass):
    n_samples, n_components = codes.shape
    for j in range(n_components):
        grad_thresholds[j] = 0.0
    indices = np.empty(n_components, dtype=np.int64)
    for i in range(n_samples):
        z = codes[i]
        count = 0
        for j in range(n_components):
            grad_pre[i, j] = 0.0
            indices[count] = j
            count += z[j] != 0
        n_top = min(n_bypass, count)
        select_largest(z, indices, count, n_top)
        for s in range(count):
            j = indices[s]
            g = grad_out[i, j]
            grad_pre[i, j] = g
            if s < n_top:
                continue
            if z[j] > 0:
                grad_thresholds[j] -= g
            else:
                grad_thresholds[j] += g


@njit(**JIT)
def learned_step_layer(
    codes,
    previous,
    products,
    previous_products,
    correlations,
    step,
    momentum,
    threshold,
    positive,
    out,
):
    """One layer of step-ISTA/step-FISTA from the iterates and their products.

    ``out = st(y - step * (y B - x D^T), threshold)`` with the extrapolated
    point ``y = z_k + momentum * (z_k - z_{k-1})``, whose product ``y B`` is
    the same combination of ``products = z_k B`` and ``previous_products``:
    the layer costs no product of its own, only the caller's ``out B`` for
    the next one. Returns the number of non-zeros of `out`.
    """
    n_samples, n_components = codes.shape
    nnz = 0
    for i in range(n_samples):
        for j in range(n_components):
            z = codes[i, j]
            zb = products[i, j]
            point = z + momentum * (z - previous[i, j])
            gradient = zb + momentum * (zb - previous_products[i, j])
            value = shrink(
                point - step * (gradient - correlations[i, j]), threshold, positive
            )
            out[i, j] = value
            nnz += value != 0
    return nnz


@njit(**JIT)
def learned_step_layer_backward(
    grad_out,
    out,
    codes,
    previous,
    products,
    previous_products,
    correlations,
    momentum,
    grad_pre,
):
    """Backward of :func:`learned_step_layer` through its threshold.

    Writes ``grad_pre = grad_out * (out != 0)`` and returns the two sums the
    step's derivative needs: ``sum grad_pre * (y B - x D^T)`` and
    ``sum grad_pre * sign(out)`` (for ``d threshold / d step``).
    """
    n_samples, n_components = out.shape
    gradient_sum = 0.0
    sign_sum = 0.0
    for i in range(n_samples):
        for j in range(n_components):
            z = out[i, j]
            if z != 0:
                g = grad_out[i, j]
                grad_pre[i, j] = g
                zb = products[i, j]
                gradient = zb + momentum * (zb - previous_products[i, j])
                gradient_sum += np.float64(g) * (gradient - correlations[i, j])
                sign_sum += g if z > 0 else -g
            else:
                grad_pre[i, j] = 0.0
    return gradient_sum, sign_sum


@njit(**JIT)
def learned_step_point_backward(
    grad_pre, grad_pre_products, step, momentum, codes, previous, carried, grad_codes
):
    """From ``dL/d pre`` to ``dL/dz_k`` of :func:`learned_step_layer`.

    With ``g_y = grad_pre - step * grad_pre B`` (``grad_pre_products`` is
    ``grad_pre B``): ``grad_codes = (1 + momentum) g_y + carried``, where
    `carried` holds what the next layer sent to ``z_k`` through its momentum,
    and is overwritten with ``-momentum g_y``, this layer's share of
    ``dL/dz_{k-1}``. Returns ``sum g_y * (z_k - z_{k-1})``, the momentum's
    derivative.
    """
    n_samples, n_components = grad_pre.shape
    momentum_sum = 0.0
    for i in range(n_samples):
        for j in range(n_components):
            g_point = grad_pre[i, j] - step * grad_pre_products[i, j]
            grad_codes[i, j] = (1 + momentum) * g_point + carried[i, j]
            carried[i, j] = -momentum * g_point
            momentum_sum += np.float64(g_point) * (codes[i, j] - previous[i, j])
    return momentum_sum


@njit(**JIT)
def rows_lasso_cost(codes, products, correlations, half_norms, alpha, out):
    """Lasso cost of each row from ``products = codes B``:
    ``0.5 ||x||^2 - z . (x D^T - 0.5 z B) + alpha ||z||_1`` (no product with
    the dictionary), written to `out` (float64)."""
    n_samples, n_components = codes.shape
    for i in range(n_samples):
        cost = np.float64(half_norms[i])
        for j in range(n_components):
            z = codes[i, j]
            if z != 0:
                cost += alpha * abs(z) - z * (correlations[i, j] - 0.5 * products[i, j])
        out[i] = cost
