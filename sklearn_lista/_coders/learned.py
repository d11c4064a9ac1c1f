"""Learned coders: the estimator side of the unrolled networks.

The estimators validate, pick the architecture from
:data:`~sklearn_lista.networks.ARCHITECTURES`, the loss from
:data:`~sklearn_lista.losses.LOSSES` and the optimizer and schedule from
:mod:`sklearn_lista.optim`, and hand them to the training loop
(:mod:`sklearn_lista._training`); the trained parameters become fitted
attributes named after the network's parameters.
"""

import copy
import time
import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._lasso import LassoProblem
from .._training import (
    HeldOutGuard,
    NetworkObjective,
    TrainingLoop,
    TrainingResult,
    split_monitor,
    train_stagewise,
)
from .._validation import (
    FLOAT_DTYPES,
    check_target_codes,
    check_training_scale,
    restore_on_error,
    user_stacklevel,
    validate_signals,
)
from ..losses import LOSSES
from ..networks import ARCHITECTURES
from ..networks.proximal import SUPPORT_SELECTION_SCHEDULE
from ..optim import SCHEDULES, make_optimizer
from ._base import BaseCoder, one_blas_thread

# learning_rate="adaptive": after this many epochs without improvement the best
# parameters are restored and the learning rate is multiplied by PLATEAU_SHRINK.
PLATEAU_PATIENCE = 2
PLATEAU_SHRINK = 0.5

# validation_guard holds out a validation split from this many signals on (at
# least 100 validation signals with the default fraction): below it, a split
# would leave too few signals to train on or to judge by.
GUARD_MIN_SAMPLES = 1000
# From this depth on a fresh StepLISTACoder (so the learned-step start of the
# learned coders too) is grown by doubling its depth. Not from 8, the default
# depth: there growing lowers the cost too (LISTA-8 at density 1/20 2.1e-5 ->
# 3.6e-6; digits test cost 4.083 -> 3.989), but LISTACoder() on load_digits
# then no longer converges within max_iter=200 (a ConvergenceWarning). 16 is
# the next depth measured.
GROWN_STEPS_MIN_LAYERS = 16


_INIT_DOC = """
    init : {"auto", "classical", "learned_steps"} or StepLISTACoder, \
            default="auto"
        Where training starts. ``"classical"``: ISTA's (FISTA's) weights, so
        that an untrained network computes `n_layers` ISTA (FISTA)
        iterations. ``"learned_steps"``: the special case of the network that
        only steps, trained first (:class:`StepLISTACoder` with its own
        learning rate and tolerance, and this coder's loss, batches, epochs,
        split, `fit_algorithm` and support selection; with momentum for
        LFISTA; from 16 layers on grown by doubling its depth, as
        :class:`StepLISTACoder` is; kept as `init_coder_`),
        whose weights ``W_x = s_k D^T``, ``W_z = I - s_k B``, ``theta = alpha
        s_k`` the full network then starts from. Training keeps the best
        monitored parameters, so it never ends worse than that special case
        on the monitored signals. A
        warm start that adds layers grows `init_coder_` too and starts from
        whichever of the grown network (new layers untrained, or with a
        supervised loss also copies of the last trained layer) and the grown
        step network is better on the held-out signals of `validation_guard`
        (else the monitored ones). A fitted :class:`StepLISTACoder` (of the
        same dictionary, alpha and depth; with ``momentum=True`` for LFISTA):
        its steps are the start, as with ``"learned_steps"`` but without
        training them again (several coders can start from one step network;
        a copy is kept as `init_coder_`); an unfitted one (as in the clones
        of a grid search) is fitted first, with its own settings, on this
        coder's signals, dictionary, alpha and depth. ``"auto"``: in
        :meth:`fit`, the better of ``"learned_steps"`` and ``"classical"``: a
        fresh end-to-end fit is trained from both starts, and the network
        lower on the held-out signals of `validation_guard` (else the
        monitored ones) is kept, with the training attributes (`n_iter_`,
        `loss_curve_`) of its run; `max_iter` bounds each run. The classical
        run is given up once the pace of its last 5 epochs, kept up for
        twice the epochs it has run, would not take its monitored loss below
        the other's. After a classical win there is no `init_coder_`, so a
        later warm start grows the network alone. On the Gaussian problems
        the learned steps win; on the digits mostly the classical start
        (LISTA-8: 0.057 relative gap on test signals against 0.144).
        ``"auto"`` is ``"classical"`` with ``parametrization="tied"``, which
        does not contain step-LISTA, and in :meth:`partial_fit`, which cannot
        train a step network first.
"""


_SUPPORT_SELECTION_DOC = """
    support_selection : bool or tuple of (float, float), default=False
        LISTA-CPSS's support selection (Chen et al., 2018): at layer ``k``
        (from 1), in each row, the ``min(k * step, max)`` fraction of the
        entries with the largest magnitudes among those beyond the threshold
        keep their value unshrunk. True uses the paper's
        ``(step, max) = (0.012, 0.13)``; a pair sets them.
"""


def _support_selection(value):
    """The network's `support_selection` option from the estimator's."""
    if value is False:
        return None
    if value is True:
        return SUPPORT_SELECTION_SCHEDULE
    if len(value) != 2 or not all(0 <= float(v) <= 1 for v in value):
        raise ValueError(
            "support_selection must be a bool or a pair (step, max) of fractions "
            f"in [0, 1], got {value!r}."
        )
    return tuple(float(v) for v in value)


# The architectures whose parameter space contains step-LISTA (step-FISTA
# for LFISTA; FacNet's layer with A = I and S = 1 / s is an ISTA step).
CONTAIN_LEARNED_STEPS = ("lista", "lista_cp", "lfista", "facnet")


def step_coder_for(coder, dictionary, momentum):
    """The unfitted :class:`StepLISTACoder` that ``init="learned_steps"``
    trains for `coder`: its own default learning rate (1e-2) is its recipe;
    the data split, loss, batches, epochs and tolerance are `coder`'s."""
    return StepLISTACoder(
        dictionary,
        alpha=coder.alpha,
        n_layers=coder.n_layers,
        positive_code=coder.positive_code,
        momentum=momentum,
        support_selection=getattr(coder, "support_selection", False),
        loss=coder.loss,
        batch_size=coder.batch_size,
        max_iter=coder.max_iter,
        tol=coder.tol,
        n_iter_no_change=coder.n_iter_no_change,
        early_stopping=coder.early_stopping,
        validation_guard=coder.validation_guard,
        validation_fraction=coder.validation_fraction,
        shuffle=coder.shuffle,
        # FacNet's layer-wise factorization solver has no step-network
        # counterpart: its steps train end to end.
        fit_algorithm="stagewise"
        if coder.fit_algorithm == "stagewise"
        else "end_to_end",
        random_state=coder.random_state,
    )


def learned_step_params(coder, X, y, network, previous=None):
    """`network`'s parameters set to a step-LISTA (step-FISTA for LFISTA)
    trained with `coder`'s settings, the structured special case it contains:
    ``W_x = s_k D^T``, ``W_z = (1 + m_k)(I - s_k B)``, ``W_m = -m_k (...)``,
    ``theta = alpha s_k``. `previous`, a fitted step coder, is grown to the
    new depth instead of training one from ISTA's steps. Returns the
    parameters and the fitted step coder."""
    _check_contains_steps(network, "init='learned_steps'")
    steps = (
        previous
        if previous is not None
        else step_coder_for(coder, coder.components_, network.name == "lfista")
    )
    steps.set_params(n_layers=coder.n_layers, warm_start=previous is not None)
    with warnings.catch_warnings():
        # Its convergence is reported by the fit that continues from it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        steps.fit(X, y)
    return params_from_steps(steps, network, X.dtype), steps


