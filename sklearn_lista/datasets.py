"""Generators of the sparse coding problems studied in the paper."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = [
    "make_sparse_coding",
    "make_compressed_sensing",
    "alpha_max",
    "make_adversarial_dictionary",
    "make_haar_dictionary",
    "load_image_patches",
    "load_digits_problem",
]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "density": [Interval(Real, 0, 1, closed="both")],
        "code_scale": [Interval(Real, 0, None, closed="neither")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "dictionary": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_sparse_coding(
    n_samples=1000,
    n_components=100,
    n_features=64,
    *,
    density=0.05,
    code_scale=10.0,
    noise=0.0,
    dictionary=None,
    random_state=None,
):
    """Gaussian dictionary and Bernoulli-Gaussian codes (the paper's problem).

    The atoms (rows of the dictionary) are i.i.d. standard Gaussian vectors
    normalised to unit norm. Each code entry is non-zero with probability
    `density` and then drawn from ``N(0, code_scale^2)``. The signals are
    ``X = codes @ dictionary + noise * N(0, 1)``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of signals.
    n_components : int, default=100
        Number of atoms ``K``.
    n_features : int, default=64
        Signal dimension ``P``.
    density : float, default=0.05
        Probability ``rho`` that a code entry is non-zero (1/20 is the paper's
        sparse regime, 1/4 its dense one).
    code_scale : float, default=10.0
        Standard deviation ``sigma`` of the non-zero code entries.
    noise : float, default=0.0
        Standard deviation of additive Gaussian noise on the signals.
    dictionary : array-like of shape (n_components, n_features), default=None
        Reuse a dictionary (e.g. to draw a test set for the same problem); if
        None a new one is drawn.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Signals.
    dictionary : ndarray of shape (n_components, n_features)
        Unit-norm atoms as rows.
    codes : ndarray of shape (n_samples, n_components)
        The Bernoulli-Gaussian codes that generated `X`.

    Examples
    --------
    >>> from sklearn_lista.datasets import make_sparse_coding
    >>> X, D, Z = make_sparse_coding(n_samples=10, random_state=0)
    >>> X.shape, D.shape, Z.shape
    ((10, 64), (100, 64), (10, 100))
    """
    rng = check_random_state(random_state)
    if dictionary is None:
        dictionary = rng.standard_normal((n_components, n_features))
        dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    else:
        dictionary = check_array(dictionary, dtype=np.float64, input_name="dictionary")
        n_components, n_features = dictionary.shape
    support = rng.random_sample((n_samples, n_components)) < density
    codes = np.where(
        support, code_scale * rng.standard_normal((n_samples, n_components)), 0.0
    )
    X = codes @ dictionary
    if noise:
        X += noise * rng.standard_normal(X.shape)
    return X, dictionary, codes


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_measurements": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "density": [Interval(Real, 0, 1, closed="both")],
        "snr": [Interval(Real, None, None, closed="right"), None],
        "condition_number": [Interval(Real, 1, None, closed="left"), None],
        "dictionary": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_compressed_sensing(
    n_samples,
    *,
    n_measurements=250,
    n_components=500,
    density=0.1,
    snr=None,
    condition_number=None,
    dictionary=None,
    random_state=None,
):
    """The compressed-sensing problem of the LISTA-CPSS and ALISTA papers.

    The papers [1]_ [2]_ write it in column form, ``y = A x + noise`` with a
    measurement matrix ``A`` of shape ``(m, n) = (n_measurements,
    n_components)``; here it is returned in the row convention of
    :class:`~sklearn.decomposition.SparseCoder`: ``dictionary = A.T`` of
    shape ``(n_components, n_measurements)`` (atoms, the columns of ``A``, as
    rows) and ``X = codes @ dictionary + noise``.

    - Measurement matrix: i.i.d. ``N(0, 1/m)`` entries, then every atom
      (column of ``A``) normalised to unit Euclidean norm.
    - Ill-conditioned variant (``condition_number=kappa``): the singular
      values of the Gaussian matrix are replaced by ``min(m, n)`` values
      spaced geometrically from 1 down to ``1 / kappa`` (singular vectors
      kept), then the atoms are re-normalised, as in the papers' code. The
      re-normalisation moves the condition number slightly: for the papers'
      sizes it ends within 2% of ``kappa`` (they use 5, 30 and 50), for small
      or tall matrices up to 15% below it.
    - Codes: each entry is non-zero with probability `density` and then
      drawn from ``N(0, 1)`` (Bernoulli-Gaussian).
    - Noise, when `snr` is given: Gaussian, per signal, of standard
      deviation ``std(x_i) * 10 ** (-snr / 20)`` where ``std(x_i)`` is the
      standard deviation of the entries of the clean signal ``x_i = z_i D``;
      the SNR of every signal is thus ``snr`` dB in expectation, as in the
      papers' code (VITA-Group/ALISTA, ``utils/prob.py``).

    The papers' defaults are ``m = 250, n = 500, density = 0.1`` (noiseless,
    and SNR 40, 30, 20 dB); their larger setting ``(512, 1024)`` is
    ``n_measurements=512, n_components=1024``.

    Parameters
    ----------
    n_samples : int
        Number of signals.
    n_measurements : int, default=250
        Signal dimension ``m`` (number of measurements, ``n_features``).
    n_components : int, default=500
        Number of atoms ``n`` (code dimension).
    density : float, default=0.1
        Probability that a code entry is non-zero.
    snr : float or None, default=None
        Signal-to-noise ratio in dB of every signal; None (or ``inf``) for
        noiseless signals.
    condition_number : float or None, default=None
        Condition number (>= 1) of the ill-conditioned variant (before the
        atoms are re-normalised, see above); None keeps the Gaussian
        matrix's own spectrum.
    dictionary : array-like of shape (n_components, n_measurements), \
            default=None
        Reuse a dictionary (e.g. to draw a test set or fresh training
        batches for the same problem); it is used as given, and
        `n_measurements`, `n_components` and `condition_number` are then
        ignored. If None a new one is drawn.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, n_measurements)
        Signals (measurements), one per row.
    dictionary : ndarray of shape (n_components, n_measurements)
        Unit-norm atoms as rows (the transposed measurement matrix).
    codes : ndarray of shape (n_samples, n_components)
        The Bernoulli-Gaussian codes that generated `X`.

    References
    ----------
    .. [1] X. Chen, J. Liu, Z. Wang and W. Yin, "Theoretical linear
       convergence of unfolded ISTA and its practical weights and
       thresholds", NeurIPS 2018.
    .. [2] J. Liu, X. Chen, Z. Wang and W. Yin, "ALISTA: Analytic weights are
       as good as learned weights in LISTA", ICLR 2019.

    Examples
    --------
    >>> from sklearn_lista.datasets import make_compressed_sensing
    >>> X, D, Z = make_compressed_sensing(10, snr=40, random_state=0)
    >>> X.shape, D.shape, Z.shape
    ((10, 250), (500, 250), (10, 500))
    >>> X_test, _, Z_test = make_compressed_sensing(5, dictionary=D, random_state=1)
    >>> X_test.shape
    (5, 250)
    """
    rng = check_random_state(random_state)
    if dictionary is None:
        matrix = rng.normal(
            scale=1.0 / np.sqrt(n_measurements), size=(n_measurements, n_components)
        )
        if condition_number is not None:
            left, singular, right = np.linalg.svd(matrix, full_matrices=False)
            singular = np.geomspace(1.0, 1.0 / condition_number, singular.size)
            matrix = (left * singular) @ right
        dictionary = np.ascontiguousarray(matrix.T)
        norms = np.linalg.norm(dictionary, axis=1, keepdims=True)
        if not norms.all():  # pragma: no cover - probability zero
            raise ValueError("drew an atom of zero norm; use another random_state.")
        dictionary /= norms
    else:
        dictionary = check_array(dictionary, dtype=np.float64, input_name="dictionary")
        n_components = dictionary.shape[0]
    support = rng.random_sample((n_samples, n_components)) < density
    codes = np.where(support, rng.standard_normal((n_samples, n_components)), 0.0)
    X = codes @ dictionary
    if snr is not None and np.isfinite(snr):
        scale = X.std(axis=1, keepdims=True) * 10.0 ** (-snr / 20.0)
        X += scale * rng.standard_normal(X.shape)
    return X, dictionary, codes


@validate_params(
    {"X": ["array-like"], "dictionary": ["array-like"], "positive": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def alpha_max(X, dictionary, positive=False):
    """Smallest `alpha` for which the codes of every signal of `X` are all zero.

    ``alpha_max = max_i ||D x_i||_inf`` (``max_i max(D x_i)`` for positive
    codes). The paper's problems use ``alpha = 0.1 * alpha_max``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Signals.
    dictionary : array-like of shape (n_components, n_features)
        Atoms as rows.
    positive : bool, default=False
        For non-negative codes (``positive_code=True``): only positive
        correlations count.

    Returns
    -------
    alpha_max : float
        The threshold; 0 when every signal is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lista.datasets import alpha_max
    >>> float(alpha_max([[3.0, -4.0]], np.eye(2)))
    4.0
    """
    X = check_array(X, dtype=np.float64, input_name="X")
    dictionary = check_array(dictionary, dtype=np.float64, input_name="dictionary")
    if X.shape[1] != dictionary.shape[1]:
        raise ValueError(
            f"dictionary has {dictionary.shape[1]} features but X has {X.shape[1]}."
        )
    correlation = X @ dictionary.T
    if not positive:
        correlation = np.abs(correlation)
    return float(max(correlation.max(), 0.0))


@validate_params(
    {
        "n_components": [Interval(Integral, 6, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_adversarial_dictionary(n_components=256, n_features=50, random_state=None):
    """The paper's adversarial dictionary: cosines of distinct frequencies.

    ``n_features`` distinct frequencies ``f_j`` are drawn from
    ``{1, ..., n_components / 2 - 1}``; feature ``j`` of atom ``k`` is
    ``cos(2 pi f_j k / n_components)`` (the real part of the inverse DFT of
    the canonical vector ``e_{f_j}``, up to scale), and atoms are normalised.
    The eigenvectors of the Gram matrix of such a dictionary are Fourier
    modes, far from the canonical basis: rotations cannot align the
    ``B``-geometry with the l1 norm, the hard case for FacNet.

    Parameters
    ----------
    n_components : int, default=256
        Number of atoms ``K``.
    n_features : int, default=50
        Signal dimension ``P``; at most ``K / 2 - 1`` distinct frequencies.
    random_state : int, RandomState instance or None, default=None
        Seed of the choice of frequencies.

    Returns
    -------
    dictionary : ndarray of shape (n_components, n_features)
        Unit-norm atoms as rows.

    Examples
    --------
    >>> from sklearn_lista.datasets import make_adversarial_dictionary
    >>> make_adversarial_dictionary(random_state=0).shape
    (256, 50)
    """
    n_frequencies = n_components // 2 - 1
    if n_features > n_frequencies:
        raise ValueError(
            f"n_features={n_features} needs that many distinct frequencies in "
            f"1..{n_frequencies}; use n_features <= n_components / 2 - 1."
        )
    rng = check_random_state(random_state)
    frequencies = np.sort(
        rng.choice(np.arange(1, n_frequencies + 1), n_features, replace=False)
    )
    positions = np.arange(n_components)[:, None]
    dictionary = np.cos(2 * np.pi * frequencies[None, :] * positions / n_components)
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    return dictionary


def _haar_detail_atoms(size):
    """The 15 coarsest 2-D Haar detail atoms on a ``size x size`` patch.

    Level 0 (support the whole patch): horizontal, vertical and diagonal
    details (3 atoms); level 1 (support a quarter patch, 4 positions): 12.
    """
    atoms = []
    for level, half in ((0, size // 2), (1, size // 4)):
        support = 2 * half
        for top in range(0, size, support):
            for left in range(0, size, support):
                step = np.ones(support)
                step[half:] = -1.0
                flat = np.ones(support)
                for pattern in (
                    np.outer(step, flat),
                    np.outer(flat, step),
                    np.outer(step, step),
                ):
                    atom = np.zeros((size, size))
                    atom[top : top + support, left : left + support] = pattern
                    atoms.append(atom)
        if level == 0:
            atoms = atoms[:3]
    return atoms


def make_haar_dictionary(patch_size=8, shifts=(-4, -2, 0, 2, 4)):
    """Translated 2-D Haar detail atoms on ``patch_size x patch_size`` patches.

    The 15 coarsest Haar detail atoms (3 at the patch scale, 12 at half the
    scale) are translated by every pair of `shifts` (what moves out of the
    patch is cropped): 15 x 25 = 375 candidates for the defaults. Of these,
    108 move entirely out of the patch (all zero) and are dropped, and of the
    267 left, cropped copies that coincide after normalisation are kept once:
    128 unit-norm atoms remain for the defaults. Duplicates are dropped
    because identical atoms only split a code between copies.

    Parameters
    ----------
    patch_size : int, default=8
        Side of the square patches (a multiple of 4).
    shifts : sequence of int, default=(-4, -2, 0, 2, 4)
        Translations, in pixels, applied along each axis.

    Returns
    -------
    dictionary : ndarray of shape (n_atoms, patch_size ** 2)
        Unit-norm flattened atoms as rows.

    Examples
    --------
    >>> from sklearn_lista.datasets import make_haar_dictionary
    >>> D = make_haar_dictionary()
    >>> D.shape[1], bool(D.shape[0] <= 375)
    (64, True)
    """
    atoms = []
    seen = set()
    for base in _haar_detail_atoms(patch_size):
        for dy in shifts:
            for dx in shifts:
                moved = np.zeros_like(base)
                src_rows = slice(max(0, -dy), min(patch_size, patch_size - dy))
                dst_rows = slice(max(0, dy), min(patch_size, patch_size + dy))
                src_cols = slice(max(0, -dx), min(patch_size, patch_size - dx))
                dst_cols = slice(max(0, dx), min(patch_size, patch_size + dx))
                moved[dst_rows, dst_cols] = base[src_rows, src_cols]
                norm = np.linalg.norm(moved)
                if norm == 0:
                    continue
                atom = (moved / norm).ravel()
                key = atom.round(12).tobytes()
                if key not in seen:
                    seen.add(key)
                    atoms.append(atom)
    return np.array(atoms)


def load_image_patches(n_patches=10000, patch_size=8, random_state=None):
    """Mean-removed gray patches of scikit-learn's two sample images.

    Train patches come from ``china.jpg``, test patches from ``flower.jpg``
    (:func:`sklearn.datasets.load_sample_images`), so the test set is a
    different image. Pixel values are scaled to [0, 1] before the mean of
    each patch is removed.

    Parameters
    ----------
    n_patches : int, default=10000
        Patches drawn from each image.
    patch_size : int, default=8
        Side of the square patches.
    random_state : int, RandomState instance or None, default=None
        Seed of the patch positions.

    Returns
    -------
    X_train : ndarray of shape (n_patches, patch_size ** 2)
        Flattened patches of ``china.jpg``.
    X_test : ndarray of shape (n_patches, patch_size ** 2)
        Flattened patches of ``flower.jpg``.

    Examples
    --------
    >>> from sklearn_lista.datasets import load_image_patches
    >>> X_train, X_test = load_image_patches(100, random_state=0)
    >>> X_train.shape, X_test.shape
    ((100, 64), (100, 64))
    """
    from sklearn.datasets import load_sample_images
    from sklearn.feature_extraction.image import extract_patches_2d

    rng = check_random_state(random_state)
    images = load_sample_images().images
    patches = []
    for image in images:
        gray = image.astype(np.float64).mean(axis=2) / 255.0
        drawn = extract_patches_2d(
            gray, (patch_size, patch_size), max_patches=n_patches, random_state=rng
        ).reshape(-1, patch_size * patch_size)
        patches.append(drawn - drawn.mean(axis=1, keepdims=True))
    return patches[0], patches[1]


def load_digits_problem(
    n_components=100, *, alpha=1.0, max_iter=30, test_size=0.25, random_state=None
):
    """Handwritten digits (8x8) and a dictionary learned on the training part.

    The paper uses MNIST (17x17), which cannot be downloaded offline; this is
    the same construction on :func:`sklearn.datasets.load_digits`: pixels
    scaled to [0, 1], a stratified train/test split, and a dictionary of
    `n_components` atoms learned on the training digits only with
    :class:`~sklearn.decomposition.DictionaryLearning` (coordinate descent),
    its atoms normalised (atoms learned as zero are dropped).

    Parameters
    ----------
    n_components : int, default=100
        Atoms to learn.
    alpha : float, default=1.0
        Sparsity penalty of the dictionary learning.
    max_iter : int, default=30
        Iterations of the dictionary learning (about 0.1 s each).
    test_size : float, default=0.25
        Fraction of the 1797 digits held out.
    random_state : int, RandomState instance or None, default=None
        Seed of the split and of the dictionary learning.

    Returns
    -------
    X_train : ndarray of shape (n_train, 64)
        Training digits, pixels in [0, 1].
    X_test : ndarray of shape (n_test, 64)
        Held-out digits.
    y_train : ndarray of shape (n_train,)
        Labels of the training digits (for downstream classifiers).
    y_test : ndarray of shape (n_test,)
        Labels of the held-out digits.
    dictionary : ndarray of shape (n_atoms, 64)
        ``n_atoms <= n_components`` unit-norm atoms.

    Examples
    --------
    >>> from sklearn_lista.datasets import load_digits_problem
    >>> X_train, X_test, y_train, y_test, D = load_digits_problem(
    ...     n_components=20, max_iter=2, random_state=0)
    >>> X_train.shape, X_test.shape, D.shape
    ((1347, 64), (450, 64), (20, 64))
    """
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.decomposition import DictionaryLearning
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split

    rng = check_random_state(random_state)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=test_size, stratify=y, random_state=rng
    )
    learner = DictionaryLearning(
        n_components=n_components,
        alpha=alpha,
        max_iter=max_iter,
        fit_algorithm="cd",
        random_state=rng,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        learner.fit(X_train)
    dictionary = learner.components_
    norms = np.linalg.norm(dictionary, axis=1)
    dictionary = dictionary[norms > 0] / norms[norms > 0, None]
    return X_train, X_test, y_train, y_test, dictionary
