"""The bad-input and fault battery, over every coder and method.

Every bad input gets a clear error naming the problem, or a result checked
against a reference; no call returns NaN, warns a RuntimeWarning (an error in
the test configuration), or changes what a fitted model computes when it
fails: after each failed call the transform of clean data is bit-identical to
the one before.
"""

import copy
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError

from sklearn_lista import (
    ALISTACoder,
    FacNetCoder,
    FISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTACoder,
    StepLISTACoder,
    lasso_cost,
)
from sklearn_lista.datasets import alpha_max, make_sparse_coding

CLASSICAL = [ISTACoder, FISTACoder]
LEARNED = [LISTACoder, LFISTACoder, FacNetCoder, StepLISTACoder, ALISTACoder]
CODERS = CLASSICAL + LEARNED
# The iteration an untrained network of each kind computes.
UNROLLS = {
    ISTACoder: ISTACoder,
    FISTACoder: FISTACoder,
    LISTACoder: ISTACoder,
    LFISTACoder: FISTACoder,
    FacNetCoder: ISTACoder,
    StepLISTACoder: ISTACoder,
}
# ALISTA starts from its analytic weight, not from ISTA: the tests that
# compare with the iteration an untrained network computes do not apply.
WITH_UNROLL = [Coder for Coder in CODERS if Coder in UNROLLS]
N_LAYERS = 4

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X, DICTIONARY, _ = make_sparse_coding(
    40, n_components=12, n_features=8, density=0.2, random_state=0
)
X_TEST, _, _ = make_sparse_coding(30, dictionary=DICTIONARY, random_state=1)
ALPHA = 0.1 * alpha_max(X, DICTIONARY)


def make(Coder, dictionary=DICTIONARY, **params):
    params = {"alpha": ALPHA, "n_layers": N_LAYERS, **params}
    if Coder in LEARNED:
        params = {"max_iter": 2, "batch_size": 16, "random_state": 0, **params}
    return Coder(dictionary, **params)


_FITTED = {}


def fitted(Coder):
    """A fitted model (a private copy) and its codes of `X_TEST`."""
    if Coder not in _FITTED:
        model = make(Coder).fit(X)
        _FITTED[Coder] = (model, model.transform(X_TEST))
    model, codes = _FITTED[Coder]
    return copy.deepcopy(model), codes


def methods(Coder):
    names = ["fit", "transform", "score"]
    return names + (["partial_fit"] if Coder in LEARNED else [])


def with_value(array, index, value):
    array = array.astype(object if isinstance(value, str) else array.dtype)
    array[index] = value
    return array


BAD_X = {
    "nan": (lambda X: with_value(X, (2, 1), np.nan), "Input X contains NaN"),
    "inf": (lambda X: with_value(X, (0, 0), np.inf), "Input X contains infinity"),
    "-inf": (lambda X: with_value(X, (3, 7), -np.inf), "Input X contains infinity"),
    "empty": (lambda X: X[:0], r"0 sample\(s\)"),
    "no-features": (lambda X: X[:, :0], r"0 feature\(s\)"),
    "1d": (lambda X: X[0], "Expected 2D array, got 1D array"),
    "3d": (lambda X: X[None], "Found array with dim 3"),
    "complex": (lambda X: X + 1j, "Complex data not supported"),
    "string": (lambda X: with_value(X, (1, 1), "a"), "could not convert"),
    "few-features": (lambda X: X[:, :5], "X has 5 features, but .* is expecting 8"),
    "overflowing": (lambda X: X * 1e160, "X has entries as large as"),
    "sparse-nan": (
        lambda X: sp.csr_matrix(with_value(X, (0, 2), np.nan)),
        "Input X contains NaN",
    ),
}


@pytest.mark.parametrize("bad", BAD_X, ids=list(BAD_X))
@pytest.mark.parametrize("Coder", CODERS)
def test_bad_X_raises_and_leaves_the_model_intact(Coder, bad):
    make_X, match = BAD_X[bad]
    model, expected = fitted(Coder)
    for method in methods(Coder):
        if method == "fit" and bad == "few-features":
            match_ = "dictionary has 8 features .* X has 5 features"
        else:
            match_ = match
        with pytest.raises(ValueError, match=match_):
            getattr(model, method)(make_X(X))
        assert_array_equal(model.transform(X_TEST), expected)


