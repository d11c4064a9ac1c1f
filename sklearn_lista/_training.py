"""The one training loop of the learned coders (and of FacNet's layer solver).

:class:`TrainingLoop` steps named parameters with an optimizer from
:mod:`sklearn_lista.optim`, over the batches of an *objective*, and owns what
every training shares: the divergence guard (a step that blows the cost up
is undone and the learning rate shrunk), the best parameters on the
monitored loss (restored at the end), the learning-rate schedule and the
stopping rules. :func:`train_stagewise` grows a network layer by layer on it.

An objective is any object with

- ``batches(rng)``: an iterable of batches (one per step);
- ``loss_and_grads(params, batch) -> (loss, grads)``;
- ``loss(params, batch) -> loss`` (the divergence guard's re-evaluation);
- ``monitor(params) -> float``: the loss that selects the best parameters;
- ``project(params)``: constraints restored after each step (in place);
- ``divergence_guard``: whether steps are checked at all.

:class:`NetworkObjective` is the objective of an unrolled network on a loss
of :mod:`sklearn_lista.losses`.
"""

import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_random_state, gen_batches

# A mini-batch whose cost exceeds this factor times the running average is a
# sign of divergence: it is evaluated again at the last accepted parameters
# and the step undone if it more than doubled that cost.
DIVERGENCE_FACTOR = 2.0
LEARNING_RATE_SHRINK = 0.5


# Without a validation split, the end-of-epoch loss that selects the best
# parameters is measured on a fixed subset of the training signals.
MONITOR_SIZE = 2048


def split_monitor(
    X, y, *, early_stopping, validation_fraction, random_state, guard=False
):
    """``(X_train, y_train, X_monitor, y_monitor, held_out)``: the training
    signals, the signals whose loss selects the best epoch (a held-out split
    with `early_stopping`, else up to ``MONITOR_SIZE`` training signals) and,
    with `guard` (and no early stopping), the held-out ``(X, y)`` the result
    is checked on at the end (else None)."""
    n_samples = X.shape[0]
    rng = check_random_state(random_state)

    def rows(selection):
        return X[selection], (None if y is None else y[selection])

    if early_stopping or guard:
        n_validation = int(round(validation_fraction * n_samples))
        if n_validation < 1 or n_validation >= n_samples:
            raise ValueError(
                f"validation_fraction={validation_fraction} leaves "
                f"{n_validation} of {n_samples} samples for validation; use "
                "more samples or early_stopping=False."
            )
        order = rng.permutation(n_samples)
        held_out = rows(order[:n_validation])
        if early_stopping:
            return (*rows(order[n_validation:]), *held_out, None)
        X, y = rows(np.sort(order[n_validation:]))
        n_samples = X.shape[0]
    else:
        held_out = None
    if n_samples <= MONITOR_SIZE:
        return X, y, X, y, held_out
    monitor = np.sort(rng.choice(n_samples, MONITOR_SIZE, replace=False))
    return X, y, *rows(monitor), held_out


def worse_on_held_out(start_losses, trained_losses):
    """Whether the per-signal held-out losses after training are worse on
    average (or not finite) than before it."""
    trained_losses = np.asarray(trained_losses, dtype=np.float64)
    if not np.isfinite(trained_losses).all():
        return True
    return bool(trained_losses.mean() > np.mean(start_losses, dtype=np.float64))


def gain_is_shown(start_losses, trained_losses):
    """Whether the per-signal held-out losses show that training helps: more
    than half the signals gained, or the mean gain exceeds two standard errors.

    Either suffices: a learned step network's gain on hard problems is carried
    by a few signals (a large mean of high variance), while elsewhere most
    signals gain a little. Non-finite trained losses show nothing; a start
    that is infinite where the trained loss is finite shows a gain. Whether
    the trained losses are worse on average is :func:`worse_on_held_out`'s
    question, asked apart.
    """
    start_losses = np.asarray(start_losses, dtype=np.float64)
    trained_losses = np.asarray(trained_losses, dtype=np.float64)
    if not np.isfinite(trained_losses).all():
        return False
    gains = start_losses - trained_losses
    if np.isposinf(gains).any() or np.mean(gains > 0) > 0.5:
        return True
    if gains.size < 2 or not np.isfinite(gains).all():
        return False
    standard_error = gains.std(ddof=1) / np.sqrt(gains.size)
    return bool(gains.mean() > 2.0 * standard_error)


