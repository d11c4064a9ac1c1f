"""The modern learned-ISTA family: compressed sensing, and the deep regime.

Table 1 of issue [2/6] (:func:`compressed_sensing_table`): the supervised
compressed-sensing benchmark of the LISTA-CPSS / ALISTA / HyperLISTA papers.
On :func:`~sklearn_lista.datasets.make_compressed_sensing`'s standard problem
(250 measurements, 500 unit-norm Gaussian atoms, Bernoulli(0.1)-Gaussian
codes, noiseless or at an SNR), every learned coder is trained stage-wise on
the true codes (``loss="squared_error"``, ``fit_algorithm="stagewise"``):
depth ``k`` is fitted from the trained depth ``k - 1`` (``warm_start``), so
the NMSE (dB) on held-out true codes is measured after each stage, as the
papers draw it. ISTA and FISTA run ``k`` iterations at the alpha (from a grid)
with the best NMSE on the training codes, per depth.

Table 2 of issue [2/6] (:func:`deep_regime_table`): on the Gaussian problem
(K=100 atoms, P=64 features, alpha = 0.1 alpha_max, Bernoulli-Gaussian codes
of density rho), the test relative Lasso gap ``(F(z_q) - F*) / F*`` after
``q`` layers of FISTA and of step-LISTA / step-FISTA
(:class:`sklearn_lista.StepLISTACoder`) trained on the unsupervised Lasso
loss with their default parameters, with the epochs and seconds each fit
took. ``F*`` comes from coordinate descent to a relative duality gap of
about 1e-11.

Usage::

    python benchmarks/bench_modern.py                 # depths 8, 16, 32; ~minutes
    python benchmarks/bench_modern.py --quick         # smoke run
    python benchmarks/bench_modern.py --table cs --snr inf --methods ALISTA
    python benchmarks/bench_modern.py --table cs --quick
    python benchmarks/bench_modern.py --tail          # 20 000 test signals, by quarters
    python benchmarks/bench_modern.py --rates         # contraction on the support
"""

import argparse
import copy
import json
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sklearn_lista import (
    ALISTACoder,
    FISTACoder,
    HyperLISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTACoder,
    StepLISTACoder,
)
from sklearn_lista.datasets import (
    alpha_max,
    make_compressed_sensing,
    make_sparse_coding,
)
from sklearn_lista.experiments import reference_cost
from sklearn_lista.metrics import nmse_db


def relative_gap(coder, X, optimal_cost):
    return (-coder.score(X) - optimal_cost) / optimal_cost


def gaussian_problem(density, n_train, n_test):
    """``(X_train, X_test, dictionary, alpha)`` of the deep-regime tables."""
    X, dictionary, _ = make_sparse_coding(
        n_train + n_test, density=density, random_state=0
    )
    X_train, X_test = X[:n_train], X[n_train:]
    return X_train, X_test, dictionary, 0.1 * alpha_max(X_train, dictionary)


def deep_regime_table(densities, depths, n_train, n_test, coder_params):
    print(
        f"\n== Learned steps, unsupervised Lasso loss: test relative gap "
        f"(K=100, P=64, {n_train} training / {n_test} test signals) =="
    )
    header = (
        f"{'rho':>5} {'depth':>5} {'FISTA':>10} {'step-ISTA':>10} {'x FISTA':>8} "
        f"{'epochs':>6} {'fit s':>6} {'step-FISTA':>10} {'x FISTA':>8} "
        f"{'epochs':>6} {'fit s':>6}"
    )
    print(header)
    for density in densities:
        X_train, X_test, dictionary, alpha = gaussian_problem(density, n_train, n_test)
        optimal_cost, _ = reference_cost(X_test, dictionary, alpha)
        for depth in depths:
            fista = FISTACoder(dictionary, alpha=alpha, n_layers=depth).fit(X_train)
            row = [relative_gap(fista, X_test, optimal_cost)]
            for momentum in (False, True):
                coder = StepLISTACoder(
                    dictionary,
                    alpha=alpha,
                    n_layers=depth,
                    momentum=momentum,
                    random_state=0,
                    **coder_params,
                )
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    coder.fit(X_train)
                seconds = time.perf_counter() - start
                row += [
                    relative_gap(coder, X_test, optimal_cost),
                    coder.n_iter_,
                    seconds,
                ]
            print(
                f"{density:>5.3f} {depth:>5d} {row[0]:>10.2e} {row[1]:>10.2e} "
                f"{row[0] / row[1]:>8.1f} {row[2]:>6d} {row[3]:>6.1f} "
                f"{row[4]:>10.2e} {row[0] / row[4]:>8.1f} {row[5]:>6d} {row[6]:>6.1f}",
                flush=True,
            )


