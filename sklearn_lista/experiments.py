"""Depth sweeps: the relative cost gap of coders as a function of depth."""

import numpy as np

from ._base import _lasso_cost
from ._classical import FISTACoder

__all__ = ["reference_cost", "depth_sweep", "train_depth_sweep"]


def reference_cost(X, dictionary, alpha, *, positive=False, tol=1e-12, max_iter=20000):
    """Mean Lasso cost at the optimum, from FISTA run to a tight duality gap.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    dictionary : ndarray of shape (n_components, n_features)
    alpha : float
    positive : bool, default=False
    tol : float, default=1e-12
        Relative duality gap at which each sample is declared solved.
    max_iter : int, default=20000

    Returns
    -------
    cost : float
        ``F*``, the mean optimal cost over the samples.
    codes : ndarray of shape (n_samples, n_components)
        The (near-)optimal codes.
    """
    solver = FISTACoder(
        dictionary, alpha=alpha, n_layers=max_iter, tol=tol, positive_code=positive
    )
    codes = solver.fit_transform(X)
    X64 = np.asarray(X, dtype=np.float64)
    cost = _lasso_cost(
        X64, codes.astype(np.float64), np.asarray(dictionary, float), alpha
    )
    return float(cost.mean()), codes


def depth_sweep(coders, X, dictionary, alpha, depths, *, optimal_cost=None):
    """Relative gap ``(F(z_q) - F*) / F*`` of each coder at each depth.

    Parameters
    ----------
    coders : dict of str -> estimator
        Unfitted coders; each is cloned with ``n_layers=q`` for every depth and
        fitted on `X` (training happens on `X` for learned coders).
    X : ndarray of shape (n_samples, n_features)
    dictionary : ndarray of shape (n_components, n_features)
    alpha : float
    depths : sequence of int
    optimal_cost : float, default=None
        ``F*``; computed by :func:`reference_cost` when None.

    Returns
    -------
    gaps : dict of str -> ndarray of shape (len(depths),)
    """
    from sklearn.base import clone

    if optimal_cost is None:
        optimal_cost, _ = reference_cost(X, dictionary, alpha)
    gaps = {}
    for name, coder in coders.items():
        values = []
        for depth in depths:
            estimator = clone(coder).set_params(n_layers=depth)
            cost = -estimator.fit(X).score(X)
            values.append((cost - optimal_cost) / optimal_cost)
        gaps[name] = np.asarray(values)
    return gaps


def train_depth_sweep(coder, X, depths):
    """Train a learned coder at increasing depths, each warm-started from the last.

    The network of depth ``depths[i]`` starts from the trained network of
    depth ``depths[i - 1]``, its extra layers at ISTA (FISTA) values: this is
    how the paper trains its depth sweep, and it costs far less than training
    each depth from scratch.

    Parameters
    ----------
    coder : LISTACoder, LFISTACoder or another learned coder
        Unfitted template; it is cloned, with ``warm_start=True``.
    X : array-like of shape (n_samples, n_features)
        Training signals.
    depths : sequence of int
        Increasing depths.

    Returns
    -------
    fitted : dict of int -> estimator
        An independent fitted copy per depth.

    Examples
    --------
    >>> from sklearn_lista import LISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> from sklearn_lista.experiments import train_depth_sweep
    >>> X, D, _ = make_sparse_coding(200, 20, 10, random_state=0)
    >>> template = LISTACoder(D, alpha=0.1 * alpha_max(X, D), max_iter=3)
    >>> models = train_depth_sweep(template, X, [1, 2, 4])
    >>> sorted(models), models[4].weights_x_.shape
    ([1, 2, 4], (4, 10, 20))
    """
    import copy
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    depths = list(depths)
    if sorted(depths) != depths or len(set(depths)) != len(depths):
        raise ValueError(f"depths must be strictly increasing, got {depths}.")
    estimator = clone(coder).set_params(warm_start=True)
    fitted = {}
    for depth in depths:
        estimator.set_params(n_layers=depth)
        with warnings.catch_warnings():
            if getattr(coder, "verbose", 0) == 0:
                warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X)
        fitted[depth] = copy.deepcopy(estimator)
    return fitted
