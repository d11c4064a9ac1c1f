import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_lista._base import lipschitz_constant
from sklearn_lista._classical import iterative_thresholding
from sklearn_lista._networks import ARCHITECTURES, lasso_loss_and_grad, resize_params
from sklearn_lista.datasets import alpha_max, make_sparse_coding

CLASSICAL = {"lista": False, "lfista": True}  # architecture -> accelerated


@pytest.fixture(scope="module")
def small():
    X, dictionary, _ = make_sparse_coding(40, 12, 8, density=0.2, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    return X, dictionary, alpha, lipschitz_constant(dictionary)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
@pytest.mark.parametrize("n_layers", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("keep_cache", [False, True])
def test_untrained_network_equals_classical_iterations(
    small, name, n_layers, positive, keep_cache
):
    X, dictionary, alpha, lipschitz = small
    network = ARCHITECTURES[name]
    params = network.init_params(dictionary, alpha, n_layers, lipschitz)
    codes, _ = network.forward(X, params, positive, keep_cache=keep_cache)
    expected, _ = iterative_thresholding(
        X,
        dictionary,
        alpha,
        n_iter=n_layers,
        lipschitz=lipschitz,
        positive=positive,
        accelerated=CLASSICAL[name],
    )
    assert_allclose(codes, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_float32_forward(small, name):
    X, dictionary, alpha, lipschitz = small
    network = ARCHITECTURES[name]
    params = network.init_params(dictionary.astype(np.float32), alpha, 5, lipschitz)
    assert all(p.dtype == np.float32 for p in params)
    codes, _ = network.forward(X.astype(np.float32), params)
    assert codes.dtype == np.float32
    reference, _ = network.forward(
        X, network.init_params(dictionary, alpha, 5, lipschitz)
    )
    assert_allclose(codes, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
@pytest.mark.parametrize("positive", [False, True])
def test_gradient_matches_finite_differences(small, name, positive):
    X, dictionary, alpha, lipschitz = small
    network = ARCHITECTURES[name]
    rng = np.random.RandomState(0)
    params = network.init_params(dictionary, alpha, 4, lipschitz)
    # Move away from the ISTA point so that every weight matters.
    params = [p + 0.02 * rng.standard_normal(p.shape) for p in params]
    params[-1] = np.abs(params[-1])

    def loss(current):
        codes, _ = network.forward(X, current, positive)
        return lasso_loss_and_grad(X, codes, dictionary, alpha)[0]

    codes, cache = network.forward(X, params, positive)
    _, grad_codes = lasso_loss_and_grad(X, codes, dictionary, alpha)
    grads = network.backward(params, cache, grad_codes)
    eps = 1e-6
    for param, grad, param_name in zip(params, grads, network.param_names, strict=True):
        assert grad.shape == param.shape
        flat, flat_grad = param.reshape(-1), grad.reshape(-1)
        for index in rng.choice(flat.size, size=min(25, flat.size), replace=False):
            saved = flat[index]
            flat[index] = saved + eps
            up = loss(params)
            flat[index] = saved - eps
            down = loss(params)
            flat[index] = saved
            numerical = (up - down) / (2 * eps)
            assert numerical == pytest.approx(flat_grad[index], rel=1e-5, abs=1e-7), (
                param_name,
                index,
            )


def test_loss_and_gradient_of_the_codes(small):
    X, dictionary, alpha, _ = small
    codes = np.random.RandomState(0).standard_normal((len(X), dictionary.shape[0]))
    loss, grad = lasso_loss_and_grad(X, codes, dictionary, alpha)
    residual = X - codes @ dictionary
    expected = (0.5 * (residual**2).sum() + alpha * np.abs(codes).sum()) / len(X)
    assert loss == pytest.approx(expected)
    assert_allclose(
        grad,
        ((codes @ dictionary - X) @ dictionary.T + alpha * np.sign(codes)) / len(X),
    )


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_resize_keeps_first_layers_and_starts_new_ones_at_classical_values(small, name):
    X, dictionary, alpha, lipschitz = small
    network = ARCHITECTURES[name]
    trained = [p + 1.0 for p in network.init_params(dictionary, alpha, 3, lipschitz)]
    deeper = resize_params(network, trained, dictionary, alpha, 6, lipschitz)
    fresh = network.init_params(dictionary, alpha, 6, lipschitz)
    for old, new, init in zip(trained, deeper, fresh, strict=True):
        kept = old.shape[0]
        assert new.shape == init.shape
        assert_array_equal(new[:kept], old)
        assert_array_equal(new[kept:], init[kept:])
    shallower = resize_params(network, deeper, dictionary, alpha, 2, lipschitz)
    for old, new in zip(deeper, shallower, strict=True):
        assert_array_equal(new, old[: new.shape[0]])


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_sparse_and_dense_paths_give_the_same_forward_and_gradients(
    small, name, monkeypatch
):
    from sklearn_lista import _classical

    X, dictionary, alpha, lipschitz = small
    network = ARCHITECTURES[name]
    rng = np.random.RandomState(0)
    params = network.init_params(dictionary, alpha, 6, lipschitz)
    params = [p + 0.01 * rng.standard_normal(p.shape) for p in params]
    params[-1] = np.abs(params[-1])
    results = {}
    for path, threshold in (("dense", 0.0), ("sparse", 1.1)):
        monkeypatch.setattr(
            _classical,
            "SPARSE_DENSITY_THRESHOLD",
            {np.dtype(np.float64): threshold, np.dtype(np.float32): threshold},
        )
        codes, cache = network.forward(X, params)
        _, grad = lasso_loss_and_grad(X, codes, dictionary, alpha)
        results[path] = [codes, *network.backward(params, cache, grad)]
    for dense, sparse in zip(results["dense"], results["sparse"], strict=True):
        assert_allclose(sparse, dense, rtol=1e-12, atol=1e-12)
