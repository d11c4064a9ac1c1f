"""FacNetCoder: layers factorising the Gram matrix as ``A^T S A``."""

import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._base import FLOAT_DTYPES, _lasso_cost, user_stacklevel
from ._classical import iterative_thresholding
from ._learned import (
    _LEARNED_ATTRIBUTES,
    _LEARNED_PARAMETERS,
    PLATEAU_SHRINK,
    BaseLearnedCoder,
)
from ._networks import make_facnet
from ._optim import (
    CompositeOptimizer,
    OrthogonalGroup,
    RiemannianOptimizer,
    make_optimizer,
)

# The factorization solver stops a layer once plateaus have shrunk its
# learning rate below this fraction of learning_rate_init.
MIN_LEARNING_RATE = 1e-3
# Rounds of eigenvector-directed raises of S before a uniform shift.
PSD_ROUNDS = 10
# The factorization solver fits each layer on at most this many signals.
FACTORIZATION_SIZE = 2048

_REPORT_FIELDS = """
    layer : ndarray of int
        Layer index ``q`` (0-based): the layer maps ``z_q`` to ``z_{q+1}``.
    R_norm : ndarray
        ``||R_q||_2`` with ``R_q = A_q^T S_q A_q - B``.
    R_min_eigenvalue : ndarray
        Smallest eigenvalue of ``R_q`` (``>= 0`` means Proposition 2.1 applies).
    delta_gap : ndarray
        Mean over samples of ``delta_A(z*) - delta_A(z_{q+1})`` with
        ``delta_A(z) = alpha (||A z||_1 - ||z||_1)``: how much the rotation
        deforms the l1 norm.
    bound : ndarray
        Mean of Proposition 2.1's bound
        ``1/2 (z_q - z*)^T R_q (z_q - z*) + delta_A(z*) - delta_A(z_{q+1})``.
    gap : ndarray
        Mean measured ``F(z_{q+1}) - F(z*)``.
    bound_holds : ndarray
        Fraction of samples whose measured gap is at most their bound (up to
        rounding); 1.0 whenever ``R_q`` is positive semi-definite.
    acceleration_lhs : ndarray
        Mean of ``||R_q||_2 + 2 L_A(z_{q+1}) / ||z* - z_q||_2`` with the local
        Lipschitz bound ``L_A(z) = alpha (sqrt(||z||_0) + sqrt(||A z||_0))``.
    acceleration_rhs : ndarray
        ``||B||_2 / 2``.
    acceleration_holds : ndarray
        Fraction of samples satisfying the acceleration condition
        ``lhs <= rhs`` (samples with ``z_q = z*`` excluded).
    corollary_lhs : ndarray
        ``alpha * sqrt(n_features) / 8``, the left side of the paper's
        corollary for generic dictionaries (same for every layer).
    corollary_rhs : ndarray
        ``E ||z*||_1``, the mean l1 norm of the Lasso solutions of `X`.
    corollary_holds : ndarray of bool
        ``corollary_lhs <= corollary_rhs``: the condition under which, in
        expectation over generic dictionaries, the factorization can beat
        ISTA at any resolution.
"""


# --------------------------------------------------------------------------
# The greedy "factorization" solver: one layer at a time, on fixed z_q and z*.


def _soft_threshold(values, thresholds):
    return np.sign(values) * np.maximum(np.abs(values) - thresholds, 0.0)


def _raise_to_psd(scales, rotated_gram, margin, rounds=PSD_ROUNDS):
    """Scales ``S' >= S`` with ``diag(S') - A B A^T`` PSD (smallest eigenvalue
    at least `margin`).

    Each round raises ``S`` along ``u**2``, ``u`` the eigenvector of the
    smallest eigenvalue: the cheapest direction to first order, which lets
    ``S`` become non-uniform where a uniform shift would not; since the
    smallest eigenvalue is concave in ``S`` a round may fall short, and after
    `rounds` rounds one uniform shift makes the constraint hold exactly.
    """
    scales = scales.copy()
    for _ in range(rounds):
        eigenvalues, eigenvectors = np.linalg.eigh(np.diag(scales) - rotated_gram)
        if eigenvalues[0] >= margin:
            return scales
        direction = eigenvectors[:, 0] ** 2
        scales += (margin - eigenvalues[0]) * direction / np.sum(direction**2)
    lowest = np.linalg.eigvalsh(np.diag(scales) - rotated_gram)[0]
    return scales + max(margin - lowest, 0.0)


