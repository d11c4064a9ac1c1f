"""Unrolled architectures as plain functions on arrays.

Each architecture provides

- ``init_params(dictionary, alpha, n_layers, lipschitz) -> params``: a list of
  stacked per-layer arrays, initialised so that the network computes exactly
  ``n_layers`` ISTA (or FISTA) iterations;
- ``forward(X, params, positive, keep_cache) -> (codes, cache)``;
- ``backward(params, cache, grad_codes) -> grads`` (same shapes as params).

Layer ``k`` (0-based) maps the iterate ``z_k`` to ``z_{k+1}``, with ``z_0 = 0``.
The input term ``x W_x[k]`` of every layer is one BLAS product before the
loop; each layer is then one ``(n, K) x (K, K)`` product (two for LFISTA)
followed by one fused numba pass. Per-layer weights that act on the iterate
exist for layers ``k >= 1`` only, so they are stacked with ``n_layers - 1``
entries: ``weights_z[k - 1]`` belongs to layer ``k``.
"""

from collections import namedtuple

import numpy as np

from ._base import gram_matrix
from ._classical import (
    fista_momentums,
    is_sparse,
    iterate_matmul,
    iterate_transpose_matmul,
)
from ._kernels import (
    sparse_thresholded_layer,
    thresholded_layer,
    thresholded_layer_backward,
)

Architecture = namedtuple(
    "Architecture", ["param_names", "init_params", "forward", "backward"]
)


def _ista_operators(dictionary, lipschitz):
    """``I - B / L`` (acts on the iterate) and ``D^T / L`` (acts on the input)."""
    n_components = dictionary.shape[0]
    gram = dictionary @ dictionary.T
    step = np.eye(n_components, dtype=dictionary.dtype) - gram / lipschitz
    return step.astype(dictionary.dtype), (dictionary.T / lipschitz).astype(
        dictionary.dtype
    )


def _input_offsets(X, weights_x):
    """``x W_x[k]`` for all layers at once, shape ``(n, n_layers, K)``."""
    n_layers, n_features, n_components = weights_x.shape
    stacked = weights_x.transpose(1, 0, 2).reshape(n_features, n_layers * n_components)
    return (X @ stacked).reshape(X.shape[0], n_layers, n_components)


def _input_weight_grads(X, grad_pre, densities):
    """``X^T dU_k`` for every layer (``dU_k`` is as sparse as ``z_{k+1}``)."""
    n_layers, _, n_components = grad_pre.shape
    transposed = np.empty((n_layers, n_components, X.shape[1]), dtype=X.dtype)
    for k in range(n_layers):
        iterate_transpose_matmul(grad_pre[k], X, transposed[k], densities[k + 1])
    return np.ascontiguousarray(transposed.transpose(0, 2, 1))


def _transposed(matrix):
    return np.ascontiguousarray(matrix.T)


def _codes_buffer(n_layers, n_samples, n_components, dtype, keep_cache):
    """All iterates (for backprop) or a ring of three (inference)."""
    size = n_layers + 1 if keep_cache else min(n_layers + 1, 3)
    buffer = np.empty((size, n_samples, n_components), dtype=dtype)
    buffer[0] = 0.0
    return buffer


# --------------------------------------------------------------------- LISTA
def lista_init_params(dictionary, alpha, n_layers, lipschitz):
    """LISTA weights equal to ISTA's: ``W_x = D^T/L``, ``W_z = I - B/L``,
    ``theta = alpha/L``."""
    step, input_weight = _ista_operators(dictionary, lipschitz)
    weights_x = np.repeat(input_weight[None], n_layers, axis=0)
    weights_z = np.repeat(step[None], n_layers - 1, axis=0)
    thresholds = np.full(
        (n_layers, dictionary.shape[0]), alpha / lipschitz, dtype=dictionary.dtype
    )
    return [weights_x, weights_z, thresholds]


def lista_forward(X, params, positive=False, keep_cache=True):
    """``z_{k+1} = st(z_k W_z[k] + x W_x[k], theta[k])``."""
    weights_x, weights_z, thresholds = params
    n_layers, _, n_components = weights_x.shape
    offsets = _input_offsets(X, weights_x)
    codes = _codes_buffer(n_layers, X.shape[0], n_components, X.dtype, keep_cache)
    product = np.empty(codes.shape[1:], dtype=X.dtype)
    size = codes.shape[0]
    densities = np.zeros(n_layers + 1)  # fraction of non-zeros of each z_k
    for k in range(n_layers):
        current, following = codes[k % size], codes[(k + 1) % size]
        if k and is_sparse(densities[k], X.dtype):
            nnz = sparse_thresholded_layer(
                current,
                weights_z[k - 1],
                current,
                weights_z[k - 1],
                False,
                offsets,
                k,
                thresholds[k],
                following,
                positive,
            )
        else:
            if k:
                np.dot(current, weights_z[k - 1], out=product)
            nnz = thresholded_layer(
                product, k > 0, offsets, k, thresholds[k], following, positive
            )
        densities[k + 1] = nnz / following.size
    output = codes[n_layers % size]
    return output, ((X, codes, densities) if keep_cache else None)


