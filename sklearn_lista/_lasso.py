"""The problem every coder solves, defined once.

``F(z) = 0.5 * ||x - z D||^2 + alpha * ||z||_1`` for each signal (row) ``x``,
with the dictionary ``D`` of shape ``(n_components, n_features)``. The cost,
its gradient in the codes, the duality gap, the Gram matrix and the Lipschitz
constant live here and are called by the solvers, the networks, the losses
and the estimators. The dictionary enters only through :class:`LassoProblem`'s
``reconstruct``/``correlate`` pair (``z D`` and ``r D^T``), the place where a
dictionary given as a linear operator would plug in.
"""

from numbers import Real

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, validate_params

from ._kernels import lasso_duality_gap


def gram_matrix(dictionary):
    """``dictionary @ dictionary.T``, the same bits whatever the BLAS threads.

    numpy sends ``A @ A.T`` to SYRK, whose rounding depends on the number of
    BLAS threads; the GEMM of a copy does not (OpenBLAS splits rows and
    columns, never the sum), so codes do not depend on `n_jobs` or on the
    worker (thread, process, Dask) that computes them.
    """
    return np.dot(dictionary, np.array(dictionary.T, order="C"))


def lipschitz_constant(dictionary):
    """Largest eigenvalue of the Gram matrix ``D @ D.T``, i.e. ``||D||_2 ** 2``."""
    return float(np.linalg.norm(np.asarray(dictionary, dtype=np.float64), ord=2) ** 2)


def ista_operators(dictionary, lipschitz):
    """ISTA's ``I - B / L`` (acts on the iterate) and ``D^T / L`` (on the input),
    in the dictionary's dtype."""
    step, input_weight, _ = solver_operators(dictionary, lipschitz, polish=False)
    return step, input_weight


def solver_operators(dictionary, lipschitz, polish):
    """What the ISTA/FISTA solver derives from the dictionary, computed once
    for all the chunks of a transform: ``(I - B / L, D^T / L, gram)`` with
    `gram` the float64 ``D D^T`` of support polishing (None without it).

    The same bits as :func:`ista_operators` and :func:`gram_matrix`; a
    float64 dictionary's Gram matrix serves both.
    """
    dtype = dictionary.dtype
    gram = gram_matrix(dictionary)
    step = np.eye(dictionary.shape[0], dtype=dtype) - gram / dtype.type(lipschitz)
    if not polish:
        gram = None
    elif dtype != np.float64:
        gram = gram_matrix(dictionary.astype(np.float64))
    return step, dictionary.T / dtype.type(lipschitz), gram


def per_sample_cost(X, codes, dictionary, alpha):
    """``0.5 * ||x - z D||^2 + alpha * ||z||_1`` per row (validation-free)."""
    residual = X - codes @ dictionary
    return 0.5 * np.einsum("ij,ij->i", residual, residual) + alpha * np.abs(codes).sum(
        axis=1
    )


def mean_cost_and_grad(X, codes, dictionary, alpha):
    """Mean Lasso cost over the rows and its (sub)gradient in the codes.

    The gradient is ``(alpha * sign(z) - (x - z D) D^T) / n_samples`` with
    ``sign(0) = 0``, in the dtype of `X`; the cost is summed in float64.
    """
    residual = X - codes @ dictionary
    n_samples = X.shape[0]
    cost = (
        0.5 * float(np.einsum("ij,ij->", residual, residual, dtype=np.float64))
        + alpha * float(np.abs(codes).sum(dtype=np.float64))
    ) / n_samples
    grad = (alpha * np.sign(codes) - residual @ dictionary.T) / n_samples
    return cost, grad.astype(X.dtype, copy=False)


def duality_gaps(X, codes, dictionary, alpha, positive=False):
    """Per-sample duality gaps and primal costs of the Lasso (validation-free).

    Returns
    -------
    gaps, costs : ndarray of shape (n_samples,), float64
    """
    residual = X - codes @ dictionary
    correlation = residual @ dictionary.T
    gaps = np.empty(X.shape[0])
    costs = np.empty(X.shape[0])
    lasso_duality_gap(
        X, codes, residual, correlation, float(alpha), bool(positive), gaps, costs
    )
    return gaps, costs


