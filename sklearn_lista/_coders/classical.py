"""Classical iterative solvers of the Lasso as estimators: ISTA and FISTA."""

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._lasso import solver_operators
from .._solvers import iterative_thresholding, polishes
from ._base import BaseCoder


class _IterativeCoder(BaseCoder):
    """Shared implementation of ISTACoder and FISTACoder."""

    _accelerated = False
    # The solver writes the codes into the chunk's rows of the output, which
    # saves a copy of them and a fresh array's page faults per chunk.
    _encodes_into_out = True
    # Support polishing on the `tol` path; False only for benchmarks and
    # tests that measure the plain iteration.
    _polish = True

    _parameter_constraints: dict = {
        **BaseCoder._parameter_constraints,
        "tol": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=100,
        tol=None,
        positive_code=False,
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
        self.tol = tol

    def _restart(self):
        return False

    def _needs_fit(self):
        # With a given dictionary there is nothing to learn: transform works
        # without fit, as SparseCoder's.
        return self.dictionary is None

    def _encode_operators(self, dictionary):
        # A chunk's step matrix and Gram matrices cost about a tenth of its
        # row-wise iterations at N = 1024, K = 100 (doc/benchmarks/peers.rst).
        polish = polishes(self.tol, self._polish)
        return solver_operators(dictionary, self.lipschitz_, polish)

    def _encode(self, X, dictionary, operators=None, out=None):
        return iterative_thresholding(
            X,
            dictionary,
            self.alpha,
            n_iter=self.n_layers,
            lipschitz=self.lipschitz_,
            tol=self.tol,
            positive=self.positive_code,
            accelerated=self._accelerated,
            restart=self._restart(),
            polish=self._polish,
            verbose=self.verbose,
            operators=operators,
            out=out,
        )


_COMMON_PARAMETERS = """
    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        Atoms as rows, as ``SparseCoder.dictionary``. Used as given (not
        normalised); it must be finite and have no zero-norm atom. If None,
        :meth:`fit` learns one with
        :class:`~sklearn.decomposition.MiniBatchDictionaryLearning`
        (`n_components` atoms, normalised rows).

    n_components : int, default=None
        Number of atoms to learn when `dictionary` is None (default:
        ``n_features``). Must be None or match the given dictionary.

    alpha : float, default=1.0
        Weight of the l1 penalty, as ``SparseCoder(transform_alpha=...)``.

    n_layers : int, default=100
        Number of iterations (the "depth" of the solver).

    tol : float, default=None
        If None, run exactly `n_layers` iterations: the result is the
        `n_layers`-th iterate. Otherwise stop each sample once its duality
        gap is at most ``tol`` times its cost (checked every 10 iterations);
        converged samples stop costing work, and a
        :class:`~sklearn.exceptions.ConvergenceWarning` is raised when some
        samples reach `n_layers` iterations unconverged. With `tol`, *support
        polishing* also runs: once a sample's support has (nearly) settled,
        the exact solution on that support and signs (a small Cholesky solve,
        with a few active-set corrections) replaces the iterate whenever its
        duality gap meets `tol`. Accepted codes are then the Lasso solution
        to rounding (relative gap ~1e-15) however loose `tol` is, usually
        after a few iterations; a sample whose support does not settle just
        keeps iterating. Since polishing, not the iterate, gives the result,
        ISTA's steps on sparse iterates are then ``1.9 / L`` long instead of
        ``1 / L`` (still convergent: forward-backward converges for steps
        below ``2 / L``), which finds the support in fewer iterations. In
        float32 the gap is itself computed to a few ``1e-7`` of the cost:
        ``tol=1e-6`` or below can leave samples whose support does not
        settle iterating to `n_layers` (on the digits, ISTA at ``1e-6`` and
        ``alpha = 0.01 alpha_max`` left 12% of the samples unconverged, FISTA
        at ``1e-8`` 58%); use float64 input for tighter tolerances.

    positive_code : bool, default=False
        Constrain the codes to be non-negative.

    n_jobs : int, default=None
        Number of threads encoding chunks of rows in parallel in
        :meth:`transform`. ``None`` means 1 unless in a
        :obj:`joblib.parallel_backend` context, ``-1`` uses all processors.
        Results do not depend on `n_jobs`.

    random_state : int, RandomState instance or None, default=None
        Seeds the dictionary learning when `dictionary` is None.

    verbose : int, default=0
        1 prints a summary per :meth:`transform`, 2 also the convergence at
        each duality-gap check.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The dictionary used to encode (a validated copy of `dictionary`, or
        the learned one), in the dtype of the training data.

    n_components_ : int
        Number of atoms.

    lipschitz_ : float
        ``||components_||_2 ** 2``, the largest eigenvalue of the Gram matrix;
        the step size is ``1 / lipschitz_``.

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`. Defined only when `X` has
        feature names that are all strings.
"""


class ISTACoder(_IterativeCoder):
    __doc__ = (
        """Sparse coding by ISTA (iterative soft-thresholding).

    Solves, for each signal ``x``,
    ``min_z 0.5 * ||x - z D||^2 + alpha * ||z||_1`` with the proximal gradient
    iteration ``z <- st(z - (z B - x D^T) / L, alpha / L)`` from ``z = 0``,
    where ``B = D D^T`` and ``L = ||D||_2^2``.
"""
        + _COMMON_PARAMETERS
        + """
    See Also
    --------
    FISTACoder : The accelerated variant, same parameters.
    sklearn.decomposition.SparseCoder : Exact solvers (coordinate descent, LARS).

    References
    ----------
    .. [1] I. Daubechies, M. Defrise and C. De Mol, "An iterative thresholding
       algorithm for linear inverse problems with a sparsity constraint",
       Communications on Pure and Applied Mathematics, 2004.

    Examples
    --------
    >>> from sklearn_lista import ISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=50, random_state=0)
    >>> coder = ISTACoder(D, alpha=0.1 * alpha_max(X, D), n_layers=50)
    >>> codes = coder.fit_transform(X)
    >>> codes.shape
    (50, 100)
    """
    )

    _accelerated = False


class FISTACoder(_IterativeCoder):
    __doc__ = (
        """Sparse coding by FISTA (accelerated iterative soft-thresholding).

    Same problem as :class:`ISTACoder`; each thresholding step is taken from
    an extrapolated point ``y_k = z_k + (t_{k-1} - 1) / t_k * (z_k - z_{k-1})``
    with Nesterov's sequence ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2``, which
    improves the worst-case rate from ``O(1/k)`` to ``O(1/k^2)``.

    With `tol`, the momentum of a sample is reset by default whenever it
    points against the gradient step, ``(y_k - z_{k+1}) . (z_{k+1} - z_k) > 0``
    (gradient restart [2]_): once the support of the code is found, the
    iteration then converges linearly instead of oscillating, and samples
    reach the tolerance in far fewer iterations. Once the iterate is sparse
    (the row-wise path), the restarted `tol` path takes ISTA steps (of
    ``1.9 / L``, see `tol`), cheaper and as quick to find the support that
    support polishing then solves exactly; samples still running after 100
    of them go on with FISTA steps. Without `tol` the default runs plain FISTA, whose
    k-th iterate is what the learned coders unroll.
"""
        + _COMMON_PARAMETERS.replace(
            """
    positive_code : bool""",
            """
    restart : bool or "auto", default="auto"
        Gradient restart of the momentum, per sample. ``"auto"``: only when
        `tol` is set (then the result is a solution to the tolerance, not a
        given iterate); False always runs plain FISTA.

    positive_code : bool""",
        )
        + """
    See Also
    --------
    ISTACoder : The plain proximal gradient iteration, same parameters.

    References
    ----------
    .. [1] A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding
       algorithm for linear inverse problems", SIAM Journal on Imaging
       Sciences, 2009.
    .. [2] B. O'Donoghue and E. Candes, "Adaptive restart for accelerated
       gradient schemes", Foundations of Computational Mathematics, 2015.

    Examples
    --------
    >>> from sklearn_lista import FISTACoder
    >>> from sklearn_lista.datasets import make_sparse_coding, alpha_max
    >>> X, D, _ = make_sparse_coding(n_samples=50, random_state=0)
    >>> coder = FISTACoder(D, alpha=0.1 * alpha_max(X, D), n_layers=500, tol=1e-8)
    >>> codes = coder.fit_transform(X)
    >>> float(coder.score(X)) < 0
    True
    """
    )

    _accelerated = True

    _parameter_constraints: dict = {
        **_IterativeCoder._parameter_constraints,
        "restart": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=100,
        tol=None,
        restart="auto",
        positive_code=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            dictionary,
            n_components=n_components,
            alpha=alpha,
            n_layers=n_layers,
            tol=tol,
            positive_code=positive_code,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.restart = restart

    def _restart(self):
        if self.restart == "auto":
            return self.tol is not None
        return bool(self.restart)
