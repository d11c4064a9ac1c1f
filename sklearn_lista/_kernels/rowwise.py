"""The row-wise ISTA/FISTA solver for sparse iterates.

Once the iterate is sparse, each row runs all its remaining iterations while
its data sit in L1 (offset, iterate, a list of its non-zeros). A whole-array
step streams three (n, K) arrays through memory every iteration, which costs
more than the arithmetic on a handful of non-zeros; row by row, memory
traffic is paid once per row.

A sparse row is a tuple ``(indices, values, dense)`` and a count ``n``: its
non-zeros are ``values[:n]`` at ``indices[:n]``, and ``dense`` is a scratch
copy of the row that is zero outside them. The pieces of an iteration are
inline helpers (numba pastes them into :func:`thresholding_rows`).

Between full products a row iterates on a *block*: the at most ``BLOCK``
atoms near or beyond the threshold, while a bound proves that the others
stay zero (see :func:`thresholding_rows`). Its vectors (``_block_*``
helpers) are slices of one small array at fixed offsets.
"""

import numpy as np
from numba import njit

from ._jit import INLINE, JIT_ROWS
from .gap import dual_norm_of, row_gap_converged
from .polish import (
    JIT_POLISH,
    KKT_GAP_TOL,
    KKT_RTOL,
    kkt_holds_on_support,
    polish_support,
)
from .prox import beyond, shrink_beyond
from .steps import next_t

# Active-set corrections of a polishing attempt (see polish_support): at
# density 1/4 the support after 20 FISTA iterations is exact for 5% of the
# samples, and for 95% after up to 4 corrections (measured, K=100, P=64).
POLISH_ROUNDS = 5


@njit(**INLINE)
def _sparse_row(n_components, dtype):
    """An empty sparse row."""
    return (
        np.empty(n_components, dtype=np.int64),
        np.empty(n_components, dtype=dtype),
        np.zeros(n_components, dtype=dtype),
    )


@njit(**INLINE)
def _load_row(row, sparse):
    """List the non-zeros of `row` in the empty sparse row; returns their count."""
    indices, values, dense = sparse
    count = 0
    for j in range(row.shape[0]):
        if row[j] != 0:
            indices[count] = j
            values[count] = row[j]
            dense[j] = row[j]
            count += 1
    return count


@njit(**INLINE)
def _clear(sparse, count):
    """Zero the scratch copy (the list is then empty)."""
    indices, _, dense = sparse
    for s in range(count):
        dense[indices[s]] = 0.0


@njit(**INLINE)
def _store_row(row, sparse, count):
    """Write the sparse row to `row` (zero elsewhere) and clear it."""
    indices, values, _ = sparse
    for j in range(row.shape[0]):
        row[j] = 0.0
    for s in range(count):
        row[indices[s]] = values[s]
    _clear(sparse, count)


@njit(**INLINE)
def _append(sparse, count, j, value):
    """Add ``value`` at `j` to the list if non-zero (``dense[j]`` must be zero);
    returns the new count. Branch-free: see ``_jit.INLINE``."""
    indices, values, dense = sparse
    indices[count] = j
    values[count] = value
    dense[j] = value
    return count + (value != 0)


@njit(**INLINE)
def _copy(target, n_target, source, n_source):
    """``target <- source``; returns the new count. (Copying a few entries:
    swapping the arrays would cost reference counting in the loop.)"""
    _clear(target, n_target)
    target_idx, target_val, target_dense = target
    source_idx, source_val, _ = source
    for s in range(n_source):
        j = source_idx[s]
        target_idx[s] = j
        target_val[s] = source_val[s]
        target_dense[j] = source_val[s]
    return n_source


@njit(**INLINE)
def _affine_product(acc, offset, point, count, step_matrix):
    """``acc = offset + p @ step_matrix`` over the `count` non-zeros of ``p``.

    The first pass adds the ``count % 4`` odd rows to the offset, each further
    pass four rows of `step_matrix` (few loads and stores of `acc`; one pass in
    all for up to three non-zeros): measured faster than one row per pass.
    (The last pass reads its length from `offset` so that `offset` is used
    after the branches: see ``_jit.INLINE``.)
    """
    p_idx, p_val, _ = point
    n = acc.shape[0]
    s = count % 4
    if s == 0:
        for col in range(n):
            acc[col] = offset[col]
    elif s == 1:
        j0, v0 = p_idx[0], p_val[0]
        for col in range(n):
            acc[col] = offset[col] + v0 * step_matrix[j0, col]
    elif s == 2:
        j0, j1, v0, v1 = p_idx[0], p_idx[1], p_val[0], p_val[1]
        for col in range(n):
            acc[col] = (
                offset[col] + v0 * step_matrix[j0, col] + v1 * step_matrix[j1, col]
            )
    else:
        j0, j1, j2 = p_idx[0], p_idx[1], p_idx[2]
        v0, v1, v2 = p_val[0], p_val[1], p_val[2]
        for col in range(n):
            acc[col] = (
                offset[col]
                + v0 * step_matrix[j0, col]
                + v1 * step_matrix[j1, col]
                + v2 * step_matrix[j2, col]
            )
    while s < count:
        j0, j1, j2, j3 = p_idx[s], p_idx[s + 1], p_idx[s + 2], p_idx[s + 3]
        v0, v1, v2, v3 = p_val[s], p_val[s + 1], p_val[s + 2], p_val[s + 3]
        for col in range(offset.shape[0]):
            acc[col] = (
                acc[col]
                + v0 * step_matrix[j0, col]
                + v1 * step_matrix[j1, col]
                + v2 * step_matrix[j2, col]
                + v3 * step_matrix[j3, col]
            )
        s += 4


