"""FacNetCoder: layers factorising the Gram matrix as ``A^T S A``."""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._factorization import _REPORT_FIELDS, factorization_report, fit_factorization
from .._training import TrainingLoop
from .._validation import FLOAT_DTYPES, user_stacklevel
from ..networks.facnet import PSD_MARGIN, raise_to_psd
from ..optim import ConstantSchedule, PlateauSchedule, make_optimizer
from ._base import one_blas_thread
from .learned import (
    _LEARNED_ATTRIBUTES,
    _LEARNED_PARAMETERS,
    PLATEAU_SHRINK,
    BaseLearnedCoder,
)

# The factorization solver stops a layer once plateaus have shrunk its
# learning rate below this fraction of learning_rate_init.
MIN_LEARNING_RATE = 1e-3


class FacNetCoder(BaseLearnedCoder):
    __doc__ = (
        """FacNet (Moreau & Bruna, 2017): layers that factorise ``B ≈ A^T S A``.

    Layer ``q`` computes, in the column form of the paper,
    ``z_{q+1} = A_q^T st_{alpha / S_q}(A_q z_q - S_q^{-1} A_q (B z_q - D x))``
    with ``A_q`` orthogonal and ``S_q`` diagonal positive: a proximal gradient
    step in the geometry rotated by ``A_q`` and rescaled by ``S_q``. It is the
    exact minimiser of ``F(z) + 1/2 (z - z_q)^T R_q (z - z_q) + delta_A(z)``
    with ``R_q = A_q^T S_q A_q - B``. With ``A = I`` and ``S = L`` the layer is
    an ISTA step, so an untrained network computes ``n_layers`` ISTA
    iterations. ``S`` is trained through its logarithm (always positive) and
    ``A`` by Riemannian steps on the orthogonal group, so that
    ``A_q^T A_q = I`` to rounding at every step.
"""
        + _LEARNED_PARAMETERS.replace(
            """    solver : {"adam", "adagrad", "sgd"}, default="adam"
        Stochastic optimizer (``"sgd"`` uses momentum 0.9).""",
            """    solver : {"adam", "adagrad", "sgd"}, default="adam"
        Optimizer, stepping ``A`` on the orthogonal group (its Riemannian
        variant: one second moment per matrix for Adam and Adagrad) and
        ``S`` in log coordinates.""",
        ).replace(
            """    fit_algorithm : {"end_to_end", "stagewise"}, default="end_to_end"
        ``"end_to_end"``: all layers trained at once. ``"stagewise"``: depths
        1, 2, ..., `n_layers` trained in turn, each from the previous one with
        its new layer at its untrained value (up to `max_iter` epochs and a
        fresh learning rate per stage), as in ALISTA's and LISTA-CPSS's
        training; with a supervised loss, its new layer is a copy of the last
        trained one instead when that start has the lower monitored loss.

""",
            "",
        )
        + """
    init : {"auto", "identity", "eigen", "learned_steps"} or StepLISTACoder, \
            default="auto"
        ``"identity"``: ``A = I``, ``S = L`` (ISTA). ``"eigen"``: ``A`` from the
        eigenbasis of ``B`` (so that ``A B A^T`` is diagonal) and ``S`` its
        eigenvalues clipped from below at ``0.05 L``; then ``R`` is positive
        semi-definite. ``"learned_steps"``: a :class:`StepLISTACoder` trained
        first (as for :class:`LISTACoder`, kept as `init_coder_`), then
        ``A = I`` and ``S_k = 1 / s_k``, the FacNet layer that is an ISTA
        step of size ``s_k``. A fitted :class:`StepLISTACoder` (same
        dictionary, alpha and depth, no momentum): the same start from its
        steps, without training them again (an unfitted one is fitted first,
        as for :class:`LISTACoder`). ``"auto"``: ``"learned_steps"``
        in :meth:`fit` end to end or stage-wise, ``"identity"`` with
        ``fit_algorithm="factorization"`` (whose bound needs ``R`` PSD) and
        in :meth:`partial_fit`.

    retraction : {"cayley", "qr", "polar"}, default="cayley"
        Retraction of the orthogonal group used by the Riemannian steps.

    psd_constraint : bool, default=False
        Keep ``R_q = A_q^T S_q A_q - B`` positive semi-definite (the regime of
        Proposition 2.1) by raising ``S_q`` uniformly by the smallest
        eigenvalue of ``S_q - A_q B A_q^T`` whenever it is negative, after
        every step (one symmetric eigendecomposition per layer and step).
        Only used by ``fit_algorithm="end_to_end"``; the factorization solver
        always keeps ``R_q`` PSD.

    fit_algorithm : {"end_to_end", "stagewise", "factorization"}, \
            default="end_to_end"
        How the layers are fitted.

        - ``"stagewise"``: depths 1, 2, ..., `n_layers` trained end to end in
          turn, each from the previous one with its new layer at ISTA's
          values (up to `max_iter` epochs and a fresh learning rate per
          stage; with a supervised loss, a copy of the last trained layer
          instead when that start has the lower monitored loss).
        - ``"end_to_end"``: all layers at once, by backpropagating the Lasso
          cost of the last layer's output through the network (mini-batches
          of `batch_size`, `max_iter` epochs).
        - ``"factorization"``: the paper's factorization, greedily, layer
          ``q = 0, 1, ...`` after layer ``q - 1``: with ``z_q`` the layer's
          input on the training signals and ``z*`` their Lasso solutions
          (FISTA to a relative duality gap of 1e-12), ``(A_q, S_q)``
          minimises the mean of Proposition 2.1's bound
          ``1/2 (z_q - z*)^T R_q (z_q - z*) + delta_A(z*) - delta_A(z_{q+1})``
          subject to ``R_q = A_q^T S_q A_q - B`` PSD. Each layer takes up to
          `max_iter` full-batch (sub)gradient steps (`solver`: Riemannian
          Adam or SGD on ``A_q``, Adam or SGD on ``log S_q``) on at most 2048
          of the training signals (drawn with `random_state`), starting from
          the layer's current value (``A = I, S = L``, ISTA's layer, for a
          fresh fit with ``init="identity"``). The PSD constraint is kept
          exactly after every step by raising ``S_q`` (a projection rather
          than a Gershgorin-type ``S(A)``, which at ``A = I`` would exceed
          ``L`` and start worse than ISTA): along ``u**2``, ``u`` the
          eigenvector of the smallest eigenvalue of ``S_q - A_q B A_q^T``,
          which lets ``S_q`` become non-uniform, and finally by a uniform
          shift if needed. The objective is monitored at every step and the
          best ``(A_q, S_q)`` kept, so no layer ends worse than it started.
          With ``learning_rate="adaptive"``, `n_iter_no_change` steps without
          an improvement of `tol` (relative to the progress so far) restore
          the best point and halve the learning rate (the layer stops below 1e-3 times
          `learning_rate_init`); with ``"constant"`` they stop the layer.
          Steps of ~1e-2 (`learning_rate_init`) suit it better than the
          end-to-end default. `batch_size`, `shuffle`, `early_stopping`,
          `validation_guard` and `validation_fraction` are not used.
          :meth:`partial_fit` runs one greedy pass on the batch it is
          given, every layer starting from its current value (so it only
          keeps changes that lower the objective on that batch);
          `warm_start` does the same on a refit, new layers starting at
          ISTA's values.

    Attributes
    ----------
    A_ : ndarray of shape (n_layers, n_components, n_components)
        Orthogonal matrices ``A_q``.

    S_ : ndarray of shape (n_layers, n_components)
        Positive diagonals ``S_q``, trained in log coordinates.

    log_S_ : ndarray of shape (n_layers, n_components)
        ``log(S_)``.

    objective_curves_ : list of ndarray
        ``fit_algorithm="factorization"`` only: per layer, the factorization
        objective at every step (entry 0: at the layer's start). With
        ``"factorization"``, ``loss_curve_`` holds the mean training Lasso
        cost of each layer's output ``z_{q+1}``, ``best_loss_`` the last one,
        ``n_iter_`` the total number of steps over the layers, and
        ``validation_scores_`` is None.
"""
        + _LEARNED_ATTRIBUTES
        + """
    See Also
    --------
    LISTACoder : Unconstrained learned ISTA.
    ISTACoder : The iteration FacNet starts from.

    Notes
    -----
    The output ``z = y A`` of a layer is sparse only where ``A`` keeps it so:
    at ``A = I`` every rotation adds non-zeros to the codes and raises the l1
    term to first order, so the cost is not differentiable in ``A`` there and
    the backpropagated gradient (with ``sign(0) = 0``) is only a
    subgradient. Adam's normalised steps move ``A`` away from the identity
    where it pays; plain SGD tends to stall there.

    References
    ----------
    .. [1] T. Moreau and J. Bruna, "Understanding trainable sparse coding
       with matrix factorization", ICLR 2017.

    Examples
    --------
    >>> from sklearn_lista import FacNetCoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=300, random_state=0)
    >>> alpha = 0.1 * alpha_max(X, D)
    >>> coder = FacNetCoder(
    ...     D, alpha=alpha, n_layers=3, tol=1e-3, n_iter_no_change=3, random_state=0
    ... )
    >>> codes = coder.fit_transform(X)
    >>> coder.A_.shape, codes.shape
    ((3, 100, 100), (300, 100))
    >>> factorized = FacNetCoder(
    ...     D, alpha=alpha, n_layers=2, fit_algorithm="factorization",
    ...     learning_rate_init=1e-2, learning_rate="constant", tol=1e-3,
    ...     n_iter_no_change=3, random_state=0,
    ... ).fit(X)
    >>> report = factorized.factorization_report(X[:100])
    >>> bool((report["gap"] <= report["bound"]).all())
    True
    """
    )

    # From A = I the orthogonal factor moves by about the learning rate per
    # step: that run lost to the learned steps on the digits after 5 epochs
    # and ran 97-145 epochs to nearly tie on the Gaussian problem (16 layers:
    # 80 s against 15 s).
    _challenges_with_classical_start = False

    _parameter_constraints: dict = {
        **BaseLearnedCoder._parameter_constraints,
        "init": [
            StrOptions({"auto", "identity", "eigen", "learned_steps"}),
            HasMethods(["fit", "transform"]),
        ],
        "retraction": [StrOptions({"cayley", "qr", "polar"})],
        "psd_constraint": ["boolean"],
        "fit_algorithm": [StrOptions({"end_to_end", "stagewise", "factorization"})],
    }

    _architecture = "facnet"

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
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        init="auto",
        retraction="cayley",
        psd_constraint=False,
        fit_algorithm="end_to_end",
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
        self.retraction = retraction
        self.psd_constraint = psd_constraint

    @property
    def log_S_(self):
        return np.log(self.S_)

    def _network_options(self):
        return {
            # Learned steps overwrite the identity start.
            "init": "eigen" if self.init == "eigen" else "identity",
            "retraction": self.retraction,
            # The factorization solver keeps R PSD itself, layer by layer.
            "psd_constraint": self.psd_constraint
            and self.fit_algorithm != "factorization",
        }

    # ------------------------------------------------ factorization solver
    def _init_strategy(self, incremental=False):
        if self.init in ("identity", "eigen"):
            return "classical"
        if self.init == "auto" and self.fit_algorithm == "factorization":
            return "classical"
        return super()._init_strategy(incremental)

    def _fit(self, X, y, incremental):
        if self.fit_algorithm != "factorization":
            # One BLAS thread, as every learned coder trains.
            return super()._fit(X, y, incremental)
        X = np.ascontiguousarray(X.toarray() if sp.issparse(X) else X)
        if incremental:
            if self.A_.shape[0] != self.n_layers:
                raise ValueError(
                    f"n_layers={self.n_layers} but the network being trained has "
                    f"{self.A_.shape[0]} layers; partial_fit cannot change the "
                    "depth: use fit with warm_start=True."
                )
        else:
            self._initialize(X)
        dtype = self.A_.dtype
        # Small (K, K) eigendecompositions and solves at every step: threaded
        # BLAS only adds synchronisation to them (10x slower on a busy machine).
        with one_blas_thread():
            rotations, scales, curves, result = fit_factorization(
                X,
                self.network_.problem,
                self.A_,
                self.S_,
                self._make_layer_loop,
                random_state=check_random_state(self.random_state),
                verbose=self.verbose,
                name=type(self).__name__,
            )
        if dtype != np.float64:
            # Rounding to the parameter dtype moves R by ~1e-7 ||B||.
            margin = PSD_MARGIN[np.dtype(dtype)] * self.lipschitz_
            scales = raise_to_psd(
                rotations, scales, self.network_.problem_in(np.float64).gram, margin
            )
        self.objective_curves_ = curves
        self.validation_scores_ = None
        result.n_iter += self.n_iter_
        result.n_samples_seen += self.t_
        self._store({"A": rotations.astype(dtype), "S": scales.astype(dtype)}, result)
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__}: maximum number of steps per layer "
                f"(max_iter={self.max_iter}) reached and the factorization "
                "objective is still improving.",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )

    def _make_layer_loop(self, manifolds):
        """Full-batch steps on one layer: plateaus halve the step until it is
        below ``MIN_LEARNING_RATE * learning_rate_init`` (adaptive), or
        `n_iter_no_change` steps without improvement stop it (constant)."""
        if self.learning_rate == "adaptive":
            schedule = PlateauSchedule(
                patience=self.n_iter_no_change,
                factor=PLATEAU_SHRINK,
                reset=True,
                min_learning_rate=MIN_LEARNING_RATE,
            )
            n_iter_no_change = np.inf
        else:
            schedule, n_iter_no_change = ConstantSchedule(), self.n_iter_no_change
        return TrainingLoop(
            make_optimizer(self.solver, manifolds, self.learning_rate_init),
            schedule,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=n_iter_no_change,
            rng=None,
        )

    def factorization_report(self, X):
        """Per-layer diagnostics of the factorization on the signals `X`.

        Compares, for each layer ``q``, Proposition 2.1 of the paper,

        ``F(z_{q+1}) - F(z*) <= 1/2 (z_q - z*)^T R_q (z_q - z*)
        + delta_A(z*) - delta_A(z_{q+1})``

        (valid when ``R_q = A_q^T S_q A_q - B`` is positive semi-definite),
        with the measured gap, ``z*`` being FISTA's solution to a relative
        duality gap of 1e-12. Costs are per sample, then averaged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Signals.

        Returns
        -------
        report : dict of str -> ndarray of shape (n_layers,)
            Keys:
        """
        check_is_fitted(self, "A_")
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        return factorization_report(X, self.components_, self.alpha, self.A_, self.S_)

    factorization_report.__doc__ += _REPORT_FIELDS
