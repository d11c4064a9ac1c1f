"""Task-driven coders: an unrolled coder and a linear head trained jointly.

The estimators validate the data and the labels or targets, build the coder
from :data:`~sklearn_lista.networks.ARCHITECTURES` (wrapped in
:class:`~sklearn_lista.networks.JointDictionary` when the dictionary is
trained through it), hand :class:`~sklearn_lista._task.TaskObjective` to the
one training loop, then refit the head alone on the frozen codes
(:func:`~sklearn_lista._task.fit_head`). The codes stay available through
:meth:`transform`, like any coder's.
"""

import time
import warnings
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
)

from .._lasso import lipschitz_constant
from .._task import HEAD_PARAMETERS, TaskObjective, fit_head
from .._training import split_monitor
from .._validation import (
    FLOAT_DTYPES,
    check_scale,
    check_training_scale,
    restore_on_error,
    user_stacklevel,
    validate_signals,
)
from ..losses import TASK_LOSSES
from ..networks import ARCHITECTURES, JointDictionary, UnrolledNetwork
from ..optim import Euclidean
from ._base import BaseCoder
from .learned import BaseLearnedCoder

# Iterations of L-BFGS for the head on frozen codes (post-training and the
# initial head): the problem is small (n_components x n_outputs) and convex.
HEAD_MAX_ITER = 500


