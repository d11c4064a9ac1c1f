"""Training losses of the learned coders: ``loss(codes, X, y) -> (value, grad)``.

A loss is built from the coder's ``LassoProblem`` (the dictionary,
``alpha``, the code constraint) and called on a mini-batch: `codes` are the
network's output, `X` the signals, `y` the targets (None for unsupervised
losses). It returns the mean over the batch and its gradient in the codes,
which the network backpropagates; ``loss.per_sample(codes, X, y)`` gives the
loss of each row (the validation guard compares them). The estimators pick
one by name from :data:`LOSSES` (scikit-learn's MLP keeps its
``LOSS_FUNCTIONS`` the same way).
"""

import numpy as np


class LassoLoss:
    """The unsupervised Lasso cost of the codes (the paper's choice).

    ``mean_i 0.5 * ||x_i - z_i D||^2 + alpha * ||z_i||_1``; `y` is ignored, so
    a coder trained on it needs no target codes.

    Parameters
    ----------
    problem : LassoProblem
        The dictionary, `alpha` and the code constraint.
    """

    requires_y = False

    def __init__(self, problem):
        self.problem = problem

    def __call__(self, codes, X, y=None):
        return self.problem.astype(X.dtype).mean_cost_and_grad(X, codes)

    def per_sample(self, codes, X, y=None):
        """The loss of each row (what the validation guard compares)."""
        return self.problem.astype(X.dtype).cost(X, codes)


class SquaredCodeError:
    """Supervised code loss: the squared distance to target codes.

    ``mean_i 0.5 * ||z_i - y_i||^2`` (summed over the atoms, averaged over the
    samples), with `y` the target codes, e.g. Lasso solutions computed once
    by an exact solver, as in Gregor & LeCun (2010) and Chen et al. (2018).

    Parameters
    ----------
    problem : LassoProblem
        Unused by the loss itself; kept for a common constructor.
    """

    requires_y = True

    def __init__(self, problem):
        self.problem = problem

    def __call__(self, codes, X, y):
        difference = codes - y
        n_samples = codes.shape[0]
        value = 0.5 * float(np.einsum("ij,ij->", difference, difference)) / n_samples
        return value, (difference / n_samples).astype(codes.dtype, copy=False)

    def per_sample(self, codes, X, y):
        """The loss of each row (what the validation guard compares)."""
        difference = codes - y
        return 0.5 * np.einsum("ij,ij->i", difference, difference)


LOSSES = {"lasso": LassoLoss, "squared_error": SquaredCodeError}


# ----------------------------------------------------------------- task losses
# The task-driven estimators put a linear head on the codes, ``scores = z W + b``,
# and train the network and the head on a loss of the scores and the labels or
# targets: ``loss(scores, y, weights) -> (value, grad_scores)``, the weighted
# mean over the batch (`weights` sum to one) and its gradient in the scores.


class MultinomialLogLoss:
    """Multinomial logistic loss (softmax cross-entropy) of class scores.

    ``sum_i w_i * (logsumexp(s_i) - s_i[y_i])`` with `y` the class indices
    (``0 .. n_classes - 1``) and `w` the batch weights (summing to one).
    """

    def __call__(self, scores, y, weights):
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        rows = np.arange(scores.shape[0])
        log_likelihood = shifted[rows, y] - np.log(total[:, 0])
        value = -float(np.dot(weights, log_likelihood))
        grad = exp / total
        grad[rows, y] -= 1.0
        grad *= weights[:, None]
        return value, grad.astype(scores.dtype, copy=False)


class SquaredTargetError:
    """Squared error of regression outputs, ``sum_i w_i * 0.5 * ||s_i - y_i||^2``
    (`y` of shape ``(n_samples, n_outputs)``)."""

    def __call__(self, scores, y, weights):
        difference = scores - y
        squares = np.einsum("ij,ij->i", difference, difference)
        value = 0.5 * float(np.dot(weights, squares))
        return value, (difference * weights[:, None]).astype(scores.dtype, copy=False)


TASK_LOSSES = {"log_loss": MultinomialLogLoss, "squared_error": SquaredTargetError}


def weighted_lasso_cost(X, codes, dictionary, alpha, weights):
    """The Lasso cost of the codes, weighted over the rows, and its gradients.

    ``sum_i w_i * (0.5 * ||x_i - z_i D||^2 + alpha * ||z_i||_1)``; returns the
    value, its gradient in the codes and its gradient in the dictionary
    (``-sum_i w_i z_i^T (x_i - z_i D)``), which a jointly trained dictionary
    receives on top of what reaches it through the network.
    """
    residual = X - codes @ dictionary
    per_sample = 0.5 * np.einsum("ij,ij->i", residual, residual, dtype=np.float64)
    per_sample += alpha * np.abs(codes).sum(axis=1, dtype=np.float64)
    weighted_residual = residual * weights[:, None].astype(X.dtype, copy=False)
    grad_codes = alpha * np.sign(codes) * weights[:, None]
    grad_codes -= weighted_residual @ dictionary.T
    grad_dictionary = -(codes.T @ weighted_residual)
    return (
        float(np.dot(weights, per_sample)),
        grad_codes.astype(X.dtype, copy=False),
        grad_dictionary.astype(X.dtype, copy=False),
    )
