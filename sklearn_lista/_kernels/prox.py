"""Proximal operators: inline helpers that every kernel applies per entry or
per row, chosen by an integer code.

A kernel takes a code ``prox`` (or, where only the classical operators make
sense, a bool ``positive``) and resolves it inside these helpers, so that one
kernel serves every operator: no copy of a kernel per operator, and numba
compiles one specialisation per dtype. The codes are bit flags, and a bool
``positive`` is a valid code (``False`` is soft, ``True`` positive):

- ``SOFT``: ``st(u, t) = sign(u) max(|u| - t, 0)``.
- ``POSITIVE``: ``max(u - t, 0)``.
- ``SUPPORT_SELECTION`` (with or without ``POSITIVE``): LISTA-CPSS's
  operator (Chen et al., 2018). In each row, of the entries beyond their
  threshold, the ``n_bypass`` largest in magnitude are kept as they are and
  the others are shrunk as above; entries within their threshold are zero.
  Ties go to the lower index, so exactly ``min(n_bypass, count beyond)``
  entries are kept. ``n_bypass = 0`` is the soft (positive) threshold,
  ``n_bypass >= n_components`` the hard threshold ``u * (|u| > t)``.
"""

from numba import njit

from ._jit import INLINE

SOFT = 0
POSITIVE = 1
SUPPORT_SELECTION = 2

# The operators the networks can ask for by name.
PROXIMAL_OPERATORS = {
    "soft": SOFT,
    "positive": POSITIVE,
    "support_selection": SUPPORT_SELECTION,
    "positive_support_selection": POSITIVE | SUPPORT_SELECTION,
}


def prox_code(positive=False, support_selection=False):
    """The code of the operator with these two options."""
    return (POSITIVE if positive else SOFT) | (
        SUPPORT_SELECTION if support_selection else 0
    )


@njit(**INLINE)
def is_positive(prox):
    return (prox & POSITIVE) != 0


@njit(**INLINE)
def selects_support(prox, n_bypass):
    return (prox & SUPPORT_SELECTION) != 0 and n_bypass > 0


@njit(**INLINE)
def shrink(value, threshold, positive):
    """``st(value, threshold)``, or ``max(value - threshold, 0)`` if positive."""
    if positive:
        return max(value - threshold, 0.0)
    if value > threshold:
        return value - threshold
    if value < -threshold:
        return value + threshold
    return 0.0


@njit(**INLINE)
def shrink_beyond(value, threshold):
    """:func:`shrink` of a value known to be beyond the threshold (for either
    operator), in its own dtype."""
    return value - threshold if value > 0 else value + threshold


@njit(**INLINE)
def beyond(value, threshold, positive):
    """Whether `value` survives :func:`shrink` (branch-free in a loop)."""
    if positive:
        return value > threshold
    return abs(value) > threshold


@njit(**INLINE)
def select_largest(values, indices, count, n_top):
    """Reorder ``indices[:count]`` so that its first `n_top` entries are those
    of the largest ``|values[j]|`` (largest first; ties: the lower index).

    `indices` must come in increasing order. A bounded insertion: an entry
    that does not beat the smallest kept one costs one comparison.
    """
    for s in range(count if n_top > 0 else 0):
        j = indices[s]
        magnitude = abs(values[j])
        if s < n_top:
            position = s
        elif magnitude > abs(values[indices[n_top - 1]]):
            indices[s] = indices[n_top - 1]
            position = n_top - 1
        else:
            continue
        while position > 0 and magnitude > abs(values[indices[position - 1]]):
            indices[position] = indices[position - 1]
            position -= 1
        indices[position] = j


@njit(**INLINE)
def shrink_row(pre, thresholds, out, i, prox):
    """``out[i] = shrink(pre)`` with per-coordinate `thresholds` (the first
    step of every operator); returns the number of non-zeros."""
    positive = is_positive(prox)
    nnz = 0
    for j in range(pre.shape[0]):
        value = shrink(pre[j], thresholds[j], positive)
        out[i, j] = value
        nnz += value != 0
    return nnz


@njit(**INLINE)
def bypass_largest(pre, out, i, prox, n_bypass, indices):
    """Support selection's second step, after ``out[i] = shrink(pre)``: the
    `n_bypass` largest entries of the support get their value in `pre` back.

    `indices` is an int64 scratch of the row's length. For the other
    operators every loop makes zero trips: no branch that numba's reference
    counting would see (see ``_jit.INLINE``).
    """
    n_top = n_bypass if selects_support(prox, n_bypass) else 0
    count = 0
    for j in range(pre.shape[0] if n_top > 0 else 0):
        indices[count] = j
        count += out[i, j] != 0
    n_top = min(n_top, count)
    select_largest(pre, indices, count, n_top)
    for s in range(n_top):
        out[i, indices[s]] = pre[indices[s]]
