import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_lista.optim import (
    AdagradOptimizer,
    AdamOptimizer,
    ConstantSchedule,
    Euclidean,
    NonNegative,
    OrthogonalGroup,
    PlateauSchedule,
    Positive,
    SGDOptimizer,
    make_optimizer,
)
from sklearn_lista.optim.manifolds import _cayley, _cayley_lu

EUCLIDEAN = {"a": Euclidean(), "b": Euclidean()}


def _params():
    return {"a": np.array([1.0, -2.0]), "b": np.array([[0.5]])}


GRADS = {"a": np.array([0.1, -0.4]), "b": np.array([[2.0]])}


def test_sgd_with_momentum_by_hand():
    params = _params()
    optimizer = SGDOptimizer(EUCLIDEAN, learning_rate_init=0.1, momentum=0.5)
    optimizer.update_params(params, GRADS)
    # v1 = -0.1 g
    assert_allclose(params["a"], [1.0 - 0.01, -2.0 + 0.04])
    optimizer.update_params(params, GRADS)
    # v2 = 0.5 v1 - 0.1 g = -0.15 g
    assert_allclose(params["a"], [1.0 - 0.01 - 0.015, -2.0 + 0.04 + 0.06])
    assert_allclose(params["b"], [[0.5 - 0.2 - 0.3]], atol=1e-15)


def test_sgd_nesterov_by_hand():
    params = _params()
    optimizer = SGDOptimizer(
        EUCLIDEAN, learning_rate_init=0.1, momentum=0.5, nesterov=True
    )
    optimizer.update_params(params, GRADS)
    # v1 = -0.1 g, update = 0.5 v1 - 0.1 g = -0.15 g
    assert_allclose(params["b"], [[0.5 - 0.3]])


def test_adagrad_by_hand():
    params = _params()
    optimizer = AdagradOptimizer(EUCLIDEAN, learning_rate_init=0.1, epsilon=0.0)
    optimizer.update_params(params, GRADS)
    # first step: -lr * g / |g| = -lr * sign(g)
    assert_allclose(params["a"], [0.9, -1.9])
    optimizer.update_params(params, GRADS)
    # second: -lr * g / sqrt(2 g^2)
    assert_allclose(params["a"], [0.9 - 0.1 / np.sqrt(2), -1.9 + 0.1 / np.sqrt(2)])


@pytest.mark.parametrize("contiguous", [True, False])
def test_adam_by_hand(contiguous):
    params = _params()
    if not contiguous:  # the general (non-fused) path
        params["a"] = np.array([[1.0, 0.0], [-2.0, 0.0]])[:, 0]
    optimizer = AdamOptimizer(
        EUCLIDEAN, learning_rate_init=0.01, beta_1=0.9, beta_2=0.999, epsilon=0.0
    )
    optimizer.update_params(params, GRADS)
    # With bias correction the first step is -lr * sign(g).
    assert_allclose(params["a"], [0.99, -1.99])
    grads2 = {"a": np.array([0.3, 0.0]), "b": np.array([[1.0]])}
    optimizer.update_params(params, grads2)
    m = 0.9 * 0.1 * GRADS["a"] + 0.1 * grads2["a"]
    v = 0.999 * 0.001 * GRADS["a"] ** 2 + 0.001 * grads2["a"] ** 2
    step = 0.01 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    assert_allclose(params["a"], np.array([0.99, -1.99]) - step * m / np.sqrt(v))


def test_updates_are_in_place_and_keep_dtype():
    params = {"a": np.ones(3, dtype=np.float32)}
    alias = params["a"]
    AdamOptimizer({"a": Euclidean()}, 0.1).update_params(params, {"a": np.ones(3)})
    assert params["a"] is alias
    assert alias.dtype == np.float32
    assert_allclose(alias, 0.9, rtol=1e-6)


def test_scale_learning_rate_resets_state():
    optimizer = AdamOptimizer(EUCLIDEAN, 0.1)
    optimizer.update_params(_params(), GRADS)
    optimizer.scale_learning_rate(0.5)
    assert optimizer.learning_rate == pytest.approx(0.05)
    assert optimizer.t == 0 and optimizer.state == {}


