"""The protocol, tested on every architecture of the registry."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_lista._lasso import LassoProblem, mean_cost_and_grad
from sklearn_lista._solvers import iterative_thresholding
from sklearn_lista.datasets import alpha_max, make_sparse_coding
from sklearn_lista.losses import LOSSES
from sklearn_lista.networks import (
    ARCHITECTURES,
    JointDictionary,
    ParameterSpec,
    UnrolledNetwork,
    register_architecture,
)
from sklearn_lista.networks.proximal import lista_forward
from sklearn_lista.optim import NonNegative, OrthogonalGroup, Positive

NAMES = list(ARCHITECTURES)
# FacNet's rotations do not keep codes positive: it refuses positive_code.
WITH_POSITIVE = [
    (name, positive)
    for name in NAMES
    for positive in (False, True)
    if not (positive and name == "facnet")
]
# Networks whose untrained state is n_layers ISTA/FISTA steps (not ALISTA).
IDENTITY = [(name, p) for name, p in WITH_POSITIVE if ARCHITECTURES[name].reference]


@pytest.fixture(scope="module")
def small():
    X, dictionary, _ = make_sparse_coding(40, 12, 8, density=0.2, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    return X, dictionary, alpha


def _network(small, name, positive=False, dtype=np.float64):
    X, dictionary, alpha = small
    problem = LassoProblem(dictionary.astype(dtype), alpha, positive)
    return ARCHITECTURES[name](problem)


def _perturbed(network, params, scale, seed=0):
    """Parameters moved away from the initialisation, each on its manifold."""
    rng = np.random.RandomState(seed)
    moved = {}
    for name, value in params.items():
        manifold = network.parameters[name].manifold
        noise = scale * rng.standard_normal(value.shape)
        if isinstance(manifold, OrthogonalGroup):
            noise = manifold.egrad_to_rgrad(value, noise)
        moved[name] = manifold.retract(value, noise)
        if isinstance(manifold, NonNegative):
            moved[name] = np.abs(value + noise)
    return moved


def test_facnet_refuses_positive_codes(small):
    with pytest.raises(ValueError, match="positive_code"):
        _network(small, "facnet", positive=True)


def test_registry_holds_every_architecture():
    assert {"lista", "tied_lista", "lista_cp", "lfista", "facnet"} <= set(NAMES)
    for name, network_class in ARCHITECTURES.items():
        assert network_class.name == name
        assert issubclass(network_class, UnrolledNetwork)
    with pytest.raises(TypeError, match="UnrolledNetwork"):
        register_architecture(object)


@pytest.mark.parametrize("name, positive", IDENTITY)
@pytest.mark.parametrize("n_layers", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("keep_cache", [False, True])
def test_untrained_network_equals_classical_iterations(
    small, name, n_layers, positive, keep_cache
):
    X, dictionary, alpha = small
    network = _network(small, name, positive)
    params = network.init_params(n_layers)
    assert network.n_layers(params) == n_layers
    codes, _ = network.forward(X, params, keep_cache=keep_cache)
    expected, _ = iterative_thresholding(
        X,
        dictionary,
        alpha,
        n_iter=n_layers,
        lipschitz=network.problem.lipschitz,
        positive=positive,
        accelerated=network.reference == "fista",
    )
    assert_allclose(codes, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_declared_with_manifolds(small, name):
    network = _network(small, name)
    params = network.init_params(4)
    assert list(params) == list(network.parameters)
    for param_name, spec in network.parameters.items():
        assert isinstance(spec, ParameterSpec)
        assert spec.layers in ("layer", "iterate", "shared")
        assert network.manifolds[param_name] is spec.manifold
        assert spec.manifold.distance(params[param_name]) < 1e-12
        assert params[param_name].flags.c_contiguous


@pytest.mark.parametrize("name", NAMES)
def test_float32_forward(small, name):
    X, _, _ = small
    network = _network(small, name, dtype=np.float32)
    params = network.init_params(5)
    assert all(p.dtype == np.float32 for p in params.values())
    codes, _ = network.forward(X.astype(np.float32), params)
    assert codes.dtype == np.float32
    reference = _network(small, name)
    expected, _ = reference.forward(X, reference.init_params(5))
    assert_allclose(codes, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, positive", WITH_POSITIVE)
@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_gradient_matches_finite_differences(small, name, positive, loss_name):
    X, dictionary, alpha = small
    network = _network(small, name, positive)
    loss = LOSSES[loss_name](network.problem)
    rng = np.random.RandomState(0)
    # Move away from the ISTA point so that every weight matters.
    params = _perturbed(network, network.init_params(4), 0.02)
    targets = rng.standard_normal((X.shape[0], dictionary.shape[0]))

    def value(current):
        codes, _ = network.forward(X, current)
        return loss(codes, X, targets)[0]

    codes, cache = network.forward(X, params)
    _, grad_codes = loss(codes, X, targets)
    grads = network.backward(params, cache, grad_codes)
    assert list(grads) == list(params)
    eps = 1e-6
    for param_name, param in params.items():
        grad = grads[param_name]
        assert grad.shape == param.shape
        flat, flat_grad = param.reshape(-1), grad.reshape(-1)
        for index in rng.choice(flat.size, size=min(25, flat.size), replace=False):
            saved = flat[index]
            flat[index] = saved + eps
            up = value(params)
            flat[index] = saved - eps
            down = value(params)
            flat[index] = saved
            numerical = (up - down) / (2 * eps)
            assert numerical == pytest.approx(flat_grad[index], rel=1e-5, abs=1e-7), (
                param_name,
                index,
            )


def test_loss_and_gradient_of_the_codes(small):
    X, dictionary, alpha = small
    codes = np.random.RandomState(0).standard_normal((len(X), dictionary.shape[0]))
    loss, grad = mean_cost_and_grad(X, codes, dictionary, alpha)
    residual = X - codes @ dictionary
    expected = (0.5 * (residual**2).sum() + alpha * np.abs(codes).sum()) / len(X)
    assert loss == pytest.approx(expected)
    assert_allclose(
        grad,
        ((codes @ dictionary - X) @ dictionary.T + alpha * np.sign(codes)) / len(X),
    )


@pytest.mark.parametrize("name", NAMES)
def test_grown_layers_can_start_as_copies_of_the_last_trained_one(small, name):
    X = small[0]
    network = _network(small, name)
    trained = _perturbed(network, network.init_params(3), 0.01)
    starts = network.grown_starts(trained, 5)
    # A network that does not grow has one start: its resized parameters.
    assert len(network.grown_starts(trained, 3)) == 1
    if network.new_layers_copy_last:
        assert len(starts) == 1
        copied = starts[0]
    else:
        # The identity start is offered only by the networks that have one.
        assert len(starts) == 2 + network.has_identity_layers
        untrained, copied = starts[:2]
        for param_name, value in network.resize(trained, 5).items():
            assert_array_equal(untrained[param_name], value)
        assert_array_equal(
            network.resize(trained, 5, "last")[param_name], copied[param_name]
        )
    for param_name, spec in network.parameters.items():
        old, new = trained[param_name], copied[param_name]
        if spec.layers == "shared":
            assert_array_equal(new, old)
            continue
        kept = old.shape[0]
        assert new.shape[0] == kept + 2
        assert_array_equal(new[:kept], old)
        # Every new layer equals the last trained one.
        assert_array_equal(new[kept:], np.repeat(old[-1:], 2, axis=0))
    for start in starts:
        assert network.n_layers(start) == 5
        codes, _ = network.forward(X, start, keep_cache=False)
        assert codes.shape == (X.shape[0], network.problem.n_components)
        assert np.isfinite(codes).all()


def test_resize_refuses_an_unknown_growth_rule(small):
    network = _network(small, "lista")
    with pytest.raises(ValueError, match="new_layers must be"):
        network.resize(network.init_params(2), 3, new_layers="random")
    with pytest.raises(ValueError, match="no identity layer"):
        tied = _network(small, "tied_lista")
        tied.resize(tied.init_params(2), 3, new_layers="identity")


IDENTITY_LAYERS = [
    (name, positive)
    for name, positive in WITH_POSITIVE
    if ARCHITECTURES[name].has_identity_layers
]


@pytest.mark.parametrize("support_selection", [None, (0.2, 0.5)])
@pytest.mark.parametrize(("name", "positive"), IDENTITY_LAYERS)
def test_identity_growth_reproduces_the_trained_codes(
    small, name, positive, support_selection
):
    X = small[0]
    network = _network(small, name, positive)
    network.support_selection = support_selection
    trained = _perturbed(network, network.init_params(3), 0.05)
    codes, _ = network.forward(X, trained, keep_cache=False)
    assert np.abs(codes).max() > 0
    for depth in (4, 6):
        grown = network.resize(trained, depth, "identity")
        assert network.n_layers(grown) == depth
        for param_name in network.parameters:
            assert_array_equal(grown[param_name][:2], trained[param_name][:2])
        # z_{k+1} = st(z_k I + x 0, 0) = z_k: the same codes, to the bit.
        assert_array_equal(network.forward(X, grown, keep_cache=False)[0], codes)
    # Its gradients are those of trainable layers (not a dead start).
    grown = network.resize(trained, 4, "identity")
    codes, cache = network.forward(X, grown)
    grads = network.backward(grown, cache, codes - codes.mean())
    assert all(np.abs(g[-1]).max() > 0 for g in grads.values())


def test_identity_growth_of_a_jointly_trained_dictionary(small):
    X, dictionary, alpha = small
    problem = LassoProblem(dictionary, alpha, False)
    network = JointDictionary(problem, ARCHITECTURES["lista_cp"])
    trained = _perturbed(network, network.init_params(2), 0.05)
    grown = network.resize(trained, 3, "identity")
    assert len(network.grown_starts(trained, 3)) == 3
    assert_array_equal(grown["dictionary"], trained["dictionary"])
    assert_array_equal(
        network.forward(X, grown, keep_cache=False)[0],
        network.forward(X, trained, keep_cache=False)[0],
    )


@pytest.mark.parametrize("name", NAMES)
def test_resize_keeps_first_layers_and_starts_new_ones_at_initial_values(small, name):
    network = _network(small, name)
    trained = {k: p + 1.0 for k, p in network.init_params(3).items()}
    deeper = network.resize(trained, 6)
    fresh = network.init_params(6)
    assert network.n_layers(deeper) == 6
    for param_name, spec in network.parameters.items():
        old, new, init = trained[param_name], deeper[param_name], fresh[param_name]
        assert new.shape == init.shape
        if spec.layers == "shared":
            assert_array_equal(new, old)
            continue
        kept = old.shape[0]
        assert_array_equal(new[:kept], old)
        if getattr(network, "new_layers_copy_last", False):
            # HyperLISTA: a deeper network keeps its hyperparameters.
            assert_array_equal(new[kept:], np.repeat(old[-1:], 6 - kept, axis=0))
        else:
            assert_array_equal(new[kept:], init[kept:])
    shallower = network.resize(deeper, 2)
    assert network.n_layers(shallower) == 2
    for param_name, spec in network.parameters.items():
        new, old = shallower[param_name], deeper[param_name]
        if spec.layers == "shared":
            assert_array_equal(new, old)
        else:
            assert_array_equal(new, old[: new.shape[0]])


@pytest.mark.parametrize("name", NAMES)
def test_sparse_and_dense_paths_give_the_same_forward_and_gradients(
    small, name, monkeypatch
):
    from sklearn_lista import _solvers

    X, dictionary, alpha = small
    network = _network(small, name)
    params = _perturbed(network, network.init_params(6), 0.01)
    results = {}
    for path, threshold in (("dense", 0.0), ("sparse", 1.1)):
        monkeypatch.setattr(
            _solvers,
            "SPARSE_DENSITY_THRESHOLD",
            {np.dtype(np.float64): threshold, np.dtype(np.float32): threshold},
        )
        codes, cache = network.forward(X, params)
        _, grad = mean_cost_and_grad(X, codes, dictionary, alpha)
        grads = network.backward(params, cache, grad)
        results[path] = [codes, *grads.values()]
    for dense, sparse in zip(results["dense"], results["sparse"], strict=True):
        assert_allclose(sparse, dense, rtol=1e-12, atol=1e-12)


def test_tied_network_shares_one_weight_pair(small):
    network = _network(small, "tied_lista")
    params = network.init_params(5)
    assert params["weights_x"].shape[0] == params["weights_z"].shape[0] == 1
    assert params["thresholds"].shape[0] == 5


def test_coupled_network_trains_one_weight_per_layer(small):
    X, dictionary, _ = small
    network = _network(small, "lista_cp")
    params = _perturbed(network, network.init_params(3), 0.05)
    codes, _ = network.forward(X, params)
    # By hand: z_{k+1} = st(z_k + (x - z_k D) W_k, theta_k).
    z = np.zeros_like(codes)
    for weight, threshold in zip(params["weights"], params["thresholds"], strict=True):
        u = z + (X - z @ dictionary) @ weight
        z = np.sign(u) * np.maximum(np.abs(u) - threshold, 0)
    assert_allclose(codes, z, rtol=1e-12, atol=1e-12)


def test_positive_manifold_steps_in_log_coordinates():
    manifold = Positive()
    point = np.array([1.0, 2.0])
    assert_allclose(manifold.egrad_to_rgrad(point, np.array([3.0, 1.0])), [3.0, 2.0])
    assert_allclose(manifold.retract(point, np.array([np.log(2), 0.0])), [2.0, 2.0])


@pytest.mark.parametrize(
    "name", ["lista", "tied_lista", "lista_cp", "step_ista", "alista"]
)
def test_support_selection_gradients_and_limits(small, name):
    X, dictionary, alpha = small
    problem = LassoProblem(dictionary, alpha)
    plain = ARCHITECTURES[name](problem, support_selection=None)
    selecting = ARCHITECTURES[name](problem, support_selection=(0.1, 0.3))
    params = _perturbed(plain, plain.init_params(4), 0.02)
    n_bypass = selecting.n_bypass(4)
    assert_array_equal(n_bypass, np.round(np.minimum([0.1, 0.2, 0.3, 0.4], 0.3) * 12))
    # A zero schedule is soft thresholding, bit for bit.
    none = ARCHITECTURES[name](problem, support_selection=(0.0, 0.0))
    assert_array_equal(none.forward(X, params)[0], plain.forward(X, params)[0])
    codes, cache = selecting.forward(X, params)
    assert not np.array_equal(codes, plain.forward(X, params)[0])
    loss = LOSSES["lasso"](problem)
    grads = selecting.backward(params, cache, loss(codes, X)[1])
    rng = np.random.RandomState(1)
    eps = 1e-6
    for param_name, param in params.items():
        flat, flat_grad = param.reshape(-1), grads[param_name].reshape(-1)
        for index in rng.choice(flat.size, size=min(10, flat.size), replace=False):
            saved = flat[index]
            flat[index] = saved + eps
            up = loss(selecting.forward(X, params)[0], X)[0]
            flat[index] = saved - eps
            down = loss(selecting.forward(X, params)[0], X)[0]
            flat[index] = saved
            assert (up - down) / (2 * eps) == pytest.approx(
                flat_grad[index], rel=1e-5, abs=1e-7
            )


def test_learned_steps_are_the_only_parameters(small):
    network = _network(small, "step_fista")
    params = network.init_params(6)
    assert params["steps"].shape == (6,) and params["momentums"].shape == (5,)
    assert isinstance(network.parameters["steps"].manifold, Positive)


@pytest.mark.parametrize("name", ["step_ista", "step_fista"])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("alpha_scale", [1.0, 6.0])
def test_step_layers_equal_lista_with_the_weights_of_the_steps(
    small, name, positive, alpha_scale
):
    # The step networks' own passes (one product per layer) against LISTA's
    # passes with W_x = s D^T, W_z = (1 + m)(I - s B), W_m = -m (I - s B):
    # codes, step and momentum gradients, and the dictionary's gradient. The
    # larger alpha makes the iterates sparse enough for the sparse products.
    X, dictionary, alpha = small
    problem = LassoProblem(dictionary, alpha_scale * alpha, positive)
    network = ARCHITECTURES[name](problem)
    params = _perturbed(network, network.init_params(6), 0.3)
    codes, cache = network.forward(X, params)
    assert cache[0] == "steps"
    grad_codes = np.random.RandomState(1).standard_normal(codes.shape)
    grads, grad_dictionary = network.backward_dictionary(params, cache, grad_codes)
    assert_allclose(
        network.backward(params, cache, grad_codes)["steps"], grads["steps"]
    )

    weights = network._weights(params, X.dtype)
    momentum = weights["weights_m"] if network._accelerated() else None
    lista_codes, lista_cache = lista_forward(
        X,
        weights["weights_x"],
        weights["weights_z"],
        weights["thresholds"],
        positive,
        True,
        weights_m=momentum,
    )
    assert_allclose(codes, lista_codes, rtol=1e-12, atol=1e-12)
    expected, expected_dictionary = network._backward(
        params, (lista_cache, weights), grad_codes, True
    )
    assert grads.keys() == expected.keys()
    for key in grads:
        assert_allclose(grads[key], expected[key], rtol=1e-9, atol=1e-12)
    assert_allclose(grad_dictionary, expected_dictionary, rtol=1e-9, atol=1e-12)
    if alpha_scale > 1:
        assert np.mean(codes != 0) < 0.08  # the sparse product path ran


def test_alista_trains_only_a_step_and_a_threshold_per_layer(small):
    from sklearn_lista.analytic import analytic_weights

    X, dictionary, alpha = small
    network = _network(small, "alista")
    params = network.init_params(5)
    assert params["steps"].shape == params["thresholds"].shape == (5,)
    assert_allclose(network.analytic_weight, analytic_weights(dictionary))
    assert network.support_selection == (0.012, 0.13)
    # By hand, one layer from z_0 = 0 with the soft threshold.
    plain = ARCHITECTURES["alista"](network.problem, support_selection=None)
    codes, _ = plain.forward(X, plain.init_params(1))
    u = params["steps"][0] * X @ network.analytic_weight
    threshold = params["thresholds"][0]
    assert_allclose(codes, np.sign(u) * np.maximum(np.abs(u) - threshold, 0))


def _hyper_lista_by_hand(X, dictionary, c, positive=False, step=1.0):
    """HyperLISTA in the paper's column form, entry by entry (b = A x)."""
    A = dictionary.T  # (m, n)
    W = ARCHITECTURES["hyper_lista"](LassoProblem(dictionary, 1.0)).analytic_weight
    pinv = np.linalg.pinv(A)
    gram = W.T @ A
    mu = np.max(np.abs(gram - np.diag(np.diag(gram))))
    n = A.shape[1]
    codes, schedule = [], []
    for b in X:
        x, x_prev, rows = np.zeros(n), np.zeros(n), []
        for c1, c2, c3 in c:
            error = np.sum(np.abs(pinv @ (A @ x - b)))
            theta = c1 * mu * error
            beta = c2 * mu * np.count_nonzero(x)
            p = int(np.rint(min(c3 * np.log(np.sum(np.abs(pinv @ b)) / error), n)))
            p = max(p, 0)  # an iterate worse than 0 bypasses nothing
            u = x + step * W.T @ (b - A @ x) + beta * (x - x_prev)
            new = np.zeros(n)
            beyond = [j for j in range(n) if (u[j] if positive else abs(u[j])) > theta]
            kept = sorted(beyond, key=lambda j: (-abs(u[j]), j))[:p]
            for j in beyond:
                new[j] = u[j] if j in kept else u[j] - theta * np.sign(u[j])
            x_prev, x = x, new
            rows.append((theta, beta, p))
        codes.append(x)
        schedule.append(rows)
    return np.array(codes), np.array(schedule).transpose(1, 0, 2)


