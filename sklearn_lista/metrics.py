"""Scores of codes against the true codes (the learned-ISTA papers' NMSE)."""

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = ["nmse_db"]


@validate_params(
    {
        "codes_true": ["array-like"],
        "codes": ["array-like"],
        "average": [StrOptions({"ratio_of_means", "mean_of_ratios", "mean_of_db"})],
    },
    prefer_skip_nested_validation=True,
)
def nmse_db(codes_true, codes, *, average="ratio_of_means"):
    """Normalised mean squared error of codes, in decibels.

    For one signal, ``NMSE = ||z - z_true||^2 / ||z_true||^2`` and the score
    is ``10 log10(NMSE)`` (lower is better; -20 dB is a 1% squared error).
    Over a set of signals, `average` says how the ratios are combined:

    - ``"ratio_of_means"`` (default): ``10 log10(sum_i ||z_i - z_true_i||^2
      / sum_i ||z_true_i||^2)``, the summed squared errors over the summed
      squared norms of the whole set. This is what the LISTA-CPSS [1]_ and
      ALISTA [2]_ papers report: their code (VITA-Group/ALISTA,
      ``utils/main.py``, ``run_sc_test``) divides the summed squared error
      of the test set by its summed squared norm.
    - ``"mean_of_ratios"``: ``10 log10(mean_i NMSE_i)``, the ratio per
      signal averaged before the logarithm.
    - ``"mean_of_db"``: ``mean_i 10 log10(NMSE_i)``, the decibels per
      signal averaged, which is what the Open-L2O benchmark [3]_ reports
      (VITA-Group/Open-L2O, ``Model_Base_L2O/utils.py``, ``EvalNMSE``; it
      also adds ``1e-10`` to the per-signal mean squared error and mean
      squared norm, which caps an exact recovery near -90 dB on the
      standard problem; no such constant is added here).

    The three coincide for a single signal. ``"mean_of_db"`` is the
    logarithm of the geometric mean of the ratios, so it is never above
    ``"mean_of_ratios"``, and a few signals recovered exactly pull it down
    (to ``-inf`` if one error is exactly zero).

    Parameters
    ----------
    codes_true : array-like of shape (n_samples, n_components)
        The true codes, one per row (a 1-D array is one signal).
    codes : array-like of shape (n_samples, n_components)
        The estimated codes.
    average : {"ratio_of_means", "mean_of_ratios", "mean_of_db"}, \
            default="ratio_of_means"
        How the signals are combined, see above.

    Returns
    -------
    nmse : float
        The NMSE in dB; ``-inf`` when the error (``"ratio_of_means"``,
        ``"mean_of_ratios"``) or the error of one signal (``"mean_of_db"``)
        is exactly zero.

    References
    ----------
    .. [1] X. Chen, J. Liu, Z. Wang and W. Yin, "Theoretical linear
       convergence of unfolded ISTA and its practical weights and
       thresholds", NeurIPS 2018.
    .. [2] J. Liu, X. Chen, Z. Wang and W. Yin, "ALISTA: Analytic weights are
       as good as learned weights in LISTA", ICLR 2019.
    .. [3] T. Chen, X. Chen, W. Chen, H. Heaton, J. Liu, Z. Wang and W. Yin,
       "Learning to optimize: a primer and a benchmark", Journal of Machine
       Learning Research, 2022.

    Examples
    --------
    >>> from sklearn_lista.metrics import nmse_db
    >>> codes_true = [[1.0, 0.0], [0.0, 3.0]]
    >>> codes = [[0.9, 0.0], [0.0, 3.0]]
    >>> round(nmse_db(codes_true, codes), 2)
    -30.0
    >>> round(nmse_db(codes_true, codes, average="mean_of_ratios"), 2)
    -23.01
    """
    codes_true = _check_codes(codes_true, "codes_true")
    codes = _check_codes(codes, "codes")
    if codes.shape != codes_true.shape:
        raise ValueError(
            f"codes has shape {codes.shape} but codes_true has shape "
            f"{codes_true.shape}; they must match."
        )
    errors = np.sum((codes - codes_true) ** 2, axis=1)
    norms = np.sum(codes_true**2, axis=1)
    if average == "ratio_of_means":
        if not norms.any():
            raise ValueError(
                "codes_true is all zero: the NMSE divides by its squared norm."
            )
        with np.errstate(divide="ignore"):
            return float(10.0 * np.log10(errors.sum() / norms.sum()))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(
            f"{zero.size} row(s) of codes_true are all zero (rows "
            f"{zero[:10].tolist()}): average={average!r} divides by the squared "
            "norm of every row; drop them or use average='ratio_of_means'."
        )
    ratios = errors / norms
    with np.errstate(divide="ignore"):
        if average == "mean_of_ratios":
            return float(10.0 * np.log10(ratios.mean()))
        return float(np.mean(10.0 * np.log10(ratios)))


def _check_codes(codes, name):
    """A finite float64 2-D array with at least one row (1-D is one row)."""
    codes = check_array(codes, dtype=np.float64, ensure_2d=False, input_name=name)
    return codes[None, :] if codes.ndim == 1 else codes
