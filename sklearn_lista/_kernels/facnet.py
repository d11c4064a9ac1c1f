"""FacNet's backward through a rotated layer, on the support of its iterate.

A FacNet layer outputs ``z = y A`` (the last one) or ``u' = y C + x N'``
(the others, ``C = A M'`` fused) with ``y = st(u, t)`` sparse; the gradient
reaching ``u`` is ``(dz A^T) * (y != 0)``, so only the entries of ``dz A^T``
on the support of ``y`` are needed: ``nnz(y) * K`` multiply-adds instead of a
dense ``(n, K) x (K, K)`` product.
"""

from numba import njit

from ._jit import JIT

# Each needed entry is a dot product of two contiguous rows: reassociating
# lets LLVM vectorise it (results move at rounding level only).
JIT_DOT = {**JIT, "fastmath": {"reassoc", "contract"}, "error_model": "numpy"}


@njit(**JIT_DOT)
def rotated_threshold_backward(grad_out, rotation, shrunk, grad_pre, grad_thresholds):
    """Backward of ``z = st(u, t) A`` from ``dL/dz`` to ``u`` and ``t``.

    Writes ``grad_pre = (grad_out @ rotation.T) * (shrunk != 0)``, computing
    only the entries where ``shrunk != 0``, and ``grad_thresholds[j] =
    -sum_i grad_pre[i, j] * sign(shrunk[i, j])``: what
    :func:`~sklearn_lista._kernels.thresholded_layer_backward` gives from the
    dense product (soft thresholding).
    """
    n_samples, n_components = shrunk.shape
    n_inner = rotation.shape[1]
    for j in range(n_components):
        grad_thresholds[j] = 0.0
    for i in range(n_samples):
        for j in range(n_components):
            z = shrunk[i, j]
            if z != 0:
                acc = grad_out[i, 0] * rotation[j, 0]
                for col in range(1, n_inner):
                    acc += grad_out[i, col] * rotation[j, col]
                grad_pre[i, j] = acc
                if z > 0:
                    grad_thresholds[j] -= acc
                else:
                    grad_thresholds[j] += acc
            else:
                grad_pre[i, j] = 0.0
