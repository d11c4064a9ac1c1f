"""Proximal-gradient networks: LISTA, tied LISTA, LISTA-CP, learned FISTA.

Each layer is ``z_{k+1} = st(z_k W_z[k] (+ z_{k-1} W_m[k]) + x W_x[k], theta[k])``.
The input terms ``x W_x[k]`` of all layers are one BLAS product before the
loop; each layer is then one ``(n, K) x (K, K)`` product (two for LFISTA),
or a walk over the iterate's non-zeros once it is sparse, followed by one
fused numba pass. Tied and coupled LISTA reuse LISTA's passes with other
weights, and turn its gradients into theirs by the chain rule.
"""

import numpy as np

from .._kernels import (
    prox_code,
    sparse_thresholded_layer,
    thresholded_layer,
    thresholded_layer_backward,
)
from .._solvers import (
    fista_momentums,
    is_sparse,
    iterate_matmul,
    iterate_transpose_matmul,
)
from ..optim import Euclidean, NonNegative
from ._base import ParameterSpec, UnrolledNetwork


def input_offsets(X, weights_x, empty=np.empty):
    """``x W_x[k]`` for all layers at once, shape ``(n, n_layers, K)``: one
    product with the contiguous ``(P, n_layers K)`` matrix of the ``W_x[k]``
    (X times a transposed operand would round differently with 1 and 2 BLAS
    threads). `empty` allocates that matrix and the result (a training
    step's workspace)."""
    n_layers, n_features, n_components = weights_x.shape
    dtype = np.result_type(X, weights_x)
    stacked = empty((n_features, n_layers, n_components), dtype)
    np.copyto(stacked, weights_x.transpose(1, 0, 2))
    offsets = empty((X.shape[0], n_layers, n_components), dtype)
    np.matmul(X, stacked.reshape(n_features, -1), out=offsets.reshape(X.shape[0], -1))
    return offsets


def input_weight_grads(X, grad_pre, densities):
    """``X^T dU_k`` for every layer (``dU_k`` is as sparse as ``z_{k+1}``,
    whose density is ``densities[k + 1]``)."""
    n_layers, _, n_components = grad_pre.shape
    transposed = np.empty((n_layers, n_components, X.shape[1]), dtype=X.dtype)
    for k in range(n_layers):
        iterate_transpose_matmul(grad_pre[k], X, transposed[k], densities[k + 1])
    return np.ascontiguousarray(transposed.transpose(0, 2, 1))


def transposed(matrix):
    return np.ascontiguousarray(matrix.T)


def codes_buffer(n_layers, n_samples, n_components, dtype, keep_cache):
    """All iterates (for backprop) or a ring of three (inference)."""
    size = n_layers + 1 if keep_cache else min(n_layers + 1, 3)
    buffer = np.empty((size, n_samples, n_components), dtype=dtype)
    buffer[0] = 0.0
    return buffer


def _thresholds(problem, n_layers):
    return np.full(
        (n_layers, problem.n_components),
        problem.alpha / problem.lipschitz,
        dtype=problem.dictionary.dtype,
    )