# While a run trains, the held-out check of the validation guard runs every
# this many epochs on the best parameters so far. A run whose best parameters
# show no gain on the held-out signals at this many checks in a row stops
# there. A run whose gain no check showed (the final one included) is undone:
# its epochs fitted the training signals alone (on the images problem such
# runs were undone at the end anyway, after up to 71 s, or, kept, started a
# deeper network that diverged on the test patches).
GUARD_CHECK_EVERY = 10
GUARD_PATIENCE = 2


class HeldOutGuard:
    """Whether training helps on held-out signals, compared with its start.

    :meth:`TrainingLoop.run` calls :meth:`begin` with the starting
    parameters, :meth:`stalled` after each epoch and :meth:`rejects` at the
    end (a rejected run is undone).

    Parameters
    ----------
    per_sample_loss : callable
        ``per_sample_loss(params) -> ndarray``: the loss of each held-out
        signal under `params`.
    check_every : int, default=GUARD_CHECK_EVERY
        Epochs between two checks during the run.
    patience : int, default=GUARD_PATIENCE
        Consecutive checks at which the best parameters do worse on held-out
        signals or show no gain there (:func:`gain_is_shown`) before the run
        stops. A run is undone (:meth:`rejects`) unless a check, during the
        run or at its end, showed a gain.
    """

    def __init__(
        self, per_sample_loss, check_every=GUARD_CHECK_EVERY, patience=GUARD_PATIENCE
    ):
        self.per_sample_loss = per_sample_loss
        self.check_every = check_every
        self.patience = patience

    def begin(self, params):
        """Measure the start of a run."""
        self._start_losses = self.per_sample_loss(params)
        self._n_unshown = 0
        self._ever_shown = False
        # The verdicts on the best parameters of a given epoch, kept: they
        # change less often than they are checked.
        self._cached_verdicts = (None, None)

    def _verdicts(self, params, best_epoch):
        """``(worse, gain shown)`` of `params` against the start; a gain is
        shown only if not worse on average."""
        if best_epoch is None or self._cached_verdicts[0] != best_epoch:
            losses = self.per_sample_loss(params)
            worse = worse_on_held_out(self._start_losses, losses)
            shown = not worse and gain_is_shown(self._start_losses, losses)
            self._cached_verdicts = (best_epoch, (worse, shown))
        return self._cached_verdicts[1]

    def stalled(self, n_epochs, best, best_epoch):
        """Whether the run should stop after its `n_epochs`-th epoch: its best
        parameters (those of epoch `best_epoch`, 0 for the start) did worse
        on held-out signals than the start, or showed no gain there, at
        `patience` checks in a row."""
        if n_epochs % self.check_every:
            return False
        if best_epoch == 0:
            # Nothing better than the start on the monitored loss: the
            # ordinary stopping rules decide.
            return False
        shown = self._verdicts(best, best_epoch)[1]
        self._ever_shown |= shown
        self._n_unshown = 0 if shown else self._n_unshown + 1
        return self._n_unshown >= self.patience

    def rejects(self, trained, best_epoch=None):
        """Whether the run is to be undone: its trained parameters do worse
        on held-out signals than the start (:func:`worse_on_held_out`), or
        no check, this last one included, showed a gain
        (:func:`gain_is_shown`)."""
        worse, shown = self._verdicts(trained, best_epoch)
        return worse or not (shown or self._ever_shown)


