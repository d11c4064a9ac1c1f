"""Learned coders: accuracy per depth, training step time, fit time.

Run::

    pip install -e ".[bench]"
    pip install torch==2.13.0     # optional: the peer of the step timing (CPU)
    python benchmarks/bench_learned.py [--quick]

Problem: Gaussian dictionary K=100, P=64, Bernoulli-Gaussian codes (density
0.05, sigma=10), alpha = 0.1 * alpha_max, 10 000 training and 2 000 test
signals (another seed). Prints

1. the test relative gap ``(F(z_q) - F*) / F*`` of ISTA, FISTA, LISTA, LFISTA
   and FacNet (default training parameters, one independent fit per depth) at
   depths 1, 2, 4, 8, 16, with the ratios to ISTA/FISTA and fit times;
2. (``--factorization``) on the sparse (density 1/20) and dense (1/4)
   problems, 2 000 training signals, the test relative gap per depth of
   ISTA, FISTA, LISTA and end-to-end FacNet (50 epochs) and
   factorization-solved FacNet (``fit_algorithm="factorization"``,
   ``learning_rate_init=1e-2``, up to 100 steps per layer), fit times, and
   the factorization report's corollary condition;
3. the time of one training step (16 layers, batch 256, float64, one thread)
   of our numpy/numba LISTA next to a torch CPU implementation of the same
   network, loss and optimizer (Adam), measured in the same run, and of our
   FacNet step (Riemannian Adam on A, Adam on log S), at K=100 (P=64) and
   K=256 (the main job's adversarial problem, P=50), with FacNet's ratio to
   LISTA;
4. (``--threads``) the LISTA and FacNet steps with 1 and 2 BLAS threads;
5. (``--step-coders``) the learned-step coders as the main job trains them
   (a depth sweep 1, 2, 4, 8, 16, 32 on 5 000 signals, default parameters):
   CPU seconds of the sweep, then ``transform`` of 10 000 signals by the
   16-layer coders, plain and with ``safeguard=True``, next to FISTA-16;
6. (``--init-race``) the test relative gap and fit time of one fresh fit
   per depth with ``init="learned_steps"`` (the step start alone),
   ``"classical"`` and ``"auto"`` (the two raced), on the main job's
   digits and default Gaussian problems.
"""

import argparse
import copy
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_lista import FacNetCoder, FISTACoder, ISTACoder, LFISTACoder, LISTACoder
from sklearn_lista._lasso import LassoProblem, mean_cost_and_grad
from sklearn_lista.datasets import alpha_max, make_sparse_coding
from sklearn_lista.experiments import make_problem, reference_cost
from sklearn_lista.networks import LISTA, FacNet, StepFISTA, StepISTA
from sklearn_lista.optim import make_optimizer


def _relative_gap(coder, X, optimal_cost):
    return (-coder.score(X) - optimal_cost) / optimal_cost


