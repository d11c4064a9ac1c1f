"""Validation: every bad input gets a clear ValueError/TypeError naming it."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from sklearn_lista import FISTACoder, ISTACoder, lasso_cost
from sklearn_lista._coders._base import _chunk_slices, _run_in_threads
from sklearn_lista._validation import check_dictionary, validate_signals

CODERS = [ISTACoder, FISTACoder]


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    dictionary = rng.standard_normal((6, 4))
    return rng.standard_normal((10, 4)), dictionary


def _with(X, index, value):
    X = X.astype(object if isinstance(value, str) else X.dtype).copy()
    X[index] = value
    return X


@pytest.mark.parametrize("Coder", CODERS)
@pytest.mark.parametrize(
    "make_X, error, match",
    [
        (lambda X: _with(X, (2, 1), np.nan), ValueError, "Input X contains NaN"),
        (lambda X: _with(X, (0, 0), np.inf), ValueError, "Input X contains infinity"),
        (lambda X: X[0], ValueError, "Expected 2D array, got 1D array"),
        (lambda X: X[None], ValueError, "Found array with dim 3"),
        (lambda X: X[:0], ValueError, "0 sample"),
        (lambda X: X + 1j, ValueError, "Complex data not supported"),
        (lambda X: _with(X, (1, 1), "a"), ValueError, "could not convert"),
    ],
    ids=["nan", "inf", "1d", "3d", "empty", "complex", "string"],
)
def test_bad_X_in_fit_and_transform(data, Coder, make_X, error, match):
    X, dictionary = data
    with pytest.raises(error, match=match):
        Coder(dictionary).fit(make_X(X))
    coder = Coder(dictionary).fit(X)
    with pytest.raises(error, match=match):
        coder.transform(make_X(X))
    with pytest.raises(error, match=match):
        coder.score(make_X(X))


@pytest.mark.parametrize("Coder", CODERS)
def test_n_features_mismatch_at_transform(data, Coder):
    X, dictionary = data
    coder = Coder(dictionary).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4"):
        coder.transform(X[:, :3])


@pytest.mark.parametrize("Coder", CODERS)
@pytest.mark.parametrize(
    "make_dictionary, match",
    [
        (lambda D: _with(D, (1, 2), np.nan), "Input dictionary contains NaN"),
        (lambda D: _with(D, (0, 0), -np.inf), "Input dictionary contains infinity"),
        (lambda D: _with(D, 3, 0.0), r"1 atom\(s\) of zero norm \(rows \[3\]\)"),
        (lambda D: D[:, :3], "dictionary has 3 features .* X has 4 features"),
        (lambda D: D[0], "Expected 2D array, got 1D array"),
        (lambda D: D + 1j, "Complex data not supported"),
    ],
    ids=["nan", "inf", "zero-atom", "wrong-width", "1d", "complex"],
)
def test_bad_dictionary(data, Coder, make_dictionary, match):
    X, dictionary = data
    with pytest.raises(ValueError, match=match):
        Coder(make_dictionary(dictionary)).fit(X)


def test_n_components_must_match_a_given_dictionary(data):
    X, dictionary = data
    with pytest.raises(ValueError, match="n_components=3 does not match the 6 atoms"):
        ISTACoder(dictionary, n_components=3).fit(X)


@pytest.mark.parametrize("Coder", CODERS)
@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": -1.0}, "'alpha' parameter .* must be a float in the range"),
        ({"alpha": 0}, "'alpha' parameter"),
        ({"n_layers": 0}, "'n_layers' parameter .* must be an int in the range"),
        ({"n_layers": 2.5}, "'n_layers' parameter"),
        ({"tol": -1e-3}, "'tol' parameter"),
        ({"n_components": 0}, "'n_components' parameter"),
        ({"positive_code": "yes"}, "'positive_code' parameter"),
    ],
)
def test_bad_parameters(data, Coder, params, match):
    X, dictionary = data
    with pytest.raises(ValueError, match=match):
        Coder(dictionary, **params).fit(X)


@pytest.mark.parametrize("Coder", CODERS)
def test_unfitted_transform_raises(data, Coder):
    X, dictionary = data
    # Classical coders need a fit only to learn a dictionary (as SparseCoder).
    unfitted = Coder() if Coder in (ISTACoder, FISTACoder) else Coder(dictionary)
    for method in ("transform", "score", "inverse_transform"):
        with pytest.raises(NotFittedError):
            getattr(unfitted, method)(X)


@pytest.mark.parametrize("Coder", [ISTACoder, FISTACoder])
def test_classical_coders_with_a_dictionary_need_no_fit(data, Coder):
    X, dictionary = data
    coder = Coder(dictionary)
    fitted = Coder(dictionary).fit(X)
    assert_array_equal(coder.transform(X), fitted.transform(X))
    assert coder.score(X) == fitted.score(X)
    codes = fitted.transform(X)
    assert_array_equal(coder.inverse_transform(codes), fitted.inverse_transform(codes))
    assert not hasattr(coder, "components_")  # transform left it unfitted
    assert not coder.__sklearn_tags__().requires_fit
    assert Coder().__sklearn_tags__().requires_fit


@pytest.mark.parametrize(
    "dtype", [np.int64, np.int32, bool, np.float16, np.float32, np.float64]
)
def test_numeric_dtypes_are_accepted(data, dtype):
    X, dictionary = data
    X = (X > 0).astype(dtype) if dtype is bool else (3 * X).astype(dtype)
    codes = FISTACoder(dictionary, n_layers=10).fit_transform(X)
    expected = np.float32 if dtype == np.float32 else np.float64
    assert codes.dtype == expected
    assert np.isfinite(codes).all()


@pytest.mark.parametrize("alpha_type", [np.float32, np.float64, int])
def test_numpy_scalar_alpha_fits_without_warnings(data, alpha_type):
    X, dictionary = data
    coder = FISTACoder(dictionary, alpha=alpha_type(1), n_layers=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes = coder.fit_transform(X)
    reference = FISTACoder(dictionary, alpha=1.0, n_layers=10).fit_transform(X)
    assert_array_equal(codes, reference)


def test_non_contiguous_and_read_only_input(data):
    X, dictionary = data
    coder = ISTACoder(dictionary, n_layers=10).fit(X)
    expected = coder.transform(X)
    fortran = np.asfortranarray(X)
    strided = np.repeat(X, 2, axis=1)[:, ::2]
    read_only = X.copy()
    read_only.setflags(write=False)
    for variant in (fortran, strided, read_only):
        np.testing.assert_array_equal(coder.transform(variant), expected)


def test_check_dictionary_returns_contiguous_copy(data):
    _, dictionary = data
    checked = check_dictionary(np.asfortranarray(dictionary), n_features=4)
    assert checked.flags.c_contiguous
    assert not np.shares_memory(checked, dictionary)


def test_lasso_cost_validates_shapes(data):
    X, dictionary = data
    codes = np.zeros((10, 6))
    assert lasso_cost(X, codes, dictionary, 1.0).shape == (10,)
    with pytest.raises(ValueError, match="codes must have shape"):
        lasso_cost(X, codes[:, :5], dictionary, 1.0)
    with pytest.raises(ValueError, match="dictionary has 3 features but X has 4"):
        lasso_cost(X, codes, dictionary[:, :3], 1.0)
    with pytest.raises(ValueError, match="'alpha' parameter"):
        lasso_cost(X, codes, dictionary, -1.0)
    with pytest.raises(ValueError, match="contains NaN"):
        lasso_cost(_with(X, (0, 0), np.nan), codes, dictionary, 1.0)


@pytest.mark.parametrize("n_samples", [1, 1023, 1024, 5000, 100_000])
def test_chunks_cover_every_row_once_with_bounded_size(n_samples):
    slices = _chunk_slices(n_samples, 100)
    covered = np.concatenate([np.arange(n_samples)[s] for s in slices])
    np.testing.assert_array_equal(covered, np.arange(n_samples))
    assert max(s.stop - s.start for s in slices) * 100 <= 2**20


@pytest.mark.parametrize(
    "make_inputs, match",
    [
        (lambda X, D: (X * 1e160, D), "X has entries as large as"),
        (lambda X, D: (X, D * 1e160), "dictionary has entries as large as"),
        (lambda X, D: (X, D * 1e-160), "dictionary's scale is out of range"),
        (
            lambda X, D: (X.astype(np.float32), D.astype(np.float32) * 1e-20),
            "dictionary's scale is out of range",
        ),
    ],
    ids=["huge-X", "huge-dictionary", "tiny-dictionary", "tiny-float32"],
)
def test_values_out_of_range_raise_clear_errors(data, make_inputs, match):
    X, dictionary = data
    X, dictionary = make_inputs(X, dictionary)
    with pytest.raises(ValueError, match=match):
        FISTACoder(dictionary).fit(X)


def test_huge_values_at_transform(data):
    X, dictionary = data
    coder = ISTACoder(dictionary).fit(X)
    with pytest.raises(ValueError, match="X has entries as large as"):
        coder.transform(X * 1e160)
    with pytest.raises(ValueError, match="X has entries as large as"):
        coder.score(X * 1e160)


def test_scale_check_judges_each_entry_not_the_sum_of_squares():
    # float32, 4 features: the limit on an entry is sqrt(max / 16) = 4.6e18.
    # 200 rows of 1e18 are within it although their sum of squares (8e38)
    # overflows: the one-pass check must hand over to the entry-wise one.
    coder = ISTACoder()
    X = np.full((200, 4), 1e18, dtype=np.float32)
    assert validate_signals(coder, X, dtype=np.float32) is X
    for bad, match in ((5e18, "X has entries as large as"), (np.nan, "contains NaN")):
        X_bad = X.copy()
        X_bad[150, 2] = bad
        with pytest.raises(ValueError, match=match):
            validate_signals(coder, X_bad, dtype=np.float32)
    # One entry beyond the limit, among zeros: a finite sum of squares (2.5e37)
    # that the one-pass check must not accept.
    X_one = np.zeros((200, 4), dtype=np.float32)
    X_one[7, 1] = 5e18
    with pytest.raises(ValueError, match="X has entries as large as"):
        validate_signals(coder, X_one, dtype=np.float32)
    # y=None is no y, as for validate_data.
    assert validate_signals(coder, X, None, dtype=np.float32) is X


def test_n_jobs_zero_is_rejected_at_fit(data):
    X, dictionary = data
    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        ISTACoder(dictionary, n_jobs=0).fit(X)


def test_warnings_point_at_the_callers_line(data):
    X, dictionary = data
    coder = FISTACoder(dictionary, n_layers=1, tol=1e-12).fit(X)
    with pytest.warns(Warning) as record:
        coder.transform(X)
    assert record[0].filename == __file__


def test_run_in_threads_runs_each_task_once_and_reraises():
    calls = []

    def task(k):
        calls.append(k)

    _run_in_threads([lambda k=k: task(k) for k in range(50)], 3)
    assert sorted(calls) == list(range(50))

    def fail():
        raise KeyError("chunk")

    with pytest.raises(KeyError, match="chunk"):
        _run_in_threads([fail] + [lambda: None] * 5, 2)
