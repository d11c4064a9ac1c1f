"""Classical iterative solvers of the Lasso: ISTA and FISTA."""

import math
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseCoder, gram_matrix
from ._kernels import (
    count_beyond_threshold,
    fista_restart_step,
    fista_step,
    ista_step,
    lasso_duality_gap,
    sparse_matmul,
    sparse_transpose_matmul,
    thresholding_rows,
)

# How often (in iterations) the duality gap is checked when `tol` is set: on
# the dense path one check costs about as much as 1.3 iterations, so every
# 10th keeps it at ~13%; on the row-wise path checking every 3 or 5
# iterations was measured slower than every 10 (FISTA, tol 1e-4 and 1e-6).
GAP_CHECK_EVERY = 10

# Below this fraction of non-zeros of the iterate, ISTA/FISTA hand over to
# the row-wise path (thresholding_rows) for all their remaining iterations.
# Measured with benchmarks/bench_classical.py (table 1c) on the solver's own
# iterates, one BLAS thread: a row-wise iteration costs as much as a dense one
# at density 0.32-0.41 (float64) and 0.22-0.25 (float32, whose BLAS product
# is twice as fast) in two runs on a loaded 2-core machine; the values sit at
# or below these crossovers (with two idle cores BLAS would be faster still).
ROWWISE_DENSITY_THRESHOLD = {np.dtype(np.float64): 0.3, np.dtype(np.float32): 0.2}

# Rows on which the density of the first iterate is estimated.
DENSITY_SAMPLE_ROWS = 1024

# Below this fraction of non-zeros, a product with the iterate walks its
# non-zeros (numba, one thread) instead of calling the dense BLAS product.
# Used by the learned networks (the classical solvers use the row-wise path
# above). Measured with the earlier table 1c of benchmarks/bench_classical.py
# (a whole-array sparse ISTA step, since removed, vs BLAS, before the row-wise
# path replaced it): against one BLAS thread the sparse path won up to ~0.16 (float64) /
# ~0.04 (float32), against two BLAS threads up to ~0.07 / ~0.02; these values
# sit near the latter so that the sparse path does not leave a core idle.
SPARSE_DENSITY_THRESHOLD = {np.dtype(np.float64): 0.08, np.dtype(np.float32): 0.02}


def is_sparse(density, dtype):
    """Whether a product with an operand of this density takes the sparse path."""
    return density < SPARSE_DENSITY_THRESHOLD.get(np.dtype(dtype), 0.1)


def iterate_matmul(A, W, out, density):
    """``out = A @ W`` by the sparse or the dense path, from `A`'s density."""
    if is_sparse(density, A.dtype):
        sparse_matmul(A, W, out)
    else:
        np.dot(A, W, out=out)
    return out


def iterate_transpose_matmul(A, B, out, density):
    """``out = A.T @ B`` by the sparse or the dense path, from `A`'s density."""
    if is_sparse(density, A.dtype):
        sparse_transpose_matmul(A, B, out)
    else:
        np.dot(A.T, B, out=out)
    return out


def duality_gaps(X, codes, dictionary, alpha, positive=False):
    """Per-sample duality gaps and primal costs of the Lasso (validation-free).

    Returns
    -------
    gaps, costs : ndarray of shape (n_samples,), float64
    """
    residual = X - codes @ dictionary
    correlation = residual @ dictionary.T
    gaps = np.empty(X.shape[0])
    costs = np.empty(X.shape[0])
    lasso_duality_gap(
        X, codes, residual, correlation, float(alpha), bool(positive), gaps, costs
    )
    return gaps, costs


def fista_momentums(n_iter):
    """FISTA's extrapolation weights ``(t_k - 1) / t_{k+1}``, ``t_1 = 1``.

    Entry ``k`` is the weight applied after iteration ``k`` (the first is 0).
    """
    momentums = np.empty(n_iter)
    t = 1.0
    for k in range(n_iter):
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentums[k] = (t - 1.0) / t_next
        t = t_next
    return momentums


