"""Support polishing: the exact Lasso code on a guessed support.

If the support ``S`` and the signs ``s`` of the solution are known, the
Lasso's optimality condition on ``S``, ``(x - z D) D_S^T = alpha s``, is a
linear system: ``z_S = (D_S D_S^T)^{-1} (D_S x^T - alpha s)`` (row form; in
column form ``x = D z`` this is the familiar ``(D_S^T D_S)^{-1}``). Once an
iterative solver's support has nearly settled, a few such ``|S| x |S|``
Cholesky solves replace its slow linear tail: :func:`polish_support`
corrects the guess as an active-set method would (atoms whose sign comes out
wrong leave, atoms violating ``|c_j| <= alpha`` enter) for a few rounds. The
caller accepts the result only if its duality gap meets the tolerance.
"""

import numpy as np
from numba import njit

from ._jit import INLINE, JIT_ROWS

# The kernels that call these helpers may also reassociate sums: the dot
# products of the Cholesky factorisation and substitutions then vectorise
# (a serial chain of dependent additions otherwise; measured 15 us per solve
# at 41 atoms). The result is judged by its duality gap, not bit for bit.
JIT_POLISH = {**JIT_ROWS, "fastmath": {"contract", "reassoc"}}

# A Cholesky pivot below this fraction of its diagonal entry means that the
# atoms of the support are (numerically) linearly dependent: no unique
# solution on that support, so polishing gives up.
PIVOT_RTOL = 1e-10

# The KKT conditions of a polished solution are checked to this relative
# tolerance: ``|c_j| <= alpha (1 + KKT_RTOL)`` off the support, and
# ``|c_j - alpha s_j| <= KKT_RTOL alpha`` on it (``c = (x - z D) D^T``).
# Then with ``eps = KKT_RTOL`` the dual point ``r / (1 + eps)`` has a gap of
# at most ``0.5 eps^2 ||r||^2 + 2 eps alpha ||z||_1 <= 2 eps`` times the cost
# (``<x, r> = ||r||^2 + z . c``), to rounding.
KKT_RTOL = 1e-10
# For a relative tolerance of at least this, a solution whose KKT
# conditions hold (kkt_holds_on_support and polish_support's test) meets
# it: its duality gap need not be computed.
KKT_GAP_TOL = 1e-8


@njit(**INLINE)
def reduced_lasso_solve(
    xd, gram, indices, signs, n, start, alpha, matrix, inverse, rhs
):
    """Solve ``gram[S, S] z = xd[S] - alpha * signs`` for ``S = indices[:n]``.

    `xd` is ``x D^T`` and `gram` ``D D^T``, both float64; `matrix` (at least
    ``n x n``) holds the Cholesky factor (lower triangle, by rows),
    `inverse` (at least ``n``) the inverses of its diagonal, and `rhs` (at
    least ``n``) receives the solution, all float64. Row ``a`` of the factor
    depends on the first ``a + 1`` atoms only: rows below `start`, left by a
    previous call on the same leading atoms, are reused (an active-set round
    that only appends atoms costs ``O(n^2)``, not ``O(n^3)``). Returns
    whether the system is well posed (no vanishing pivot).
    """
    ok = True
    for a in range(n):
        rhs[a] = xd[indices[a]] - alpha * signs[a]
    for a in range(start, n):
        j = indices[a]
        for b in range(a + 1):
            # Each entry waits for the previous one of its row: its dot
            # product runs on four partial sums and ends in a product (not a
            # division), which shortens that chain (measured 1.4x faster
            # than one sum and a division at 20-50 atoms).
            total = gram[j, indices[b]]
            t1 = t2 = t3 = 0.0
            c = 0
            while c + 4 <= b:
                total -= matrix[a, c] * matrix[b, c]
                t1 -= matrix[a, c + 1] * matrix[b, c + 1]
                t2 -= matrix[a, c + 2] * matrix[b, c + 2]
                t3 -= matrix[a, c + 3] * matrix[b, c + 3]
                c += 4
            while c < b:
                total -= matrix[a, c] * matrix[b, c]
                c += 1
            total = (total + t1) + (t2 + t3)
            if b < a:
                matrix[a, b] = total * inverse[b]
            else:
                ok &= total > PIVOT_RTOL * gram[j, j]
                root = np.sqrt(max(total, 1e-300))
                matrix[a, a] = root
                inverse[a] = 1.0 / root
    # Forward substitution (L y = rhs), then backward (L^T z = y) by rows of L.
    for a in range(n):
        total = rhs[a]
        for c in range(a):
            total -= matrix[a, c] * rhs[c]
        rhs[a] = total * inverse[a]
    for a in range(n - 1, -1, -1):
        value = rhs[a] * inverse[a]
        rhs[a] = value
        for c in range(a):
            rhs[c] -= matrix[a, c] * value
    return ok


