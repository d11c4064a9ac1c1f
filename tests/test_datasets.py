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


def test_adversarial_dictionary():
    from sklearn_lista.datasets import make_adversarial_dictionary

    dictionary = make_adversarial_dictionary(random_state=0)
    assert dictionary.shape == (256, 50)
    assert_allclose(np.linalg.norm(dictionary, axis=1), 1.0)
    assert_array_equal(dictionary, make_adversarial_dictionary(random_state=0))
    assert not np.array_equal(dictionary, make_adversarial_dictionary(random_state=1))
    assert np.linalg.matrix_rank(dictionary) == 50
    # Gram eigenvectors far from the canonical basis: no dominant coordinate.
    _, vectors = np.linalg.eigh(dictionary @ dictionary.T)
    assert np.abs(vectors[:, -50:]).max() < 0.5
    with pytest.raises(ValueError, match="distinct frequencies"):
        make_adversarial_dictionary(n_components=20, n_features=10)


def test_haar_dictionary():
    from sklearn_lista.datasets import make_haar_dictionary

    dictionary = make_haar_dictionary()
    assert dictionary.shape == (128, 64)
    assert_allclose(np.linalg.norm(dictionary, axis=1), 1.0)
    assert len(np.unique(dictionary.round(10), axis=0)) == 128
    # Unshifted atoms are zero-mean Haar details, found among the atoms.
    unshifted = make_haar_dictionary(shifts=(0,))
    assert unshifted.shape == (15, 64)
    assert_allclose(unshifted.sum(axis=1), 0.0, atol=1e-12)
    assert_allclose(unshifted @ unshifted.T, np.eye(15), atol=1e-12)


def test_image_patches():
    from sklearn_lista.datasets import load_image_patches

    X_train, X_test = load_image_patches(200, random_state=0)
    assert X_train.shape == X_test.shape == (200, 64)
    assert_allclose(X_train.mean(axis=1), 0.0, atol=1e-12)
    assert np.abs(X_train).max() <= 1.0
    again, _ = load_image_patches(200, random_state=0)
    assert_array_equal(X_train, again)
    assert not np.allclose(X_train, X_test)


def test_digits_problem():
    from sklearn_lista.datasets import load_digits_problem

    X_train, X_test, y_train, y_test, dictionary = load_digits_problem(
        n_components=10, max_iter=2, random_state=0
    )
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    assert X_train.min() >= 0 and X_train.max() <= 1
    assert dictionary.shape[1] == 64 and 1 <= dictionary.shape[0] <= 10
    assert_allclose(np.linalg.norm(dictionary, axis=1), 1.0)
    again = load_digits_problem(n_components=10, max_iter=2, random_state=0)
    assert_array_equal(again[4], dictionary)
    assert_array_equal(again[0], X_train)


def test_compressed_sensing_standard_problem():
    from sklearn_lista.datasets import make_compressed_sensing

    X, dictionary, codes = make_compressed_sensing(400, random_state=0)
    assert X.shape == (400, 250)
    assert dictionary.shape == (500, 250)
    assert codes.shape == (400, 500)
    assert_allclose(np.linalg.norm(dictionary, axis=1), 1.0)
    assert_allclose(X, codes @ dictionary)  # noiseless by default
    assert abs(np.mean(codes != 0) - 0.1) < 0.005
    assert np.std(codes[codes != 0]) == pytest.approx(1.0, rel=0.05)
    # Gaussian atoms: near-orthogonal, correlations of order 1/sqrt(m).
    gram = dictionary @ dictionary.T
    assert np.std(gram[np.triu_indices(500, 1)]) == pytest.approx(
        1 / np.sqrt(250), rel=0.05
    )
    first = make_compressed_sensing(5, random_state=3)
    for a, b in zip(first, make_compressed_sensing(5, random_state=3), strict=True):
        assert_array_equal(a, b)
    X_test, same, _ = make_compressed_sensing(7, dictionary=dictionary, random_state=1)
    assert_array_equal(same, dictionary)
    assert X_test.shape == (7, 250)


@pytest.mark.parametrize("snr", [40.0, 20.0, 0.0])
def test_compressed_sensing_snr(snr):
    from sklearn_lista.datasets import make_compressed_sensing

    X, dictionary, codes = make_compressed_sensing(
        2000, n_measurements=50, n_components=100, snr=snr, random_state=0
    )
    clean = codes @ dictionary
    noise = X - clean
    # Per signal, noise std = std(clean signal) * 10^(-snr/20).
    ratio = noise.std(axis=1) / clean.std(axis=1)
    assert np.median(ratio) == pytest.approx(10 ** (-snr / 20), rel=0.05)
    measured = 10 * np.log10(np.sum(clean**2) / np.sum(noise**2))
    assert measured == pytest.approx(snr, abs=0.2)
    noiseless, _, _ = make_compressed_sensing(
        3, n_measurements=50, n_components=100, snr=np.inf, random_state=0
    )
    assert_allclose(
        noiseless,
        make_compressed_sensing(3, n_measurements=50, n_components=100, random_state=0)[
            0
        ],
    )


def test_compressed_sensing_condition_number_and_sizes():
    from sklearn_lista.datasets import make_compressed_sensing

    for n_measurements, n_components in ((50, 100), (60, 30)):
        for kappa in (5.0, 50.0):
            _, dictionary, _ = make_compressed_sensing(
                1,
                n_measurements=n_measurements,
                n_components=n_components,
                condition_number=kappa,
                random_state=0,
            )
            assert dictionary.shape == (n_components, n_measurements)
            assert_allclose(np.linalg.norm(dictionary, axis=1), 1.0)
            # Re-normalising the atoms moves it a little (less for wide A).
            assert np.linalg.cond(dictionary) == pytest.approx(kappa, rel=0.2)
    _, one, _ = make_compressed_sensing(1, condition_number=1.0, random_state=0)
    singular = np.linalg.svd(one, compute_uv=False)
    assert singular[0] / singular[-1] < 1.2


def test_compressed_sensing_validates():
    from sklearn_lista.datasets import make_compressed_sensing

    for bad in (
        {"snr": np.nan},
        {"snr": -np.inf},
        {"condition_number": 0.5},
        {"density": 1.5},
        {"n_measurements": 0},
    ):
        with pytest.raises(ValueError, match=f"'{next(iter(bad))}' parameter"):
            make_compressed_sensing(3, **bad)
    with pytest.raises(ValueError, match="dictionary contains NaN"):
        make_compressed_sensing(3, dictionary=np.full((4, 3), np.nan))