def lista_forward(
    X,
    weights_x,
    weights_z,
    thresholds,
    positive,
    keep_cache,
    weights_m=None,
    n_bypass=None,
):
    """``z_{k+1} = st(z_k W_z[k - 1] (+ z_{k-1} W_m[k - 1]) + x W_x[k], theta[k])``
    from ``z_0 = 0``; the momentum term only with `weights_m` (LFISTA).

    With `n_bypass` (ints, one per layer) the operator is support selection:
    in each row the ``n_bypass[k]`` largest entries beyond the threshold keep
    their value (:data:`~sklearn_lista._kernels.PROXIMAL_OPERATORS`).
    """
    prox = positive if n_bypass is None else prox_code(positive, True)
    n_layers, _, n_components = weights_x.shape
    offsets = input_offsets(X, weights_x)
    codes = codes_buffer(n_layers, X.shape[0], n_components, X.dtype, keep_cache)
    product = np.empty(codes.shape[1:], dtype=X.dtype)
    momentum_product = np.empty_like(product) if weights_m is not None else None
    size = codes.shape[0]
    densities = np.zeros(n_layers + 1)  # fraction of non-zeros of each z_k
    for k in range(n_layers):
        current, following = codes[k % size], codes[(k + 1) % size]
        previous = codes[(k - 1) % size]
        # z_0 = 0: layer 0 has no iterate term, layer 1 no momentum term.
        momentum = weights_m is not None and k >= 2
        density = max(densities[k], densities[k - 1]) if momentum else densities[k]
        if k and is_sparse(density, X.dtype):
            nnz = sparse_thresholded_layer(
                current,
                weights_z[k - 1],
                previous if momentum else current,
                weights_m[k - 1] if momentum else weights_z[k - 1],
                momentum,
                offsets,
                k,
                thresholds[k],
                following,
                prox,
                _bypass(n_bypass, k),
            )
        else:
            if k:
                np.dot(current, weights_z[k - 1], out=product)
            if momentum:
                iterate_matmul(
                    previous, weights_m[k - 1], momentum_product, densities[k - 1]
                )
                product += momentum_product
            nnz = thresholded_layer(
                product,
                k > 0,
                offsets,
                k,
                thresholds[k],
                following,
                prox,
                _bypass(n_bypass, k),
            )
        densities[k + 1] = nnz / following.size
    output = codes[n_layers % size]
    return output, ((X, codes, densities, prox, n_bypass) if keep_cache else None)


def _bypass(n_bypass, layer):
    return 0 if n_bypass is None else int(n_bypass[layer])


def lista_backward(weights_x, weights_z, thresholds, cache, grad_codes, weights_m=None):
    """Gradients ``(W_x, W_z, theta, W_m)`` of :func:`lista_forward` (``W_m``'s
    is None without momentum)."""
    X, codes, densities, prox, n_bypass = cache
    n_layers = weights_x.shape[0]
    grad_pre = np.empty((n_layers, X.shape[0], weights_x.shape[2]), dtype=X.dtype)
    # Shapes, not layouts: tied weights arrive as broadcast views.
    grads_z = np.empty(weights_z.shape, dtype=weights_z.dtype)
    grads_m = None if weights_m is None else np.empty_like(weights_m)
    grads_thresholds = np.empty_like(thresholds)
    # grad: dL/dz_{k+1}, complete; carried: what layer k+1 sent to z_k via W_m.
    grad = np.ascontiguousarray(grad_codes, dtype=X.dtype)
    carried = None
    for k in range(n_layers - 1, -1, -1):
        thresholded_layer_backward(
            grad,
            codes[k + 1],
            grad_pre[k],
            grads_thresholds[k],
            prox,
            _bypass(n_bypass, k),
        )
        if not k:
            continue
        # dU_k is zero wherever z_{k+1} is: it is as sparse as z_{k+1}.
        pre = grad_pre[k]
        iterate_transpose_matmul(codes[k], pre, grads_z[k - 1], densities[k])
        grad = iterate_matmul(
            pre, transposed(weights_z[k - 1]), np.empty_like(grad), densities[k + 1]
        )
        if carried is not None:
            grad += carried
        if weights_m is not None:
            iterate_transpose_matmul(
                codes[k - 1], pre, grads_m[k - 1], densities[k - 1]
            )
            carried = iterate_matmul(
                pre,
                transposed(weights_m[k - 1]),
                np.empty_like(grad),
                densities[k + 1],
            )
    grads_x = input_weight_grads(X, grad_pre, densities)
    return grads_x, grads_z, grads_thresholds, grads_m


# LISTA-CPSS's schedule (Chen et al., 2018): at layer k (from 1) the fraction
# min(k * step, max) of the entries bypasses the threshold.
SUPPORT_SELECTION_SCHEDULE = (0.012, 0.13)