def _copy(params):
    return {name: value.copy() for name, value in params.items()}


def _assign(target, source):
    for name, value in source.items():
        target[name][...] = value


def _finite(params):
    return all(np.isfinite(value).all() for value in params.values())


class NetworkObjective:
    """An unrolled network trained on a loss, over mini-batches.

    Parameters
    ----------
    network : UnrolledNetwork
    loss : callable
        ``loss(codes, X, y) -> (value, grad_codes)``.
    X, y : ndarray
        Training signals and targets (`y` None for unsupervised losses).
    X_monitor, y_monitor : ndarray
        Signals (and targets) whose loss selects the best parameters.
    batch_size : int
    shuffle : bool
    """

    divergence_guard = True

    def __init__(self, network, loss, X, y, X_monitor, y_monitor, batch_size, shuffle):
        self.network = network
        self.loss_function = loss
        self.X, self.y = X, y
        self.X_monitor, self.y_monitor = X_monitor, y_monitor
        self.batch_size = min(batch_size, X.shape[0])
        self.shuffle = shuffle

    def batches(self, rng):
        n_samples = self.X.shape[0]
        order = rng.permutation(n_samples) if self.shuffle else None
        for rows in gen_batches(n_samples, self.batch_size):
            rows = order[rows] if self.shuffle else rows
            yield self.X[rows], (None if self.y is None else self.y[rows])

    def loss_and_grads(self, params, batch):
        X, y = batch
        # A step that went too far can overflow anywhere in the network (e.g.
        # 1 / S in FacNet): the non-finite loss is what the divergence guard
        # acts on, so the overflow itself is not warned about.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            codes, cache = self.network.forward(X, params, keep_cache=True)
            value, grad_codes = self.loss_function(codes, X, y)
        return value, _Deferred(self.network, params, cache, grad_codes)

    def loss(self, params, batch):
        X, y = batch
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            codes, _ = self.network.forward(X, params, keep_cache=False)
            return self.loss_function(codes, X, y)[0]

    def monitor(self, params):
        return self.loss(params, (self.X_monitor, self.y_monitor))

    def project(self, params):
        self.network.project(params)


class _Deferred:
    """Gradients computed only if the step is accepted (backprop is the
    expensive half, and a rejected step needs none)."""

    def __init__(self, network, params, cache, grad_codes):
        self.network, self.params = network, params
        self.cache, self.grad_codes = cache, grad_codes

    def compute(self):
        return self.network.backward(self.params, self.cache, self.grad_codes)


@dataclass
class TrainingResult:
    """What a run of :class:`TrainingLoop` reports.

    Attributes
    ----------
    loss_curve : list of float
        Mean training loss of each epoch.
    monitored : list of float
        Monitored loss before training and after each epoch.
    best_loss : float
        Lowest monitored loss (its parameters are the ones left in place).
    n_iter : int
        Epochs run.
    n_samples_seen : int
        Training samples of the accepted steps.
    converged : bool
        Whether a stopping rule (rather than `max_iter`) ended training.
    n_guarded : int
        Runs (stages) whose result the held-out check undid.
    """

    loss_curve: list = field(default_factory=list)
    monitored: list = field(default_factory=list)
    best_loss: float = np.inf
    n_iter: int = 0
    n_samples_seen: int = 0
    converged: bool = False
    n_guarded: int = 0