def _quiet_fit_seconds(coder, X):
    """Fit `coder` on `X` without ConvergenceWarnings; returns the seconds."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    return time.perf_counter() - start


def accuracy_table(n_train, n_test, depths, density):
    X, dictionary, _ = make_sparse_coding(n_train, density=density, random_state=0)
    X_test, _, _ = make_sparse_coding(
        n_test, density=density, dictionary=dictionary, random_state=1
    )
    alpha = 0.1 * alpha_max(X, dictionary)
    optimal_cost, _ = reference_cost(X_test, dictionary, alpha)
    print(
        f"\n== Test relative gap, density {density}, {n_train} train / {n_test} "
        f"test signals, default training parameters =="
    )
    header = (
        f"{'depth':>5} {'ISTA':>10} {'LISTA':>10} {'ISTA/LISTA':>10} "
        f"{'FISTA':>10} {'LFISTA':>10} {'FISTA/LFISTA':>12} "
        f"{'FacNet':>10} {'ISTA/FacNet':>11} "
        f"{'fit LISTA':>9} {'fit LFISTA':>10} {'fit FacNet':>10}"
    )
    print(header)
    print("-" * len(header))
    for depth in depths:
        row = {}
        for name, Coder in [("ISTA", ISTACoder), ("FISTA", FISTACoder)]:
            coder = Coder(dictionary, alpha=alpha, n_layers=depth).fit(X)
            row[name] = _relative_gap(coder, X_test, optimal_cost)
        learned = [
            ("LISTA", LISTACoder),
            ("LFISTA", LFISTACoder),
            ("FacNet", FacNetCoder),
        ]
        for name, Coder in learned:
            coder = Coder(dictionary, alpha=alpha, n_layers=depth, random_state=0)
            row["fit " + name] = _quiet_fit_seconds(coder, X)
            row[name] = _relative_gap(coder, X_test, optimal_cost)
        print(
            f"{depth:>5} {row['ISTA']:>10.3e} {row['LISTA']:>10.3e} "
            f"{row['ISTA'] / row['LISTA']:>10.1f} {row['FISTA']:>10.3e} "
            f"{row['LFISTA']:>10.3e} {row['FISTA'] / row['LFISTA']:>12.2f} "
            f"{row['FacNet']:>10.3e} {row['ISTA'] / row['FacNet']:>11.1f} "
            f"{row['fit LISTA']:>8.1f}s {row['fit LFISTA']:>9.1f}s "
            f"{row['fit FacNet']:>9.1f}s",
            flush=True,
        )


def _first_layers(coder, depth):
    """The depth-`depth` network of a greedy factorization fit: its first layers
    (layer q depends on the layers before it only)."""
    truncated = copy.deepcopy(coder)
    truncated.set_params(n_layers=depth)
    truncated.A_ = coder.A_[:depth].copy()
    truncated.S_ = coder.S_[:depth].copy()
    return truncated


def factorization_table(n_train, n_test, depths, density, max_iter, max_steps):
    X, dictionary, _ = make_sparse_coding(n_train, density=density, random_state=0)
    X_test, _, _ = make_sparse_coding(
        n_test, density=density, dictionary=dictionary, random_state=1
    )
    alpha = 0.1 * alpha_max(X, dictionary)
    optimal_cost, _ = reference_cost(X_test, dictionary, alpha)
    print(
        f"\n== FacNet solvers, density {density}: test relative gap, "
        f"{n_train} train / {n_test} test signals, LISTA and end-to-end FacNet "
        f"{max_iter} epochs, factorization {max_steps} steps per layer =="
    )
    factorized = FacNetCoder(
        dictionary,
        alpha=alpha,
        n_layers=max(depths),
        fit_algorithm="factorization",
        learning_rate_init=1e-2,
        max_iter=max_steps,
        random_state=0,
    )
    factorization_time = _quiet_fit_seconds(factorized, X)
    report = factorized.factorization_report(X_test[:500])
    print(
        f"corollary alpha sqrt(P) / 8 = {report['corollary_lhs'][0]:.3f} <= "
        f"E||z*||_1 = {report['corollary_rhs'][0]:.3f}: "
        f"{bool(report['corollary_holds'][0])}; one greedy fit of "
        f"{max(depths)} layers (serves every depth): {factorization_time:.1f} s"
    )
    header = (
        f"{'depth':>5} {'ISTA':>10} {'FISTA':>10} {'LISTA':>10} "
        f"{'FacNet e2e':>10} {'FacNet fac':>10} {'ISTA/fac':>8} "
        f"{'fit LISTA':>9} {'fit e2e':>8}"
    )
    print(header)
    print("-" * len(header))
    for depth in depths:
        row = {}
        for name, Coder in [("ISTA", ISTACoder), ("FISTA", FISTACoder)]:
            coder = Coder(dictionary, alpha=alpha, n_layers=depth).fit(X)
            row[name] = _relative_gap(coder, X_test, optimal_cost)
        for name, Coder in [("LISTA", LISTACoder), ("e2e", FacNetCoder)]:
            coder = Coder(
                dictionary,
                alpha=alpha,
                n_layers=depth,
                max_iter=max_iter,
                random_state=0,
            )
            row["fit " + name] = _quiet_fit_seconds(coder, X)
            row[name] = _relative_gap(coder, X_test, optimal_cost)
        row["fac"] = _relative_gap(
            _first_layers(factorized, depth), X_test, optimal_cost
        )
        print(
            f"{depth:>5} {row['ISTA']:>10.3e} {row['FISTA']:>10.3e} "
            f"{row['LISTA']:>10.3e} {row['e2e']:>10.3e} {row['fac']:>10.3e} "
            f"{row['ISTA'] / row['fac']:>8.3f} {row['fit LISTA']:>8.1f}s "
            f"{row['fit e2e']:>7.1f}s",
            flush=True,
        )


def _median_time(step, repeat, warmup=10):
    """Median wall and CPU time of `step`. With one BLAS thread all the work
    runs in the calling thread, whose CPU time does not count the time spent
    waiting for a core on a shared machine (the wall time does)."""
    for _ in range(warmup):
        step()
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.thread_time()
        step()
        cpus.append(time.thread_time() - start_cpu)
        walls.append(time.perf_counter() - start)
    return float(np.median(walls)), float(np.median(cpus))


def _network_step(network, X, dictionary, alpha, params):
    """One training step as the training loop takes it: forward, loss,
    backward, an Adam step of every parameter on its manifold, projection."""
    optimizer = make_optimizer("adam", network.manifolds, 1e-6)

    def step():
        codes, cache = network.forward(X, params)
        _, grad = mean_cost_and_grad(X, codes, dictionary, alpha)
        optimizer.update_params(params, network.backward(params, cache, grad))
        network.project(params)

    return step


def _torch_steps(torch, X, dictionary, alpha, params):
    """Two torch variants of the same step; the faster one is the peer."""
    X_t, D_t = torch.from_numpy(X), torch.from_numpy(dictionary)
    weights = [torch.tensor(p, requires_grad=True) for p in params]
    optimizer = torch.optim.Adam(weights, lr=1e-6)
    n_layers = params[0].shape[0]

    def finish(codes):
        residual = X_t - codes @ D_t
        loss = (0.5 * (residual * residual).sum() + alpha * codes.abs().sum()) / len(
            X_t
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            weights[2].clamp_(min=0)

    def shrink(u, threshold):
        return torch.sign(u) * torch.relu(u.abs() - threshold)

    def per_layer():
        weights_x, weights_z, thresholds = weights
        codes = shrink(X_t @ weights_x[0], thresholds[0])
        for k in range(1, n_layers):
            codes = shrink(X_t @ weights_x[k] + codes @ weights_z[k - 1], thresholds[k])
        finish(codes)

    def one_input_product():
        weights_x, weights_z, thresholds = weights
        offsets = (
            X_t @ weights_x.permute(1, 0, 2).reshape(weights_x.shape[1], -1)
        ).reshape(len(X_t), n_layers, -1)
        codes = shrink(offsets[:, 0], thresholds[0])
        for k in range(1, n_layers):
            codes = shrink(offsets[:, k] + codes @ weights_z[k - 1], thresholds[k])
        finish(codes)

    return {
        "torch (per-layer input products)": per_layer,
        "torch (one input product)": one_input_product,
    }


def _step_problem(n_components, batch_size):
    """K=100: the Gaussian problem (P=64); K=256: the main job's adversarial
    problem (cosine dictionary, P=50)."""
    if n_components == 100:
        X, dictionary, _ = make_sparse_coding(batch_size, random_state=0)
        return X, dictionary, 0.1 * alpha_max(X, dictionary)
    problem = make_problem("adversarial", n_train=batch_size, n_test=1)
    return np.ascontiguousarray(problem.X_train), problem.dictionary, problem.alpha


def step_table(repeat, n_layers=16, batch_size=256, sizes=(100, 256)):
    print(
        f"\n== One training step: {n_layers} layers, batch {batch_size}, float64, "
        f"1 BLAS thread (median of {repeat}); FacNet at A = I, S = L =="
    )
    print(
        "CPU: ms of CPU time of the calling thread per step; wall: ms per step; "
        "ratios of CPU times"
    )
    print(
        f"{'K':>4} {'P':>3} {'implementation':<40} {'CPU':>7} {'wall':>8} "
        f"{'/ best torch':>12} {'/ LISTA':>8}"
    )
    for n_components in sizes:
        X, dictionary, alpha = _step_problem(n_components, batch_size)
        problem = LassoProblem(dictionary, alpha)
        lista, facnet = LISTA(problem), FacNet(problem)
        init = lista.init_params(n_layers)
        timings = {}
        with threadpool_limits(limits=1):
            timings["sklearn-lista LISTA"] = _median_time(
                _network_step(
                    lista, X, dictionary, alpha, {k: p.copy() for k, p in init.items()}
                ),
                repeat,
            )
            timings["sklearn-lista FacNet (Riemannian Adam)"] = _median_time(
                _network_step(
                    facnet, X, dictionary, alpha, facnet.init_params(n_layers)
                ),
                repeat,
            )
            for network in (StepISTA(problem), StepFISTA(problem)):
                timings[f"sklearn-lista {network.name} (steps at 1/L)"] = _median_time(
                    _network_step(
                        network,
                        X,
                        dictionary,
                        alpha,
                        network.init_params(n_layers),
                    ),
                    repeat,
                )
            try:
                import torch
            except ImportError:
                torch = None
            if torch is not None:
                torch.set_num_threads(1)
                weights = list(init.values())
                for name, step in _torch_steps(
                    torch, X, dictionary, alpha, weights
                ).items():
                    timings[name] = _median_time(step, repeat)
        peers = {k: v[1] for k, v in timings.items() if k.startswith("torch")}
        best_peer = min(peers.values()) if peers else None
        for name, (wall, cpu) in timings.items():
            ratio = f"{cpu / best_peer:>12.2f}" if best_peer else f"{'-':>12}"
            to_lista = cpu / timings["sklearn-lista LISTA"][1]
            print(
                f"{n_components:>4} {dictionary.shape[1]:>3} {name:<40} "
                f"{cpu * 1e3:>7.2f} {wall * 1e3:>8.2f} {ratio} {to_lista:>8.2f}"
            )
    if best_peer is None:
        print("torch is not installed: pip install torch==2.13.0")


def _wall_steps(step, repeat):
    step()
    start = time.perf_counter()
    for _ in range(repeat):
        step()
    return (time.perf_counter() - start) / repeat


def thread_table(repeat, n_layers=16, batch_size=256, rounds=5):
    """LISTA's and FacNet's steps with 1 and 2 BLAS threads, interleaved
    (median wall time of `rounds` runs of `repeat` steps): on a machine whose
    other core is busy, the second thread's synchronisation dominates."""
    print(
        f"\n== One training step with 1 and 2 BLAS threads (K=100, {n_layers} "
        f"layers, batch {batch_size}, wall ms, median of {rounds} x {repeat}) =="
    )
    X, dictionary, alpha = _step_problem(100, batch_size)
    problem = LassoProblem(dictionary, alpha)
    steps = {}
    for network in (LISTA(problem), FacNet(problem)):
        steps[network.name] = _network_step(
            network, X, dictionary, alpha, network.init_params(n_layers)
        )
    times = {}
    for _ in range(rounds):
        for threads in (1, 2):
            with threadpool_limits(limits=threads, user_api="blas"):
                for name, step in steps.items():
                    times.setdefault((name, threads), []).append(
                        _wall_steps(step, repeat)
                    )
    print(f"{'network':<8} {'1 thread':>9} {'2 threads':>10} {'2 / 1':>6}")
    for name in steps:
        one, two = (np.median(times[(name, t)]) for t in (1, 2))
        print(f"{name:<8} {one * 1e3:>9.2f} {two * 1e3:>10.2f} {two / one:>6.2f}")


