"""Time to accuracy of sparse coders: our solvers against the Lasso peers.

Problem: Gaussian dictionary (K=100 atoms, P=64 features) and
Bernoulli-Gaussian codes (``make_sparse_coding``) in two regimes, the sparse
one (density 0.05, ``alpha = 0.1 * alpha_max``) and the dense one (density
0.25, ``alpha = 0.02 * alpha_max``), with N = 2 000 and 10 000 test signals.

Measured in the same process, on the same data, float64:

* ``sklearn.decomposition.sparse_encode`` with ``lasso_cd`` (``max_iter``
  swept) and ``lasso_lars``;
* ``spams.lasso`` (package ``spams-bin``, LARS);
* ``celer.Lasso`` and ``skglm.Lasso``, one fit per signal (``tol`` swept);
* ours: ``ISTACoder`` / ``FISTACoder`` with ``tol`` swept (``n_layers=10000``;
  support polishing on, as by default), the same without support polishing
  (rows "... unpolished": the solver before polishing, for the before/after
  comparison in the same run), and ``LISTACoder`` / ``LFISTACoder`` /
  ``FacNetCoder`` at depths 4, 8, 16, trained beforehand on separate signals
  (training time reported apart; ``--classical-only`` skips them).

The accuracy is the relative gap ``(F - F*) / F*`` of the mean Lasso cost
(``sklearn_lista.lasso_cost``, the cost every method minimises with the same
``alpha``) to ``F*`` from ``reference_cost`` (FISTA to a relative duality gap
of 1e-12). Times are medians over interleaved repeats after one warm-up call;
the warm-up (which includes numba's compilation or cache load for ours) is
reported in its own column. The time to reach a gap ``g`` of a method is the
time of its fastest setting whose gap is at most ``g``.

celer and skglm solve one signal per call (their Lasso is a regression on the
P features): a Python loop over signals. They are timed on the first
``--per-sample`` signals and their time is scaled by ``N / per_sample``
(marked ``*``); their gap is measured on the same signals.

By default every method runs on one core (BLAS limited to one thread, spams
``numThreads=1``, ``n_jobs=1``); ``--threads 2`` lets each use two.

Run from the repository root::

    pip install -e ".[bench]"                 # celer, skglm, spams-bin, psutil
    python benchmarks/bench_peers.py           # full run, ~15 minutes
    python benchmarks/bench_peers.py --quick   # smoke run, ~1 minute
    python benchmarks/bench_peers.py --classical-only --n-samples 10000
    python benchmarks/bench_peers.py --exact --n-samples 10000 --threads 2

``--exact`` times only what the exact-code targets compare (``spams.lasso``,
``sparse_encode(lasso_cd, max_iter=1000)``, our coders at ``tol=1e-6``), 21
interleaved repeats, and adds the ratios of the times within each repeat
(robust to the load of a shared machine drifting between repeats).
"""

import argparse
import contextlib
import os
import platform
import sys
import time
import warnings

import numpy as np
import sklearn
from _tables import print_table
from sklearn.decomposition import sparse_encode
from threadpoolctl import threadpool_limits

import sklearn_lista
from sklearn_lista import (
    FacNetCoder,
    FISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTACoder,
    lasso_cost,
)
from sklearn_lista.datasets import alpha_max, make_sparse_coding
from sklearn_lista.experiments import reference_cost, train_depth_sweep

N_COMPONENTS = 100
N_FEATURES = 64
REGIMES = ((0.05, 0.1), (0.25, 0.02))
GAP_TARGETS = (1e-2, 1e-4, 1e-6, 1e-9)
DEPTHS = (4, 8, 16)
TOLS_OURS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8)
TOLS_PER_SAMPLE = (1e-2, 1e-4, 1e-6)
MAX_ITER_CD = (2, 5, 10, 30, 1000)
# --exact: the peers of the exact-code targets and the coders a user would
# pick for exact codes (the first two are the peers).
EXACT_METHODS = (
    ("spams.lasso", "mode=2"),
    ("sparse_encode lasso_cd", "max_iter=1000"),
    ("FISTACoder", "tol=1e-06"),
    ("ISTACoder", "tol=1e-06"),
    ("FISTACoder unpolished", "tol=1e-06"),
)


