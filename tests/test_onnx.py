"""ONNX export: onnxruntime computes what `transform` computes (the ``[onnx]``
extra; CI installs it with the test extra, local runs without it skip)."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sklearn_lista import (
    ALISTACoder,
    FacNetCoder,
    FISTACoder,
    HyperLISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTACoder,
    StepLISTACoder,
    register_onnx_converters,
    to_onnx,
)
from sklearn_lista._onnx import ONNX_BUILDERS
from sklearn_lista.datasets import alpha_max, load_digits_problem
from sklearn_lista.networks import ARCHITECTURES

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

# The learned coders train for 1-3 epochs: enough to move every parameter away
# from its ISTA value, not to converge.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Relative to the largest code: float32 and float64 rounding over the layers.
RTOL = {np.float32: 1e-5, np.float64: 1e-10}
TRAINING = {"max_iter": 3, "batch_size": 32, "random_state": 0}


def session(model):
    return onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def run(model, X):
    (codes,) = session(model).run(None, {"X": X})
    return codes


def assert_codes_equal(actual, expected, dtype):
    scale = max(float(np.abs(expected).max()), np.finfo(dtype).tiny)
    np.testing.assert_allclose(
        actual, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale
    )


CODERS = {
    "ista": lambda D, alpha, positive: ISTACoder(
        D, alpha=alpha, n_layers=12, positive_code=positive
    ),
    "fista": lambda D, alpha, positive: FISTACoder(
        D, alpha=alpha, n_layers=12, positive_code=positive
    ),
    **{
        f"lista_{parametrization}": (
            lambda D, alpha, positive, parametrization=parametrization: LISTACoder(
                D,
                alpha=alpha,
                n_layers=4,
                parametrization=parametrization,
                positive_code=positive,
                **TRAINING,
            )
        )
        for parametrization in ("untied", "tied", "coupled")
    },
    "lfista": lambda D, alpha, positive: LFISTACoder(
        D, alpha=alpha, n_layers=5, positive_code=positive, **TRAINING
    ),
    **{
        f"step_{name}": (
            lambda D, alpha, positive, momentum=momentum: StepLISTACoder(
                D,
                alpha=alpha,
                n_layers=4,
                momentum=momentum,
                positive_code=positive,
                **TRAINING,
            )
        )
        for name, momentum in (("ista", False), ("fista", True))
    },
    "alista": lambda D, alpha, positive: ALISTACoder(
        D,
        alpha=alpha,
        n_layers=4,
        support_selection=False,
        positive_code=positive,
        **TRAINING,
    ),
    # Support selection: ALISTA's default, and a schedule that bypasses many
    # entries so that the top-k matters in every layer.
    "alista_ss": lambda D, alpha, positive: ALISTACoder(
        D, alpha=alpha, n_layers=4, positive_code=positive, **TRAINING
    ),
    "lista_cpss": lambda D, alpha, positive: LISTACoder(
        D,
        alpha=alpha,
        n_layers=4,
        parametrization="coupled",
        support_selection=(0.1, 0.3),
        positive_code=positive,
        **TRAINING,
    ),
    "step_fista_ss": lambda D, alpha, positive: StepLISTACoder(
        D,
        alpha=alpha,
        n_layers=4,
        momentum=True,
        support_selection=(0.1, 0.3),
        positive_code=positive,
        **TRAINING,
    ),
    "hyper_lista": lambda D, alpha, positive: HyperLISTACoder(
        D, alpha=alpha, n_layers=4, positive_code=positive, step=1.2, **TRAINING
    ),
    "facnet": lambda D, alpha, positive: FacNetCoder(
        D, alpha=alpha, n_layers=3, **TRAINING
    ),
    "facnet_eigen": lambda D, alpha, positive: FacNetCoder(
        D, alpha=alpha, n_layers=3, init="eigen", **TRAINING
    ),
}
CASES = [
    pytest.param(name, positive, id=f"{name}{'-positive' if positive else ''}")
    for name in CODERS
    for positive in (False, True)
    if not (positive and name.startswith("facnet"))
]


@pytest.fixture(scope="module")
def digits():
    X_train, X_test, y_train, y_test, D = load_digits_problem(
        n_components=24, max_iter=2, random_state=0
    )
    return X_train[:150], X_test[:50], D, 0.1 * alpha_max(X_train, D)


@pytest.fixture(params=["gaussian", "digits"])
def data(request, problem, digits):
    if request.param == "digits":
        return digits
    X, D, alpha = problem
    return X[:40], X[40:], D, alpha


@pytest.mark.parametrize("name, positive", CASES)
def test_onnxruntime_equals_transform(data, name, positive):
    X_train, X_test, D, alpha = data
    coder = CODERS[name](D, alpha, positive).fit(X_train)
    for dtype in (np.float32, np.float64):
        X = X_test.astype(dtype)
        codes = run(to_onnx(coder, dtype=dtype), X)
        assert codes.dtype == dtype and codes.shape == (X.shape[0], D.shape[0])
        assert_codes_equal(codes, coder.transform(X), dtype)
    # One row (any number of rows is accepted).
    row = X_test[:1].astype(np.float32)
    assert_codes_equal(run(to_onnx(coder), row), coder.transform(row), np.float32)


@pytest.mark.parametrize("momentum", [False, True])
@pytest.mark.parametrize("positive", [False, True])
def test_safeguarded_steps_export_their_per_signal_fallback(
    problem, momentum, positive
):
    X, D, alpha = problem
    coder = StepLISTACoder(
        D,
        alpha=alpha,
        n_layers=6,
        momentum=momentum,
        positive_code=positive,
        **TRAINING,
    ).fit(X[:40])
    # Steps of 3 to 12 / L: some layers fall back on some signals, not all.
    coder.steps_ = np.linspace(3.0, 12.0, 6) / coder.lipschitz_
    coder.set_params(safeguard=True)
    network = coder._encoding_network()
    _, cache = network.forward(X, network.cast(coder._get_params(), X.dtype))
    n_fallbacks = sum(rises.sum() for *_, rises, _ in cache[1][0])
    assert 0 < n_fallbacks < 6 * X.shape[0]
    codes = run(to_onnx(coder, dtype=np.float64), X)
    assert_codes_equal(codes, coder.transform(X), np.float64)
    plain = coder.set_params(safeguard=False).transform(X)
    assert not np.allclose(codes, plain)


def test_every_architecture_has_a_builder():
    missing = set(ARCHITECTURES) - set(ONNX_BUILDERS)
    assert not missing, f"no ONNX builder for {sorted(missing)}"


def test_depth_one_and_unfitted_classical(problem):
    X, D, alpha = problem
    X = X.astype(np.float32)
    # A classical coder with a given dictionary needs no fit, as transform.
    coder = FISTACoder(D, alpha=alpha, n_layers=1)
    assert_codes_equal(run(to_onnx(coder), X), coder.transform(X), np.float32)
    lista = LISTACoder(D, alpha=alpha, n_layers=1, max_iter=1).fit(X)
    assert_codes_equal(run(to_onnx(lista), X), lista.transform(X), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["fista", "lista_untied"])
def test_pipeline_converts_with_skl2onnx(problem, name, dtype):
    X, D, alpha = problem
    X = X.astype(dtype)
    y = (X[:, 0] > 0).astype(np.int64)
    pipeline = Pipeline(
        [("coder", CODERS[name](D, alpha, False)), ("clf", LogisticRegression())]
    ).fit(X, y)
    register_onnx_converters()
    # skl2onnx's ZipMap takes float32 probabilities only: plain arrays.
    model = skl2onnx.to_onnx(pipeline, X[:1], options={"zipmap": False})
    labels, probabilities = session(model).run(None, {"X": X})
    np.testing.assert_array_equal(labels, pipeline.predict(X))
    np.testing.assert_allclose(
        probabilities, pipeline.predict_proba(X), atol=100 * np.finfo(dtype).eps
    )


def test_onnxruntime_rejects_wrong_input(problem):
    X, D, alpha = problem
    model = to_onnx(ISTACoder(D, alpha=alpha, n_layers=3), dtype=np.float32)
    inputs = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in inputs] == [0, D.shape[1]]  # any rows
    fail = onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument
    with pytest.raises(fail, match="invalid dimensions"):
        run(model, X[:, :-1].astype(np.float32))
    with pytest.raises(fail, match="data type"):
        run(model, X)


def test_model_metadata_and_names(problem):
    X, D, alpha = problem
    coder = LFISTACoder(D, alpha=alpha, n_layers=3, **TRAINING).fit(X)
    model = to_onnx(
        coder, dtype=np.float64, input_name="signals", output_name="z", target_opset=9
    )
    props = {p.key: p.value for p in model.metadata_props}
    assert props["architecture"] == "lfista" and props["n_layers"] == "3"
    assert model.producer_name == "sklearn-lista"
    assert model.opset_import[0].version == 9
    assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.DOUBLE}
    (codes,) = session(model).run(["z"], {"signals": X})
    assert_codes_equal(codes, coder.transform(X), np.float64)


def test_refused_exports(problem):
    X, D, alpha = problem
    with pytest.raises(ValueError, match="tol=None"):
        to_onnx(ISTACoder(D, alpha=alpha, tol=1e-6))
    with pytest.raises(ValueError, match="restart=False"):
        to_onnx(FISTACoder(D, alpha=alpha, restart=True))
    with pytest.raises(NotFittedError):
        to_onnx(LISTACoder(D, alpha=alpha))
    lista = LISTACoder(D, alpha=alpha, n_layers=2, max_iter=1).fit(X)
    with pytest.raises(ValueError, match="n_layers=2"):
        to_onnx(lista.set_params(n_layers=3))
    with pytest.raises(ValueError, match="float32 or float64"):
        to_onnx(lista, dtype=np.float16)
    with pytest.raises(ValueError, match="at least 9"):
        to_onnx(lista.set_params(n_layers=2), target_opset=8)
    with pytest.raises(TypeError, match="register_onnx_converters"):
        to_onnx(Pipeline([("coder", lista)]))


def test_support_selection_needs_opset_10(problem):
    X, D, alpha = problem
    coder = ALISTACoder(D, alpha=alpha, n_layers=2, **TRAINING).fit(X)
    assert to_onnx(coder, target_opset=10).opset_import[0].version == 10
    with pytest.raises(ValueError, match="TopK needs 10"):
        to_onnx(coder, target_opset=9)


def test_hyper_lista_needs_opset_11(problem):
    X, D, alpha = problem
    coder = HyperLISTACoder(D, alpha=alpha, n_layers=3, fit_hyperparameters=False)
    coder.fit(X)
    assert to_onnx(coder, target_opset=11).opset_import[0].version == 11
    with pytest.raises(ValueError, match="Round 11"):
        to_onnx(coder, target_opset=10)
