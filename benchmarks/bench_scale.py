"""Scale: threaded transform, bounded memory on 10^6 signals, JIT start-up cost.

Problem: Gaussian dictionary (K=100, P=64), Bernoulli-Gaussian codes of
density 0.05, ``alpha = 0.1 * alpha_max``, float64.

1. ``transform`` with ``n_jobs=1`` and ``n_jobs=2`` (threads; the numba
   kernels release the GIL and BLAS is capped to one thread per worker) on
   ``--n-samples`` signals: medians of interleaved repeats, the speed-up, and
   a check that the codes are bit-identical.
2. Peak memory of ``transform`` on 1 000 000 signals, in a fresh process:
   the resident set size before the call (X and the interpreter) and its peak
   during the call (``VmHWM`` after resetting it through
   ``/proc/self/clear_refs``; sampled with psutil when that is not possible),
   against the sizes of X and of the codes. ``transform`` encodes chunks of
   rows (a few MB each) and writes them into the output as they come, so the
   peak should be the output plus a few chunks per thread.
3. Numba's compilation cost: ``import sklearn_lista`` and the first
   ``fit`` + ``transform`` of each coder in a fresh interpreter, with an empty
   numba cache (cold: every kernel is compiled) and with the cache filled by
   the previous run (warm: kernels are loaded from disk), against a second
   call in the same process.

Run from the repository root::

    python benchmarks/bench_scale.py            # ~15 minutes
    python benchmarks/bench_scale.py --quick    # smoke run

The memory and JIT parts run in subprocesses of this script
(``--memory-child`` and ``--jit-child``).
"""

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
from _tables import print_table

N_COMPONENTS = 100
N_FEATURES = 64
DENSITY = 0.05
ALPHA_RATIO = 0.1


def problem(n_samples, random_state=0):
    from sklearn_lista.datasets import alpha_max, make_sparse_coding

    X, dictionary, _ = make_sparse_coding(
        n_samples, N_COMPONENTS, N_FEATURES, density=DENSITY, random_state=random_state
    )
    return X, dictionary, ALPHA_RATIO * alpha_max(X, dictionary)


def coders(dictionary, alpha, X_train):
    """The coders timed in parts 1 and 2 (fitted)."""
    from sklearn_lista import FISTACoder, LISTACoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short training: ConvergenceWarning
        lista = LISTACoder(
            dictionary, alpha=alpha, n_layers=16, max_iter=5, random_state=0
        ).fit(X_train)
    return {
        "FISTACoder n_layers=100": FISTACoder(dictionary, alpha=alpha, n_layers=100),
        "FISTACoder n_layers=30": FISTACoder(dictionary, alpha=alpha, n_layers=30),
        "FISTACoder tol=1e-6": FISTACoder(
            dictionary, alpha=alpha, n_layers=10000, tol=1e-6
        ),
        "LISTACoder depth 16": lista,
    }


# ----------------------------------------------------------------- part 1
def bench_threads(args):
    from threadpoolctl import threadpool_limits

    X, dictionary, alpha = problem(args.n_samples)
    models = coders(dictionary, alpha, X[:2000])
    del models["FISTACoder n_layers=30"]  # part 2's
    for name, model in models.items():
        if not name.startswith("LISTA"):  # trained already
            model.fit(X[:2000])
    rows = []
    for name, model in models.items():
        settings = {
            "n_jobs=1, BLAS 2 thr": (1, None),
            "n_jobs=1, BLAS 1 thr": (1, 1),
            "n_jobs=2": (2, None),
        }
        codes, times = {}, {key: [] for key in settings}
        for repeat in range(args.repeat + 1):  # the first round warms up
            for key, (n_jobs, blas) in settings.items():
                model.set_params(n_jobs=n_jobs)
                with threadpool_limits(limits=blas, user_api="blas"):
                    start = time.perf_counter()
                    codes[key] = model.transform(X)
                    if repeat:
                        times[key].append(time.perf_counter() - start)
        medians = {key: float(np.median(values)) for key, values in times.items()}
        identical = all(np.array_equal(codes["n_jobs=2"], c) for c in codes.values())
        rows.append(
            [
                name,
                *(f"{medians[key]:.3f}" for key in settings),
                f"{medians['n_jobs=1, BLAS 2 thr'] / medians['n_jobs=2']:.2f}x",
                f"{medians['n_jobs=1, BLAS 1 thr'] / medians['n_jobs=2']:.2f}x",
                "yes" if identical else "NO",
            ]
        )
    print_table(
        f"1. transform of {args.n_samples} signals, seconds (median of "
        f"{args.repeat} interleaved)",
        [
            "coder",
            "n_jobs=1 BLAS 2",
            "n_jobs=1 BLAS 1",
            "n_jobs=2",
            "speed-up vs BLAS 2",
            "vs BLAS 1",
            "identical",
        ],
        rows,
        notes=[
            "n_jobs=2: two threads over chunks of rows, BLAS capped at one thread "
            "inside; n_jobs=1 uses the BLAS threads given (2 = all cores).",
            "identical: the three settings give bit-identical codes.",
        ],
    )


