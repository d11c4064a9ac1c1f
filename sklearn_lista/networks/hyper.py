"""HyperLISTA (Chen, Liu, Wang & Yin, NeurIPS 2021): three hyperparameters.

ALISTA with momentum and support selection whose threshold, momentum and
number of bypassed entries are computed, at every layer and for every
signal, from the current iterate by the paper's formulas; only three
numbers ``(c1, c2, c3)`` are learned or tuned. In the paper's column form
(``b = A x``, ``A = D^T``, ``W`` ALISTA's analytic weight with
``diag(W^T A) = 1``) layer ``k`` is

.. math::

    x^{k+1} = \\eta^{p_k}_{\\theta_k}\\bigl(x^k + \\gamma W^\\top (b - A x^k)
    + \\beta_k (x^k - x^{k-1})\\bigr),

    \\theta_k = c_1 \\mu \\|A^+ (A x^k - b)\\|_1, \\quad
    \\beta_k = c_2 \\mu \\|x^k\\|_0, \\quad
    p_k = \\min\\Bigl(c_3 \\log \\frac{\\|A^+ b\\|_1}{\\|A^+ (A x^k - b)\\|_1},
    n\\Bigr),

with ``gamma = 1`` (the paper's; :class:`HyperLISTA` takes another as
``step``), ``mu = max_{i != j} |w_i^T a_j|`` the generalised mutual coherence of
``W`` and ``A`` and ``eta^p_theta`` support selection: the ``p`` largest
entries beyond the threshold keep their value (``p`` rounded to an integer,
and 0 where the logarithm is negative: an iterate farther from the codes
than 0 by the proxy).
``||A^+ (A x^k - b)||_1`` is the paper's computable proxy for the unknown
``||x^k - x*||_1``. In the row convention used here (``x = z D``) the same
layer reads ``z_{k+1} = ss(z_k + (x - z_k D) W + beta_k (z_k - z_{k-1}))``
with ``A^+ (A x - b) -> (z D - x) D^+``.

``||x^k||_0`` and the rounded ``p_k`` are piecewise constant: the loss has
gradients in ``c1`` and ``c2`` only (``c3``'s is zero almost everywhere, so
it is tuned by search, as the paper does for all three).
"""

import numpy as np

from ..analytic import analytic_weights
from ..optim import Positive
from ._base import ParameterSpec, UnrolledNetwork

# Defaults of (c1, c2, c3), tuned by grid search on the standard noiseless
# compressed-sensing problem (250 x 500, density 0.1; see the coder).
HYPERPARAMETERS = (0.04, 0.02, 12.0)


def generalized_coherence(coupling):
    """``max_{i != j} |(D W)_{ij}|``: the generalised mutual coherence."""
    off = np.abs(coupling.astype(np.float64))
    np.fill_diagonal(off, 0.0)
    return float(off.max()) if off.size > 1 else 0.0


