"""FacNetCoder: layers factorising the Gram matrix as ``A^T S A``."""

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import FLOAT_DTYPES
from ._classical import iterative_thresholding
from ._learned import _LEARNED_ATTRIBUTES, _LEARNED_PARAMETERS, BaseLearnedCoder
from ._networks import make_facnet
from ._optim import (
    CompositeOptimizer,
    OrthogonalGroup,
    RiemannianOptimizer,
    make_optimizer,
)

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
"""


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

    Attributes
    ----------
    A_ : ndarray of shape (n_layers, n_components, n_components)
        Orthogonal matrices ``A_q``.

    S_ : ndarray of shape (n_layers, n_components)
        Positive diagonals ``S_q`` (``exp(log_S_)``).

    log_S_ : ndarray of shape (n_layers, n_components)
        The trained parameter behind ``S_``.
"""
        + _LEARNED_ATTRIBUTES
        + """
    Notes
    -----
    The output ``z = y A`` of a layer is sparse only where ``A`` keeps it so:
    at ``A = I`` every rotation adds non-zeros to the codes and raises the l1
    term to first order, so the cost is not differentiable in ``A`` there and
    the backpropagated gradient (with ``sign(0) = 0``) is only a
    subgradient. Adam's normalised steps move ``A`` away from the identity
    where it pays; plain SGD tends to stall there.

    See Also
    --------
    LISTACoder : Unconstrained learned ISTA.
    ISTACoder : The iteration FacNet starts from.

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
    """
    )

    _parameter_constraints: dict = {
        **BaseLearnedCoder._parameter_constraints,
        "solver": [StrOptions({"adam", "sgd"})],
        "init": [StrOptions({"identity", "eigen"})],
        "retraction": [StrOptions({"cayley", "qr", "polar"})],
        "psd_constraint": ["boolean"],
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
        init="identity",
        retraction="cayley",
        psd_constraint=False,
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
        if not self.psd_constraint:
            return
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
        optimum, _ = iterative_thresholding(
            X,
            dictionary,
            alpha,
            n_iter=50_000,
            lipschitz=self.lipschitz_,
            tol=1e-12,
            accelerated=True,
        )
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
        return {"layer": np.arange(n_layers), **fields}

    factorization_report.__doc__ += _REPORT_FIELDS

    _architecture = "facnet"