@pytest.mark.parametrize("Coder", CODERS)
def test_missing_values_in_a_dataframe(Coder):
    pd = pytest.importorskip("pandas")
    model, expected = fitted(Coder)
    frame = pd.DataFrame(X).astype("Float64")
    frame.iloc[3, 4] = pd.NA
    for method in methods(Coder):
        with pytest.raises(ValueError, match="Input X contains NaN"):
            getattr(model, method)(frame)
    assert_array_equal(model.transform(X_TEST), expected)


BAD_CODES = {
    "nan": (lambda Z: with_value(Z, (0, 0), np.nan), "Input X contains NaN"),
    "inf": (lambda Z: with_value(Z, (1, 3), np.inf), "Input X contains infinity"),
    "1d": (lambda Z: Z[0], "Expected 2D array, got 1D array"),
    "3d": (lambda Z: Z[None], "Found array with dim 3"),
    "complex": (lambda Z: Z + 1j, "Complex data not supported"),
    "wrong-width": (lambda Z: Z[:, :5], "X has 5 components, but .* has 12 atoms"),
    "overflowing": (lambda Z: np.full_like(Z, 1e308), "the codes are too large"),
}


@pytest.mark.parametrize("bad", BAD_CODES, ids=list(BAD_CODES))
@pytest.mark.parametrize("Coder", CODERS)
def test_inverse_transform_of_bad_codes(Coder, bad):
    make_codes, match = BAD_CODES[bad]
    model, expected = fitted(Coder)
    with pytest.raises(ValueError, match=match):
        model.inverse_transform(make_codes(expected))
    assert_array_equal(model.transform(X_TEST), expected)
    assert_array_equal(model.inverse_transform(expected), expected @ DICTIONARY)


BAD_DICTIONARIES = {
    "nan": (lambda D: with_value(D, (1, 2), np.nan), "dictionary contains NaN"),
    "inf": (lambda D: with_value(D, (0, 0), np.inf), "dictionary contains infinity"),
    "zero-atom": (lambda D: with_value(D, 4, 0.0), r"atom\(s\) of zero norm"),
    "transposed": (lambda D: D.T, "dictionary has 12 features .* X has 8"),
    "narrow": (lambda D: D[:, :5], "dictionary has 5 features .* X has 8"),
    "1d": (lambda D: D[0], "Expected 2D array, got 1D array"),
    "3d": (lambda D: D[None], "Found array with dim 3"),
    "empty": (lambda D: D[:0], r"0 sample\(s\)"),
    "complex": (lambda D: D + 1j, "Complex data not supported"),
    "string": (lambda D: with_value(D, (0, 1), "a"), "could not convert"),
    "huge": (lambda D: D * 1e160, "dictionary has entries as large as"),
    # Squared norms underflow to 0: the atoms are not zero, the scale is wrong.
    "underflowing": (lambda D: D * 1e-300, "dictionary's scale is out of range"),
}


@pytest.mark.parametrize("bad", BAD_DICTIONARIES, ids=list(BAD_DICTIONARIES))
@pytest.mark.parametrize("Coder", CODERS)
def test_bad_dictionary_raises_and_a_failed_refit_changes_nothing(Coder, bad):
    make_dictionary, match = BAD_DICTIONARIES[bad]
    with pytest.raises(ValueError, match=match):
        make(Coder, make_dictionary(DICTIONARY)).fit(X)
    model, expected = fitted(Coder)
    model.set_params(dictionary=make_dictionary(DICTIONARY))
    with pytest.raises(ValueError, match=match):
        model.fit(X)
    assert_array_equal(model.transform(X_TEST), expected)


