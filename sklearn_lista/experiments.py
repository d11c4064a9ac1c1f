"""The paper's experiments: problems, depth sweeps and their figure.

The relative cost gap ``(F(z_q) - F*) / F*`` of the mean Lasso cost after
``q`` layers (iterations) is the paper's measure of how far a coder of depth
``q`` is from the solution.
"""

import copy
import ctypes
import math
import os
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch

from ._coders import (
    ALISTACoder,
    FacNetCoder,
    FISTACoder,
    HyperLISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTACoder,
    StepLISTACoder,
)

__all__ = [
    "PROBLEMS",
    "METHODS",
    "PAPER_METHODS",
    "STEP_METHODS",
    "CLASSICAL_METHODS",
    "LEARNED_METHODS",
    "make_problem",
    "reference_cost",
    "depth_sweep",
    "train_depth_sweep",
    "compare_coders",
    "plot_gap_curves",
]

# Unfitted templates of the compared coders (cloned, then given the problem).
CLASSICAL_METHODS = {"ISTA": ISTACoder(), "FISTA": FISTACoder()}
LEARNED_METHODS = {
    "LISTA": LISTACoder(),
    "LFISTA": LFISTACoder(),
    "FacNet": FacNetCoder(),
    "StepLISTA": StepLISTACoder(),
    "StepFISTA": StepLISTACoder(momentum=True),
    "HyperLISTA": HyperLISTACoder(),
    "LISTA-CP": LISTACoder(parametrization="coupled"),
    "LISTA-CPSS": LISTACoder(parametrization="coupled", support_selection=True),
    "ALISTA": ALISTACoder(),
}
METHODS = (*CLASSICAL_METHODS, *LEARNED_METHODS)
# The paper's five, and the learned-step coders of [2/6].
PAPER_METHODS = ("ISTA", "FISTA", "LISTA", "LFISTA", "FacNet")
STEP_METHODS = ("StepLISTA", "StepFISTA")
# Relative training cost of a depth sweep (measured): the priority of its
# tasks when methods run in parallel, the costliest first.
_EXPECTED_COST = {
    "FacNet": 4,
    "LFISTA": 3,
    "LISTA": 2,
    "StepFISTA": 1.5,
    "StepLISTA": 1,
}

PROBLEMS = {
    "gaussian-sparse": "Gaussian dictionary K=100, P=64; Bernoulli-Gaussian codes, "
    "density 1/20, sigma=10; alpha = 0.1 alpha_max",
    "gaussian-dense": "Gaussian dictionary K=100, P=64; Bernoulli-Gaussian codes, "
    "density 1/4, sigma=10; alpha = 0.1 alpha_max",
    "adversarial": "cosine dictionary K=256, P=50 (Gram eigenvectors far from the "
    "canonical basis); codes of density 1/20, sigma=10; alpha = 0.1 alpha_max",
    "images": "8x8 mean-removed patches (train china.jpg, test flower.jpg) over "
    "translated Haar wavelets (128 atoms); alpha = 0.05",
    "digits": "8x8 digits over a 100-atom dictionary learned on the training "
    "digits; alpha = 0.1 alpha_max",
}


