"""The paper's experiments: problems, depth sweeps and their figure.

The relative cost gap ``(F(z_q) - F*) / F*`` of the mean Lasso cost after
``q`` layers (iterations) is the paper's measure of how far a coder of depth
``q`` is from the solution.
"""

import time
from typing import NamedTuple

import numpy as np
from sklearn.base import clone
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
# Relative training cost of a depth sweep (measured), to start the slowest
# first when methods run in parallel.
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
        sweep's models), passed as ``init`` to the fit of that depth: the
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
    import copy
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    depths = list(depths)
    if sorted(depths) != depths or len(set(depths)) != len(depths):
        raise ValueError(f"depths must be strictly increasing, got {depths}.")
    estimator = clone(coder).set_params(warm_start=True)
    fitted = {}
    for depth in depths:
        estimator.set_params(n_layers=depth)
        if step_coders is not None:
            estimator.set_params(init=step_coders[depth])
        start = time.perf_counter()
        with warnings.catch_warnings():
            if getattr(coder, "verbose", 0) == 0:
                warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X)
        seconds = time.perf_counter() - start
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


def _sweep(name, template, problem, depths, optimal_cost, step_coders=None):
    """A learned method's depth sweep, as an entry of :func:`_run_method`."""
    times, lines = {}, []

    def report(depth, estimator, seconds):
        times[depth] = seconds
        gap = _relative_gap(estimator, problem.X_test, optimal_cost)
        lines.append(
            f"{name:>9} depth {depth:>3}: trained in {seconds:6.1f} s "
            f"({estimator.n_iter_} epochs), test gap {gap:.3e}"
        )

    models = train_depth_sweep(
        template, problem.X_train, depths, callback=report, step_coders=step_coders
    )
    gaps = np.array(
        [_relative_gap(models[q], problem.X_test, optimal_cost) for q in depths]
    )
    return name, gaps, np.array([times[q] for q in depths]), models, lines


def _run_method(
    name,
    template,
    problem,
    depths,
    optimal_cost,
    step_name=None,
    step_coders=None,
    step_seconds=None,
):
    """One method of :func:`compare_coders`: a list of ``(name, gaps,
    seconds, models, lines)``, the lines being the progress report of each
    trained depth. With `step_name`, the step coders of the sweep's
    learned-step initialisation are reported as that method too. With
    `step_coders` (per depth, from another task's step sweep) the sweep
    starts from them; `step_seconds`, their training times, are then added
    to this method's (that is what its own initialisation would cost)."""
    X_train, X_test = problem.X_train, problem.X_test
    if name in CLASSICAL_METHODS:
        values, seconds = [], []
        for depth in depths:
            coder = clone(template).set_params(n_layers=depth).fit(X_train)
            start = time.perf_counter()
            values.append(_relative_gap(coder, X_test, optimal_cost))
            seconds.append(time.perf_counter() - start)
        return [(name, np.array(values), np.array(seconds), None, [])]
    name, gaps, seconds, models, lines = _sweep(
        name, template, problem, depths, optimal_cost, step_coders
    )
    if step_seconds is not None:
        seconds = seconds + step_seconds
    results = [(name, gaps, seconds, models, lines)]
    if step_name is not None and step_coders is None:
        steps = {q: models[q].init_coder_ for q in depths}
        step_gaps = np.array(
            [_relative_gap(steps[q], X_test, optimal_cost) for q in depths]
        )
        step_lines = [
            f"{step_name:>9} depth {q:>3}: trained within {name} "
            f"({steps[q].n_iter_} epochs), test gap {gap:.3e}"
            for q, gap in zip(depths, step_gaps, strict=True)
        ]
        # Its training time is part of the full method's.
        no_times = np.full(len(depths), np.nan)
        results.append((step_name, step_gaps, no_times, steps, step_lines))
    return results


def _run_steps(name, template, problem, depths, optimal_cost, users):
    """The learned-step sweep that several methods (`users`) start from, as
    its own task: ``[(name, gaps, seconds, models, lines)]``."""
    name, gaps, seconds, models, lines = _sweep(
        name, template, problem, depths, optimal_cost
    )
    lines = [
        line.replace(": trained in", f" for {users}: trained in") for line in lines
    ]
    return [(name, gaps, seconds, models, lines)]