def _cpu_seconds(function, repeat):
    """Median CPU time of the process (one BLAS thread: the calling thread's)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return float(np.median(times))


def step_coder_table(n_train=5000, n_test=10_000, depths=(1, 2, 4, 8, 16, 32)):
    from sklearn_lista import StepLISTACoder
    from sklearn_lista.experiments import train_depth_sweep

    problem = make_problem("gaussian-sparse", n_train=n_train, n_test=n_test)
    print(
        f"\n== Learned-step coders: depth sweep {list(depths)} on {n_train} "
        f"signals (CPU s), transform of {n_test} signals (CPU ms), 1 thread =="
    )
    deepest = 16 if 16 in depths else max(depths)
    fista = FISTACoder(problem.dictionary, alpha=problem.alpha, n_layers=deepest)
    fista.fit(problem.X_test)
    print(f"{'coder':<12} {'sweep s':>8} {'plain ms':>9} {'safeguard ms':>13}")
    for momentum in (False, True):
        template = StepLISTACoder(
            problem.dictionary, alpha=problem.alpha, momentum=momentum, random_state=0
        )
        start = time.process_time()
        models = train_depth_sweep(template, problem.X_train, depths)
        sweep = time.process_time() - start
        coder = copy.deepcopy(models[deepest])
        plain = _cpu_seconds(lambda coder=coder: coder.transform(problem.X_test), 7)
        coder.set_params(safeguard=True)
        guarded = _cpu_seconds(lambda coder=coder: coder.transform(problem.X_test), 7)
        name = f"step-{'FISTA' if momentum else 'ISTA'}-{deepest}"
        print(f"{name:<12} {sweep:>8.1f} {plain * 1e3:>9.0f} {guarded * 1e3:>13.0f}")
    fista_time = _cpu_seconds(lambda: fista.transform(problem.X_test), 7)
    name = f"FISTA-{deepest}"
    print(f"{name:<12} {'-':>8} {fista_time * 1e3:>9.0f} {'-':>13}")


def init_race_table(problems=("digits", "gaussian-sparse"), depths=(2, 4, 8, 16)):
    inits = ("learned_steps", "classical", "auto")
    print(
        "\n== One fresh fit per depth from each start: test relative gap "
        "(fit seconds), default parameters =="
    )
    header = f"{'problem':<16} {'coder':<7} {'depth':>5} " + " ".join(
        f"{init:>21}" for init in inits
    )
    print(header)
    print("-" * len(header))
    for name in problems:
        problem = make_problem(name)
        optimal_cost, _ = reference_cost(
            problem.X_test, problem.dictionary, problem.alpha
        )
        for Coder in (LISTACoder, LFISTACoder):
            for depth in depths:
                cells = []
                for init in inits:
                    coder = Coder(
                        problem.dictionary,
                        alpha=problem.alpha,
                        n_layers=depth,
                        init=init,
                        random_state=0,
                    )
                    seconds = _quiet_fit_seconds(coder, problem.X_train)
                    gap = _relative_gap(coder, problem.X_test, optimal_cost)
                    cells.append(f"{gap:>12.3e} ({seconds:>5.1f}s)")
                print(
                    f"{name:<16} {Coder.__name__[:-5]:<7} {depth:>5} "
                    + " ".join(f"{cell:>21}" for cell in cells),
                    flush=True,
                )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--repeat", type=int, default=200, help="steps timed")
    parser.add_argument(
        "--skip-accuracy", action="store_true", help="only the step timing"
    )
    parser.add_argument(
        "--threads",
        action="store_true",
        help="only the step timing with 1 and 2 BLAS threads",
    )
    parser.add_argument(
        "--factorization",
        action="store_true",
        help="only the FacNet solvers on the sparse and dense problems",
    )
    parser.add_argument(
        "--step-coders",
        action="store_true",
        help="only the learned-step coders' sweep and transform times",
    )
    parser.add_argument(
        "--init-race",
        action="store_true",
        help="only the fresh fits from each start (init) on digits and Gaussian",
    )
    args = parser.parse_args()
    if args.init_race:
        if args.quick:
            init_race_table(("digits",), (2,))
        else:
            init_race_table()
        return
    if args.step_coders:
        if args.quick:
            step_coder_table(500, 1000, (1, 2, 4))
        else:
            step_coder_table()
        return
    if args.threads:
        thread_table(repeat=5 if args.quick else 20)
        return
    if args.factorization:
        for density in (0.05, 0.25):
            if args.quick:
                factorization_table(500, 200, [1, 2], density, 5, 10)
            else:
                factorization_table(2_000, 1_000, [1, 2, 4, 8, 16], density, 50, 100)
        return
    if args.quick:
        step_table(repeat=20, n_layers=4, sizes=(100,))
        if not args.skip_accuracy:
            accuracy_table(1000, 200, [1, 2], 0.05)
        return
    step_table(repeat=args.repeat)
    if not args.skip_accuracy:
        accuracy_table(10_000, 2_000, [1, 2, 4, 8, 16], 0.05)


if __name__ == "__main__":
    main()