def make_problem(name="gaussian-sparse", *, n_train=10000, n_test=2000, random_state=0):
    """Train and test signals, dictionary and alpha of one of the paper's problems.

    Parameters
    ----------
    name : {"gaussian-sparse", "gaussian-dense", "adversarial", "images", \
            "digits"}, default="gaussian-sparse"
        See :data:`PROBLEMS` for a one-line description of each. The
        synthetic problems draw their test signals from the same model; the
        image problem tests on another image; digits has 1797 signals in
        all, split 75/25 (`n_train` and `n_test` then only cap the sizes).
    n_train : int, default=10000
        Training signals.
    n_test : int, default=2000
        Test signals.
    random_state : int, RandomState instance or None, default=0
        Seed of the dictionary and of the signals.

    Returns
    -------
    problem : :class:`~sklearn.utils.Bunch`
        With ``X_train``, ``X_test``, ``dictionary``, ``alpha``, ``name``,
        ``description`` and, for digits, the labels ``y_train``, ``y_test``.

    Examples
    --------
    >>> from sklearn_lista.experiments import make_problem
    >>> problem = make_problem("adversarial", n_train=100, n_test=10)
    >>> problem.X_train.shape, problem.dictionary.shape
    ((100, 50), (256, 50))
    """
    from sklearn.utils import check_random_state

    from . import datasets

    if name not in PROBLEMS:
        raise ValueError(
            f"unknown problem {name!r}; choose one of {', '.join(PROBLEMS)}."
        )
    for label, size in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"{label} must be a positive integer, got {size!r}.")
    rng = check_random_state(random_state)
    labels = {}
    if name == "images":
        X_train, X_test = datasets.load_image_patches(
            max(n_train, n_test), random_state=rng
        )
        X_train, X_test = X_train[:n_train], X_test[:n_test]
        dictionary = datasets.make_haar_dictionary()
        alpha = 0.05
    elif name == "digits":
        X_train, X_test, y_train, y_test, dictionary = datasets.load_digits_problem(
            random_state=rng
        )
        X_train, X_test = X_train[:n_train], X_test[:n_test]
        labels = {"y_train": y_train[:n_train], "y_test": y_test[:n_test]}
        alpha = None
    else:
        dictionary = None
        if name == "adversarial":
            dictionary = datasets.make_adversarial_dictionary(random_state=rng)
        density = 0.25 if name == "gaussian-dense" else 0.05
        X_train, dictionary, _ = datasets.make_sparse_coding(
            n_train, density=density, dictionary=dictionary, random_state=rng
        )
        X_test, _, _ = datasets.make_sparse_coding(
            n_test, density=density, dictionary=dictionary, random_state=rng
        )
        alpha = None
    if alpha is None:
        alpha = 0.1 * datasets.alpha_max(X_train, dictionary)
    return Bunch(
        X_train=X_train,
        X_test=X_test,
        dictionary=dictionary,
        alpha=alpha,
        name=name,
        description=PROBLEMS[name],
        **labels,
    )