@pytest.mark.parametrize("positive, step", [(False, 1.0), (True, 1.0), (False, 1.3)])
def test_hyper_lista_follows_the_papers_formulas(positive, step):
    from sklearn_lista.datasets import make_compressed_sensing

    X, dictionary, _ = make_compressed_sensing(
        6, n_measurements=20, n_components=40, density=0.1, random_state=0
    )
    c = np.array([[0.05, 0.03, 4.0], [0.04, 0.02, 6.0], [0.05, 0.02, 8.0]] * 2)
    problem = LassoProblem(dictionary, 1.0, positive)
    network = ARCHITECTURES["hyper_lista"](problem, step=step)
    params = {"hyperparameters": c.copy()}
    thresholds, momentums, n_bypass, codes = network.schedule(X, params)
    expected_codes, expected = _hyper_lista_by_hand(X, dictionary, c, positive, step)
    assert_allclose(thresholds, expected[..., 0], rtol=1e-10)
    assert_allclose(momentums, expected[..., 1], rtol=1e-10)
    assert_array_equal(n_bypass, expected[..., 2])
    # The schedule does something: momentum and support selection are used.
    assert momentums[1:].min() > 0 and n_bypass[1:].max() > 0
    assert_allclose(codes, expected_codes, rtol=1e-10, atol=1e-12)