# The supervised stage-wise recipe shared by the learned coders: target codes,
# mini-batches of 64 as in the papers, a fixed budget of epochs per stage (the
# plateau schedule halves the learning rate in between). Networks with a few
# scalars per layer use a larger learning rate (their scalars are trained in
# log coordinates) than those with full matrices.
CS_TRAINING = {
    "loss": "squared_error",
    "fit_algorithm": "stagewise",
    "warm_start": True,
    "batch_size": 64,
    "random_state": 0,
    # A fixed budget of --epochs per stage. tol=1e-6: an epoch counts as
    # progress unless it gains less than 1e-6 of what the stage has gained
    # so far (1e-6 of the loss when the first columns of the table were
    # measured: either way, any real decrease), so the plateau schedule
    # halves the rate only after epochs that do not lower the loss, and no
    # stage stops early (n_iter_no_change=10 > --epochs). No held-out split:
    # every stage is kept, trained on all the signals.
    "tol": 1e-6,
    "validation_guard": False,
}
# The networks with full weight matrices start from ISTA's (FISTA's) weights,
# as in the papers, not from a step network trained first (init="auto"):
# that step network is a Lasso solver at alpha, a poor start for recovering
# the true codes, and training it at every stage would double the cost.
CS_CODERS = {
    "LISTA": (LISTACoder(init="classical"), 5e-4),
    "LISTA-CP": (LISTACoder(parametrization="coupled", init="classical"), 5e-4),
    "LISTA-CPSS": (
        LISTACoder(parametrization="coupled", support_selection=True, init="classical"),
        5e-4,
    ),
    "ALISTA": (ALISTACoder(), 1e-2),
    "step-LISTA": (StepLISTACoder(), 1e-2),
    "LFISTA": (LFISTACoder(init="classical"), 5e-4),
}
CS_METHODS = ("ISTA", "FISTA", *CS_CODERS, "HyperLISTA", "HyperLISTA-1.3")
# HyperLISTA's three numbers: a grid search (the paper's tuning), then c1 and
# c2 trained by gradient from the best point of the grid.
HYPER_GRID = {
    "c1": [0.02, 0.04, 0.08, 0.16],
    "c2": [0.01, 0.02, 0.04],
    "c3": [3.0, 6.0, 12.0, 24.0],
}
# HyperLISTA-1.3: a larger step (not one of the paper's three numbers), its
# grid around the step-1 optimum, no gradient steps.
HYPER_STEP_GRID = {
    "c1": [0.04, 0.05, 0.06, 0.08],
    "c2": [0.01, 0.02, 0.03],
    "c3": [8.0, 12.0, 16.0],
}
# The papers' initial threshold lambda / L (ALISTA's code: lam = 0.4).
CS_ALPHA = 0.4


def tuned_classical(coder, dictionary, X, Z, depth, alphas):
    """The alpha of `alphas` with the best NMSE after `depth` iterations on
    (the first 1000 of) the training signals."""
    X, Z = X[:1000], Z[:1000]
    coder = clone(coder).set_params(dictionary=dictionary, n_layers=depth)
    scores = [
        nmse_db(Z, coder.set_params(alpha=alpha).fit_transform(X)) for alpha in alphas
    ]
    return alphas[int(np.argmin(scores))]


def tuned_hyper_lista(dictionary, X, Z, depth, epochs, step=1.0, grid=HYPER_GRID):
    """HyperLISTA at `depth`: the best grid point on (the first 1000 of) the
    training signals, then `epochs` of gradient steps on ``c1`` and ``c2``
    (none if `epochs` is 0)."""
    coder = HyperLISTACoder(
        dictionary,
        n_layers=depth,
        loss="squared_error",
        fit_hyperparameters=False,
        step=step,
    )
    best = None
    for c1 in grid["c1"]:
        for c2 in grid["c2"]:
            for c3 in grid["c3"]:
                coder.set_params(c1=c1, c2=c2, c3=c3)
                score = nmse_db(Z[:1000], coder.fit(X[:1]).transform(X[:1000]))
                if best is None or score < best[0]:
                    best = (score, c1, c2, c3)
    _, c1, c2, c3 = best
    coder.set_params(c1=c1, c2=c2, c3=c3)
    if not epochs:
        return coder.fit(X[:1]), f"{c1:g},{c2:g},{c3:g}"
    coder.set_params(
        fit_hyperparameters=True,
        fit_algorithm="end_to_end",
        max_iter=epochs,
        batch_size=64,
        learning_rate_init=1e-2,
        random_state=0,
        tol=1e-6,
        validation_guard=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X, Z)
    return coder, f"{c1:g},{c2:g},{c3:g}"


