"""Learned step sizes: ISTA and FISTA with the dictionary fixed (step-LISTA).

Ablin, Moreau, Massias & Gramfort (NeurIPS 2019): layer ``k`` is an ISTA step
with its own step size ``s_k``, ``z_{k+1} = st(z_k - s_k (z_k B - x D^T),
alpha s_k)``, so only ``n_layers`` numbers are trained and every layer stays a
proximal step of the Lasso; learned steps grow beyond ``1 / L`` as the
support shrinks (the Lipschitz constant of the problem restricted to the
support is smaller). Step-FISTA also learns FISTA's momentum per layer.

Both are LISTA/LFISTA layers whose weights are functions of the scalars:
``W_x = s_k D^T``, ``W_z = (1 + m_k)(I - s_k B)``, ``W_m = -m_k (I - s_k B)``,
``theta = alpha s_k``. Their own passes keep ``z_k B`` per layer, so that a
layer (and its backward) costs one product with ``B`` where LISTA's passes
with those weights take two or three, and an input product per layer; with
support selection they use LISTA's passes and map its gradients to the
scalars by the chain rule.
"""

import numpy as np
from sklearn.utils.extmath import row_norms, safe_sparse_dot

from .._kernels.layers import (
    learned_step_layer,
    learned_step_layer_backward,
    learned_step_point_backward,
    rows_lasso_cost,
)
from .._solvers import fista_momentums, iterate_matmul, iterate_transpose_matmul
from ..optim import Euclidean, Positive
from ._base import ParameterSpec
from .proximal import ProximalNetwork, codes_buffer, lista_backward, lista_forward


def _shrink(values, threshold, positive):
    if positive:
        return np.maximum(values - threshold, 0)
    return np.sign(values) * np.maximum(np.abs(values) - threshold, 0)


def _active(values, threshold, positive):
    """Where the soft-thresholding of `values` is not zero (its derivative 1)."""
    return values > threshold if positive else np.abs(values) > threshold


def _step_layer(problem, iterates, correlations, step, momentum, out):
    """One learned step into `out` from ``(z_k, z_{k-1}, z_k B, z_{k-1} B)``
    (:func:`~sklearn_lista._kernels.layers.learned_step_layer`, threshold
    ``alpha * step``); returns the density of `out`."""
    nnz = learned_step_layer(
        *iterates,
        correlations,
        step,
        momentum,
        problem.alpha * step,
        problem.positive,
        out,
    )
    return nnz / out.size


