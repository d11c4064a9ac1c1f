"""The modern learned-ISTA family: learned step sizes in the deep regime.

Table 2 of issue [2/6]: on the Gaussian problem (K=100 atoms, P=64 features,
alpha = 0.1 alpha_max, Bernoulli-Gaussian codes of density rho), the test
relative Lasso gap ``(F(z_q) - F*) / F*`` after ``q`` layers of FISTA and of
step-LISTA / step-FISTA (:class:`sklearn_lista.StepLISTACoder`) trained on
the unsupervised Lasso loss with their default parameters, with the epochs
and seconds each fit took. ``F*`` comes from coordinate descent to a
relative duality gap of about 1e-11.

Usage::

    python benchmarks/bench_modern.py                 # depths 8, 16, 32; ~minutes
    python benchmarks/bench_modern.py --quick         # smoke run
    python benchmarks/bench_modern.py --tail          # 20 000 test signals, by quarters
"""

import argparse
import time
import warnings

from sklearn.exceptions import ConvergenceWarning

from sklearn_lista import FISTACoder, StepLISTACoder
from sklearn_lista.datasets import alpha_max, make_sparse_coding
from sklearn_lista.experiments import reference_cost


def relative_gap(coder, X, optimal_cost):
    return (-coder.score(X) - optimal_cost) / optimal_cost


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
        X, dictionary, _ = make_sparse_coding(
            n_train + n_test, density=density, random_state=0
        )
        X_train, X_test = X[:n_train], X[n_train:]
        alpha = 0.1 * alpha_max(X_train, dictionary)
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
        for depth in depths[-2:]:
            _tail_row(f"{label}-{depth}", models[depth], *rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--densities", type=float, nargs="+", default=[0.05, 0.25])
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--max-iter", type=int, default=200, help="epochs")
    parser.add_argument(
        "--tail",
        action="store_true",
        help="the heavy-tail table (20 000 test signals) instead",
    )
    args = parser.parse_args()
    if args.tail:
        sizes = (
            (500, 2000, [1, 2, 4]) if args.quick else (5000, 20_000, [1, 2, 4, 8, 16])
        )
        tail_table(*sizes, {"max_iter": args.max_iter})
        return
    if args.quick:
        deep_regime_table([0.05], [4, 8], 1000, 500, {"max_iter": 10})
        return
    deep_regime_table(
        args.densities, args.depths, args.n_train, 2000, {"max_iter": args.max_iter}
    )


if __name__ == "__main__":
    main()
