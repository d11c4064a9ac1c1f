"""Learned coders: the shared training loop, LISTACoder and LFISTACoder."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import FLOAT_DTYPES, BaseCoder, restore_on_error, user_stacklevel
from ._networks import ARCHITECTURES, lasso_loss_and_grad, resize_params
from ._optim import make_optimizer

# A mini-batch whose cost exceeds this factor times the previous one is taken
# as a sign of divergence: the step is undone and the learning rate shrunk.
DIVERGENCE_FACTOR = 2.0
LEARNING_RATE_SHRINK = 0.5
# Without a validation split, the end-of-epoch loss that selects the best
# parameters is measured on a fixed subset of the training signals.
MONITOR_SIZE = 2048
# learning_rate="adaptive": after this many epochs without improvement the best
# parameters are restored and the learning rate is multiplied by PLATEAU_SHRINK.
PLATEAU_PATIENCE = 2
PLATEAU_SHRINK = 0.5


def check_training_scale(X, n_components):
    """Raise if the optimizers' squared gradients would overflow.

    The gradients of the cost grow as ``|X|^2`` and Adam/Adagrad square and
    sum them over up to ``n_features * n_components`` weights, so training
    needs ``|X|^4`` times that to fit in the dtype: beyond it the moments are
    inf and the steps zero or NaN. (Transform only needs ``check_scale``.)
    """
    if X.size == 0:
        return
    largest = float(np.max(np.abs(X)))
    budget = np.finfo(X.dtype).max / (4.0 * X.shape[1] * max(n_components, 1))
    limit = budget**0.25
    if largest > limit:
        raise ValueError(
            f"X has entries as large as {largest:.3g}: training squares the "
            f"gradients of the cost (of order X^2), which overflow {X.dtype} "
            f"beyond {limit:.3g}; rescale X (and alpha) to train on it."
        )


class BaseLearnedCoder(BaseCoder):
    """Unrolled ISTA-type network trained on the unsupervised Lasso cost.

    Subclasses set ``_architecture`` to a key of ``_networks.ARCHITECTURES``.
    """

    _architecture = None

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
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
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
        tol=1e-6,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
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
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.warm_start = warm_start

    # --------------------------------------------------------- parameters
    @property
    def _network(self):
        return ARCHITECTURES[self._architecture]

    @property
    def _param_names(self):
        return ARCHITECTURES[self._architecture].param_names

    def _is_trained(self):
        return hasattr(self, self._param_names[-1] + "_")

    def _get_params_list(self):
        return [getattr(self, name + "_") for name in self._param_names]

    def _set_params_list(self, params):
        for name, value in zip(self._param_names, params, strict=True):
            setattr(self, name + "_", value)

    def _make_optimizer(self):
        return make_optimizer(self.solver, self.learning_rate_init)

    def _warm_startable(self):
        """Whether the stored network fits the current dictionary's shape."""
        if not (self.warm_start and self._is_trained()):
            return False
        reference = self._network.init_params(
            self.components_, self.alpha, 1, self.lipschitz_
        )
        return all(
            old.shape[1:] == fresh.shape[1:]
            for old, fresh in zip(self._get_params_list(), reference, strict=True)
        )

    def _initialize(self, X):
        """Fresh, warm-started or resized parameters, and a new optimizer."""
        warm = self._warm_startable()
        if warm:
            params = self._get_params_list()
            if params[0].shape[0] != self.n_layers:
                params = resize_params(
                    self._network,
                    params,
                    self.components_,
                    self.alpha,
                    self.n_layers,
                    self.lipschitz_,
                )
            params = [p.astype(X.dtype) for p in params]
        else:
            params = self._network.init_params(
                self.components_, self.alpha, self.n_layers, self.lipschitz_
            )
        self._set_params_list(params)
        # As MLPRegressor: a new optimizer at every fit (solver and learning
        # rate may have changed); partial_fit keeps it.
        self._optimizer = self._make_optimizer()
        self._batch_loss_average = None
        if not warm or not hasattr(self, "loss_curve_"):
            self.loss_curve_ = []
            self.validation_scores_ = None
            self.best_loss_ = np.inf
            self.n_iter_ = 0
            self.t_ = 0
        if self.early_stopping and self.validation_scores_ is None:
            self.validation_scores_ = []
        self._rng = check_random_state(self.random_state)

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

    def _fit_coder(self, X):
        self._fit(X, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One pass of mini-batch updates over `X`.

        The first call sets the dictionary and initialises the network at
        ISTA's (FISTA's) values; later calls continue training. Usable by
        out-of-core wrappers such as ``dask_ml.wrappers.Incremental``. A call
        that more than doubles the mean cost of its first mini-batch is undone
        and the learning rate halved; a call that raises leaves the model as
        it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training signals.
        y : Ignored
            Not used, present for API consistency by convention.

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
            X = validate_data(
                self, X, reset=first_call, accept_sparse="csr", dtype=FLOAT_DTYPES
            )
            X = X.toarray() if sp.issparse(X) else X
            if first_call:
                self._fit_dictionary(X)
                self._initialize(X)
            self._fit(X, incremental=True)
        return self

    def _fit(self, X, incremental):
        X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
        if not incremental:
            self._initialize(X)
        params = self._get_params_list()
        if incremental:
            if params[0].shape[0] != self.n_layers:
                raise ValueError(
                    f"n_layers={self.n_layers} but the network being trained has "
                    f"{params[0].shape[0]} layers; partial_fit cannot change the "
                    "depth: use fit with warm_start=True."
                )
            # Keep training in the dtype the network was initialised in.
            X = X.astype(params[0].dtype, copy=False)
        check_training_scale(X, self.components_.shape[0])
        dictionary = self.components_.astype(X.dtype, copy=False)

        if incremental:
            # No monitored loss selects the best parameters here: a call that
            # more than doubles the cost of its first mini-batch (measured
            # before its first step, at no cost, and after the last) is undone
            # as a diverged step is.
            start = [p.copy() for p in params]
            before = self._train_epoch(X, dictionary, params, shuffle=False)
            first_batch = X[: min(self.batch_size, X.shape[0])]
            after, _, _ = self._loss(first_batch, dictionary, params, False)
            if not after <= DIVERGENCE_FACTOR * before:
                for current, saved in zip(params, start, strict=True):
                    current[...] = saved
                self._optimizer.scale_learning_rate(LEARNING_RATE_SHRINK)
            self.n_iter_ += 1
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
            self._check_finite(params)
            return

        X_train, X_monitor = self._split(X)
        best_params = [p.copy() for p in params]
        self.best_loss_ = self._monitor_loss(X_monitor, dictionary, params)
        if not np.isfinite(self.best_loss_):
            raise ValueError(
                f"the Lasso cost of the training signals is not finite in "
                f"{X.dtype} (cost {self.best_loss_}): the signals, the dictionary "
                "or alpha are too large for this dtype; rescale them."
            )
        if self.early_stopping:
            self.validation_scores_.append(-self.best_loss_)
        epochs_without_improvement = 0
        start = time.perf_counter()
        stopped_early = False
        for epoch in range(self.max_iter):
            self._train_epoch(X_train, dictionary, params, shuffle=self.shuffle)
            self.n_iter_ += 1
            monitored = self._monitor_loss(X_monitor, dictionary, params)
            if self.early_stopping:
                self.validation_scores_.append(-monitored)
            if monitored < self.best_loss_ * (1 - self.tol):
                epochs_without_improvement = 0
            else:
                epochs_without_improvement += 1
            if monitored < self.best_loss_:
                self.best_loss_ = monitored
                for best, current in zip(best_params, params, strict=True):
                    best[...] = current
            if self.verbose:
                print(
                    f"[{type(self).__name__}] epoch {epoch + 1}/{self.max_iter}: "
                    f"train loss {self.loss_curve_[-1]:.6g}, "
                    f"{'validation' if self.early_stopping else 'monitor'} loss "
                    f"{monitored:.6g}, lr {self._optimizer.learning_rate:.2g}, "
                    f"{time.perf_counter() - start:.1f} s"
                )
            if epochs_without_improvement >= self.n_iter_no_change:
                stopped_early = True
                break
            if (
                self.learning_rate == "adaptive"
                and epochs_without_improvement
                and epochs_without_improvement % PLATEAU_PATIENCE == 0
            ):
                # Plateau: the step is too large to make progress from here.
                for current, best in zip(params, best_params, strict=True):
                    current[...] = best
                self._optimizer.scale_learning_rate(PLATEAU_SHRINK)
            if self._optimizer.learning_rate < 1e-8 * self.learning_rate_init:
                stopped_early = True
                break
        # The fitted model holds the best parameters seen, never the last ones
        # of a run that degraded.
        for current, best in zip(params, best_params, strict=True):
            current[...] = best
        self._check_finite(params)
        if self.verbose:
            print(
                f"[{type(self).__name__}] {self.n_layers} layers, {self.n_iter_} "
                f"epochs in {time.perf_counter() - start:.1f} s, best "
                f"{'validation' if self.early_stopping else 'monitor'} loss "
                f"{self.best_loss_:.6g}"
            )
        if not stopped_early:
            warnings.warn(
                f"{type(self).__name__}: maximum number of epochs (max_iter="
                f"{self.max_iter}) reached and the loss is still improving.",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )

    def _split(self, X):
        """Training signals and the signals whose loss selects the best epoch."""
        n_samples = X.shape[0]
        rng = check_random_state(self.random_state)
        if self.early_stopping:
            n_validation = int(round(self.validation_fraction * n_samples))
            if n_validation < 1 or n_validation >= n_samples:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves "
                    f"{n_validation} of {n_samples} samples for validation; use "
                    "more samples or early_stopping=False."
                )
            order = rng.permutation(n_samples)
            return X[order[n_validation:]], X[order[:n_validation]]
        if n_samples <= MONITOR_SIZE:
            return X, X
        return X, X[np.sort(rng.choice(n_samples, MONITOR_SIZE, replace=False))]

    def _monitor_loss(self, X, dictionary, params):
        codes, _ = self._network.forward(
            X, params, self.positive_code, keep_cache=False
        )
        loss, _ = lasso_loss_and_grad(X, codes, dictionary, self.alpha)
        return loss

    def _train_epoch(self, X, dictionary, params, shuffle):
        """Mini-batch steps over `X`, with the divergence guard.

        Returns the cost of the first mini-batch at the initial parameters.
        """
        n_samples = X.shape[0]
        order = self._rng.permutation(n_samples) if shuffle else None
        batch_size = min(self.batch_size, n_samples)
        accepted = [p.copy() for p in params]
        total, count, first_loss = 0.0, 0, None
        for batch in gen_batches(n_samples, batch_size):
            X_batch = X[order[batch]] if shuffle else X[batch]
            loss, grad, cache = self._loss(X_batch, dictionary, params, True)
            first_loss = loss if first_loss is None else first_loss
            if self._diverged(loss, X_batch, dictionary, accepted):
                # The last step blew the cost up: undo it and slow down.
                for current, saved in zip(params, accepted, strict=True):
                    current[...] = saved
                self._optimizer.scale_learning_rate(LEARNING_RATE_SHRINK)
                if self.verbose >= 2:
                    print(
                        f"  rejected a step (batch loss {loss:.3g}); learning rate "
                        f"now {self._optimizer.learning_rate:.3g}"
                    )
                continue
            for saved, current in zip(accepted, params, strict=True):
                saved[...] = current
            average = self._batch_loss_average
            self._batch_loss_average = (
                loss if average is None else 0.9 * average + 0.1 * loss
            )
            total += loss * X_batch.shape[0]
            count += X_batch.shape[0]
            with np.errstate(over="ignore", invalid="ignore"):
                # Non-finite weights from an overflow are rejected like any
                # diverged step (next batch, or the check below).
                grads = self._network.backward(params, cache, grad)
                self._optimizer.update_params(params, grads)
                self._project(params)
            self.t_ += X_batch.shape[0]
        # A step taken after the last evaluated batch is checked here.
        if not all(np.isfinite(p).all() for p in params):
            for current, saved in zip(params, accepted, strict=True):
                current[...] = saved
            self._optimizer.scale_learning_rate(LEARNING_RATE_SHRINK)
        self.loss_curve_.append(total / count if count else np.nan)
        return first_loss

    def _loss(self, X, dictionary, params, keep_cache):
        """Forward pass and mean Lasso cost of a batch, with its gradient.

        A step that went too far can overflow anywhere in the network (e.g.
        ``exp(-log S)`` in FacNet): the non-finite loss is what the divergence
        guard acts on, so the overflow itself is not warned about.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            codes, cache = self._network.forward(
                X, params, self.positive_code, keep_cache=keep_cache
            )
            loss, grad = lasso_loss_and_grad(X, codes, dictionary, self.alpha)
        return loss, grad, cache

    def _diverged(self, loss, X_batch, dictionary, accepted):
        """Whether the last step blew the cost up.

        Batches differ in cost, so a batch well above the running average is
        only suspicious: it is then evaluated again at the last accepted
        parameters, and the step is rejected if it more than doubled the cost
        of this very batch.
        """
        if not np.isfinite(loss):
            return True
        average = self._batch_loss_average
        if average is None or loss <= DIVERGENCE_FACTOR * average:
            return False
        codes, _ = self._network.forward(
            X_batch, accepted, self.positive_code, keep_cache=False
        )
        reference, _ = lasso_loss_and_grad(X_batch, codes, dictionary, self.alpha)
        return loss > DIVERGENCE_FACTOR * reference

    def _project(self, params):
        # Thresholds stay non-negative so that st(., theta) is a shrinkage.
        np.maximum(params[-1], 0, out=params[-1])

    def _check_finite(self, params):
        if not all(np.isfinite(p).all() for p in params):  # pragma: no cover
            raise ValueError(
                "training produced non-finite weights; lower learning_rate_init."
            )

    # ---------------------------------------------------------- transform
    def _encode(self, X, dictionary):
        params = [p.astype(X.dtype, copy=False) for p in self._get_params_list()]
        codes, _ = self._network.forward(
            X, params, self.positive_code, keep_cache=False
        )
        return codes, 0

    def _transform(self, X):
        check_is_fitted(self, self._param_names[-1] + "_")
        depth = self._get_params_list()[-1].shape[0]
        if self.n_layers != depth:
            # The depth is the network's structure, not an iteration count:
            # silently running the old network would ignore the new value.
            raise ValueError(
                f"n_layers={self.n_layers} but the fitted network has {depth} "
                f"layers; fit again to change the depth (warm_start=True keeps "
                f"the trained layers) or set n_layers={depth}."
            )
        return super()._transform(X)


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

    tol : float, default=1e-6
        Relative improvement of the monitored loss below which an epoch counts
        as no improvement.

    n_iter_no_change : int, default=10
        Stop after this many epochs without improvement.

    early_stopping : bool, default=False
        Hold out `validation_fraction` of the signals and monitor their cost;
        otherwise the cost of (up to 2048 of) the training signals is
        monitored. Either way the parameters of the best monitored epoch are
        restored at the end.

    validation_fraction : float, default=0.1
        Fraction of the signals held out when `early_stopping`.

    shuffle : bool, default=True
        Reshuffle the signals at each epoch.

    warm_start : bool, default=False
        Continue from the previous fit. If `n_layers` changed, the first
        layers are kept and the new ones start at their ISTA/FISTA values
        (train a depth sweep by increasing `n_layers`).

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

    n_components_ : int
        Number of atoms.

    lipschitz_ : float
        ``||components_||_2 ** 2``.

    loss_curve_ : list of float
        Mean mini-batch training cost of each epoch.

    validation_scores_ : list of float or None
        Minus the validation cost after each epoch (first entry: before
        training) when `early_stopping`, else None.

    best_loss_ : float
        Lowest monitored cost (validation cost when `early_stopping`).

    n_iter_ : int
        Number of epochs run.

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
    from ``z_0 = 0`` with untied weights and per-coordinate thresholds. The
    weights start at ISTA's values (``W_x = D^T / L``, ``W_z = I - B / L``,
    ``theta = alpha / L``), so an untrained network computes `n_layers` ISTA
    iterations, and are trained by mini-batch backpropagation on the mean
    Lasso cost of the last layer's output (no target codes needed).
"""
        + _LEARNED_PARAMETERS
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

    Examples
    --------
    >>> from sklearn_lista import LISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=300, random_state=0)
    >>> alpha = 0.1 * alpha_max(X, D)
    >>> coder = LISTACoder(D, alpha=alpha, n_layers=4, max_iter=5, random_state=0)
    >>> codes = coder.fit_transform(X)
    >>> codes.shape
    (300, 100)
    """
    )

    _architecture = "lista"


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
    >>> coder = LFISTACoder(D, alpha=alpha, n_layers=4, max_iter=5, random_state=0)
    >>> codes = coder.fit_transform(X)
    >>> codes.shape
    (300, 100)
    """
    )

    _architecture = "lfista"
