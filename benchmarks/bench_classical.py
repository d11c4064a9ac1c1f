"""Benchmark of the classical solvers (ISTA, FISTA) of ``sklearn_lista``.

Measures, on the paper's problem (``make_sparse_coding``: 100 atoms, 64
features, density 0.05, ``alpha = 0.1 * alpha_max``):

1. The cost of one ISTA / FISTA iteration against the bare BLAS product
   ``np.dot(Z, W, out=buf)`` that each iteration performs, for float64 and
   float32 with 1 and 2 BLAS threads. The validation-free worker
   ``iterative_thresholding`` (whole array in one piece) and the estimators'
   ``transform`` (rows in chunks, optionally threads with ``n_jobs``) are
   timed with two iteration counts N1 < N2 and the difference
   ``(t(N2) - t(N1)) / (N2 - N1)`` is reported, so that setup costs (input
   validation, ``X @ D.T``, allocations) cancel. The worker is timed with the
   dense path (BLAS product + numba pass; the numba pass alone is shown too),
   the row-wise path (``path="sparse"``: each row runs its iterations over
   the list of its non-zeros) and the default ``path="auto"`` (dense while
   the iterate is dense, then row-wise), on density 1/20 and again on the
   dense regime (density 1/4, ``alpha = 0.02 alpha_max``). Table 1c times one
   iteration by each path on the solver's own iterates, against their density
   (the crossover behind ``ROWWISE_DENSITY_THRESHOLD``). Table 1d times the
   row-wise kernel alone in its steady state (iterations 10 to 60 on 1024
   rows, many short interleaved calls, medians and minima) against the BLAS
   product of the same shape, float64 and float32.
2. The numba JIT compile time, in fresh interpreters: first call with an empty
   numba cache (cold compile), first call with the cache filled by the
   previous run (warm cache), a second call in the same process (steady
   state), and the time of ``import sklearn_lista``.
3. Wall time and accuracy against the Lasso solvers of scikit-learn
   (``SparseCoder`` with ``lasso_cd`` and ``lasso_lars``) and ``spams.lasso``
   (if installed) on the same data,
   float64, with 1 BLAS thread and with the default number of threads. The
   accuracy is the relative sub-optimality ``(F - F*) / F*`` of the mean
   Lasso cost ``F`` (``sklearn_lista.lasso_cost``), where ``F*`` is the mean
   cost reached by ``FISTACoder(tol=1e-12, n_layers=50000)``.

All times are medians over repeats, measured with ``time.perf_counter`` after
a warm-up call that excludes JIT compilation (except in part 2). After each
part the script prints how many cores other processes kept busy meanwhile
(from ``/proc/stat``): on a 2-core machine any such load, especially with 2
BLAS threads, makes the timings meaningless.

Run from the repository root::

    python benchmarks/bench_classical.py             # full run, ~2.5 minutes
    python benchmarks/bench_classical.py --quick     # smoke run, seconds

Options: ``--n-samples`` (default 10000), ``--repeat`` (default 5) and
``--tables`` (a comma-separated subset of ``1,1c,1d,2,3``, default all; ``1``
is tables 1a/1b in both regimes, ``3`` tables 3/3b in both regimes), e.g.::

    python benchmarks/bench_classical.py --tables 1c
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy
import sklearn
from sklearn.decomposition import SparseCoder
from threadpoolctl import threadpool_info, threadpool_limits

import sklearn_lista
from sklearn_lista import FISTACoder, ISTACoder, lasso_cost
from sklearn_lista._coders._base import _chunk_slices
from sklearn_lista._kernels import fista_step, ista_step, thresholding_rows
from sklearn_lista._lasso import duality_gaps, lipschitz_constant
from sklearn_lista._solvers import ROWWISE_DENSITY_THRESHOLD, iterative_thresholding
from sklearn_lista.datasets import alpha_max, make_sparse_coding

N_COMPONENTS = 100
N_FEATURES = 64
NO_GRAM = np.zeros((0, 0))  # thresholding_rows without support polishing
DENSITY = 0.05
ALPHA_RATIO = 0.1
PATHS = ("dense", "sparse", "auto")


# --------------------------------------------------------------------- utils
def print_table(title, headers, rows, notes=()):
    """Print a plain-text table with right-aligned columns."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(headers[j]), *(len(row[j]) for row in cells))
        for j in range(len(headers))
    ]
    line = "  ".join("-" * w for w in widths)
    print()
    print(title)
    print("=" * len(title))
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print(line)
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    for note in notes:
        print(note)
    sys.stdout.flush()


def timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def interleaved_medians(funcs, repeat):
    """Median time of each callable of ``funcs`` (a dict), after one warm-up.

    The callables are run in turn within each repeat, so that slow drifts of
    the machine (other processes, frequency changes) affect all of them alike.
    """
    for func in funcs.values():
        func()
    times = {key: [] for key in funcs}
    for _ in range(repeat):
        for key, func in funcs.items():
            times[key].append(timed(func))
    return {key: float(np.median(values)) for key, values in times.items()}