@njit(**INLINE)
def subtract_rows(out, base, indices, values, n, matrix):
    """``out = base - values[:n] @ matrix[indices[:n]]`` in float64.

    Four rows per pass over `out` (the ``n % 4`` others in the first pass):
    fewer loads and stores of `out` than one row per pass. (Every array is
    used after the branches: see ``_jit.INLINE``.)
    """
    m = out.shape[0]
    s = n % 4
    if s == 0:
        for col in range(m):
            out[col] = np.float64(base[col])
    elif s == 1:
        j0, v0 = indices[0], np.float64(values[0])
        for col in range(m):
            out[col] = np.float64(base[col]) - v0 * matrix[j0, col]
    elif s == 2:
        j0, j1 = indices[0], indices[1]
        v0, v1 = np.float64(values[0]), np.float64(values[1])
        for col in range(m):
            out[col] = (
                np.float64(base[col]) - v0 * matrix[j0, col] - v1 * matrix[j1, col]
            )
    else:
        j0, j1, j2 = indices[0], indices[1], indices[2]
        v0, v1, v2 = np.float64(values[0]), np.float64(values[1]), np.float64(values[2])
        for col in range(m):
            out[col] = (
                np.float64(base[col])
                - v0 * matrix[j0, col]
                - v1 * matrix[j1, col]
                - v2 * matrix[j2, col]
            )
    while s < n:
        j0, j1, j2, j3 = indices[s], indices[s + 1], indices[s + 2], indices[s + 3]
        v0, v1 = np.float64(values[s]), np.float64(values[s + 1])
        v2, v3 = np.float64(values[s + 2]), np.float64(values[s + 3])
        for col in range(base.shape[0]):
            out[col] = (
                out[col]
                - v0 * matrix[j0, col]
                - v1 * matrix[j1, col]
                - v2 * matrix[j2, col]
                - v3 * matrix[j3, col]
            )
        s += 4


@njit(**INLINE)
def polish_support(xd, gram, indices, signs, n, alpha, positive, rounds, work):
    """Exact Lasso solution from a guessed support, corrected for a few rounds.

    ``indices[:n]`` and ``signs[:n]`` (float64, +-1) are the guess; both
    arrays must hold ``n_components`` entries. Each round solves the reduced
    system (:func:`reduced_lasso_solve`); if every entry has its assumed sign
    and every other atom satisfies ``|c_j| <= alpha`` (``c = xd - z gram``;
    ``c_j <= alpha`` for positive codes), the KKT conditions hold: done.
    Otherwise the wrong-signed entries leave and the violating atoms enter
    (with the sign of ``c_j``) for the next round, up to `rounds` rounds.
    `work` is ``(matrix, rhs, correlation, saved, inverse)``: float64
    scratch of shapes ``(n_features, n_features)``, ``(n_features,)``,
    ``(n_components,)``, ``(n_components,)``, ``(n_features,)``.

    Returns the size of the solution's support (``indices[:size]``, values in
    ``rhs[:size]``, its correlations ``c`` in ``correlation``), or -1 if none
    was found (empty or more atoms than features, singular system, rounds
    exhausted).
    """
    matrix, rhs, correlation, saved, inverse = work
    max_size = rhs.shape[0]
    n_components = xd.shape[0]
    # Violations within rounding of alpha are not corrections worth a round
    # (the duality gap of the result decides anyway).
    bound = alpha * (1.0 + KKT_RTOL)
    result = -1
    factored = 0  # leading rows of the Cholesky factor still valid
    for _ in range(rounds):
        if n == 0 or n > max_size:
            break
        if not reduced_lasso_solve(
            xd, gram, indices, signs, n, factored, alpha, matrix, inverse, rhs
        ):
            break
        subtract_rows(correlation, xd, indices, rhs, n, gram)
        # Atoms of this round's support are not violators (on the support the
        # condition holds by construction; one that leaves now may re-enter
        # in a later round).
        for a in range(n):
            saved[a] = correlation[indices[a]]
            correlation[indices[a]] = 0.0
        # Keep the sign-consistent entries, compacted in place (the factor's
        # rows before the first one dropped stay valid).
        kept = 0
        factored = n
        for a in range(n):
            if rhs[a] * signs[a] > 0:
                indices[kept] = indices[a]
                signs[kept] = signs[a]
                rhs[kept] = rhs[a]
                kept += 1
            else:
                factored = min(factored, a)
        # Violators are rare: a branch-free count first (vectorised), the
        # scan that lists them only if there are any.
        n_violating = 0
        for j in range(n_components if positive else 0):
            n_violating += correlation[j] > bound
        for j in range(0 if positive else n_components):
            n_violating += abs(correlation[j]) > bound
        consistent = kept == n and n_violating == 0
        n = kept
        for j in range(n_components if n_violating > 0 else 0):
            c = correlation[j]
            if c > bound or (not positive and -c > bound):
                if n < n_components:
                    indices[n] = j
                    signs[n] = 1.0 if c > 0 else -1.0
                    n += 1
        if consistent:  # (then the support did not change)
            for a in range(n):
                correlation[indices[a]] = saved[a]
            result = n
            break
    return result


@njit(**INLINE)
def kkt_holds_on_support(correlation, indices, signs, n, alpha):
    """Whether ``|c_j - alpha s_j| <= KKT_RTOL alpha`` on ``indices[:n]``
    (the reduced solve was accurate), for the correlations of
    :func:`polish_support`'s solution."""
    ok = True
    for a in range(n):
        ok &= abs(correlation[indices[a]] - alpha * signs[a]) <= KKT_RTOL * alpha
    return ok