def lista_backward(params, cache, grad_codes):
    weights_x, weights_z, thresholds = params
    X, codes, densities = cache
    n_layers = weights_x.shape[0]
    grad_pre = np.empty((n_layers, X.shape[0], weights_x.shape[2]), dtype=X.dtype)
    grads_z = np.empty_like(weights_z)
    grads_thresholds = np.empty_like(thresholds)
    grad = np.ascontiguousarray(grad_codes, dtype=X.dtype)
    for k in range(n_layers - 1, -1, -1):
        thresholded_layer_backward(grad, codes[k + 1], grad_pre[k], grads_thresholds[k])
        if k:
            # dU_k is zero wherever z_{k+1} is: it is as sparse as z_{k+1}.
            pre = grad_pre[k]
            iterate_transpose_matmul(codes[k], pre, grads_z[k - 1], densities[k])
            grad = iterate_matmul(
                pre,
                _transposed(weights_z[k - 1]),
                np.empty_like(grad),
                densities[k + 1],
            )
    grads_x = _input_weight_grads(X, grad_pre, densities)
    return [grads_x, grads_z, grads_thresholds]


# -------------------------------------------------------------------- LFISTA
def lfista_init_params(dictionary, alpha, n_layers, lipschitz):
    """Learned FISTA equal to FISTA: ``W_z = (1 + m_k) (I - B/L)``,
    ``W_m = -m_k (I - B/L)``, ``W_x = D^T/L``, ``theta = alpha/L``."""
    step, input_weight = _ista_operators(dictionary, lipschitz)
    # Layer k >= 1 extrapolates with the weight computed after iteration k - 1.
    momentums = fista_momentums(max(n_layers - 1, 0)).astype(dictionary.dtype)
    weights_x = np.repeat(input_weight[None], n_layers, axis=0)
    weights_z = (1 + momentums)[:, None, None] * step[None]
    weights_m = -momentums[:, None, None] * step[None]
    thresholds = np.full(
        (n_layers, dictionary.shape[0]), alpha / lipschitz, dtype=dictionary.dtype
    )
    return [weights_x, weights_z, weights_m, thresholds]


def lfista_forward(X, params, positive=False, keep_cache=True):
    """``z_{k+1} = st(z_k W_z[k] + z_{k-1} W_m[k] + x W_x[k], theta[k])``."""
    weights_x, weights_z, weights_m, thresholds = params
    n_layers, _, n_components = weights_x.shape
    offsets = _input_offsets(X, weights_x)
    codes = _codes_buffer(n_layers, X.shape[0], n_components, X.dtype, keep_cache)
    product = np.empty(codes.shape[1:], dtype=X.dtype)
    momentum_product = np.empty_like(product)
    size = codes.shape[0]
    densities = np.zeros(n_layers + 1)
    for k in range(n_layers):
        current, following = codes[k % size], codes[(k + 1) % size]
        previous = codes[(k - 1) % size]
        # z_0 = 0, so layer 1 has no momentum term.
        if k and is_sparse(max(densities[k], densities[k - 1]), X.dtype):
            nnz = sparse_thresholded_layer(
                current,
                weights_z[k - 1],
                previous,
                weights_m[k - 1],
                k >= 2,
                offsets,
                k,
                thresholds[k],
                following,
                positive,
            )
        else:
            if k:
                np.dot(current, weights_z[k - 1], out=product)
            if k >= 2:
                iterate_matmul(
                    previous, weights_m[k - 1], momentum_product, densities[k - 1]
                )
                product += momentum_product
            nnz = thresholded_layer(
                product, k > 0, offsets, k, thresholds[k], following, positive
            )
        densities[k + 1] = nnz / following.size
    output = codes[n_layers % size]
    return output, ((X, codes, densities) if keep_cache else None)