class HyperLISTA(UnrolledNetwork):
    """HyperLISTA: ALISTA with momentum and support selection from 3 numbers.

    Parameters
    ----------
    problem : LassoProblem
        The dictionary and the code constraint (`alpha` is not used by the
        network, only by the Lasso loss).
    hyperparameters : tuple of 3 floats, default=HYPERPARAMETERS
        ``(c1, c2, c3)`` of the untrained network.
    step : float, default=1.0
        The step ``gamma`` of the gradient term, ``x^k + gamma W^T (b - A
        x^k)``: 1 in the paper's formula (``W`` is normalised so that
        ``diag(W^T A) = 1``); not one of the three trained numbers.
    tied : bool, default=True
        The hyperparameters are stored per layer (an ``(n_layers, 3)`` array,
        so that the depth is part of the parameters) and, when tied, every
        step is followed by setting every row to their geometric mean: one
        triple for the whole network, as in the paper. Untied rows give one
        triple per layer.

    Attributes
    ----------
    analytic_weight : ndarray of shape (n_features, n_components)
        ALISTA's ``W``.
    coherence : float
        ``mu``.
    """

    name = "hyper_lista"
    reference = None
    # resize: a deeper network keeps the trained triple (see resize).
    new_layers_copy_last = True
    parameters = {"hyperparameters": ParameterSpec(Positive())}

    def __init__(self, problem, hyperparameters=HYPERPARAMETERS, step=1.0, tied=True):
        super().__init__(problem)
        values = np.asarray(hyperparameters, dtype=np.float64)
        if values.shape != (3,) or not np.all(np.isfinite(values)) or values.min() < 0:
            raise ValueError(
                "hyperparameters must be three finite non-negative numbers (c1, c2, "
                f"c3), got {hyperparameters!r}."
            )
        if not (np.isfinite(step) and step > 0):
            raise ValueError(f"step must be a positive number, got {step!r}.")
        self.hyperparameters = values
        self.step = float(step)
        self.tied = tied
        dictionary = problem.dictionary.astype(np.float64)
        weight = analytic_weights(dictionary)
        pinv = np.linalg.pinv(dictionary)  # (n_features, n_components) = (A^+)^T
        self._arrays64 = {
            "weight": weight,
            "coupling": dictionary @ weight,  # D W
            "pinv": pinv,
            "projection": dictionary @ pinv,  # D D^+, symmetric
        }
        self.analytic_weight = weight.astype(problem.dictionary.dtype)
        self.coherence = generalized_coherence(self._arrays64["coupling"])

    def _arrays(self, dtype):
        cache = self.__dict__.setdefault("_typed", {})
        dtype = np.dtype(dtype)
        if dtype not in cache:
            cache[dtype] = {
                k: np.ascontiguousarray(v.astype(dtype))
                for k, v in self._arrays64.items()
            }
        return cache[dtype]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_typed", None)
        return state

    def init_params(self, n_layers):
        dtype = self.problem.dictionary.dtype
        # Positive() keeps entries > 0: a zero (e.g. c3 = 0, no support
        # selection) is stored as the smallest positive number.
        values = np.maximum(self.hyperparameters, np.finfo(dtype).tiny)
        return {"hyperparameters": np.tile(values.astype(dtype), (n_layers, 1))}

    def n_bypass(self, ratios, c3):
        """Entries kept unshrunk per row: ``round(min(c3 log(ratio), n))``."""
        n_components = self.problem.n_components
        with np.errstate(divide="ignore"):
            logs = np.log(np.maximum(ratios, 1.0))
        return np.rint(np.minimum(c3 * logs, n_components)).astype(np.int64)

    def schedule(self, X, params):
        """Per layer and signal: the threshold, momentum and bypass count.

        Returns ``(thresholds, momentums, n_bypass, codes)``, the first three
        of shape ``(n_layers, n_samples)``, `codes` the network's output.
        """
        codes, cache = self.forward(X, params, keep_cache=True)
        _, _, _, thresholds, momentums, n_bypass, _, _ = cache
        return thresholds, momentums, n_bypass, codes

    def forward(self, X, params, keep_cache=True):
        arrays = self._arrays(X.dtype)
        values = params["hyperparameters"].astype(np.float64)
        n_layers = values.shape[0]
        n_samples, n_components = X.shape[0], self.problem.n_components
        positive = self.problem.positive
        mu = self.coherence
        input_term = self.step * (X @ arrays["weight"])  # gamma x W
        pinv_signal = X @ arrays["pinv"]  # x D^+ = (A^+ b)^T
        signal_norms = np.abs(pinv_signal).sum(axis=1)
        iterates = np.zeros((n_layers + 1, n_samples, n_components), dtype=X.dtype)
        if keep_cache:
            pre = np.empty((n_layers, n_samples, n_components), dtype=X.dtype)
            proxies = np.empty_like(pre)
            errors = np.empty((n_layers, n_samples))
            supports = np.empty((n_layers, n_samples))
        thresholds = np.empty((n_layers, n_samples))
        momentums = np.empty((n_layers, n_samples))
        counts = np.empty((n_layers, n_samples), dtype=np.int64)
        for k in range(n_layers):
            c1, c2, c3 = values[k]
            z, previous = iterates[k], iterates[max(k - 1, 0)]
            # (z D - x) D^+ = z (D D^+) - x D^+: the proxy of z - z*.
            proxy = z @ arrays["projection"] - pinv_signal if k else -pinv_signal
            error = np.abs(proxy).sum(axis=1)
            support = np.count_nonzero(z, axis=1).astype(np.float64)
            thresholds[k] = c1 * mu * error
            momentums[k] = c2 * mu * support
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.where(error > 0, signal_norms / error, np.inf)
            counts[k] = self.n_bypass(ratios, c3)
            u = z + input_term
            if k:
                u -= self.step * (z @ arrays["coupling"])
                u += momentums[k][:, None].astype(X.dtype) * (z - previous)
            iterates[k + 1] = _select_and_shrink(
                u, thresholds[k].astype(X.dtype), counts[k], positive
            )
            if keep_cache:
                pre[k], proxies[k], errors[k], supports[k] = u, proxy, error, support
        codes = iterates[n_layers]
        if not keep_cache:
            return codes, None
        cache = (
            iterates,
            pre,
            proxies,
            thresholds,
            momentums,
            counts,
            errors,
            supports,
        )
        return codes, cache

    def backward(self, params, cache, grad_codes):
        iterates, pre, proxies, thresholds, momentums, counts, errors, supports = cache
        dtype = iterates.dtype
        arrays = self._arrays(dtype)
        values = params["hyperparameters"].astype(np.float64)
        n_layers = values.shape[0]
        mu = self.coherence
        positive = self.problem.positive
        grads = np.zeros((n_layers, 3))
        grad = np.array(grad_codes, dtype=dtype)  # dL/dz_{k+1}
        carried = np.zeros_like(grad)  # what layer k+1 sends to z_k by momentum
        for k in range(n_layers - 1, -1, -1):
            u = pre[k]
            active, bypass = _masks(u, thresholds[k].astype(dtype), counts[k], positive)
            grad_pre = np.where(active, grad, 0)
            signs = np.ones_like(u) if positive else np.sign(u)
            shrunk = active & ~bypass
            grad_threshold = -np.einsum("ij,ij->i", np.where(shrunk, grad, 0), signs)
            grads[k, 0] = mu * float(grad_threshold @ errors[k])
            if not k:
                continue
            z, previous = iterates[k], iterates[k - 1]
            grad_momentum = np.einsum("ij,ij->i", grad_pre, z - previous)
            grads[k, 1] = mu * float(grad_momentum @ supports[k])
            beta = momentums[k][:, None].astype(dtype)
            # u = z (I - D W) + x W + beta (z - z_prev); theta = c1 mu |proxy|_1
            # with proxy = z P - x D^+ (P = D D^+ symmetric).
            grad_error = (values[k, 0] * mu * grad_threshold).astype(dtype)
            grad_z = grad_pre - self.step * (grad_pre @ arrays["coupling"].T)
            grad_z += beta * grad_pre
            grad_z += (grad_error[:, None] * np.sign(proxies[k])) @ arrays["projection"]
            grad = grad_z + carried
            carried = -beta * grad_pre
        grads = grads.astype(params["hyperparameters"].dtype)
        return {"hyperparameters": grads}

    def project(self, params):
        if self.tied:
            values = params["hyperparameters"]
            tiny = np.finfo(values.dtype).tiny
            mean = np.exp(np.log(np.maximum(values, tiny)).mean(axis=0))
            values[...] = mean.astype(values.dtype)

    def resize(self, params, n_layers):
        """Shallower: the first layers; deeper: the new layers take the last
        layer's hyperparameters (one triple for all layers when tied)."""
        old = params["hyperparameters"]
        rows = np.concatenate(
            [old[:n_layers], np.repeat(old[-1:], max(n_layers - old.shape[0], 0), 0)]
        )
        return {"hyperparameters": rows.astype(old.dtype, copy=True)}


def _masks(u, thresholds, counts, positive):
    """``(active, bypass)``: entries beyond the row's threshold, and those of
    them among the row's ``counts`` largest (ties: the lower index)."""
    magnitude = u if positive else np.abs(u)
    active = magnitude > thresholds[:, None]
    bypass = np.zeros_like(active)
    if counts.max(initial=0) > 0:
        # Stable sort of -|u|: rank 0 is the largest, ties by index.
        order = np.argsort(-np.where(active, magnitude, -np.inf), axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(u.shape[1])[None, :], axis=1)
        bypass = active & (ranks < counts[:, None])
    return active, bypass


def _select_and_shrink(u, thresholds, counts, positive):
    """Support selection with a threshold and a bypass count per row."""
    active, bypass = _masks(u, thresholds, counts, positive)
    signs = 1 if positive else np.sign(u)
    shrunk = u - signs * thresholds[:, None]
    return np.where(bypass, u, np.where(active, shrunk, 0)).astype(u.dtype, copy=False)
