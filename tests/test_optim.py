import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn_lista._optim import (
    AdagradOptimizer,
    AdamOptimizer,
    SGDOptimizer,
    make_optimizer,
)


def _params():
    return [np.array([1.0, -2.0]), np.array([[0.5]])]


GRADS = [np.array([0.1, -0.4]), np.array([[2.0]])]


def test_sgd_with_momentum_by_hand():
    params = _params()
    optimizer = SGDOptimizer(learning_rate_init=0.1, momentum=0.5)
    optimizer.update_params(params, GRADS)
    # v1 = -0.1 g
    assert_allclose(params[0], [1.0 - 0.01, -2.0 + 0.04])
    optimizer.update_params(params, GRADS)
    # v2 = 0.5 v1 - 0.1 g = -0.15 g
    assert_allclose(params[0], [1.0 - 0.01 - 0.015, -2.0 + 0.04 + 0.06])
    assert_allclose(params[1], [[0.5 - 0.2 - 0.3]], atol=1e-15)


def test_sgd_nesterov_by_hand():
    params = _params()
    optimizer = SGDOptimizer(learning_rate_init=0.1, momentum=0.5, nesterov=True)
    optimizer.update_params(params, GRADS)
    # v1 = -0.1 g, update = 0.5 v1 - 0.1 g = -0.15 g
    assert_allclose(params[1], [[0.5 - 0.3]])


def test_adagrad_by_hand():
    params = _params()
    optimizer = AdagradOptimizer(learning_rate_init=0.1, epsilon=0.0)
    optimizer.update_params(params, GRADS)
    # first step: -lr * g / |g| = -lr * sign(g)
    assert_allclose(params[0], [0.9, -1.9])
    optimizer.update_params(params, GRADS)
    # second: -lr * g / sqrt(2 g^2)
    assert_allclose(params[0], [0.9 - 0.1 / np.sqrt(2), -1.9 + 0.1 / np.sqrt(2)])


def test_adam_by_hand():
    params = _params()
    optimizer = AdamOptimizer(
        learning_rate_init=0.01, beta_1=0.9, beta_2=0.999, epsilon=0.0
    )
    optimizer.update_params(params, GRADS)
    # With bias correction the first step is -lr * sign(g).
    assert_allclose(params[0], [0.99, -1.99])
    grads2 = [np.array([0.3, 0.0]), np.array([[1.0]])]
    optimizer.update_params(params, grads2)
    m = 0.9 * 0.1 * GRADS[0] + 0.1 * grads2[0]
    v = 0.999 * 0.001 * GRADS[0] ** 2 + 0.001 * grads2[0] ** 2
    step = 0.01 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    assert_allclose(params[0], np.array([0.99, -1.99]) - step * m / np.sqrt(v))


def test_updates_are_in_place_and_keep_dtype():
    params = [np.ones(3, dtype=np.float32)]
    alias = params[0]
    AdamOptimizer(0.1).update_params(params, [np.ones(3)])
    assert params[0] is alias
    assert alias.dtype == np.float32
    assert_allclose(alias, 0.9, rtol=1e-6)


def test_scale_learning_rate_resets_state():
    optimizer = AdamOptimizer(0.1)
    optimizer.update_params(_params(), GRADS)
    optimizer.scale_learning_rate(0.5)
    assert optimizer.learning_rate == pytest.approx(0.05)
    assert optimizer.t == 0 and optimizer.first_moments is None


@pytest.mark.parametrize("name", ["adam", "adagrad", "sgd"])
def test_make_optimizer_minimises_a_quadratic(name):
    target = np.array([3.0, -1.0])
    params = [np.zeros(2)]
    optimizer = make_optimizer(name, 0.05 if name != "adagrad" else 0.5)
    for _ in range(2000):
        optimizer.update_params(params, [params[0] - target])
    assert_allclose(params[0], target, atol=1e-2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_adam_matches_reference_updates(dtype):
    rng = np.random.RandomState(0)
    fused_params = [rng.standard_normal((3, 4, 5)).astype(dtype)]
    reference_params = [fused_params[0].copy()]
    fused, reference = AdamOptimizer(0.01), AdamOptimizer(0.01)
    for _ in range(5):
        grads = [rng.standard_normal((3, 4, 5)).astype(dtype)]
        fused.update_params(fused_params, grads)
        reference_params[0] += reference._get_updates(reference_params, grads)[0]
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(
        fused_params[0], reference_params[0], rtol=tolerance, atol=tolerance
    )


# ------------------------------------------------------------ orthogonal group
from sklearn_lista._optim import OrthogonalGroup, RiemannianOptimizer  # noqa: E402

RETRACTIONS = ["cayley", "qr", "polar"]


def test_projection_is_tangent_and_idempotent():
    group = OrthogonalGroup()
    rng = np.random.RandomState(0)
    A = OrthogonalGroup.random_point(6, random_state=0)
    G = rng.standard_normal((6, 6))
    V = group.projection(A, G)
    # Tangent vectors at A are A @ (skew matrix).
    assert_allclose(A.T @ V, -(A.T @ V).T, atol=1e-12)
    assert_allclose(group.projection(A, V), V, atol=1e-12)
    # The Riemannian gradient is the component of G along the tangent space.
    assert np.sum(V * (G - V)) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("retraction", RETRACTIONS)
def test_retractions_stay_on_the_group_and_are_first_order(retraction):
    group = OrthogonalGroup(retraction)
    rng = np.random.RandomState(1)
    A = OrthogonalGroup.random_point(5, random_state=1, size=(3,))
    V = group.projection(A, rng.standard_normal((3, 5, 5)))
    for scale in (1e-3, 0.1, 1.0, 10.0):
        B = group.retraction(A, scale * V)
        assert B.shape == A.shape
        assert OrthogonalGroup.distance_to_manifold(B) < 1e-12
    # R(A, tV) = A + tV + O(t^2)
    errors = [
        np.abs(group.retraction(A, t * V) - A - t * V).max() for t in (1e-2, 1e-3)
    ]
    assert errors[1] < errors[0] / 50
    assert_allclose(group.retraction(A, 0 * V), A, atol=1e-12)


def test_unknown_retraction_and_method():
    with pytest.raises(ValueError, match="retraction must be"):
        OrthogonalGroup("exp")
    with pytest.raises(ValueError, match="method must be"):
        RiemannianOptimizer(OrthogonalGroup(), method="lbfgs")


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
    params = [start.copy()]
    optimizer = RiemannianOptimizer(
        OrthogonalGroup(retraction),
        method=method,
        learning_rate_init=rate,
        reproject_every=0,
    )
    for _ in range(1500):
        optimizer.update_params(params, [2 * (params[0] - target)])
        assert OrthogonalGroup.distance_to_manifold(params[0]) < 1e-10
    assert_allclose(params[0], target, atol=1e-3)
