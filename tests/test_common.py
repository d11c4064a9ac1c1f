"""What every coder shares: scikit-learn's estimator checks, pipelines."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_lista import (
    ALISTACoder,
    FacNetCoder,
    FISTACoder,
    HyperLISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTAClassifier,
    LISTACoder,
    LISTARegressor,
    StepLISTACoder,
)

ESTIMATORS = [
    ISTACoder(),
    FISTACoder(),
    ISTACoder(tol=1e-6, positive_code=True),
    LISTACoder(n_layers=3, max_iter=20),
    LISTACoder(n_layers=3, max_iter=10, parametrization="tied"),
    LISTACoder(
        n_layers=3, max_iter=5, parametrization="coupled", fit_algorithm="stagewise"
    ),
    LFISTACoder(n_layers=3, max_iter=20, early_stopping=True),
    StepLISTACoder(n_layers=3, max_iter=10),
    # From 16 layers a fresh fit grows by doubling its depth.
    StepLISTACoder(n_layers=16, max_iter=2),
    StepLISTACoder(n_layers=3, max_iter=5, momentum=True, safeguard=True),
    StepLISTACoder(n_layers=3, max_iter=5, momentum=True, support_selection=True),
    LISTACoder(n_layers=2, max_iter=5, support_selection=(0.1, 0.3)),
    ALISTACoder(n_layers=3, max_iter=10),
    HyperLISTACoder(n_layers=3, max_iter=5),
    HyperLISTACoder(n_layers=3, fit_hyperparameters=False, positive_code=True),
    FacNetCoder(n_layers=3, max_iter=20),
    FacNetCoder(n_layers=2, max_iter=10, psd_constraint=True, retraction="qr"),
    FacNetCoder(n_layers=2, max_iter=5, fit_algorithm="factorization"),
    LISTAClassifier(n_layers=2, max_iter=5),
    LISTARegressor(
        n_layers=2,
        max_iter=5,
        architecture="lista",
        fit_dictionary=False,
        lasso_weight=0.0,
    ),
]


def _expected_failed_checks(estimator):
    if isinstance(estimator, (LISTAClassifier, LISTARegressor)):
        # Mini-batch training (and the dictionary learned without weights):
        # a weight of 2 is not the same run as a repeated sample, as for
        # scikit-learn's MLP and SGD estimators.
        reason = "stochastic mini-batch training: weights are not repetitions"
        return {
            "check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason,
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "coder",
    [
        FISTACoder(),
        ISTACoder(tol=1e-4),
        LISTACoder(max_iter=3, random_state=0),
        LFISTACoder(max_iter=3, random_state=0),
    ],
    ids=lambda coder: type(coder).__name__,
)
def test_grid_search_over_alpha_and_n_layers_in_a_pipeline(coder):
    X, y = load_digits(return_X_y=True)
    X, y = X[:240] / 16.0, y[:240]
    rng = np.random.RandomState(0)
    dictionary = rng.standard_normal((30, X.shape[1]))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    pipeline = Pipeline(
        [
            ("code", clone(coder).set_params(dictionary=dictionary)),
            ("clf", LogisticRegression(max_iter=200)),
        ]
    )
    search = GridSearchCV(
        pipeline,
        param_grid={"code__alpha": [0.05, 0.2], "code__n_layers": [2, 5]},
        cv=2,
        n_jobs=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.5
    assert search.best_params_["code__alpha"] in (0.05, 0.2)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.predict(X[:5]).shape == (5,)