class TrainingLoop:
    """Epochs of guarded steps, the best parameters kept, a schedule on plateaus.

    Parameters
    ----------
    optimizer : BaseOptimizer
        Steps every parameter on its manifold.
    schedule : ConstantSchedule or PlateauSchedule
        Asked after each epoch without improvement whether to restore the
        best parameters and shrink the learning rate.
    max_iter : int
        Maximum number of epochs.
    tol : float
        An epoch counts as an improvement when it lowers the best monitored
        loss by more than `tol` times the decrease since the run started.
    n_iter_no_change : int or float
        Stop after this many epochs without improvement (``np.inf``: never).
    rng : numpy.random.RandomState
        Shuffles the batches.
    verbose : int, default=0
        1 prints one line per epoch, 2 also the rejected steps.
    name : str, default=""
        Prefix of the printed lines.
    """

    def __init__(
        self,
        optimizer,
        schedule,
        *,
        max_iter,
        tol,
        n_iter_no_change,
        rng,
        verbose=0,
        name="",
    ):
        self.optimizer = optimizer
        self.schedule = schedule
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.rng = rng
        self.verbose = verbose
        self.name = name
        self._running_loss = None

    def run(
        self,
        objective,
        params,
        result=None,
        guard=None,
        reference_loss=None,
        target_loss=None,
    ):
        """Train `params` (in place) for up to `max_iter` epochs.

        Returns the :class:`TrainingResult` (`result`, updated, if given). The
        parameters left in place are those of the best monitored epoch, or
        the starting ones if `guard` (a :class:`HeldOutGuard`) rejects them:
        worse on held-out signals, or their gain there never shown. The
        guard also stops a run whose best parameters show no held-out gain
        at its checks.
        `reference_loss`, the monitored loss before an earlier training that
        produced the start (e.g. the learned steps'), counts that training's
        gain in the progress `tol` is relative to. With `target_loss` (the
        loss of a network trained from another start) a run is given up once
        the pace of its last epochs would not take its monitored loss below
        it soon (see ``_cannot_reach``).
        """
        result = TrainingResult() if result is None else result
        start_params = None
        if guard is not None:
            start_params = _copy(params)
            guard.begin(params)
        best = _copy(params)
        best_epoch = 0
        best_loss = objective.monitor(params)
        if not np.isfinite(best_loss):
            raise ValueError(
                f"the training loss is not finite at the initial parameters "
                f"({best_loss}): the signals, the dictionary or alpha are too "
                "large for this dtype; rescale them."
            )
        result.monitored.append(best_loss)
        initial_loss = best_loss if reference_loss is None else reference_loss
        initial_loss = max(initial_loss, best_loss)
        n_stalled = 0
        start = time.perf_counter()
        for epoch in range(self.max_iter):
            result.loss_curve.append(self.epoch(objective, params, result))
            result.n_iter += 1
            monitored = objective.monitor(params)
            result.monitored.append(monitored)
            # Progress is judged against what training has gained so far, not
            # against the loss itself: a deep network within 1e-8 of the
            # optimum still gains by whole factors, which a tolerance relative
            # to the loss would not see, while a shallow one stops once its
            # epochs gain next to nothing.
            if monitored < best_loss - self.tol * (initial_loss - best_loss):
                n_stalled = 0
            else:
                n_stalled += 1
            if monitored < best_loss:
                best_loss = monitored
                best_epoch = epoch + 1
                _assign(best, params)
            if self.verbose:
                print(
                    f"[{self.name}] epoch {epoch + 1}/{self.max_iter}: train loss "
                    f"{result.loss_curve[-1]:.6g}, monitored loss {monitored:.6g}, "
                    f"lr {self.optimizer.learning_rate:.2g}, "
                    f"{time.perf_counter() - start:.1f} s"
                )
            if target_loss is not None and _cannot_reach(
                result.monitored, target_loss, self.max_iter - epoch - 1
            ):
                # Another start is kept: nothing to report as unconverged.
                result.converged = True
                break
            if n_stalled >= self.n_iter_no_change:
                result.converged = True
                break
            if guard is not None and guard.stalled(epoch + 1, best, best_epoch):
                # No held-out gain at the last checks: further epochs would
                # fit the training signals alone.
                result.converged = True
                break
            factor, reset = self.schedule.on_stall(n_stalled)
            if factor is not None:
                # Plateau: the step is too large to make progress from here.
                _assign(params, best)
                self.optimizer.scale_learning_rate(factor)
                n_stalled = 0 if reset else n_stalled
            floor = self.schedule.min_learning_rate * self.optimizer.learning_rate_init
            if self.optimizer.learning_rate < floor:
                result.converged = True
                break
        # The model holds the best parameters seen, never the last ones of a
        # run that degraded.
        _assign(params, best)
        result.best_loss = best_loss
        # (A run that never beat its start on the monitored loss holds the
        # start already: nothing to judge.)
        if guard is not None and best_epoch > 0 and guard.rejects(params, best_epoch):
            # Better on the training signals, not on held-out ones: the
            # training over-fitted; the network it started from generalises.
            _assign(params, start_params)
            result.n_guarded += 1
            if self.verbose:
                print(
                    f"[{self.name}] no held-out gain shown (or worse): "
                    "starting point restored"
                )
        return result

    def epoch(self, objective, params, result=None):
        """One pass of guarded steps over the objective's batches (in place).

        Returns the mean training loss of the accepted batches.
        """
        accepted = _copy(params)
        total, count = 0.0, 0
        for batch in objective.batches(self.rng):
            loss, grads = objective.loss_and_grads(params, batch)
            if objective.divergence_guard and self._diverged(
                loss, objective, batch, accepted
            ):
                # The last step blew the cost up: undo it and slow down.
                _assign(params, accepted)
                self.optimizer.scale_learning_rate(LEARNING_RATE_SHRINK)
                if self.verbose >= 2:
                    print(
                        f"  rejected a step (batch loss {loss:.3g}); learning rate "
                        f"now {self.optimizer.learning_rate:.3g}"
                    )
                continue
            _assign(accepted, params)
            self._running_loss = (
                loss
                if self._running_loss is None
                else 0.9 * self._running_loss + 0.1 * loss
            )
            n_batch = _batch_size(batch)
            total += loss * n_batch
            count += n_batch
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                # Non-finite parameters from an overflow are rejected like any
                # diverged step (next batch, or the check below).
                grads = grads.compute() if isinstance(grads, _Deferred) else grads
                self.optimizer.update_params(params, grads)
                objective.project(params)
            if result is not None:
                result.n_samples_seen += n_batch
        # A step taken after the last evaluated batch is checked here.
        if not _finite(params):
            _assign(params, accepted)
            self.optimizer.scale_learning_rate(LEARNING_RATE_SHRINK)
        return total / count if count else np.nan

    def incremental_epoch(self, objective, params, result):
        """One unshuffled pass for ``partial_fit``, undone as a whole if it more
        than doubled the loss of its first batch.

        No held-out loss selects parameters here, so the first batch is
        measured before the pass and after it.
        """
        start = _copy(params)
        first = next(iter(objective.batches(self.rng)))
        before = objective.loss(params, first)
        result.loss_curve.append(self.epoch(objective, params, result))
        result.n_iter += 1
        after = objective.loss(params, first)
        if not after <= DIVERGENCE_FACTOR * before:
            _assign(params, start)
            self.optimizer.scale_learning_rate(LEARNING_RATE_SHRINK)
        result.best_loss = min(result.best_loss, result.loss_curve[-1])
        return result

    def _diverged(self, loss, objective, batch, accepted):
        """Whether the last step blew the cost up.

        Batches differ in cost, so a batch well above the running average is
        only suspicious: it is then evaluated again at the last accepted
        parameters, and the step is rejected if it more than doubled the cost
        of this very batch.
        """
        if not np.isfinite(loss):
            return True
        average = self._running_loss
        if average is None or loss <= DIVERGENCE_FACTOR * average:
            return False
        return loss > DIVERGENCE_FACTOR * objective.loss(accepted, batch)