def reference_cost(X, dictionary, alpha, *, positive=False, tol=1e-12, max_iter=100000):
    """Mean Lasso cost at the optimum, and the optimal codes.

    Solved by coordinate descent (:class:`sklearn.linear_model.Lasso`, one
    problem per signal, the Gram matrix precomputed): on the ill-conditioned
    dictionaries of the image and digit problems it reaches a relative duality
    gap of 1e-11 a hundred times faster than FISTA. The duality gap of the
    result is then measured with this package's own formula.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Signals.
    dictionary : ndarray of shape (n_components, n_features)
        Atoms as rows.
    alpha : float
        Weight of the l1 penalty.
    positive : bool, default=False
        Non-negative codes.
    tol : float, default=1e-12
        Coordinate descent stops when a signal's duality gap is below
        ``tol * ||x||^2``.
    max_iter : int, default=100000
        Coordinate descent epochs per signal.

    Returns
    -------
    cost : float
        ``F*``, the mean optimal cost over the samples.
    codes : ndarray of shape (n_samples, n_components)
        The (near-)optimal codes.

    Warns
    -----
    ConvergenceWarning
        When the total duality gap exceeds ``1e-9`` times the total cost.

    Examples
    --------
    >>> from sklearn_lista.datasets import make_sparse_coding
    >>> from sklearn_lista.experiments import reference_cost
    >>> X, D, _ = make_sparse_coding(20, 30, 10, random_state=0)
    >>> cost, codes = reference_cost(X, D, alpha=1.0)
    >>> codes.shape
    (20, 30)
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    from ._lasso import duality_gaps

    X = np.asarray(X, dtype=np.float64)
    dictionary = np.asarray(dictionary, dtype=np.float64)
    # sklearn's Lasso divides the squared loss by the number of rows of its
    # design matrix, here the n_features rows of dictionary.T.
    solver = Lasso(
        alpha=alpha / X.shape[1],
        fit_intercept=False,
        precompute=True,
        tol=tol,
        max_iter=max_iter,
        positive=positive,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        solver.fit(dictionary.T, X.T)
    codes = np.ascontiguousarray(solver.coef_.reshape(X.shape[0], -1))
    gaps, costs = duality_gaps(X, codes, dictionary, alpha, positive)
    if gaps.sum() > 1e-9 * max(costs.sum(), np.finfo(float).tiny):
        warnings.warn(
            f"reference_cost: relative duality gap {gaps.sum() / costs.sum():.1e} "
            "> 1e-9; increase max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return float(costs.mean()), codes


def depth_sweep(coders, X, dictionary, alpha, depths, *, optimal_cost=None):
    """Relative gap ``(F(z_q) - F*) / F*`` of each coder at each depth.

    Parameters
    ----------
    coders : dict of str -> estimator
        Unfitted coders; each is cloned with ``n_layers=q`` for every depth and
        fitted on `X` (training happens on `X` for learned coders).
    X : ndarray of shape (n_samples, n_features)
        Signals, used both to fit and to measure.
    dictionary : ndarray of shape (n_components, n_features)
        Atoms as rows.
    alpha : float
        Weight of the l1 penalty.
    depths : sequence of int
        Values of ``n_layers`` to evaluate.
    optimal_cost : float, default=None
        ``F*``; computed by :func:`reference_cost` when None.

    Returns
    -------
    gaps : dict of str -> ndarray of shape (len(depths),)
        The relative gap of each coder at each depth.

    Examples
    --------
    >>> from sklearn_lista import ISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding
    >>> from sklearn_lista.experiments import depth_sweep
    >>> X, D, _ = make_sparse_coding(50, 20, 10, random_state=0)
    >>> gaps = depth_sweep({"ISTA": ISTACoder(D, alpha=1.0)}, X, D, 1.0, [1, 10])
    >>> bool(gaps["ISTA"][1] < gaps["ISTA"][0])
    True
    """

    if optimal_cost is None:
        optimal_cost, _ = reference_cost(X, dictionary, alpha)
    gaps = {}
    for name, coder in coders.items():
        values = []
        for depth in depths:
            estimator = clone(coder).set_params(n_layers=depth)
            values.append(_relative_gap(estimator.fit(X), X, optimal_cost))
        gaps[name] = np.asarray(values)
    return gaps


def _relative_gap(estimator, X, optimal_cost):
    return (-estimator.score(X) - optimal_cost) / optimal_cost


def _fit_at_depth(estimator, depth, X, step_coder=None):
    """Fit `estimator` (warm-started) at `depth`, from `step_coder` if given
    (``init=``); returns the seconds it took."""
    estimator.set_params(n_layers=depth)
    if step_coder is not None:
        estimator.set_params(init=step_coder)
    start = time.perf_counter()
    with warnings.catch_warnings():
        if getattr(estimator, "verbose", 0) == 0:
            warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)
    return time.perf_counter() - start


def train_depth_sweep(coder, X, depths, *, callback=None, step_coders=None):
    """Train a learned coder at increasing depths, each warm-started from the last.

    The network of depth ``depths[i]`` starts from the trained network of
    depth ``depths[i - 1]``, its extra layers at ISTA (FISTA) values: this is
    how the paper trains its depth sweep, and it costs far less than training
    each depth from scratch.

    Parameters
    ----------
    coder : LISTACoder, LFISTACoder or another learned coder
        Unfitted template; it is cloned, with ``warm_start=True``.
    X : array-like of shape (n_samples, n_features)
        Training signals.
    depths : sequence of int
        Increasing depths.
    callback : callable, default=None
        Called as ``callback(depth, estimator, seconds)`` after each depth is
        trained, with the training time of that depth.
    step_coders : dict of int -> StepLISTACoder, default=None
        Fitted step coders per depth (e.g. the ``init_coder_`` of another
        sweep's models, which have one unless the classical start won
        there), passed as ``init`` to the fit of that depth: the
        sweep starts from them instead of training its own.

    Returns
    -------
    fitted : dict of int -> estimator
        An independent fitted copy per depth.

    Examples
    --------
    >>> from sklearn_lista import LISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> from sklearn_lista.experiments import train_depth_sweep
    >>> X, D, _ = make_sparse_coding(200, 20, 10, random_state=0)
    >>> template = LISTACoder(D, alpha=0.1 * alpha_max(X, D), max_iter=3)
    >>> models = train_depth_sweep(template, X, [1, 2, 4])
    >>> sorted(models), models[4].weights_x_.shape
    ([1, 2, 4], (4, 10, 20))
    """
    depths = list(depths)
    if sorted(depths) != depths or len(set(depths)) != len(depths):
        raise ValueError(f"depths must be strictly increasing, got {depths}.")
    estimator = clone(coder).set_params(warm_start=True)
    fitted = {}
    for depth in depths:
        step_coder = None if step_coders is None else step_coders[depth]
        seconds = _fit_at_depth(estimator, depth, X, step_coder)
        fitted[depth] = copy.deepcopy(estimator)
        if callback is not None:
            callback(depth, fitted[depth], seconds)
    return fitted


# A LISTA (LFISTA) sweep with learned-step initialisation trains, depth by
# depth, exactly the sweep of this step method when their settings agree.
_STEP_METHOD_OF = {"LISTA": ("StepLISTA", False), "LFISTA": ("StepFISTA", True)}


def _template(name, problem, params, random_state):
    methods = CLASSICAL_METHODS if name in CLASSICAL_METHODS else LEARNED_METHODS
    template = clone(methods[name]).set_params(
        dictionary=problem.dictionary, alpha=problem.alpha, **params
    )
    if name in LEARNED_METHODS:
        template.set_params(random_state=random_state)
    return template


def _same_params(first, second):
    first, second = first.get_params(deep=False), second.get_params(deep=False)
    if first.keys() != second.keys():
        return False
    return all(
        np.array_equal(first[key], second[key])
        if isinstance(first[key], np.ndarray)
        else first[key] == second[key]
        for key in first
        if key not in ("n_layers", "warm_start")
    )


def _shared_step_methods(methods, templates):
    """``{step method: full method}`` for the step sweeps that the full
    methods' learned-step initialisations compute anyway."""

    shared = {}
    for name, (step_name, momentum) in _STEP_METHOD_OF.items():
        if name in methods and step_name in methods:
            steps = _learned_step_coder(templates[name], momentum)
            if steps is not None and _same_params(steps, templates[step_name]):
                shared[step_name] = name
    return shared