@njit(**INLINE)
def _count_beyond(acc, threshold, positive):
    """How many entries of `acc` are beyond the threshold (vectorised).

    float32 counts in 32 bits: a 64-bit count would widen each vector of
    comparisons and halve the lanes (AVX2: the float32 count 3x slower), while
    float64 keeps its 64-bit count (a 32-bit one measured 6-9% slower there).
    The width is a compile-time constant, so one of the loops is dead code.
    """
    n = acc.shape[0]
    narrow = acc.itemsize == 4
    count = 0
    for _ in range(1 if narrow else 0):
        narrow_count = np.int32(0)
        for j in range(n if positive else 0):
            narrow_count = np.int32(narrow_count + (acc[j] > threshold))
        for j in range(0 if positive else n):
            narrow_count = np.int32(narrow_count + (abs(acc[j]) > threshold))
        count = np.int64(narrow_count)
    for _ in range(0 if narrow else 1):
        for j in range(n if positive else 0):
            count += acc[j] > threshold
        for j in range(0 if positive else n):
            count += abs(acc[j]) > threshold
    return count


@njit(**INLINE)
def _support(acc, threshold, positive, previous, n_previous, new):
    """List the entries of `acc` beyond the threshold in `new`; returns their
    count and whether they are the support of `previous`.

    Once identified the support rarely changes: a vectorised count and a look
    at the `previous` support usually spare the scan, which is branch-free (a
    branch per entry would be mispredicted at every change). Each loop is
    written once per sign (so that LLVM vectorises the count), and a loop that
    is not needed makes no trip instead of sitting in a branch (see
    ``_jit.INLINE``): measured 10-20% faster than one loop on ``beyond``.
    """
    previous_idx = previous[0]
    indices = new[0]
    n = acc.shape[0]
    count = _count_beyond(acc, threshold, positive)
    same = count == n_previous
    for s in range(n_previous if same else 0):
        j = previous_idx[s]
        indices[s] = j
        same &= beyond(acc[j], threshold, positive)
    n_scan = 0 if same else n
    if not same:
        count = 0
    for j in range(n_scan if positive else 0):
        indices[count] = j
        count += acc[j] > threshold
    for j in range(0 if positive else n_scan):
        indices[count] = j
        count += abs(acc[j]) > threshold
    return count, same


@njit(**INLINE)
def _threshold(acc, threshold, new, count):
    """Values of ``st(acc)`` at the listed support of `new` (not its copy)."""
    indices, values, _ = new
    for s in range(count):
        values[s] = shrink_beyond(acc[indices[s]], threshold)


@njit(**INLINE)
def _fill(sparse, count):
    """Write the listed values into the (zero) scratch copy."""
    indices, values, dense = sparse
    for s in range(count):
        dense[indices[s]] = values[s]


@njit(**INLINE)
def _points_against_step(y, z, n_z, new, n_new, restart):
    """FISTA's gradient restart test ``(y - new) . (new - z) > 0``, over
    ``supp(new) U supp(z)`` (the other terms are zero); False unless
    `restart` (then the loops make no trip: see ``_jit.INLINE``)."""
    y_dense = y[2]
    z_idx, _, z_dense = z
    new_idx, _, new_dense = new
    direction = 0.0
    for s in range(n_new if restart else 0):
        j = new_idx[s]
        direction += (np.float64(y_dense[j]) - new_dense[j]) * (
            np.float64(new_dense[j]) - z_dense[j]
        )
    for s in range(n_z if restart else 0):
        j = z_idx[s]
        if new_dense[j] == 0:
            direction += np.float64(y_dense[j]) * (-np.float64(z_dense[j]))
    return direction > 0


@njit(**INLINE)
def _extrapolate(y, n_y, z, n_z, new, n_new, momentum):
    """``y <- new + momentum * (new - z)`` on ``supp(new) U supp(z)``;
    returns the new count of ``y``."""
    z_idx, _, z_dense = z
    new_idx, _, new_dense = new
    _clear(y, n_y)
    n_y = 0
    for s in range(n_new):
        j = new_idx[s]
        n_y = _append(y, n_y, j, new_dense[j] + momentum * (new_dense[j] - z_dense[j]))
    for s in range(n_z):
        j = z_idx[s]
        if new_dense[j] == 0:
            n_y = _append(y, n_y, j, momentum * (new_dense[j] - z_dense[j]))
    return n_y


@njit(**INLINE)
def _fista_update(y, n_y, z, n_z, new, n_new, steps, restart, momentum_buffer):
    """Momentum (reset on restart) and extrapolated point of FISTA, for the
    `steps` ``(t_next, momentum)`` of :func:`_momentum_step`; returns
    ``(t_next, n_y)``. `momentum_buffer` casts the momentum to the dtype."""
    _fill(new, n_new)
    t_next, momentum = steps
    restarted = _points_against_step(y, z, n_z, new, n_new, restart)
    momentum_buffer[0] = 0.0 if restarted else momentum
    t_next = 1.0 if restarted else t_next
    n_y = _extrapolate(y, n_y, z, n_z, new, n_new, momentum_buffer[0])
    _clear(new, n_new)
    return t_next, n_y