class StepISTA(ProximalNetwork):
    """ISTA with a learned step size per layer (step-LISTA, SLISTA).

    Initialised at ``s_k = 1 / L``: an untrained network computes
    `n_layers` ISTA iterations.
    """

    name = "step_ista"
    parameters = {"steps": ParameterSpec(Positive())}

    def __init__(self, problem, support_selection=None, safeguard=False):
        if safeguard and support_selection is not None:
            raise ValueError(
                "safeguard=True falls back to plain ISTA steps, which support "
                "selection does not take: set support_selection=False."
            )
        super().__init__(problem, support_selection)
        self.safeguard = safeguard

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
        if self.safeguard:
            codes, layers = self._safeguarded_forward(X, params, keep_cache)
            return codes, (("safeguarded", layers) if keep_cache else None)
        n_bypass = self.n_bypass(params["steps"].shape[0])
        if n_bypass is None or not n_bypass.any():
            codes, state = self._step_forward(X, params, keep_cache)
            return codes, (("steps", state) if keep_cache else None)
        weights = self._weights(params, X.dtype)
        codes, cache = lista_forward(
            X,
            weights["weights_x"],
            weights["weights_z"],
            weights["thresholds"],
            self.problem.positive,
            keep_cache,
            weights_m=weights["weights_m"] if self._accelerated() else None,
            n_bypass=n_bypass,
        )
        # The backward pass needs the same weights: kept, not rebuilt.
        return codes, (("weights", (cache, weights)) if keep_cache else None)

    def _step_forward(self, X, params, keep_cache):
        """The layers from the scalars: one product ``z_{k+1} B`` per layer
        (walking the non-zeros once the iterate is sparse) and one fused pass,
        where LISTA's passes with the weights of the steps take two or three
        products (and an input product per layer)."""
        dtype = X.dtype
        problem = self.problem_in(dtype)
        steps = params["steps"].astype(dtype, copy=False)
        momentums = self._momentums(params, dtype)
        n_layers = steps.shape[0]
        correlations = np.ascontiguousarray(
            safe_sparse_dot(X, problem.dictionary.T), dtype=dtype
        )
        codes = codes_buffer(
            n_layers, X.shape[0], problem.n_components, dtype, keep_cache
        )
        size = codes.shape[0]
        # products[k] = z_k B; the last iterate's is not needed.
        products = np.empty(
            (n_layers if keep_cache else min(n_layers, 2), *codes.shape[1:]),
            dtype=dtype,
        )
        products[0] = 0.0
        n_products = products.shape[0]
        densities = np.zeros(n_layers + 1)
        for k in range(n_layers):
            # z_0 = 0: layer 0 has no momentum (and its "previous" is unused).
            momentum = momentums[k - 1] if k else dtype.type(0)
            current, following = codes[k % size], codes[(k + 1) % size]
            previous = codes[(k - 1) % size] if k else current
            product = products[k % n_products]
            previous_product = products[(k - 1) % n_products] if k else product
            densities[k + 1] = _step_layer(
                problem,
                (current, previous, product, previous_product),
                correlations,
                steps[k],
                momentum,
                following,
            )
            if k + 1 < n_layers:
                iterate_matmul(
                    following,
                    problem.gram,
                    products[(k + 1) % n_products],
                    densities[k + 1],
                )
        output = codes[n_layers % size]
        if not keep_cache:
            return output, None
        return output, (X, codes, products, densities, correlations)

    def _step_backward(self, params, state, grad_codes, with_dictionary):
        """Gradients of the steps (and momentums) through :meth:`_step_forward`:
        one product ``grad_pre B`` per layer, the rest fused."""
        X, codes, products, densities, correlations = state
        dtype = codes.dtype
        problem = self.problem_in(dtype)
        steps = params["steps"].astype(dtype, copy=False)
        momentums = self._momentums(params, dtype)
        n_layers = steps.shape[0]
        grad_steps = np.zeros(n_layers)
        grad_momentums = np.zeros(max(n_layers - 1, 0))
        grad = np.ascontiguousarray(grad_codes, dtype=dtype)
        grad_pre = np.empty_like(correlations)
        pre_products = np.empty_like(correlations)
        carried = np.zeros_like(correlations)
        # dL/dz_k alternates between two buffers (`grad` is the caller's).
        buffers = (np.empty_like(correlations), np.empty_like(correlations))
        if with_dictionary:
            grad_correlations = np.zeros_like(correlations)
            grad_gram = np.zeros((problem.n_components,) * 2, dtype=dtype)
            point_gram = np.empty_like(grad_gram)
        for k in range(n_layers - 1, -1, -1):
            momentum = momentums[k - 1] if k else dtype.type(0)
            previous = codes[k - 1] if k else codes[k]
            previous_product = products[k - 1] if k else products[k]
            gradient_sum, sign_sum = learned_step_layer_backward(
                grad,
                codes[k + 1],
                codes[k],
                previous,
                products[k],
                previous_product,
                correlations,
                momentum,
                grad_pre,
            )
            grad_steps[k] = -gradient_sum - problem.alpha * sign_sum
            if with_dictionary:
                # d pre / d(x D^T) = step, d pre / dB = -step y^T (per row).
                grad_correlations += steps[k] * grad_pre
                if k:
                    point = codes[k] + momentum * (codes[k] - previous)
                    density = max(densities[k], densities[k - 1])
                    iterate_transpose_matmul(point, grad_pre, point_gram, density)
                    grad_gram -= steps[k] * point_gram
            if not k:
                break
            iterate_matmul(grad_pre, problem.gram, pre_products, densities[k + 1])
            grad_in = buffers[k % 2]
            grad_momentums[k - 1] = learned_step_point_backward(
                grad_pre,
                pre_products,
                steps[k],
                momentum,
                codes[k],
                previous,
                carried,
                grad_in,
            )
            grad = grad_in
        grads = {"steps": grad_steps.astype(params["steps"].dtype)}
        if "momentums" in params:
            grads["momentums"] = grad_momentums.astype(params["momentums"].dtype)
        if not with_dictionary:
            return grads, None
        grad_dictionary = np.asarray(safe_sparse_dot(X.T, grad_correlations)).T
        grad_dictionary = (
            grad_dictionary + (grad_gram + grad_gram.T) @ problem.dictionary
        )
        return grads, grad_dictionary

    def _safeguarded_forward(self, X, params, keep_cache):
        """The layers with a monotone safeguard, per signal (`safeguard`).

        A layer whose output would cost a signal more than its input takes,
        for that signal, an ISTA step of size ``1 / L`` from its input instead
        (and the momentum restarts there), which never raises the cost: the
        Lasso cost of every signal is non-increasing through the layers, so
        no signal can diverge, whatever the steps. The cost of a layer's
        output comes from the product ``z B`` the next layer needs anyway:
        one product per layer, as the plain network (and small ones for the
        rows that fall back).
        """
        dtype = X.dtype
        problem = self.problem_in(dtype)
        steps = params["steps"].astype(dtype, copy=False)
        momentums = self._momentums(params, dtype)
        gram, alpha, lipschitz = problem.gram, problem.alpha, problem.lipschitz
        correlations = np.ascontiguousarray(
            safe_sparse_dot(X, problem.dictionary.T), dtype=dtype
        )
        half_norms = 0.5 * row_norms(X, squared=True).astype(np.float64)
        # Below this change, a rise of the cost is rounding, not divergence.
        slack = 16 * np.finfo(dtype).eps * (half_norms + 1)
        codes = np.zeros_like(correlations)
        products = np.zeros_like(correlations)  # codes @ gram
        previous, previous_products = codes, products
        costs = half_norms.copy()
        new_costs = np.empty_like(costs)
        layers = []
        for layer, step in enumerate(steps):
            momentum = momentums[layer - 1] if layer else dtype.type(0)
            new = np.empty_like(codes)
            density = _step_layer(
                problem,
                (codes, previous, products, previous_products),
                correlations,
                step,
                momentum,
                new,
            )
            new_products = iterate_matmul(new, gram, np.empty_like(new), density)
            rows_lasso_cost(
                new, new_products, correlations, half_norms, alpha, new_costs
            )
            rises = new_costs > costs + slack
            new_previous, new_previous_products = codes, products
            safe_pre = None
            if rises.any():
                safe_pre = codes[rises] - (products[rises] - correlations[rises]) / (
                    lipschitz
                )
                safe = _shrink(safe_pre, alpha / lipschitz, problem.positive)
                new[rises], new_products[rises] = safe, safe @ gram
                fallback_costs = np.empty(safe.shape[0])
                rows_lasso_cost(
                    new[rises],
                    new_products[rises],
                    correlations[rises],
                    half_norms[rises],
                    alpha,
                    fallback_costs,
                )
                new_costs[rises] = fallback_costs
                # Momentum restarts: the next layer steps from the safe code.
                new_previous = codes.copy()
                new_previous_products = products.copy()
                new_previous[rises] = safe
                new_previous_products[rises] = new_products[rises]
            if keep_cache:
                layers.append(
                    (
                        (codes, previous, products, previous_products),
                        density,
                        rises,
                        safe_pre,
                    )
                )
            previous, previous_products = new_previous, new_previous_products
            codes, products = new, new_products
            costs, new_costs = new_costs, costs
        return codes, ((layers, codes, correlations) if keep_cache else None)

    def _safeguarded_backward(self, params, state, grad_codes):
        """Gradients of the steps (and momentums) through the safeguarded
        layers: a signal's fallback step does not depend on them, and which
        signals fall back is piecewise constant."""
        layers, output, correlations = state
        dtype = correlations.dtype
        problem = self.problem_in(dtype)
        gram, alpha, lipschitz = problem.gram, problem.alpha, problem.lipschitz
        steps = params["steps"].astype(dtype, copy=False)
        momentums = self._momentums(params, dtype)
        grad_steps = np.zeros(steps.shape[0], dtype=np.float64)
        grad_momentums = np.zeros(momentums.shape[0], dtype=np.float64)
        grad_pre = np.empty_like(correlations)
        pre_products = np.empty_like(correlations)
        # Gradients of the layer's two outputs: its codes, and the codes the
        # next layer's momentum steps back to ("previous").
        grad_new = np.array(grad_codes, dtype=dtype, order="C")
        grad_new_previous = np.zeros_like(grad_new)
        for layer in range(steps.shape[0] - 1, -1, -1):
            iterates, density, rises, safe_pre = layers[layer]
            codes, previous, products, previous_products = iterates
            new = layers[layer + 1][0][0] if layer + 1 < len(layers) else output
            step = steps[layer]
            momentum = momentums[layer - 1] if layer else dtype.type(0)
            # Where the layer fell back, the next layer's "previous" is this
            # layer's output; elsewhere it is this layer's input.
            grad_new[rises] += grad_new_previous[rises]
            grad_new_previous[rises] = 0
            stepped = grad_new.copy()
            stepped[rises] = 0
            gradient_sum, sign_sum = learned_step_layer_backward(
                stepped, new, *iterates, correlations, momentum, grad_pre
            )
            grad_steps[layer] = -gradient_sum - alpha * sign_sum
            if not layer:
                break
            # (The step's density: the rows that fell back are few.)
            iterate_matmul(grad_pre, gram, pre_products, density)
            grad_codes_in = np.empty_like(grad_new)
            # grad_new_previous becomes this layer's share of dL/dz_{k-1}.
            grad_momentums[layer - 1] = learned_step_point_backward(
                grad_pre,
                pre_products,
                step,
                momentum,
                codes,
                previous,
                grad_new_previous,
                grad_codes_in,
            )
            if safe_pre is not None:
                safe_active = _active(safe_pre, alpha / lipschitz, problem.positive)
                grad_safe = np.where(safe_active, grad_new[rises], 0)
                grad_codes_in[rises] += grad_safe - (grad_safe @ gram) / lipschitz
            grad_new = grad_codes_in
        grads = {"steps": grad_steps.astype(params["steps"].dtype)}
        if "momentums" in params:
            grads["momentums"] = grad_momentums.astype(params["momentums"].dtype)
        return grads

    def backward(self, params, cache, grad_codes):
        kind, state = cache
        if kind == "safeguarded":
            return self._safeguarded_backward(params, state, grad_codes)
        if kind == "steps":
            return self._step_backward(params, state, grad_codes, False)[0]
        return self._backward(params, state, grad_codes, False)[0]

    def backward_dictionary(self, params, cache, grad_codes):
        kind, state = cache
        if kind == "safeguarded":
            raise NotImplementedError(
                "the safeguarded step network has no dictionary gradient; "
                "train the dictionary with safeguard=False."
            )
        if kind == "steps":
            return self._step_backward(params, state, grad_codes, True)
        return self._backward(params, state, grad_codes, True)

    def _backward(self, params, cache, grad_codes, with_dictionary):
        """Gradients of LISTA's weights (support selection), then of the steps
        through them."""
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