@pytest.mark.parametrize("Coder", WITH_UNROLL)
def test_rank_deficient_dictionary(Coder):
    """Atoms spanning a 3-dimensional space: the Gram matrix has rank 3."""
    rng = np.random.RandomState(0)
    dictionary = rng.standard_normal((12, 3)) @ rng.standard_normal((3, 8))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    model = make(Coder, dictionary).fit(X)
    untrained = UNROLLS[Coder](dictionary, alpha=ALPHA, n_layers=N_LAYERS).fit(X)
    codes = model.transform(X)
    assert np.isfinite(codes).all()
    # Training restores the best parameters seen: never worse than the start.
    assert model.score(X) >= untrained.score(X) - 1e-9 * abs(untrained.score(X))


def test_rank_deficient_dictionary_reaches_the_lasso_optimum():
    """Duplicated atoms: the optimum is the one of the deduplicated problem."""
    doubled = np.vstack([DICTIONARY[:6], DICTIONARY[:6]])
    coder = FISTACoder(doubled, alpha=ALPHA, n_layers=20_000, tol=1e-12).fit(X)
    single = FISTACoder(DICTIONARY[:6], alpha=ALPHA, n_layers=20_000, tol=1e-12)
    assert_allclose(coder.score(X), single.fit(X).score(X), rtol=1e-9)


@pytest.mark.parametrize("alpha", [0, -1.0, np.nan, np.inf, "1"])
@pytest.mark.parametrize("Coder", CODERS)
def test_bad_alpha(Coder, alpha):
    model, expected = fitted(Coder)
    model.set_params(alpha=alpha)
    # Every method that reads alpha validates it, not only the first fit
    # (before: transform ran with alpha=nan and returned zeros, partial_fit
    # trained on a NaN cost and score returned NaN).
    for method in methods(Coder):
        with pytest.raises(ValueError, match="'alpha' parameter"):
            getattr(model, method)(X)
    model.set_params(alpha=ALPHA)
    assert_array_equal(model.transform(X_TEST), expected)


@pytest.mark.parametrize("Coder", WITH_UNROLL)
def test_alpha_above_alpha_max_gives_zero_codes(Coder):
    # The Lasso solution is exactly 0 once alpha >= max |x D^T|.
    model = make(Coder, alpha=1.01 * alpha_max(X, DICTIONARY)).fit(X)
    assert_array_equal(model.transform(X), 0.0)