class LassoProblem:
    """One Lasso problem: a dictionary, a penalty and the code constraint.

    The object the networks and losses share: it computes the Gram matrix
    and the Lipschitz constant once, and gives the cost, its gradient in the
    codes and the duality gap of any codes.

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
        Atoms as rows (validated by the caller).
    alpha : float
        Weight of the l1 penalty.
    positive : bool, default=False
        Codes constrained to be non-negative.
    lipschitz : float, default=None
        ``||D||_2^2`` if already known (computed otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lista._lasso import LassoProblem
    >>> problem = LassoProblem(np.eye(2), alpha=1.0)
    >>> problem.cost(np.array([[1.0, 0.0]]), np.array([[0.5, 0.0]]))
    array([0.625])
    """

    def __init__(self, dictionary, alpha, positive=False, lipschitz=None):
        self.dictionary = dictionary
        self.alpha = float(alpha)
        self.positive = bool(positive)
        self.lipschitz = (
            lipschitz_constant(dictionary) if lipschitz is None else float(lipschitz)
        )
        self._gram = None

    @property
    def n_components(self):
        return self.dictionary.shape[0]

    @property
    def n_features(self):
        return self.dictionary.shape[1]

    @property
    def gram(self):
        """``B = D D^T``, computed once."""
        if self._gram is None:
            self._gram = gram_matrix(self.dictionary)
        return self._gram

    def astype(self, dtype):
        """The same problem with the dictionary in `dtype` (self if already)."""
        if self.dictionary.dtype == dtype:
            return self
        return LassoProblem(
            self.dictionary.astype(dtype), self.alpha, self.positive, self.lipschitz
        )

    def reconstruct(self, codes):
        """``z D``: signals from codes."""
        return codes @ self.dictionary

    def correlate(self, residual):
        """``r D^T``: correlations of residuals with the atoms."""
        return residual @ self.dictionary.T

    def cost(self, X, codes):
        """Per-sample Lasso cost."""
        return per_sample_cost(X, codes, self.dictionary, self.alpha)

    def mean_cost_and_grad(self, X, codes):
        """Mean cost over the rows and its gradient in the codes."""
        return mean_cost_and_grad(X, codes, self.dictionary, self.alpha)

    def duality_gaps(self, X, codes):
        """Per-sample duality gaps and primal costs (float64)."""
        return duality_gaps(X, codes, self.dictionary, self.alpha, self.positive)

    def ista_operators(self):
        """``(I - B / L, D^T / L)`` in the dictionary's dtype."""
        return ista_operators(self.dictionary, self.lipschitz)


@validate_params(
    {
        "X": ["array-like"],
        "codes": ["array-like"],
        "dictionary": ["array-like"],
        "alpha": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def lasso_cost(X, codes, dictionary, alpha):
    """Per-sample Lasso cost ``0.5 * ||x - z D||^2 + alpha * ||z||_1``.

    This is the objective every coder of the package minimises; the costs are
    computed in float64 whatever the input dtype.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals.
    codes : array-like of shape (n_samples, n_components)
        Codes ``Z``, one row per signal.
    dictionary : array-like of shape (n_components, n_features)
        Atoms as rows.
    alpha : float
        Weight of the l1 penalty.

    Returns
    -------
    cost : ndarray of shape (n_samples,)
        The cost of each sample; take the mean to compare methods.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lista import lasso_cost
    >>> D = np.eye(2)
    >>> lasso_cost([[1.0, 0.0]], [[0.5, 0.0]], D, alpha=1.0)
    array([0.625])
    """
    X = check_array(X, dtype=np.float64, input_name="X")
    codes = check_array(codes, dtype=np.float64, input_name="codes")
    dictionary = check_array(dictionary, dtype=np.float64, input_name="dictionary")
    if dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            f"dictionary has {dictionary.shape[1]} features but X has {X.shape[1]}."
        )
    if codes.shape != (X.shape[0], dictionary.shape[0]):
        raise ValueError(
            f"codes must have shape (n_samples, n_components) = "
            f"{(X.shape[0], dictionary.shape[0])}, got {codes.shape}."
        )
    return per_sample_cost(X, codes, dictionary, alpha)