def _learned_step_coder(template, momentum):
    """The step coder `template`'s learned-step start trains (None if it
    starts elsewhere)."""
    from ._coders.learned import step_coder_for

    if template._init_strategy() != "learned_steps":
        return None
    return step_coder_for(template, template.dictionary, momentum)


def _step_followers(methods, templates):
    """``{method: LISTA}`` for the methods (FacNet) whose learned-step
    initialisation is LISTA's step sweep: they start from LISTA's step coders
    (``init=``) instead of training the same ones."""
    if "LISTA" not in methods or "FacNet" not in methods:
        return {}
    lista_steps = _learned_step_coder(templates["LISTA"], False)
    facnet_steps = _learned_step_coder(templates["FacNet"], False)
    if None in (lista_steps, facnet_steps):
        return {}
    return {"FacNet": "LISTA"} if _same_params(facnet_steps, lista_steps) else {}


class _Sweep:
    """A learned method's depth sweep as :func:`compare_coders` runs it, one
    task per depth: depth ``depths[i]`` starts from the network fitted at
    ``depths[i - 1]`` and, with `steps` (the sweep of the step coders it
    starts from, ``init=``), once that sweep has fitted the same depth.
    `priority` orders the ready tasks of several jobs (the highest first).
    `pays_steps`: the step coders are this method's own learned-step start,
    so their training times are added to its times, and its models keep the
    template's `init`. `trained_for`: the methods a step sweep is for (its
    progress lines say so)."""

    def __init__(
        self,
        name,
        template,
        depths,
        priority,
        *,
        steps=None,
        pays_steps=False,
        trained_for=None,
    ):
        self.name, self.depths, self.priority = name, depths, priority
        self.steps, self.pays_steps, self.trained_for = steps, pays_steps, trained_for
        self.init = template.get_params().get("init")
        self.estimator = clone(template).set_params(warm_start=True)
        self.models, self.seconds, self.gaps = {}, [], []
        self.running = False

    def _next_depth(self):
        return self.depths[len(self.models)]

    def finished(self):
        return len(self.models) == len(self.depths)

    def ready(self):
        if self.running or self.finished():
            return False
        return self.steps is None or self._next_depth() in self.steps.models

    def start(self, problem, optimal_cost, in_process):
        self.running = True
        depth = self._next_depth()
        step_coder = None if self.steps is None else self.steps.models[depth]
        # In this process the task fits the object itself: the fitted copy of
        # each depth must stay as it is.
        estimator = copy.deepcopy(self.estimator) if in_process else self.estimator
        return _fit_depth_task, (estimator, depth, problem, optimal_cost, step_coder)

    def record(self, result):
        """Keeps a finished depth; returns its progress line."""
        estimator, seconds, gap = result
        depth = self._next_depth()
        self.running = False
        self.models[depth], self.estimator = estimator, estimator
        self.seconds.append(seconds)
        self.gaps.append(gap)
        if self.trained_for is not None:
            trained = f"trained for {self.trained_for} in"
        else:
            trained = "fine-tuned in" if self.steps is not None else "trained in"
        return [
            f"{self.name:>9} depth {depth:>3}: {trained} {seconds:6.1f} s "
            f"({estimator.n_iter_} epochs), test gap {gap:.3e}"
        ]

    def results(self):
        seconds = np.array(self.seconds)
        if self.pays_steps:
            seconds = seconds + np.array(self.steps.seconds)
            for model in self.models.values():
                # As if it had trained them itself (`init_coder_` stays, so
                # a warm refit at another depth grows it).
                model.set_params(init=self.init)
        return self.name, np.array(self.gaps), seconds, self.models