# ----------------------------------------------------------------- part 2
def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kib("VmHWM") <= _status_kib("VmRSS") + 1024
    except OSError:
        return False


class _RssSampler(threading.Thread):
    """Peak RSS sampled every few ms (fallback when VmHWM cannot be reset)."""

    def __init__(self):
        super().__init__(daemon=True)
        import psutil

        self.process, self.peak, self.running = psutil.Process(), 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)


def memory_child(name, n_samples, n_jobs, dtype):
    """Run in a fresh process: peak RSS of one transform of n_samples signals."""
    X_small, dictionary, alpha = problem(2000)
    model = coders(dictionary, alpha, X_small)[name].set_params(n_jobs=n_jobs)
    model.fit(X_small.astype(dtype))
    model.transform(X_small.astype(dtype))  # compile / load the kernels
    # Build X block by block, so that its generation leaves no peak behind.
    from sklearn_lista.datasets import make_sparse_coding

    X = np.empty((n_samples, N_FEATURES), dtype=dtype)
    block = 100_000
    for i, start in enumerate(range(0, n_samples, block)):
        stop = min(start + block, n_samples)
        X[start:stop] = make_sparse_coding(
            stop - start,
            N_COMPONENTS,
            N_FEATURES,
            density=DENSITY,
            dictionary=dictionary,
            random_state=i + 1,
        )[0]
    # Give freed memory back to the system, so that RSS counts live data only.
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status_kib("VmRSS") * 1024
    exact = _reset_peak()
    sampler = None
    if not exact:
        sampler = _RssSampler()
        sampler.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codes = model.transform(X)
    seconds = time.perf_counter() - start
    if exact:
        peak = _status_kib("VmHWM") * 1024
    else:
        sampler.running = False
        sampler.join()
        peak = sampler.peak
    print(
        json.dumps(
            {
                "x_bytes": X.nbytes,
                "codes_bytes": codes.nbytes,
                "before": before,
                "peak": peak,
                "exact": exact,
                "seconds": seconds,
                "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


def bench_memory(args):
    rows = []
    fista, lista = "FISTACoder n_layers=30", "LISTACoder depth 16"
    configs = [
        (fista, "float64", 1),
        (fista, "float64", 2),
        (fista, "float32", 2),
        (lista, "float64", 2),
    ]
    for n_samples in args.n_memory:
        for name, dtype, n_jobs in configs:
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--memory-child",
                    name,
                    str(n_samples),
                    str(n_jobs),
                    dtype,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(result.stdout.strip().splitlines()[-1])
            mb = 2.0**20
            growth = r["peak"] - r["before"]
            rows.append(
                [
                    n_samples,
                    name,
                    dtype,
                    n_jobs,
                    f"{r['x_bytes'] / mb:.0f}",
                    f"{r['codes_bytes'] / mb:.0f}",
                    f"{r['before'] / mb:.0f}",
                    f"{r['peak'] / mb:.0f}" + ("" if r["exact"] else "~"),
                    f"{growth / mb:.0f}",
                    f"{(growth - r['codes_bytes']) / mb:.0f}",
                    f"{r['seconds']:.2f}",
                ]
            )
    from sklearn_lista._coders._base import _chunk_slices

    rows_per_chunk = _chunk_slices(max(args.n_memory), N_COMPONENTS)[0].stop
    print_table(
        "2. Peak memory of transform (MiB, one fresh process per row)",
        [
            "signals",
            "coder",
            "dtype",
            "n_jobs",
            "X",
            "codes",
            "RSS before",
            "peak RSS",
            "peak - before",
            "minus codes",
            "time s",
        ],
        rows,
        notes=[
            "RSS before: after building X, before transform (interpreter, "
            "libraries, X); peak RSS: VmHWM during the call ('~': psutil samples).",
            "peak - before: what transform added; minus codes: its working memory "
            f"beyond the output; chunks of {rows_per_chunk} rows, i.e. "
            f"{rows_per_chunk * N_COMPONENTS * 8 / 2**20:.1f} MiB per (rows, K) "
            "float64 buffer.",
        ],
    )


# ----------------------------------------------------------------- part 3
def jit_child():
    """Run in a fresh process: import time, first and second fit+transform."""
    start = time.perf_counter()
    import sklearn_lista  # noqa: F401

    timings = {"import sklearn_lista": time.perf_counter() - start}
    from sklearn_lista import (
        FacNetCoder,
        FISTACoder,
        ISTACoder,
        LFISTACoder,
        LISTACoder,
    )

    X, dictionary, alpha = problem(300)
    makers = {
        "ISTACoder": lambda: ISTACoder(dictionary, alpha=alpha, n_layers=20),
        "FISTACoder tol": lambda: FISTACoder(
            dictionary, alpha=alpha, n_layers=200, tol=1e-4
        ),
        "LISTACoder": lambda: LISTACoder(
            dictionary, alpha=alpha, n_layers=4, max_iter=2, random_state=0
        ),
        "LFISTACoder": lambda: LFISTACoder(
            dictionary, alpha=alpha, n_layers=4, max_iter=2, random_state=0
        ),
        "FacNetCoder": lambda: FacNetCoder(
            dictionary, alpha=alpha, n_layers=4, max_iter=2, random_state=0
        ),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in ("first", "second"):
            for name, make in makers.items():
                start = time.perf_counter()
                make().fit(X).transform(X)
                timings[f"{call} {name}"] = time.perf_counter() - start
    print(json.dumps(timings))


def bench_jit(args):
    def run_child(cache_dir):
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, __file__, "--jit-child"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        timings = json.loads(result.stdout.strip().splitlines()[-1])
        timings["process"] = time.perf_counter() - start
        return timings

    cold, warm = [], []
    for _ in range(args.jit_repeat):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold.append(run_child(cache_dir))
            warm.append(run_child(cache_dir))
    names = [key[len("first ") :] for key in cold[0] if key.startswith("first ")]

    def median(runs, key):
        return float(np.median([run[key] for run in runs]))

    rows = [["import sklearn_lista", f"{median(cold, 'import sklearn_lista'):.2f}"]]
    rows[0] += [f"{median(warm, 'import sklearn_lista'):.2f}", "-"]
    for name in names:
        rows.append(
            [
                f"fit+transform {name}",
                f"{median(cold, 'first ' + name):.2f}",
                f"{median(warm, 'first ' + name):.2f}",
                f"{median(warm, 'second ' + name):.3f}",
            ]
        )
    first_total = {
        label: float(np.median([sum(run["first " + n] for n in names) for run in runs]))
        for label, runs in (("cold", cold), ("warm", warm))
    }
    second_total = float(
        np.median([sum(run["second " + n] for n in names) for run in warm])
    )
    rows.append(
        [
            "all five, first calls",
            f"{first_total['cold']:.2f}",
            f"{first_total['warm']:.2f}",
            f"{second_total:.3f}",
        ]
    )
    rows.append(
        [
            "whole process (interpreter start to exit)",
            f"{median(cold, 'process'):.2f}",
            f"{median(warm, 'process'):.2f}",
            "-",
        ]
    )
    print_table(
        f"3. JIT cost in a fresh process, seconds (median of {args.jit_repeat})",
        ["", "cold cache", "warm cache", "second call"],
        rows,
        notes=[
            "fit(X).transform(X) on 300 x 64 signals, float64, in this order: ISTA "
            "(20 its), FISTA (tol=1e-4), LISTA / LFISTA / FacNet (4 layers, 2 "
            "epochs); each coder's first call compiles or loads what it needs "
            "that the previous ones did not.",
            "cold: NUMBA_CACHE_DIR empty; warm: the same directory after the cold "
            "run; second call: the same fit+transform again in the warm process.",
        ],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--n-memory", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jit-repeat", type=int, default=3)
    parser.add_argument("--memory-child", nargs=4, metavar="ARG")
    parser.add_argument("--jit-child", action="store_true")
    parser.add_argument(
        "--parts", type=int, nargs="+", default=[1, 2, 3], help="parts to run"
    )
    args = parser.parse_args()
    if args.memory_child:
        name, n_samples, n_jobs, dtype = args.memory_child
        memory_child(name, int(n_samples), int(n_jobs), dtype)
        return
    if args.jit_child:
        jit_child()
        return
    if args.quick:
        args.n_samples, args.n_memory, args.repeat, args.jit_repeat = (
            20_000,
            [50_000],
            1,
            1,
        )

    import numba
    import sklearn

    import sklearn_lista

    print(__doc__.splitlines()[0])
    print("command: python " + " ".join(sys.argv))
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, numba {numba.__version__}, "
        f"sklearn_lista {sklearn_lista.__version__}; {platform.machine()}, "
        f"{os.cpu_count()} CPU(s), load average "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    parts = {1: bench_threads, 2: bench_memory, 3: bench_jit}
    for part in (parts[number] for number in args.parts):
        start = time.perf_counter()
        part(args)
        print(f"({part.__name__}: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