@njit(**INLINE)
def _extend_table(table, filled):
    """Append ``t_{k+1}`` (and ``(t_k - 1) / t_{k+1}``) to the `filled`
    entries of FISTA's table; returns the new count."""
    t_table, momentum_table = table
    t = t_table[filled - 1]
    t_table[filled] = next_t(t)
    momentum_table[filled - 1] = (t - 1.0) / t_table[filled]
    return filled + 1


@njit(**INLINE)
def _table_index(table, filled, t):
    """``(k, tabled, filled)``: the first `k` with ``t_k >= t`` in FISTA's
    table (extended as far), whether ``t`` is that ``t_k`` exactly, and the
    new count of filled entries."""
    t_table = table[0]
    k = 0
    while k + 2 < t_table.shape[0] and t_table[k] < t:
        k += 1
        while filled < k + 2:
            filled = _extend_table(table, filled)
    return k, t_table[k] == t, filled


@njit(**INLINE)
def _momentum_at(table, filled, k, tabled, t):
    """``(steps, filled, tabled)``: FISTA's :func:`_momentum_step` at ``t``
    (`k`-th of the table if `tabled`), the table extended as far."""
    n_table = table[0].shape[0]
    tabled &= k + 2 < n_table
    if tabled and filled < k + 2:
        filled = _extend_table(table, filled)
    return _momentum_step(table, k, tabled, t), filled, tabled


@njit(**INLINE)
def _after_momentum(t, k, tabled):
    """``(k, tabled)`` after the step to ``t`` (``t = 1``: a restart)."""
    restarted = t == 1.0
    return 0 if restarted else k + 1, tabled | restarted


@njit(**INLINE)
def _momentum_step(table, k, tabled, t):
    """``(t_next, (t - 1) / t_next)`` from ``t = t_k``: entry `k` of the
    table if `tabled`, else computed (the same operations: the same bits)."""
    t_table, momentum_table = table
    t_next = t_table[k + 1] if tabled else next_t(t)
    momentum = momentum_table[k] if tabled else (t - 1.0) / t_next
    return t_next, momentum


@njit(**INLINE)
def _converged(x, dictionary, z, n_z, acc, gap, work):
    """The gap check of ``z``, whose ``offset + z @ step_matrix`` is `acc`:
    the correlation ``(x - z D) D^T`` is then ``L * (acc - z)`` (no product).
    `gap` is ``(alpha, lipschitz, positive, tol)``."""
    alpha, lipschitz, positive, tol = gap
    n_features = x.shape[0]
    correlation = work[n_features:]
    z_dense = z[2]
    for j in range(acc.shape[0]):
        correlation[j] = lipschitz * (np.float64(acc[j]) - np.float64(z_dense[j]))
    return row_gap_converged(
        x, dictionary, z, n_z, correlation, alpha, positive, tol, work[:n_features]
    )


# The block regime (see thresholding_rows): at most BLOCK atoms, one float32
# AVX-512 vector, so that an iteration on them is a few vector operations.
BLOCK = 16
# Atoms beyond this fraction of the threshold at a full product join the
# block; the others keep a margin of (1 - BLOCK_FRACTION) * threshold. Lower,
# blocks overflow BLOCK; higher, the margin is used up sooner (the trade-off
# measured: doc/benchmarks/classical.rst).
BLOCK_FRACTION = 0.8
# The fewest block iterations that repay a block's set-up (listing its
# members, gathering its step matrix: about a full iteration's cost).
MIN_BLOCK_RUN = 4
# A block's vectors are slices of one array at these constant offsets: LLVM
# then knows that they do not overlap and vectorises the loops over their
# lanes (separate arrays might alias: scalar code, 2x slower).
_NEW, _Z, _Y, _P0, _OFFSET, _MATRIX = (BLOCK * s for s in range(6))
BLOCK_SIZE = _MATRIX + BLOCK * BLOCK


@njit(**INLINE)
def _off_diagonal_maxima(step_matrix, out):
    """``out[i] = max_{j != i} |step_matrix[i, j]|`` (float64)."""
    n = step_matrix.shape[0]
    for i in range(n):
        largest = 0.0
        for j in range(n):
            magnitude = abs(np.float64(step_matrix[i, j])) if j != i else 0.0
            largest = max(largest, magnitude)
        out[i] = largest


@njit(**INLINE)
def _block_members(acc, threshold, positive, point, z, members):
    """List in `members` the atoms of the block: beyond `threshold` in `acc`,
    or in the support of `point` or of `z` (sparse rows); returns their
    count (``members`` has room for all ``K``), more than ``BLOCK`` unlisted
    if the atoms beyond the threshold alone are too many (a vectorised
    count, before the scan)."""
    point_dense, z_dense = point[2], z[2]
    n = acc.shape[0]
    count = _count_beyond(acc, threshold, positive)
    n_scan = n if count <= BLOCK else 0
    count = 0 if count <= BLOCK else BLOCK + 1
    for j in range(n_scan):
        members[count] = j
        count += (
            beyond(acc[j], threshold, positive)
            | (point_dense[j] != 0)
            | (z_dense[j] != 0)
        )
    return count


