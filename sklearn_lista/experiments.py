"""Depth sweeps: the relative cost gap of coders as a function of depth."""

import numpy as np

from ._base import _lasso_cost
from ._classical import FISTACoder

__all__ = ["reference_cost", "depth_sweep"]


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
