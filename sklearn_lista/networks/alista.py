"""ALISTA (Liu, Chen, Wang & Yin, ICLR 2019): analytic weights, learned steps.

Layer ``k`` is ``z_{k+1} = st(z_k + gamma_k (x - z_k D) W, theta_k)`` with the
weight ``W`` (``(n_features, n_components)``) computed once from the
dictionary (:func:`sklearn_lista.analytic.analytic_weights`: the least
mutually coherent ``W`` with ``diag(D W) = 1``), a fixed array of the
network; only the step ``gamma_k`` and the threshold ``theta_k`` (two
scalars per layer) are trained. In the paper's column form ``y = A x`` this
is ``x_{k+1} = st(x_k - gamma_k W^T (A x_k - y), theta_k)`` with ``A = D^T``.
With support selection (the paper's default, ALISTA's schedule) the largest
entries of each row bypass the threshold.

As a LISTA layer: ``W_x = gamma_k W``, ``W_z = I - gamma_k D W``, ``theta``
broadcast over the atoms; LISTA's passes are reused and their gradients
mapped to the scalars.
"""

import numpy as np

from ..analytic import analytic_weights
from ..optim import NonNegative, Positive
from ._base import ParameterSpec
from .proximal import (
    SUPPORT_SELECTION_SCHEDULE,
    ProximalNetwork,
    lista_backward,
    lista_forward,
)


class ALISTA(ProximalNetwork):
    """ALISTA: ALISTA's analytic weight, a learned step and threshold per layer.

    Parameters
    ----------
    problem : LassoProblem
    support_selection : tuple (step, max) or None, default=(0.012, 0.13)
        As :class:`~sklearn_lista.networks.ProximalNetwork`; on by default,
        as in the paper.

    Notes
    -----
    There is no untrained identity with ISTA: the network starts at the step
    ``gamma = 1 / ||D W||_2`` (a convergent step of the iteration with the
    analytic weight) and ISTA's threshold ``alpha / L``.
    """

    name = "alista"
    reference = None
    parameters = {
        "steps": ParameterSpec(Positive()),
        "thresholds": ParameterSpec(NonNegative()),
    }

    def __init__(self, problem, support_selection=SUPPORT_SELECTION_SCHEDULE):
        super().__init__(problem, support_selection)
        dictionary = problem.dictionary
        self.analytic_weight = np.ascontiguousarray(
            analytic_weights(dictionary).astype(dictionary.dtype)
        )
        coupling = dictionary @ self.analytic_weight
        self.coupling = coupling  # D W, (K, K)
        self.initial_step = 1.0 / float(np.linalg.norm(coupling.astype(float), 2))

    def init_params(self, n_layers):
        dtype = self.problem.dictionary.dtype
        return {
            "steps": np.full(n_layers, self.initial_step, dtype=dtype),
            "thresholds": np.full(
                n_layers, self.problem.alpha / self.problem.lipschitz, dtype=dtype
            ),
        }

    def _weights(self, params, dtype):
        steps = params["steps"].astype(dtype, copy=False)
        weight = self.analytic_weight.astype(dtype, copy=False)
        coupling = self.coupling.astype(dtype, copy=False)
        identity = np.eye(coupling.shape[0], dtype=dtype)
        thresholds = params["thresholds"].astype(dtype, copy=False)
        return (
            steps[:, None, None] * weight,
            identity - steps[1:, None, None] * coupling,
            np.repeat(thresholds[:, None], coupling.shape[0], axis=1),
        )

    def forward(self, X, params, keep_cache=True):
        weights = self._weights(params, X.dtype)
        weights_x, weights_z, thresholds = weights
        codes, cache = lista_forward(
            X,
            weights_x,
            weights_z,
            thresholds,
            self.problem.positive,
            keep_cache,
            n_bypass=self.n_bypass(weights_x.shape[0]),
        )
        # The backward pass needs the same weights: kept, not rebuilt.
        return codes, ((cache, weights) if keep_cache else None)

    def backward(self, params, cache, grad_codes):
        return self._backward(params, cache, grad_codes, False)[0]

    def backward_dictionary(self, params, cache, grad_codes):
        return self._backward(params, cache, grad_codes, True)

    def _backward(self, params, cache, grad_codes, with_dictionary):
        cache, (weights_x, weights_z, thresholds) = cache
        dtype = cache[0].dtype
        grads_x, grads_z, grads_thresholds, _ = lista_backward(
            weights_x, weights_z, thresholds, cache, grad_codes
        )
        weight = self.analytic_weight.astype(dtype, copy=False)
        grads_steps = np.einsum("kpc,pc->k", grads_x, weight)
        grads_steps[1:] -= np.einsum(
            "kij,ij->k", grads_z, self.coupling.astype(dtype, copy=False)
        )
        grads = {
            "steps": grads_steps.astype(params["steps"].dtype, copy=False),
            "thresholds": grads_thresholds.sum(axis=1).astype(
                params["thresholds"].dtype, copy=False
            ),
        }
        if not with_dictionary:
            return grads, None
        # W_x = gamma W and W_z = I - gamma D W, with W = W(D) analytic.
        steps = params["steps"].astype(dtype, copy=False)
        dictionary = self.problem_in(dtype).dictionary
        grad_coupling = -np.tensordot(steps[1:], grads_z, axes=1)
        grad_weight = np.tensordot(steps, grads_x, axes=1)
        grad_weight += dictionary.T @ grad_coupling
        grad_dictionary = grad_coupling @ weight.T
        grad_dictionary += analytic_weights_vjp(dictionary, grad_weight)
        return grads, grad_dictionary.astype(dtype, copy=False)


def analytic_weights_vjp(dictionary, grad_weight):
    """Gradient in the dictionary of ``<grad_weight, W(D)>``, with ``W(D)``
    :func:`~sklearn_lista.analytic.analytic_weights`.

    For a full-rank dictionary, ``W = D^+ diag(l)^{-1}`` with the leverages
    ``l_i = (D D^+)_ii``. With at least as many atoms as features,
    ``D^+ = H D^T`` where ``H = (D^T D)^{-1}``; with fewer, ``D^+ = D^T M``
    where ``M = (D D^T)^{-1}`` and every leverage is 1. The chain rule goes
    through these products (computed in float64).
    """
    D = dictionary.astype(np.float64)
    grad_weight = grad_weight.astype(np.float64)
    n_components, n_features = D.shape
    if n_components < n_features:
        M = np.linalg.inv(D @ D.T)
        grad_M = D @ grad_weight
        grad_gram = -M @ grad_M @ M
        return M @ grad_weight.T + (grad_gram + grad_gram.T) @ D
    H = np.linalg.inv(D.T @ D)
    pinv = H @ D.T  # (P, K)
    leverage = np.einsum("ip,pi->i", D, pinv)
    # W[:, i] = pinv[:, i] / l_i
    grad_pinv = grad_weight / leverage
    grad_leverage = -np.einsum("pi,pi->i", grad_weight, pinv) / leverage**2
    # l_i = d_i . pinv[:, i]
    grad_D = grad_leverage[:, None] * pinv.T
    grad_pinv += D.T * grad_leverage
    # pinv = H D^T with H = (D^T D)^{-1}
    grad_D += grad_pinv.T @ H
    grad_H = grad_pinv @ D
    grad_G = -H @ grad_H @ H
    grad_D += D @ (grad_G + grad_G.T)
    return grad_D
