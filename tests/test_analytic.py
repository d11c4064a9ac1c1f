import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize

from sklearn_lista.analytic import analytic_weights
from sklearn_lista.datasets import make_compressed_sensing


def _dictionary(n_features=6, n_components=10, random_state=0):
    _, dictionary, _ = make_compressed_sensing(
        1,
        n_measurements=n_features,
        n_components=n_components,
        random_state=random_state,
    )
    return dictionary


def _coherence(dictionary, weights):
    """Off-diagonal squared Frobenius norm and largest off-diagonal entry."""
    products = dictionary @ weights
    off = products - np.diag(np.diag(products))
    return np.sum(off**2), np.abs(off).max()


def _reference(dictionary):
    """ALISTA's problem solved by SLSQP on the whole (flattened) W."""
    n_components, n_features = dictionary.shape

    def objective(flat):
        products = dictionary @ flat.reshape(n_features, n_components)
        return np.sum(products**2) - n_components

    def gradient(flat):
        weights = flat.reshape(n_features, n_components)
        return (2.0 * dictionary.T @ (dictionary @ weights)).ravel()

    def constraint(flat):
        weights = flat.reshape(n_features, n_components)
        return np.einsum("ij,ji->i", dictionary, weights) - 1.0

    result = minimize(
        objective,
        dictionary.T.ravel(),
        jac=gradient,
        constraints=[{"type": "eq", "fun": constraint}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert result.success, result.message
    return result.x.reshape(n_features, n_components)


def _kkt(dictionary):
    """Per atom, the Lagrange system [[2G, a], [a^T, 0]] [w; mu] = [0; 1],
    solved in the least-squares sense (it is singular when G is)."""
    gram = dictionary.T @ dictionary
    n_features = gram.shape[0]
    columns = []
    for atom in dictionary:
        system = np.block([[2.0 * gram, atom[:, None]], [atom[None, :], 0.0]])
        rhs = np.r_[np.zeros(n_features), 1.0]
        columns.append(np.linalg.lstsq(system, rhs, rcond=None)[0][:n_features])
    return np.array(columns).T


def test_constraint_shape_and_closed_form():
    dictionary = _dictionary(20, 40)
    weights = analytic_weights(dictionary)
    assert weights.shape == (20, 40)
    assert weights.dtype == np.float64
    assert_allclose(np.diag(dictionary @ weights), 1.0, rtol=0, atol=1e-10)
    # The closed form of the docstring, with G invertible.
    gram_inv_atoms = np.linalg.solve(dictionary.T @ dictionary, dictionary.T)
    expected = gram_inv_atoms / np.einsum("ij,ji->i", dictionary, gram_inv_atoms)
    assert_allclose(weights, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rank_deficient", [False, True])
def test_optimal_against_scipy_and_kkt(rank_deficient):
    dictionary = _dictionary(6, 10)
    if rank_deficient:
        # Rank 3 < n_features = 6: G is singular, minimisers are not unique.
        rng = np.random.RandomState(1)
        dictionary = rng.standard_normal((10, 3)) @ rng.standard_normal((3, 6))
        dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    weights = analytic_weights(dictionary)
    assert_allclose(np.diag(dictionary @ weights), 1.0, rtol=0, atol=1e-10)
    objective = _coherence(dictionary, weights)[0]
    reference = _reference(dictionary)
    assert_allclose(np.diag(dictionary @ reference), 1.0, atol=1e-8)
    assert objective == pytest.approx(_coherence(dictionary, reference)[0], rel=1e-6)
    assert objective <= _coherence(dictionary, reference)[0] * (1 + 1e-9)
    kkt = _kkt(dictionary)
    # lstsq returns the minimum-norm solution of the KKT system, as we do.
    assert_allclose(weights, kkt, rtol=1e-8, atol=1e-10)
    if rank_deficient:
        # Minimum norm: W lies in the row space of the dictionary.
        projector = np.linalg.pinv(dictionary) @ dictionary
        assert_allclose(projector @ weights, weights, atol=1e-10)


def test_lower_coherence_than_the_dictionary():
    dictionary = _dictionary(50, 100)
    frobenius, largest = _coherence(dictionary, analytic_weights(dictionary))
    frobenius_d, largest_d = _coherence(dictionary, dictionary.T)
    assert frobenius < 0.6 * frobenius_d
    assert largest < largest_d


def test_float32_and_complete_dictionary():
    dictionary = _dictionary(20, 40)
    weights = analytic_weights(dictionary.astype(np.float32))
    assert weights.dtype == np.float32
    assert_allclose(weights, analytic_weights(dictionary), rtol=1e-4, atol=1e-5)
    assert_allclose(np.diag(dictionary @ weights), 1.0, atol=1e-5)
    # Fewer atoms than features: W is the pseudo-inverse, coherence zero.
    tall = _dictionary(10, 4)
    assert_allclose(tall @ analytic_weights(tall), np.eye(4), atol=1e-12)


def test_bad_input():
    dictionary = _dictionary(6, 10)
    with_zero = dictionary.copy()
    with_zero[3] = 0.0
    with pytest.raises(ValueError, match=r"atom\(s\) of zero norm \(rows \[3\]\)"):
        analytic_weights(with_zero)
    with_nan = dictionary.copy()
    with_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        analytic_weights(with_nan)
    tiny = dictionary.copy()
    tiny[2] *= 1e-300
    with pytest.raises(ValueError, match=r"atom\(s\) \[2\] lie in the numerical null"):
        analytic_weights(tiny)
    with pytest.raises(ValueError, match="2D array"):
        analytic_weights(np.ones(3))
