"""Task-driven training: an unrolled coder and a linear head, trained jointly.

The objective of a task-driven estimator on a batch ``(X, y, w)`` (``w``:
sample weights normalised to sum to one) is

``task_loss(z W + b, y) + 0.5 * head_l2 * ||W||^2 + lasso_weight * lasso(z)``

with ``z`` the network's codes of ``X``, ``(W, b)`` the linear head, the task
loss one of :data:`~sklearn_lista.losses.TASK_LOSSES` and ``lasso(z)`` the
Lasso cost of the codes over the current dictionary (which keeps them sparse
and faithful to the signals). :class:`TaskObjective` gives it to the one
:class:`~sklearn_lista._training.TrainingLoop`: the network's parameters, the
head's (``head_coef``, ``head_intercept``) and, when the dictionary is trained
(:class:`~sklearn_lista.networks.JointDictionary`), the dictionary's are
stepped by the same optimizer. :func:`fit_head` solves the convex problem of
the head alone on frozen codes (post-training, Moreau & Audiffren 2016).
"""

import numpy as np
from scipy.optimize import minimize
from sklearn.utils import gen_batches

from ._training import _Deferred
from .losses import weighted_lasso_cost

HEAD_PARAMETERS = ("head_coef", "head_intercept")


def _normalised(weights):
    return weights / weights.sum()


class TaskObjective:
    """A network with a linear head on a task loss plus the Lasso cost.

    Parameters
    ----------
    network : UnrolledNetwork
        The coder (a :class:`~sklearn_lista.networks.JointDictionary` when the
        dictionary is trained: its ``"dictionary"`` parameter then also gets
        the Lasso cost's own gradient).
    task_loss : callable
        ``task_loss(scores, y, weights) -> (value, grad_scores)``.
    lasso_weight : float
        Weight of the Lasso cost of the codes (0: task loss only).
    head_l2 : float
        Weight of ``0.5 * ||W||^2`` on the head's coefficients.
    X, y, sample_weight : ndarray
        Training signals, encoded targets (class indices or outputs), weights.
    monitor : tuple ``(X, y, sample_weight)``
        The signals whose objective selects the best parameters.
    batch_size : int
    shuffle : bool
    """

    divergence_guard = True

    def __init__(
        self,
        network,
        task_loss,
        lasso_weight,
        head_l2,
        X,
        y,
        sample_weight,
        monitor,
        batch_size,
        shuffle,
    ):
        self.network = network
        self.task_loss = task_loss
        self.lasso_weight = float(lasso_weight)
        self.head_l2 = float(head_l2)
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.monitor_batch = monitor
        self.batch_size = min(batch_size, X.shape[0])
        self.shuffle = shuffle

    def batches(self, rng):
        n_samples = self.X.shape[0]
        order = rng.permutation(n_samples) if self.shuffle else None
        for rows in gen_batches(n_samples, self.batch_size):
            rows = order[rows] if self.shuffle else rows
            yield self.X[rows], self.y[rows], self.sample_weight[rows]

    def _network_params(self, params):
        return {name: params[name] for name in self.network.parameters}

    def _dictionary(self, params):
        if "dictionary" in params:
            return params["dictionary"]
        return self.network.problem_in(params["head_coef"].dtype).dictionary

    def _evaluate(self, params, batch, keep_cache):
        X, y, sample_weight = batch
        weights = _normalised(sample_weight)
        coef, intercept = params["head_coef"], params["head_intercept"]
        # An overflow from a step too far is what the divergence guard acts
        # on (a non-finite loss), not something to warn about.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            codes, cache = self.network.forward(
                X, self._network_params(params), keep_cache
            )
            scores = codes @ coef + intercept
            value, grad_scores = self.task_loss(scores, y, weights)
            value += 0.5 * self.head_l2 * float(np.sum(coef * coef))
            grad_codes = grad_scores @ coef.T
            grad_dictionary = None
            if self.lasso_weight:
                lasso, lasso_codes, grad_dictionary = weighted_lasso_cost(
                    X,
                    codes,
                    self._dictionary(params),
                    self.network.problem.alpha,
                    weights,
                )
                value += self.lasso_weight * lasso
                grad_codes += self.lasso_weight * lasso_codes
                grad_dictionary *= self.lasso_weight
        return value, (codes, cache, grad_scores, grad_codes, grad_dictionary)

    def loss_and_grads(self, params, batch):
        value, parts = self._evaluate(params, batch, keep_cache=True)
        return value, _TaskGradients(self, params, parts)

    def loss(self, params, batch):
        return self._evaluate(params, batch, keep_cache=False)[0]

    def monitor(self, params):
        return self.loss(params, self.monitor_batch)

    def project(self, params):
        self.network.project(self._network_params(params))


class _TaskGradients(_Deferred):
    """Backpropagation run only for accepted steps, as for any objective."""

    def __init__(self, objective, params, parts):
        self.objective, self.params, self.parts = objective, params, parts

    def compute(self):
        objective, params = self.objective, self.params
        codes, cache, grad_scores, grad_codes, grad_dictionary = self.parts
        grads = objective.network.backward(
            objective._network_params(params), cache, grad_codes
        )
        if grad_dictionary is not None and "dictionary" in grads:
            grads["dictionary"] = grads["dictionary"] + grad_dictionary
        coef = params["head_coef"]
        grads["head_coef"] = codes.T @ grad_scores + objective.head_l2 * coef
        grads["head_intercept"] = grad_scores.sum(axis=0)
        return grads


def fit_head(codes, y, sample_weight, task_loss, head_l2, coef, intercept, max_iter):
    """The head that minimises the task loss on frozen codes (convex).

    ``min_{W, b} task_loss(codes W + b, y) + 0.5 * head_l2 * ||W||^2`` (the
    task part of the joint objective), by L-BFGS in float64 from the jointly
    trained ``(W, b)``. Returns ``(coef, intercept, converged)``.
    """
    codes = codes.astype(np.float64)
    weights = _normalised(sample_weight.astype(np.float64))
    shape = coef.shape

    def objective(theta):
        W = theta[: coef.size].reshape(shape)
        b = theta[coef.size :]
        with np.errstate(over="ignore", invalid="ignore"):
            value, grad_scores = task_loss(codes @ W + b, y, weights)
        value += 0.5 * head_l2 * float(np.sum(W * W))
        grad_W = codes.T @ grad_scores + head_l2 * W
        return value, np.concatenate([grad_W.ravel(), grad_scores.sum(axis=0)])

    start = np.concatenate([coef.ravel(), intercept.ravel()]).astype(np.float64)
    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-8, "ftol": 1e-12},
    )
    theta = result.x if np.isfinite(result.fun) else start
    return (
        theta[: coef.size].reshape(shape).astype(coef.dtype),
        theta[coef.size :].astype(intercept.dtype),
        bool(result.success),
    )