def fmt_ms(seconds):
    return f"{1e3 * seconds:.3f}"


def fmt_s(seconds):
    return f"{seconds:.3f}"


def fmt_ratio(value, reference):
    return f"{value / reference:.2f}x"


def _busy_seconds():
    """CPU time used by the whole machine since boot (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: all but idle, iowait.
    jiffies = [int(x) for x in fields[1:]]
    busy = sum(jiffies) - jiffies[3] - (jiffies[4] if len(jiffies) > 4 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds():
    """CPU time of this process and of its children, live (joblib) or reaped."""
    total = sum(os.times()[:4])
    pid = os.getpid()
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # Fields after the command name: state ppid ... utime stime.
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class CpuMonitor:
    """Wall time of a section and the CPU used meanwhile by other processes.

    Timings on a small machine are only meaningful if nothing else runs: the
    report says how many cores other processes kept busy on average.
    """

    def __init__(self):
        self.wall = time.perf_counter()
        self.busy = _busy_seconds()
        self.own = _own_seconds()

    def report(self):
        wall = time.perf_counter() - self.wall
        busy = _busy_seconds()
        text = f"{wall:.0f} s"
        if busy is not None and self.busy is not None:
            own = _own_seconds() - self.own
            other = max(busy - self.busy - own, 0.0) / wall
            text += f"; other processes kept {other:.2f} core(s) busy on average"
        return text


def make_problem(n_samples, density=DENSITY, alpha_fraction=ALPHA_RATIO):
    X, D, _ = make_sparse_coding(
        n_samples=n_samples,
        n_components=N_COMPONENTS,
        n_features=N_FEATURES,
        density=density,
        random_state=0,
    )
    return X, D, alpha_fraction * alpha_max(X, D)


def print_environment(args):
    print(__doc__.strip().splitlines()[0])
    print()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"sklearn_lista {sklearn_lista.__version__}, "
        f"numba {sys.modules['numba'].__version__}"
    )
    for info in threadpool_info():
        print(
            f"{info['user_api']}: {info['internal_api']} {info.get('version')} "
            f"({info.get('architecture')}, {info.get('threading_layer')}), "
            f"default {info['num_threads']} thread(s)"
        )
    print(
        f"{os.cpu_count()} CPU(s); {platform.platform()}; load average at the "
        "start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(
        f"problem: n_samples={args.n_samples}, n_components={N_COMPONENTS}, "
        f"n_features={N_FEATURES}, density={DENSITY}, "
        f"alpha={ALPHA_RATIO} * alpha_max, random_state=0; repeat={args.repeat}"
    )


# ------------------------------------------------- 1. cost of one iteration
def bench_iterations(args, X64, D64, alpha, rho="1/20", transform=True):
    n1, n2 = args.n_iter
    n_iter = n2 - n1
    n_samples = X64.shape[0]
    lipschitz = lipschitz_constant(D64)
    slices = _chunk_slices(n_samples, N_COMPONENTS)
    rng = np.random.RandomState(0)
    worker_rows, transform_rows = [], []
    blas_whole = {}

    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        X = np.ascontiguousarray(X64, dtype=dtype)
        D = np.ascontiguousarray(D64, dtype=dtype)

        # Operands of the BLAS product, as in the solver's loop.
        step_matrix = (np.eye(N_COMPONENTS) - D64 @ D64.T / lipschitz).astype(dtype)
        Z = rng.standard_normal((n_samples, N_COMPONENTS)).astype(dtype)
        buf = np.empty_like(Z)

        def blas_loop(Z=Z, W=step_matrix, buf=buf):
            for _ in range(n_iter):
                np.dot(Z, W, out=buf)

        def blas_chunks(n_jobs, Z=Z, W=step_matrix, buf=buf):
            # What transform does: each chunk of rows runs all its iterations.
            def one_chunk(rows):
                Zc, bufc = Z[rows], buf[rows]
                for _ in range(n_iter):
                    np.dot(Zc, W, out=bufc)

            if n_jobs == 1:
                for rows in slices:
                    one_chunk(rows)
            else:
                with ThreadPoolExecutor(n_jobs) as pool:
                    list(pool.map(one_chunk, slices))

        # The numba pass alone, on a realistic iterate (after 50 iterations).
        codes, _ = iterative_thresholding(
            X, D, alpha, n_iter=50, lipschitz=lipschitz, accelerated=False
        )
        product = codes @ step_matrix
        offset = np.ascontiguousarray((X @ D.T) / dtype(lipschitz))
        threshold = dtype(alpha / lipschitz)
        extrapolated = codes.copy()
        momentum = dtype(0.9)

        def ista_pass(product=product, offset=offset, codes=codes, t=threshold):
            for _ in range(n_iter):
                ista_step(product, offset, codes, t, False)

        def fista_pass(
            product=product,
            offset=offset,
            codes=codes,
            extrapolated=extrapolated,
            t=threshold,
            m=momentum,
        ):
            for _ in range(n_iter):
                fista_step(product, offset, codes, extrapolated, t, m, False)

        def worker(n, accelerated, path, X=X, D=D):
            iterative_thresholding(
                X,
                D,
                alpha,
                n_iter=n,
                lipschitz=lipschitz,
                accelerated=accelerated,
                path=path,
            )

        passes = interleaved_medians(
            {"ista": ista_pass, "fista": fista_pass}, args.repeat
        )
        for threads in (1, 2):
            funcs = {"blas": blas_loop}
            for path in PATHS:
                for accelerated in (False, True):
                    for n in (n1, n2):
                        funcs[path, accelerated, n] = (
                            lambda n=n, a=accelerated, p=path: worker(n, a, p)
                        )
            with threadpool_limits(limits=threads, user_api="blas"):
                t = interleaved_medians(funcs, args.repeat)
            blas = blas_whole[name, threads] = t["blas"] / n_iter
            for path in PATHS:
                ista = (t[path, False, n2] - t[path, False, n1]) / n_iter
                fista = (t[path, True, n2] - t[path, True, n1]) / n_iter
                worker_rows.append(
                    [
                        name,
                        threads,
                        path,
                        fmt_ms(blas),
                        fmt_ms(passes["ista"] / n_iter),
                        fmt_ms(passes["fista"] / n_iter),
                        fmt_ms(ista),
                        fmt_ratio(ista, blas),
                        fmt_ms(fista),
                        fmt_ratio(fista, blas),
                    ]
                )

        # The estimators' transform: chunks of rows, optionally threads.
        for n_jobs, threads in ((1, 1), (1, 2), (2, 1)) if transform else ():
            funcs = {"chunks": lambda n_jobs=n_jobs: blas_chunks(n_jobs)}
            for cls in (ISTACoder, FISTACoder):
                # Fitted on one row: only the dictionary matters.
                coder = cls(D, alpha=alpha, n_jobs=n_jobs).fit(X[:1])
                for n in (n1, n2):

                    def transform(coder=coder, n=n, X=X):
                        coder.set_params(n_layers=n).transform(X)

                    funcs[cls.__name__, n] = transform
            with threadpool_limits(limits=threads, user_api="blas"):
                t = interleaved_medians(funcs, args.repeat)
            chunks = t["chunks"] / n_iter
            # n_jobs=2 workers each use 1 BLAS thread: compare with the product
            # using the same number of cores.
            whole = blas_whole[name, n_jobs * threads]
            row = [name, n_jobs, threads, fmt_ms(whole), fmt_ms(chunks)]
            for cls in (ISTACoder, FISTACoder):
                value = (t[cls.__name__, n2] - t[cls.__name__, n1]) / n_iter
                row += [fmt_ms(value), fmt_ratio(value, whole)]
                row += [fmt_ratio(value, chunks)]
            transform_rows.append(row)

    densities = []
    for accelerated in (False, True):
        for n in (n1, n2):
            codes, _ = iterative_thresholding(
                X64, D64, alpha, n_iter=n, lipschitz=lipschitz, accelerated=accelerated
            )
            densities.append(f"{np.count_nonzero(codes) / codes.size:.3f}")
    shape = f"({n_samples}, {N_COMPONENTS}) x ({N_COMPONENTS}, {N_COMPONENTS})"
    print_table(
        f"1a. Cost of one iteration, worker iterative_thresholding (one piece), "
        f"rho = {rho}",
        [
            "dtype",
            "BLAS thr",
            "path",
            "BLAS ms",
            "ista pass ms",
            "fista pass ms",
            "ISTA ms/it",
            "/BLAS",
            "FISTA ms/it",
            "/BLAS",
        ],
        worker_rows,
        notes=[
            f"BLAS ms: np.dot(Z, W, out=buf), {shape}, median of {args.repeat} "
            f"loops of {n_iter} products, divided by {n_iter}.",
            "ista/fista pass ms: the numba kernel of the dense path alone on the "
            "same array (single-threaded, no BLAS).",
            f"ms/it: (t(N={n2}) - t(N={n1})) / {n_iter}, medians of "
            f"{args.repeat} calls interleaved with the BLAS loops.",
            "path: iterative_thresholding(path=...); dense = BLAS product + "
            "numba pass every iteration; sparse = the row-wise path "
            "(thresholding_rows: each row runs all its iterations over the list "
            "of its non-zeros) from z_0 = 0; auto (the estimators' default) = "
            "dense iterations while the iterate's density is above the "
            "threshold, then row-wise (see 1c).",
            f"density of the codes (float64) after N={n1}, {n2}: ISTA "
            f"{densities[0]}, {densities[1]}; FISTA {densities[2]}, "
            f"{densities[3]}; sparse-path thresholds "
            + ", ".join(f"{k.name} {v}" for k, v in ROWWISE_DENSITY_THRESHOLD.items())
            + ".",
        ],
    )
    if not transform:
        return
    print_table(
        "1b. Cost of one iteration, estimator transform (chunks of rows)",
        [
            "dtype",
            "n_jobs",
            "BLAS thr",
            "BLAS ms",
            "chunked ms",
            "ISTA ms/it",
            "/BLAS",
            "/chunked",
            "FISTA ms/it",
            "/BLAS",
            "/chunked",
        ],
        transform_rows,
        notes=[
            "ms/it: ISTACoder/FISTACoder(n_layers=N, n_jobs).transform(X) "
            f"(path auto), (t(N={n2}) - t(N={n1})) / {n_iter}.",
            "BLAS ms: the whole-array product of table 1a with n_jobs * BLAS thr "
            "threads (the cores in use).",
            f"chunked ms: the same products done as transform does them, "
            f"{len(slices)} chunks of <= {slices[0].stop} rows, each running "
            f"{n_iter} products on its rows, in n_jobs threads.",
        ],
    )


def bench_crossover(args, X64, D64, alpha):
    """One ISTA iteration by the dense and by the row-wise path vs density.

    The iterates are the solver's own (after `start` iterations) on the
    sparse problem and on the dense regime, so that the densities span the
    range the solver meets.
    """
    n_samples = X64.shape[0]
    n_calls = 5
    rows = []
    problems = [
        ("1/20", X64, D64, alpha),
        ("1/4", *make_problem(n_samples, density=0.25, alpha_fraction=0.02)),
    ]
    for dtype in (np.float64, np.float32):
        for label, X_, D_, alpha_ in problems:
            X = np.ascontiguousarray(X_, dtype=dtype)
            D = np.ascontiguousarray(D_, dtype=dtype)
            lipschitz = lipschitz_constant(D_)
            n_components = D.shape[0]
            step_matrix = (np.eye(n_components) - D_ @ D_.T / lipschitz).astype(dtype)
            offset = np.ascontiguousarray(X @ (D.T / dtype(lipschitz)))
            threshold = dtype(alpha_ / lipschitz)
            for start in args.crossover_starts:
                codes, _ = iterative_thresholding(
                    X, D, alpha_, n_iter=start, lipschitz=lipschitz, path="dense"
                )
                density = np.count_nonzero(codes) / codes.size
                product = np.empty_like(codes)
                out = np.empty_like(codes)
                flags = np.zeros(n_samples, dtype=bool)
                t_state = np.ones(n_samples)

                ctx = (
                    X,
                    D,
                    offset,
                    step_matrix,
                    t_state,
                    lipschitz,
                    start,
                    flags,
                    threshold,
                )

                def dense(codes=codes, product=product, out=out, ctx=ctx):
                    for _ in range(n_calls):
                        np.dot(codes, ctx[3], out=product)
                        ista_step(product, ctx[2], out, ctx[8], False)

                def row_wise(n, codes=codes, out=out, ctx=ctx, a=alpha_):
                    X, D, offset, step_matrix, t_state, lipschitz, start, flags, t = ctx
                    np.copyto(out, codes)
                    thresholding_rows(
                        X, D, offset, step_matrix, out, out, t_state, t,
                        a, lipschitz, False, False, False, start, start + n,
                        -1.0, 10, flags, NO_GRAM, 0,
                    )  # fmt: skip

                funcs = {
                    "dense": dense,
                    "rows 1": lambda f=row_wise: f(1),
                    "rows n": lambda f=row_wise: f(1 + n_calls),
                }
                with threadpool_limits(limits=1, user_api="blas"):
                    t = interleaved_medians(funcs, args.repeat)
                with threadpool_limits(limits=2, user_api="blas"):
                    dense_2 = interleaved_medians({"dense": dense}, args.repeat)
                dense_1 = t["dense"] / n_calls
                dense_2 = dense_2["dense"] / n_calls
                row_time = (t["rows n"] - t["rows 1"]) / n_calls
                rows.append(
                    [
                        np.dtype(dtype).name,
                        label,
                        start,
                        f"{density:.3f}",
                        fmt_ms(dense_1),
                        fmt_ms(dense_2),
                        fmt_ms(row_time),
                        fmt_ratio(row_time, dense_1),
                        fmt_ratio(row_time, dense_2),
                    ]
                )
    print_table(
        "1c. One ISTA iteration, dense vs row-wise path, by density of the iterate",
        [
            "dtype",
            "rho",
            "after it",
            "density",
            "dense 1 thr ms",
            "dense 2 thr ms",
            "rows ms",
            "rows/dense 1",
            "rows/dense 2",
        ],
        rows,
        notes=[
            f"({n_samples}, {N_COMPONENTS}) iterates of ISTA after 'after it' "
            "iterations on the paper's problem (rho 1/20, alpha = 0.1 alpha_max) "
            "and on the dense regime (rho 1/4, alpha = 0.02 alpha_max).",
            "dense: np.dot + ista_step per iteration; rows: thresholding_rows "
            f"(numba, one thread), (t({1 + n_calls} its) - t(1 it)) / {n_calls}.",
            "iterative_thresholding(path='auto') hands over to the row-wise path "
            "below "
            + ", ".join(f"{k.name} {v}" for k, v in ROWWISE_DENSITY_THRESHOLD.items())
            + ".",
        ],
    )


def bench_rowwise_dtype(args, X64, D64, alpha):
    """Row-wise iterations in the steady state, float64 vs float32.

    Table 1a takes ``t(N2) - t(N1)`` on the whole array, a small difference
    of two large, noisy times on a loaded machine. Here each call runs the
    row-wise kernel alone from the iterate after 10 iterations to 60 (50
    iterations per row, no subtraction) on the first rows, interleaved with
    the BLAS product of the same shape, many short calls: medians and
    minima.
    """
    n_rows = min(1024, X64.shape[0])
    n_iter = 50
    lipschitz = lipschitz_constant(D64)
    rng = np.random.RandomState(0)
    funcs, results = {}, {}
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        X = np.ascontiguousarray(X64[:n_rows], dtype=dtype)
        D = np.ascontiguousarray(D64, dtype=dtype)
        step_matrix = (np.eye(N_COMPONENTS) - D64 @ D64.T / lipschitz).astype(dtype)
        offset = np.ascontiguousarray(X @ (D.T / dtype(lipschitz)))
        threshold = dtype(alpha / lipschitz)
        Z = rng.standard_normal((n_rows, N_COMPONENTS)).astype(dtype)
        buf = np.empty_like(Z)

        def blas(Z=Z, W=step_matrix, buf=buf):
            for _ in range(10):
                np.dot(Z, W, out=buf)

        funcs[name, "blas"] = blas
        for accelerated in (False, True):
            start, _ = iterative_thresholding(
                X, D, alpha, n_iter=10, lipschitz=lipschitz,
                accelerated=accelerated, path="sparse",
            )  # fmt: skip
            codes, extrapolated = np.empty_like(start), start.copy()
            t_state = np.ones(n_rows)
            flags = np.zeros(n_rows, dtype=bool)

            def rows(
                X=X, D=D, offset=offset, W=step_matrix, start=start, codes=codes,
                extrapolated=extrapolated, t_state=t_state, flags=flags,
                threshold=threshold, accelerated=accelerated,
            ):  # fmt: skip
                np.copyto(codes, start)
                t_state.fill(1.0)
                thresholding_rows(
                    X, D, offset, W, codes, extrapolated, t_state, threshold,
                    alpha, lipschitz, False, accelerated, False, 10, 10 + n_iter,
                    -1.0, 10, flags, NO_GRAM, 0,
                )  # fmt: skip

            funcs[name, accelerated] = rows
    repeat = max(args.repeat, 5) * 10
    for func in funcs.values():
        func()
    times = {key: [] for key in funcs}
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeat):
            for key, func in funcs.items():
                times[key].append(timed(func))
    for key, values in times.items():
        per = 10 if key[1] == "blas" else n_iter
        results[key] = (np.median(values) / per, np.min(values) / per)
    table = []
    for dtype in ("float64", "float32"):
        blas_median, blas_min = results[dtype, "blas"]
        for accelerated in (False, True):
            median, minimum = results[dtype, accelerated]
            table.append(
                [
                    dtype,
                    "FISTA" if accelerated else "ISTA",
                    fmt_ms(blas_median),
                    fmt_ms(median),
                    f"{blas_median / median:.2f}x",
                    fmt_ms(blas_min),
                    fmt_ms(minimum),
                    f"{blas_min / minimum:.2f}x",
                ]
            )
    speedups = [
        f"{'FISTA' if a else 'ISTA'} "
        f"{results['float64', a][1] / results['float32', a][1]:.2f}x"
        for a in (False, True)
    ]
    print_table(
        f"1d. Row-wise iterations in the steady state, {n_rows} rows, 1 thread",
        [
            "dtype",
            "solver",
            "BLAS ms",
            "rows ms/it",
            "BLAS/rows",
            "BLAS min ms",
            "rows min ms/it",
            "BLAS/rows (min)",
        ],
        table,
        notes=[
            f"rows: thresholding_rows from the iterate after 10 iterations to 60 "
            f"(tol=None), time / {n_iter}; BLAS: np.dot(Z, W, out=buf), "
            f"({n_rows}, {N_COMPONENTS}) x ({N_COMPONENTS}, {N_COMPONENTS}), "
            "time / 10.",
            f"medians (and minima) of {repeat} interleaved calls.",
            "float32 over float64 (minima): BLAS "
            f"{results['float64', 'blas'][1] / results['float32', 'blas'][1]:.2f}x"
            ", rows " + ", ".join(speedups) + ".",
        ],
    )


# ----------------------------------------------------------- 2. JIT compile
_JIT_SCRIPT = r"""
import json, time, warnings
start = time.perf_counter()
import sklearn_lista
t_import = time.perf_counter() - start
from sklearn_lista import FISTACoder, ISTACoder
from sklearn_lista.datasets import alpha_max, make_sparse_coding