class ProximalNetwork(UnrolledNetwork):
    """Base of the proximal-gradient networks: the optional support selection.

    Parameters
    ----------
    problem : LassoProblem
    support_selection : tuple (step, max) or None, default=None
        None: soft thresholding. A pair: LISTA-CPSS's support selection, where
        at layer ``k`` (from 1) the ``round(min(k * step, max) * n_components)``
        largest entries of each row beyond the threshold keep their value
        (``SUPPORT_SELECTION_SCHEDULE`` is the paper's ``(0.012, 0.13)``).
    """

    def __init__(self, problem, support_selection=None):
        super().__init__(problem)
        self.support_selection = support_selection

    def n_bypass(self, n_layers):
        """Entries of each row that bypass the threshold, per layer (or None)."""
        if self.support_selection is None:
            return None
        step, largest = self.support_selection
        fractions = np.minimum(np.arange(1, n_layers + 1) * step, largest)
        return np.round(fractions * self.problem.n_components).astype(np.int64)


class LISTA(ProximalNetwork):
    """LISTA (Gregor & LeCun, 2010): untied weights, per-coordinate thresholds.

    Initialised at ISTA's ``W_x = D^T/L``, ``W_z = I - B/L``, ``theta = alpha/L``.
    """

    name = "lista"
    # Every weight is trained: the dictionary enters only the loss.
    reads_dictionary = False
    parameters = {
        "weights_x": ParameterSpec(Euclidean()),
        "weights_z": ParameterSpec(Euclidean(), "iterate"),
        "thresholds": ParameterSpec(NonNegative()),
    }

    has_identity_layers = True

    def init_params(self, n_layers):
        step, input_weight = self.problem.ista_operators()
        return {
            "weights_x": np.repeat(input_weight[None], n_layers, axis=0),
            "weights_z": np.repeat(step[None], n_layers - 1, axis=0),
            "thresholds": _thresholds(self.problem, n_layers),
        }

    def identity_params(self, n_layers):
        # W_x = 0, W_z = I (W_m = 0), theta = 0: st(z_k, 0) = z_k.
        params = {
            name: np.zeros_like(value)
            for name, value in self.init_params(n_layers).items()
        }
        params["weights_z"][...] = np.eye(self.problem.n_components)
        return params

    def forward(self, X, params, keep_cache=True):
        return lista_forward(
            X,
            params["weights_x"],
            params["weights_z"],
            params["thresholds"],
            self.problem.positive,
            keep_cache,
            weights_m=params.get("weights_m"),
            n_bypass=self.n_bypass(params["thresholds"].shape[0]),
        )

    def backward(self, params, cache, grad_codes):
        grads_x, grads_z, grads_thresholds, grads_m = lista_backward(
            params["weights_x"],
            params["weights_z"],
            params["thresholds"],
            cache,
            grad_codes,
            weights_m=params.get("weights_m"),
        )
        grads = {"weights_x": grads_x, "weights_z": grads_z, "weights_m": grads_m}
        grads["thresholds"] = grads_thresholds
        return {name: grads[name] for name in self.parameters}


class TiedLISTA(LISTA):
    """LISTA with one weight pair ``(W_x, W_z)`` shared by all layers and
    per-layer thresholds (Gregor & LeCun's tied variant)."""

    name = "tied_lista"
    # Its weights are shared: a new layer cannot differ from the others.
    has_identity_layers = False
    parameters = {
        "weights_x": ParameterSpec(Euclidean(), "shared"),
        "weights_z": ParameterSpec(Euclidean(), "shared"),
        "thresholds": ParameterSpec(NonNegative()),
    }

    def init_params(self, n_layers):
        step, input_weight = self.problem.ista_operators()
        return {
            "weights_x": input_weight[None].copy(),
            "weights_z": step[None].copy(),
            "thresholds": _thresholds(self.problem, n_layers),
        }

    def _untied(self, params):
        n_layers = params["thresholds"].shape[0]
        weights_x = np.broadcast_to(
            params["weights_x"], (n_layers,) + params["weights_x"].shape[1:]
        )
        weights_z = np.broadcast_to(
            params["weights_z"], (n_layers - 1,) + params["weights_z"].shape[1:]
        )
        return {
            "weights_x": weights_x,
            "weights_z": weights_z,
            "thresholds": params["thresholds"],
        }

    def forward(self, X, params, keep_cache=True):
        return super().forward(X, self._untied(params), keep_cache)

    def backward(self, params, cache, grad_codes):
        # A shared weight gets the sum of what every layer sends it.
        grads = super().backward(self._untied(params), cache, grad_codes)
        for name in ("weights_x", "weights_z"):
            grads[name] = grads[name].sum(axis=0, keepdims=True)
        return grads