@njit(**INLINE)
def _block_covers(
    acc, threshold, positive, point, n_point, z, n_z, members, n_block, is_member
):
    """Whether the kept block (its `n_block` members, flagged in `is_member`)
    holds every atom beyond `threshold` in `acc` and the supports of `point`
    and `z`: then it serves again without its set-up (a vectorised count and
    a look at the listed entries, no scan of ``K``)."""
    outside = _count_beyond(acc, threshold, positive)
    for a in range(n_block):
        outside -= beyond(acc[members[a]], threshold, positive)
    point_idx, z_idx = point[0], z[0]
    for s in range(n_point):
        outside += is_member[point_idx[s]] == 0
    for s in range(n_z):
        outside += is_member[z_idx[s]] == 0
    return outside == 0


@njit(**INLINE)
def _flag_members(is_member, members, n_block, flag):
    for a in range(n_block):
        is_member[members[a]] = flag


@njit(**INLINE)
def _block_start(lanes, members, n_block, offset, step_matrix, point, row_maxima):
    """Load the block's offset, step matrix and start point ``p0`` (zero
    beyond `n_block`); returns ``max_{i in block} row_maxima[i]``."""
    point_dense = point[2]
    # Zero beyond `n_block`: p0, the offset and the matrix's first `n_block`
    # rows (its other rows meet only zero lanes of p, and stale finite values
    # times zero are zero).
    for a in range(_P0, _MATRIX + BLOCK * n_block):
        lanes[a] = 0.0
    largest = 0.0
    for a in range(n_block):
        i = members[a]
        lanes[_OFFSET + a] = offset[i]
        lanes[_P0 + a] = point_dense[i]
        largest = max(largest, row_maxima[i])
        for b in range(n_block):
            lanes[_MATRIX + BLOCK * a + b] = step_matrix[i, members[b]]
    return largest


@njit(**INLINE)
def _block_load(lanes, at, members, n_block, sparse):
    """``lanes[at + a] = sparse[members[a]]`` (zero beyond `n_block`)."""
    dense = sparse[2]
    for a in range(BLOCK):
        lanes[at + a] = 0.0
    for a in range(n_block):
        lanes[at + a] = dense[members[a]]


@njit(**INLINE)
def _block_store(lanes, at, members, n_block, sparse, count):
    """The sparse row `sparse` (of `count` non-zeros) becomes the lanes at
    `at`; returns its new count."""
    _clear(sparse, count)
    count = 0
    for a in range(n_block):
        count = _append(sparse, count, members[a], lanes[at + a])
    return count


@njit(**INLINE)
def _block_distance(lanes, at):
    """``||p - p0||_1``, ``p`` the lanes at `at`."""
    total = lanes[_P0] - lanes[_P0]
    for a in range(BLOCK):
        total += abs(lanes[at + a] - lanes[_P0 + a])
    return total


@njit(**INLINE)
def _block_step(lanes, at, threshold, positive, scale, scaled):
    """``new = st(offset + p @ matrix)`` on the block's lanes, ``p`` the lanes
    at `at` (read before `new` is written: `at` may be ``_NEW``), after
    ISTA's longer step from ``z`` if `scaled`.

    The product is four independent sums (a chain of 16 dependent FMAs would
    be the iteration's latency) and the threshold is applied in the same
    loop, branch-free (``u - clip(u)`` is ``u -+ t`` beyond it, bit for bit).
    """
    p0, p1, p2, p3 = lanes[at], lanes[at + 1], lanes[at + 2], lanes[at + 3]
    p4, p5, p6, p7 = lanes[at + 4], lanes[at + 5], lanes[at + 6], lanes[at + 7]
    p8, p9, p10, p11 = lanes[at + 8], lanes[at + 9], lanes[at + 10], lanes[at + 11]
    p12, p13 = lanes[at + 12], lanes[at + 13]
    p14, p15 = lanes[at + 14], lanes[at + 15]
    zero = threshold - threshold
    for b in range(BLOCK):
        row = _MATRIX + b
        u = (
            (
                lanes[_OFFSET + b]
                + p0 * lanes[row]
                + p1 * lanes[row + BLOCK]
                + p2 * lanes[row + 2 * BLOCK]
                + p3 * lanes[row + 3 * BLOCK]
            )
            + (
                p4 * lanes[row + 4 * BLOCK]
                + p5 * lanes[row + 5 * BLOCK]
                + p6 * lanes[row + 6 * BLOCK]
                + p7 * lanes[row + 7 * BLOCK]
            )
        ) + (
            (
                p8 * lanes[row + 8 * BLOCK]
                + p9 * lanes[row + 9 * BLOCK]
                + p10 * lanes[row + 10 * BLOCK]
                + p11 * lanes[row + 11 * BLOCK]
            )
            + (
                p12 * lanes[row + 12 * BLOCK]
                + p13 * lanes[row + 13 * BLOCK]
                + p14 * lanes[row + 14 * BLOCK]
                + p15 * lanes[row + 15 * BLOCK]
            )
        )
        if scaled:
            u = lanes[_Z + b] + scale * (u - lanes[_Z + b])
        if positive:
            lanes[_NEW + b] = max(u - threshold, zero)
        else:
            lanes[_NEW + b] = u - min(max(u, -threshold), threshold)


@njit(**INLINE)
def _block_same_support(lanes, polishing):
    """Whether ``new`` has the support of ``z`` (True unless `polishing`:
    only polishing asks, and the test costs a third of an iteration)."""
    changed = False
    for b in range(BLOCK if polishing else 0):
        changed |= (lanes[_NEW + b] != 0) ^ (lanes[_Z + b] != 0)
    return not changed