def iterative_thresholding(
    X,
    dictionary,
    alpha,
    *,
    n_iter,
    lipschitz,
    tol=None,
    positive=False,
    accelerated=False,
    restart=False,
    path="auto",
    verbose=0,
):
    """ISTA or FISTA from ``z0 = 0`` on every row of `X` (validation-free).

    While the iterate is dense, each iteration is one BLAS product
    ``(n, K) x (K, K)`` followed by one fused numba pass over the whole array
    (with `tol`, the duality gap is checked every ``GAP_CHECK_EVERY``
    iterations and converged samples leave the working set). Once the iterate
    is sparse, the remaining iterations run row by row
    (:func:`~sklearn_lista._kernels.thresholding_rows`), each product walking
    the row's non-zeros, and each row stops at its own gap check.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous float32/float64
    dictionary : ndarray of shape (n_components, n_features), same dtype as X
    alpha : float
    n_iter : int
    lipschitz : float
        ``||D||_2 ** 2``; the step size is ``1 / lipschitz``.
    tol : float or None
    positive : bool
    accelerated : bool
        FISTA if True, ISTA otherwise.
    restart : bool
        FISTA only: reset the momentum of a sample when it points against the
        gradient step (O'Donoghue & Candes' gradient restart).
    path : {"auto", "dense", "sparse"}
        ``"auto"`` runs dense iterations until the fraction of non-zeros of
        the iterate falls below ``ROWWISE_DENSITY_THRESHOLD``, then the
        row-wise sparse iterations; the other two force one path (tests,
        benchmarks).
    verbose : int

    Returns
    -------
    codes : ndarray of shape (n_samples, n_components)
    n_unconverged : int
        Samples still above the tolerance after `n_iter` iterations (0 when
        `tol` is None).
    """
    dtype = X.dtype
    n_samples = X.shape[0]
    n_components = dictionary.shape[0]
    step_matrix = np.eye(n_components, dtype=dtype) - gram_matrix(
        dictionary
    ) / dtype.type(lipschitz)
    offset = X @ (dictionary.T / dtype.type(lipschitz))
    threshold = dtype.type(alpha / lipschitz)
    # Lazily zeroed: pages the row-wise path never reads cost nothing.
    codes = np.zeros((n_samples, n_components), dtype=dtype)
    product_buffer = np.empty_like(codes)
    extrapolated = np.zeros_like(codes) if accelerated else codes
    restart = bool(accelerated and restart)
    momentums = fista_momentums(n_iter) if accelerated else None
    t_state = np.ones(n_samples)  # FISTA's t_k per sample (restart: they differ)
    t_common = 1.0

    result = codes
    active = np.arange(n_samples)
    X_active = X

    # z_0 = 0, so the first product is zero and the first iterate is
    # st(offset): its density, known beforehand, picks the path of the first
    # layers (the row-wise path then runs all the remaining ones).
    # (Estimated on the first rows: counting them all costs a pass.)
    head = offset[:DENSITY_SAMPLE_ROWS]
    density = count_beyond_threshold(head, threshold, positive) / max(head.size, 1)
    it = 0
    while it < n_iter and (
        path == "dense"
        or (path == "auto" and density >= ROWWISE_DENSITY_THRESHOLD.get(dtype, 0.1))
    ):
        product = product_buffer[: codes.shape[0]]
        if it == 0:
            product.fill(0)
        else:
            np.dot(extrapolated, step_matrix, out=product)
        if restart:
            nnz = fista_restart_step(
                product, offset, codes, extrapolated, threshold, t_state, positive
            )
        elif accelerated:
            nnz = fista_step(
                product,
                offset,
                codes,
                extrapolated,
                threshold,
                dtype.type(momentums[it]),
                positive,
            )
            t_common = (1.0 + math.sqrt(1.0 + 4.0 * t_common * t_common)) / 2.0
        else:
            nnz = ista_step(product, offset, codes, threshold, positive)
        density = nnz / max(codes.size, 1)
        it += 1

        if tol is None or (it % GAP_CHECK_EVERY and it < n_iter):
            continue
        gaps, costs = duality_gaps(X_active, codes, dictionary, alpha, positive)
        converged = gaps <= tol * costs
        if verbose >= 2:
            print(
                f"  iteration {it}: {converged.sum()} of {active.size} "
                f"active samples converged, max relative gap "
                f"{np.max(gaps / np.maximum(costs, np.finfo(float).tiny)):.2e}"
            )
        if not converged.any():
            continue
        if result is codes:
            result = np.empty_like(codes)
        result[active[converged]] = codes[converged]
        keep = ~converged
        active = active[keep]
        if active.size == 0:
            return result, 0
        # Compact the working set: fancy indexing returns C-contiguous copies.
        X_active = X_active[keep]
        offset = offset[keep]
        codes = codes[keep]
        extrapolated = extrapolated[keep] if accelerated else codes
        t_state = t_state[keep]
        density = np.count_nonzero(extrapolated) / extrapolated.size

    n_unconverged = 0
    if it < n_iter:
        if not restart:
            t_state[:] = t_common
        unconverged = np.zeros(codes.shape[0], dtype=bool)
        n_unconverged = thresholding_rows(
            X_active,
            dictionary,
            offset,
            step_matrix,
            codes,
            extrapolated,
            t_state,
            threshold,
            float(alpha),
            float(lipschitz),
            bool(positive),
            bool(accelerated),
            restart,
            it,
            n_iter,
            -1.0 if tol is None else float(tol),
            GAP_CHECK_EVERY,
            unconverged,
        )
        if verbose >= 2 and tol is not None:
            print(
                f"  iterations {it + 1} to {n_iter} row by row: "
                f"{active.size - n_unconverged} of {active.size} active samples "
                "converged"
            )
    elif tol is not None:
        n_unconverged = active.size  # all were checked at it == n_iter
    if result is codes:
        return codes, n_unconverged
    result[active] = codes
    return result, n_unconverged


class _IterativeCoder(BaseCoder):
    """Shared implementation of ISTACoder and FISTACoder."""

    _accelerated = False

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

    def _encode(self, X, dictionary):
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
            verbose=self.verbose,
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
        If None, run exactly `n_layers` iterations. Otherwise stop each sample
        once its duality gap is at most ``tol`` times its cost (checked every
        10 iterations); converged samples stop costing work, and a
        :class:`~sklearn.exceptions.ConvergenceWarning` is raised when some
        samples reach `n_layers` iterations unconverged.

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
    reach the tolerance in far fewer iterations. Without `tol` the default
    runs plain FISTA, whose k-th iterate is what the learned coders unroll.
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
