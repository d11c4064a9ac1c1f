"""FacNet (Moreau & Bruna, 2017): layers that factorise ``B ≈ A^T S A``."""

import numpy as np

from .._kernels import thresholded_layer, thresholded_layer_backward
from .._kernels.facnet import rotated_threshold_backward
from .._solvers import iterate_matmul, iterate_transpose_matmul
from ..optim import OrthogonalGroup, Positive
from ..optim.manifolds import workspace
from ._base import ParameterSpec, UnrolledNetwork
from .proximal import input_offsets

# Smallest eigenvalue kept for R = A^T S A - B by `psd_constraint`, relative
# to L: a margin that survives rounding to the parameters' dtype.
PSD_MARGIN = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}

# Below this density of y the backward computes dL/dz A^T only on y's support
# (a numba pass over nnz(y) * K entries); above it, one dense BLAS product
# is faster (measured at K = 100 and 256, batch 256).
ROTATED_BACKWARD_DENSITY = 0.25


def rotated_products(rotations, dictionary, gram, empty=np.empty):
    """``A D`` and ``A B`` per layer, shapes ``(q, K, P)`` and ``(q, K, K)``:
    the products the layer operators and the chain rule of the backward pass
    share (transposed, ``D^T A^T`` and ``B A^T``).

    Each is one BLAS product over the stacked layers, on contiguous operands
    (OpenBLAS rounds a product with a transposed operand differently with 1
    and 2 threads, a contiguous one it does not). With fewer features than
    atoms, ``A B = (A D) D^T`` costs ``2 P K^2`` per layer instead of
    ``K^3``. `empty` allocates the results (``Workspace.empty``).
    """
    n_layers, n_components, _ = rotations.shape
    n_features = dictionary.shape[1]
    dtype = np.result_type(rotations, dictionary)
    stacked = np.ascontiguousarray(rotations).reshape(-1, n_components)
    rotated_dictionary = np.matmul(
        stacked, dictionary, out=empty(stacked.shape[:1] + (n_features,), dtype)
    )
    rotated_gram = empty(stacked.shape, dtype)
    if n_features < n_components:
        np.matmul(
            rotated_dictionary, np.ascontiguousarray(dictionary.T), out=rotated_gram
        )
    else:
        np.matmul(stacked, gram, out=rotated_gram)
    return (
        rotated_dictionary.reshape(n_layers, n_components, n_features),
        rotated_gram.reshape(n_layers, n_components, n_components),
    )


def _transposed_operators(rotations, scales, alpha, products, empty=np.empty):
    """``M^T = A - (A B) / S``, ``N^T = (A D) / S`` (rows scaled) and ``t``."""
    inverse_scales = (1.0 / scales)[:, :, None]
    rotated_dictionary, rotated_gram = products
    dtype = np.result_type(rotations, rotated_gram, inverse_scales)
    iterate_t = np.multiply(
        rotated_gram, inverse_scales, out=empty(rotated_gram.shape, dtype)
    )
    np.subtract(rotations, iterate_t, out=iterate_t)
    input_t = np.multiply(
        rotated_dictionary,
        inverse_scales,
        out=empty(rotated_dictionary.shape, np.result_type(dtype, rotated_dictionary)),
    )
    return iterate_t, input_t, alpha / scales


def facnet_layer_operators(rotations, scales, dictionary, gram, alpha, products=None):
    """Per-layer ``M = A^T - B A^T / S``, ``N = D^T A^T / S``, ``t = alpha / S``.

    In row form a FacNet layer is ``z' = st(z M + x N, t) A``: the column form
    ``A^T st_{alpha/S}(A z - S^{-1} A (B z - D x))`` with the products
    regrouped. :meth:`FacNet.forward` goes further, with ``A_k M_{k+1}`` as
    one operator acting on the sparse ``st(...)`` of layer ``k``.
    `products` are :func:`rotated_products` if already computed.
    """
    if products is None:
        products = rotated_products(rotations, dictionary, gram)
    iterate_t, input_t, thresholds = _transposed_operators(
        rotations, scales, alpha, products
    )
    iterate_weights = np.ascontiguousarray(np.swapaxes(iterate_t, -1, -2))
    input_weights = np.ascontiguousarray(np.swapaxes(input_t, -1, -2))
    return iterate_weights, input_weights, thresholds


