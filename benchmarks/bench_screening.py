"""What Gap Safe screening could save the ``tol`` path of ISTA/FISTA.

Gap Safe rules (Fercoq, Gramfort & Salmon, 2015; Ndiaye et al., 2017, JMLR
18(128)) prove atoms inactive from a primal-dual pair. For our per-sample
Lasso ``0.5 ||x - z D||^2 + alpha ||z||_1`` the dual is
``max_u 0.5 ||x||^2 - 0.5 ||x - u||^2`` subject to ``||D u||_inf <= alpha``
(``u`` in the signal space; its objective is 1-strongly concave), so the dual
optimum lies within ``sqrt(2 gap)`` of any feasible ``u``. With the rescaled
residual ``u = s r`` (``r = x - z D``, ``s = min(1, alpha / ||D r||_inf)``),
the dual point of our duality gap checks, atom ``j`` is zero in the solution
if

    s |d_j . r| + sqrt(2 gap) ||d_j|| < alpha

(``s d_j . r + ... < alpha`` for positive codes). It is the rule of Ndiaye et
al. with their scaled dual ``theta = u / alpha``.

Screening pays if atoms are screened while samples still iterate. For each
iteration ``m`` of the solver's own iterates (ISTA at density 1/20, the steps
the ``tol`` path takes row by row there; FISTA with restart at density 1/4,
where the ``tol`` path iterates on the whole array), this prints the median
relative gap, the share of atoms the rule screens, the share of samples the
``tol`` path (polishing on, ``tol=1e-6``) has not finished after ``m``
iterations, and an upper bound of the share of iteration work that screening
from the gap at ``m`` could remove: the screened share times the share of the
per-sample iterations run after ``m`` (nothing of polishing, gap checks or
the first product ``X D^T``; at density 1/4 those iterations are BLAS
products of the whole working set, which per-sample screening cannot shrink).
"safety" counts screened atoms in the support of the exact solution (must be
0).

Run from the repository root (about 30 s)::

    python benchmarks/bench_screening.py
"""

import argparse
import platform
import time

import numpy as np
import sklearn
from _tables import print_table
from bench_peers import regime_test_signals, training_problem

import sklearn_lista
from sklearn_lista._lasso import lipschitz_constant
from sklearn_lista._solvers import iterative_thresholding
from sklearn_lista.experiments import reference_cost

# (density, alpha / alpha_max, accelerated): the steps the tol path takes.
REGIMES = ((0.05, 0.1, False), (0.25, 0.02, True))
ITERATIONS = (1, 2, 3, 5, 10, 20, 30, 50, 100)
TOL = 1e-6
GAP_FLOOR = 1e-12


def gap_safe(X, codes, dictionary, alpha):
    """Per-sample relative gap and the Gap Safe sphere test's screened atoms."""
    residual = X - codes @ dictionary
    correlation = residual @ dictionary.T
    dual_norm = np.abs(correlation).max(axis=1)
    scale = np.minimum(1.0, alpha / np.maximum(dual_norm, 1e-300))
    r2 = np.einsum("ij,ij->i", residual, residual)
    primal = 0.5 * r2 + alpha * np.abs(codes).sum(axis=1)
    dual = scale * np.einsum("ij,ij->i", X, residual) - 0.5 * scale**2 * r2
    gap = np.maximum(primal - dual, 0.0)
    # Rounding: near the optimum the computed gap may be 0 while the support
    # atoms sit on the bound |d_j . u| = alpha up to rounding; a floor on the
    # gap far above rounding keeps the rule safe (without it, 3 of 6 600
    # support atoms were "screened" at a computed gap of 0 at m = 100).
    gap = np.maximum(gap, GAP_FLOOR * primal)
    radius = np.sqrt(2.0 * gap)
    norms = np.linalg.norm(dictionary, axis=1)
    screened = (
        scale[:, None] * np.abs(correlation) + radius[:, None] * norms[None, :] < alpha
    )
    return gap / np.maximum(primal, np.finfo(float).tiny), screened


def unfinished_shares(X, dictionary, alpha, lipschitz, accelerated, max_iter):
    """Share of samples the tol path has not finished after m iterations."""
    shares = [1.0]
    for m in range(1, max_iter + 1):
        _, n_unconverged = iterative_thresholding(
            X,
            dictionary,
            alpha,
            n_iter=m,
            lipschitz=lipschitz,
            tol=TOL,
            accelerated=accelerated,
            restart=accelerated,
        )
        shares.append(n_unconverged / X.shape[0])
        if n_unconverged == 0:
            break
    return np.array(shares)


def run_regime(density, ratio, accelerated, n_samples):
    # The problems of bench_peers.py: training signals set alpha_max.
    _, dictionary, alpha = training_problem(density, ratio, 10000)
    X = regime_test_signals(n_samples, density, dictionary)
    lipschitz = lipschitz_constant(dictionary)
    _, exact = reference_cost(X, dictionary, alpha)
    support = exact != 0
    unfinished = unfinished_shares(
        X, dictionary, alpha, lipschitz, accelerated, max(ITERATIONS)
    )
    # Per-sample iterations after m, over all per-sample iterations.
    total = unfinished[1:].sum()
    rows = []
    for m in ITERATIONS:
        codes, _ = iterative_thresholding(
            X,
            dictionary,
            alpha,
            n_iter=m,
            lipschitz=lipschitz,
            accelerated=accelerated,
            restart=accelerated,
            path="dense",
        )
        relative_gap, screened = gap_safe(X, codes, dictionary, alpha)
        left = unfinished[m] if m < unfinished.size else 0.0
        after = unfinished[m + 1 :].sum() / total if m + 1 < unfinished.size else 0.0
        rows.append(
            [
                m,
                f"{np.median(relative_gap):.1e}",
                f"{np.count_nonzero(codes, axis=1).mean():.1f}",
                f"{screened.mean():.3f}",
                f"{left:.3f}",
                f"{after:.3f}",
                f"{screened.mean() * after:.3f}",
                int((screened & support).sum()),
            ]
        )
    name = "FISTA (restart)" if accelerated else "ISTA"
    print_table(
        f"Gap Safe screening on {name} iterates, density {density}, "
        f"alpha = {ratio} alpha_max, N = {n_samples}",
        [
            "iteration m",
            "median rel. gap",
            "nnz",
            "screened",
            "unfinished",
            "its after m",
            "max saving",
            "safety",
        ],
        rows,
        notes=(
            f"exact support: {support.sum(axis=1).mean():.1f} atoms per sample; "
            f"the tol path (tol={TOL:g}, polishing) finishes every sample in "
            f"{unfinished.size - 1} iterations, "
            f"{total:.2f} iterations per sample on average.",
            "screened: share of the (sample, atom) pairs the sphere test "
            "proves zero; unfinished: share of samples the tol path has not "
            "finished after m iterations; its after m: share of the "
            "per-sample iterations run after m; max saving = screened x its "
            "after m.",
        ),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=2000)
    args = parser.parse_args()
    print(__doc__.splitlines()[0])
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, sklearn_lista "
        f"{sklearn_lista.__version__}"
    )
    start = time.perf_counter()
    for density, ratio, accelerated in REGIMES:
        run_regime(density, ratio, accelerated, args.n_samples)
    print(f"\ntotal time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
