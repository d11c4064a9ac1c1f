"""Learned step sizes: ISTA and FISTA with the dictionary fixed (step-LISTA).

Ablin, Moreau, Massias & Gramfort (NeurIPS 2019): layer ``k`` is an ISTA step
with its own step size ``s_k``, ``z_{k+1} = st(z_k - s_k (z_k B - x D^T),
alpha s_k)``, so only ``n_layers`` numbers are trained and every layer stays a
proximal step of the Lasso; learned steps grow beyond ``1 / L`` as the
support shrinks (the Lipschitz constant of the problem restricted to the
support is smaller). Step-FISTA also learns FISTA's momentum per layer.

Both are LISTA/LFISTA layers whose weights are functions of the scalars:
``W_x = s_k D^T``, ``W_z = (1 + m_k)(I - s_k B)``, ``W_m = -m_k (I - s_k B)``,
``theta = alpha s_k``; they reuse LISTA's fused passes and map its gradients
to the scalars by the chain rule.
"""

import numpy as np
from sklearn.utils.extmath import row_norms, safe_sparse_dot

from .._solvers import fista_momentums
from ..optim import Euclidean, Positive
from ._base import ParameterSpec
from .proximal import ProximalNetwork, lista_backward, lista_forward


class StepISTA(ProximalNetwork):
    """ISTA with a learned step size per layer (step-LISTA, SLISTA).

    Initialised at ``s_k = 1 / L``: an untrained network computes
    `n_layers` ISTA iterations.
    """

    name = "step_ista"
    parameters = {"steps": ParameterSpec(Positive())}

    def init_params(self, n_layers):
        dtype = self.problem.dictionary.dtype
        return {"steps": np.full(n_layers, 1.0 / self.problem.lipschitz, dtype=dtype)}

    def _momentums(self, params, dtype):
        """``m_k`` of layers ``1..n-1`` (zeros without momentum)."""
        return np.zeros(max(params["steps"].shape[0] - 1, 0), dtype=dtype)

    def _weights(self, params, dtype):
        problem = self.problem_in(dtype)
        steps = params["steps"].astype(dtype, copy=False)
        momentums = self._momentums(params, dtype)
        identity = np.eye(problem.n_components, dtype=dtype)
        step_matrices = identity - steps[1:, None, None] * problem.gram
        return {
            "weights_x": steps[:, None, None] * problem.dictionary.T,
            "weights_z": (1 + momentums)[:, None, None] * step_matrices,
            "weights_m": -momentums[:, None, None] * step_matrices,
            "thresholds": np.repeat(
                (problem.alpha * steps)[:, None], problem.n_components, axis=1
            ),
            "step_matrices": step_matrices,
        }

    def _accelerated(self):
        return False

    def forward(self, X, params, keep_cache=True):
        weights = self._weights(params, X.dtype)
        codes, cache = lista_forward(
            X,
            weights["weights_x"],
            weights["weights_z"],
            weights["thresholds"],
            self.problem.positive,
            keep_cache,
            weights_m=weights["weights_m"] if self._accelerated() else None,
            n_bypass=self.n_bypass(params["steps"].shape[0]),
        )
        # The backward pass needs the same weights: kept, not rebuilt.
        return codes, ((cache, weights) if keep_cache else None)

    def safeguarded_forward(self, X, params):
        """The codes of the layers with a monotone safeguard, per signal.

        A layer whose output would cost more than its input takes, for that
        signal, an ISTA step of size ``1 / L`` from its input instead (and the
        momentum restarts there), which never raises the cost: the Lasso cost
        of every signal is non-increasing through the layers, so no signal
        can diverge, whatever the learned steps. The cost of a layer's output
        comes from the product ``z B`` the next layer needs anyway, so the
        safeguard adds no product over the network's one per layer (a small
        one for the rows that fall back).
        """
        problem = self.problem_in(X.dtype)
        steps = params["steps"].astype(X.dtype, copy=False)
        momentums = self._momentums(params, X.dtype)
        gram, alpha, lipschitz = problem.gram, problem.alpha, problem.lipschitz
        correlations = np.asarray(safe_sparse_dot(X, problem.dictionary.T))
        half_norms = 0.5 * row_norms(X, squared=True)
        # Below this change, a rise of the cost is rounding, not divergence.
        slack = 16 * np.finfo(X.dtype).eps * (half_norms + 1)

        def cost(codes, products, rows):
            return (
                half_norms[rows]
                - np.sum(codes * (correlations[rows] - 0.5 * products), axis=1)
                + alpha * np.abs(codes).sum(axis=1)
            )

        def shrink(values, threshold):
            if problem.positive:
                return np.maximum(values - threshold, 0)
            return np.sign(values) * np.maximum(np.abs(values) - threshold, 0)

        codes = np.zeros_like(correlations)
        products = np.zeros_like(correlations)  # codes @ gram
        previous, previous_products = codes, products
        costs = half_norms.copy()
        everyone = slice(None)
        for layer, step in enumerate(steps):
            momentum = momentums[layer - 1] if layer > 0 else 0
            point = codes + momentum * (codes - previous)
            point_products = products + momentum * (products - previous_products)
            new = shrink(point - step * (point_products - correlations), alpha * step)
            new_products = new @ gram
            new_costs = cost(new, new_products, everyone)
            rises = new_costs > costs + slack
            new_previous, new_previous_products = codes, products
            if rises.any():
                safe = shrink(
                    codes[rises] - (products[rises] - correlations[rises]) / lipschitz,
                    alpha / lipschitz,
                )
                new[rises], new_products[rises] = safe, safe @ gram
                new_costs[rises] = cost(safe, new_products[rises], rises)
                # Momentum restarts: the next layer steps from the safe code.
                new_previous = codes.copy()
                new_previous_products = products.copy()
                new_previous[rises], new_previous_products[rises] = (
                    safe,
                    new_products[rises],
                )
            previous, previous_products = new_previous, new_previous_products
            codes, products, costs = new, new_products, new_costs
        return codes

    def backward(self, params, cache, grad_codes):
        """Gradients of LISTA's weights, then of the steps through them."""
        return self._backward(params, cache, grad_codes, False)[0]

    def backward_dictionary(self, params, cache, grad_codes):
        return self._backward(params, cache, grad_codes, True)

    def _backward(self, params, cache, grad_codes, with_dictionary):
        cache, weights = cache
        dtype = cache[0].dtype
        problem = self.problem_in(dtype)
        grads_x, grads_z, grads_thresholds, grads_m = lista_backward(
            weights["weights_x"],
            weights["weights_z"],
            weights["thresholds"],
            cache,
            grad_codes,
            weights_m=weights["weights_m"] if self._accelerated() else None,
        )
        momentums = self._momentums(params, dtype)
        # d/dP of W_z = (1 + m) P and W_m = -m P, with P = I - s B.
        grad_step_matrices = (1 + momentums)[:, None, None] * grads_z
        if grads_m is not None:
            grad_step_matrices -= momentums[:, None, None] * grads_m
        grads_steps = np.einsum("kpc,cp->k", grads_x, problem.dictionary)
        grads_steps += problem.alpha * grads_thresholds.sum(axis=1)
        grads_steps[1:] -= np.einsum("kij,ij->k", grad_step_matrices, problem.gram)
        grads = {"steps": grads_steps.astype(params["steps"].dtype, copy=False)}
        if grads_m is not None:
            step_matrices = weights["step_matrices"]
            grads["momentums"] = np.einsum(
                "kij,kij->k", grads_z - grads_m, step_matrices
            ).astype(params["momentums"].dtype, copy=False)
        if not with_dictionary:
            return grads, None
        # W_x = s D^T and P = I - s B with B = D D^T: dB = -sum_k s_k dP_k.
        steps = params["steps"].astype(dtype, copy=False)
        grad_gram = -np.tensordot(steps[1:], grad_step_matrices, axes=1)
        grad_dictionary = np.tensordot(steps, grads_x, axes=1).T
        grad_dictionary += (grad_gram + grad_gram.T) @ problem.dictionary
        return grads, grad_dictionary


class StepFISTA(StepISTA):
    """FISTA with a learned step size and a learned momentum per layer.

    Initialised at ``s_k = 1 / L`` and FISTA's momentums: an untrained
    network computes `n_layers` FISTA iterations.
    """

    name = "step_fista"
    reference = "fista"
    parameters = {
        "steps": ParameterSpec(Positive()),
        "momentums": ParameterSpec(Euclidean(), "iterate"),
    }

    def init_params(self, n_layers):
        params = super().init_params(n_layers)
        # Layer k >= 1 extrapolates with the weight computed after iteration k - 1.
        params["momentums"] = fista_momentums(max(n_layers - 1, 0)).astype(
            params["steps"].dtype
        )
        return params

    def _momentums(self, params, dtype):
        return params["momentums"].astype(dtype, copy=False)

    def _accelerated(self):
        return True