def compressed_sensing_table(
    methods,
    depths,
    snr,
    n_train,
    n_test,
    epochs,
    *,
    quick=False,
    output=None,
    learning_rate=None,
    stage_rates=None,
):
    """NMSE (dB) of the true test codes per depth, every method (table 1).

    `stage_rates`, pairs ``(factor, fraction)``: every stage of a learned
    coder is that many fits at the same depth (``warm_start``), the ``i``-th
    at ``factor_i`` times the learning rate on the next ``fraction_i`` of the
    training signals (the papers' decaying rates within a stage; each signal
    still seen once per stage with one epoch). None: one fit on them all.

    Returns ``{method: {"nmse": [...], "nmse_mean_of_db": [...], "seconds":
    [...]}}`` (one entry per depth, seconds cumulated over the stages).
    """
    size = {"n_measurements": 50, "n_components": 100} if quick else {}
    X, dictionary, Z = make_compressed_sensing(n_train, snr=snr, random_state=0, **size)
    X_test, _, Z_test = make_compressed_sensing(
        n_test, snr=snr, dictionary=dictionary, random_state=1
    )
    label = "noiseless" if snr is None else f"SNR {snr:g} dB"
    print(
        f"\n== Compressed sensing ({dictionary.shape[1]}, {dictionary.shape[0]}), "
        f"{label}: test NMSE (dB), ratio of means / mean of dB; "
        f"{n_train} training, {n_test} test signals, {epochs} epochs per stage ==",
        flush=True,
    )
    results = {}
    alphas = list(CS_ALPHA * np.geomspace(1, 1e-4, 9))
    for method in methods:
        record = results[method] = {"nmse": [], "nmse_mean_of_db": [], "seconds": []}
        start = time.perf_counter()

        def measure(depth, coder, note, method=method, record=record, start=start):
            codes = coder.transform(X_test)
            record["nmse"].append(nmse_db(Z_test, codes))
            record["nmse_mean_of_db"].append(
                nmse_db(Z_test, codes, average="mean_of_db")
            )
            record["seconds"].append(time.perf_counter() - start)
            print(
                f"{method:>11} depth {depth:>2d}: {record['nmse'][-1]:8.2f} "
                f"{record['nmse_mean_of_db'][-1]:8.2f} dB  "
                f"{record['seconds'][-1]:7.1f} s  {note}",
                flush=True,
            )

        if method in ("ISTA", "FISTA"):
            template = ISTACoder() if method == "ISTA" else FISTACoder()
            for depth in depths:
                alpha = tuned_classical(template, dictionary, X, Z, depth, alphas)
                coder = clone(template).set_params(
                    dictionary=dictionary, alpha=alpha, n_layers=depth
                )
                measure(depth, coder.fit(X[:1]), f"alpha={alpha:.3g}")
        elif method in ("HyperLISTA", "HyperLISTA-1.3"):
            if method == "HyperLISTA":
                coder, grid = tuned_hyper_lista(dictionary, X, Z, max(depths), epochs)
            else:
                coder, grid = tuned_hyper_lista(
                    dictionary, X, Z, max(depths), 0, step=1.3, grid=HYPER_STEP_GRID
                )
            note = (
                f"grid c={grid}, trained c={coder.c1_:.3g},{coder.c2_:.3g},"
                f"{coder.c3_:.3g}, {coder.n_iter_} epochs"
            )
            for depth in depths:
                # One triple for every depth (the paper's): the first layers
                # of the tuned network.
                truncated = clone(coder).set_params(
                    n_layers=depth,
                    fit_hyperparameters=False,
                    c1=coder.c1_,
                    c2=coder.c2_,
                    c3=coder.c3_,
                )
                measure(depth, truncated.fit(X[:1]), note)
        else:
            template, default_rate = CS_CODERS[method]
            coder = clone(template).set_params(
                dictionary=dictionary,
                alpha=CS_ALPHA,
                learning_rate_init=learning_rate or default_rate,
                max_iter=epochs,
                **CS_TRAINING,
            )
            if method == "step-LISTA":
                # Its threshold is alpha times its step: the code it converges
                # to is the Lasso solution at alpha, tuned like FISTA's.
                coder.set_params(
                    alpha=tuned_classical(
                        FISTACoder(), dictionary, X, Z, max(depths), alphas
                    )
                )
            rate = coder.learning_rate_init
            phases = [(1.0, slice(None))]
            if stage_rates:
                bounds = np.cumsum([0.0] + [f for _, f in stage_rates])
                bounds = np.round(bounds / bounds[-1] * len(X)).astype(int)
                phases = [
                    (factor, slice(lo, hi))
                    for (factor, _), lo, hi in zip(
                        stage_rates, bounds[:-1], bounds[1:], strict=True
                    )
                ]
            for depth in range(1, max(depths) + 1):
                coder.set_params(n_layers=depth)
                for factor, part in phases:
                    coder.set_params(learning_rate_init=rate * factor)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        coder.fit(X[part], Z[part])
                if depth in depths:
                    measure(depth, coder, f"epochs={coder.n_iter_} (all stages)")
        if output:
            with open(output, "w") as handle:
                json.dump(results, handle, indent=1)
    return results


