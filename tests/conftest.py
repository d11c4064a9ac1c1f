import os

# scikit-learn's check_array_api_input needs SciPy's array API mode, which is
# read when SciPy is first imported: set it before anything imports SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sklearn_lista.datasets import alpha_max, make_sparse_coding  # noqa: E402


@pytest.fixture(scope="session")
def problem():
    """A small Gaussian problem: X (60, 20), D (30, 20), alpha = 0.1 alpha_max."""
    X, dictionary, _ = make_sparse_coding(
        60, n_components=30, n_features=20, density=0.1, random_state=0
    )
    return X, dictionary, 0.1 * alpha_max(X, dictionary)


def soft_threshold(values, threshold, positive=False):
    if positive:
        return np.maximum(values - threshold, 0.0)
    return np.sign(values) * np.maximum(np.abs(values) - threshold, 0.0)
