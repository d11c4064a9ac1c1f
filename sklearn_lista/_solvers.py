"""ISTA and FISTA workers: validation-free functions on arrays.

The estimators (:mod:`sklearn_lista._coders.classical`) validate once and call
:func:`iterative_thresholding` per chunk of rows; the networks reuse the
density-driven products (:func:`iterate_matmul`) and FISTA's momentums.
"""

import math

import numpy as np

from ._kernels import (
    count_beyond_threshold,
    fista_restart_step,
    fista_step,
    ista_step,
    polish_rows,
    sparse_matmul,
    sparse_transpose_matmul,
    thresholding_rows,
)
from ._lasso import duality_gaps, solver_operators

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

# Support polishing (with `tol`): a row whose support has not changed for this
# many iterations is replaced by the exact solution on that support if it
# meets the tolerance (then retried after 2x, 4x... unchanged iterations).
POLISH_AFTER = 1

# On the dense path (many non-zeros per sample: corrections are needed, and
# one attempt costs many iterations), polishing happens at the gap checks.
# An unconverged sample first tries at this iteration, and after a rejection
# at the first check past twice the iteration. Measured at density 1/4
# (K=100, P=64, FISTA with restart): 19% of the samples polish at iteration
# 10, 72% at 15 and 95% at 20, whether or not their signs changed in the
# last iteration; one attempt on every sample at 15 cost as much as 29 dense
# iterations (on a loaded machine), and of first attempts at 15, 20, 25, 30
# (then every 5 or 10 iterations), 20 then every 10 was the fastest
# (0.71x spams.lasso, against 1.85x unpolished; N = 5 000).
DENSE_POLISH_START = 20
# ... if its relative gap is still above POLISH_FAR * tol: closer, a few more
# iterations are cheaper than an attempt (and a loose `tol` costs no more
# than unpolished).
POLISH_FAR = 100
# A sample that meets `tol` at a dense gap check tries if its relative gap is
# below this (its support is then very likely the solution's).
POLISH_GAP = 1e-4

# FISTA with restart and polishing takes plain ISTA steps for up to this many
# row-wise iterations, then FISTA steps for the samples still running (whose
# support does not settle). On the row-wise path the iterate is sparse and
# its support nearly found: polishing, not momentum, finishes a sample, and
# an ISTA step costs less. Measured at density 1/20 (K=100, P=64, tol=1e-6):
# both polish after ~3.8 iterations on average, FISTA's row costing 1.6x.
ISTA_ROWS_BUDGET = 100

# With polishing, the row-wise ISTA steps are this many times 1/L long: the
# iterates only have to find the support (polishing solves it), and
# forward-backward splitting converges for any step below 2/L; beyond 2/L
# some signals diverge (measured in doc/benchmarks/peers.rst).
ISTA_POLISH_STEP = 1.9

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