@pytest.mark.parametrize("Coder", CLASSICAL)
@pytest.mark.parametrize("scale", [1e150, 1e-300])
def test_extreme_scales_are_solved_exactly_by_classical_coders(Coder, scale):
    # The Lasso is homogeneous: codes(cX, c alpha) = c codes(X, alpha).
    reference = make(Coder).fit(X).transform(X_TEST)
    model = make(Coder, alpha=ALPHA * scale).fit(X * scale)
    codes = model.transform(X_TEST * scale)
    assert_allclose(codes / scale, reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("Coder", WITH_UNROLL)
@pytest.mark.parametrize("scale", [1e150, 1e-150])
def test_extreme_dictionary_scales(Coder, scale):
    # With atoms c D and penalty c alpha the codes are those of (D, alpha) / c.
    model = make(Coder, DICTIONARY * scale, alpha=ALPHA * scale).fit(X)
    codes = model.transform(X_TEST)
    assert np.isfinite(codes).all()
    reference = UNROLLS[Coder](DICTIONARY, alpha=ALPHA, n_layers=N_LAYERS).fit(X)
    if Coder in CLASSICAL:
        assert_allclose(codes * scale, reference.transform(X_TEST), rtol=1e-10)
    else:
        # The cost is the same function of the codes: training never ends
        # worse than the iteration it starts from.
        start = reference.score(X)
        assert model.score(X) >= start - 1e-9 * abs(start)


@pytest.mark.parametrize("Coder", CODERS)
@pytest.mark.parametrize("scale", [1e150, 1e-300])
def test_extreme_scales_at_transform(Coder, scale):
    model, expected = fitted(Coder)
    codes = model.transform(X_TEST * scale)
    assert np.isfinite(codes).all()
    if scale < 1:
        # Every threshold dwarfs the signals.
        assert_array_equal(codes, 0.0)
    else:
        # The thresholds vanish at this scale: every layer is linear in X.
        linear = model.transform(X_TEST * (2 * scale))
        assert_allclose(linear, 2 * codes, rtol=1e-10)
    assert np.isfinite(model.score(X_TEST * scale))
    assert_array_equal(model.transform(X_TEST), expected)


@pytest.mark.parametrize("Coder", LEARNED)
@pytest.mark.parametrize(
    "dtype, scale", [(np.float64, 1e150), (np.float32, 1e15)], ids=["f64", "f32"]
)
def test_training_on_overflowing_scales_is_refused(Coder, dtype, scale):
    # Before: FacNet's Riemannian Adam warned of an overflow (its squared
    # gradients are of order X^4); LISTA/LFISTA silently did not train.
    Xs = (X * scale).astype(dtype)
    model = make(Coder).fit(X.astype(dtype))
    expected = model.transform(X_TEST.astype(dtype))
    for method in ("fit", "partial_fit"):
        with pytest.raises(ValueError, match="training squares the gradients"):
            getattr(model, method)(Xs)
        assert_array_equal(model.transform(X_TEST.astype(dtype)), expected)
    with pytest.raises(ValueError, match="training squares the gradients"):
        make(Coder).partial_fit(Xs)
    # Transform only needs the squared norms to fit: it still works.
    assert np.isfinite(model.transform(Xs)).all()


@pytest.mark.parametrize("Coder", [C for C in LEARNED if C in UNROLLS])
def test_tiny_training_signals_leave_the_untrained_network(Coder):
    scale = 1e-300
    model = make(Coder, alpha=ALPHA * scale).fit(X * scale)
    untrained = UNROLLS[Coder](DICTIONARY, alpha=ALPHA, n_layers=N_LAYERS).fit(X)
    codes = model.transform(X_TEST * scale)
    assert np.isfinite(codes).all()
    assert_allclose(codes / scale, untrained.transform(X_TEST), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("Coder", WITH_UNROLL)
def test_all_zero_signals(Coder):
    model, expected = fitted(Coder)
    zeros = np.zeros_like(X_TEST)
    assert_array_equal(model.transform(zeros), 0.0)
    assert model.score(zeros) == 0.0
    # Training on zeros: zero gradients, so the network stays at its start.
    trained = make(Coder).fit(np.zeros_like(X))
    untrained = UNROLLS[Coder](DICTIONARY, alpha=ALPHA, n_layers=N_LAYERS).fit(X)
    assert_allclose(trained.transform(X_TEST), untrained.transform(X_TEST), atol=1e-12)
    # Without a given dictionary, one is learned and usable.
    learned = make(Coder, dictionary=None, n_components=5).fit(np.zeros_like(X))
    assert np.isfinite(learned.components_).all()
    assert np.isfinite(learned.transform(X_TEST)).all()


@pytest.mark.parametrize(
    "convert",
    [
        lambda A: np.round(3 * A).astype(np.int64),
        lambda A: np.round(3 * A).astype(np.int32),
        lambda A: (A > 0.5).astype(bool),
        lambda A: (A > 0.5).astype(np.uint8),
        lambda A: A.astype(np.float16),
        lambda A: A.astype(object),
        lambda A: A.tolist(),
    ],
    ids=["int64", "int32", "bool", "uint8", "float16", "object", "list"],
)
@pytest.mark.parametrize("Coder", CODERS)
def test_other_dtypes_equal_their_float64_conversion(Coder, convert):
    model, _ = fitted(Coder)
    converted = convert(X_TEST)
    as_float = np.asarray(converted, dtype=np.float64)
    codes = model.transform(converted)
    assert codes.dtype == np.float64
    assert_array_equal(codes, model.transform(as_float))
    assert model.score(converted) == model.score(as_float)
    # Fitting on them, and an integer dictionary, too.
    dictionary = convert(DICTIONARY)
    if np.asarray(dictionary, dtype=float).any(axis=1).all():
        a = make(Coder, dictionary).fit(convert(X)).transform(X_TEST)
        b = make(Coder, np.asarray(dictionary, dtype=float))
        assert_array_equal(
            a, b.fit(np.asarray(convert(X), dtype=float)).transform(X_TEST)
        )


@pytest.mark.parametrize("Coder", CODERS)
def test_dataframe_with_feature_names(Coder):
    pd = pytest.importorskip("pandas")
    names = [f"pixel_{i}" for i in range(8)]
    frame = pd.DataFrame(X, columns=names)
    test_frame = pd.DataFrame(X_TEST, columns=names)
    model = make(Coder).fit(frame)
    reference = make(Coder).fit(X)
    assert list(model.feature_names_in_) == names
    assert_array_equal(model.transform(test_frame), reference.transform(X_TEST))
    out = model.get_feature_names_out()
    assert list(out) == [f"{Coder.__name__.lower()}{i}" for i in range(12)]
    model.set_output(transform="pandas")
    assert list(model.transform(test_frame).columns) == list(out)
    model.set_output(transform="default")
    expected = model.transform(test_frame)
    renamed = test_frame.rename(columns={"pixel_0": "other"})
    with pytest.raises(ValueError, match="feature names should match"):
        model.transform(renamed)
    # A failed refit must not leave the foreign names behind.
    bad = renamed.copy()
    bad.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.fit(bad)
    assert list(model.feature_names_in_) == names
    assert_array_equal(model.transform(test_frame), expected)
    if Coder in LEARNED:
        incremental = make(Coder).partial_fit(frame).partial_fit(frame)
        assert list(incremental.feature_names_in_) == names


@pytest.mark.parametrize("Coder", CODERS)
def test_read_only_memmaps(Coder, tmp_path):
    def read_only_copy(array, name):
        path = tmp_path / name
        writable = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
        writable[:] = array
        writable.flush()
        del writable
        return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)

    X_map, D_map = read_only_copy(X, "X.dat"), read_only_copy(DICTIONARY, "D.dat")
    frozen = X_TEST.copy()
    frozen.setflags(write=False)
    reference = make(Coder).fit(X)
    model = make(Coder, D_map).fit(X_map)
    assert_array_equal(model.transform(frozen), reference.transform(X_TEST))
    assert_array_equal(model.transform(X_map), reference.transform(X))
    assert model.score(X_map) == reference.score(X)
    if Coder in LEARNED:
        reference.partial_fit(X)
        model.partial_fit(X_map)
        assert_array_equal(model.transform(frozen), reference.transform(X_TEST))
    assert not frozen.flags.writeable and not X_map.flags.writeable


@pytest.mark.parametrize("Coder", CODERS)
def test_non_contiguous_arrays(Coder):
    reference = make(Coder).fit(X)
    expected = reference.transform(X_TEST)
    strided_test = np.repeat(X_TEST, 2, axis=1)[:, ::2]
    for name, variant in {
        "fortran": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],
    }.items():
        assert not variant.flags.c_contiguous
        model = make(Coder, np.asfortranarray(DICTIONARY)).fit(variant)
        assert_array_equal(model.transform(X_TEST), expected, err_msg=name)
        assert_array_equal(model.transform(strided_test), expected, err_msg=name)
    assert_array_equal(reference.transform(X_TEST[::-1]), expected[::-1])
    assert_array_equal(reference.transform(np.asfortranarray(X_TEST)), expected)