class _Task(NamedTuple):
    """A call of :func:`_run_method` or :func:`_run_steps`; a task with
    `after` waits for that task's step sweep (passed as ``step_coders``, and
    its times as ``step_seconds`` if `pays_steps`)."""

    name: str
    function: object
    args: tuple
    cost: float
    after: str = None
    pays_steps: bool = False


def _limit_threads(n_threads):
    """Worker initialiser: its share of the cores for BLAS and numba."""
    global _THREAD_LIMITS
    import numba
    from threadpoolctl import threadpool_limits

    _THREAD_LIMITS = threadpool_limits(limits=n_threads)
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))


_THREAD_LIMITS = None


def _call(task, sweep=None):
    if sweep is None:
        return task.function(*task.args)
    step_seconds = sweep[2] if task.pays_steps else None
    return task.function(*task.args, step_coders=sweep[3], step_seconds=step_seconds)


def _run_tasks(tasks, n_jobs):
    """Yield each task's results as it ends. Tasks without `after` start
    first, the costliest first; a waiting task starts as soon as the step
    sweep it needs has ended, so that parallel workers end together."""
    from joblib import effective_n_jobs

    ready = sorted((t for t in tasks if t.after is None), key=lambda t: -t.cost)
    waiting = {}
    for task in sorted(tasks, key=lambda t: -t.cost):
        if task.after is not None:
            waiting.setdefault(task.after, []).append(task)
    n_workers = min(effective_n_jobs(n_jobs), len(tasks))
    if n_workers <= 1:
        for task in ready:
            results = _call(task)
            yield results
            for dependent in waiting.get(task.name, ()):
                yield _call(dependent, results[0])
        return
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    n_threads = max(1, (os.cpu_count() or 1) // n_workers)
    # spawn: a fork of a process whose numba or BLAS threads have started is
    # not safe.
    with ProcessPoolExecutor(
        n_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_limit_threads,
        initargs=(n_threads,),
    ) as executor:
        running = {executor.submit(_call, task): task for task in ready}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                results = future.result()
                for dependent in waiting.get(task.name, ()):
                    running[executor.submit(_call, dependent, results[0])] = dependent
                yield results


# Kept whole: about half of it is the numpydoc; the rest validates, plans the
# tasks (shared step sweeps, followers, order) and gathers them, the work
# itself being in _run_method and _sweep.
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
        Called with a line of text after each trained depth (e.g. ``print``);
        with several jobs, the lines of a method come when it finishes.
    n_jobs : int, default=None
        Methods trained at once, each in its own process with its share of
        the BLAS threads (-1: one per core; None: 1). The results do not
        depend on it.

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
    step_of = {full: step for step, full in shared.items()}
    followers = _step_followers(methods, templates)
    task_args = (problem, depths, optimal_cost)
    tasks = []
    for name in methods:
        if name in shared or name in followers:
            continue
        template, cost = templates[name], _EXPECTED_COST.get(name, 0)
        users = [name, *(f for f, leader in followers.items() if leader == name)]
        if len(users) == 1:
            args = (name, template, *task_args, step_of.get(name))
            tasks.append(_Task(name, _run_method, args, cost))
            continue
        # The step sweep that several methods start from runs first, as its
        # own task; they then run side by side.
        step_name = step_of.get(name, f"{name} steps")
        steps = _learned_step_coder(template, _STEP_METHOD_OF[name][1])
        args = (step_name, steps, *task_args, " and ".join(users))
        tasks.append(
            _Task(
                step_name,
                _run_steps,
                args,
                sum(_EXPECTED_COST.get(user, 0) for user in users),
            )
        )
        for user in users:
            args = (user, templates[user], *task_args)
            tasks.append(
                _Task(
                    user,
                    _run_method,
                    args,
                    _EXPECTED_COST.get(user, 0),
                    after=step_name,
                    pays_steps=user == name,
                )
            )
    gaps, fit_times, models = {}, {}, {}
    for results in _run_tasks(tasks, n_jobs):
        for name, values, seconds, fitted, lines in results:
            if name not in methods:
                continue
            if name in shared:
                # Its training time is part of the full method's.
                seconds = np.full(len(depths), np.nan)
            gaps[name], fit_times[name] = values, seconds
            if fitted is not None:
                models[name] = fitted
            for line in lines if progress is not None else ():
                progress(line)
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