@njit(**INLINE)
def _block_fista(lanes, steps, restart, momentum_buffer):
    """:func:`_fista_update` on the block's lanes (``z <- new`` too); returns
    ``t_next`` (1 on a restart)."""
    t_next, momentum = steps
    direction = 0.0
    for b in range(BLOCK if restart else 0):
        new = np.float64(lanes[_NEW + b])
        direction += (np.float64(lanes[_Y + b]) - new) * (new - lanes[_Z + b])
    restarted = direction > 0
    momentum_buffer[0] = 0.0 if restarted else momentum
    mu = momentum_buffer[0]
    for b in range(BLOCK):
        new = lanes[_NEW + b]
        lanes[_Y + b] = new + mu * (new - lanes[_Z + b])
        lanes[_Z + b] = new
    return 1.0 if restarted else t_next


@njit(**INLINE)
def _by_magnitude(indices, count, dense):
    """Sort ``indices[:count]`` by decreasing ``|dense[j]|`` (insertion sort:
    a few dozen entries)."""
    for s in range(1, count):
        j = indices[s]
        magnitude = abs(dense[j])
        position = s
        while position > 0 and abs(dense[indices[position - 1]]) < magnitude:
            indices[position] = indices[position - 1]
            position -= 1
        indices[position] = j


@njit(**JIT_POLISH)
def _polish(x, dictionary, gram, offset, z, n_z, scratch, gap):
    """Replace ``z`` by the exact solution found from its support and signs
    (:func:`~sklearn_lista._kernels.polish.polish_support`) if that meets the
    tolerance; returns ``(accepted, n_z)``.

    A function, not an inline helper: inlined at each of its call sites it
    made the first call of the row-wise solver compile for 21 s instead of
    9 s, for about 0.1 us of reference counting per call saved.
    `scratch` is from :func:`_polish_scratch`.
    """
    candidate, work, indices, signs, xd, solve_work = scratch
    z_idx, _, z_dense = z
    # x D^T from the offset x D^T / L: computing it afresh (K * P) would cost
    # more than a sparse row's iterations; the gap test below uses the same.
    lipschitz = gap[1]
    for j in range(offset.shape[0]):
        xd[j] = lipschitz * np.float64(offset[j])
    # float32: the offset's rounding (1e-7 of x D^T) can put the gap of the
    # exact solution above a tight tol (1e-6: 5 rows of 2 000 rejected at
    # every attempt, iterating to n_layers and returned unpolished). A
    # rejected row tries again from x D^T in float64: a second trip of this
    # loop (one body, so no more to compile).
    accepted = False
    for attempt in range(2 if offset.itemsize == 4 else 1):
        for j in range(xd.shape[0] if attempt == 1 else 0):
            total = 0.0
            for p in range(x.shape[0]):
                total += np.float64(x[p]) * np.float64(dictionary[j, p])
            xd[j] = total
        for s in range(n_z):
            indices[s] = z_idx[s]
        # Largest entries first: the small ones are the likeliest to leave in a
        # correction round, and the factor is recomputed from the first atom
        # that leaves (polishing at density 1/4 measured 1.1x faster).
        _by_magnitude(indices, n_z, z_dense)
        for s in range(n_z):
            signs[s] = 1.0 if z_dense[indices[s]] > 0 else -1.0
        alpha, _, positive, _ = gap
        size = polish_support(
            xd, gram, indices, signs, n_z, alpha, positive, POLISH_ROUNDS, solve_work
        )
        # An empty support: the candidate is z = 0, optimal iff ||x D^T|| <= alpha.
        empty = n_z == 0
        ok = size > 0 or empty
        n_candidate = max(size, 0)
        c_idx, c_val, c_dense = candidate
        rhs, correlation = solve_work[1], solve_work[2]
        for j in range(correlation.shape[0] if empty else 0):
            correlation[j] = xd[j]
        rounded = False
        for s in range(n_candidate):
            c_idx[s] = indices[s]
            c_val[s] = rhs[s]
            c_dense[indices[s]] = c_val[s]
            ok &= c_val[s] != 0  # not lost in the cast to float32
            rounded |= c_val[s] != rhs[s]
        # The gap of the candidate needs the correlations of its values: those
        # of the float64 solution (from polish_support) unless the cast to the
        # dtype rounded them (float32: recomputed, n * K).
        n_redo = n_candidate if rounded else 0
        for j in range(correlation.shape[0] if rounded else 0):
            correlation[j] = xd[j]
        for s in range(n_redo):
            value = np.float64(c_val[s])
            row = c_idx[s]
            for j in range(correlation.shape[0]):
                correlation[j] -= value * gram[row, j]
        alpha, _, positive, tol = gap
        # The KKT conditions (checked by polish_support off the support) imply
        # the gap for a `tol` not too tight: no residual to form. (Operators
        # that do not short-circuit, and loops of at most one trip, not `if`s:
        # see ``_jit.INLINE``.)
        kkt = kkt_holds_on_support(correlation, c_idx, signs, n_candidate, alpha)
        for _ in range(1 if empty else 0):
            kkt = dual_norm_of(correlation, positive) <= alpha * (1.0 + KKT_RTOL)
        accepted = ok & (not rounded) & (tol >= KKT_GAP_TOL) & kkt
        for _ in range(1 if ok and not accepted else 0):
            accepted = row_gap_converged(
                x,
                dictionary,
                candidate,
                n_candidate,
                correlation,
                alpha,
                positive,
                tol,
                work,
            )
        for _ in range(1 if accepted else 0):
            n_z = _copy(z, n_z, candidate, n_candidate)
        _clear(candidate, n_candidate)
        if accepted:
            break
    return accepted, n_z