X, D, _ = make_sparse_coding(n_samples=200, random_state=0)
alpha = 0.1 * alpha_max(X, D)


def call():
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ISTACoder(D, alpha=alpha, n_layers=20).fit(X).transform(X)
        FISTACoder(D, alpha=alpha, n_layers=20, tol=1e-4).fit(X).transform(X)
    return time.perf_counter() - start


first = call()
second = call()
print(json.dumps({"import": t_import, "first": first, "second": second}))
"""

_IMPORT_SCRIPT = r"""
import json, time
import numpy, scipy, sklearn, sklearn.decomposition, sklearn.linear_model
import numba, joblib, threadpoolctl
start = time.perf_counter()
import sklearn_lista
print(json.dumps({"import": time.perf_counter() - start}))
"""


def run_python(code, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_jit(args, X, D, alpha):
    repeat = 1 if args.quick else min(args.repeat, 3)
    cold, warm, steady, imports, own_imports = [], [], [], [], []
    scratch = tempfile.mkdtemp(prefix="bench_numba_")
    try:
        # Fill the OS file cache so that the first measured import is not a
        # cold-disk read.
        run_python(_IMPORT_SCRIPT, scratch)
        for r in range(repeat):
            cache_dir = tempfile.mkdtemp(dir=scratch, prefix=f"cache{r}_")
            result = run_python(_JIT_SCRIPT, cache_dir)
            cold.append(result["first"])
            steady.append(result["second"])
            imports.append(result["import"])
            result = run_python(_JIT_SCRIPT, cache_dir)
            warm.append(result["first"])
            steady.append(result["second"])
            imports.append(result["import"])
            own_imports.append(run_python(_IMPORT_SCRIPT, cache_dir)["import"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = [
        ["import sklearn_lista (fresh interpreter)", fmt_s(np.median(imports))],
        [
            "import sklearn_lista (numpy/scipy/sklearn/numba already imported)",
            fmt_s(np.median(own_imports)),
        ],
        ["first call, empty numba cache (cold compile)", fmt_s(np.median(cold))],
        ["first call, numba cache filled (warm cache)", fmt_s(np.median(warm))],
        ["second call in the same process (steady state)", fmt_s(np.median(steady))],
    ]
    print_table(
        "2. JIT compile time (fresh subprocesses, float64)",
        ["", "seconds"],
        rows,
        notes=[
            "call: ISTACoder(n_layers=20) + FISTACoder(n_layers=20, tol=1e-4), "
            "fit(X).transform(X) on 200 x 64 (compiles the float64 kernels "
            "these use: ISTA/FISTA steps, duality gap).",
            f"NUMBA_CACHE_DIR set to a fresh temporary directory; median of "
            f"{repeat} run(s). float32 kernels compile separately on first "
            "float32 use.",
        ],
    )


# ------------------------------------------------ 3. scikit-learn peers
def bench_peers(args, X, D, alpha):
    # Warm-up: compile every float64 kernel (including the duality gap).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls in (ISTACoder, FISTACoder):
            cls(D, alpha=alpha, n_layers=20, tol=1e-4).fit(X[:100]).transform(X[:100])

    start = time.perf_counter()
    reference = FISTACoder(D, alpha=alpha, n_layers=50000, tol=1e-12)
    f_star = lasso_cost(X, reference.fit(X).transform(X), D, alpha).mean()
    t_reference = time.perf_counter() - start

    # SparseCoder's lasso_* divide transform_alpha by n_features before calling
    # Lasso / LassoLars, whose objective is (1 / (2 * n_features)) * ||x - zD||^2
    # + alpha' * ||z||_1: both minimise 0.5 * ||x - zD||^2 + alpha * ||z||_1,
    # our problem. Check it numerically.
    check_codes = SparseCoder(
        dictionary=D, transform_algorithm="lasso_cd", transform_alpha=alpha
    ).transform(X)
    check_cost = lasso_cost(X, check_codes, D, alpha).mean()
    gaps, costs = duality_gaps(X, check_codes, D, alpha)
    tiny = np.finfo(np.float64).tiny
    mismatch = abs(check_cost - f_star) / f_star
    print()
    print(
        f"F* = {f_star:.12g} (FISTACoder tol=1e-12, n_layers=50000, "
        f"{t_reference:.2f} s)"
    )
    print(
        f"scaling check: SparseCoder(lasso_cd) mean cost = {check_cost:.12g}, "
        f"|F - F*| / F* = {mismatch:.1e}; max relative duality gap of its codes "
        f"for our objective = {np.max(gaps / np.maximum(costs, tiny)):.1e}"
    )
    if mismatch > 1e-6:
        print("WARNING: SparseCoder does not solve the same problem (alpha scaling)")

    def sparse_coder(algorithm, n_jobs=None):
        def run():
            return (
                SparseCoder(
                    dictionary=D,
                    transform_algorithm=algorithm,
                    transform_alpha=alpha,
                    n_jobs=n_jobs,
                )
                .fit(X)
                .transform(X)
            )

        return run

    def ours(cls, tol, n_jobs=None, **params):
        def run():
            coder = cls(
                D, alpha=alpha, n_layers=10000, tol=tol, n_jobs=n_jobs, **params
            )
            return coder.fit(X).transform(X)

        return run

    def spams_lasso(n_threads):
        import spams

        signals = np.asfortranarray(X.T)
        atoms = np.asfortranarray(D.T)

        def run():
            codes = spams.lasso(
                signals, D=atoms, lambda1=alpha, mode=2, numThreads=n_threads
            )
            return codes.T.toarray()

        return run

    try:
        import spams  # noqa: F401
    except ImportError:
        print("spams is not installed (pip install spams-bin): no spams rows")
        spams_methods = []
    else:
        spams_methods = [
            ("peer", "spams.lasso 1 thread", spams_lasso(1), "1"),
            ("peer", "spams.lasso all threads", spams_lasso(-1), "default"),
        ]

    methods = [
        *spams_methods,
        ("sklearn", "SparseCoder lasso_cd", sparse_coder("lasso_cd"), None),
        ("sklearn", "SparseCoder lasso_lars", sparse_coder("lasso_lars"), None),
        (
            "sklearn",
            "SparseCoder lasso_cd n_jobs=2",
            sparse_coder("lasso_cd", 2),
            "default",
        ),
        ("ours", "FISTACoder tol=1e-2", ours(FISTACoder, 1e-2), None),
        ("ours", "FISTACoder tol=1e-3", ours(FISTACoder, 1e-3), None),
        ("ours", "FISTACoder tol=1e-4", ours(FISTACoder, 1e-4), None),
        ("ours", "FISTACoder tol=1e-5", ours(FISTACoder, 1e-5), None),
        ("ours", "FISTACoder tol=1e-6", ours(FISTACoder, 1e-6), None),
        (
            "ours",
            "FISTACoder restart=False tol=1e-4",
            ours(FISTACoder, 1e-4, restart=False),
            None,
        ),
        (
            "ours",
            "FISTACoder restart=False tol=1e-6",
            ours(FISTACoder, 1e-6, restart=False),
            None,
        ),
        ("ours", "ISTACoder tol=1e-4", ours(ISTACoder, 1e-4), None),
        ("ours", "ISTACoder tol=1e-6", ours(ISTACoder, 1e-6), None),
        ("ours", "FISTACoder tol=1e-4 n_jobs=2", ours(FISTACoder, 1e-4, 2), "default"),
        ("ours", "FISTACoder tol=1e-6 n_jobs=2", ours(FISTACoder, 1e-6, 2), "default"),
    ]

    rows = []
    reached = []  # (setting, owner, label, time, relative gap)
    for setting, limits in (("1", 1), ("default", None)):
        results = []
        with threadpool_limits(limits=limits, user_api="blas"):
            for owner, label, run, only in methods:
                if only is not None and only != setting:
                    continue
                times = []
                n_warnings = 0
                # Warm-up: JIT for ours (compiled above, this also loads the
                # BLAS threads), the process pool for n_jobs=2. Fewer runs for
                # slow methods (lasso_lars) bound the total time.
                if owner == "ours" or "n_jobs" in label:
                    run()
                while len(times) < args.repeat and (
                    not times or sum(times) + np.median(times) <= args.budget
                ):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        start = time.perf_counter()
                        codes = run()
                        times.append(time.perf_counter() - start)
                    n_warnings = max(n_warnings, len(caught))
                cost = lasso_cost(X, codes, D, alpha).mean()
                results.append(
                    (owner, label, np.median(times), len(times), cost, n_warnings)
                )
        fastest = min(r[2] for r in results if r[0] == "sklearn")
        for owner, label, t, _n, cost, _w in results:
            reached.append((setting, owner, label, t, (cost - f_star) / f_star))
        for _owner, label, t, n, cost, n_warnings in results:
            rows.append(
                [
                    setting,
                    label,
                    fmt_s(t),
                    n,
                    fmt_ratio(t, fastest),
                    f"{(cost - f_star) / f_star:+.1e}",
                    n_warnings or "",
                ]
            )

    print_table(
        "3. Time and accuracy vs scikit-learn (float64)",
        ["BLAS thr", "method", "time s", "runs", "/best sk", "(F-F*)/F*", "warn"],
        rows,
        notes=[
            "time: median wall time of fit(X).transform(X) over 'runs' runs; "
            "ours: n_layers=10000, tol = relative duality gap, after a warm-up.",
            "/best sk: time over the fastest SparseCoder at the same BLAS "
            "threads setting (default = all threads).",
            "(F-F*)/F*: relative excess of the mean lasso_cost over F*; "
            "warn: warnings raised by one call (e.g. ConvergenceWarning).",
        ],
    )
    print_time_to_accuracy(reached)


def print_time_to_accuracy(reached, targets=(1e-2, 1e-4, 1e-6)):
    """Fastest run of each solver family whose relative gap is below a target."""
    rows = []
    for setting in ("1", "default"):
        families = {}
        for row_setting, owner, label, t, gap in reached:
            if row_setting != setting:
                continue
            family = label.split(" tol=")[0]
            families.setdefault((owner, family), []).append((t, gap))
        best_peer = {}
        for target in targets:
            peers = [
                min((t for t, gap in runs if gap <= target), default=np.inf)
                for (owner, _), runs in families.items()
                if owner != "ours"
            ]
            best_peer[target] = min(peers, default=np.inf)
        cd_runs = families.get(("sklearn", "SparseCoder lasso_cd"), [])
        for (_owner, family), runs in families.items():
            cells = []
            for target in targets:
                t = min((t for t, gap in runs if gap <= target), default=np.inf)
                cd = min((t for t, gap in cd_runs if gap <= target), default=np.inf)
                if np.isfinite(t):
                    cells.append(
                        f"{t:.3f} ({t / best_peer[target]:.2f}x best, {t / cd:.2f}x cd)"
                    )
                else:
                    cells.append("not reached")
            rows.append([setting, family, *cells])
    print_table(
        "3b. Time to reach a relative gap (F-F*)/F* (seconds; ratios to the best "
        "peer and to SparseCoder lasso_cd)",
        ["BLAS thr", "method", *[f"gap <= {t:g}" for t in targets]],
        rows,
        notes=[
            "For each method, the fastest run of table 3 whose mean cost is within "
            "the target of F*; peers are the exact solvers (spams, SparseCoder); "
            "'cd' is SparseCoder(lasso_cd) at the same BLAS setting.",
            "FISTACoder with tol restarts its momentum per sample (restart='auto'); "
            "'FISTACoder restart=False' is plain FISTA with the same tol.",
        ],
    )


TABLES = ("1", "1c", "1d", "2", "3")


def _tables(text):
    tables = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(set(tables) - set(TABLES))
    if unknown or not tables:
        raise argparse.ArgumentTypeError(
            f"unknown table(s) {unknown or text!r}; choose among {','.join(TABLES)}"
        )
    return tables


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for a smoke run"
    )
    parser.add_argument(
        "--tables",
        type=_tables,
        default=TABLES,
        help="comma-separated subset of " + ",".join(TABLES) + " (default: all)",
    )
    args = parser.parse_args()
    if args.quick:
        args.n_samples = min(args.n_samples, 1000)
        args.repeat = min(args.repeat, 2)
        args.n_iter = (5, 25)
        args.crossover_starts = (1, 20)
        args.budget = 1.0
    else:
        args.n_iter = (10, 60)
        args.crossover_starts = (1, 3, 10, 30)
        args.budget = 6.0
    args.repeat = max(args.repeat, 1)

    start = time.perf_counter()
    X, D, alpha = make_problem(args.n_samples)
    print_environment(args)
    sections = {
        "1": bench_iterations,
        "1c": bench_crossover,
        "1d": bench_rowwise_dtype,
        "2": bench_jit,
        "3": bench_peers,
    }
    for table, section in sections.items():
        if table not in args.tables:
            continue
        monitor = CpuMonitor()
        section(args, X, D, alpha)
        print(f"({section.__name__}: {monitor.report()})")
        if section is bench_iterations:
            # Table 1a again in the dense regime (rho 1/4).
            monitor = CpuMonitor()
            X4, D4, alpha4 = make_problem(
                args.n_samples, density=0.25, alpha_fraction=0.02
            )
            bench_iterations(args, X4, D4, alpha4, rho="1/4", transform=False)
            print(f"(bench_iterations, rho 1/4: {monitor.report()})")
    if "3" in args.tables:
        # The dense regime: density 1/4 with alpha = 0.02 alpha_max.
        X, D, alpha = make_problem(args.n_samples, density=0.25, alpha_fraction=0.02)
        print("\n== dense regime: density 0.25, alpha = 0.02 * alpha_max ==")
        monitor = CpuMonitor()
        bench_peers(args, X, D, alpha)
        print(f"(bench_peers, dense regime: {monitor.report()})")
    print()
    print(
        f"total benchmark time: {time.perf_counter() - start:.0f} s; load average "
        "(1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )


if __name__ == "__main__":
    main()
