"""scikit-learn's estimator checks on every coder."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_lista import FISTACoder, ISTACoder, LFISTACoder, LISTACoder

ESTIMATORS = [
    ISTACoder(),
    FISTACoder(),
    ISTACoder(tol=1e-6, positive_code=True),
    LISTACoder(n_layers=3, max_iter=20),
    LFISTACoder(n_layers=3, max_iter=20, early_stopping=True),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