@njit(**INLINE)
def _polish_scratch(n_components, n_features, dtype):
    """The `scratch` of :func:`_polish`."""
    return (
        (
            np.empty(n_components, dtype=np.int64),
            np.empty(n_components, dtype=dtype),
            np.zeros(n_components, dtype=dtype),
        ),
        np.empty(n_features, dtype=np.float64),
        np.empty(n_components, dtype=np.int64),
        np.empty(n_components, dtype=np.float64),
        np.empty(n_components, dtype=np.float64),
        (
            np.empty((n_features, n_features), dtype=np.float64),
            np.empty(n_features, dtype=np.float64),
            np.empty(n_components, dtype=np.float64),
            np.empty(n_components, dtype=np.float64),
            np.empty(n_features, dtype=np.float64),
        ),
    )


@njit(**JIT_POLISH)
def polish_rows(
    X,
    dictionary,
    gram,
    offset,
    codes,
    rows,
    alpha,
    lipschitz,
    positive,
    tol,
    accepted,
):
    """Support polishing of the whole-array iteration: for each listed row,
    replace ``codes[i]`` by the exact solution on its support and signs if
    that meets the relative duality gap `tol` (``accepted[i]`` says so).

    The same test as :func:`thresholding_rows` applies on its rows, so both
    paths accept the same polished codes. `gram` is ``D D^T`` in float64.
    """
    n_components = codes.shape[1]
    dtype = codes.dtype
    z = _sparse_row(n_components, dtype)
    scratch = _polish_scratch(n_components, X.shape[1], dtype)
    gap = (alpha, lipschitz, positive, tol)
    for r in range(rows.shape[0]):
        i = rows[r]
        n_z = _load_row(codes[i], z)
        done, n_z = _polish(X[i], dictionary, gram, offset[i], z, n_z, scratch, gap)
        accepted[i] = done
        _store_row(codes[i], z, n_z)
    return 0