# A run racing another start is given up when the gain of its best loss over
# the last RACE_PACE_EPOCHS epochs, kept up for twice the epochs it has run
# (at most the epochs left), would not take it below the target.
RACE_PACE_EPOCHS = 5


def _cannot_reach(monitored, target_loss, epochs_left):
    """Whether a run whose monitored losses (before training, then after
    each epoch) are `monitored` will not get below `target_loss` soon at its
    recent pace.

    On the monitored losses of the classical start recorded to the end
    against a network trained from learned steps (doc/benchmarks/learned.rst),
    no digits run was given up; on the Gaussian problem runs that would not
    win at 8 and 16 layers were given up after 5-14 epochs.
    """
    # (fmin: a NaN epoch would otherwise hide every later one.)
    best = np.fmin.accumulate(np.asarray(monitored, dtype=np.float64))
    if best[-1] < target_loss or len(best) <= RACE_PACE_EPOCHS:
        return False
    pace = (best[-1 - RACE_PACE_EPOCHS] - best[-1]) / RACE_PACE_EPOCHS
    horizon = min(epochs_left, 2 * (len(best) - 1))
    return best[-1] - target_loss > pace * horizon


def _batch_size(batch):
    first = batch[0] if isinstance(batch, tuple) else batch
    return getattr(first, "shape", (1,))[0]