@pytest.mark.parametrize("Coder", CLASSICAL)
def test_n_layers_changed_after_fit_is_the_iteration_count(Coder):
    model, _ = fitted(Coder)
    model.set_params(n_layers=7)
    assert_array_equal(
        model.transform(X_TEST), make(Coder, n_layers=7).fit(X).transform(X_TEST)
    )


@pytest.mark.parametrize("Coder", LEARNED)
def test_n_layers_changed_after_fit_is_refused_by_learned_coders(Coder):
    # Before: transform silently ran the fitted 4-layer network.
    model, expected = fitted(Coder)
    model.set_params(n_layers=7)
    for method in ("transform", "score", "partial_fit"):
        with pytest.raises(ValueError, match="n_layers=7 but .* has 4 layers"):
            getattr(model, method)(X_TEST)
    model.set_params(n_layers=N_LAYERS)
    assert_array_equal(model.transform(X_TEST), expected)
    deeper = model.set_params(n_layers=7, warm_start=True).fit(X)
    assert deeper.transform(X_TEST).shape == expected.shape


@pytest.mark.parametrize("Coder", CODERS)
def test_methods_before_fit(Coder):
    # Classical coders need a fit only to learn a dictionary (as SparseCoder).
    unfitted = make(Coder, dictionary=None) if Coder in CLASSICAL else make(Coder)
    for method in ("transform", "score", "inverse_transform"):
        with pytest.raises(NotFittedError):
            getattr(unfitted, method)(X_TEST)
    if Coder is FacNetCoder:
        with pytest.raises(NotFittedError):
            make(Coder).factorization_report(X_TEST)


