"""Task-driven sparse coding on the digits, against the usual classifiers.

Issue [4/6]: on :func:`sklearn.datasets.load_digits` (pixels / 16,
``train_test_split(test_size=0.3, random_state=0)``: 1 257 training and 540
test digits), the test accuracy of

- logistic regression on the raw pixels;
- logistic regression on the codes of an unsupervised LISTA (64 atoms),
  with default parameters and tuned by ``GridSearchCV``;
- ``MLPClassifier`` with 64 and 100 hidden units;
- ``SVC`` with the RBF kernel;
- :class:`sklearn_lista.LISTAClassifier` (coder and softmax head trained
  jointly on the log-loss plus the Lasso cost, the dictionary learned
  through the network, the head post-trained), for a few settings,

each stochastic method over 3 seeds (mean and per-seed accuracies), with
the fraction of non-zero test codes and the seconds of each fit (dictionary
learning included). All in one process, one BLAS thread.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_task.py          # ~15 min
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_task.py --quick  # smoke run
"""

import argparse
import time
import warnings

import numpy as np
from _tables import print_table
from sklearn.datasets import load_digits
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from sklearn_lista import LISTAClassifier, LISTACoder


def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0)


def measure(make, seeds, X_train, X_test, y_train, y_test, codes=None):
    """Accuracies, non-zero fraction of the test codes and fit seconds."""
    accuracies, densities, seconds = [], [], []
    for seed in seeds:
        model = make(seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        seconds.append(time.perf_counter() - start)
        accuracies.append(model.score(X_test, y_test))
        if codes is not None:
            densities.append(np.mean(codes(model).transform(X_test) != 0))
    return accuracies, densities, seconds


def row(name, accuracies, densities, seconds):
    return [
        name,
        f"{np.mean(accuracies):.4f}",
        " ".join(f"{a:.3f}" for a in accuracies),
        f"{100 * np.mean(densities):.0f}%" if densities else "-",
        f"{np.mean(seconds):.1f}",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, short fits")
    args = parser.parse_args()
    X_train, X_test, y_train, y_test = digits_split()
    seeds = [0] if args.quick else [0, 1, 2]
    epochs = 5 if args.quick else 150
    data = (X_train, X_test, y_train, y_test)
    rows = []

    def add(name, make, seeds=seeds, codes=None):
        rows.append(row(name, *measure(make, seeds, *data, codes=codes)))
        print("  ".join(rows[-1]), flush=True)

    add(
        "LogisticRegression, raw pixels",
        lambda seed: LogisticRegression(max_iter=5000),
        seeds=[0],
    )
    add(
        "LogisticRegression on LISTA codes (64 atoms)",
        lambda seed: make_pipeline(
            LISTACoder(n_components=64, random_state=seed),
            LogisticRegression(max_iter=5000),
        ),
        codes=lambda model: model[0],
    )
    # The grid search codes over one unsupervised dictionary (learned on the
    # training digits, without labels): the grid tunes the coder and the head.
    learner = MiniBatchDictionaryLearning(
        n_components=64, alpha=0.1, batch_size=256, random_state=0
    ).fit(X_train)
    dictionary = learner.components_ / np.linalg.norm(
        learner.components_, axis=1, keepdims=True
    )
    grid = {
        "listacoder__alpha": [0.05, 0.1, 0.3],
        "listacoder__n_layers": [3, 8],
        "logisticregression__C": [1.0, 10.0],
    }
    if args.quick:
        grid = {key: values[:1] for key, values in grid.items()}
    add(
        "  same, GridSearchCV (alpha, n_layers, C)",
        lambda seed: GridSearchCV(
            make_pipeline(
                LISTACoder(dictionary, tol=1e-3, random_state=seed),
                LogisticRegression(max_iter=5000),
            ),
            grid,
            cv=3,
        ),
        seeds=[0],
        codes=lambda model: model.best_estimator_[0],
    )
    for width in (64, 100):
        add(
            f"MLPClassifier({width})",
            lambda seed, width=width: MLPClassifier(
                (width,), max_iter=40 if args.quick else 1000, random_state=seed
            ),
        )
    add("SVC(rbf)", lambda seed: SVC(), seeds=[0])

    def task(n_components, **params):
        def make(seed):
            return LISTAClassifier(
                n_components=n_components, max_iter=epochs, random_state=seed, **params
            )

        return make

    settings = [
        ("LISTA-CP, 100 atoms", task(100)),
        ("LISTA-CP, 64 atoms", task(64)),
        ("LISTA, 100 atoms", task(100, architecture="lista")),
        ("LISTA, 64 atoms", task(64, architecture="lista")),
        ("LISTA-CP, 100 atoms, alpha=0.3", task(100, alpha=0.3)),
        (
            "LISTA-CP, 100 atoms, dictionary fixed",
            task(100, fit_dictionary=False),
        ),
        (
            "LISTA-CP, 100 atoms, no post-training",
            task(100, post_train=False),
        ),
        (
            "LISTA-CP, 100 atoms, lasso_weight=0.1",
            task(100, lasso_weight=0.1),
        ),
        (
            "LISTA-CP, 100 atoms, lasso_weight=0",
            task(100, lasso_weight=0.0),
        ),
    ]
    if args.quick:
        settings = settings[:1]
    for name, make in settings:
        add(f"LISTAClassifier: {name}", make, codes=lambda model: model)
    print_table(
        "load_digits, test accuracy (540 test digits)",
        ["method", "accuracy", "per seed", "non-zeros", "fit s"],
        rows,
        notes=[
            "LISTAClassifier: defaults (3 layers, alpha=0.5, Adam from a learning "
            "rate of 3e-3 halved on plateaus,",
            f"batches of 64, at most {epochs} epochs, head_l2=1e-4, lasso_weight=1) "
            "unless said; fit s includes the dictionary learning.",
        ],
    )


if __name__ == "__main__":
    main()
