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