@pytest.mark.parametrize("Coder", CODERS)
def test_a_failed_first_fit_leaves_an_unfitted_model(Coder):
    model = make(Coder)
    with pytest.raises(ValueError, match="dictionary has 8 features"):
        model.fit(X[:, :5])
    assert not hasattr(model, "n_features_in_")
    if Coder in CLASSICAL:  # needs no fit: encodes with its dictionary
        assert_array_equal(model.transform(X_TEST), fitted(Coder)[1])
    else:
        with pytest.raises(NotFittedError):
            model.transform(X_TEST)
    assert_array_equal(model.fit(X).transform(X_TEST), fitted(Coder)[1])


@pytest.mark.parametrize("Coder", LEARNED)
def test_a_refit_failing_after_initialisation_keeps_the_old_network(Coder):
    # Before: the network was reset to its ISTA values before the split failed.
    model, expected = fitted(Coder)
    model.set_params(early_stopping=True, validation_fraction=0.01)
    with pytest.raises(ValueError, match="leaves 0 of 40 samples for validation"):
        model.fit(X)
    model.set_params(early_stopping=False)
    assert_array_equal(model.transform(X_TEST), expected)


class Fault(Exception):
    pass


@pytest.mark.parametrize("exception", [Fault, KeyboardInterrupt])
@pytest.mark.parametrize("Coder", LEARNED)
def test_a_fault_in_the_middle_of_training_changes_nothing(
    Coder, exception, monkeypatch
):
    # Before: partial_fit kept the batches updated before the fault.
    model, expected = fitted(Coder)
    state = (model.t_, list(model.loss_curve_), model.n_iter_)
    calls = []

    def faulty_project(network, params):
        calls.append(1)
        if len(calls) == 2:  # after a first batch has been applied
            raise exception("injected")

    # Every step ends with the network's projection (a fit builds a new one).
    monkeypatch.setattr(type(model.network_), "project", faulty_project)
    with pytest.raises(exception, match="injected"):
        model.partial_fit(X)
    calls.clear()
    with pytest.raises(exception, match="injected"):
        model.set_params(warm_start=True).fit(X)
    monkeypatch.undo()
    assert_array_equal(model.transform(X_TEST), expected)
    assert (model.t_, model.loss_curve_, model.n_iter_) == state
    # ...and the model trains on afterwards exactly as an untouched copy.
    untouched, _ = fitted(Coder)
    model.partial_fit(X)
    untouched.partial_fit(X)
    assert_array_equal(model.transform(X_TEST), untouched.transform(X_TEST))