def polishes(tol, polish):
    """Whether :func:`iterative_thresholding` polishes (its `tol` path only):
    what its `operators` must have been computed for."""
    return tol is not None and polish


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
    polish=True,
    verbose=0,
    operators=None,
    out=None,
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
        gradient step (O'Donoghue & Candes' gradient restart). With `tol`
        and `polish`, the row-wise path then takes ISTA steps for up to
        ``ISTA_ROWS_BUDGET`` iterations before FISTA steps (see there).
    polish : bool
        With `tol`, support polishing: the exact solution on the iterate's
        support and signs (``|S| x |S|`` Cholesky solves, with a few
        active-set corrections: :func:`~sklearn_lista._kernels.polish.polish_support`)
        replaces the iterate if its duality gap meets the tolerance; it is
        then the Lasso solution to rounding. On the row-wise path a row tries
        once its support has not changed for ``POLISH_AFTER`` iterations
        (again after 2x, 4x... as many); on the dense path, at the gap checks
        from iteration ``DENSE_POLISH_START`` (after a rejection, from twice
        the iteration) while its relative gap is above ``POLISH_FAR * tol``.
        A sample that meets the tolerance unpolished tries once (on the dense
        path, if its relative gap is below ``POLISH_GAP``). The row-wise ISTA
        steps are then ``ISTA_POLISH_STEP / lipschitz`` long. A rejected
        attempt changes nothing: the iterations go on. Ignored when `tol` is
        None.
    path : {"auto", "dense", "sparse"}
        ``"auto"`` runs dense iterations until the fraction of non-zeros of
        the iterate falls below ``ROWWISE_DENSITY_THRESHOLD``, then the
        row-wise sparse iterations; the other two force one path (tests,
        benchmarks).
    verbose : int
    operators : tuple, default=None
        :func:`~sklearn_lista._lasso.solver_operators` of `dictionary`,
        `lipschitz` and `polish` (with `tol`), if already computed: the
        chunks of one transform share them.
    out : ndarray of shape (n_samples, n_components), default=None
        C-contiguous, in the dtype of `X`: where the codes are written (and
        returned), e.g. a chunk's rows of the output of `transform`.

    Returns
    -------
    codes : ndarray of shape (n_samples, n_components)
    n_unconverged : int
        Samples still above the tolerance after `n_iter` iterations (0 when
        `tol` is None).
    """
    polishing = polishes(tol, polish)
    if operators is None:
        operators = solver_operators(dictionary, lipschitz, polishing)
    # A NumPy float32 alpha would compute float64 thresholds in float32.
    alpha = float(alpha)
    state = _WorkingSet(
        X, dictionary, alpha, lipschitz, positive, accelerated, restart, operators, out
    )
    if polishing:
        state.gram = operators[2]
    rowwise = ROWWISE_DENSITY_THRESHOLD.get(X.dtype, 0.1)
    # z_0 = 0, so the first product is zero and the first iterate is
    # st(offset): its density, known beforehand, picks the path of the first
    # layers (the row-wise path then runs all the remaining ones).
    density = state.first_density()
    it = 0
    while it < n_iter and (path == "dense" or (path == "auto" and density >= rowwise)):
        density = state.dense_step(it, n_iter)
        it += 1
        if tol is None:
            continue
        if it % GAP_CHECK_EVERY == 0 or it == n_iter:
            density = state.retire_converged(tol, it, verbose)
            if state.done:
                return state.result(), 0
    if it < n_iter:
        n_unconverged = state.run_rows(it, n_iter, tol, verbose)
    else:
        # All were checked at it == n_iter (none if tol is None).
        n_unconverged = 0 if tol is None else state.active.size
    return state.result(), n_unconverged


class _WorkingSet:
    """The samples still iterating, their iterates, and the finished codes.

    The dense phase compacts it as samples converge (fancy indexing returns
    C-contiguous copies), so converged samples stop costing work.
    """

    def __init__(
        self,
        X,
        dictionary,
        alpha,
        lipschitz,
        positive,
        accelerated,
        restart,
        operators,
        out=None,
    ):
        dtype = X.dtype
        self.X_active, self.dictionary, self.alpha = X, dictionary, alpha
        self.lipschitz, self.positive = lipschitz, positive
        self.accelerated = accelerated
        self.restart = bool(accelerated and restart)
        self.step_matrix, input_weight, _ = operators
        self.offset = X @ input_weight
        self.threshold = dtype.type(alpha / lipschitz)
        if out is None:
            # Lazily zeroed: pages the row-wise path never reads cost nothing.
            self.codes = np.zeros((X.shape[0], dictionary.shape[0]), dtype=dtype)
        else:
            # z_0 = 0: the dense FISTA restart test reads the previous iterate.
            out.fill(0)
            self.codes = out
        # The finished codes go to `out` once samples converge (the working
        # set is then compacted copies): the first retirement writes its
        # rows in place, all samples still being active.
        self.out = out
        self.product_buffer = np.empty_like(self.codes)
        # (np.zeros, not zeros_like, which writes every page: the row-wise
        # path from z_0 = 0 never reads it.)
        self.extrapolated = (
            np.zeros(self.codes.shape, dtype=dtype) if accelerated else self.codes
        )
        self.t_state = np.ones(X.shape[0])  # FISTA's t_k per sample (restart)
        self.t_common = 1.0
        self.active = np.arange(X.shape[0])
        self.finished = None  # codes of all samples, once some have converged
        self.done = False
        self.gram = None  # float64 D D^T once polishing is enabled
        # Dense path: the iteration of each sample's next polishing attempt.
        self.next_polish = np.full(X.shape[0], DENSE_POLISH_START)

    @property
    def polishing(self):
        return self.gram is not None

    def polish(self, tol, candidates):
        """Try support polishing on the `candidates`; returns which were
        accepted (their codes are then the polished ones)."""
        accepted = np.zeros(self.codes.shape[0], dtype=bool)
        if not candidates.any():
            return accepted
        nnz = np.count_nonzero(self.codes, axis=1)
        eligible = candidates & (nnz > 0) & (nnz <= self.dictionary.shape[1])
        rows = np.flatnonzero(eligible)
        if rows.size:
            polish_rows(
                self.X_active,
                self.dictionary,
                self.gram,
                self.offset,
                self.codes,
                rows,
                float(self.alpha),
                float(self.lipschitz),
                bool(self.positive),
                float(tol),
                accepted,
            )
        return accepted

    def first_density(self):
        # Estimated on the first rows: counting them all costs a pass.
        head = self.offset[:DENSITY_SAMPLE_ROWS]
        nnz = count_beyond_threshold(head, self.threshold, self.positive)
        return nnz / max(head.size, 1)

    def dense_step(self, it, n_iter):
        """One whole-array iteration; returns the new iterate's density."""
        codes, extrapolated = self.codes, self.extrapolated
        product = self.product_buffer[: codes.shape[0]]
        if it == 0:
            product.fill(0)
        else:
            np.dot(extrapolated, self.step_matrix, out=product)
        args = (product, self.offset, codes)
        if self.restart:
            nnz = fista_restart_step(
                *args, extrapolated, self.threshold, self.t_state, self.positive
            )
        elif self.accelerated:
            if not hasattr(self, "momentums"):
                self.momentums = fista_momentums(n_iter)
            momentum = codes.dtype.type(self.momentums[it])
            nnz = fista_step(
                *args, extrapolated, self.threshold, momentum, self.positive
            )
            t = self.t_common
            self.t_common = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        else:
            nnz = ista_step(*args, self.threshold, self.positive)
        return nnz / max(codes.size, 1)

    def retire_converged(self, tol, it, verbose):
        """Move the samples that meet `tol`, unpolished or polished, out of
        the working set; returns the density of what is left."""
        gaps, costs = duality_gaps(
            self.X_active, self.codes, self.dictionary, self.alpha, self.positive
        )
        converged = gaps <= tol * costs
        polished = np.zeros_like(converged)
        if self.polishing:
            # Converged samples whose gap says that their support is likely
            # the solution's: exact codes for a solve. Unconverged ones, on
            # their schedule, if still far from `tol` (those near it get
            # there in a few iterations, cheaper than an attempt).
            candidates = converged & (gaps <= POLISH_GAP * costs)
            candidates |= (
                ~converged
                & (self.next_polish <= it)
                & (gaps > POLISH_FAR * tol * costs)
            )
            polished = self.polish(tol, candidates)
            # A rejected sample waits twice as long for its next attempt.
            retry = candidates & ~polished & ~converged
            self.next_polish[retry] = 2 * it
        converged |= polished
        if verbose >= 2:
            print(
                f"  iteration {it}: {converged.sum()} of {self.active.size} "
                f"active samples converged ({polished.sum()} polished), max "
                "relative gap "
                f"{np.max(gaps / np.maximum(costs, np.finfo(float).tiny)):.2e}"
            )
        if converged.any():
            if self.finished is None:
                self.finished = (
                    np.empty_like(self.codes) if self.out is None else self.out
                )
            self.finished[self.active[converged]] = self.codes[converged]
            keep = ~converged
            self.active = self.active[keep]
            self.done = self.active.size == 0
            self.X_active = self.X_active[keep]
            self.offset = self.offset[keep]
            self.codes = self.codes[keep]
            self.extrapolated = (
                self.extrapolated[keep] if self.accelerated else self.codes
            )
            self.t_state = self.t_state[keep]
            self.next_polish = self.next_polish[keep]
        if self.done:
            return 0.0
        return np.count_nonzero(self.extrapolated) / self.extrapolated.size

    def run_rows(self, start, n_iter, tol, verbose):
        """Iterations `start` to `n_iter` row by row; returns the number of
        samples above the tolerance at the end."""
        if not self.restart:
            self.t_state[:] = self.t_common
        unconverged = np.zeros(self.codes.shape[0], dtype=bool)
        accelerated, restart = self.accelerated, self.restart
        end = n_iter
        if self.polishing and restart:
            # FISTA with restart and polishing: ISTA steps first (see
            # ISTA_ROWS_BUDGET), FISTA again for the samples still running.
            accelerated = restart = False
            end = min(n_iter, start + ISTA_ROWS_BUDGET)
        n_unconverged = self._rows(
            self.X_active,
            self.offset,
            self.codes,
            self.extrapolated,
            self.t_state,
            accelerated,
            restart,
            start,
            end,
            tol,
            unconverged,
        )
        if end < n_iter and n_unconverged:
            rows = np.flatnonzero(unconverged)
            codes = self.codes[rows]
            still = np.zeros(rows.size, dtype=bool)
            # From the iterate, momentum reset (y = z, t = 1).
            n_unconverged = self._rows(
                self.X_active[rows],
                self.offset[rows],
                codes,
                codes.copy(),
                np.ones(rows.size),
                True,
                True,
                end,
                n_iter,
                tol,
                still,
            )
            self.codes[rows] = codes
        if verbose >= 2 and tol is not None:
            print(
                f"  iterations {start + 1} to {n_iter} row by row: "
                f"{self.active.size - n_unconverged} of {self.active.size} active "
                "samples converged"
            )
        return n_unconverged

    def _rows(
        self,
        X,
        offset,
        codes,
        extrapolated,
        t_state,
        accelerated,
        restart,
        start,
        end,
        tol,
        unconverged,
    ):
        return thresholding_rows(
            X,
            self.dictionary,
            offset,
            self.step_matrix,
            codes,
            extrapolated,
            t_state,
            self.threshold,
            float(self.alpha),
            float(self.lipschitz),
            bool(self.positive),
            bool(accelerated),
            bool(restart),
            start,
            end,
            -1.0 if tol is None else float(tol),
            GAP_CHECK_EVERY,
            unconverged,
            self.gram,
            0 if self.gram is None else POLISH_AFTER,
            ISTA_POLISH_STEP,
        )

    def result(self):
        if self.finished is None:
            return self.codes
        self.finished[self.active] = self.codes
        return self.finished