class CoupledLISTA(ProximalNetwork):
    """LISTA-CP (Chen et al., 2018): ``z_{k+1} = st(z_k + (x - z_k D) W_k, theta_k)``.

    The iterate weight is tied to the input weight, ``W_z = I - D W_k``; only
    ``W_k`` (``(n_features, n_components)``, from ``D^T/L``) and the thresholds
    are trained. In the paper's column form ``x = D z`` this is
    ``z_{k+1} = st(z_k + W_k^T (x - D z_k), theta_k)``.
    """

    name = "lista_cp"
    parameters = {
        "weights": ParameterSpec(Euclidean()),
        "thresholds": ParameterSpec(NonNegative()),
    }

    has_identity_layers = True

    def init_params(self, n_layers):
        _, input_weight = self.problem.ista_operators()
        return {
            "weights": np.repeat(input_weight[None], n_layers, axis=0),
            "thresholds": _thresholds(self.problem, n_layers),
        }

    def identity_params(self, n_layers):
        # W = 0 (so W_z = I - D W = I), theta = 0: st(z_k, 0) = z_k.
        return {
            name: np.zeros_like(value)
            for name, value in self.init_params(n_layers).items()
        }

    def _iterate_weights(self, weights):
        dictionary = self.problem_in(weights.dtype).dictionary
        identity = np.eye(dictionary.shape[0], dtype=weights.dtype)
        return identity - dictionary @ weights[1:]

    def forward(self, X, params, keep_cache=True):
        weights = params["weights"]
        codes, cache = lista_forward(
            X,
            weights,
            self._iterate_weights(weights),
            params["thresholds"],
            self.problem.positive,
            keep_cache,
            n_bypass=self.n_bypass(weights.shape[0]),
        )
        return codes, cache

    def backward(self, params, cache, grad_codes):
        return self._backward(params, cache, grad_codes, False)[0]

    def backward_dictionary(self, params, cache, grad_codes):
        return self._backward(params, cache, grad_codes, True)

    def _backward(self, params, cache, grad_codes, with_dictionary):
        weights = params["weights"]
        grads_x, grads_z, grads_thresholds, _ = lista_backward(
            weights,
            self._iterate_weights(weights),
            params["thresholds"],
            cache,
            grad_codes,
        )
        # W_z[k - 1] = I - D W_k: its gradient reaches W_k as -D^T dW_z
        # (and D as -dW_z W_k^T).
        dictionary = self.problem_in(weights.dtype).dictionary
        grads_x[1:] -= dictionary.T @ grads_z
        grads = {"weights": grads_x, "thresholds": grads_thresholds}
        if not with_dictionary:
            return grads, None
        return grads, -np.tensordot(grads_z, weights[1:], axes=([0, 2], [0, 2]))


class LFISTA(LISTA):
    """Learned FISTA: ``z_{k+1} = st(z_k W_z + z_{k-1} W_m + x W_x, theta)`` per layer.

    Initialised at FISTA's ``W_z = (1 + m_k)(I - B/L)``, ``W_m = -m_k (I - B/L)``,
    ``W_x = D^T/L``, ``theta = alpha/L`` with FISTA's momentum ``m_k``.
    """

    name = "lfista"
    reference = "fista"
    parameters = {
        "weights_x": ParameterSpec(Euclidean()),
        "weights_z": ParameterSpec(Euclidean(), "iterate"),
        "weights_m": ParameterSpec(Euclidean(), "iterate"),
        "thresholds": ParameterSpec(NonNegative()),
    }

    def init_params(self, n_layers):
        step, input_weight = self.problem.ista_operators()
        dtype = step.dtype
        # Layer k >= 1 extrapolates with the weight computed after iteration k - 1.
        momentums = fista_momentums(max(n_layers - 1, 0)).astype(dtype)
        return {
            "weights_x": np.repeat(input_weight[None], n_layers, axis=0),
            "weights_z": (1 + momentums)[:, None, None] * step[None],
            "weights_m": -momentums[:, None, None] * step[None],
            "thresholds": _thresholds(self.problem, n_layers),
        }