@pytest.mark.parametrize("name", ["adam", "adagrad", "sgd"])
def test_make_optimizer_minimises_a_quadratic(name):
    target = np.array([3.0, -1.0])
    params = {"w": np.zeros(2)}
    optimizer = make_optimizer(
        name, {"w": Euclidean()}, 0.05 if name != "adagrad" else 0.5
    )
    for _ in range(2000):
        optimizer.update_params(params, {"w": params["w"] - target})
    assert_allclose(params["w"], target, atol=1e-2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_adam_matches_reference_updates(dtype):
    rng = np.random.RandomState(0)
    fused_params = {"w": rng.standard_normal((3, 4, 5)).astype(dtype)}
    # A non-contiguous copy takes the general path.
    reference_params = {"w": np.asfortranarray(fused_params["w"])}
    fused = AdamOptimizer({"w": Euclidean()}, 0.01)
    reference = AdamOptimizer({"w": Euclidean()}, 0.01)
    for _ in range(5):
        grads = {"w": rng.standard_normal((3, 4, 5)).astype(dtype)}
        fused.update_params(fused_params, grads)
        reference.update_params(reference_params, grads)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(
        fused_params["w"], reference_params["w"], rtol=tolerance, atol=tolerance
    )


@pytest.mark.parametrize("name", ["adam", "adagrad", "sgd"])
def test_every_parameter_stays_on_its_manifold(name):
    rng = np.random.RandomState(0)
    manifolds = {
        "weights": Euclidean(),
        "thresholds": NonNegative(),
        "scales": Positive(),
        "rotations": OrthogonalGroup(),
    }
    params = {
        "weights": rng.standard_normal((3, 4)),
        "thresholds": np.full(5, 0.01),
        "scales": np.full(5, 0.01),
        "rotations": OrthogonalGroup.random_point(4, random_state=0, size=(2,)),
    }
    optimizer = make_optimizer(name, manifolds, 0.5)
    for _ in range(20):
        grads = {k: 10 * rng.standard_normal(p.shape) for k, p in params.items()}
        optimizer.update_params(params, grads)
        for key, manifold in manifolds.items():
            assert manifold.distance(params[key]) < 1e-10, key
    assert (params["scales"] > 0).all() and (params["thresholds"] >= 0).all()


def test_schedules():
    assert ConstantSchedule().on_stall(5) == (None, False)
    plateau = PlateauSchedule(patience=2, factor=0.5)
    assert plateau.on_stall(1) == (None, False)
    assert plateau.on_stall(2) == (0.5, False)
    assert PlateauSchedule(patience=3, reset=True).on_stall(3) == (0.5, True)


# ------------------------------------------------------------ orthogonal group
RETRACTIONS = ["cayley", "qr", "polar"]


def _ambient_skew(matrices):
    return 0.5 * (matrices - np.swapaxes(matrices, -1, -2))


def test_projection_is_tangent_and_idempotent():
    group = OrthogonalGroup()
    rng = np.random.RandomState(0)
    A = OrthogonalGroup.random_point(6, random_state=0)
    G = rng.standard_normal((6, 6))
    # Directions live in the Lie algebra: W skew, the tangent vector is A W.
    W = group.egrad_to_rgrad(A, G)
    assert_allclose(W, -W.T, atol=1e-12)
    V = group.tangent_vector(A, W)
    assert_allclose(V, A @ _ambient_skew(A.T @ G), atol=1e-12)
    assert_allclose(group.egrad_to_rgrad(A, V), W, atol=1e-12)
    # The Riemannian gradient is the component of G along the tangent space.
    assert np.sum(V * (G - V)) == pytest.approx(0.0, abs=1e-10)
    # Norms are those of the ambient vector (what Adam's second moment uses).
    assert np.linalg.norm(W) == pytest.approx(np.linalg.norm(V))


@pytest.mark.parametrize("retraction", RETRACTIONS)
def test_retractions_stay_on_the_group_and_are_first_order(retraction):
    group = OrthogonalGroup(retraction)
    rng = np.random.RandomState(1)
    A = OrthogonalGroup.random_point(5, random_state=1, size=(3,))
    W = group.egrad_to_rgrad(A, rng.standard_normal((3, 5, 5)))
    V = group.tangent_vector(A, W)
    for scale in (1e-3, 0.1, 1.0, 10.0):
        B = group.retract(A, scale * W)
        assert B.shape == A.shape
        assert group.distance(B) < 1e-12
    # R(A, tV) = A + tV + O(t^2)
    errors = [np.abs(group.retract(A, t * W) - A - t * V).max() for t in (1e-2, 1e-3)]
    assert errors[1] < errors[0] / 50
    assert_allclose(group.retract(A, 0 * W), A, atol=1e-12)


@pytest.mark.parametrize("retraction", RETRACTIONS)
def test_retractions_match_their_ambient_definitions(retraction):
    # The Lie-algebra forms against the textbook formulas on A + V.
    group = OrthogonalGroup(retraction)
    rng = np.random.RandomState(4)
    A = OrthogonalGroup.random_point(6, random_state=4, size=(2,))
    W = group.egrad_to_rgrad(A, 0.3 * rng.standard_normal((2, 6, 6)))
    M = group.egrad_to_rgrad(A, rng.standard_normal((2, 6, 6)))
    identity = np.eye(6)
    if retraction == "cayley":
        expected = A @ np.linalg.solve(identity - W / 2, identity + W / 2)
    elif retraction == "qr":
        q, r = np.linalg.qr(A + A @ W)
        expected = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    else:
        u, _, vt = np.linalg.svd(A + A @ W)
        expected = u @ vt
    new, (moved,) = group.retract_transport(A, W, (M,))
    assert_allclose(new, expected, atol=1e-12)
    assert_allclose(group.retract(A, W), new, atol=1e-14)
    # Transport by projection of the ambient A M onto the tangent space at new.
    projected = new @ _ambient_skew(np.swapaxes(new, -1, -2) @ (A @ M))
    assert_allclose(group.tangent_vector(new, moved), projected, atol=1e-12)
    assert_allclose(group.transport(A, new, M), moved, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-7, 1e-4, 5e-4, 2e-3, 1e-2, 0.3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cayley_series_equals_the_lu_solve(scale, dtype):
    # Small steps take the truncated series (GEMMs only), large ones the LU
    # factorisation: both are the same retraction and transport to rounding.
    rng = np.random.RandomState(6)
    A = OrthogonalGroup.random_point(20, random_state=6, size=(3,)).astype(dtype)
    W, V, M = (_ambient_skew(rng.standard_normal((3, 20, 20))) for _ in range(3))
    W = (scale * W / np.linalg.norm(W, axis=(-2, -1), keepdims=True)).astype(dtype)
    vectors = (V.astype(dtype), M.astype(dtype))
    new, moved = _cayley(A, W, vectors)
    expected, expected_moved = _cayley_lu(A, W, vectors)
    tol = 10 * np.finfo(dtype).eps
    assert new.dtype == dtype
    assert_allclose(new, expected, rtol=0, atol=tol)
    for vector, reference in zip(moved, expected_moved, strict=True):
        assert_allclose(vector, reference, rtol=0, atol=tol * np.abs(reference).max())
    assert OrthogonalGroup().distance(new) < tol


@pytest.mark.parametrize("retraction", RETRACTIONS)
def test_long_run_stays_orthogonal_without_reprojection(retraction):
    # 5 000 Adam steps on 32 x 32 rotations, never reprojected: the rounding
    # drift of the retraction alone stays far below 1e-10.
    rng = np.random.RandomState(5)
    group = OrthogonalGroup(retraction, reproject_every=None)
    params = {"A": OrthogonalGroup.random_point(32, random_state=5, size=(2,))}
    optimizer = make_optimizer("adam", {"A": group}, 1e-2)
    noise = rng.standard_normal((50, 2, 32, 32))
    for t in range(5_000):
        optimizer.update_params(params, {"A": noise[t % 50]})
    assert group.distance(params["A"]) < 1e-10


def test_unknown_retraction():
    with pytest.raises(ValueError, match="retraction must be"):
        OrthogonalGroup("exp")


@pytest.mark.parametrize("retraction", RETRACTIONS)
@pytest.mark.parametrize("method, rate", [("sgd", 0.05), ("adam", 0.02)])
def test_riemannian_optimizer_finds_a_rotation_and_stays_orthogonal(
    retraction, method, rate
):
    # min_A ||A - T||^2 over O(n) with T orthogonal: the minimiser is T.
    target = OrthogonalGroup.random_point(4, random_state=2, size=(2,))
    start = OrthogonalGroup.random_point(4, random_state=3, size=(2,))
    # Same connected component as the target, so that the minimiser is reachable.
    start[..., :, 0] *= np.sign(np.linalg.det(start) * np.linalg.det(target))[:, None]
    params = {"A": start.copy()}
    group = OrthogonalGroup(retraction, reproject_every=None)
    optimizer = make_optimizer(method, {"A": group}, rate)
    for _ in range(1500):
        optimizer.update_params(params, {"A": 2 * (params["A"] - target)})
        assert group.distance(params["A"]) < 1e-10
    assert_allclose(params["A"], target, atol=1e-3)