@pytest.mark.parametrize(
    "Coder, solver",
    [(C, s) for C in (LISTACoder, LFISTACoder) for s in ("adam", "adagrad", "sgd")]
    + [(FacNetCoder, "adam"), (FacNetCoder, "sgd")],
)
def test_divergent_training_recovers(Coder, solver):
    untrained = UNROLLS[Coder](DICTIONARY, alpha=ALPHA, n_layers=N_LAYERS).fit(X)
    start = untrained.score(X)
    model = make(Coder, solver=solver, learning_rate_init=10.0, batch_size=5)
    model.fit(X)
    assert all(np.isfinite(p).all() for p in model._get_params().values())
    assert model.score(X) >= start - 1e-9 * abs(start)
    # partial_fit has no monitored best parameters: a call that more than
    # doubles the cost of its first mini-batch is undone (before: FacNet's
    # first call ended with a cost 5.4 times the starting one on all of X, and
    # SGD's costs compounded to ~500 times it over five calls).
    incremental = make(Coder, solver=solver, learning_rate_init=10.0, batch_size=5)
    before = start
    for _ in range(4):
        first = incremental.score(X[:5]) if hasattr(incremental, "t_") else None
        incremental.partial_fit(X)
        assert all(np.isfinite(p).all() for p in incremental._get_params().values())
        assert np.isfinite(incremental.transform(X)).all()
        if first is not None:
            assert incremental.score(X[:5]) >= 2 * first - 1e-9 * abs(first)
        # Not a guarantee on the other signals, but what this fixed problem
        # gives: no compounding blow-up.
        after = incremental.score(X)
        assert after >= 4 * before
        before = after


@pytest.mark.parametrize("Coder", LEARNED)
def test_partial_fit_with_other_features_or_depth(Coder):
    model, expected = fitted(Coder)
    with pytest.raises(ValueError, match="X has 5 features, but .* expecting 8"):
        model.partial_fit(X[:, :5])
    model.set_params(n_layers=2)
    with pytest.raises(ValueError, match="has 4 layers"):
        model.partial_fit(X)
    model.set_params(n_layers=N_LAYERS)
    assert_array_equal(model.transform(X_TEST), expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("Coder", CODERS)
def test_pickle_round_trip(Coder, dtype):
    model = make(Coder).fit(X.astype(dtype))
    # The numba kernels have run (compiled) before pickling.
    expected = model.transform(X_TEST.astype(dtype))
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.transform(X_TEST.astype(dtype)), expected)
    assert restored.score(X_TEST) == model.score(X_TEST)
    if Coder in LEARNED:
        # Same optimizer and random state: training continues identically.
        model.partial_fit(X)
        restored.partial_fit(X)
        assert_array_equal(restored.transform(X_TEST), model.transform(X_TEST))
        assert restored.loss_curve_ == model.loss_curve_


@pytest.mark.parametrize("n_jobs", [None, 2])
@pytest.mark.parametrize("Coder", CODERS)
def test_concurrent_transforms_equal_sequential_ones(Coder, n_jobs):
    model, _ = fitted(Coder)
    model.set_params(n_jobs=n_jobs)
    # A fresh copy: FacNet builds its cached operators in the threads.
    model = pickle.loads(pickle.dumps(model))
    inputs = [
        make_sparse_coding(1100 + 50 * i, dictionary=DICTIONARY, random_state=i)[0]
        for i in range(8)
    ]
    sequential = [model.transform(signals) for signals in inputs]
    scores = [model.score(signals) for signals in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(model.transform, inputs))
        concurrent_scores = list(pool.map(model.score, inputs))
    for got, want in zip(concurrent, sequential, strict=True):
        assert_array_equal(got, want)
    assert concurrent_scores == scores


@pytest.mark.parametrize("Coder", CODERS)
def test_sparse_input_equals_dense(Coder):
    model, expected = fitted(Coder)
    for sparse_format in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        assert_array_equal(model.transform(sparse_format(X_TEST)), expected)
    assert model.score(sp.csr_matrix(X_TEST)) == model.score(X_TEST)
    refit = make(Coder).fit(sp.csr_matrix(X))
    assert_array_equal(refit.transform(X_TEST), expected)


@pytest.mark.parametrize("Coder", CODERS)
def test_codes_are_never_worse_than_zero(Coder):
    """A sanity reference for every coder: its codes beat z = 0 on average."""
    model, codes = fitted(Coder)
    zero_cost = lasso_cost(X_TEST, np.zeros_like(codes), DICTIONARY, ALPHA).mean()
    assert -model.score(X_TEST) < zero_cost