class UnpolishedISTA(ISTACoder):
    """ISTACoder with support polishing off (the solver before it)."""

    _polish = False


class UnpolishedFISTA(FISTACoder):
    """FISTACoder with support polishing off (the solver before it)."""

    _polish = False


FAMILY_NAMES = {
    UnpolishedISTA: "ISTACoder unpolished",
    UnpolishedFISTA: "FISTACoder unpolished",
}
PEER_FAMILIES = (
    "sparse_encode lasso_cd",
    "sparse_encode lasso_lars",
    "spams.lasso",
    "celer.Lasso",
    "skglm.Lasso",
)


class Method:
    """One setting of one method: ``run()`` returns the codes of its signals."""

    def __init__(self, family, setting, run, X, scale=1.0):
        self.family, self.setting, self.run = family, setting, run
        self.X, self.scale = X, scale  # scale: N / signals actually coded
        self.times = []

    def first_call(self, dictionary, alpha, optimal_costs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning of short runs
            start = time.perf_counter()
            codes = self.run()
            self.warmup = time.perf_counter() - start
        cost = lasso_cost(self.X, codes, dictionary, alpha).mean()
        reference = optimal_costs[: self.X.shape[0]].mean()
        self.gap = (cost - reference) / reference

    def timed_call(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            self.run()
            self.times.append(time.perf_counter() - start)

    @property
    def time(self):
        return self.scale * float(np.median(self.times))


def make_methods(X, dictionary, alpha, models, args):
    n_threads = args.threads
    methods = []

    def sk(algorithm, max_iter=1000):
        def run():
            return sparse_encode(
                X,
                dictionary,
                algorithm=algorithm,
                alpha=alpha,
                max_iter=max_iter,
                n_jobs=n_threads,
            )

        return run

    for max_iter in MAX_ITER_CD:
        methods.append(
            Method(
                "sparse_encode lasso_cd",
                f"max_iter={max_iter}",
                sk("lasso_cd", max_iter),
                X,
            )
        )
    methods.append(Method("sparse_encode lasso_lars", "default", sk("lasso_lars"), X))

    try:
        import spams
    except ImportError:
        print("spams is not installed (pip install spams-bin): no spams rows")
    else:
        signals, atoms = np.asfortranarray(X.T), np.asfortranarray(dictionary.T)

        def run_spams():
            codes = spams.lasso(
                signals, D=atoms, lambda1=alpha, mode=2, numThreads=n_threads
            )
            return codes.T.toarray()

        methods.append(Method("spams.lasso", "mode=2", run_spams, X))

    # Per-sample regressions: min 1/(2P) ||x - D^T z||^2 + (alpha/P) ||z||_1,
    # the same minimiser as our per-sample cost.
    X_sub = X[: args.per_sample]
    design = np.asfortranarray(dictionary.T)
    scale = X.shape[0] / X_sub.shape[0]
    for module, family in (("celer", "celer.Lasso"), ("skglm", "skglm.Lasso")):
        try:
            lasso = __import__(module).Lasso
        except ImportError as error:
            print(f"{module} is not importable ({error}): no {family} rows")
            continue
        for tol in TOLS_PER_SAMPLE:
            estimator = lasso(alpha=alpha / N_FEATURES, fit_intercept=False, tol=tol)

            def run(estimator=estimator):
                return np.array([estimator.fit(design, x).coef_ for x in X_sub])

            methods.append(Method(family, f"tol={tol:g}", run, X_sub, scale))

    for cls in (ISTACoder, FISTACoder, UnpolishedISTA, UnpolishedFISTA):
        for tol in TOLS_OURS:
            coder = cls(
                dictionary, alpha=alpha, n_layers=10000, tol=tol, n_jobs=n_threads
            )
            methods.append(
                Method(
                    FAMILY_NAMES.get(cls, cls.__name__),
                    f"tol={tol:g}",
                    lambda coder=coder: coder.fit(X).transform(X),
                    X,
                )
            )
    for name, fitted in models.items():
        for depth, model in fitted.items():
            model.set_params(n_jobs=n_threads)
            methods.append(
                Method(name, f"depth {depth}", lambda m=model: m.transform(X), X)
            )
    return methods


def train_models(X_train, dictionary, alpha, args):
    templates = {
        "LISTACoder": LISTACoder(
            dictionary, alpha=alpha, max_iter=args.epochs, random_state=0
        ),
        "LFISTACoder": LFISTACoder(
            dictionary, alpha=alpha, max_iter=args.epochs, random_state=0
        ),
        "FacNetCoder": FacNetCoder(
            dictionary, alpha=alpha, max_iter=args.facnet_epochs, random_state=0
        ),
    }
    models, rows = {}, []
    for name, template in templates.items():
        start = time.perf_counter()
        models[name] = train_depth_sweep(template, X_train, args.depths)
        seconds = time.perf_counter() - start
        epochs = [models[name][d].n_iter_ for d in args.depths]
        rows.append([name, f"{seconds:.1f}", " ".join(map(str, epochs))])
    print_table(
        f"Training ({X_train.shape[0]} signals, depths {list(args.depths)} "
        "warm-started in turn)",
        ["model", "train s", "epochs per depth"],
        rows,
        notes=[
            f"max_iter={args.epochs} epochs (FacNet {args.facnet_epochs}), "
            "other training parameters default; train_depth_sweep."
        ],
    )
    return models


def time_to_gap(methods, target):
    """Fastest time of each family whose gap is at most `target`."""
    best = {}
    for method in methods:
        if method.gap <= target:
            current = best.get(method.family)
            if current is None or method.time < current.time:
                best[method.family] = method
    return best


def training_problem(density, ratio, n_train):
    """The training signals of a regime, its dictionary and its alpha
    (``ratio * alpha_max`` of the training signals)."""
    X_train, dictionary, _ = make_sparse_coding(
        n_train, N_COMPONENTS, N_FEATURES, density=density, random_state=0
    )
    return X_train, dictionary, ratio * alpha_max(X_train, dictionary)


def regime_test_signals(n_samples, density, dictionary):
    """The test signals of a regime: other codes over the same dictionary."""
    return make_sparse_coding(
        n_samples,
        N_COMPONENTS,
        N_FEATURES,
        density=density,
        dictionary=dictionary,
        random_state=1,
    )[0]


def run_problem(density, ratio, n_samples, X_train, dictionary, alpha, models, args):
    X = regime_test_signals(n_samples, density, dictionary)
    start = time.perf_counter()
    _, reference_codes = reference_cost(X, dictionary, alpha)
    optimal_costs = lasso_cost(X, reference_codes, dictionary, alpha)
    print(
        f"\n== density {density}, alpha = {ratio} * alpha_max, N = {n_samples} "
        f"test signals; F* = {optimal_costs.mean():.9f} "
        f"({time.perf_counter() - start:.1f} s) =="
    )
    methods = make_methods(X, dictionary, alpha, models, args)
    if args.exact:
        methods = [m for m in methods if (m.family, m.setting) in EXACT_METHODS]
    for method in methods:
        method.first_call(dictionary, alpha, optimal_costs)
    # Repeats interleaved (slow drifts of the machine hit every method alike);
    # slow methods get fewer runs so that the whole stays within budget.
    runs = {
        id(m): max(1, min(args.repeat, int(args.budget / max(m.warmup, 1e-9))))
        for m in methods
    }
    for r in range(args.repeat):
        for method in methods:
            if r < runs[id(method)]:
                method.timed_call()

    rows = [
        [
            m.family,
            m.setting,
            f"{m.time:.4f}" + ("*" if m.scale != 1 else ""),
            f"{m.scale * m.warmup:.4f}",
            len(m.times),
            f"{m.gap:+.1e}",
        ]
        for m in methods
    ]
    print_table(
        f"All settings (density {density}, N = {n_samples})",
        ["method", "setting", "time s", "first call s", "runs", "(F-F*)/F*"],
        rows,
        notes=[
            "time: median over 'runs' interleaved calls after the first one; ours "
            "classical: fit(X).transform(X); learned: transform(X) of the trained "
            "model.",
            f"*: per-sample solver timed on {min(args.per_sample, n_samples)} "
            f"signals, time scaled to N = {n_samples}; gap on those signals.",
        ],
    )

    summary_rows = []
    best_by_target = {t: time_to_gap(methods, t) for t in GAP_TARGETS}
    families = list(dict.fromkeys(m.family for m in methods))
    best_peer = {}
    for target, best in best_by_target.items():
        peers = [best[f] for f in PEER_FAMILIES if f in best]
        best_peer[target] = min(peers, key=lambda m: m.time) if peers else None
    for family in families:
        row = [family]
        for target in GAP_TARGETS:
            method = best_by_target[target].get(family)
            if method is None:
                row.append("-")
                continue
            cell = f"{method.time:.4f} ({method.setting})"
            peer = best_peer[target]
            if peer is not None:
                cell += f" {method.time / peer.time:.2f}x"
            row.append(cell)
        summary_rows.append(row)
    print_table(
        f"Time to reach a relative gap, seconds (setting) ratio to the best peer "
        f"(density {density}, N = {n_samples})",
        ["method"] + [f"gap <= {t:g}" for t in GAP_TARGETS],
        summary_rows,
        notes=[
            "peers: " + ", ".join(PEER_FAMILIES) + "; '-': no setting reached it.",
            "learned coders: the depth is fixed by training, so the cell is the "
            "shallowest-time depth whose test gap is within the target.",
        ],
    )

    # The targets: learned coders to 1e-2 (issue 8), exact codes (issue 14).
    if not args.classical_only:
        learned = [
            best_by_target[1e-2][f]
            for f in ("LISTACoder", "LFISTACoder", "FacNetCoder")
            if f in best_by_target[1e-2]
        ]
        peer = best_peer[1e-2]
        if learned and peer is not None:
            fastest = min(learned, key=lambda m: m.time)
            verdict = "met" if fastest.time < peer.time else "NOT met"
            print(
                f"target 1 ({verdict}): fastest learned coder to gap 1e-2 "
                f"{fastest.family} {fastest.setting} {fastest.time:.4f} s vs fastest "
                f"peer {peer.family} {peer.setting} {peer.time:.4f} s "
                f"(ratio {fastest.time / peer.time:.2f})"
            )
        else:
            print("target 1 (NOT met): no learned coder reached gap 1e-2")
    exact_targets(best_by_target, args)
    if args.exact:
        paired_targets(methods, args)


def paired_targets(methods, args):
    """Ratios of each repeat's times (the methods ran in turn within a
    repeat, so a drift of the machine's load hits both sides of a ratio)."""
    by_name = {(m.family, m.setting): m for m in methods}
    spams_ = by_name.get(("spams.lasso", "mode=2"))
    cd = by_name.get(("sparse_encode lasso_cd", "max_iter=1000"))
    bound = 1.0 if args.threads == 1 else 0.6
    rows = []
    for key in EXACT_METHODS[2:]:
        ours = by_name.get(key)
        if ours is None:
            continue
        row = [f"{key[0]} {key[1]}", f"{ours.time:.4f}", f"{ours.gap:+.1e}"]
        for peer in (spams_, cd):
            if peer is None:
                row.append("-")
                continue
            n = min(len(ours.times), len(peer.times))
            ratios = np.array(ours.times[:n]) / np.array(peer.times[:n])
            if peer is spams_:
                low, mid, high = np.percentile(ratios, [0, 50, 100])
                row.append(f"{mid:.2f}x ({low:.2f}-{high:.2f}, {n} pairs)")
            else:
                low, mid, high = np.percentile(1 / ratios, [0, 50, 100])
                row.append(f"{mid:.1f}x faster ({low:.1f}-{high:.1f}, {n} pairs)")
        rows.append(row)
    print_table(
        f"Exact codes, paired ratios ({args.threads} thread(s) per method)",
        ["method", "time s", "(F-F*)/F*", "time / spams.lasso", "vs lasso_cd"],
        rows,
        notes=[
            "time / spams.lasso: median over the repeats of the ratio of the two "
            "times in the same repeat (range in brackets; as the speedup over "
            f"lasso_cd max_iter=1000). Targets: <= {bound}x spams.lasso, >= 5x "
            "faster than lasso_cd.",
        ],
    )


def exact_targets(best_by_target, args):
    """The verdicts on exact codes: time to a relative gap of 1e-9 against
    spams.lasso and sparse_encode(lasso_cd)."""
    best = best_by_target[1e-9]
    spams_, cd = best.get("spams.lasso"), best.get("sparse_encode lasso_cd")
    bound = 1.0 if args.threads == 1 else 0.6
    for family in (
        "FISTACoder",
        "ISTACoder",
        "FISTACoder unpolished",
        "ISTACoder unpolished",
    ):
        ours = best.get(family)
        if ours is None:
            print(f"{family}: no setting reached a relative gap of 1e-9")
            continue
        line = f"{family} {ours.setting} to 1e-9: {ours.time:.4f} s"
        if spams_ is not None:
            ratio = ours.time / spams_.time
            verdict = "met" if ratio <= bound else "NOT met"
            line += (
                f"; {ratio:.2f}x spams.lasso's {spams_.time:.4f} s "
                f"(target <= {bound}x: {verdict})"
            )
        if cd is not None:
            speedup = cd.time / ours.time
            verdict = "met" if speedup >= 5 else "NOT met"
            line += (
                f"; {speedup:.1f}x faster than lasso_cd {cd.setting} "
                f"{cd.time:.4f} s (target >= 5x: {verdict})"
            )
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--n-samples", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--per-sample", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--budget", type=float, default=None)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--facnet-epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, choices=(1, 2))
    parser.add_argument(
        "--classical-only",
        action="store_true",
        help="skip the learned coders (no training)",
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="only the exact-code targets (spams, lasso_cd, our coders at "
        "tol=1e-6), learned coders skipped, with paired ratios; default "
        "--repeat 21",
    )
    parser.add_argument(
        "--regimes",
        type=float,
        nargs="+",
        default=[density for density, _ in REGIMES],
        help="densities to run, among " + ", ".join(str(d) for d, _ in REGIMES),
    )
    args = parser.parse_args()
    args.depths = DEPTHS
    if args.exact:
        args.classical_only = True
    if args.repeat is None:
        args.repeat = 21 if args.exact else 5
    if args.budget is None:
        # (seconds of repeats per method; lasso_cd takes ~2 s a call)
        args.budget = 60.0 if args.exact else 10.0
    if args.quick:
        args.n_samples, args.n_train, args.per_sample = [500], 1000, 50
        args.repeat, args.budget, args.epochs, args.facnet_epochs = 2, 1.0, 3, 2

    import numba
    import scipy

    versions = [
        f"python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        f"scikit-learn {sklearn.__version__}",
        f"numba {numba.__version__}",
        f"sklearn_lista {sklearn_lista.__version__}",
    ]
    for module in ("spams", "celer", "skglm"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} not installed")
        except AttributeError:
            versions.append(f"{module} (no version)")
    print(__doc__.splitlines()[0])
    print("command: python " + " ".join(sys.argv))
    print(", ".join(versions))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{platform.machine()}, {os.cpu_count()} CPU(s), load average {load}; "
        f"threads per method: {args.threads}"
    )

    total = time.perf_counter()
    limit = (
        threadpool_limits(limits=1, user_api="blas")
        if args.threads == 1
        else contextlib.nullcontext()
    )
    with limit:
        for density, ratio in REGIMES:
            if density not in args.regimes:
                continue
            X_train, dictionary, alpha = training_problem(density, ratio, args.n_train)
            print(
                f"\n######## regime: density {density}, "
                f"alpha = {ratio} * alpha_max = {alpha:.4f} ########"
            )
            models = (
                {}
                if args.classical_only
                else train_models(X_train, dictionary, alpha, args)
            )
            for n_samples in args.n_samples:
                run_problem(
                    density,
                    ratio,
                    n_samples,
                    X_train,
                    dictionary,
                    alpha,
                    models,
                    args,
                )
    print(f"\ntotal time {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