class _Classical:
    """ISTA or FISTA at every depth, one task."""

    def __init__(self, name, template, depths, priority=0):
        self.name, self.template, self.depths = name, template, depths
        self.priority, self.done, self.running = priority, None, False

    def ready(self):
        return not self.running and self.done is None

    def finished(self):
        return self.done is not None

    def start(self, problem, optimal_cost, in_process):
        self.running = True
        return _classical_task, (self.template, self.depths, problem, optimal_cost)

    def record(self, result):
        self.done, self.running = result, False
        return []

    def results(self):
        return self.name, *self.done, None


def _fit_depth_task(estimator, depth, problem, optimal_cost, step_coder):
    """One depth of a sweep: the fitted estimator, its training time and
    its test gap."""
    seconds = _fit_at_depth(estimator, depth, problem.X_train, step_coder)
    return estimator, seconds, _relative_gap(estimator, problem.X_test, optimal_cost)


def _classical_task(template, depths, problem, optimal_cost):
    """Test gaps and encoding times of a classical solver at every depth."""
    values, seconds = [], []
    for depth in depths:
        coder = clone(template).set_params(n_layers=depth).fit(problem.X_train)
        start = time.perf_counter()
        values.append(_relative_gap(coder, problem.X_test, optimal_cost))
        seconds.append(time.perf_counter() - start)
    return np.array(values), np.array(seconds)


def _init_worker(n_threads):
    """Worker initialiser: its share of the cores for BLAS, and (glibc) an
    allocator that keeps freed memory for the next training step."""
    from threadpoolctl import threadpool_limits

    # Not a context: the limit stays for the worker's life.
    threadpool_limits(limits=n_threads)
    _keep_freed_memory()


def _keep_freed_memory():
    """Training steps allocate arrays of a few MiB: glibc maps each afresh
    and returns it when freed (a page fault per 4 KiB written at the next
    step). In the worker processes this module starts (never the user's),
    arrays up to 32 MiB (glibc's largest threshold on 64 bits) come from the
    heap and freed memory stays there. Other C libraries: nothing."""
    try:
        os.confstr("CS_GNU_LIBC_VERSION")
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (ValueError, OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 1 << 30)


def _run_jobs(jobs, problem, optimal_cost, n_jobs):
    """Run the tasks of the `jobs` (:class:`_Sweep`, :class:`_Classical`),
    up to `n_jobs` at once in worker processes, each free worker taking the
    ready task of the job of highest priority; yields the progress lines of
    each finished task. Depth by depth, a sweep that starts from another's
    step coders follows it closely, so the workers stay busy to the end."""
    from joblib import effective_n_jobs

    def pick():
        ready = [job for job in jobs if job.ready()]
        return max(ready, key=lambda job: job.priority) if ready else None

    n_workers = min(effective_n_jobs(n_jobs), len(jobs))
    if n_workers <= 1:
        while (job := pick()) is not None:
            function, args = job.start(problem, optimal_cost, in_process=True)
            yield job.record(function(*args))
    else:
        yield from _run_in_workers(jobs, pick, problem, optimal_cost, n_workers)
    if not all(job.finished() for job in jobs):
        raise RuntimeError("compare_coders: some tasks could never start.")