def train_stagewise(
    loop,
    network,
    make_objective,
    params,
    n_layers,
    result=None,
    guard=None,
    reference_loss=None,
    grow=None,
):
    """Grow a network layer by layer: train depths ``1, 2, ..., n_layers``.

    Depth ``k + 1`` starts from the trained depth ``k`` with its new layer at
    its untrained value (``network.resize``), as ALISTA's and LISTA-CPSS's
    stage-wise training and adopty's layer-wise training do, or from the
    best of the starts `grow` proposes. The optimizer
    and the schedule start afresh at every stage.

    Parameters
    ----------
    loop : TrainingLoop
    network : UnrolledNetwork
    make_objective : callable
        ``make_objective() -> objective`` (a new one per stage).
    params : dict of str -> ndarray
        Starting parameters of any depth: training resumes at their depth
        (depth 1 for untrained ones; all their layers are kept).
    n_layers : int
        Final depth.
    result : TrainingResult, optional
        Accumulates the curves of all stages.
    guard : HeldOutGuard, optional
        A stage whose result the guard rejects (worse on held-out signals
        than its start, or its gain there never shown) is undone
        (:meth:`TrainingLoop.run`).
    reference_loss : float, optional
        For the first stage, as in :meth:`TrainingLoop.run`.
    grow : callable, optional
        ``grow(params, depth) -> list`` of starting parameters for a stage
        (e.g. ``network.grown_starts``); the one with the lowest monitored
        loss is trained. Default: ``[network.resize(params, depth)]``.

    Returns
    -------
    params : dict of str -> ndarray
        The trained `n_layers`-layer parameters.
    result : TrainingResult
        ``converged`` is True only if every stage met a stopping rule.
    """
    result = TrainingResult() if result is None else result
    converged = True
    learning_rate = loop.optimizer.learning_rate_init
    # Layers already trained (a warm start) are kept: growth resumes after them.
    first = max(1, min(network.n_layers(params), n_layers))
    for depth in range(first, n_layers + 1):
        objective = make_objective()
        # With several starts (`grow`), the one with the lowest monitored loss.
        starts = grow(params, depth) if grow else [network.resize(params, depth)]
        params = min(starts, key=objective.monitor) if len(starts) > 1 else starts[0]
        loop.optimizer.learning_rate = learning_rate
        loop.optimizer.reset()
        stage = loop.run(
            objective,
            params,
            TrainingResult(),
            guard=guard,
            reference_loss=reference_loss if depth == first else None,
        )
        converged &= stage.converged
        result.loss_curve += stage.loss_curve
        result.monitored += stage.monitored
        result.n_iter += stage.n_iter
        result.n_samples_seen += stage.n_samples_seen
        result.best_loss = stage.best_loss
        result.n_guarded += stage.n_guarded
    result.converged = converged
    return params, result