def test_hyper_lista_ties_its_hyperparameters(small):
    network = _network(small, "hyper_lista")
    params = _perturbed(network, network.init_params(4), 0.1)
    assert np.ptp(params["hyperparameters"], axis=0).max() > 0
    network.project(params)
    rows = params["hyperparameters"]
    assert_allclose(rows, np.repeat(rows[:1], 4, axis=0), rtol=1e-12)
    untied = ARCHITECTURES["hyper_lista"](network.problem, tied=False)
    moved = _perturbed(untied, untied.init_params(4), 0.1)
    before = moved["hyperparameters"].copy()
    untied.project(moved)
    assert_array_equal(moved["hyperparameters"], before)
    with pytest.raises(ValueError, match="three finite non-negative"):
        ARCHITECTURES["hyper_lista"](network.problem, hyperparameters=(1.0, -1.0, 0.0))
    with pytest.raises(ValueError, match="step must be a positive"):
        ARCHITECTURES["hyper_lista"](network.problem, step=0.0)


def test_facnet_workspace_never_overwrites_a_live_cache(small):
    # Training steps reuse FacNet's arrays, but only those nothing refers to:
    # a second forward must leave the first cache and codes intact.
    X, dictionary, alpha = small
    network = _network(small, "facnet")
    params = network.init_params(3)
    other = _perturbed(network, params, 0.1)
    codes, cache = network.forward(X, params)
    kept_codes, kept_cache = codes.copy(), [np.copy(c) for c in cache[:3]]
    grad = mean_cost_and_grad(X, codes, dictionary, alpha)[1]
    grads = network.backward(params, cache, grad)
    kept_grads = {k: v.copy() for k, v in grads.items()}
    network.forward(X, other)
    network.backward(other, network.forward(X, other)[1], grad)
    assert_array_equal(codes, kept_codes)
    for array, kept in zip(cache[:3], kept_cache, strict=True):
        assert_array_equal(array, kept)
    for name, value in grads.items():
        assert_array_equal(value, kept_grads[name])
    # Once dropped, arrays are reused, with the same results.
    del codes, cache, grads
    for _ in range(2):
        again, cache = network.forward(X, params)
        assert_array_equal(again, kept_codes)
        assert_array_equal(network.backward(params, cache, grad)["A"], kept_grads["A"])
    assert "_workspace" not in network.__getstate__()
    # Inference releases the training steps' arrays (a fitted network keeps
    # none), the manifolds' included.
    manifold = network.parameters["A"].manifold
    manifold.retract_transport(params["A"], 1e-6 * _skew_like(params["A"]))
    assert "_workspace" in network.__dict__ and "_workspace" in manifold.__dict__
    network.forward(X, params, keep_cache=False)
    assert "_workspace" not in network.__dict__
    assert "_workspace" not in manifold.__dict__


def _skew_like(rotations):
    skew = np.random.RandomState(0).standard_normal(rotations.shape)
    return skew - np.swapaxes(skew, -1, -2)


def test_facnet_support_and_dense_backward_agree(small, monkeypatch):
    # The fused backward computes dL/du_k on y_k's support (numba) below
    # ROTATED_BACKWARD_DENSITY and by a dense product above: same gradients,
    # including the dictionary's.
    from sklearn_lista.networks import facnet

    X, dictionary, alpha = small
    network = _network(small, "facnet")
    params = _perturbed(network, network.init_params(5), 0.02)
    results = []
    for threshold in (0.0, 1.1):
        monkeypatch.setattr(facnet, "ROTATED_BACKWARD_DENSITY", threshold)
        codes, cache = network.forward(X, params)
        _, grad = mean_cost_and_grad(X, codes, dictionary, alpha)
        grads, grad_dictionary = network.backward_dictionary(params, cache, grad)
        results.append([*grads.values(), grad_dictionary])
    for dense, support in zip(*results, strict=True):
        assert_allclose(support, dense, rtol=1e-12, atol=1e-12)