def lfista_backward(params, cache, grad_codes):
    weights_x, weights_z, weights_m, thresholds = params
    X, codes, densities = cache
    n_layers = weights_x.shape[0]
    grad_pre = np.empty((n_layers, X.shape[0], weights_x.shape[2]), dtype=X.dtype)
    grads_z = np.empty_like(weights_z)
    grads_m = np.empty_like(weights_m)
    grads_thresholds = np.empty_like(thresholds)
    # grad: dL/dz_{k+1}, complete; carried: what layer k+1 sent to z_k via W_m.
    grad = np.ascontiguousarray(grad_codes, dtype=X.dtype)
    carried = np.zeros_like(grad)
    for k in range(n_layers - 1, -1, -1):
        thresholded_layer_backward(grad, codes[k + 1], grad_pre[k], grads_thresholds[k])
        if k:
            pre = grad_pre[k]
            iterate_transpose_matmul(codes[k], pre, grads_z[k - 1], densities[k])
            iterate_transpose_matmul(
                codes[k - 1], pre, grads_m[k - 1], densities[k - 1]
            )
            grad = carried + iterate_matmul(
                pre,
                _transposed(weights_z[k - 1]),
                np.empty_like(grad),
                densities[k + 1],
            )
            carried = iterate_matmul(
                pre,
                _transposed(weights_m[k - 1]),
                np.empty_like(grad),
                densities[k + 1],
            )
    grads_x = _input_weight_grads(X, grad_pre, densities)
    return [grads_x, grads_z, grads_m, grads_thresholds]


ARCHITECTURES = {
    "lista": Architecture(
        ("weights_x", "weights_z", "thresholds"),
        lista_init_params,
        lista_forward,
        lista_backward,
    ),
    "lfista": Architecture(
        ("weights_x", "weights_z", "weights_m", "thresholds"),
        lfista_init_params,
        lfista_forward,
        lfista_backward,
    ),
}


def resize_params(architecture, params, dictionary, alpha, n_layers, lipschitz):
    """Parameters for `n_layers` layers that keep the first layers of `params`.

    Layers beyond the old depth start at their ISTA/FISTA values (the paper's
    warm start across depths); a shallower network keeps the first layers.
    """
    new = architecture.init_params(dictionary, alpha, n_layers, lipschitz)
    old_layers = params[0].shape[0]
    keep = min(old_layers, n_layers)
    for old, fresh in zip(params, new, strict=True):
        # Arrays stacked per layer have n_layers entries, per iterate-layer one
        # fewer; the same shift applies to old and new.
        shift = old_layers - old.shape[0]
        fresh[: max(keep - shift, 0)] = old[: max(keep - shift, 0)]
    return new


def lasso_loss_and_grad(X, codes, dictionary, alpha):
    """Mean Lasso cost over the batch and its (sub)gradient in the codes."""
    residual = X - codes @ dictionary
    n_samples = X.shape[0]
    loss = (
        0.5 * float(np.einsum("ij,ij->", residual, residual, dtype=np.float64))
        + alpha * float(np.abs(codes).sum(dtype=np.float64))
    ) / n_samples
    grad = (alpha * np.sign(codes) - residual @ dictionary.T) / n_samples
    return loss, grad.astype(X.dtype, copy=False)


# -------------------------------------------------------------------- FacNet
def facnet_layer_operators(rotations, log_scales, dictionary, alpha):
    """Per-layer ``M = A^T - B A^T / S``, ``N = D^T A^T / S``, ``t = alpha / S``.

    In row form a FacNet layer is ``z' = st(z M + x N, t) A``: the column form
    ``A^T st_{alpha/S}(A z - S^{-1} A (B z - D x))`` with the products
    regrouped so that each layer costs two ``(n, K) x (K, K)`` products.
    """
    inverse_scales = np.exp(-log_scales)  # (q, K)
    gram = gram_matrix(dictionary)
    # A^T, (q, K, K), copied: OpenBLAS rounds a product with a transposed
    # operand differently with 1 and 2 threads, a contiguous one it does not.
    rotated_t = np.ascontiguousarray(np.swapaxes(rotations, -1, -2))
    iterate_weights = rotated_t - (gram @ rotated_t) * inverse_scales[:, None, :]
    input_weights = (dictionary.T @ rotated_t) * inverse_scales[:, None, :]
    thresholds = alpha * inverse_scales
    return iterate_weights, input_weights, thresholds, inverse_scales