def _tail_row(label, coder, X_test, problem, optimal_costs, density):
    from sklearn_lista._lasso import duality_gaps

    codes = coder.transform(X_test)
    _, costs = duality_gaps(
        X_test, codes, problem.dictionary, problem.alpha, problem.positive
    )
    excess = costs - optimal_costs
    quarters = [excess[i::4].sum() / optimal_costs[i::4].sum() for i in range(4)]
    gap = excess.sum() / optimal_costs.sum()
    print(
        f"{density:>5.3f} {label:>14} {gap:>10.2e}  "
        f"{' '.join(f'{q:.2e}' for q in quarters):<44} "
        f"{excess.max() / optimal_costs.sum():>9.1e}",
        flush=True,
    )


def support_rates_table(densities, n_train, n_test):
    """Per-iteration contraction on the solution's support: why learned
    steps help ISTA at density 1/20 and not enough at 1/4.

    Once the support ``S`` is found, ISTA is gradient descent on a quadratic
    with Hessian ``D_S D_S^T`` (eigenvalues ``mu_S .. L_S``): with the best
    fixed step it contracts by ``(L_S - mu_S) / (L_S + mu_S)`` per
    iteration, while FISTA at ``1 / L`` contracts by about
    ``1 - sqrt(mu_S / L)``. Medians over the test signals' Lasso supports.
    """
    print(
        "\n== Contraction per iteration on the Lasso support (medians over "
        f"{n_test} test signals; K=100, P=64) =="
    )
    print(
        f"{'rho':>5} {'|S|':>4} {'L / L_S':>8} {'step-ISTA (L_S-mu_S)/(L_S+mu_S)':>32}"
        f" {'FISTA 1-sqrt(mu_S/L)':>21}"
    )
    for density in densities:
        X_train, X_test, dictionary, alpha = gaussian_problem(density, n_train, n_test)
        _, optimum = reference_cost(X_test, dictionary, alpha)
        lipschitz = np.linalg.norm(dictionary, 2) ** 2
        rows = []
        for code in optimum:
            support = np.flatnonzero(code)
            if support.size:
                eigenvalues = np.linalg.eigvalsh(
                    dictionary[support] @ dictionary[support].T
                )
                mu, top = eigenvalues[0], eigenvalues[-1]
                rows.append(
                    (
                        support.size,
                        lipschitz / top,
                        (top - mu) / (top + mu),
                        1 - np.sqrt(mu / lipschitz),
                    )
                )
        size, ratio, ista, fista = np.median(np.array(rows), axis=0)
        print(f"{density:5.3f} {size:4.0f} {ratio:8.2f} {ista:32.3f} {fista:21.3f}")