def _run_in_workers(jobs, pick, problem, optimal_cost, n_workers):
    from concurrent.futures import FIRST_COMPLETED, wait

    from joblib import cpu_count

    # loky's executor (joblib's): worker processes started afresh (a fork of
    # a process whose BLAS threads run is not safe), without the
    # ``if __name__ == "__main__"`` guard that multiprocessing's spawn
    # needs in the user's script. Its own executor, not joblib's shared one,
    # so that the allocator setting stays in these workers.
    from joblib.externals.loky import ProcessPoolExecutor

    n_threads = max(1, cpu_count() // n_workers)
    executor = ProcessPoolExecutor(
        n_workers, initializer=_init_worker, initargs=(n_threads,)
    )
    try:
        running = {}
        while True:
            # Submitted only when a worker is free, so that the choice of
            # the next task sees every task that has become ready.
            while len(running) < n_workers and (job := pick()) is not None:
                function, args = job.start(problem, optimal_cost, in_process=False)
                running[executor.submit(function, *args)] = job
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future).record(future.result())
    except BaseException:
        # An error (or an interrupt) does not wait for the running tasks.
        executor.shutdown(wait=False, kill_workers=True)
        raise
    executor.shutdown(wait=True)


def _plan_jobs(methods, templates, depths, shared, followers):
    """The jobs of :func:`compare_coders`: a :class:`_Classical` per classical
    method, a :class:`_Sweep` per learned one, and the step sweeps of LISTA's
    and LFISTA's learned-step starts as jobs of their own (reported as the
    `shared` step methods when those were asked for), which their methods
    and `followers` fine-tune from."""
    step_of = {full: step for step, full in shared.items()}
    jobs = []
    for name in methods:
        if name in shared or name in followers:
            continue
        if name in CLASSICAL_METHODS:
            # The first one before any training: on a fresh install its
            # first call compiles the row-wise kernels (~25 s), then beside
            # the other worker's training instead of after it. The others
            # last, when they load those kernels from the disk cache.
            first = not any(isinstance(job, _Classical) for job in jobs)
            priority = math.inf if first else 0
            jobs.append(_Classical(name, templates[name], depths, priority))
            continue
        steps = (
            _learned_step_coder(templates[name], _STEP_METHOD_OF[name][1])
            if name in _STEP_METHOD_OF
            else None
        )
        if steps is None:
            jobs.append(
                _Sweep(name, templates[name], depths, _EXPECTED_COST.get(name, 0))
            )
            continue
        # Its learned-step start is a sweep of its own (shared with the
        # methods that follow it), ahead of theirs depth by depth: the two
        # then run side by side. They all wait on it: its priority is the
        # sum of theirs.
        users = [name, *(f for f, leader in followers.items() if leader == name)]
        steps = _Sweep(
            step_of.get(name, f"{name}-steps"),
            steps,
            depths,
            sum(_EXPECTED_COST.get(user, 0) for user in users),
            trained_for=" and ".join(users),
        )
        jobs.append(steps)
        jobs.extend(
            _Sweep(
                user,
                templates[user],
                depths,
                _EXPECTED_COST.get(user, 0),
                steps=steps,
                pays_steps=user == name,
            )
            for user in users
        )
    return jobs