def doubling_depths(n_layers):
    """``1, 2, 4, ...`` below `n_layers`, then `n_layers`."""
    depths = [1]
    while depths[-1] * 2 < n_layers:
        depths.append(depths[-1] * 2)
    return depths + [n_layers] if n_layers > 1 else depths


def _check_contains_steps(network, init):
    if network.name not in CONTAIN_LEARNED_STEPS:
        raise ValueError(
            f"{init} needs untied or coupled LISTA weights, LFISTA or FacNet; "
            f"{network.name!r} does not contain step-LISTA."
        )


def given_step_params(coder, network, X, y):
    """`network`'s parameters from ``coder.init``, a step coder of the same
    Lasso problem and depth (checked), and a copy of that step coder. An
    unfitted one (e.g. the clone a grid search makes) is fitted on `X` first,
    on this coder's dictionary, alpha and depth, as scikit-learn fits an
    ``init`` estimator."""
    steps = coder.init
    if not isinstance(steps, StepLISTACoder):
        raise TypeError(
            "init must be 'auto', 'classical', 'learned_steps' or a "
            f"StepLISTACoder, got {type(steps).__name__}."
        )
    _check_contains_steps(network, "init=StepLISTACoder(...)")
    momentum = network.name == "lfista"
    if not hasattr(steps, "network_"):
        steps = clone(steps).set_params(
            dictionary=coder.components_,
            alpha=coder.alpha,
            n_layers=coder.n_layers,
            positive_code=coder.positive_code,
        )
        with warnings.catch_warnings():
            # Its convergence is reported by the fit that continues from it.
            warnings.simplefilter("ignore", ConvergenceWarning)
            steps.fit(X, y)
    problems = (
        (steps.momentum, momentum, "momentum"),
        (steps.steps_.shape[0], coder.n_layers, "n_layers"),
        (steps.alpha, coder.alpha, "alpha"),
        (steps.positive_code, coder.positive_code, "positive_code"),
    )
    for value, expected, name in problems:
        if value != expected:
            raise ValueError(
                f"init is a StepLISTACoder with {name}={value!r}; this "
                f"{type(coder).__name__} needs {name}={expected!r}."
            )
    if steps.components_.shape != coder.components_.shape or not np.allclose(
        steps.components_, coder.components_
    ):
        raise ValueError(
            "init is a StepLISTACoder of another dictionary: fit it on this "
            "coder's dictionary."
        )
    steps = copy.deepcopy(steps) if steps is coder.init else steps
    return params_from_steps(steps, network, X.dtype), steps


def params_from_steps(steps, network, dtype):
    """`network`'s parameters that compute the fitted step coder `steps`:
    ``W_x = s_k D^T``, ``W_z = (1 + m_k)(I - s_k B)``, ``theta = alpha s_k``
    (FacNet: ``A = I``, ``S_k = 1 / s_k``)."""
    if network.name == "facnet":
        n_layers, n_components = steps.steps_.shape[0], steps.components_.shape[0]
        rotations = np.broadcast_to(
            np.eye(n_components, dtype=dtype), (n_layers,) + (n_components,) * 2
        )
        scales = np.repeat(1.0 / steps.steps_[:, None], n_components, axis=1)
        return {"A": rotations.copy(), "S": scales.astype(dtype)}
    weights = steps.network_._weights(steps._get_params(), dtype)
    if network.name == "lista_cp":
        weights["weights"] = weights["weights_x"]
    # C order, as fresh weights are (W_x = s D^T is built from a transposed
    # view): the products, and so the codes, must not depend on the start.
    return {name: np.ascontiguousarray(weights[name]) for name in network.parameters}