class _LayerProblem:
    """The factorization objective of one layer, for fixed ``z_q`` and ``z*``.

    In row form (codes are rows), with ``g = z_q B - x D^T`` the gradient of the
    smooth part at ``z_q`` and ``d = z_q - z*``, the layer is
    ``u = z_q A^T - (g A^T) / S``, ``y = st(u, alpha / S)``, ``z_{q+1} = y A``,
    and the objective (mean over the samples) is

    ``J(A, S) = 1/2 d R d^T + delta_A(z*) - delta_A(z_{q+1})``
    ``        = 1/2 sum_i S_i (d A^T)_i^2 - 1/2 d B d^T
    + alpha (|z* A^T|_1 - |z*|_1) + alpha (|y A|_1 - |y|_1)``,

    the last term using ``z_{q+1} A^T = y`` (``A`` orthogonal). ``J`` is
    Proposition 2.1's bound on ``F(z_{q+1}) - F(z*)`` whenever ``R`` is PSD.
    All arrays are float64.
    """

    def __init__(self, X, dictionary, gram, alpha, iterate, optimum):
        self.alpha = alpha
        self.gram = gram
        self.iterate = iterate
        self.optimum = optimum
        self.step_input = iterate @ gram - X @ dictionary.T
        self.difference = iterate - optimum
        self.n_samples = X.shape[0]
        self.gram_term = 0.5 * np.einsum(
            "ij,jk,ik->", self.difference, gram, self.difference
        )
        self.optimum_l1 = np.abs(optimum).sum()

    def forward(self, rotation, scales):
        """``u``, ``g A^T`` and ``y`` of the layer at ``(A, S)``."""
        rotated_step = self.step_input @ rotation.T
        pre = self.iterate @ rotation.T - rotated_step / scales
        return pre, rotated_step, _soft_threshold(pre, self.alpha / scales)

    def output(self, rotation, scales):
        """``z_{q+1}``."""
        return self.forward(rotation, scales)[2] @ rotation

    def objective(self, rotation, scales, with_grad=False):
        """``J(A, S)`` and, optionally, its (sub)gradients in ``A`` and ``log S``.

        The l1 terms are not differentiable where a coordinate is zero; as in
        the network's backward pass, ``sign(0) = 0`` picks a subgradient.
        """
        alpha, n = self.alpha, self.n_samples
        projected = self.difference @ rotation.T  # (d A^T)
        rotated_optimum = self.optimum @ rotation.T
        pre, rotated_step, shrunk = self.forward(rotation, scales)
        output = shrunk @ rotation
        quadratic = 0.5 * np.einsum("ij,j,ij->", projected, scales, projected)
        value = (
            quadratic
            - self.gram_term
            + alpha * (np.abs(rotated_optimum).sum() - self.optimum_l1)
            + alpha * (np.abs(output).sum() - np.abs(shrunk).sum())
        ) / n
        if not with_grad:
            return value
        # Explicit dependence on A and S.
        grad_rotation = (projected * scales).T @ self.difference
        grad_rotation += alpha * np.sign(rotated_optimum).T @ self.optimum
        sign_output = np.sign(output)
        grad_rotation += alpha * shrunk.T @ sign_output
        grad_scales = 0.5 * np.einsum("ij,ij->j", projected, projected)
        # Through y = st(u, alpha / S): the mask |u| > alpha / S.
        grad_shrunk = alpha * (sign_output @ rotation.T - np.sign(shrunk))
        grad_pre = np.where(shrunk != 0, grad_shrunk, 0.0)
        grad_rotation += grad_pre.T @ self.iterate - (grad_pre / scales).T @ (
            self.step_input
        )
        grad_scales += np.einsum("ij,ij->j", grad_pre, rotated_step) / scales**2
        grad_thresholds = -np.einsum("ij,ij->j", grad_pre, np.sign(pre))
        grad_scales -= grad_thresholds * alpha / scales**2
        return value, grad_rotation / n, grad_scales * scales / n


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
            """    solver : {"adam", "sgd"}, default="adam"
        Optimizer: Riemannian Adam (one second moment per matrix) or
        Riemannian SGD with momentum for ``A``, its Euclidean counterpart for
        ``log S``.""",
        )
        + """
    init : {"identity", "eigen"}, default="identity"
        ``"identity"``: ``A = I``, ``S = L`` (ISTA). ``"eigen"``: ``A`` from the
        eigenbasis of ``B`` (so that ``A B A^T`` is diagonal) and ``S`` its
        eigenvalues clipped from below at ``0.05 L``; then ``R`` is positive
        semi-definite.

    retraction : {"cayley", "qr", "polar"}, default="cayley"
        Retraction of the orthogonal group used by the Riemannian steps.

    psd_constraint : bool, default=False
        Keep ``R_q = A_q^T S_q A_q - B`` positive semi-definite (the regime of
        Proposition 2.1) by raising ``S_q`` uniformly by the smallest
        eigenvalue of ``S_q - A_q B A_q^T`` whenever it is negative, after
        every step (one symmetric eigendecomposition per layer and step).
        Only used by ``fit_algorithm="end_to_end"``; the factorization solver
        always keeps ``R_q`` PSD.

    fit_algorithm : {"end_to_end", "factorization"}, default="end_to_end"
        How the layers are fitted.

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
          With `learning_rate="adaptive"`, `n_iter_no_change` steps without
          a relative improvement of `tol` restore the best point and halve
          the learning rate (the layer stops below 1e-3 times
          `learning_rate_init`); with ``"constant"`` they stop the layer.
          Steps of ~1e-2 (`learning_rate_init`) suit it better than the
          end-to-end default. `batch_size`, `shuffle`, `early_stopping` and
          `validation_fraction` are not used. :meth:`partial_fit` runs one
          greedy pass on the batch it is given, every layer starting from
          its current value (so it only keeps changes that lower the
          objective on that batch); `warm_start` does the same on a refit,
          new layers starting at ISTA's values.

    Attributes
    ----------
    A_ : ndarray of shape (n_layers, n_components, n_components)
        Orthogonal matrices ``A_q``.

    S_ : ndarray of shape (n_layers, n_components)
        Positive diagonals ``S_q`` (``exp(log_S_)``).

    log_S_ : ndarray of shape (n_layers, n_components)
        The trained parameter behind ``S_``.

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
    >>> coder = FacNetCoder(D, alpha=alpha, n_layers=3, max_iter=3, random_state=0)
    >>> codes = coder.fit_transform(X)
    >>> coder.A_.shape, codes.shape
    ((3, 100, 100), (300, 100))
    >>> factorized = FacNetCoder(
    ...     D, alpha=alpha, n_layers=2, fit_algorithm="factorization",
    ...     learning_rate_init=1e-2, max_iter=5, random_state=0,
    ... ).fit(X)
    >>> report = factorized.factorization_report(X[:100])
    >>> bool((report["gap"] <= report["bound"]).all())
    True
    """
    )

    _parameter_constraints: dict = {
        **BaseLearnedCoder._parameter_constraints,
        "solver": [StrOptions({"adam", "sgd"})],
        "init": [StrOptions({"identity", "eigen"})],
        "retraction": [StrOptions({"cayley", "qr", "polar"})],
        "psd_constraint": ["boolean"],
        "fit_algorithm": [StrOptions({"end_to_end", "factorization"})],
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
        init="identity",
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
            validation_fraction=validation_fraction,
            shuffle=shuffle,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.init = init
        self.retraction = retraction
        self.psd_constraint = psd_constraint
        self.fit_algorithm = fit_algorithm

    _param_names = ("A", "log_S")

    @property
    def S_(self):
        return np.exp(self.log_S_)

    @property
    def _network(self):
        key = (id(self.components_), self.alpha)
        cached = getattr(self, "_network_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, make_facnet(self.components_, self.alpha))
            self._network_cache = cached
        return cached[1]

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never touch self.__dict__
        state.pop("_network_cache", None)  # closures do not pickle
        return state

    def _initialize(self, X):
        if self.positive_code:
            raise ValueError(
                "positive_code=True is not supported by FacNetCoder: the rotation "
                "A does not preserve the sign of the codes."
            )
        fresh = not (self.warm_start and self._is_trained())
        super()._initialize(X)
        if fresh and self.init == "eigen":
            rotations, log_scales = self._eigen_init(X.dtype)
            self.A_[...] = rotations
            self.log_S_[...] = log_scales
        self._project(self._get_params_list())

    def _eigen_init(self, dtype):
        gram = self.components_.astype(np.float64) @ self.components_.T.astype(
            np.float64
        )
        eigenvalues, eigenvectors = np.linalg.eigh(gram)
        scales = np.maximum(eigenvalues, 0.05 * self.lipschitz_)
        return (
            eigenvectors.T.astype(dtype)[None],
            np.log(scales).astype(dtype)[None],
        )

    def _make_optimizer(self):
        method = "adam" if self.solver == "adam" else "sgd"
        return CompositeOptimizer(
            [
                (
                    [0],
                    RiemannianOptimizer(
                        OrthogonalGroup(self.retraction),
                        method=method,
                        learning_rate_init=self.learning_rate_init,
                    ),
                ),
                ([1], make_optimizer(self.solver, self.learning_rate_init)),
            ]
        )

    def _project(self, params):
        if self.psd_constraint:
            self._restore_psd(params)

    def _restore_psd(self, params):
        """Raise each ``S_q`` uniformly, just enough for ``R_q`` to be PSD."""
        rotations, log_scales = params
        gram = self.components_ @ self.components_.T
        rotated_gram = rotations @ gram @ np.swapaxes(rotations, -1, -2)
        scales = np.exp(log_scales.astype(np.float64))
        gap = np.linalg.eigvalsh(
            scales[:, :, None] * np.eye(scales.shape[1]) - rotated_gram
        )[:, 0]
        # A small margin keeps R PSD after rounding to the parameter dtype.
        margin = (
            1e-12 * self.lipschitz_
            if log_scales.dtype == np.float64
            else (1e-6 * self.lipschitz_)
        )
        shift = np.maximum(margin - gap, 0.0)
        log_scales[...] = np.log(scales + shift[:, None])

    # ------------------------------------------------ factorization solver
    def _fit(self, X, incremental):
        if self.fit_algorithm == "end_to_end":
            return super()._fit(X, incremental)
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
        # Small (K, K) eigendecompositions and solves at every step: threaded
        # BLAS only adds synchronisation to them (10x slower on a busy machine).
        with threadpool_limits(limits=1, user_api="blas"):
            self._fit_factorization(X)
        self.validation_scores_ = None

    def _lasso_optimum(self, X):
        """``z*`` for float64 signals: FISTA to a relative duality gap of 1e-12."""
        optimum, _ = iterative_thresholding(
            X,
            self.components_.astype(np.float64),
            self.alpha,
            n_iter=50_000,
            lipschitz=self.lipschitz_,
            tol=1e-12,
            accelerated=True,
        )
        return optimum

    def _fit_factorization(self, X):
        """Greedy pass over the layers, each starting from its current value."""
        dtype = self.A_.dtype
        if X.shape[0] > FACTORIZATION_SIZE:
            rng = check_random_state(self.random_state)
            X = X[np.sort(rng.choice(X.shape[0], FACTORIZATION_SIZE, replace=False))]
        X = X.astype(np.float64)
        dictionary = self.components_.astype(np.float64)
        gram = dictionary @ dictionary.T
        optimum = self._lasso_optimum(X)
        optimal_cost = _lasso_cost(X, optimum, dictionary, self.alpha).mean()
        iterate = np.zeros_like(optimum)
        rotations = self.A_.astype(np.float64)
        log_scales = self.log_S_.astype(np.float64)
        self.loss_curve_ = []
        self.objective_curves_ = []
        self.best_loss_ = np.inf
        converged = True
        start = time.perf_counter()
        for q in range(self.n_layers):
            problem = _LayerProblem(X, dictionary, gram, self.alpha, iterate, optimum)
            params = [rotations[q : q + 1], log_scales[q : q + 1]]
            curve, stopped = self._fit_layer(problem, params)
            converged &= stopped
            self.objective_curves_.append(np.asarray(curve))
            iterate = problem.output(rotations[q], np.exp(log_scales[q]))
            cost = _lasso_cost(X, iterate, dictionary, self.alpha).mean()
            self.loss_curve_.append(cost)
            self.n_iter_ += len(curve) - 1
            self.t_ += X.shape[0] * (len(curve) - 1)
            if self.verbose:
                print(
                    f"[{type(self).__name__}] layer {q + 1}/{self.n_layers}: "
                    f"objective {curve[0]:.6g} -> {min(curve):.6g} in "
                    f"{len(curve) - 1} steps, F(z_{q + 1}) - F* = "
                    f"{cost - optimal_cost:.6g}, "
                    f"{time.perf_counter() - start:.1f} s"
                )
        self.best_loss_ = self.loss_curve_[-1]
        params = [rotations.astype(dtype), log_scales.astype(dtype)]
        if dtype != np.float64:
            # Rounding to the parameter dtype moves R by ~1e-7 ||B||.
            self._restore_psd(params)
        self._set_params_list(params)
        self._check_finite(params)
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: maximum number of steps per layer "
                f"(max_iter={self.max_iter}) reached and the factorization "
                "objective is still improving.",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )

    def _restore_layer_psd(self, problem, params):
        rotations, log_scales = params
        rotated_gram = rotations[0] @ problem.gram @ rotations[0].T
        scales = _raise_to_psd(
            np.exp(log_scales[0]), rotated_gram, 1e-12 * self.lipschitz_
        )
        log_scales[0] = np.log(scales)

    def _fit_layer(self, problem, params):
        """Minimise one layer's objective from `params` (updated in place).

        Returns the objective at every step (entry 0: the start) and whether
        the stopping rule (rather than `max_iter`) ended the loop.
        """
        self._restore_layer_psd(problem, params)
        optimizer = self._make_optimizer()
        rotations, log_scales = params
        value, grad_rotation, grad_log_scales = problem.objective(
            rotations[0], np.exp(log_scales[0]), with_grad=True
        )
        best_value, best = value, [p.copy() for p in params]
        curve = [value]
        without_improvement = 0
        stopped = False
        for _ in range(self.max_iter):
            optimizer.update_params(
                params, [grad_rotation[None], grad_log_scales[None]]
            )
            # The PSD constraint holds exactly after every step.
            self._restore_layer_psd(problem, params)
            value, grad_rotation, grad_log_scales = problem.objective(
                rotations[0], np.exp(log_scales[0]), with_grad=True
            )
            curve.append(value)
            if value < best_value - self.tol * abs(best_value):
                without_improvement = 0
            else:
                without_improvement += 1
            if value < best_value:
                best_value = value
                for saved, current in zip(best, params, strict=True):
                    saved[...] = current
            if without_improvement >= self.n_iter_no_change:
                if self.learning_rate == "constant":
                    stopped = True
                    break
                # Plateau: restart from the best point with half the step.
                for current, saved in zip(params, best, strict=True):
                    current[...] = saved
                value, grad_rotation, grad_log_scales = problem.objective(
                    rotations[0], np.exp(log_scales[0]), with_grad=True
                )
                optimizer.scale_learning_rate(PLATEAU_SHRINK)
                without_improvement = 0
                if optimizer.learning_rate < MIN_LEARNING_RATE * (
                    self.learning_rate_init
                ):
                    stopped = True
                    break
        # A layer never ends worse than it started (ISTA's layer at A=I, S=L).
        for current, saved in zip(params, best, strict=True):
            current[...] = saved
        return curve, stopped

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
        X = np.ascontiguousarray(X, dtype=np.float64)
        dictionary = self.components_.astype(np.float64)
        alpha = self.alpha
        gram = dictionary @ dictionary.T
        optimum = self._lasso_optimum(X)
        rotations = self.A_.astype(np.float64)
        scales = np.exp(self.log_S_.astype(np.float64))
        network = make_facnet(dictionary, alpha)
        _, cache = network.forward(X, [rotations, np.log(scales)], keep_cache=True)
        iterates = cache[1]

        def cost(codes):
            residual = X - codes @ dictionary
            return 0.5 * np.sum(residual**2, axis=1) + alpha * np.abs(codes).sum(1)

        def deformation(codes, rotation):
            return alpha * (
                np.abs(codes @ rotation.T).sum(axis=1) - np.abs(codes).sum(axis=1)
            )

        n_layers = rotations.shape[0]
        fields = {
            name: np.empty(n_layers)
            for name in (
                "R_norm",
                "R_min_eigenvalue",
                "delta_gap",
                "bound",
                "gap",
                "bound_holds",
                "acceleration_lhs",
                "acceleration_rhs",
                "acceleration_holds",
            )
        }
        optimal_cost = cost(optimum)
        gram_norm = np.linalg.norm(gram, 2)
        for q in range(n_layers):
            rotation = rotations[q]
            residual_matrix = rotation.T @ (scales[q][:, None] * rotation) - gram
            eigenvalues = np.linalg.eigvalsh(residual_matrix)
            before, after = iterates[q], iterates[q + 1]
            difference = before - optimum
            delta_gap = deformation(optimum, rotation) - deformation(after, rotation)
            bound = (
                0.5 * np.einsum("ij,jk,ik->i", difference, residual_matrix, difference)
                + delta_gap
            )
            gap = cost(after) - optimal_cost
            lipschitz_local = alpha * (
                np.sqrt(np.count_nonzero(after, axis=1))
                + np.sqrt(np.count_nonzero(np.abs(after @ rotation.T) > 1e-12, axis=1))
            )
            distance = np.linalg.norm(difference, axis=1)
            moving = distance > 0
            lhs = (
                np.abs(eigenvalues).max()
                + 2 * lipschitz_local[moving] / distance[moving]
            )
            fields["R_norm"][q] = np.abs(eigenvalues).max()
            fields["R_min_eigenvalue"][q] = eigenvalues[0]
            fields["delta_gap"][q] = delta_gap.mean()
            fields["bound"][q] = bound.mean()
            fields["gap"][q] = gap.mean()
            slack = 1e-9 * np.maximum(np.abs(optimal_cost), 1.0)
            fields["bound_holds"][q] = np.mean(gap <= bound + slack)
            fields["acceleration_lhs"][q] = lhs.mean() if lhs.size else np.nan
            fields["acceleration_rhs"][q] = gram_norm / 2
            fields["acceleration_holds"][q] = (
                np.mean(lhs <= gram_norm / 2) if lhs.size else np.nan
            )
        corollary_lhs = alpha * np.sqrt(X.shape[1]) / 8
        corollary_rhs = np.abs(optimum).sum(axis=1).mean()
        fields["corollary_lhs"] = np.full(n_layers, corollary_lhs)
        fields["corollary_rhs"] = np.full(n_layers, corollary_rhs)
        fields["corollary_holds"] = np.full(n_layers, corollary_lhs <= corollary_rhs)
        return {"layer": np.arange(n_layers), **fields}

    factorization_report.__doc__ += _REPORT_FIELDS

    _architecture = "facnet"
