"""``python -m sklearn_lista``: the paper's comparison, as a table and a figure.

Trains LISTA, LFISTA, FacNet, step-LISTA and step-FISTA at increasing
depths (each depth warm-started from the previous one; the methods in
parallel processes, one per core) on one of the paper's problems, runs ISTA
and FISTA for the same numbers of iterations, prints the relative test gap
``(F(z_q) - F*) / F*`` per depth and method (``F*`` from coordinate descent
to a duality gap of 1e-12), and draws it log-log into a PNG file.
"""

import argparse
import sys
import time

from . import __version__
from .experiments import (
    LEARNED_METHODS,
    METHODS,
    PAPER_METHODS,
    PROBLEMS,
    STEP_METHODS,
    compare_coders,
    make_problem,
)

MAIN_METHODS = (*PAPER_METHODS, *STEP_METHODS)


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_lista",
        description=(
            "Reproduce the paper's comparison: relative test gap "
            "(F(z_q) - F*) / F* of ISTA, FISTA and the learned coders after q "
            "layers (iterations), as a table and a log-log figure."
        ),
        epilog="Problems: "
        + "; ".join(f"{name}: {text}" for name, text in PROBLEMS.items()),
    )
    parser.add_argument(
        "--problem",
        choices=list(PROBLEMS),
        default="gaussian-sparse",
        help="which problem (default gaussian-sparse)",
    )
    parser.add_argument(
        "--max-layers",
        type=int,
        default=None,
        help="deepest network; depths are 1, 2, 4, ... up to it "
        "(default 32, 8 with --quick)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=list(MAIN_METHODS),
        help="methods to compare (default: the paper's five and the step coders)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="worker processes training the methods depth by depth (-1: one per core)",
    )
    parser.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="training signals (default 5000, 1000 with --quick)",
    )
    parser.add_argument(
        "--n-test",
        type=int,
        default=None,
        help="test signals (default 1000, 300 with --quick)",
    )
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="training epochs per depth for the learned coders "
        "(default: the coders' max_iter, 200; 50 with --quick)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="PNG file for the figure (default sklearn_lista_<problem>.png); "
        "'none' to skip the figure",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small run for a first look (well under a minute)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    defaults = {
        "max_layers": (32, 8),
        "n_train": (5000, 1000),
        "n_test": (1000, 300),
        "max_epochs": (None, 50),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        elif getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.n_jobs == 0:
        parser.error("--n-jobs must be a positive integer or negative (-1: all cores)")
    if args.output is None:
        args.output = f"sklearn_lista_{args.problem}.png"
    return args


def format_table(depths, gaps):
    """Render ``{method: gaps per depth}`` as a fixed-width text table."""
    names = list(gaps)
    header = f"{'depth':>6} " + " ".join(f"{name:>12}" for name in names)
    lines = [header, "-" * len(header)]
    for row, depth in enumerate(depths):
        cells = " ".join(f"{gaps[name][row]:>12.3e}" for name in names)
        lines.append(f"{depth:>6} {cells}")
    return "\n".join(lines)


def _save_figure(result, path, title):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "\nmatplotlib is not installed: no figure "
            '(pip install matplotlib, or pip install "sklearn-lista[plot]")'
        )
        return
    from .experiments import plot_gap_curves

    ax = plot_gap_curves(result, title=title)
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
    print(f"\nfigure written to {path}")


def main(argv=None):
    args = _parse_args(argv)
    start = time.perf_counter()
    depths = [2**k for k in range(args.max_layers.bit_length())]
    problem = make_problem(
        args.problem, n_train=args.n_train, n_test=args.n_test, random_state=args.seed
    )
    X_train, X_test = problem.X_train, problem.X_test
    print(f"problem {args.problem}: {problem.description}")
    print(
        f"{len(X_train)} training / {len(X_test)} test signals, "
        f"K={problem.dictionary.shape[0]}, P={problem.dictionary.shape[1]}, "
        f"alpha={problem.alpha:.4g}; depths {depths}\n"
    )
    coder_params = {}
    if args.max_epochs is not None:
        coder_params = {name: {"max_iter": args.max_epochs} for name in LEARNED_METHODS}
    result = compare_coders(
        problem,
        depths,
        methods=args.methods,
        coder_params=coder_params,
        random_state=args.seed,
        progress=lambda line: print(line, flush=True),
        n_jobs=args.n_jobs,
    )
    print(f"\nF* = {result.optimal_cost:.10g} on the test signals")
    print("Relative test gap (F(z_q) - F*) / F*")
    print(format_table(depths, result.gaps))
    if args.output.lower() != "none":
        _save_figure(result, args.output, f"{args.problem} (test signals)")
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
