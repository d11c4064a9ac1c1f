"""``python -m sklearn_lista``: the paper's comparison on a default problem.

Generates the Gaussian sparse coding problem, runs every coder at increasing
depths and prints the relative cost gap ``(F(z_q) - F*) / F*`` per depth,
where ``F*`` comes from FISTA run to a duality gap of 1e-12.
"""

import argparse
import sys
import time

from . import FISTACoder, ISTACoder, __version__
from .datasets import alpha_max, make_sparse_coding
from .experiments import depth_sweep, reference_cost

DEFAULT_DEPTHS = (1, 2, 4, 8, 16, 32, 64, 128)


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_lista",
        description=(
            "Compare sparse coders on the Gaussian dictionary / Bernoulli-Gaussian "
            "codes problem: relative gap (F(z_q) - F*) / F* of the mean Lasso "
            "cost after q layers (iterations)."
        ),
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--n-samples", type=int, default=2000, help="number of signals (default 2000)"
    )
    parser.add_argument(
        "--n-components", type=int, default=100, help="atoms K (default 100)"
    )
    parser.add_argument(
        "--n-features", type=int, default=64, help="signal dimension P (default 64)"
    )
    parser.add_argument(
        "--density",
        type=float,
        default=0.05,
        help="probability rho that a code entry is non-zero (default 0.05)",
    )
    parser.add_argument(
        "--code-scale",
        type=float,
        default=10.0,
        help="standard deviation sigma of the non-zero code entries (default 10)",
    )
    parser.add_argument(
        "--alpha-fraction",
        type=float,
        default=0.1,
        help="alpha as a fraction of alpha_max = max_i ||D x_i||_inf (default 0.1)",
    )
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        default=list(DEFAULT_DEPTHS),
        help="depths q to evaluate (default: 1 2 4 ... 128)",
    )
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    for name in ("n_samples", "n_components", "n_features"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.code_scale <= 0:
        parser.error("--code-scale must be positive")
    if not 0 < args.density <= 1:
        parser.error("--density must be in (0, 1]")
    if args.alpha_fraction <= 0:
        parser.error("--alpha-fraction must be positive")
    if min(args.depths) < 1:
        parser.error("--depths must be positive integers")
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


def main(argv=None):
    args = _parse_args(argv)
    start = time.perf_counter()
    X, dictionary, _ = make_sparse_coding(
        args.n_samples,
        args.n_components,
        args.n_features,
        density=args.density,
        code_scale=args.code_scale,
        random_state=args.seed,
    )
    alpha = args.alpha_fraction * alpha_max(X, dictionary)
    if alpha == 0:
        print(
            "every generated signal is zero (try a larger --density or "
            "--n-samples): nothing to encode",
            file=sys.stderr,
        )
        return 1
    print(
        f"Gaussian problem: {args.n_samples} signals, K={args.n_components}, "
        f"P={args.n_features}, rho={args.density}, sigma={args.code_scale}, "
        f"alpha={args.alpha_fraction} * alpha_max = {alpha:.4g}"
    )
    optimal_cost, _ = reference_cost(X, dictionary, alpha)
    print(f"F* = {optimal_cost:.10g} (FISTA, relative duality gap <= 1e-12)\n")
    coders = {
        "ISTA": ISTACoder(dictionary, alpha=alpha),
        "FISTA": FISTACoder(dictionary, alpha=alpha),
    }
    depths = sorted(set(args.depths))
    gaps = depth_sweep(coders, X, dictionary, alpha, depths, optimal_cost=optimal_cost)
    print("Relative gap (F(z_q) - F*) / F*")
    print(format_table(depths, gaps))
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