def make_facnet(dictionary, alpha):
    """The FacNet architecture for one dictionary and penalty.

    Parameters are ``[rotations (q, K, K), log_scales (q, K)]``: ``A_q`` on the
    orthogonal group and ``S_q = exp(log_scales[q]) > 0``.
    """
    dictionary = np.asarray(dictionary)
    gram = dictionary @ dictionary.T

    def init_params(dictionary_, alpha_, n_layers, lipschitz):
        n_components = dictionary_.shape[0]
        rotations = np.repeat(
            np.eye(n_components, dtype=dictionary_.dtype)[None], n_layers, axis=0
        )
        log_scales = np.full(
            (n_layers, n_components), np.log(lipschitz), dtype=dictionary_.dtype
        )
        return [rotations, log_scales]

    def forward(X, params, positive=False, keep_cache=True):
        rotations, log_scales = params
        n_layers, n_components = log_scales.shape
        iterate_w, input_w, thresholds, _ = facnet_layer_operators(
            rotations, log_scales, dictionary.astype(X.dtype, copy=False), alpha
        )
        iterate_w = iterate_w.astype(X.dtype, copy=False)
        thresholds = thresholds.astype(X.dtype, copy=False)
        offsets = _input_offsets(X, input_w.astype(X.dtype, copy=False))
        codes = _codes_buffer(n_layers, X.shape[0], n_components, X.dtype, keep_cache)
        rotated = (
            np.empty((n_layers,) + codes.shape[1:], dtype=X.dtype)
            if keep_cache
            else np.empty((1,) + codes.shape[1:], dtype=X.dtype)
        )
        product = np.empty(codes.shape[1:], dtype=X.dtype)
        size = codes.shape[0]
        densities = np.zeros(n_layers + 1)
        rotated_densities = np.zeros(n_layers)
        for k in range(n_layers):
            current, following = codes[k % size], codes[(k + 1) % size]
            shrunk = rotated[k if keep_cache else 0]
            if k:
                iterate_matmul(current, iterate_w[k], product, densities[k])
            nnz = thresholded_layer(
                product, k > 0, offsets, k, thresholds[k], shrunk, False
            )
            rotated_densities[k] = nnz / shrunk.size
            iterate_matmul(
                shrunk,
                rotations[k].astype(X.dtype, copy=False),
                following,
                rotated_densities[k],
            )
            densities[k + 1] = np.count_nonzero(following) / following.size
        output = codes[n_layers % size]
        cache = (X, codes, rotated, densities, rotated_densities, iterate_w)
        return output, (cache if keep_cache else None)

    def backward(params, cache, grad_codes):
        rotations, log_scales = params
        X, codes, rotated, densities, rotated_densities, iterate_w = cache
        n_layers, n_components = log_scales.shape
        dtype = X.dtype
        grad_pre = np.empty((n_layers, X.shape[0], n_components), dtype=dtype)
        grads_rotations = np.empty_like(rotations)
        grad_iterate_w = np.zeros((n_layers, n_components, n_components), dtype=dtype)
        grads_thresholds = np.empty((n_layers, n_components), dtype=dtype)
        grad = np.ascontiguousarray(grad_codes, dtype=dtype)
        for k in range(n_layers - 1, -1, -1):
            rotation = rotations[k].astype(dtype, copy=False)
            # z_{k+1} = y_k A_k
            iterate_transpose_matmul(
                rotated[k], grad, grads_rotations[k], rotated_densities[k]
            )
            grad_rotated = grad @ rotation.T
            thresholded_layer_backward(
                grad_rotated, rotated[k], grad_pre[k], grads_thresholds[k]
            )
            if k:
                pre = grad_pre[k]
                iterate_transpose_matmul(codes[k], pre, grad_iterate_w[k], densities[k])
                grad = iterate_matmul(
                    pre,
                    _transposed(iterate_w[k]),
                    np.empty_like(grad),
                    rotated_densities[k],
                )
        grad_input_w = _input_weight_grads(
            X, grad_pre, rotated_densities_shifted(rotated_densities)
        )
        # Chain rule from (M, N, t) to (A, log S); tiny (K, K) work per layer.
        inverse_scales = np.exp(-log_scales)
        rotated_t = np.swapaxes(rotations, -1, -2)
        gram_rotated = gram @ rotated_t
        dict_rotated = dictionary.T @ rotated_t
        scaled = inverse_scales[:, None, :]
        grad_rotated_t = (
            grad_iterate_w
            - gram @ (grad_iterate_w * scaled)
            + dictionary @ (grad_input_w * scaled)
        )
        grads_rotations += np.swapaxes(grad_rotated_t, -1, -2)
        grad_inverse = (
            -np.sum(gram_rotated * grad_iterate_w, axis=1)
            + np.sum(dict_rotated * grad_input_w, axis=1)
            + alpha * grads_thresholds
        )
        grads_log_scales = -inverse_scales * grad_inverse
        return [grads_rotations, grads_log_scales.astype(log_scales.dtype)]

    return Architecture(("A", "log_S"), init_params, forward, backward)


def rotated_densities_shifted(rotated_densities):
    """Densities indexed like ``_input_weight_grads`` expects (entry k + 1)."""
    return np.concatenate([[1.0], rotated_densities])