# About half of it is the numpydoc; the rest validates, plans the jobs
# (_plan_jobs), runs them (_run_jobs) and gathers their results.
def compare_coders(
    problem,
    depths=(1, 2, 4, 8, 16),
    *,
    methods=PAPER_METHODS,
    coder_params=None,
    random_state=0,
    progress=None,
    n_jobs=None,
):
    """The paper's comparison: test gap per depth of every method on a problem.

    ISTA and FISTA run ``q`` iterations; each learned coder is trained on
    ``problem.X_train`` at the increasing `depths`, every depth warm-started
    from the previous one (:func:`train_depth_sweep`). Every method is then
    measured on ``problem.X_test`` against ``F*`` from
    :func:`reference_cost` (coordinate descent to a relative duality gap of
    about 1e-11).

    Parameters
    ----------
    problem : Bunch
        As returned by :func:`make_problem` (``X_train``, ``X_test``,
        ``dictionary``, ``alpha``).
    depths : sequence of int, default=(1, 2, 4, 8, 16)
        Strictly increasing depths.
    methods : sequence of str, default=PAPER_METHODS
        Which methods to run, among :data:`METHODS`.
    coder_params : dict of str -> dict, default=None
        Extra constructor parameters per method, e.g.
        ``{"LISTA": {"max_iter": 20}}``.
    random_state : int, RandomState instance or None, default=0
        Seed of the learned coders' training.
    progress : callable, default=None
        Called with a line of text after each trained depth (e.g. ``print``),
        in the order the depths end.
    n_jobs : int, default=None
        Worker processes (-1: one per core; None: 1), each with its share of
        the BLAS threads. A task is one depth of one method, trained once
        that method's previous depth (and the step coders it starts from)
        are; a free worker takes the ready task of the costliest method. The
        results do not depend on it.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``depths``; ``gaps`` (method -> array of test gaps per depth);
        ``fit_times`` (method -> seconds per depth, training for learned
        coders, encoding the test set for ISTA/FISTA; NaN for a step method
        whose sweep was the learned-step initialisation of LISTA's or
        LFISTA's, trained once for both; FacNet's, when it starts from
        LISTA's step coders, leave out their training); ``optimal_cost``;
        ``models`` (learned method -> {depth: fitted coder}).

    Examples
    --------
    >>> from sklearn_lista.experiments import compare_coders, make_problem
    >>> problem = make_problem(n_train=200, n_test=50)
    >>> result = compare_coders(problem, [1, 2], methods=["ISTA", "LISTA"],
    ...                         coder_params={"LISTA": {"max_iter": 5}})
    >>> bool(result.gaps["LISTA"][1] < result.gaps["ISTA"][1])
    True
    """
    depths = [int(depth) for depth in depths]
    if not depths or min(depths) < 1 or sorted(set(depths)) != depths:
        raise ValueError(
            f"depths must be strictly increasing positive integers, got {depths}."
        )
    unknown = [name for name in methods if name not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose among {list(METHODS)}.")
    coder_params = coder_params or {}
    optimal_cost, _ = reference_cost(problem.X_test, problem.dictionary, problem.alpha)
    templates = {
        name: _template(name, problem, coder_params.get(name, {}), random_state)
        for name in methods
    }
    shared = _shared_step_methods(methods, templates)
    followers = _step_followers(methods, templates)
    jobs = _plan_jobs(methods, templates, depths, shared, followers)
    report = progress if progress is not None else lambda line: None
    for lines in _run_jobs(jobs, problem, optimal_cost, n_jobs):
        for line in lines:
            report(line)
    results = [job.results() for job in jobs]
    gaps, fit_times, models = {}, {}, {}
    for name, values, seconds, fitted in results:
        if name not in methods:
            continue
        if name in shared:
            # Its training time is part of the full method's.
            seconds = np.full(len(depths), np.nan)
        gaps[name], fit_times[name] = values, seconds
        if fitted is not None:
            models[name] = fitted
    return Bunch(
        depths=np.array(depths),
        gaps={name: gaps[name] for name in methods},
        fit_times={name: fit_times[name] for name in methods},
        optimal_cost=optimal_cost,
        models={name: models[name] for name in methods if name in models},
    )


def plot_gap_curves(result, *, ax=None, title=None):
    """Draw the paper's figure: relative gap vs depth, log-log, one curve a method.

    Parameters
    ----------
    result : Bunch
        As returned by :func:`compare_coders` (``depths`` and ``gaps``).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        Title of the axes.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Examples
    --------
    >>> from sklearn_lista.experiments import (
    ...     compare_coders, make_problem, plot_gap_curves)
    >>> problem = make_problem(n_train=100, n_test=50)
    >>> result = compare_coders(problem, [1, 2], methods=["ISTA", "FISTA"])
    >>> ax = plot_gap_curves(result, title="ISTA and FISTA")
    >>> len(ax.get_lines())
    2
    """
    try:
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_gap_curves needs matplotlib: pip install matplotlib"
        ) from error
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    styles = {"ISTA": "k--", "FISTA": "k:", "LISTA": "o-", "LFISTA": "s-"}
    for name, values in result.gaps.items():
        # Gaps below round-off are drawn at the floor of a log axis, not lost.
        ax.loglog(
            result.depths,
            np.maximum(values, 1e-16),
            styles.get(name, "^-"),
            label=name,
        )
    ax.set_xlabel("depth q (layers / iterations)")
    ax.set_ylabel("(F(z_q) - F*) / F*  (test)")
    ax.set_xticks(result.depths, [str(q) for q in result.depths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax
