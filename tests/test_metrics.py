import numpy as np
import pytest

from sklearn_lista.metrics import nmse_db


def _codes(random_state=0):
    rng = np.random.RandomState(random_state)
    codes_true = rng.standard_normal((20, 15)) * (rng.random_sample((20, 15)) < 0.3)
    codes_true[0, 0] = 1.0  # no all-zero row
    codes = codes_true + 0.01 * rng.standard_normal((20, 15)) * rng.exponential(
        size=(20, 1)
    )
    return codes_true, codes


def test_averages_match_their_formulas():
    codes_true, codes = _codes()
    errors = np.sum((codes - codes_true) ** 2, axis=1)
    norms = np.sum(codes_true**2, axis=1)
    expected = {
        "ratio_of_means": 10 * np.log10(errors.mean() / norms.mean()),
        "mean_of_ratios": 10 * np.log10(np.mean(errors / norms)),
        "mean_of_db": np.mean(10 * np.log10(errors / norms)),
    }
    for average, value in expected.items():
        assert nmse_db(codes_true, codes, average=average) == pytest.approx(value)
    assert nmse_db(codes_true, codes) == pytest.approx(expected["ratio_of_means"])
    # Geometric mean <= arithmetic mean.
    assert expected["mean_of_db"] <= expected["mean_of_ratios"]


def test_single_signal_scale_and_exact_recovery():
    codes_true, codes = _codes()
    values = {
        nmse_db(codes_true[3], codes[3], average=average)
        for average in ("ratio_of_means", "mean_of_ratios", "mean_of_db")
    }
    assert max(values) - min(values) < 1e-10
    # A 10% error in every entry is -20 dB; invariant to a common scale.
    assert nmse_db(codes_true, 1.1 * codes_true) == pytest.approx(-20.0)
    assert nmse_db(5 * codes_true, 5 * codes) == pytest.approx(
        nmse_db(codes_true, codes)
    )
    assert nmse_db(codes_true, np.zeros_like(codes_true)) == pytest.approx(0.0)
    for average in ("ratio_of_means", "mean_of_ratios", "mean_of_db"):
        assert nmse_db(codes_true, codes_true, average=average) == -np.inf


def test_validation():
    codes_true, codes = _codes()
    with pytest.raises(ValueError, match=r"codes has shape \(20, 14\)"):
        nmse_db(codes_true, codes[:, 1:])
    bad = codes.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="codes contains infinity"):
        nmse_db(codes_true, bad)
    with pytest.raises(ValueError, match="codes_true contains NaN"):
        nmse_db(np.full((2, 2), np.nan), codes[:2, :2])
    with pytest.raises(ValueError, match="codes_true is all zero"):
        nmse_db(np.zeros((3, 4)), np.ones((3, 4)))
    with_zero_row = codes_true.copy()
    with_zero_row[[2, 5]] = 0.0
    nmse_db(with_zero_row, codes)  # fine for the ratio of means
    for average in ("mean_of_ratios", "mean_of_db"):
        with pytest.raises(ValueError, match=r"2 row\(s\) .* \(rows \[2, 5\]\)"):
            nmse_db(with_zero_row, codes, average=average)
    with pytest.raises(ValueError, match="average"):
        nmse_db(codes_true, codes, average="mean")
