"""What every coder shares: validation, the dictionary, chunked transform, scoring."""

import functools
import math
import sys
import threading
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from joblib.parallel import ThreadingBackend, get_active_backend
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from .._lasso import lipschitz_constant, per_sample_cost
from .._validation import (
    FLOAT_DTYPES,
    check_dictionary,
    restore_on_error,
    user_stacklevel,
    validate_signals,
)

# Chunks of rows are the unit of work of `transform`: each holds a few
# (rows, n_components) buffers, so their size bounds memory, and their number
# lets threads share the work. The split depends on the data only (never on
# n_jobs), so results do not depend on the number of threads.
_MIN_CHUNK_ROWS = 1024
_MAX_CHUNK_ELEMENTS = 2**20
_TARGET_N_CHUNKS = 16


def _chunk_slices(n_samples, n_components):
    # Multiples of _ROW_ALIGNMENT rows: only the last chunk is padded (and
    # copied), every other one is encoded into the output in place.
    align = _ROW_ALIGNMENT
    max_rows = max(_MIN_CHUNK_ROWS, _MAX_CHUNK_ELEMENTS // max(n_components, 1))
    max_rows = max_rows // align * align
    rows = max(_MIN_CHUNK_ROWS, math.ceil(n_samples / _TARGET_N_CHUNKS))
    rows = min(max_rows, -(-rows // align) * align)
    return [
        slice(start, min(start + rows, n_samples))
        for start in range(0, n_samples, rows)
    ]


# OpenBLAS (0.3.31) rounds a product's rows differently when its threads'
# shares of the rows are not multiples of its block of rows: with 2 threads,
# row counts that are multiples of 8 gave the same bits as 1 thread. Chunks are
# padded to a multiple of 64 (8 rows for each of up to 8 threads), so codes do
# not depend on the BLAS threads of the worker that computes them.
_ROW_ALIGNMENT = 64


def _encode_chunk(coder, chunk, dictionary, operators=None, out=None):
    """Codes of one chunk of rows: the unit of work of `transform`.
    `operators`: the coder's ``_encode_operators(dictionary)``, computed once
    for all the chunks (None: a coder without any). `out`: the chunk's rows
    of the output, which a coder with ``_encodes_into_out`` writes the codes
    into (they are then returned as `out`), unless the chunk is padded."""
    chunk = chunk.toarray() if sp.issparse(chunk) else chunk
    extra = {} if operators is None else {"operators": operators}
    n_rows = chunk.shape[0]
    padding = -n_rows % _ROW_ALIGNMENT
    if out is not None and coder._encodes_into_out and not padding:
        extra["out"] = out
    if padding:
        # Zero signals have zero codes and converge at once.
        chunk = np.concatenate(
            [chunk, np.zeros((padding, chunk.shape[1]), dtype=chunk.dtype)]
        )
        codes, n_unconverged = coder._encode(chunk, dictionary, **extra)
        return codes[:n_rows], n_unconverged
    return coder._encode(np.ascontiguousarray(chunk), dictionary, **extra)


@functools.cache
def _thread_pools():
    # Found once: `threadpool_limits` searches the loaded libraries at every
    # call (3.5 ms here, a fifth of a 2-thread transform of 10 000 sparse
    # signals). The BLAS this package calls (numpy's, scipy's) is loaded by
    # its import, before the first call.
    return ThreadpoolController()


def one_blas_thread():
    """Context manager: the BLAS libraries limited to one thread (work that
    already fills the cores with its own threads, or small products)."""
    return _thread_pools().limit(limits=1, user_api="blas")


def _run_in_threads(tasks, n_jobs):
    """Call the `tasks` (callables) on the caller's thread and ``n_jobs - 1``
    started ones, each thread taking the next task in turn; re-raises the
    first exception (the remaining tasks are then skipped).

    joblib's threading backend measured ~12 ms per call (its pool is set up
    and torn down each time), as long as the whole transform of 10 000
    sparse signals with two threads; this costs a thread start per worker.
    """
    position, errors = 0, []
    lock = threading.Lock()

    def work():
        nonlocal position
        while True:
            with lock:
                if errors or position == len(tasks):
                    return
                task = tasks[position]
                position += 1
            try:
                task()
            except BaseException as error:  # re-raised in the caller's thread
                with lock:
                    errors.append(error)
                return

    threads = [threading.Thread(target=work, daemon=True) for _ in range(n_jobs - 1)]
    for thread in threads:
        thread.start()
    work()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class BaseCoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the sparse coders.

    Subclasses implement ``_encode(X, dictionary) -> (codes, n_unconverged)``
    on a dense C-contiguous chunk and may override ``_fit_coder(X, y)`` to train
    on the data after the dictionary is set, and ``_encode_operators(dictionary)``
    to compute once per :meth:`transform` what every chunk's ``_encode(X,
    dictionary, operators=...)`` derives from the dictionary alone; with
    ``_encodes_into_out = True``, ``_encode`` also takes ``out=``, the chunk's
    rows of the output, and writes the codes there. This class
    validates the data,
    sets or learns the dictionary in :meth:`fit`, and provides the chunked,
    threaded :meth:`transform`, :meth:`score` (minus the mean Lasso cost) and
    :meth:`inverse_transform`.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features), default=None
        Atoms as rows; learned by :meth:`fit` when None.
    n_components : int, default=None
        Atoms to learn when `dictionary` is None.
    alpha : float, default=1.0
        Weight of the l1 penalty.
    n_layers : int, default=100
        Iterations (layers) of the coder.
    positive_code : bool, default=False
        Constrain the codes to be non-negative.
    n_jobs : int, default=None
        Threads encoding chunks of rows in :meth:`transform`.
    random_state : int, RandomState instance or None, default=None
        Seed of the dictionary learning (and of training, for learned coders).
    verbose : int, default=0
        Verbosity.

    See Also
    --------
    ISTACoder, FISTACoder, LISTACoder, LFISTACoder, FacNetCoder : The coders.

    Examples
    --------
    A minimal coder: one gradient step from zero, no thresholding.

    >>> import numpy as np
    >>> from sklearn_lista import BaseCoder
    >>> class OneStepCoder(BaseCoder):
    ...     def _encode(self, X, dictionary):
    ...         return X @ dictionary.T, 0
    >>> coder = OneStepCoder(np.eye(3)).fit(np.ones((2, 3)))
    >>> coder.transform([[1.0, 2.0, 3.0]])
    array([[1., 2., 3.]])
    """

    # Whether `_encode` takes ``out=`` (see the class docstring).
    _encodes_into_out = False

    _parameter_constraints: dict = {
        "dictionary": ["array-like", None],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "positive_code": ["boolean"],
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        dictionary=None,
        *,
        n_components=None,
        alpha=1.0,
        n_layers=100,
        positive_code=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.dictionary = dictionary
        self.n_components = n_components
        self.alpha = alpha
        self.n_layers = n_layers
        self.positive_code = positive_code
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Set the dictionary (given or learned from `X`) and fit the coder.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training signals.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with restore_on_error(self):
            X = validate_signals(self, X, accept_sparse="csr", dtype=FLOAT_DTYPES)
            self._fit_dictionary(X)
            self._fit_coder(X, y)
        return self

    def _fit_dictionary(self, X):
        if self.dictionary is not None:
            if (
                self.n_components is not None
                and self.n_components != np.shape(self.dictionary)[0]
            ):
                raise ValueError(
                    f"n_components={self.n_components} does not match the "
                    f"{np.shape(self.dictionary)[0]} atoms of the given dictionary; "
                    "leave n_components=None when passing a dictionary."
                )
            components = check_dictionary(
                self.dictionary, n_features=X.shape[1], dtype=X.dtype
            )
        else:
            components = self._learn_dictionary(X)
        lipschitz = lipschitz_constant(components)
        # In Python floats: a float32 alpha would make the comparison with
        # float64's largest value a float32 one (an overflow warning).
        threshold = float(self.alpha) / float(lipschitz) if lipschitz > 0 else np.inf
        largest = float(np.finfo(components.dtype).max)
        if not (np.isfinite(lipschitz) and lipschitz > 0 and threshold < largest):
            raise ValueError(
                f"the dictionary's scale is out of range: ||D||_2^2 = {lipschitz:.3g} "
                f"and alpha / ||D||_2^2 = {threshold:.3g} in "
                f"{components.dtype}; rescale the dictionary (e.g. unit-norm atoms)."
            )
        self.components_ = components
        self.n_components_ = components.shape[0]
        self.lipschitz_ = lipschitz

    def _learn_dictionary(self, X):
        if sp.issparse(X):
            X = X.toarray()
        n_components = X.shape[1] if self.n_components is None else self.n_components
        learner = MiniBatchDictionaryLearning(
            n_components=n_components,
            alpha=self.alpha,
            batch_size=min(256, X.shape[0]),
            # Coordinate descent codes the mini-batches 7x faster than the
            # default LARS, to the same final Lasso cost (doc/benchmarks).
            fit_algorithm="cd",
            random_state=self.random_state,
        )
        with warnings.catch_warnings():
            # A few samples or constant data make the learner warn; the atoms
            # are repaired below either way.
            warnings.simplefilter("ignore", ConvergenceWarning)
            learner.fit(X)
        components = np.array(learner.components_, dtype=X.dtype, order="C")
        norms = np.linalg.norm(components, axis=1)
        dead = norms <= np.sqrt(np.finfo(X.dtype).eps)
        if dead.any():
            # Unused atoms come back as zeros; a random direction keeps every
            # atom usable and the step size defined.
            rng = check_random_state(self.random_state)
            components[dead] = rng.standard_normal((dead.sum(), X.shape[1]))
            norms = np.linalg.norm(components, axis=1)
        components /= norms[:, None]
        return components

    def _fit_coder(self, X, y):
        """Train the coder itself (nothing to do for classical solvers)."""

    # ------------------------------------------------------------ transform
    def transform(self, X):
        """Encode `X` as sparse codes over the dictionary.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Signals to encode. Sparse input is densified one chunk of rows at a
            time.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
            Codes ``Z`` with ``X ≈ Z @ components_``, in the dtype of `X`
            (float32 stays float32).
        """
        if self._needs_fit():
            check_is_fitted(self)
        dask_array = sys.modules.get("dask.array")
        if dask_array is not None and isinstance(X, dask_array.Array):
            return self._transform_dask(X)
        # alpha, n_layers, tol... are read here too: set_params after fit must
        # not slip an invalid value (e.g. alpha=nan) past the checks of `fit`.
        self._validate_params()
        X = validate_signals(
            self, X, reset=False, accept_sparse="csr", dtype=FLOAT_DTYPES
        )
        return self._ready(X.dtype, X.shape[1])._transform(X)

    def _transform_dask(self, X):
        """A lazy dask array of codes: one task per block of rows, whose shape
        and chunks are the codes' (the features are gathered in one block)."""
        dtype = X.dtype if X.dtype in FLOAT_DTYPES else np.dtype(np.float64)
        # Resolved once, not per block: a coder that needs no fit would
        # otherwise validate its dictionary in every task.
        coder = self._ready(dtype, X.shape[1])
        n_components = coder.n_components_
        X = X.rechunk({1: -1})
        return X.map_blocks(
            coder.transform,
            dtype=dtype,
            chunks=(X.chunks[0], (n_components,)),
            meta=np.empty((0, n_components), dtype=dtype),
        )

    def _needs_fit(self):
        """Whether `transform` needs `fit` first (False for a coder that only
        needs its given dictionary, as :class:`~sklearn.decomposition.SparseCoder`)."""
        return True

    def _ready(self, dtype, n_features):
        """The fitted coder: self, or for a coder that needs no fit, a fitted
        copy (the estimator itself is left unfitted)."""
        if hasattr(self, "components_") or self._needs_fit():
            check_is_fitted(self)
            return self
        coder = clone(self)
        coder._fit_dictionary(np.empty((0, n_features), dtype=dtype))
        return coder

    def _transform(self, X):
        dictionary = self.components_.astype(X.dtype, copy=False)
        start = time.perf_counter()
        operators = self._encode_operators(dictionary)
        slices = _chunk_slices(X.shape[0], dictionary.shape[0])
        codes = np.empty((X.shape[0], dictionary.shape[0]), dtype=X.dtype)
        n_unconverged = 0

        def encode_rows(rows):
            # In this process: the codes go straight into the output (a
            # coder that cannot, or a padded chunk, returns them to copy).
            out = codes[rows]
            chunk, unconverged = _encode_chunk(
                self, X[rows], dictionary, operators, out=out
            )
            if chunk is not out:
                out[...] = chunk
            return unconverged

        n_jobs = min(effective_n_jobs(self.n_jobs), len(slices))
        if n_jobs == 1:
            n_unconverged = sum(encode_rows(rows) for rows in slices)
        elif isinstance(get_active_backend(prefer="threads")[0], ThreadingBackend):
            # Threads, as joblib's default backend would run them, for less.
            lock = threading.Lock()

            def task(rows):
                nonlocal n_unconverged
                unconverged = encode_rows(rows)
                with lock:
                    n_unconverged += unconverged

            with one_blas_thread():
                _run_in_threads(
                    [lambda rows=rows: task(rows) for rows in slices], n_jobs
                )
        else:
            # One BLAS thread per worker: the workers already fill the cores.
            # Under `joblib.parallel_config(backend="dask")` the configured
            # backend wins over `prefer`, so the chunks run on the cluster.
            # Each task gets its own rows (a view of dense X), not all of X: a
            # Dask backend ships the arguments of every task to its worker.
            chunks = (X[rows] for rows in slices)
            with one_blas_thread():
                results = Parallel(
                    n_jobs=n_jobs, prefer="threads", return_as="generator"
                )(
                    delayed(_encode_chunk)(self, chunk, dictionary, operators)
                    for chunk in chunks
                )
                # Written as they come: memory holds `codes` and a few
                # chunks, never a second copy of the output.
                for rows, (chunk, unconverged) in zip(slices, results, strict=True):
                    codes[rows] = chunk
                    n_unconverged += unconverged
        if self.verbose:
            print(
                f"[{type(self).__name__}] encoded {X.shape[0]} samples in "
                f"{len(slices)} chunk(s), {time.perf_counter() - start:.3f} s"
                + (f", {n_unconverged} not converged" if n_unconverged else "")
            )
        if n_unconverged:
            warnings.warn(
                f"{n_unconverged} of {X.shape[0]} samples did not reach the "
                f"duality-gap tolerance in n_layers={self.n_layers} iterations; "
                "increase n_layers or tol.",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
        return codes

    def _encode(self, X, dictionary):  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode_operators(self, dictionary):
        """What `_encode` derives from the dictionary alone, computed once per
        `transform` and passed to every chunk's ``_encode(..., operators=)``
        (None: nothing, and `_encode` is called without it)."""
        return None

    # --------------------------------------------------------------- others
    def inverse_transform(self, X):
        """Reconstruct signals from codes: ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Reconstructed signals, in the dtype of the codes.
        """
        if self._needs_fit():
            check_is_fitted(self)
        codes = check_array(X, dtype=FLOAT_DTYPES, input_name="X")
        if not hasattr(self, "components_"):
            fitted = self._ready(codes.dtype, np.shape(self.dictionary)[1])
            return fitted.inverse_transform(codes)
        if codes.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {codes.shape[1]} components, but {type(self).__name__} "
                f"has {self.n_components_} atoms; inverse_transform expects codes "
                "of shape (n_samples, n_components)."
            )
        with np.errstate(over="ignore", invalid="ignore"):
            signals = codes @ self.components_.astype(codes.dtype, copy=False)
        if not np.isfinite(signals).all():
            raise ValueError(
                f"the codes are too large: their reconstruction X @ components_ "
                f"overflows {signals.dtype}; rescale the codes."
            )
        return signals

    def score(self, X, y=None):
        """Minus the mean Lasso cost of the codes of `X` (higher is better).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Signals.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            ``-mean(0.5 * ||x - z D||^2 + alpha * ||z||_1)``.
        """
        if self._needs_fit():
            check_is_fitted(self)
        self._validate_params()
        X = validate_signals(
            self, X, reset=False, accept_sparse="csr", dtype=FLOAT_DTYPES
        )
        coder = self._ready(X.dtype, X.shape[1])
        codes = coder._transform(X)
        X = X.toarray() if sp.issparse(X) else X
        cost = per_sample_cost(
            X.astype(np.float64),
            codes.astype(np.float64),
            coder.components_.astype(np.float64),
            self.alpha,
        )
        return -float(cost.mean())

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.requires_fit = self._needs_fit()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