# One kernel on purpose: the row loop carries each row's iterate, support and
# momentum through its iterations, gap checks and polishing; the pieces are
# the inline helpers above (helpers not written to numba's reference-counting
# rules cost 1.5-3x, see _jit.py).
@njit(**JIT_ROWS)
def thresholding_rows(
    X,
    dictionary,
    offset,
    step_matrix,
    codes,
    extrapolated,
    t_state,
    threshold,
    alpha,
    lipschitz,
    positive,
    accelerated,
    restart,
    start,
    n_iter,
    tol,
    check_every,
    unconverged,
    gram,
    polish_after,
    step_scale=1.0,
):
    """Iterations ``start .. n_iter - 1`` of ISTA/FISTA, one row at a time.

    A row's state is the list of its non-zeros (indices and values), rebuilt
    by each thresholding; a product costs ``nnz * K`` and the thresholding
    compares ``K`` entries, all in L1 cache: a row runs all its iterations
    before the next row is loaded. Rows are independent, so the result is
    the whole-array iteration's, to rounding.

    The block regime: after a full product ``acc = offset + p0 @ W`` at the
    point ``p0``, the block is the atoms with ``|acc|`` beyond
    ``BLOCK_FRACTION * threshold`` or in the support of ``p0`` or ``z``, if
    there are at most ``BLOCK``. Outside it, ``|acc_j(p)|`` at a later point
    ``p`` (zero outside the block too) differs from ``|acc_j(p0)|`` by at
    most ``||p - p0||_1 max_{i in block, j != i} |W_ij|``: while that (with
    a rounding allowance) stays below ``(1 - BLOCK_FRACTION) * threshold``,
    those atoms are zero after the threshold, and an iteration is the
    product on the block's ``BLOCK`` lanes (a few vector instructions)
    instead of ``nnz * K``. The iterates are the same, to rounding; the
    regime ends at the first point the bound does not cover, at a gap check
    or a polishing attempt (both need the full product), where a full
    iteration follows. A block starts once the support has held for three
    iterations, with ``MIN_BLOCK_RUN`` iterations to go before such a stop
    (its set-up costs about a full iteration), and is reused while it still
    holds the atoms near the threshold and the supports.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    dictionary : ndarray of shape (n_components, n_features)
    offset : ndarray of shape (n_samples, n_components)
        ``X @ D.T / L``.
    step_matrix : ndarray of shape (n_components, n_components)
        ``I - D D^T / L``.
    codes : ndarray of shape (n_samples, n_components)
        Iterate after `start` iterations (not read if ``start == 0``),
        overwritten with the result.
    extrapolated : ndarray of shape (n_samples, n_components)
        FISTA's extrapolated point after `start` iterations (ignored by ISTA
        and if ``start == 0``); not updated.
    t_state : ndarray of shape (n_samples,), float64
        FISTA's ``t_k`` per row, updated in place (rows differ after restarts).
    threshold : float
        ``alpha / L`` in the dtype of `codes`.
    alpha, lipschitz : float
    positive, accelerated, restart : bool
        `restart`: FISTA's momentum is reset on a row when
        ``(y_k - z_{k+1}) . (z_{k+1} - z_k) > 0`` (gradient restart).
    start, n_iter : int
    tol : float
        Relative duality-gap tolerance; <= 0 runs every iteration. The gap of
        ``z_m`` is checked for ``m > start`` a multiple of `check_every`, and
        for ``m = n_iter``; a row stops at the first ``z_m`` that meets it.
    check_every : int
    unconverged : ndarray of shape (n_samples,), bool
        Output: rows above the tolerance after `n_iter` iterations.
    gram : ndarray of shape (n_components, n_components), float64, or None
        ``D D^T`` for support polishing (not read if `polish_after` is 0).
        None never polishes, and compiles a kernel without the polishing
        code (a first ``tol=None`` call compiles about 6 s less).
    polish_after : int
        With `tol`, once a row's support has not changed for `polish_after`
        iterations, it is replaced by the exact solution on that support and
        signs if that meets the tolerance (:func:`_polish`); a rejected
        attempt is retried after twice as many unchanged iterations. 0 never
        polishes.
    step_scale : float
        With polishing, ISTA's steps are ``step_scale / L`` long instead of
        ``1 / L`` (forward-backward converges for any step below ``2 / L``:
        the iterates then only need to find the support, which polishing
        solves); FISTA's are not scaled.

    Returns
    -------
    n_unconverged : int
    """
    n_samples, n_components = codes.shape
    dtype = codes.dtype
    acc = np.empty(n_components, dtype=dtype)
    z_acc = np.empty(n_components, dtype=dtype)
    # z_k, the new iterate and FISTA's y_k; the product is taken at y or z.
    z = _sparse_row(n_components, dtype)
    new = _sparse_row(n_components, dtype)
    y = _sparse_row(n_components, dtype)
    point = y if accelerated else z
    work = np.empty(X.shape[1] + n_components, dtype=np.float64)
    momentum_buffer = np.empty(1, dtype=dtype)
    # FISTA's t_k from t_0 = 1 and its momentum, filled as far as a row needs
    # them: a row at t_k (k = 0 after a restart) reads them instead of a
    # square root and a division per iteration.
    n_table = n_iter + 2 if accelerated else 2
    table = (np.empty(n_table), np.empty(n_table))
    table[0][0] = 1.0
    filled = _extend_table(table, 1)
    gap = (alpha, lipschitz, positive, tol)
    polishing = tol > 0 and polish_after > 0
    scratch = _polish_scratch(n_components, X.shape[1], dtype)
    scaled = polishing and not accelerated and step_scale != 1.0
    scale_buffer = np.empty(3, dtype=dtype)
    scale_buffer[0] = step_scale if scaled else 1.0
    scale_buffer[1] = threshold * scale_buffer[0]
    scale_buffer[2] = BLOCK_FRACTION * scale_buffer[1]
    scale = scale_buffer[0]
    step_threshold = scale_buffer[1]
    block_threshold = scale_buffer[2]
    # The block regime: after a full product at p0, the atoms outside the
    # block are within BLOCK_FRACTION of the threshold, and stay within it
    # while ||p - p0||_1 * max_{i in block, j != i} |W_ij| is below the rest
    # of the threshold (p - p0 is zero outside the block): they stay zero,
    # and an iteration needs the product on the block's lanes alone.
    # (Computed at the first block: rows that never start one, the tol path's
    # quickly polished rows, do not pay the K^2 pass or the K per row.)
    row_maxima = np.empty(n_components)
    have_maxima = False
    members = np.empty(n_components + 1, dtype=np.int64)
    is_member = np.zeros(n_components, dtype=np.int8)
    lanes = np.zeros(BLOCK_SIZE, dtype=dtype)
    block_point = _Y if accelerated else _NEW
    # Rounding: the full products' entries are within 2 (BLOCK + 2) eps of
    # their sums of magnitudes (with room to spare), which for an atom outside
    # the block are at most threshold + (||p0||_1 + ||p||_1) max |W_ij| (its
    # |acc| at p0 was within the threshold; for the positive operator a very
    # negative one is far below it anyway).
    rounding = 2.0 * (BLOCK + 2) * (2.0**-23 if acc.itemsize == 4 else 2.0**-52)
    n_unconverged = 0
    for i in range(n_samples):
        # From z_0 = 0 (start == 0) the inputs are not read: they may be
        # uninitialised.
        offset_i = offset[i]
        # Counts passed to a kernel are int64, never a literal 0: numba would
        # compile that kernel once more for the literal (_polish: 10 s).
        n_z = n_y = np.int64(0)
        if start > 0:
            n_z = _load_row(codes[i], z)
            if accelerated:
                n_y = _load_row(extrapolated[i], y)
        t = t_state[i]
        k, tabled = 0, False
        if accelerated:
            k, tabled, filled = _table_index(table, filled, t)
        converged = False
        stable = 0  # iterations since the support last changed
        n_kept = 0  # members of the block kept for reuse (none yet)
        kept_largest = 0.0
        next_polish = polish_after
        m = start
        while m <= n_iter:
            check = tol > 0 and m > start and (m % check_every == 0 or m == n_iter)
            if m == n_iter and not check:
                break
            n_point = n_y if accelerated else n_z
            _affine_product(acc, offset_i, point, n_point, step_matrix)
            if check:
                if accelerated:  # the product above is at y_m, not z_m
                    _affine_product(z_acc, offset_i, z, n_z, step_matrix)
                z_product = z_acc if accelerated else acc
                converged = _converged(X[i], dictionary, z, n_z, z_product, gap, work)
                # A row that meets the tolerance unpolished gets one attempt
                # too: exact codes for the cost of a solve. (A None `gram`
                # is pruned at compile time: _polish is then not compiled.)
                if gram is not None:
                    for _ in range(1 if converged and polishing else 0):
                        _, n_z = _polish(
                            X[i],
                            dictionary,
                            gram,
                            offset_i,
                            z,
                            np.int64(n_z),
                            scratch,
                            gap,
                        )
                if converged or m == n_iter:
                    break
            # ISTA's longer step: z + step_scale * (acc - z) is the step of
            # step_scale / L (the threshold scales alike).
            z_dense = z[2]
            for j in range(n_components if scaled else 0):
                acc[j] = z_dense[j] + scale * (acc[j] - z_dense[j])
            n_new, same = _support(acc, step_threshold, positive, z, n_z, new)
            _threshold(acc, step_threshold, new, n_new)
            # A block pays for its set-up over a few iterations: none if the
            # next gap check, polishing attempt or the end comes sooner.
            # (Its members are listed before z and y move on.)
            until_attempt = (next_polish if same else polish_after) - (
                stable + 1 if same else 0
            )
            until_check = (
                (check_every - (m + 1) % check_every) % check_every
                if tol > 0
                else n_iter
            )
            run = min(
                n_iter - m - 1, until_check, until_attempt if polishing else n_iter
            )
            trying = same and stable >= 2 and n_new < BLOCK and run >= MIN_BLOCK_RUN
            reuse = False
            for _ in range(1 if trying and n_kept > 0 else 0):
                reuse = _block_covers(
                    acc, block_threshold, positive, point, n_point, z, n_z,
                    members, n_kept, is_member,
                )  # fmt: skip
            n_block = n_kept if reuse else BLOCK + 1
            for _ in range(1 if trying and not reuse else 0):
                _flag_members(is_member, members, n_kept, 0)
                n_block = _block_members(
                    acc, block_threshold, positive, point, z, members
                )
                n_kept = n_block if n_block <= BLOCK else 0
                _flag_members(is_member, members, n_kept, 1)
            coefficient = budget = 0.0
            for _ in range(1 if n_block <= BLOCK else 0):
                for _ in range(0 if have_maxima else 1):
                    _off_diagonal_maxima(step_matrix, row_maxima)
                    have_maxima = True
                largest = kept_largest
                for _ in range(1 if reuse else 0):
                    _block_load(lanes, _P0, members, n_block, point)
                for _ in range(0 if reuse else 1):
                    largest = _block_start(
                        lanes, members, n_block, offset_i, step_matrix, point,
                        row_maxima,
                    )  # fmt: skip
                kept_largest = largest
                coefficient = largest * (1.0 + rounding)
                p0_norm = 0.0
                for a in range(BLOCK):
                    p0_norm += abs(np.float64(lanes[_P0 + a]))
                budget = (1.0 - BLOCK_FRACTION) * threshold - 2.0 * rounding * (
                    threshold + 2.0 * p0_norm * largest
                )
            if accelerated:
                steps, filled, tabled = _momentum_at(table, filled, k, tabled, t)
                t, n_y = _fista_update(
                    y, n_y, z, n_z, new, n_new, steps, restart, momentum_buffer
                )
                k, tabled = _after_momentum(t, k, tabled)
            n_z = _copy(z, n_z, new, n_new)
            stable = stable + 1 if same else 0
            next_polish = next_polish if same else polish_after
            m += 1
            # Block iterations while the bound holds, up to the next gap check,
            # polishing attempt or the end.
            running = n_block <= BLOCK
            for _ in range(1 if running else 0):
                _block_load(lanes, _Z, members, n_block, z)
                _block_load(lanes, block_point, members, n_block, point)
            # (The next gap check, computed once: no division per iteration.)
            block_end = n_iter
            if tol > 0:
                block_end = min(
                    n_iter, m + (check_every - m % check_every) % check_every
                )
            while (
                running
                and m < block_end
                and not (polishing and stable == next_polish)
                and _block_distance(lanes, block_point) * coefficient <= budget
            ):
                # ISTA's iterate is in ``new`` (one store and load less per
                # iteration), and in ``z`` too where the step needs it.
                for b in range(
                    0 if accelerated or not (scaled or polishing) else BLOCK
                ):
                    lanes[_Z + b] = lanes[_NEW + b]
                _block_step(lanes, block_point, step_threshold, positive, scale, scaled)
                same = _block_same_support(lanes, polishing)
                if accelerated:
                    steps, filled, tabled = _momentum_at(table, filled, k, tabled, t)
                    t = _block_fista(lanes, steps, restart, momentum_buffer)
                    k, tabled = _after_momentum(t, k, tabled)
                stable = stable + 1 if same else 0
                next_polish = next_polish if same else polish_after
                m += 1
            for _ in range(1 if running else 0):
                n_z = _block_store(
                    lanes, _NEW if not accelerated else _Z, members, n_block, z, n_z
                )
                n_y = _block_store(lanes, _Y, members, n_block, y, n_y)
            attempt = polishing and stable == next_polish
            # (A loop of at most one trip, not an `if`: see ``_jit.INLINE``.)
            if gram is not None:
                for _ in range(1 if attempt else 0):
                    next_polish *= 2
                    converged, n_z = _polish(
                        X[i], dictionary, gram, offset_i, z, np.int64(n_z), scratch, gap
                    )
            if converged:
                break
        _flag_members(is_member, members, n_kept, 0)
        _store_row(codes[i], z, n_z)
        _clear(y, n_y)
        t_state[i] = t
        unconverged[i] = tol > 0 and not converged
        n_unconverged += unconverged[i]
    return n_unconverged