def raise_to_psd(rotations, scales, gram, margin):
    """Raise each ``S_q`` uniformly, just enough for ``A_q^T S_q A_q - B`` to
    have its smallest eigenvalue at least `margin` (returns new scales)."""
    rotated_gram = rotations @ gram @ np.swapaxes(rotations, -1, -2)
    gap = np.linalg.eigvalsh(
        scales[:, :, None] * np.eye(scales.shape[1]) - rotated_gram
    )[:, 0]
    return scales + np.maximum(margin - gap, 0.0)[:, None]


class FacNet(UnrolledNetwork):
    """Per layer an orthogonal ``A_q`` and a positive diagonal ``S_q``.

    Layer ``q`` computes ``z_{q+1} = st(z_q M_q + x N_q, alpha / S_q) A_q``
    (``facnet_layer_operators``). ``A = I, S = L`` is an ISTA step.

    Parameters
    ----------
    problem : LassoProblem
        Codes must not be constrained positive (a rotation changes signs).
    init : {"identity", "eigen"}, default="identity"
        ``"identity"``: ``A = I``, ``S = L`` (ISTA). ``"eigen"``: ``A`` from
        the eigenbasis of ``B`` and ``S`` its eigenvalues clipped from below
        at ``0.05 L``.
    retraction : {"cayley", "qr", "polar"}, default="cayley"
        Retraction of the orthogonal group.
    psd_constraint : bool, default=False
        Keep ``R_q = A_q^T S_q A_q - B`` positive semi-definite after every
        step (:meth:`project`).
    """

    name = "facnet"

    def __init__(
        self, problem, init="identity", retraction="cayley", psd_constraint=False
    ):
        if problem.positive:
            raise ValueError(
                "positive_code=True is not supported by FacNetCoder: the rotation "
                "A does not preserve the sign of the codes."
            )
        super().__init__(problem)
        self.init = init
        self.retraction = retraction
        self.psd_constraint = psd_constraint
        self.parameters = {
            "A": ParameterSpec(OrthogonalGroup(retraction)),
            "S": ParameterSpec(Positive()),
        }
        self.reference = "ista" if init == "identity" else None

    def init_params(self, n_layers):
        dictionary = self.problem.dictionary
        n_components, dtype = dictionary.shape[0], dictionary.dtype
        if self.init == "eigen":
            gram = self.problem.astype(np.float64).gram
            eigenvalues, eigenvectors = np.linalg.eigh(gram)
            scales = np.maximum(eigenvalues, 0.05 * self.problem.lipschitz)
            rotations = np.repeat(eigenvectors.T[None], n_layers, axis=0)
            scales = np.repeat(scales[None], n_layers, axis=0)
        else:
            rotations = np.repeat(np.eye(n_components)[None], n_layers, axis=0)
            scales = np.full((n_layers, n_components), self.problem.lipschitz)
        params = {"A": rotations.astype(dtype), "S": scales.astype(dtype)}
        self.project(params)
        return params

    def project(self, params):
        if not self.psd_constraint:
            return
        rotations, scales = params["A"], params["S"]
        margin = PSD_MARGIN.get(scales.dtype, 1e-6) * self.problem.lipschitz
        gram = self.problem_in(np.float64).gram
        scales[...] = raise_to_psd(
            rotations.astype(np.float64), scales.astype(np.float64), gram, margin
        )

    def forward(self, X, params, keep_cache=True):
        rotations, scales = params["A"], params["S"]
        problem = self.problem_in(X.dtype)
        n_layers, n_components = scales.shape
        n_samples = X.shape[0]
        dtype = X.dtype
        # Training steps reuse their arrays; inference allocates (its batches
        # can be large) and releases the training steps' arrays, so that a
        # fitted network (monitored or used at the end of its fit) holds none.
        if keep_cache:
            empty = self.workspace().empty
        else:
            empty = np.empty
            self.release_workspace()
        products = rotated_products(rotations, problem.dictionary, problem.gram, empty)
        iterate_t, input_t, thresholds = _transposed_operators(
            rotations, scales, problem.alpha, products, empty
        )
        iterate_t = iterate_t.astype(dtype, copy=False)
        rotations = rotations.astype(dtype, copy=False)
        thresholds = thresholds.astype(dtype, copy=False)
        # z_{k+1} M_{k+1} = y_k (A_k M_{k+1}): one (K, K) x (K, K) product per
        # layer for all layers at once, instead of a dense (n, K) x (K, K)
        # product with z_{k+1} (y_k is sparse, z_{k+1} = y_k A_k is not).
        # (M contiguous: a transposed operand would round differently with 1
        # and 2 BLAS threads.)
        iterate_w = empty(iterate_t.shape, dtype)
        np.copyto(iterate_w, np.swapaxes(iterate_t, -1, -2))
        fused = empty((n_layers - 1, n_components, n_components), dtype)
        np.matmul(rotations[:-1], iterate_w[1:], out=fused)
        input_w = np.swapaxes(input_t.astype(dtype, copy=False), -1, -2)
        offsets = input_offsets(X, input_w, empty)
        rotated = empty(
            ((n_layers if keep_cache else 2), n_samples, n_components), dtype
        )
        product = empty((n_samples, n_components), dtype)
        densities = np.zeros(n_layers)
        for k in range(n_layers):
            shrunk = rotated[k if keep_cache else k % 2]
            if k:
                previous = rotated[k - 1 if keep_cache else (k - 1) % 2]
                iterate_matmul(previous, fused[k - 1], product, densities[k - 1])
            nnz = thresholded_layer(
                product, k > 0, offsets, k, thresholds[k], shrunk, False, 0
            )
            densities[k] = nnz / shrunk.size
        output = iterate_matmul(
            shrunk, rotations[-1], empty(product.shape, dtype), densities[-1]
        )
        if not keep_cache:
            return output, None
        cache = (X, rotated, densities, fused, iterate_t, products)
        return output, cache

    @staticmethod
    def iterates(params, cache):
        """The codes ``z_0 = 0, z_1, ..., z_q`` of a cached forward pass, shape
        ``(q + 1, n, K)`` (the forward pass itself only forms ``z_q``)."""
        rotated = cache[1]
        rotations = params["A"].astype(rotated.dtype, copy=False)
        codes = np.zeros((len(rotated) + 1,) + rotated.shape[1:], rotated.dtype)
        np.matmul(rotated, rotations, out=codes[1:])
        return codes

    def workspace(self):
        """The workspace (``sklearn_lista.optim.manifolds.Workspace``, arrays
        reused from one step to the next) of this network's training steps."""
        return workspace(self)

    def release_workspace(self):
        """Drop the arrays kept for training steps (this network's and its
        manifolds')."""
        for owner in (self, *(spec.manifold for spec in self.parameters.values())):
            owner.__dict__.pop("_workspace", None)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_workspace", None)
        return state

    def backward(self, params, cache, grad_codes):
        return self._backward(params, cache, grad_codes, False)[0]

    def backward_dictionary(self, params, cache, grad_codes):
        return self._backward(params, cache, grad_codes, True)

    def _backward(self, params, cache, grad_codes, with_dictionary):
        rotations, scales = params["A"], params["S"]
        X, rotated, densities, fused, iterate_t, products = cache
        problem = self.problem_in(X.dtype)
        dictionary, alpha = problem.dictionary, problem.alpha
        n_layers, n_components = scales.shape
        n_samples, n_features = X.shape
        dtype = X.dtype
        workspace = self.workspace()
        grads_rotations = workspace.empty(rotations.shape, rotations.dtype)
        grad_fused = workspace.empty(fused.shape, dtype)
        grad_input_t = workspace.empty((n_layers, n_components, n_features), dtype)
        grads_thresholds = np.empty((n_layers, n_components), dtype=dtype)
        grad = np.ascontiguousarray(grad_codes, dtype=dtype)
        # dL/du_k alternates between two buffers.
        buffers = tuple(workspace.empty(grad.shape, dtype) for _ in range(2))
        # z_q = y_{q-1} A_{q-1}, and u_{k+1} = y_k C_k + x N_{k+1}.
        iterate_transpose_matmul(rotated[-1], grad, grads_rotations[-1], densities[-1])
        operator = rotations[-1].astype(dtype, copy=False)
        for k in range(n_layers - 1, -1, -1):
            shrunk, density = rotated[k], densities[k]
            grad_pre = buffers[k % 2]
            # dL/du_k = (dL/d(out) Op^T) on the support of y_k: only the
            # entries there are computed while y_k is sparse enough.
            if density < ROTATED_BACKWARD_DENSITY:
                rotated_threshold_backward(
                    grad, operator, shrunk, grad_pre, grads_thresholds[k]
                )
            else:
                thresholded_layer_backward(
                    np.matmul(grad, operator.T, out=workspace.empty(grad.shape, dtype)),
                    shrunk,
                    grad_pre,
                    grads_thresholds[k],
                )
            # dU_k is as sparse as y_k: the products walk its non-zeros.
            iterate_transpose_matmul(grad_pre, X, grad_input_t[k], density)
            if k:
                previous = rotated[k - 1]
                iterate_transpose_matmul(
                    previous, grad_pre, grad_fused[k - 1], densities[k - 1]
                )
                grad, operator = grad_pre, fused[k - 1]
        # C_k = A_k M_{k+1}: dL/dA_k = dC_k M_{k+1}^T and dL/dM_{k+1}^T =
        # dC_k^T A_k, for all layers at once (M_0 acts on z_0 = 0).
        np.matmul(grad_fused, iterate_t[1:], out=grads_rotations[:-1])
        grad_iterate_t = workspace.empty((n_layers, n_components, n_components), dtype)
        grad_iterate_t[0] = 0.0
        # (A transposed operand, as in the other products of the backward
        # pass: training runs with one BLAS thread.)
        np.matmul(
            np.swapaxes(grad_fused, -1, -2),
            rotations[:-1].astype(dtype, copy=False),
            out=grad_iterate_t[1:],
        )
        # Chain rule from (M^T, N^T, t) to (A, S), all layers at once:
        # dL/dA = dM^T + ((dN^T - dM^T D) D^T) / S (rows), B = D D^T.
        inverse_scales = 1.0 / scales
        rotated_dictionary, rotated_gram = products
        if n_features < n_components:
            stacked = grad_iterate_t.reshape(-1, n_components)
            difference = np.matmul(
                stacked,
                dictionary,
                out=workspace.empty((stacked.shape[0], n_features), dtype),
            )
            np.subtract(
                grad_input_t.reshape(-1, n_features), difference, out=difference
            )
            through_dictionary = np.matmul(
                difference,
                np.ascontiguousarray(dictionary.T),
                out=workspace.empty(stacked.shape, dtype),
            )
        else:
            through_dictionary = grad_input_t @ dictionary.T - (
                grad_iterate_t @ problem.gram
            )
        grads_rotations += grad_iterate_t
        through_dictionary = through_dictionary.reshape(grad_iterate_t.shape)
        through_dictionary *= inverse_scales[:, :, None]
        grads_rotations += through_dictionary
        grad_inverse = (
            -np.einsum("qjk,qjk->qj", rotated_gram, grad_iterate_t)
            + np.einsum("qjp,qjp->qj", rotated_dictionary, grad_input_t)
            + alpha * grads_thresholds
        )
        # d(1/S)/dS = -1/S^2
        grads_scales = -grad_inverse * inverse_scales**2
        grads = {"A": grads_rotations, "S": grads_scales.astype(scales.dtype)}
        if not with_dictionary:
            return grads, None
        # M = A^T - B T and N = D^T T with T = A^T / S (columns scaled), i.e.
        # T^T = A / S (rows): dL/dB = -sum_q dM T^T, dL/dD^T = sum_q T dN.
        scaled = rotations * inverse_scales[:, :, None]
        grad_gram = -np.tensordot(grad_iterate_t, scaled, axes=([0, 1], [0, 1]))
        grad_dictionary = np.tensordot(scaled, grad_input_t, axes=([0, 1], [0, 1]))
        grad_dictionary += (grad_gram + grad_gram.T) @ dictionary
        return grads, grad_dictionary.astype(dtype, copy=False)
