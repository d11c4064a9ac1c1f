"""Generators of the sparse coding problems studied in the paper."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_sparse_coding", "alpha_max"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "density": [Interval(Real, 0, 1, closed="both")],
        "code_scale": [Interval(Real, 0, None, closed="neither")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "dictionary": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_sparse_coding(
    n_samples=1000,
    n_components=100,
    n_features=64,
    *,
    density=0.05,
    code_scale=10.0,
    noise=0.0,
    dictionary=None,
    random_state=None,
):
    """Gaussian dictionary and Bernoulli-Gaussian codes (the paper's problem).

    The atoms (rows of the dictionary) are i.i.d. standard Gaussian vectors
    normalised to unit norm. Each code entry is non-zero with probability
    `density` and then drawn from ``N(0, code_scale^2)``. The signals are
    ``X = codes @ dictionary + noise * N(0, 1)``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of signals.
    n_components : int, default=100
        Number of atoms ``K``.
    n_features : int, default=64
        Signal dimension ``P``.
    density : float, default=0.05
        Probability ``rho`` that a code entry is non-zero (1/20 is the paper's
        sparse regime, 1/4 its dense one).
    code_scale : float, default=10.0
        Standard deviation ``sigma`` of the non-zero code entries.
    noise : float, default=0.0
        Standard deviation of additive Gaussian noise on the signals.
    dictionary : array-like of shape (n_components, n_features), default=None
        Reuse a dictionary (e.g. to draw a test set for the same problem); if
        None a new one is drawn.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Signals.
    dictionary : ndarray of shape (n_components, n_features)
        Unit-norm atoms as rows.
    codes : ndarray of shape (n_samples, n_components)
        The Bernoulli-Gaussian codes that generated `X`.

    Examples
    --------
    >>> from sklearn_lista.datasets import make_sparse_coding
    >>> X, D, Z = make_sparse_coding(n_samples=10, random_state=0)
    >>> X.shape, D.shape, Z.shape
    ((10, 64), (100, 64), (10, 100))
    """
    rng = check_random_state(random_state)
    if dictionary is None:
        dictionary = rng.standard_normal((n_components, n_features))
        dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    else:
        dictionary = check_array(dictionary, dtype=np.float64, input_name="dictionary")
        n_components, n_features = dictionary.shape
    support = rng.random_sample((n_samples, n_components)) < density
    codes = np.where(
        support, code_scale * rng.standard_normal((n_samples, n_components)), 0.0
    )
    X = codes @ dictionary
    if noise:
        X += noise * rng.standard_normal(X.shape)
    return X, dictionary, codes


@validate_params(
    {"X": ["array-like"], "dictionary": ["array-like"], "positive": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def alpha_max(X, dictionary, positive=False):
    """Smallest `alpha` for which the codes of every signal of `X` are all zero.

    ``alpha_max = max_i ||D x_i||_inf`` (``max_i max(D x_i)`` for positive
    codes). The paper's problems use ``alpha = 0.1 * alpha_max``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    dictionary : array-like of shape (n_components, n_features)
    positive : bool, default=False

    Returns
    -------
    alpha_max : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lista.datasets import alpha_max
    >>> float(alpha_max([[3.0, -4.0]], np.eye(2)))
    4.0
    """
    X = check_array(X, dtype=np.float64, input_name="X")
    dictionary = check_array(dictionary, dtype=np.float64, input_name="dictionary")
    if X.shape[1] != dictionary.shape[1]:
        raise ValueError(
            f"dictionary has {dictionary.shape[1]} features but X has {X.shape[1]}."
        )
    correlation = X @ dictionary.T
    if not positive:
        correlation = np.abs(correlation)
    return float(max(correlation.max(), 0.0))
