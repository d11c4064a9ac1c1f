import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_lista import ISTACoder
from sklearn_lista.datasets import alpha_max, make_sparse_coding


def test_make_sparse_coding_shapes_norms_and_model():
    X, dictionary, codes = make_sparse_coding(
        500, n_components=30, n_features=12, density=0.2, random_state=0
    )
    assert X.shape == (500, 12)
    assert dictionary.shape == (30, 12)
    assert codes.shape == (500, 30)
    assert_allclose(np.linalg.norm(dictionary, axis=1), 1.0)
    assert_allclose(X, codes @ dictionary)
    assert abs(np.mean(codes != 0) - 0.2) < 0.02
    assert np.std(codes[codes != 0]) == pytest.approx(10.0, rel=0.1)


def test_make_sparse_coding_is_deterministic_and_reuses_dictionary():
    first = make_sparse_coding(20, random_state=3)
    second = make_sparse_coding(20, random_state=3)
    for a, b in zip(first, second, strict=True):
        assert_array_equal(a, b)
    X_test, dictionary, _ = make_sparse_coding(7, dictionary=first[1], random_state=4)
    assert_array_equal(dictionary, first[1])
    assert not np.allclose(X_test, first[0][:7])


def test_make_sparse_coding_noise():
    X, dictionary, codes = make_sparse_coding(50, noise=0.5, random_state=0)
    assert np.std(X - codes @ dictionary) == pytest.approx(0.5, rel=0.1)


def test_alpha_max_zeroes_every_code():
    X, dictionary, _ = make_sparse_coding(40, random_state=0)
    for positive in (False, True):
        threshold = alpha_max(X, dictionary, positive=positive)
        codes = ISTACoder(
            dictionary, alpha=threshold * 1.0001, n_layers=50, positive_code=positive
        ).fit_transform(X)
        assert_array_equal(codes, 0.0)
        codes = ISTACoder(
            dictionary, alpha=0.9 * threshold, n_layers=50, positive_code=positive
        ).fit_transform(X)
        assert (codes != 0).any()


def test_alpha_max_validates():
    with pytest.raises(ValueError, match="dictionary has 3 features but X has 2"):
        alpha_max(np.ones((2, 2)), np.ones((4, 3)))
