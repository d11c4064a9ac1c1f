"""Input checks shared by the estimators, and the helpers that keep a failed
fit harmless (`restore_on_error`) and warnings pointing at the user's line."""

import copy
import inspect
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite, check_array
from sklearn.utils.validation import validate_data

FLOAT_DTYPES = (np.float64, np.float32)


def user_stacklevel():
    """Stack level of the first frame outside this package and scikit-learn,
    so that warnings point at the user's line whatever wrappers are between."""
    import joblib
    import sklearn

    internal = tuple(
        str(Path(module.__file__).parent) for module in (sklearn, joblib)
    ) + (str(Path(__file__).parent),)
    level = 1
    frame = inspect.currentframe().f_back
    while frame is not None and frame.f_code.co_filename.startswith(internal):
        frame = frame.f_back
        level += 1
    return level


def check_dictionary(dictionary, n_features=None, dtype=FLOAT_DTYPES):
    """Validate a dictionary of atoms stored as rows.

    Returns a C-contiguous floating copy. Raises ``ValueError`` for NaN/inf,
    wrong dimensions, a width that does not match ``n_features`` or atoms of
    zero norm (they make the problem ill-posed and the step size undefined).
    """
    dictionary = check_array(
        dictionary,
        dtype=dtype,
        order="C",
        copy=True,
        input_name="dictionary",
        ensure_min_samples=1,
        ensure_min_features=1,
    )
    if n_features is not None and dictionary.shape[1] != n_features:
        raise ValueError(
            f"dictionary has {dictionary.shape[1]} features (columns) but X has "
            f"{n_features} features; the dictionary must have shape "
            f"(n_components, {n_features})."
        )
    check_scale(dictionary, "dictionary")
    # Exact zeros only: atoms so small that their squared norms underflow are
    # reported by the scale check of the fit, which names the real problem.
    zero_atoms = np.flatnonzero(~dictionary.any(axis=1))
    if zero_atoms.size:
        raise ValueError(
            f"dictionary has {zero_atoms.size} atom(s) of zero norm (rows "
            f"{zero_atoms[:10].tolist()}); every atom (row) must be non-zero."
        )
    return dictionary


def _squared_scale_limit(dtype, n_features):
    """The largest squared entry ``check_scale`` accepts: beyond it a row's
    squared norm can overflow `dtype`."""
    return np.finfo(dtype).max / (4.0 * max(n_features, 1))


def check_scale(X, name="X"):
    """Raise if squared norms of the rows of `X` overflow its dtype.

    The Lasso cost sums squares: beyond this scale every cost, gap and
    gradient is inf or NaN, so fail early with a message instead.
    """
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return
    # (max and -min: np.abs would allocate a copy of X, ~1 ms per 10^6 entries.)
    largest = max(float(np.max(values)), -float(np.min(values)))
    limit = np.sqrt(_squared_scale_limit(values.dtype, X.shape[1]))
    if largest > limit:
        raise ValueError(
            f"{name} has entries as large as {largest:.3g}: their squared norms "
            f"overflow {values.dtype} (limit {limit:.3g}); rescale {name}."
        )


def validate_signals(estimator, X, y="no_validation", **check_params):
    """`validate_data` of the signals `X` (and `y`), with the scale check.

    Returns what `validate_data` returns. One pass over `X` decides the usual
    case: a sum of squares at most ``check_scale``'s limit squared proves
    every entry finite and within the limit. Otherwise scikit-learn's finite
    check and ``check_scale`` find the entry and name the problem, after
    `validate_data`'s other checks (input with several problems may be told
    of another one first than before: its shape, or `y`). (The
    finite check, the maximum and the minimum are three passes over `X`:
    0.65 ms of a 12 ms fit and transform, doc/benchmarks/peers.rst.)
    """
    validated = validate_data(estimator, X, y, ensure_all_finite=False, **check_params)
    no_y = y is None or (isinstance(y, str) and y == "no_validation")
    X = validated if no_y else validated[0]
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return validated
    if values.flags.c_contiguous or values.flags.f_contiguous:
        flat = values.ravel(order="K")
        # NaN compares False, inf exceeds the limit: both take the slow path.
        with np.errstate(over="ignore", invalid="ignore"):
            squares = np.dot(flat, flat)
        if squares <= _squared_scale_limit(values.dtype, X.shape[1]):
            return validated
    assert_all_finite(values, estimator_name=type(estimator).__name__, input_name="X")
    check_scale(X)
    return validated


def check_training_scale(X, n_components):
    """Raise if the optimizers' squared gradients would overflow.

    The gradients of the cost grow as ``|X|^2`` and Adam/Adagrad square and
    sum them over up to ``n_features * n_components`` weights, so training
    needs ``|X|^4`` times that to fit in the dtype: beyond it the moments are
    inf and the steps zero or NaN. (Transform only needs ``check_scale``.)
    """
    if X.size == 0:
        return
    largest = float(np.max(np.abs(X)))
    budget = np.finfo(X.dtype).max / (4.0 * X.shape[1] * max(n_components, 1))
    limit = budget**0.25
    if largest > limit:
        raise ValueError(
            f"X has entries as large as {largest:.3g}: training squares the "
            f"gradients of the cost (of order X^2), which overflow {X.dtype} "
            f"beyond {limit:.3g}; rescale X (and alpha) to train on it."
        )


def check_target_codes(y, n_samples, n_components, dtype):
    """Validate the target codes of the supervised code loss.

    Returns a C-contiguous array of shape ``(n_samples, n_components)`` in
    `dtype`; raises ``ValueError`` naming the problem otherwise.
    """
    if y is None:
        raise ValueError(
            "loss='squared_error' trains on target codes: call fit(X, y) with y "
            f"of shape (n_samples, n_components) = ({n_samples}, {n_components})."
        )
    y = check_array(
        y, dtype=dtype, order="C", input_name="y", ensure_2d=False, ensure_min_samples=0
    )
    if y.ndim != 2 or y.shape != (n_samples, n_components):
        raise ValueError(
            f"y must hold target codes of shape (n_samples, n_components) = "
            f"({n_samples}, {n_components}), got shape {y.shape}."
        )
    check_scale(y, "y")
    return y


@contextmanager
def restore_on_error(estimator):
    """Put back the estimator's fitted state if the block raises.

    A fit or partial_fit that fails half-way (bad data found late, an
    interrupt, a fault in a kernel) must not leave a half-updated model or
    foreign feature names behind. The constructor parameters are not touched
    by fitting, so only the other attributes are saved.
    """
    parameters = estimator.get_params(deep=False)
    saved = {
        name: copy.deepcopy(value)
        for name, value in vars(estimator).items()
        if name not in parameters
    }
    try:
        yield
    except BaseException:
        for name in list(vars(estimator)):
            if name not in parameters and name not in saved:
                delattr(estimator, name)
        vars(estimator).update(saved)
        raise