def tail_table(n_train, n_test, depths, coder_params):
    """Test gap of warm-started step sweeps on a large test set, by quarters:
    how much of a small mean gap a few signals carry."""
    from sklearn_lista._lasso import LassoProblem
    from sklearn_lista.experiments import make_problem, train_depth_sweep

    print(
        f"\n== Heavy tail: test gap on {n_test} signals and on each quarter; "
        f"depth sweeps {depths} on {n_train} training signals =="
    )
    print(f"{'rho':>5} {'coder':>14} {'gap':>10}  {'quarters':<44} {'1-signal':>9}")
    for name, density, momentum in (
        ("gaussian-sparse", 0.05, False),
        ("gaussian-dense", 0.25, True),
    ):
        data = make_problem(name, n_train=n_train, n_test=n_test)
        problem = LassoProblem(data.dictionary, data.alpha)
        _, optimum = reference_cost(data.X_test, data.dictionary, data.alpha)
        optimal_costs = problem.cost(data.X_test, optimum)
        rows = (data.X_test, problem, optimal_costs, density)
        fista = FISTACoder(data.dictionary, alpha=data.alpha, n_layers=depths[-1])
        _tail_row(f"FISTA-{depths[-1]}", fista.fit(data.X_train), *rows)
        template = StepLISTACoder(
            data.dictionary,
            alpha=data.alpha,
            momentum=momentum,
            random_state=0,
            **coder_params,
        )
        models = train_depth_sweep(template, data.X_train, depths)
        label = "step-FISTA" if momentum else "step-ISTA"
        # The same sweep trained through the monotone safeguard.
        guarded_models = train_depth_sweep(
            clone(template).set_params(safeguard=True), data.X_train, depths
        )
        for depth in depths[-3:]:
            _tail_row(f"{label}-{depth}", models[depth], *rows)
            # The same trained steps, encoding with the safeguard.
            guarded = copy.deepcopy(models[depth]).set_params(safeguard=True)
            _tail_row(f"+safeguard-{depth}", guarded, *rows)
            _tail_row(f"trained-sg-{depth}", guarded_models[depth], *rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--densities", type=float, nargs="+", default=[0.05, 0.25])
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--max-iter", type=int, default=200, help="epochs")
    parser.add_argument("--table", choices=["deep", "cs"], default="deep")
    parser.add_argument(
        "--snr", type=float, default=None, help="dB, compressed sensing (inf: none)"
    )
    parser.add_argument("--methods", nargs="+", default=list(CS_METHODS))
    parser.add_argument("--epochs", type=int, default=10, help="per stage (cs)")
    parser.add_argument("--output", default=None, help="JSON of the cs results")
    parser.add_argument("--max-depth", type=int, default=16, help="cs: depths 1..")
    parser.add_argument("--cs-n-train", type=int, default=6400, help="cs signals")
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="cs: instead of the table's"
    )
    parser.add_argument(
        "--stage-rates",
        default=None,
        help="cs: 'factor:fraction,...', e.g. 1:3,0.2:2,0.02:1: each stage is "
        "fits at factor x the rate on consecutive fractions of the signals",
    )
    parser.add_argument(
        "--tail",
        action="store_true",
        help="the heavy-tail table (20 000 test signals) instead",
    )
    parser.add_argument(
        "--rates",
        action="store_true",
        help="the contraction on the Lasso support (step-ISTA against FISTA)",
    )
    args = parser.parse_args()
    if args.rates:
        support_rates_table(args.densities, args.n_train, 2000)
        return
    if args.tail:
        sizes = (
            (500, 2000, [1, 2, 4]) if args.quick else (5000, 20_000, [1, 2, 4, 8, 16])
        )
        tail_table(*sizes, {"max_iter": args.max_iter})
        return
    stage_rates = None
    if args.stage_rates:
        stage_rates = [
            tuple(float(v) for v in pair.split(":"))
            for pair in args.stage_rates.split(",")
        ]
    if args.table == "cs":
        snr = None if args.snr is None or not np.isfinite(args.snr) else args.snr
        if args.quick:
            compressed_sensing_table(
                args.methods, [1, 2, 4], snr, 640, 200, 2, quick=True
            )
            return
        compressed_sensing_table(
            args.methods,
            list(range(1, args.max_depth + 1)),
            snr,
            args.cs_n_train,
            2000,
            args.epochs,
            output=args.output,
            learning_rate=args.learning_rate,
            stage_rates=stage_rates,
        )
        return
    if args.quick:
        deep_regime_table([0.05], [4, 8], 1000, 500, {"max_iter": 10})
        return
    deep_regime_table(
        args.densities, args.depths, args.n_train, 2000, {"max_iter": args.max_iter}
    )


if __name__ == "__main__":
    main()