# One class on purpose: fit, partial_fit, warm starts, the learned-step start,
# the held-out guard and transform share the fitted network, its split and the
# training loop's state; the work itself is in networks/, losses.py,
# _training.py and the functions around this class (learned_step_params,
# step_coder_for, split_monitor, HeldOutGuard). Most of its length is
# the numpydoc of the shared parameters.
class BaseLearnedCoder(BaseCoder):
    """Unrolled ISTA-type network trained on a loss of its codes.

    Subclasses set ``_architecture`` to a key of
    :data:`~sklearn_lista.networks.ARCHITECTURES` (or override
    ``_architecture_name``) and may pass options to the network by
    ``_network_options``.
    """

    _architecture = None
    # Whether init="auto" also trains the network from the classical start
    # and keeps the better one (see _classical_challenger).
    _challenges_with_classical_start = True

    _parameter_constraints: dict = {
        **BaseCoder._parameter_constraints,
        "solver": [StrOptions({"adam", "adagrad", "sgd"})],
        "learning_rate": [StrOptions({"constant", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_guard": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "loss": [StrOptions(set(LOSSES))],
        "fit_algorithm": [StrOptions({"end_to_end", "stagewise"})],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=8,
        positive_code=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        batch_size=256,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_guard=True,
        validation_fraction=0.1,
        shuffle=True,
        loss="lasso",
        fit_algorithm="end_to_end",
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            positive_code=positive_code,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_guard = validation_guard
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.loss = loss
        self.fit_algorithm = fit_algorithm
        self.warm_start = warm_start

    # ------------------------------------------------------------ network
    def _architecture_name(self):
        return self._architecture

    def _network_options(self):
        return {}

    def _build_network(self):
        problem = LassoProblem(
            self.components_, self.alpha, self.positive_code, self.lipschitz_
        )
        network_class = ARCHITECTURES[self._architecture_name()]
        return network_class(problem, **self._network_options())

    def _is_trained(self):
        return hasattr(self, "network_")

    def _get_params(self):
        return {name: getattr(self, name + "_") for name in self.network_.parameters}

    def _set_params(self, params):
        for name, value in params.items():
            setattr(self, name + "_", value)

    def _warm_startable(self, network):
        """Whether the stored parameters fit the new network's shapes."""
        if not (self.warm_start and self._is_trained()):
            return False
        if set(self.network_.parameters) != set(network.parameters):
            return False
        reference = network.init_params(1)
        old = self._get_params()
        return all(
            old[name].shape[(spec.layers != "shared") :]
            == reference[name].shape[(spec.layers != "shared") :]
            for name, spec in network.parameters.items()
        )

    def _per_sample_loss(self, network, params, signals):
        """The training loss of each of ``signals = (X, y)`` under `params`."""
        X, y = signals
        loss = LOSSES[self.loss](network.problem_in(X.dtype))
        codes, _ = network.forward(X, params, keep_cache=False)
        return loss.per_sample(codes, X, y)

    def _monitored_loss(self, network, params, monitor):
        losses = self._per_sample_loss(network, params, monitor)
        return float(np.mean(losses, dtype=np.float64))

    def _grown_starts(self, network, params, n_layers):
        """The starts of a network grown to `n_layers` from `params`.

        A supervised loss adds new layers copied from the last trained one
        to the untrained ones (``network.grown_starts``; the lower loss
        wins): training on true codes drives the thresholds far below the
        Lasso's ``alpha / L``, which an untrained layer would restore
        (LISTA-CP on compressed sensing, doc/benchmarks/modern.rst). With
        the Lasso loss an untrained layer is an ISTA step on the very
        objective and stays the only start: the copies, though lower at the
        start, ended deeper sweeps higher (``python -m sklearn_lista``).
        """
        if LOSSES[self.loss].requires_y:
            return network.grown_starts(params, n_layers)
        return [network.resize(params, n_layers)]

    def _init_strategy(self, incremental=False):
        """``"classical"``, ``"learned_steps"`` or ``"given_steps"`` (`init` a
        fitted step coder): where a fresh network starts."""
        init = getattr(self, "init", "classical")
        if not isinstance(init, str):
            return "given_steps"
        if init != "auto":
            return init
        contains_steps = self._architecture_name() in CONTAIN_LEARNED_STEPS
        return "learned_steps" if contains_steps and not incremental else "classical"

    def _initialize(self, X, y=None, *, incremental=False, monitor=None):
        """Fresh, warm-started or resized parameters, and a new training loop.

        `monitor`, ``(X, y)`` (held-out signals if the fit has some), picks
        the better starting point when a warm start that changes the depth
        has two (see `init`). Returns whether the start is a step network
        (trained, grown or given) and whether the fit continues a trained
        network.
        """
        network = self._build_network()
        warm = self._warm_startable(network)
        trained_steps = False
        strategy = self._init_strategy(incremental)
        given = strategy == "given_steps"
        grow_steps = warm and strategy == "learned_steps"
        grow_steps &= hasattr(self, "init_coder_") and monitor is not None
        if strategy not in ("learned_steps", "given_steps") or (
            warm and not grow_steps and not given
        ):
            # It would describe an initialisation this fit does not use.
            self.__dict__.pop("init_coder_", None)
        if warm:
            params = network.cast(self._get_params(), X.dtype)
            trained_depth = network.n_layers(params)
            if trained_depth != self.n_layers:
                # The grown network (see _grown_starts), or the grown (given)
                # step network: the start with the lowest loss on `monitor`.
                choice = (X, y) if monitor is None else monitor

                def best(starts):
                    if len(starts) == 1:
                        return starts[0]
                    return min(
                        starts,
                        key=lambda start: self._monitored_loss(network, start, choice),
                    )

                stagewise = self.fit_algorithm == "stagewise" and not incremental
                # Stage-wise growth by several layers trains every new depth:
                # it starts at the next one (train_stagewise goes on from there).
                next_depth = trained_depth + 1
                by_stages = stagewise and next_depth < self.n_layers
                trained = params
                steps = None
                if grow_steps or given:
                    steps, self.init_coder_ = (
                        given_step_params(self, network, X, y)
                        if given
                        else learned_step_params(
                            self, X, y, network, previous=self.init_coder_
                        )
                    )
                    steps = network.cast(steps, X.dtype)
                    trained_steps = True
                if steps is not None or not by_stages:
                    starts = self._grown_starts(network, trained, self.n_layers)
                    params = best(starts + ([] if steps is None else [steps]))
                if by_stages and params is not steps:
                    params = best(self._grown_starts(network, trained, next_depth))
            elif given:
                # A refit at the same depth continues the trained network.
                self.__dict__.pop("init_coder_", None)
        elif strategy == "learned_steps":
            params, self.init_coder_ = learned_step_params(self, X, y, network)
            trained_steps = True
        elif given:
            params, self.init_coder_ = given_step_params(self, network, X, y)
            trained_steps = True
        else:
            # Stage-wise training resumes at the depth of its parameters: a
            # fresh network grows from one layer.
            stagewise = self.fit_algorithm == "stagewise" and not incremental
            params = network.init_params(1 if stagewise else self.n_layers)
        self.network_ = network
        self._set_params(
            {name: np.array(p, dtype=X.dtype) for name, p in params.items()}
        )
        # As MLPRegressor: a new optimizer at every fit (solver and learning
        # rate may have changed); partial_fit keeps it.
        self._loop = self._make_loop()
        if not warm or not hasattr(self, "loss_curve_"):
            self.loss_curve_ = []
            self.validation_scores_ = None
            self.best_loss_ = np.inf
            self.n_iter_ = 0
            self.t_ = 0
        if self.early_stopping and self.validation_scores_ is None:
            self.validation_scores_ = []
        return trained_steps, warm

    def _guards(self, n_samples):
        """Whether a fit on `n_samples` signals checks its result on a
        held-out split (without early stopping, which monitors one anyway)."""
        return (
            self.validation_guard
            and not self.early_stopping
            and n_samples >= GUARD_MIN_SAMPLES
        )

    def _make_loop(self, manifolds=None):
        """The training loop; `manifolds` of the trained parameters default to
        the network's."""
        manifolds = self.network_.manifolds if manifolds is None else manifolds
        schedule = (
            SCHEDULES["adaptive"](patience=PLATEAU_PATIENCE, factor=PLATEAU_SHRINK)
            if self.learning_rate == "adaptive"
            else SCHEDULES["constant"]()
        )
        return TrainingLoop(
            make_optimizer(self.solver, manifolds, self.learning_rate_init),
            schedule,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            rng=check_random_state(self.random_state),
            verbose=self.verbose,
            name=type(self).__name__,
        )

    # ---------------------------------------------------------------- fit
    def _fit_dictionary(self, X):
        keep = (
            self.warm_start
            and self.dictionary is None
            and hasattr(self, "components_")
            and self.components_.shape == (self.n_components or X.shape[1], X.shape[1])
        )
        if not keep:
            super()._fit_dictionary(X)
        self.components_ = self.components_.astype(X.dtype, copy=False)

    def _fit_coder(self, X, y):
        self._fit(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One pass of mini-batch updates over `X`.

        The first call sets the dictionary and initialises the network at
        its untrained values; later calls continue training. Usable by
        out-of-core wrappers such as ``dask_ml.wrappers.Incremental``. A call
        that more than doubles the loss of its first mini-batch is undone
        and the learning rate halved; a call that raises leaves the model as
        it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training signals.
        y : array-like of shape (n_samples, n_components), default=None
            Target codes for ``loss="squared_error"``; ignored by the Lasso
            loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        # scikit-learn validates the parameters at the first call only; the
        # later ones would train on whatever set_params slipped in.
        self._validate_params()
        with restore_on_error(self):
            first_call = not self._is_trained()
            X = validate_signals(
                self, X, reset=first_call, accept_sparse="csr", dtype=FLOAT_DTYPES
            )
            X = X.toarray() if sp.issparse(X) else X
            if first_call:
                if getattr(self, "init", "classical") == "learned_steps":
                    raise ValueError(
                        "init='learned_steps' trains a step-LISTA first, which "
                        "needs fit; partial_fit starts from init='classical' "
                        "(as init='auto' does)."
                    )
                self._fit_dictionary(X)
                self._initialize(X, incremental=True)
            self._fit(X, y, incremental=True)
        return self

    def _check_targets(self, y, X):
        if not LOSSES[self.loss].requires_y:
            return None
        return check_target_codes(y, X.shape[0], self.components_.shape[0], X.dtype)

    def _result(self):
        """The training record so far, continued by the next run."""
        return TrainingResult(
            loss_curve=self.loss_curve_,
            best_loss=self.best_loss_,
            n_iter=self.n_iter_,
            n_samples_seen=self.t_,
        )

    def _store(self, params, result):
        self._set_params(params)
        self.guard_restores_ = result.n_guarded
        self.loss_curve_ = result.loss_curve
        self.best_loss_ = result.best_loss
        self.n_iter_ = result.n_iter
        self.t_ = result.n_samples_seen
        if not all(np.isfinite(p).all() for p in params.values()):  # pragma: no cover
            raise ValueError(
                "training produced non-finite weights; lower learning_rate_init."
            )

    def _classical_challenger(self, objective, trained, choice, guard):
        """The network trained from the classical start, ``(params, loop,
        result)``, if it ends below `trained` (from the learned steps) on
        `choice`, the held-out signals; else None.

        It is trained as ``init="classical"`` would be (same objective, loop
        and `guard`), so a win is that fit. Neither start is the better one
        everywhere: on the Gaussian problems the classical start stalls far
        above the step network, on the digits the steps can sit in a poor
        basin the classical start ends far below (doc/benchmarks/learned.rst).
        The run is given up once the pace of its last epochs would not soon
        take its monitored loss below `trained`'s (``_training._cannot_reach``).
        """
        network = self.network_
        # The start _initialize gives init="classical".
        dtype = next(iter(trained.values())).dtype
        classical = {
            name: np.array(p, dtype=dtype)
            for name, p in network.init_params(self.n_layers).items()
        }
        loop = self._make_loop()
        result = loop.run(
            objective, classical, guard=guard, target_loss=objective.monitor(trained)
        )
        classical_loss = self._monitored_loss(network, classical, choice)
        steps_loss = self._monitored_loss(network, trained, choice)
        wins = classical_loss < steps_loss
        if self.verbose:
            print(
                f"[{type(self).__name__}] from the classical start: loss "
                f"{classical_loss:.6g} after {result.n_iter} epochs, against "
                f"{steps_loss:.6g} from the learned steps: "
                f"{'classical' if wins else 'learned steps'} start kept"
            )
        return (classical, loop, result) if wins else None

    def _fit(self, X, y, incremental):
        # Mini-batch steps are small products ((256, K) x (K, K)): with 2 BLAS
        # threads on a busy 2-core machine a LISTA step took 6x longer than
        # with one, FacNet's 35x (bench_learned.py --threads).
        with one_blas_thread():
            self._train(X, y, incremental)

    def _train(self, X, y, incremental):
        X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
        if not incremental:
            y = self._check_targets(y, X)
            X_train, y_train, X_monitor, y_monitor, held_out = split_monitor(
                X,
                y,
                early_stopping=self.early_stopping,
                guard=self._guards(X.shape[0]),
                validation_fraction=self.validation_fraction,
                random_state=self.random_state,
            )
            # Two starting points are compared on held-out signals when
            # there are some: the training ones favour the over-fitted one.
            choice = (X_monitor, y_monitor) if held_out is None else held_out
            trained_steps, warm = self._initialize(X, y, monitor=choice)
        params = self._get_params()
        if incremental:
            depth = self.network_.n_layers(params)
            if depth != self.n_layers:
                raise ValueError(
                    f"n_layers={self.n_layers} but the network being trained has "
                    f"{depth} layers; partial_fit cannot change the depth: use "
                    "fit with warm_start=True."
                )
            # Keep training in the dtype the network was initialised in.
            X = X.astype(next(iter(params.values())).dtype, copy=False)
            y = self._check_targets(y, X)
        check_training_scale(X, self.components_.shape[0])
        loss = LOSSES[self.loss](self.network_.problem_in(X.dtype))
        result = self._result()
        if incremental:
            objective = NetworkObjective(
                self.network_, loss, X, y, X, y, self.batch_size, shuffle=False
            )
            self._loop.incremental_epoch(objective, params, result)
            self._store(params, result)
            return

        def make_objective():
            return NetworkObjective(
                self.network_,
                loss,
                X_train,
                y_train,
                X_monitor,
                y_monitor,
                self.batch_size,
                self.shuffle,
            )

        start = time.perf_counter()
        n_monitored = len(result.monitored)
        # The step network's gain counts as progress of this fit.
        reference_loss = None
        races = (
            self._challenges_with_classical_start
            and trained_steps
            and not warm
            and self.init == "auto"
            and self.fit_algorithm == "end_to_end"
        )
        if trained_steps:
            untrained = self.network_.init_params(self.network_.n_layers(params))
            reference_loss = self._monitored_loss(
                self.network_, untrained, (X_monitor, y_monitor)
            )
        guard = None
        if held_out is not None:
            guard = HeldOutGuard(
                partial(self._per_sample_loss, self.network_, signals=held_out)
            )

        if self.fit_algorithm == "stagewise":
            params, result = train_stagewise(
                self._loop,
                self.network_,
                make_objective,
                params,
                self.n_layers,
                result,
                guard=guard,
                reference_loss=reference_loss,
                grow=partial(self._grown_starts, self.network_),
            )
        else:
            self._loop.run(
                make_objective(),
                params,
                result,
                guard=guard,
                reference_loss=reference_loss,
            )
            if races:
                challenger = self._classical_challenger(
                    make_objective(), params, choice, guard
                )
                if challenger is not None:
                    params, self._loop, result = challenger
                    self.__dict__.pop("init_coder_", None)
        if self.early_stopping:
            self.validation_scores_ += [-m for m in result.monitored[n_monitored:]]
        self._store(params, result)
        if self.verbose:
            print(
                f"[{type(self).__name__}] {self.n_layers} layers, {self.n_iter_} "
                f"epochs in {time.perf_counter() - start:.1f} s, best "
                f"{'validation' if self.early_stopping else 'monitor'} loss "
                f"{self.best_loss_:.6g}"
            )
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__}: maximum number of epochs (max_iter="
                f"{self.max_iter}) reached and the loss is still improving.",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )

    # ---------------------------------------------------------- transform
    def _encoding_network(self):
        """The network :meth:`transform` runs (the fitted one)."""
        return self.network_

    def _encode(self, X, dictionary):
        network = self._encoding_network()
        params = network.cast(self._get_params(), X.dtype)
        codes, _ = network.forward(X, params, keep_cache=False)
        return codes, 0

    def _transform(self, X):
        check_is_fitted(self, "network_")
        depth = self.network_.n_layers(self._get_params())
        if self.n_layers != depth:
            # The depth is the network's structure, not an iteration count:
            # silently running the old network would ignore the new value.
            raise ValueError(
                f"n_layers={self.n_layers} but the fitted network has {depth} "
                f"layers; fit again to change the depth (warm_start=True keeps "
                f"the trained layers) or set n_layers={depth}."
            )
        return super()._transform(X)

    def score(self, X, y=None):
        """Minus the mean training loss of the codes of `X` (higher is better).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Signals.
        y : array-like of shape (n_samples, n_components), default=None
            Target codes. With ``loss="squared_error"`` and `y` given, the
            score is ``-mean(0.5 * ||z - y||^2)``; otherwise (and always with
            the Lasso loss, which ignores `y`) it is minus the mean Lasso cost
            ``-mean(0.5 * ||x - z D||^2 + alpha * ||z||_1)``.

        Returns
        -------
        score : float
            Minus the mean loss.
        """
        if y is None or not LOSSES[self.loss].requires_y:
            return super().score(X)
        check_is_fitted(self)
        self._validate_params()
        X = validate_signals(
            self, X, reset=False, accept_sparse="csr", dtype=FLOAT_DTYPES
        )
        codes = self._transform(X).astype(np.float64)
        targets = check_target_codes(y, X.shape[0], self.n_components_, np.float64)
        return -0.5 * float(np.mean(np.sum((codes - targets) ** 2, axis=1)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = LOSSES[self.loss].requires_y
        return tags


_LEARNED_PARAMETERS = """
    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        Atoms as rows. If None, :meth:`fit` learns one with
        :class:`~sklearn.decomposition.MiniBatchDictionaryLearning`.

    n_components : int, default=None
        Number of atoms to learn when `dictionary` is None.

    alpha : float, default=1.0
        Weight of the l1 penalty of the cost the network is trained on.

    n_layers : int, default=8
        Number of layers (unrolled iterations). The depth of the fitted
        network: after changing it, :meth:`transform` and :meth:`score` raise
        until the model is fitted again.

    positive_code : bool, default=False
        One-sided thresholds: non-negative codes.

    solver : {"adam", "adagrad", "sgd"}, default="adam"
        Stochastic optimizer (``"sgd"`` uses momentum 0.9).

    learning_rate : {"adaptive", "constant"}, default="adaptive"
        With ``"adaptive"``, every 2 epochs without improvement of the
        monitored loss the best parameters are restored and the learning rate
        is halved; ``"constant"`` keeps it (except for the divergence guard).

    learning_rate_init : float, default=1e-3
        Initial step size; also halved each time the divergence guard rejects
        a step (a mini-batch cost more than twice the previous one).

    batch_size : int, default=256
        Mini-batch size (capped at the number of training signals).

    max_iter : int, default=200
        Maximum number of epochs.

    tol : float, default=1e-4
        An epoch counts as an improvement when it lowers the best monitored
        loss by more than `tol` times the decrease achieved since training
        started. Relative to the progress rather than to the loss, the rule
        is scale-free: a deep network within ``1e-8`` of the optimum still
        sees its gains, a shallow one stops once an epoch adds next to
        nothing to what it has gained.

    n_iter_no_change : int, default=10
        Stop after this many epochs without improvement.

    early_stopping : bool, default=False
        Hold out `validation_fraction` of the signals and monitor their cost;
        otherwise the cost of (up to 2048 of) the training signals is
        monitored. Either way the parameters of the best monitored epoch
        (the starting point included) are restored at the end.

    validation_guard : bool, default=True
        Without `early_stopping`, from 1000 signals on: hold out
        `validation_fraction` of them and, at the end of the fit (of every
        stage with ``fit_algorithm="stagewise"``), keep the trained network
        only if its cost on them is below that of the network training
        started from (ISTA/FISTA's, the learned steps', or the shallower
        network a warm start grew), which is restored otherwise. The trained
        network is then never worse on held-out signals than its start,
        while the epochs are still selected on the training signals (a
        held-out cost selecting epochs can stop training early on the noise
        of a few hard signals). The trained network must also show its gain
        on them, at the end or at one of the checks run every 10 epochs on
        the best network so far: more than half the signals gained, or the
        mean gain per signal is above two standard errors. Training stops
        after two checks in a row without a shown gain.

    validation_fraction : float, default=0.1
        Fraction of the signals held out by `early_stopping` or
        `validation_guard`.

    shuffle : bool, default=True
        Reshuffle the signals at each epoch.

    loss : {"lasso", "squared_error"}, default="lasso"
        Training loss (:data:`sklearn_lista.losses.LOSSES`). ``"lasso"``: the
        unsupervised Lasso cost of the last layer's output (`y` is ignored).
        ``"squared_error"``: ``0.5 * ||z - y||^2`` averaged over the samples,
        with `y` of shape ``(n_samples, n_components)`` the target codes
        passed to :meth:`fit` (e.g. Lasso solutions of an exact solver).

    fit_algorithm : {"end_to_end", "stagewise"}, default="end_to_end"
        ``"end_to_end"``: all layers trained at once. ``"stagewise"``: depths
        1, 2, ..., `n_layers` trained in turn, each from the previous one with
        its new layer at its untrained value (up to `max_iter` epochs and a
        fresh learning rate per stage), as in ALISTA's and LISTA-CPSS's
        training; with a supervised loss, its new layer is a copy of the last
        trained one instead when that start has the lower monitored loss.

    warm_start : bool, default=False
        Continue from the previous fit. If `n_layers` changed, the first
        layers are kept and the new ones start at their ISTA/FISTA values
        (train a depth sweep by increasing `n_layers`); with a supervised
        loss, as copies of the last trained layer instead when that start has
        the lower loss. With ``fit_algorithm="stagewise"`` every new depth is
        a stage of its own (each grown from the previous one, picked on the
        validation signals), unless the grown step network (see `init`) is
        the better start: then the full network is trained at once.

    n_jobs : int, default=None
        Threads used by :meth:`transform`.

    random_state : int, RandomState instance or None, default=None
        Seeds the dictionary learning, the validation split and the
        shuffling.

    verbose : int, default=0
        1 prints one line per epoch and a summary; 2 also rejected steps.
"""


_LEARNED_ATTRIBUTES = """
    components_ : ndarray of shape (n_components, n_features)
        The dictionary of the cost.

    network_ : UnrolledNetwork
        The architecture with its fixed arrays (the dictionary, its Gram
        matrix); the trained parameters are the attributes below.

    n_components_ : int
        Number of atoms.

    lipschitz_ : float
        ``||components_||_2 ** 2``.

    loss_curve_ : list of float
        Mean mini-batch training loss of each epoch.

    validation_scores_ : list of float or None
        Minus the validation cost after each epoch (first entry: before
        training) when a validation split was held out (see
        `early_stopping`), else None.

    best_loss_ : float
        Lowest monitored cost (the validation cost with a validation split).

    n_iter_ : int
        Number of epochs run.

    guard_restores_ : int
        Trainings of the last fit (stages with ``fit_algorithm="stagewise"``,
        depths of a grown :class:`StepLISTACoder`) whose result
        `validation_guard` undid: worse on the held-out signals than the
        starting network, or its gain on them never shown.

    t_ : int
        Number of training samples seen.

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit` (string names only).
"""


class LISTACoder(BaseLearnedCoder):
    __doc__ = (
        """Learned ISTA (Gregor & LeCun, 2010): an unrolled, trained ISTA.

    Layer ``k`` computes ``z_{k+1} = st(z_k W_z[k] + x W_x[k], theta[k])``
    from ``z_0 = 0`` with per-coordinate thresholds. The weights start at
    ISTA's values (``W_x = D^T / L``, ``W_z = I - B / L``,
    ``theta = alpha / L``), so an untrained network computes `n_layers` ISTA
    iterations, and are trained by mini-batch backpropagation on the mean
    Lasso cost of the last layer's output (no target codes needed) or on
    target codes (``loss="squared_error"``).
"""
        + _LEARNED_PARAMETERS
        + """
    parametrization : {"untied", "tied", "coupled"}, default="untied"
        How the layers' weights are parametrised:

        - ``"untied"``: ``W_x[k]``, ``W_z[k]`` and ``theta[k]`` per layer;
        - ``"tied"``: one ``(W_x, W_z)`` shared by all layers, per-layer
          thresholds (Gregor & LeCun's tied LISTA);
        - ``"coupled"``: LISTA-CP (Chen et al., 2018),
          ``z_{k+1} = st(z_k + (x - z_k D) W[k], theta[k])``, i.e.
          ``W_z = I - D W_x``: only ``W[k]`` and ``theta[k]`` are trained.
"""
        + _SUPPORT_SELECTION_DOC
        + _INIT_DOC
        + """
    Attributes
    ----------
    weights_x_ : ndarray of shape (n_layers, n_features, n_components)
        Input weights ``W_x[k]`` of every layer.

    weights_z_ : ndarray of shape (n_layers - 1, n_components, n_components)
        Iterate weights; ``weights_z_[k - 1]`` belongs to layer ``k >= 1``
        (layer 0 sees ``z_0 = 0``).

    thresholds_ : ndarray of shape (n_layers, n_components)
        Non-negative thresholds ``theta[k]``.

    With ``parametrization="tied"``, `weights_x_` and `weights_z_` have one
    entry (axis 0 of length 1) shared by all layers; with ``"coupled"`` the
    network has `weights_` of shape ``(n_layers, n_features, n_components)``
    and `thresholds_` only.
"""
        + _LEARNED_ATTRIBUTES
        + """
    See Also
    --------
    ISTACoder : The iteration LISTA unrolls.
    LFISTACoder : Learned FISTA.

    References
    ----------
    .. [1] K. Gregor and Y. LeCun, "Learning fast approximations of sparse
       coding", ICML 2010.
    .. [2] T. Moreau and J. Bruna, "Understanding trainable sparse coding
       with matrix factorization", ICLR 2017.
    .. [3] X. Chen, J. Liu, Z. Wang and W. Yin, "Theoretical linear
       convergence of unfolded ISTA and its practical weights and
       thresholds", NeurIPS 2018.

    Examples
    --------
    >>> from sklearn_lista import LISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=300, random_state=0)
    >>> alpha = 0.1 * alpha_max(X, D)
    >>> coder = LISTACoder(
    ...     D, alpha=alpha, n_layers=4, tol=1e-3, n_iter_no_change=3, random_state=0
    ... )
    >>> codes = coder.fit_transform(X)
    >>> codes.shape
    (300, 100)
    """
    )

    _parameter_constraints: dict = {
        **BaseLearnedCoder._parameter_constraints,
        "parametrization": [StrOptions({"untied", "tied", "coupled"})],
        "support_selection": ["boolean", tuple],
        "init": [
            StrOptions({"auto", "classical", "learned_steps"}),
            HasMethods(["fit", "transform"]),
        ],
    }

    _ARCHITECTURES = {"untied": "lista", "tied": "tied_lista", "coupled": "lista_cp"}

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=8,
        positive_code=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        batch_size=256,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_guard=True,
        validation_fraction=0.1,
        shuffle=True,
        loss="lasso",
        fit_algorithm="end_to_end",
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        parametrization="untied",
        support_selection=False,
        init="auto",
    ):
        super().__init__(
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            positive_code=positive_code,
            solver=solver,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_guard=validation_guard,
            validation_fraction=validation_fraction,
            shuffle=shuffle,
            loss=loss,
            fit_algorithm=fit_algorithm,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.parametrization = parametrization
        self.support_selection = support_selection
        self.init = init

    def _architecture_name(self):
        return self._ARCHITECTURES[self.parametrization]

    def _network_options(self):
        return {"support_selection": _support_selection(self.support_selection)}


class LFISTACoder(BaseLearnedCoder):
    __doc__ = (
        """Learned FISTA: an unrolled, trained FISTA with momentum weights.

    Layer ``k`` computes
    ``z_{k+1} = st(z_k W_z[k] + z_{k-1} W_m[k] + x W_x[k], theta[k])``. At
    initialisation ``W_z = (1 + m_k)(I - B / L)``, ``W_m = -m_k (I - B / L)``,
    ``W_x = D^T / L`` and ``theta = alpha / L`` with FISTA's momentum
    ``m_k``, so an untrained network computes `n_layers` FISTA iterations.
"""
        + _LEARNED_PARAMETERS
        + _INIT_DOC
        + """
    Attributes
    ----------
    weights_x_ : ndarray of shape (n_layers, n_features, n_components)
        Input weights ``W_x[k]``.

    weights_z_ : ndarray of shape (n_layers - 1, n_components, n_components)
        Weights on ``z_k``; ``weights_z_[k - 1]`` belongs to layer ``k``.

    weights_m_ : ndarray of shape (n_layers - 1, n_components, n_components)
        Weights on ``z_{k-1}`` (momentum); ``weights_m_[k - 1]`` belongs to
        layer ``k``.

    thresholds_ : ndarray of shape (n_layers, n_components)
        Non-negative thresholds.
"""
        + _LEARNED_ATTRIBUTES
        + """
    See Also
    --------
    FISTACoder : The iteration LFISTA unrolls.
    LISTACoder : Learned ISTA.

    References
    ----------
    .. [1] T. Moreau and J. Bruna, "Understanding trainable sparse coding
       with matrix factorization", ICLR 2017.

    Examples
    --------
    >>> from sklearn_lista import LFISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=300, random_state=0)
    >>> alpha = 0.1 * alpha_max(X, D)
    >>> coder = LFISTACoder(
    ...     D, alpha=alpha, n_layers=4, tol=1e-3, n_iter_no_change=3, random_state=0
    ... )
    >>> codes = coder.fit_transform(X)
    >>> codes.shape
    (300, 100)
    """
    )

    _architecture = "lfista"

    _parameter_constraints: dict = {
        **BaseLearnedCoder._parameter_constraints,
        "init": [
            StrOptions({"auto", "classical", "learned_steps"}),
            HasMethods(["fit", "transform"]),
        ],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=8,
        positive_code=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        batch_size=256,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_guard=True,
        validation_fraction=0.1,
        shuffle=True,
        loss="lasso",
        fit_algorithm="end_to_end",
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        init="auto",
    ):
        super().__init__(
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            positive_code=positive_code,
            solver=solver,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_guard=validation_guard,
            validation_fraction=validation_fraction,
            shuffle=shuffle,
            loss=loss,
            fit_algorithm=fit_algorithm,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.init = init


class StepLISTACoder(BaseLearnedCoder):
    __doc__ = (
        """Step-LISTA (Ablin et al., 2019): ISTA or FISTA with learned step sizes.

    The dictionary stays fixed and layer ``k`` is a proximal-gradient step of
    the Lasso with its own step size ``s_k``,
    ``z_{k+1} = st(z_k - s_k (z_k B - x D^T), alpha s_k)`` (from the
    extrapolated point, with a learned momentum per layer, when `momentum`).
    Only ``n_layers`` scalars (twice that with momentum) are trained, from
    ``s_k = 1 / L`` (and FISTA's momentums): an untrained network computes
    `n_layers` ISTA (FISTA) iterations. Learned steps grow beyond ``1 / L``
    where the codes' support is small, since the Lasso restricted to a
    support has a smaller Lipschitz constant; this is what lets a few
    layers reach what ISTA needs many iterations for.

    From 16 layers on, a fresh fit (not stage-wise) grows the network by
    doubling its depth: it trains 1, 2, 4, ..., `n_layers` layers in turn,
    each depth a warm start from the previous one with up to `max_iter`
    epochs; `guard_restores_` counts over the depths, a ConvergenceWarning
    is the last depth's. Trained at once, 16 steps stop on a plateau: on the
    Gaussian problem of density 1/4, a relative gap of 4.2e-5 on test
    signals, against 1.1e-6 grown.
"""
        + _LEARNED_PARAMETERS.replace(
            """    learning_rate_init : float, default=1e-3""",
            """    learning_rate_init : float, default=1e-2""",
        )
        + """
    momentum : bool, default=False
        Learn FISTA's momentum per layer too (step-FISTA): the layer steps
        from ``y_k = z_k + m_k (z_k - z_{k-1})``.
"""
        + _SUPPORT_SELECTION_DOC
        + """
    safeguard : bool, default=False
        A monotone safeguard in every layer: a layer that would raise a
        signal's Lasso cost takes an ISTA step of size ``1 / L`` for that
        signal instead (and restarts the momentum). The cost of every signal
        then decreases through the layers and no signal can diverge, at no
        extra product per layer. Learned steps beyond ``2 / L`` suit the
        small supports of typical signals and can make a rare signal
        diverge; the safeguard removes that tail. The steps are trained
        through it (:meth:`fit`); set after a fit without it, it applies to
        :meth:`transform` and :meth:`score` alone, on steps that did not
        expect it (see the user guide for what each costs). Not available
        with `support_selection`.
"""
        + """
    Attributes
    ----------
    steps_ : ndarray of shape (n_layers,)
        Positive step sizes ``s_k`` (trained in log coordinates).

    momentums_ : ndarray of shape (n_layers - 1,)
        With `momentum`: ``m_k`` of layers ``k >= 1``.
"""
        + _LEARNED_ATTRIBUTES
        + """
    See Also
    --------
    ISTACoder, FISTACoder : The iterations step-LISTA starts from.
    LISTACoder : Learned weight matrices instead of step sizes.

    References
    ----------
    .. [1] P. Ablin, T. Moreau, M. Massias and A. Gramfort, "Learning step
       sizes for unfolded sparse coding", NeurIPS 2019.

    Examples
    --------
    >>> from sklearn_lista import StepLISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=300, random_state=0)
    >>> alpha = 0.1 * alpha_max(X, D)
    >>> coder = StepLISTACoder(
    ...     D, alpha=alpha, n_layers=4, tol=1e-3, n_iter_no_change=3, random_state=0
    ... ).fit(X)
    >>> coder.steps_.shape
    (4,)
    """
    )

    _parameter_constraints: dict = {
        **BaseLearnedCoder._parameter_constraints,
        "momentum": ["boolean"],
        "support_selection": ["boolean", tuple],
        "safeguard": ["boolean"],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=8,
        positive_code=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-2,
        batch_size=256,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_guard=True,
        validation_fraction=0.1,
        shuffle=True,
        loss="lasso",
        fit_algorithm="end_to_end",
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        momentum=False,
        support_selection=False,
        safeguard=False,
    ):
        super().__init__(
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            positive_code=positive_code,
            solver=solver,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_guard=validation_guard,
            validation_fraction=validation_fraction,
            shuffle=shuffle,
            loss=loss,
            fit_algorithm=fit_algorithm,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.momentum = momentum
        self.support_selection = support_selection
        self.safeguard = safeguard

    def _architecture_name(self):
        return "step_fista" if self.momentum else "step_ista"

    def _fit_coder(self, X, y):
        grows = (
            self.n_layers >= GROWN_STEPS_MIN_LAYERS
            and self.fit_algorithm != "stagewise"
            and not self._warm_startable(self._build_network())
        )
        if not grows:
            return super()._fit_coder(X, y)
        # Grown by doubling its depth, each depth a warm start of a copy from
        # the previous one: trained at once, 16 learned steps stop on a
        # plateau (density 1/4: 4.2e-5 on test signals, 1.1e-6 grown). This
        # coder then takes the copy's fitted state.
        # (Built from the parameters, not cloned: the dictionary given to the
        # copy is the fitted one.)
        grower = type(self)(
            **{
                **self.get_params(deep=False),
                "dictionary": self.components_,
                "n_components": None,
            }
        )
        if not isinstance(self.random_state, Integral):
            # One validation split for all the depths.
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            grower.set_params(random_state=seed)
        depths = doubling_depths(self.n_layers)
        if self.verbose:
            print(
                f"[{type(self).__name__}] growing the network: "
                f"{', '.join(map(str, depths))} layers"
            )
        # Densified once, not at every depth's fit.
        X = X.toarray() if sp.issparse(X) else X
        restores = 0
        with warnings.catch_warnings():
            # The last depth's convergence is the fit's.
            warnings.simplefilter("ignore", ConvergenceWarning)
            for stage, depth in enumerate(depths[:-1]):
                grower.set_params(n_layers=depth, warm_start=stage > 0).fit(X, y)
                restores += grower.guard_restores_
        grower.set_params(n_layers=self.n_layers, warm_start=True).fit(X, y)
        # Counted over the depths, as over the stages of a stage-wise fit.
        grower.guard_restores_ += restores
        constructor = self.get_params(deep=False)
        fitted = {k: v for k, v in vars(grower).items() if k not in constructor}
        self.__dict__.update(fitted)

    def _network_options(self):
        return {
            "support_selection": _support_selection(self.support_selection),
            "safeguard": self.safeguard,
        }

    def _encoding_network(self):
        network = self.network_
        if network.safeguard == self.safeguard:
            return network
        # An encoding option as well: set after fit, it applies to the steps
        # trained without it (or lifts it), no refit needed.
        return type(network)(
            network.problem,
            support_selection=network.support_selection,
            safeguard=self.safeguard,
        )


class ALISTACoder(BaseLearnedCoder):
    __doc__ = (
        """ALISTA (Liu et al., 2019): analytic weights, learned steps and thresholds.

    Layer ``k`` computes ``z_{k+1} = st(z_k + gamma_k (x - z_k D) W, theta_k)``
    with ``W`` computed from the dictionary alone by ALISTA's problem (the
    least mutually coherent weight with ``diag(D W) = 1``, in closed form:
    :func:`sklearn_lista.analytic.analytic_weights`), stored with the model and
    never trained. Only ``gamma_k`` and ``theta_k``, two scalars per layer,
    are trained, with LISTA-CPSS's support selection by default. The network
    starts at ``gamma = 1 / ||D W||_2`` and ``theta = alpha * gamma``; it is not
    an ISTA iteration at initialisation. The papers train it on target codes
    (``loss="squared_error"``) stage-wise (``fit_algorithm="stagewise"``).
    When the network grows (stage-wise, or a warm start to more layers) the
    new layers start at the last trained layer's step and threshold, not at
    the untrained ones: trained thresholds fall geometrically with depth,
    and a new layer at the initial threshold would undo the previous ones.
"""
        + _LEARNED_PARAMETERS
        + _SUPPORT_SELECTION_DOC.replace("default=False", "default=True")
        + """
    Attributes
    ----------
    steps_ : ndarray of shape (n_layers,)
        Positive steps ``gamma_k``.

    thresholds_ : ndarray of shape (n_layers,)
        Non-negative thresholds ``theta_k`` (one per layer).

    analytic_weights_ : ndarray of shape (n_features, n_components)
        ALISTA's weight ``W``.
"""
        + _LEARNED_ATTRIBUTES
        + """
    See Also
    --------
    sklearn_lista.analytic.analytic_weights : The weight, as a function.
    LISTACoder : Learned weight matrices.

    References
    ----------
    .. [1] J. Liu, X. Chen, Z. Wang and W. Yin, "ALISTA: Analytic weights are
       as good as learned weights in LISTA", ICLR 2019.

    Examples
    --------
    >>> from sklearn_lista import ALISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=300, random_state=0)
    >>> alpha = 0.1 * alpha_max(X, D)
    >>> coder = ALISTACoder(
    ...     D, alpha=alpha, n_layers=4, tol=1e-2, n_iter_no_change=3, random_state=0
    ... ).fit(X)
    >>> coder.analytic_weights_.shape, coder.steps_.shape
    ((64, 100), (4,))
    """
    )

    _architecture = "alista"

    _parameter_constraints: dict = {
        **BaseLearnedCoder._parameter_constraints,
        "support_selection": ["boolean", tuple],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=8,
        positive_code=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        batch_size=256,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_guard=True,
        validation_fraction=0.1,
        shuffle=True,
        loss="lasso",
        fit_algorithm="end_to_end",
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        support_selection=True,
    ):
        super().__init__(
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            positive_code=positive_code,
            solver=solver,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_guard=validation_guard,
            validation_fraction=validation_fraction,
            shuffle=shuffle,
            loss=loss,
            fit_algorithm=fit_algorithm,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.support_selection = support_selection

    @property
    def analytic_weights_(self):
        return self.network_.analytic_weight

    def _network_options(self):
        return {"support_selection": _support_selection(self.support_selection)}


class HyperLISTACoder(BaseLearnedCoder):
    __doc__ = (
        """HyperLISTA (Chen et al., 2021): ALISTA whose layers follow 3 numbers.

    ALISTA's analytic weight ``W`` with a step ``gamma`` (`step`, 1 in the
    paper), a momentum term and support selection, whose threshold
    ``theta``, momentum ``beta`` and number of unshrunk entries ``p`` are
    computed at every layer, for every signal, from the current iterate
    ``z_k`` (row form of the paper's formulas)::

        theta_k = c1 * mu * ||(z_k D - x) D^+||_1
        beta_k  = c2 * mu * ||z_k||_0
        p_k     = round(min(c3 * log(||x D^+||_1 / ||(z_k D - x) D^+||_1), K))
        u_k     = z_k + gamma (x - z_k D) W + beta_k (z_k - z_{k-1})
        z_{k+1} = ss_{theta_k, p_k}(u_k)

    where ``D^+`` is the pseudo-inverse of the dictionary (``||(z D - x)
    D^+||_1`` estimates the unknown ``||z - z*||_1``), ``mu = max_{i != j}
    |(D W)_ij|`` the generalised mutual coherence and ``ss`` support
    selection (the ``p`` largest entries beyond the threshold keep their
    value, the others are soft-thresholded). The whole network has three
    parameters ``(c1, c2, c3)``:

    - ``fit_hyperparameters=True``: :meth:`fit` starts from `c1`, `c2`, `c3`
      and trains ``c1`` and ``c2`` by gradient (in log coordinates) on the
      training loss; ``c3`` sets an integer count, whose gradient is zero
      almost everywhere, so it stays at the given value.
    - ``fit_hyperparameters=False``: :meth:`fit` trains nothing (it computes
      ``W``, ``D^+`` and ``mu``, and measures the training loss once, the
      one "epoch" of `loss_curve_` and `n_iter_`): the coder is a plain
      estimator whose three values
      :class:`~sklearn.model_selection.GridSearchCV` tunes, as the paper
      tunes them, with ``loss="squared_error"`` to score against target
      codes.

    ``alpha`` enters only the Lasso training loss and score (the network
    recovers sparse codes, it solves no Lasso).
"""
        + _LEARNED_PARAMETERS.replace(
            """    learning_rate_init : float, default=1e-3""",
            """    learning_rate_init : float, default=1e-2""",
        )
        + """
    c1 : float, default=0.04
        Threshold factor (``>= 0``). The defaults of `c1`, `c2` and `c3` come
        from a grid search on the noiseless standard compressed-sensing
        problem (:func:`~sklearn_lista.datasets.make_compressed_sensing`,
        16 layers).

    c2 : float, default=0.02
        Momentum factor (``>= 0``; 0: no momentum).

    c3 : float, default=12.0
        Support-selection factor (``>= 0``; 0: soft thresholding).

    fit_hyperparameters : bool, default=True
        Train ``c1`` and ``c2`` by gradient in :meth:`fit` (see above).

    step : float, default=1.0
        The step ``gamma`` of the gradient term, ``z_k + gamma (x - z_k D)
        W``: 1 in the paper's formula, kept fixed. A larger step (1.2 to 1.3)
        recovers more dB per layer on the standard compressed-sensing problem
        (see :doc:`/benchmarks/modern`); from 1.5 on the iteration diverges
        there.

    Attributes
    ----------
    hyperparameters_ : ndarray of shape (n_layers, 3)
        ``(c1, c2, c3)`` per layer, all rows equal (the network's depth is
        the number of rows).

    c1_, c2_, c3_ : float
        The fitted hyperparameters.

    analytic_weights_ : ndarray of shape (n_features, n_components)
        ALISTA's weight ``W``.

    coherence_ : float
        ``mu``.
"""
        + _LEARNED_ATTRIBUTES
        + """
    See Also
    --------
    ALISTACoder : Analytic weight, a learned step and threshold per layer.
    sklearn_lista.analytic.analytic_weights : The weight ``W``.

    References
    ----------
    .. [1] X. Chen, J. Liu, Z. Wang and W. Yin, "Hyperparameter tuning is all
       you need for LISTA", NeurIPS 2021.
    .. [2] J. Liu, X. Chen, Z. Wang and W. Yin, "ALISTA: Analytic weights are
       as good as learned weights in LISTA", ICLR 2019.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_lista import HyperLISTACoder
    >>> from sklearn_lista.datasets import make_compressed_sensing
    >>> X, D, Z = make_compressed_sensing(
    ...     200, n_measurements=50, n_components=100, random_state=0)
    >>> coder = HyperLISTACoder(
    ...     D, n_layers=8, loss="squared_error", fit_hyperparameters=False)
    >>> search = GridSearchCV(
    ...     coder, {"c1": [0.02, 0.04], "c3": [6.0, 12.0]}, cv=2).fit(X, Z)
    >>> sorted(search.best_params_)
    ['c1', 'c3']
    >>> search.best_estimator_.hyperparameters_.shape
    (8, 3)
    """
    )

    _architecture = "hyper_lista"

    _parameter_constraints: dict = {
        **BaseLearnedCoder._parameter_constraints,
        "c1": [Interval(Real, 0, None, closed="left")],
        "c2": [Interval(Real, 0, None, closed="left")],
        "c3": [Interval(Real, 0, None, closed="left")],
        "fit_hyperparameters": ["boolean"],
        "step": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=8,
        positive_code=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-2,
        batch_size=256,
        max_iter=200,
        tol=1e-6,
        n_iter_no_change=10,
        early_stopping=False,
        validation_guard=True,
        validation_fraction=0.1,
        shuffle=True,
        loss="lasso",
        fit_algorithm="end_to_end",
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        c1=0.04,
        c2=0.02,
        c3=12.0,
        fit_hyperparameters=True,
        step=1.0,
    ):
        super().__init__(
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            positive_code=positive_code,
            solver=solver,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_guard=validation_guard,
            validation_fraction=validation_fraction,
            shuffle=shuffle,
            loss=loss,
            fit_algorithm=fit_algorithm,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.c1 = c1
        self.c2 = c2
        self.c3 = c3
        self.fit_hyperparameters = fit_hyperparameters
        self.step = step

    def _network_options(self):
        return {"hyperparameters": (self.c1, self.c2, self.c3), "step": self.step}

    def _warm_startable(self, network):
        # Without training, the network is (c1, c2, c3) as given, always.
        return self.fit_hyperparameters and super()._warm_startable(network)

    def _fit(self, X, y, incremental):
        if self.fit_hyperparameters:
            return super()._fit(X, y, incremental)
        # Nothing to train: the network is built from (c1, c2, c3), and one
        # pass measures its training loss (loss_curve_, best_loss_, n_iter_ = 1)
        # when the loss can be computed (the targets are given if it needs them).
        X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
        if not incremental:
            self._initialize(X)
        requires_y = LOSSES[self.loss].requires_y
        y = None if y is None and requires_y else self._check_targets(y, X)
        if y is None and requires_y:
            return
        loss = LOSSES[self.loss](self.network_.problem_in(X.dtype))
        params = self.network_.cast(self._get_params(), X.dtype)
        codes, _ = self.network_.forward(X, params, keep_cache=False)
        value = float(loss(codes, X, y)[0])
        self.loss_curve_.append(value)
        self.best_loss_ = min(self.best_loss_, value)
        self.n_iter_ += 1
        self.t_ += X.shape[0]

    @property
    def c1_(self):
        return float(self.hyperparameters_[0, 0])

    @property
    def c2_(self):
        return float(self.hyperparameters_[0, 1])

    @property
    def c3_(self):
        return float(self.hyperparameters_[0, 2])

    @property
    def analytic_weights_(self):
        return self.network_.analytic_weight

    @property
    def coherence_(self):
        return self.network_.coherence

    def layer_schedule(self, X):
        """The per-layer, per-signal values the network computes on `X`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Signals.

        Returns
        -------
        schedule : dict
            ``"thresholds"``, ``"momentums"`` (float) and ``"n_bypass"``
            (int) arrays of shape ``(n_layers, n_samples)``: ``theta_k``,
            ``beta_k`` and ``p_k`` of every layer for every signal.
        """
        check_is_fitted(self, "network_")
        X = validate_signals(
            self, X, reset=False, accept_sparse="csr", dtype=FLOAT_DTYPES
        )
        X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
        params = self.network_.cast(self._get_params(), X.dtype)
        thresholds, momentums, n_bypass, _ = self.network_.schedule(X, params)
        return {"thresholds": thresholds, "momentums": momentums, "n_bypass": n_bypass}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = (
            LOSSES[self.loss].requires_y and self.fit_hyperparameters
        )
        return tags
