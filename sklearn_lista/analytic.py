"""ALISTA's analytic weight matrix, in closed form (numpy only)."""

import numpy as np
from sklearn.utils._param_validation import validate_params

from ._validation import check_dictionary

__all__ = ["analytic_weights"]


@validate_params({"dictionary": ["array-like"]}, prefer_skip_nested_validation=True)
def analytic_weights(dictionary):
    r"""Compute ALISTA's analytic weight, least coherent with the dictionary.

    ALISTA [1]_ replaces LISTA's learned matrices by one weight ``W``
    computed from the dictionary alone. In the paper's column form (signal
    ``y = A x``, ``A = dictionary.T`` of shape ``(n_features,
    n_components)``) it solves

    .. math::

        \min_W \|W^\top A\|_F^2 \quad \text{subject to} \quad
        \operatorname{diag}(W^\top A) = 1,

    i.e. it makes the coherences ``w_i^T a_j`` (``i != j``) as small as
    possible in the least-squares sense while each ``w_i`` keeps unit
    correlation with its own atom ``a_i``. In the row convention used here
    the returned ``W`` has shape ``(n_features, n_components)`` (the same
    array as the paper's ``W``), the constraint reads
    ``diag(dictionary @ W) = 1``, and an ALISTA layer computes
    ``z + gamma * (x - z @ dictionary) @ W`` before the threshold.

    The problem splits over atoms: ``w_i`` minimises ``w^T G w`` with
    ``G = A A^T = dictionary.T @ dictionary`` subject to ``a_i^T w = 1``.
    Its Lagrange condition ``G w = lambda a_i`` gives the closed form

    .. math::

        w_i = \frac{G^{+} a_i}{a_i^\top G^{+} a_i},
        \qquad\text{i.e.}\qquad
        W = D^{+} \operatorname{diag}(D D^{+})^{-1}

    with ``D = dictionary`` and ``D^+`` its Moore-Penrose pseudo-inverse
    (``G^+ A = D^+``), computed here from one SVD of ``D``. The denominators
    ``(D D^+)_{ii}`` are the leverage scores of the atoms, in ``(0, 1]``.
    When ``G`` is invertible (rank ``n_features``, the usual overcomplete
    case) the minimiser is unique; when ``G`` is rank-deficient (fewer
    atoms than features, or atoms spanning a subspace) every
    ``w_i + v`` with ``A^T v = 0`` is a minimiser too, and the pseudo-inverse
    returns the one of minimum norm, the only one in the range of ``A``
    (where the authors' projected gradient iterations, started at ``W = A``,
    stay). Singular values below ``max(n_components, n_features) * eps *
    s_max`` count as zero, as in :func:`numpy.linalg.matrix_rank`.

    Parameters
    ----------
    dictionary : array-like of shape (n_components, n_features)
        Atoms as rows; non-zero and finite.

    Returns
    -------
    weights : ndarray of shape (n_features, n_components)
        The analytic weight ``W``, in the dtype of `dictionary` (float32 is
        kept; the computation is done in float64).

    References
    ----------
    .. [1] J. Liu, X. Chen, Z. Wang and W. Yin, "ALISTA: Analytic weights are
       as good as learned weights in LISTA", ICLR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lista.analytic import analytic_weights
    >>> from sklearn_lista.datasets import make_compressed_sensing
    >>> _, D, _ = make_compressed_sensing(
    ...     1, n_measurements=20, n_components=40, random_state=0)
    >>> W = analytic_weights(D)
    >>> W.shape
    (20, 40)
    >>> bool(np.allclose(np.diag(D @ W), 1.0))
    True
    """
    dictionary = check_dictionary(dictionary)
    dtype = dictionary.dtype
    left, singular, right = np.linalg.svd(
        dictionary.astype(np.float64), full_matrices=False
    )
    tolerance = max(dictionary.shape) * np.finfo(np.float64).eps * singular[0]
    rank = int(np.sum(singular > tolerance))
    left, singular, right = left[:, :rank], singular[:rank], right[:rank]
    leverage = np.einsum("ij,ij->i", left, left)
    lost = np.flatnonzero(leverage <= np.finfo(np.float64).eps)
    if lost.size:
        raise ValueError(
            f"atom(s) {lost[:10].tolist()} lie in the numerical null space of the "
            "dictionary (their norm is negligible next to its largest singular "
            "value): no weight can correlate with them; rescale or drop them."
        )
    # D^+ = V S^-1 U^T, then column i divided by leverage_i = (D D^+)_ii.
    weights = (right.T / singular) @ (left / leverage[:, None]).T
    return weights.astype(dtype, copy=False)