# One class for both tasks: the classifier and the regressor differ only by
# their task loss, targets and head refit (the subclasses); the objective is
# _task.TaskObjective and the loop the shared TrainingLoop.
class BaseTaskDriven(BaseLearnedCoder):
    """Base of :class:`LISTAClassifier` and :class:`LISTARegressor`.

    Subclasses set ``_task_loss`` (a key of
    :data:`~sklearn_lista.losses.TASK_LOSSES`) and implement
    ``_encode_targets(y, first_call, classes)``.
    """

    _task_loss = None

    _parameter_constraints: dict = {
        **{
            name: constraint
            for name, constraint in BaseLearnedCoder._parameter_constraints.items()
            if name not in ("loss", "fit_algorithm")
        },
        # Checked against the registry at fit time: architectures registered
        # after import are accepted too.
        "architecture": [str],
        "lasso_weight": [Interval(Real, 0, None, closed="left")],
        "fit_dictionary": ["boolean"],
        "post_train": ["boolean"],
        "head_l2": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=0.5,
        n_layers=3,
        architecture="lista_cp",
        lasso_weight=1.0,
        fit_dictionary=True,
        post_train=True,
        head_l2=1e-4,
        positive_code=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=3e-3,
        batch_size=64,
        max_iter=150,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        BaseCoder.__init__(
            self,
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            positive_code=positive_code,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.architecture = architecture
        self.lasso_weight = lasso_weight
        self.fit_dictionary = fit_dictionary
        self.post_train = post_train
        self.head_l2 = head_l2
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

    # ------------------------------------------------------------ network
    def _architecture_name(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture={self.architecture!r} is not registered; choose one "
                f"of {sorted(ARCHITECTURES)}."
            )
        return self.architecture

    def _training_network(self):
        """The network the loop trains: the coder, with its dictionary as a
        parameter when `fit_dictionary`."""
        network = self._build_network()
        if not self.fit_dictionary:
            return network
        if (
            network.reads_dictionary
            and type(network).backward_dictionary is UnrolledNetwork.backward_dictionary
        ):
            raise ValueError(
                f"architecture={self.architecture!r} gives no gradient in its "
                "dictionary (backward_dictionary); use fit_dictionary=False."
            )
        return JointDictionary(
            network.problem, type(network), **self._network_options()
        )

    def _head(self):
        return {name: getattr(self, name + "_") for name in HEAD_PARAMETERS}

    # ---------------------------------------------------------------- fit
    def _fit_dictionary(self, X):
        super()._fit_dictionary(X)
        if self.fit_dictionary:
            # The jointly trained atoms live on the unit sphere.
            norms = np.linalg.norm(self.components_, axis=1, keepdims=True)
            self.components_ = np.ascontiguousarray(self.components_ / norms)
            self.lipschitz_ = lipschitz_constant(self.components_)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the coder and the head jointly, then post-train the head.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training signals.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or targets (regressor).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the task loss and in the Lasso cost.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with restore_on_error(self):
            X, y = self._validate_xy(X, y, reset=True)
            sample_weight = self._sample_weights(sample_weight, X, y)
            targets = self._encode_targets(y, first_call=True, classes=None)
            self._fit_dictionary(X)
            X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
            self._initialize_task(X, targets, sample_weight)
            self._train(X, targets, sample_weight)
            if self.post_train:
                self._post_train(X, targets, sample_weight)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass of joint mini-batch updates over `X` (no post-training).

        The first call sets the dictionary and initialises the coder at its
        untrained values and the head at the optimum on the untrained codes;
        later calls continue training. A pass that more than doubles the
        objective of its first mini-batch is undone and the learning rate
        halved; a call that raises leaves the model as it was.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training signals.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or targets (regressor).
        classes : array-like of shape (n_classes,), default=None
            Classifier only: every class of the problem, required at the
            first call (later batches may miss some).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        self : object
            The updated estimator.
        """
        self._validate_params()
        with restore_on_error(self):
            first_call = not self._is_trained()
            X, y = self._validate_xy(X, y, reset=first_call)
            sample_weight = self._sample_weights(sample_weight, X, y)
            targets = self._encode_targets(y, first_call=first_call, classes=classes)
            X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
            if first_call:
                self._fit_dictionary(X)
                self._initialize_task(X, targets, sample_weight)
            self._train(X, targets, sample_weight, incremental=True)
        return self

    def _validate_xy(self, X, y, reset):
        regression = self._task_loss == "squared_error"
        X, y = validate_signals(
            self,
            X,
            y,
            reset=reset,
            accept_sparse="csr",
            dtype=FLOAT_DTYPES,
            multi_output=regression,
            y_numeric=regression,
        )
        return X, y

    def _sample_weights(self, sample_weight, X, y):
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if np.any(weights < 0):
            raise ValueError("sample_weight must be non-negative.")
        if not weights.sum() > 0:
            raise ValueError("sample_weight must have a positive sum.")
        return weights

    def _initialize_task(self, X, targets, sample_weight):
        """Coder parameters (fresh or warm-started), head, training loop."""
        network = self._training_network()
        warm = self._warm_startable_task(network)
        if warm:
            params = network.cast(self._get_params(), X.dtype)
            if network.n_layers(params) != self.n_layers:
                params = network.resize(params, self.n_layers)
            head = {name: value.astype(X.dtype) for name, value in self._head().items()}
        else:
            params = {
                name: np.array(p, dtype=X.dtype)
                for name, p in network.init_params(self.n_layers).items()
            }
            head = self._initial_head(network, params, X, targets, sample_weight)
        self._training_network_ = network
        self.network_ = network.base if self.fit_dictionary else network
        self._set_params({**params, **head})
        manifolds = {**network.manifolds}
        manifolds.update({name: Euclidean() for name in HEAD_PARAMETERS})
        self._loop = self._make_loop(manifolds)
        if not warm or not hasattr(self, "loss_curve_"):
            self.loss_curve_ = []
            self.validation_scores_ = None
            self.best_loss_ = np.inf
            self.n_iter_ = 0
            self.t_ = 0
        if self.early_stopping and self.validation_scores_ is None:
            self.validation_scores_ = []

    def _warm_startable_task(self, network):
        if not (self.warm_start and hasattr(self, "_training_network_")):
            return False
        if set(self._training_network_.parameters) != set(network.parameters):
            return False
        head = self._head()["head_coef"]
        return getattr(self, "_same_outputs", False) and head.shape == (
            self.components_.shape[0],
            self._n_outputs(),
        )

    def _get_params(self):
        names = getattr(self, "_training_network_", self.network_).parameters
        return {name: getattr(self, name + "_") for name in names}

    def _initial_head(self, network, params, X, targets, sample_weight):
        """The optimal head on the untrained codes: training starts from a
        fitted linear model on (unsupervised) sparse codes."""
        codes, _ = network.forward(X, params, keep_cache=False)
        n_outputs = self._n_outputs()
        coef = np.zeros((codes.shape[1], n_outputs), dtype=X.dtype)
        intercept = np.zeros(n_outputs, dtype=X.dtype)
        coef, intercept, _ = fit_head(
            codes,
            targets,
            sample_weight,
            TASK_LOSSES[self._task_loss](),
            self.head_l2,
            coef,
            intercept,
            HEAD_MAX_ITER,
        )
        return {"head_coef": coef, "head_intercept": intercept}

    def _objective(self, X, targets, sample_weight, monitor, shuffle):
        return TaskObjective(
            self._training_network_,
            TASK_LOSSES[self._task_loss](),
            self.lasso_weight,
            self.head_l2,
            X,
            targets,
            sample_weight,
            monitor,
            self.batch_size,
            shuffle,
        )

    def _train(self, X, targets, sample_weight, incremental=False):
        network = self._training_network_
        params = {**self._get_params(), **self._head()}
        if incremental:
            depth = network.n_layers(params)
            if depth != self.n_layers:
                raise ValueError(
                    f"n_layers={self.n_layers} but the network being trained has "
                    f"{depth} layers; partial_fit cannot change the depth: use "
                    "fit with warm_start=True."
                )
        dtype = params["head_coef"].dtype
        X = X.astype(dtype, copy=False)
        if targets.dtype.kind == "f":
            targets = targets.astype(dtype, copy=False)
        check_training_scale(X, self.components_.shape[0])
        result = self._result()
        if incremental:
            objective = self._objective(
                X, targets, sample_weight, (X, targets, sample_weight), shuffle=False
            )
            self._loop.incremental_epoch(objective, params, result)
            self._store_task(params, result)
            return
        rows = np.arange(X.shape[0])
        train_rows, _, monitor_rows, _, _ = split_monitor(
            rows[:, None],
            None,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            random_state=self.random_state,
        )
        train_rows, monitor_rows = train_rows[:, 0], monitor_rows[:, 0]

        def subset(selection):
            return X[selection], targets[selection], sample_weight[selection]

        objective = self._objective(
            *subset(train_rows), subset(monitor_rows), self.shuffle
        )
        start = time.perf_counter()
        n_monitored = len(result.monitored)
        self._loop.run(objective, params, result)
        if self.early_stopping:
            self.validation_scores_ += [-m for m in result.monitored[n_monitored:]]
        self._store_task(params, result)
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

    def _store_task(self, params, result):
        if not all(np.isfinite(p).all() for p in params.values()):  # pragma: no cover
            raise ValueError(
                "training produced non-finite weights; lower learning_rate_init."
            )
        self._set_params(params)
        self.loss_curve_ = result.loss_curve
        self.best_loss_ = result.best_loss
        self.n_iter_ = result.n_iter
        self.t_ = result.n_samples_seen
        if self.fit_dictionary:
            # The coder of `transform` is the architecture on the trained atoms.
            dictionary = params["dictionary"]
            self.components_ = np.array(dictionary)
            self.network_ = self._training_network_.network_on(
                self.components_, exact=True
            )
            self.lipschitz_ = self.network_.problem.lipschitz

    def _post_train(self, X, targets, sample_weight):
        """Refit the head to its optimum on the frozen codes (convex)."""
        codes = self._codes(X)
        head = self._head()
        coef, intercept, converged = fit_head(
            codes,
            targets,
            sample_weight,
            TASK_LOSSES[self._task_loss](),
            self.head_l2,
            head["head_coef"],
            head["head_intercept"],
            HEAD_MAX_ITER,
        )
        self._set_params({"head_coef": coef, "head_intercept": intercept})

    def _codes(self, X):
        params = self.network_.cast(
            {name: getattr(self, name + "_") for name in self.network_.parameters},
            X.dtype,
        )
        return self.network_.forward(X, params, keep_cache=False)[0]

    # ---------------------------------------------------------- transform
    def _encode(self, X, dictionary):
        return self._codes(X), 0

    def _decision_scores(self, X):
        check_is_fitted(self, "network_")
        codes = self.transform(X)
        head = self._head()
        return codes @ head["head_coef"].astype(codes.dtype) + head[
            "head_intercept"
        ].astype(codes.dtype)

    @property
    def coef_(self):
        """Head coefficients, shape ``(n_outputs, n_components)``."""
        return self.head_coef_.T

    @property
    def intercept_(self):
        """Head intercepts, shape ``(n_outputs,)``."""
        return self.head_intercept_

    def __sklearn_tags__(self):
        tags = BaseCoder.__sklearn_tags__(self)
        tags.target_tags.required = True
        return tags


_TASK_PARAMETERS = """
    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        Atoms as rows. If None, :meth:`fit` learns one without labels
        (:class:`~sklearn.decomposition.MiniBatchDictionaryLearning`), as the
        other coders do; with `fit_dictionary` it is then trained further.

    n_components : int, default=None
        Number of atoms to learn when `dictionary` is None.

    alpha : float, default=0.5
        Weight of the l1 penalty of the Lasso cost (and ISTA's threshold
        ``alpha / L`` the coder starts from). It sets the sparsity of the
        codes, relative to the scale of the signals (0.5 suits signals of
        norm about 5, such as the digits' pixels in [0, 1]).

    n_layers : int, default=3
        Layers of the unrolled coder.

    architecture : str, default="lista_cp"
        The coder: a key of :data:`sklearn_lista.networks.ARCHITECTURES`,
        ``"lista_cp"`` (LISTA-CP, :class:`LISTACoder`'s
        ``parametrization="coupled"``, whose layers read the dictionary),
        ``"lista"`` (untied LISTA), ``"tied_lista"``,
        ``"lfista"``, ``"step_ista"``, ``"step_fista"``
        (:class:`StepLISTACoder`), ``"alista"`` (:class:`ALISTACoder`) or
        ``"facnet"`` (:class:`FacNetCoder`), with their default options.

    lasso_weight : float, default=1.0
        Weight of the mean Lasso cost of the codes,
        ``0.5 * ||x - z D||^2 + alpha * ||z||_1``, added to the task loss: it
        keeps the codes sparse and faithful to the signals. 0 trains on the
        task loss alone.

    fit_dictionary : bool, default=True
        Train the dictionary jointly, its atoms kept unit-norm (a given
        dictionary's atoms are normalised first). It receives the gradient
        of the Lasso cost and, for architectures whose weights are derived
        from it (``"lista_cp"``, ``"step_ista"``, ``"step_fista"``,
        ``"alista"``, ``"facnet"``), the gradient through the network
        (:class:`sklearn_lista.networks.JointDictionary`). False keeps it
        fixed.

    post_train : bool, default=True
        After joint training, refit the head alone to its optimum on the
        frozen codes (a convex problem, solved by L-BFGS), as in Moreau &
        Audiffren (2016).

    head_l2 : float, default=1e-4
        Weight of ``0.5 * ||W||^2`` on the head's coefficients (not the
        intercepts), in joint training and post-training.

    positive_code : bool, default=False
        Non-negative codes (one-sided thresholds).

    solver : {"adam", "adagrad", "sgd"}, default="adam"
        Stochastic optimizer of the joint training.

    learning_rate : {"adaptive", "constant"}, default="adaptive"
        With ``"adaptive"``, every 2 epochs without improvement of the
        monitored objective the best parameters are restored and the
        learning rate halved.

    learning_rate_init : float, default=3e-3
        Initial step size (halved by the divergence guard on a rejected step).

    batch_size : int, default=64
        Mini-batch size.

    max_iter : int, default=150
        Maximum number of epochs.

    tol : float, default=1e-4
        An epoch counts as an improvement when it lowers the best monitored
        objective by more than `tol` times the decrease achieved since
        training started.

    n_iter_no_change : int, default=10
        Stop after this many epochs without improvement.

    early_stopping : bool, default=False
        Hold out `validation_fraction` of the samples and monitor their
        objective; otherwise the objective of (up to 2048 of) the training
        samples is monitored. The best monitored parameters are kept.

    validation_fraction : float, default=0.1
        Fraction of the samples held out when `early_stopping`.

    shuffle : bool, default=True
        Reshuffle the samples at each epoch.

    warm_start : bool, default=False
        Continue from the previous fit (same outputs and atoms); a changed
        `n_layers` keeps the first layers.

    n_jobs : int, default=None
        Threads used by :meth:`transform`.

    random_state : int, RandomState instance or None, default=None
        Seeds the dictionary learning, the split and the shuffling.

    verbose : int, default=0
        1 prints one line per epoch and a summary; 2 also rejected steps.
"""

_TASK_ATTRIBUTES = """
    components_ : ndarray of shape (n_components, n_features)
        The dictionary (trained, if `fit_dictionary`).

    network_ : UnrolledNetwork
        The coder's architecture on `components_`; its trained parameters
        are attributes named after them (``weights_x_``, ``thresholds_``...).

    coef_ : ndarray of shape (n_outputs, n_components)
        The head's coefficients (``head_coef_`` transposed).

    intercept_ : ndarray of shape (n_outputs,)
        The head's intercepts.

    n_components_ : int
        Number of atoms.

    lipschitz_ : float
        ``||components_||_2 ** 2``.

    loss_curve_ : list of float
        Mean mini-batch objective of each epoch.

    validation_scores_ : list of float or None
        Minus the validation objective after each epoch (first entry: before
        training) when `early_stopping`, else None.

    best_loss_ : float
        Lowest monitored objective.

    n_iter_ : int
        Number of epochs run.

    t_ : int
        Number of training samples seen.

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit` (string names only).
"""

_TASK_REFERENCES = """
    References
    ----------
    .. [1] J. Mairal, F. Bach and J. Ponce, "Task-driven dictionary
       learning", IEEE TPAMI 34(4), 2012.
    .. [2] T. Moreau and J. Audiffren, "Post training in deep learning with
       last kernel", arXiv:1611.04499, 2016.
    .. [3] K. Gregor and Y. LeCun, "Learning fast approximations of sparse
       coding", ICML 2010.
"""


class LISTAClassifier(ClassifierMixin, BaseTaskDriven):
    __doc__ = (
        """Sparse codes trained for classification: unrolled coder + softmax head.

    An unrolled coder (LISTA-CP by default, any architecture of the registry)
    maps each signal to its sparse code ``z``, and a linear head gives class
    scores ``z W + b``. Both are trained jointly, by backpropagation through
    the network, on the multinomial logistic loss plus `lasso_weight` times
    the Lasso cost of the codes (task-driven sparse coding, Mairal et al.
    2012), the dictionary too when `fit_dictionary`. The coder starts at ISTA
    and the head at the logistic regression of the untrained codes; after
    training the head is refitted to its optimum on the frozen codes
    (`post_train`). :meth:`transform` gives the codes.
"""
        + _TASK_PARAMETERS
        + """
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying `sample_weight` (``"balanced"``:
        inversely proportional to the class frequencies of `y`).
"""
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
"""
        + _TASK_ATTRIBUTES
        + """
    See Also
    --------
    LISTARegressor : The same coder with a least-squares head.
    LISTACoder : The coder trained on the Lasso cost alone.
"""
        + _TASK_REFERENCES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_lista import LISTAClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> atoms = X[:30] / np.linalg.norm(X[:30], axis=1, keepdims=True)
    >>> clf = LISTAClassifier(
    ...     atoms, max_iter=20, tol=0.05, n_iter_no_change=2, random_state=0
    ... )
    >>> clf.fit(X[:300], y[:300]).predict(X[300:305]).shape
    (5,)
    >>> clf.transform(X[:2]).shape
    (2, 30)
    """
    )

    _task_loss = "log_loss"

    _parameter_constraints: dict = {
        **BaseTaskDriven._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=0.5,
        n_layers=3,
        architecture="lista_cp",
        lasso_weight=1.0,
        fit_dictionary=True,
        post_train=True,
        head_l2=1e-4,
        positive_code=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=3e-3,
        batch_size=64,
        max_iter=150,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        class_weight=None,
    ):
        super().__init__(
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            architecture=architecture,
            lasso_weight=lasso_weight,
            fit_dictionary=fit_dictionary,
            post_train=post_train,
            head_l2=head_l2,
            positive_code=positive_code,
            solver=solver,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            shuffle=shuffle,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.class_weight = class_weight

    def _n_outputs(self):
        return len(self.classes_)

    def _encode_targets(self, y, first_call, classes):
        check_classification_targets(y)
        if first_call:
            if classes is None:
                labels = np.unique(y)
            else:
                labels = np.unique(np.asarray(classes))
                unknown = np.setdiff1d(np.unique(y), labels)
                if unknown.size:
                    raise ValueError(
                        f"y contains labels {unknown[:10].tolist()} that are not "
                        f"in classes={labels.tolist()}."
                    )
            if labels.size < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes; "
                    f"got 1 class ({labels[0]!r})."
                )
            # A warm start needs the same classes (the head's columns).
            self._same_outputs = hasattr(self, "classes_") and np.array_equal(
                labels, self.classes_
            )
            self.classes_ = labels
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} differs from the classes "
                f"of the first partial_fit call, {self.classes_.tolist()}."
            )
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown[:10].tolist()} not seen at the first "
                f"call (classes_={self.classes_.tolist()}); pass every class in "
                "`classes` at the first partial_fit call."
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _sample_weights(self, sample_weight, X, y):
        weights = super()._sample_weights(sample_weight, X, y)
        if self.class_weight is not None:
            weights = weights * compute_sample_weight(self.class_weight, y)
            if not weights.sum() > 0:
                raise ValueError("class_weight gives every sample zero weight.")
        return weights

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        if not self._is_trained() and classes is None:
            raise ValueError(
                "classes must be passed at the first call to partial_fit: a "
                "batch may not hold every class."
            )
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    partial_fit.__doc__ = BaseTaskDriven.partial_fit.__doc__

    def decision_function(self, X):
        """Class scores ``z W + b`` of the codes of `X`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
            With two classes, the score of the second minus the first's (as
            scikit-learn's binary classifiers).
        """
        scores = self._decision_scores(X)
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict_proba(self, X):
        """Class probabilities (softmax of the scores).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        scores = self._decision_scores(X).astype(np.float64)
        scores -= scores.max(axis=1, keepdims=True)
        proba = np.exp(scores)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        scores = self._decision_scores(X).astype(np.float64)
        scores -= scores.max(axis=1, keepdims=True)
        return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Class labels of `X`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        scores = self._decision_scores(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


class LISTARegressor(RegressorMixin, BaseTaskDriven):
    __doc__ = (
        """Sparse codes trained for regression: unrolled coder + linear head.

    As :class:`LISTAClassifier`, with the squared error
    ``0.5 * ||z W + b - y||^2`` as the task loss: the coder (and the
    dictionary, when `fit_dictionary`) and the head are trained jointly on it
    plus `lasso_weight` times the Lasso cost of the codes, then the head is
    refitted to its optimum on the frozen codes (`post_train`: ridge
    regression on the codes).
"""
        + _TASK_PARAMETERS
        + """
    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
"""
        + _TASK_ATTRIBUTES
        + """
    See Also
    --------
    LISTAClassifier : The same coder with a softmax head.
    LISTACoder : The coder trained on the Lasso cost alone.
"""
        + _TASK_REFERENCES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lista import LISTARegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((200, 10))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = LISTARegressor(
    ...     n_components=20, max_iter=20, tol=0.05, n_iter_no_change=2, random_state=0
    ... )
    >>> reg.fit(X, y).predict(X[:3]).shape
    (3,)
    """
    )

    _task_loss = "squared_error"

    def _n_outputs(self):
        return self.n_outputs_

    def _encode_targets(self, y, first_call, classes):
        if classes is not None:
            raise ValueError("classes is for classifiers; LISTARegressor takes none.")
        y = np.asarray(y, dtype=np.float64)
        check_scale(y.reshape(y.shape[0], -1), "y")
        targets = y.reshape(y.shape[0], -1)
        if first_call:
            self._same_outputs = getattr(self, "n_outputs_", None) == targets.shape[1]
            self._single_output = y.ndim == 1
            self.n_outputs_ = targets.shape[1]
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {targets.shape[1]} outputs but the model was fitted with "
                f"{self.n_outputs_}."
            )
        return np.ascontiguousarray(targets)

    def predict(self, X):
        """Predicted targets ``z W + b`` of `X`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        scores = self._decision_scores(X)
        return scores[:, 0] if self._single_output else scores

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        return tags
