import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sklearn_lista import (
    FISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTACoder,
    StepLISTACoder,
    lasso_cost,
)
from sklearn_lista._coders import learned as learned_module
from sklearn_lista._lasso import LassoProblem
from sklearn_lista.datasets import alpha_max, make_sparse_coding

LEARNED = [LISTACoder, LFISTACoder]
CLASSICAL = {LISTACoder: ISTACoder, LFISTACoder: FISTACoder}


@pytest.fixture(scope="module")
def split():
    X, dictionary, _ = make_sparse_coding(600, 30, 20, density=0.1, random_state=0)
    X_test, _, _ = make_sparse_coding(300, dictionary=dictionary, random_state=1)
    return X, X_test, dictionary, 0.1 * alpha_max(X, dictionary)


def _quiet_fit(coder, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return coder.fit(X)


@pytest.mark.parametrize("Coder", LEARNED)
def test_training_beats_the_classical_solver_on_held_out_signals(split, Coder):
    X, X_test, dictionary, alpha = split
    learned = _quiet_fit(
        Coder(dictionary, alpha=alpha, n_layers=3, max_iter=40, random_state=0), X
    )
    classical = CLASSICAL[Coder](dictionary, alpha=alpha, n_layers=3).fit(X)
    optimum = FISTACoder(dictionary, alpha=alpha, n_layers=3000, tol=1e-10).fit(X)
    best = optimum.score(X_test)
    gap_learned = best - learned.score(X_test)
    gap_classical = best - classical.score(X_test)
    assert gap_learned < 0.5 * gap_classical
    assert learned.loss_curve_[-1] < learned.loss_curve_[0]


@pytest.mark.parametrize("Coder", LEARNED)
def test_untrained_weights_and_shapes(split, Coder):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(Coder(dictionary, alpha=alpha, n_layers=4, max_iter=1), X)
    n_components, n_features = dictionary.shape
    assert coder.weights_x_.shape == (4, n_features, n_components)
    assert coder.weights_z_.shape == (3, n_components, n_components)
    assert coder.thresholds_.shape == (4, n_components)
    assert np.all(coder.thresholds_ >= 0)
    if Coder is LFISTACoder:
        assert coder.weights_m_.shape == (3, n_components, n_components)


@pytest.mark.parametrize("Coder", LEARNED)
def test_divergence_guard_keeps_finite_weights_no_worse_than_init(split, Coder):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        Coder(
            dictionary,
            alpha=alpha,
            n_layers=3,
            learning_rate_init=1e3,
            max_iter=5,
            solver="sgd",
            random_state=0,
        ),
        X,
    )
    for name in ("weights_x_", "weights_z_", "thresholds_"):
        assert np.isfinite(getattr(coder, name)).all()
    classical = CLASSICAL[Coder](dictionary, alpha=alpha, n_layers=3).fit(X)
    assert coder.score(X) >= classical.score(X) - 1e-9 * abs(classical.score(X))
    assert coder._loop.optimizer.learning_rate < 1e3


@pytest.mark.parametrize("Coder", LEARNED)
def test_best_parameters_are_restored(split, Coder):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        Coder(dictionary, alpha=alpha, n_layers=2, max_iter=15, random_state=0), X
    )
    # Without early stopping the monitored loss is the cost on the training set.
    assert -coder.score(X) == pytest.approx(coder.best_loss_, rel=1e-12)


@pytest.mark.parametrize("Coder", LEARNED)
def test_early_stopping_records_validation_scores(split, Coder):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        Coder(
            dictionary,
            alpha=alpha,
            n_layers=2,
            max_iter=30,
            early_stopping=True,
            n_iter_no_change=3,
            random_state=0,
        ),
        X,
    )
    assert len(coder.validation_scores_) == coder.n_iter_ + 1
    assert len(coder.loss_curve_) == coder.n_iter_
    assert coder.best_loss_ == pytest.approx(-max(coder.validation_scores_))
    assert max(coder.validation_scores_) > coder.validation_scores_[0]


def test_early_stopping_needs_enough_samples(split):
    X, _, dictionary, alpha = split
    with pytest.raises(ValueError, match="validation_fraction=0.1 leaves 0 of 4"):
        LISTACoder(dictionary, alpha=alpha, early_stopping=True).fit(X[:4])


@pytest.mark.parametrize("Coder", LEARNED)
def test_warm_start_across_depths(split, Coder):
    X, _, dictionary, alpha = split
    kwargs = dict(alpha=alpha, early_stopping=True, random_state=0, warm_start=True)
    coder = _quiet_fit(Coder(dictionary, n_layers=2, max_iter=10, **kwargs), X)
    shallow_best = coder.best_loss_
    n_epochs = coder.n_iter_
    coder.set_params(n_layers=4, max_iter=1)
    _quiet_fit(coder, X)
    assert coder.weights_x_.shape[0] == 4
    # Before training, the deeper network is the trained one followed by two
    # ISTA/FISTA-initialised layers, which never increase the cost... for ISTA.
    start_loss = -coder.validation_scores_[n_epochs + 1]
    if Coder is LISTACoder:
        assert start_loss <= shallow_best + 1e-10
    assert start_loss < shallow_best * 1.05
    assert coder.n_iter_ == n_epochs + 1


@pytest.mark.parametrize("Coder", LEARNED)
def test_without_warm_start_fit_starts_over(split, Coder):
    X, _, dictionary, alpha = split
    params = dict(alpha=alpha, n_layers=2, max_iter=3, random_state=0)
    first = _quiet_fit(Coder(dictionary, **params), X)
    weights = first.weights_z_.copy()
    _quiet_fit(first, X)
    again = _quiet_fit(Coder(dictionary, **params), X)
    assert first.n_iter_ == 3
    assert_allclose(first.weights_z_, again.weights_z_)
    assert_allclose(weights, again.weights_z_)


@pytest.mark.parametrize("Coder", LEARNED)
def test_partial_fit(split, Coder):
    X, _, dictionary, alpha = split
    coder = Coder(dictionary, alpha=alpha, n_layers=2, random_state=0)
    before = None
    for _ in range(5):
        coder.partial_fit(X[:300])
        if before is None:
            before = coder.score(X[300:])
    assert len(coder.loss_curve_) == coder.n_iter_ == 5
    assert coder.t_ == 5 * 300
    assert coder.score(X[300:]) > before
    with pytest.raises(ValueError, match="X has 3 features"):
        coder.partial_fit(X[:, :3])


@pytest.mark.parametrize("Coder", LEARNED)
def test_convergence_warning_at_max_iter(split, Coder):
    X, _, dictionary, alpha = split
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        Coder(dictionary, alpha=alpha, n_layers=2, max_iter=2).fit(X)


def test_verbose_prints_one_line_per_epoch(split, capsys):
    X, _, dictionary, alpha = split
    _quiet_fit(
        LISTACoder(
            dictionary, alpha=alpha, n_layers=2, max_iter=3, verbose=1, init="classical"
        ),
        X,
    )
    out = capsys.readouterr().out
    assert out.count("[LISTACoder] epoch") == 3
    assert "train loss" in out and "monitor loss" in out
    assert "2 layers, 3 epochs" in out


@pytest.mark.parametrize("Coder", LEARNED)
@pytest.mark.parametrize("solver", ["adam", "adagrad", "sgd"])
def test_every_solver_improves_on_init(split, Coder, solver):
    X, _, dictionary, alpha = split
    learning_rate = {"adam": 1e-3, "adagrad": 1e-2, "sgd": 1e-4}[solver]
    coder = _quiet_fit(
        Coder(
            dictionary,
            alpha=alpha,
            n_layers=2,
            max_iter=5,
            solver=solver,
            learning_rate_init=learning_rate,
            random_state=0,
        ),
        X,
    )
    classical = CLASSICAL[Coder](dictionary, alpha=alpha, n_layers=2).fit(X)
    assert coder.score(X) > classical.score(X)


@pytest.mark.parametrize("Coder", LEARNED)
def test_float32_training_and_transform(split, Coder):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        Coder(dictionary, alpha=alpha, n_layers=2, max_iter=3, random_state=0),
        X.astype(np.float32),
    )
    assert coder.weights_z_.dtype == np.float32
    assert coder.transform(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("Coder", LEARNED)
def test_transform_n_jobs_and_pickle(split, Coder):
    X, _, dictionary, alpha = split
    X_big = np.tile(X, (5, 1))
    coder = _quiet_fit(Coder(dictionary, alpha=alpha, n_layers=3, max_iter=2), X)
    one = coder.transform(X_big)
    assert_array_equal(coder.set_params(n_jobs=2).transform(X_big), one)
    restored = pickle.loads(pickle.dumps(coder))
    assert_array_equal(restored.transform(X_big), one)


def test_positive_codes(split):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        LISTACoder(dictionary, alpha=alpha, n_layers=3, max_iter=5, positive_code=True),
        X,
    )
    codes = coder.transform(X)
    assert codes.min() >= 0 and codes.max() > 0


def test_uneven_batches_do_not_trip_the_divergence_guard():
    # 257 signals with batches of 256 leave a last batch of one signal, and
    # rescaled signals make batch costs differ a lot: neither is divergence.
    X, dictionary, _ = make_sparse_coding(257, 30, 20, random_state=0)
    X = X * np.exp(np.random.RandomState(0).standard_normal((257, 1)))
    alpha = 0.1 * alpha_max(X, dictionary)
    for batch_size in (256, 16):
        coder = _quiet_fit(
            LISTACoder(
                dictionary,
                alpha=alpha,
                n_layers=3,
                max_iter=5,
                batch_size=batch_size,
                learning_rate="constant",
                random_state=0,
            ),
            X,
        )
        assert coder._loop.optimizer.learning_rate == pytest.approx(1e-3)


@pytest.mark.parametrize("Coder", LEARNED)
def test_warm_start_with_another_dictionary_shape_starts_fresh(split, Coder):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        Coder(dictionary, alpha=alpha, n_layers=2, max_iter=2, warm_start=True), X
    )
    bigger = np.vstack([dictionary, dictionary[:5] + 0.1])
    _quiet_fit(coder.set_params(dictionary=bigger), X)
    assert coder.weights_z_.shape == (1, 35, 35)
    _, narrower, _ = make_sparse_coding(50, 12, 6, random_state=0)
    X_narrow, _, _ = make_sparse_coding(100, dictionary=narrower, random_state=0)
    _quiet_fit(coder.set_params(dictionary=narrower), X_narrow)
    assert coder.weights_x_.shape == (2, 6, 12)


def test_warm_start_relearns_a_dictionary_of_another_size(split):
    X, _, _, alpha = split
    coder = _quiet_fit(
        LISTACoder(
            n_components=8,
            alpha=alpha,
            n_layers=2,
            max_iter=1,
            warm_start=True,
            random_state=0,
        ),
        X,
    )
    _quiet_fit(coder.set_params(n_components=12), X)
    assert coder.components_.shape == (12, X.shape[1])
    assert coder.weights_z_.shape == (1, 12, 12)


def test_warm_start_toggles_early_stopping_and_uses_the_new_solver(split):
    X, _, dictionary, alpha = split
    coder = _quiet_fit(
        LISTACoder(dictionary, alpha=alpha, n_layers=2, max_iter=2, warm_start=True),
        X,
    )
    assert coder.validation_scores_ is None
    coder.set_params(early_stopping=True, solver="sgd", learning_rate_init=1e-5)
    _quiet_fit(coder, X)
    assert len(coder.validation_scores_) == 3  # before training + 2 epochs
    assert type(coder._loop.optimizer).__name__ == "SGDOptimizer"


def test_partial_fit_refuses_a_changed_depth_and_keeps_its_dtype(split):
    X, _, dictionary, alpha = split
    coder = LISTACoder(dictionary, alpha=alpha, n_layers=2).partial_fit(X)
    coder.partial_fit(X.astype(np.float32))
    assert coder.weights_x_.dtype == np.float64
    coder.set_params(n_layers=3)
    with pytest.raises(ValueError, match="partial_fit cannot change the depth"):
        coder.partial_fit(X)


def test_overflowing_cost_is_reported(split):
    X, _, dictionary, alpha = split
    X32 = (X * 1e17).astype(np.float32)  # squares overflow float32
    with pytest.raises(ValueError, match="overflow float32"):
        LISTACoder(dictionary, alpha=alpha).fit(X32)


# ------------------------------------------- the framework's seams, end to end
@pytest.mark.parametrize("parametrization", ["tied", "coupled"])
def test_parametrizations_start_at_ista_and_train(problem, parametrization):
    X, dictionary, alpha = problem
    ista = ISTACoder(dictionary, alpha=alpha, n_layers=4).fit(X)
    untrained = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=4,
        max_iter=1,
        learning_rate_init=1e-12,
        init="classical",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        untrained.set_params(parametrization=parametrization).fit(X)
    assert_allclose(untrained.transform(X), ista.transform(X), atol=1e-9)
    coder = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=4,
        parametrization=parametrization,
        max_iter=30,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    assert coder.score(X) > ista.score(X)
    if parametrization == "tied":
        assert coder.weights_x_.shape[0] == coder.weights_z_.shape[0] == 1
        assert coder.thresholds_.shape[0] == 4
    else:
        assert coder.weights_.shape == (4, X.shape[1], dictionary.shape[0])
        assert not hasattr(coder, "weights_z_")


def test_supervised_code_loss_fits_target_codes(problem):
    X, dictionary, alpha = problem
    targets = FISTACoder(
        dictionary, alpha=alpha, n_layers=2000, tol=1e-10
    ).fit_transform(X)
    ista = ISTACoder(dictionary, alpha=alpha, n_layers=4).fit(X)
    coder = LISTACoder(
        dictionary, alpha=alpha, n_layers=4, loss="squared_error", random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X, targets)
    ista_error = 0.5 * np.mean(np.sum((ista.transform(X) - targets) ** 2, axis=1))
    assert -coder.score(X, targets) < 0.5 * ista_error
    # Without y, score is minus the Lasso cost, as for the unsupervised loss.
    assert coder.score(X) == pytest.approx(
        -lasso_cost(X, coder.transform(X), dictionary, alpha).mean()
    )
    assert coder.__sklearn_tags__().target_tags.required


@pytest.mark.parametrize(
    "y, message",
    [
        (None, "call fit\\(X, y\\)"),
        ("1d", "shape \\(n_samples, n_components\\)"),
        ("wrong_width", "shape \\(n_samples, n_components\\)"),
        ("nan", "NaN"),
    ],
)
def test_supervised_loss_rejects_bad_targets(problem, y, message):
    X, dictionary, alpha = problem
    n_samples, n_components = X.shape[0], dictionary.shape[0]
    targets = {
        None: None,
        "1d": np.zeros(n_samples),
        "wrong_width": np.zeros((n_samples, n_components + 1)),
        "nan": np.full((n_samples, n_components), np.nan),
    }[y]
    coder = LISTACoder(dictionary, alpha=alpha, n_layers=2, loss="squared_error")
    with pytest.raises(ValueError, match=message):
        coder.fit(X, targets)
    with pytest.raises(ValueError, match=message):
        coder.partial_fit(X, targets)
    assert not hasattr(coder, "network_")


def test_supervised_partial_fit_routes_the_targets(problem):
    X, dictionary, alpha = problem
    targets = FISTACoder(dictionary, alpha=alpha, n_layers=500, tol=1e-8).fit_transform(
        X
    )
    coder = LISTACoder(
        dictionary, alpha=alpha, n_layers=3, loss="squared_error", batch_size=20
    )
    coder.partial_fit(X, targets)
    first = coder.score(X, targets)
    for _ in range(20):
        coder.partial_fit(X, targets)
    assert coder.score(X, targets) > first


def test_stagewise_training_grows_the_network(problem):
    X, dictionary, alpha = problem
    end_to_end = ISTACoder(dictionary, alpha=alpha, n_layers=3).fit(X)
    coder = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=3,
        fit_algorithm="stagewise",
        max_iter=15,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    assert coder.weights_x_.shape[0] == 3
    # Three stages, each recorded: the monitored loss before each stage.
    assert len(coder.loss_curve_) == coder.n_iter_ > 3
    assert coder.score(X) > end_to_end.score(X)
    # A fresh network grows from one layer: 3 stages of max_iter epochs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.set_params(max_iter=2, init="classical").fit(X)
    assert coder.n_iter_ == 6


@pytest.mark.parametrize("momentum", [False, True])
def test_step_lista_starts_at_ista_or_fista_and_learns_larger_steps(problem, momentum):
    X, dictionary, alpha = problem
    Reference = FISTACoder if momentum else ISTACoder
    reference = Reference(dictionary, alpha=alpha, n_layers=6).fit(X)
    coder = StepLISTACoder(
        dictionary, alpha=alpha, n_layers=6, momentum=momentum, random_state=0
    )
    untrained = clone(coder).set_params(max_iter=1, learning_rate_init=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        untrained.fit(X)
        coder.fit(X)
    assert_allclose(untrained.transform(X), reference.transform(X), atol=1e-9)
    assert coder.score(X) > reference.score(X)
    assert coder.steps_.shape == (6,) and (coder.steps_ > 0).all()
    # Steps adapt to the support: larger than 1/L somewhere.
    assert coder.steps_.max() > 1.0 / coder.lipschitz_
    assert hasattr(coder, "momentums_") == momentum


def test_support_selection_option_changes_the_network(problem):
    X, dictionary, alpha = problem
    coder = LISTACoder(
        dictionary, alpha=alpha, n_layers=3, support_selection=True, max_iter=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    assert coder.network_.support_selection == (0.012, 0.13)
    with pytest.raises(ValueError, match="support_selection must be"):
        coder.set_params(support_selection=(0.1, 2.0)).fit(X)


@pytest.mark.parametrize(
    "Coder, params",
    [
        (LISTACoder, {}),
        (LISTACoder, {"parametrization": "coupled"}),
        (LFISTACoder, {}),
    ],
)
def test_init_from_learned_steps_is_never_worse_than_the_steps(problem, Coder, params):
    X, dictionary, alpha = problem
    coder = Coder(
        dictionary,
        alpha=alpha,
        n_layers=4,
        init="learned_steps",
        max_iter=20,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    steps = coder.init_coder_
    assert isinstance(steps, StepLISTACoder)
    assert steps.momentum == (Coder is LFISTACoder)
    # The monitored signals are the training signals here (fewer than 2048).
    assert coder.score(X) >= steps.score(X) - 1e-10 * abs(steps.score(X))
    classical = ISTACoder(dictionary, alpha=alpha, n_layers=4).fit(X)
    assert coder.score(X) > classical.score(X)


def test_init_from_learned_steps_needs_a_network_that_contains_them(problem):
    X, dictionary, alpha = problem
    coder = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=2,
        parametrization="tied",
        init="learned_steps",
    )
    with pytest.raises(ValueError, match="does not contain step-LISTA"):
        coder.fit(X)


def test_stagewise_warm_start_keeps_the_trained_layers(problem):
    X, dictionary, alpha = problem
    coder = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=3,
        fit_algorithm="stagewise",
        warm_start=True,
        max_iter=15,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
        before = coder.score(X)
        coder.set_params(max_iter=1).fit(X)
    assert coder.score(X) >= before - 1e-9 * abs(before)


def _recovery_problem(dictionary, coder_class=LISTACoder, **params):
    """Signals ``X = Z D`` of sparse true codes ``Z``, and a stage-wise coder
    trained on them (supervised recovery, ISTA's start, warm starts)."""
    codes = make_sparse_coding(
        60, n_components=30, n_features=20, density=0.1, random_state=0
    )[2]
    X = codes @ dictionary
    coder = coder_class(
        dictionary,
        alpha=0.4 * alpha_max(X, dictionary),
        loss="squared_error",
        init="classical",
        fit_algorithm="stagewise",
        warm_start=True,
        random_state=0,
        **params,
    )
    return X, codes, coder


@pytest.mark.parametrize("parametrization", ["untied", "coupled"])
def test_warm_start_grows_from_the_best_of_untrained_copied_and_identity_layers(
    problem, parametrization
):
    # Supervised recovery of the true codes: the start with the lower loss
    # is taken among the untrained, copied and identity layers; for LISTA-CP
    # here the copy beats the untrained layer, and the identity start keeps
    # the trained depth's loss exactly.
    X, codes, coder = _recovery_problem(
        problem[1],
        n_layers=3,
        parametrization=parametrization,
        learning_rate_init=1e-2,
        max_iter=30,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X, codes)
        trained = coder._get_params()
        network = coder.network_
        starts = network.grown_starts(trained, 4)
        losses = [coder._monitored_loss(network, s, (X, codes)) for s in starts]
        best = int(np.argmin(losses))
        assert len(starts) == 3
        # To rounding: the identity layer reproduces the codes to ~1e-15.
        assert losses[2] == pytest.approx(
            coder._monitored_loss(network, trained, (X, codes)), rel=1e-13
        )
        # A negligible step: the fit keeps (within 1e-8) the start it chose.
        coder.set_params(n_layers=4, max_iter=1, learning_rate_init=1e-12)
        coder.fit(X, codes)
    grown = coder._get_params()
    for name in network.parameters:
        assert_allclose(grown[name], starts[best][name], atol=1e-8)
    assert np.isfinite(coder.transform(X)).all()
    assert coder.score(X, codes) >= -losses[best] - 1e-9
    # The Lasso loss keeps the untrained growth only.
    unsupervised = clone(coder).set_params(loss="lasso")
    (start,) = unsupervised._grown_starts(network, trained, 4)
    for name, value in network.resize(trained, 4).items():
        assert_array_equal(start[name], value)
    if parametrization == "coupled":
        assert losses[1] < losses[0]
    if best == 2:
        # The identity layer: no input weight, no threshold.
        assert_allclose(coder.thresholds_[3], 0, atol=1e-8)


@pytest.mark.parametrize("coder_class", [LISTACoder, LFISTACoder])
def test_supervised_growth_never_ends_a_stage_above_the_depth_before(
    problem, coder_class
):
    # With the identity start among the choices, a stage starts at the loss
    # the depth before reached, and the best parameters are kept: the
    # training loss cannot rise with depth, even at a step size that makes
    # the other starts worse.
    X, codes, coder = _recovery_problem(
        problem[1],
        coder_class,
        validation_guard=False,
        learning_rate_init=5e-2,
        max_iter=2,
    )
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for depth in range(1, 7):
            scores.append(
                coder.set_params(n_layers=depth).fit(X, codes).score(X, codes)
            )
    assert np.all(np.diff(scores) >= -1e-12 * np.abs(scores[:-1]))


def test_learned_steps_init_follows_support_selection_and_is_forgotten(problem):
    X, dictionary, alpha = problem
    coder = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=3,
        support_selection=(0.1, 0.3),
        init="learned_steps",
        max_iter=5,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.set_params(max_iter=1, learning_rate_init=1e-12).fit(X)
        assert coder.init_coder_.support_selection == (0.1, 0.3)
        assert_allclose(coder.transform(X), coder.init_coder_.transform(X), atol=1e-9)
        coder.set_params(init="classical").fit(X)
    assert not hasattr(coder, "init_coder_")
    with pytest.raises(ValueError, match="needs fit"):
        LISTACoder(dictionary, alpha=alpha, init="learned_steps").partial_fit(X)


@pytest.fixture(scope="module")
def sensing():
    from sklearn_lista.datasets import make_compressed_sensing

    X, D, Z = make_compressed_sensing(
        300, n_measurements=30, n_components=60, random_state=0
    )
    return X, D, Z


def test_hyper_lista_without_training_is_its_three_numbers(sensing):
    from sklearn.model_selection import GridSearchCV

    from sklearn_lista import HyperLISTACoder
    from sklearn_lista.analytic import analytic_weights

    X, D, Z = sensing
    coder = HyperLISTACoder(
        D,
        n_layers=6,
        c1=0.05,
        c2=0.01,
        c3=4.0,
        loss="squared_error",
        fit_hyperparameters=False,
    ).fit(X, Z)
    assert (coder.c1_, coder.c2_, coder.c3_) == pytest.approx((0.05, 0.01, 4.0))
    assert coder.hyperparameters_.shape == (6, 3) and coder.n_iter_ == 1
    assert coder.best_loss_ == pytest.approx(-coder.score(X, Z))
    assert_allclose(coder.analytic_weights_, analytic_weights(D))
    schedule = coder.layer_schedule(X[:7])
    assert {k: v.shape for k, v in schedule.items()} == {
        "thresholds": (6, 7),
        "momentums": (6, 7),
        "n_bypass": (6, 7),
    }
    assert schedule["n_bypass"][0].max() == 0 and schedule["n_bypass"][-1].min() > 0
    # The grid search the paper runs, on the estimator's own score.
    grid = {"c1": [0.01, 0.05, 0.5], "c3": [0.0, 4.0]}
    search = GridSearchCV(clone(coder), grid, cv=2).fit(X, Z)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 6 and np.ptp(scores) > 0
    best = search.best_estimator_
    assert best.c1_ == pytest.approx(search.best_params_["c1"])


def test_hyper_lista_fit_trains_c1_and_c2_only(sensing):
    from sklearn_lista import HyperLISTACoder

    X, D, Z = sensing
    params = dict(n_layers=5, c1=0.2, c2=0.005, c3=3.0, loss="squared_error")
    untrained = HyperLISTACoder(D, fit_hyperparameters=False, **params).fit(X, Z)
    coder = HyperLISTACoder(D, batch_size=32, max_iter=30, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X, Z)
    assert coder.score(X, Z) > untrained.score(X, Z)
    assert (coder.c1_, coder.c2_) != pytest.approx((0.2, 0.005))
    assert coder.c3_ == pytest.approx(3.0)  # an integer count: no gradient
    rows = coder.hyperparameters_
    assert_allclose(rows, np.repeat(rows[:1], 5, axis=0), rtol=1e-12)
    # A warm-started deeper fit keeps the trained numbers.
    deeper = clone(coder).set_params(warm_start=True, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        deeper.fit(X, Z)
        trained = deeper.c1_
        deeper.set_params(n_layers=7).fit(X, Z)
    assert deeper.hyperparameters_.shape == (7, 3)
    assert deeper.c1_ == pytest.approx(trained, rel=0.2)


def test_alista_codes_are_zero_beyond_its_alpha_max():
    from sklearn_lista import ALISTACoder

    X, D, _ = make_sparse_coding(200, random_state=0)
    coder = ALISTACoder(D, alpha=alpha_max(X, D), n_layers=3, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    network = coder.network_
    # ALISTA's counterpart of alpha_max is max |x W|: the first layer is
    # st(gamma x W, alpha gamma).
    limit = np.abs(X @ network.analytic_weight).max()
    for factor, zero in ((1.001, True), (0.999, False)):
        coder.set_params(alpha=factor * limit)
        untrained = coder._build_network()
        codes, _ = untrained.forward(X, untrained.init_params(3), keep_cache=False)
        assert (np.count_nonzero(codes) == 0) == zero
    coder.set_params(alpha=1.5 * alpha_max(X, D), max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert np.count_nonzero(coder.fit(X).transform(X)) == 0


# ------------------------------------------------ default recipe and the guard
def test_worse_on_held_out_compares_means():
    from sklearn_lista._training import worse_on_held_out

    start = np.random.RandomState(0).uniform(1, 2, 500)
    assert worse_on_held_out(start, start + 0.01)
    assert not worse_on_held_out(start, start - 0.01)
    # One hard signal much worse, the others a little better: worse on average.
    trained = start - 1e-4
    trained[0] += 1.0
    assert worse_on_held_out(start, trained)
    trained[0] = np.inf
    assert worse_on_held_out(start, trained)


def test_gain_is_shown_by_the_mean_or_by_most_signals():
    from sklearn_lista._training import gain_is_shown

    start = np.random.RandomState(0).uniform(1, 2, 500)
    # Most signals gain a little while one loses: the mean gain (2e-4) is
    # within two standard errors (1.6e-3), the majority shows the gain.
    trained = start - 1e-3
    trained[0] += 0.4
    assert gain_is_shown(start, trained)
    # A few signals gain much, the others nothing: the mean is significant.
    trained = start.copy()
    trained[:50] -= 0.5
    assert gain_is_shown(start, trained)
    # Better on average, but carried by one signal while most lose a little.
    trained = start + 1e-4
    trained[0] -= 1.0
    assert trained.mean() < start.mean()
    assert not gain_is_shown(start, trained)
    trained[0] = np.nan
    assert not gain_is_shown(start, trained)
    # One held-out signal, which gained; a start that diverged on a signal.
    assert gain_is_shown([1.0], [0.5]) and not gain_is_shown([1.0], [1.5])
    diverged = start.copy()
    diverged[0] = np.inf
    assert gain_is_shown(diverged, start + 1e-4)


def test_validation_guard_restores_a_start_that_generalises_better():
    # 40 signals for 20 x 30 + ... weights: LISTA over-fits its training half.
    X, dictionary, _ = make_sparse_coding(1200, 30, 20, density=0.1, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    params = dict(n_layers=2, init="classical", max_iter=3, random_state=0)
    guarded = LISTACoder(dictionary, alpha=alpha, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        guarded.fit(X)
        unguarded = LISTACoder(
            dictionary, alpha=alpha, validation_guard=False, **params
        ).fit(X)
    # Training helps here: kept, and the guard counted nothing.
    assert guarded.guard_restores_ == 0
    assert unguarded.guard_restores_ == 0
    start = ISTACoder(dictionary, alpha=alpha, n_layers=2).fit(X)
    assert guarded.score(X) > start.score(X)


def test_validation_guard_undoes_training_that_is_worse_on_held_out(monkeypatch):
    import sklearn_lista._training as training

    X, dictionary, _ = make_sparse_coding(1200, 30, 20, density=0.1, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    # A held-out check that always says "worse": the start comes back.
    monkeypatch.setattr(training, "worse_on_held_out", lambda start, trained: True)
    coder = LISTACoder(
        dictionary, alpha=alpha, n_layers=2, init="classical", max_iter=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    ista = ISTACoder(dictionary, alpha=alpha, n_layers=2).fit(X)
    assert coder.guard_restores_ == 1
    assert_allclose(coder.transform(X), ista.transform(X), atol=1e-10)
    # Stage-wise: one check per stage.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.set_params(fit_algorithm="stagewise").fit(X)
    assert coder.guard_restores_ == 2
    # Fewer than 1000 signals: no split, no check.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.set_params(fit_algorithm="end_to_end").fit(X[:500])
    assert coder.guard_restores_ == 0


def test_auto_init_uses_learned_steps_where_the_network_contains_them(
    problem, monkeypatch
):
    X, dictionary, alpha = problem
    # Whatever the classical start would give (see the race tests).
    monkeypatch.setattr(
        learned_module.BaseLearnedCoder, "_classical_challenger", lambda *args: None
    )
    params = dict(n_layers=2, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        untied = LISTACoder(dictionary, alpha=alpha, **params).fit(X)
        tied = LISTACoder(
            dictionary, alpha=alpha, parametrization="tied", **params
        ).fit(X)
        streamed = LFISTACoder(dictionary, alpha=alpha, **params).partial_fit(X)
        lfista = LFISTACoder(dictionary, alpha=alpha, **params).fit(X)
    assert untied.init_coder_.momentum is False
    assert lfista.init_coder_.momentum is True
    assert not hasattr(tied, "init_coder_")
    assert not hasattr(streamed, "init_coder_")


def test_warm_start_grows_the_step_network_and_keeps_the_better_start(problem):
    X, dictionary, alpha = problem
    coder = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=2,
        max_iter=3,
        warm_start=True,
        init="learned_steps",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
        shallow_steps = coder.init_coder_.steps_.copy()
        coder.set_params(n_layers=4).fit(X)
    # The step network was grown from its 2-layer self, not trained anew.
    assert coder.init_coder_.steps_.shape == (4,)
    assert coder.init_coder_.n_iter_ > 3
    assert not np.allclose(coder.init_coder_.steps_[:2], 1 / coder.lipschitz_)
    assert shallow_steps.shape == (2,)
    # Never worse than the grown step network on the monitored signals.
    assert coder.score(X) >= coder.init_coder_.score(X) - 1e-9 * abs(coder.score(X))


def test_fine_tuning_after_grown_steps_counts_their_gain(problem, monkeypatch):
    # The progress `tol` is relative to starts at the untrained network's
    # loss, fresh or grown: otherwise the fine-tuning of a warm start judges
    # its small steady gains against themselves and runs all its epochs.
    from sklearn_lista._training import TrainingLoop

    X, dictionary, alpha = problem
    references = []
    run = TrainingLoop.run

    def recording_run(self, objective, params, result=None, **kwargs):
        references.append(kwargs.get("reference_loss"))
        return run(self, objective, params, result, **kwargs)

    monkeypatch.setattr(TrainingLoop, "run", recording_run)
    coder = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=2,
        max_iter=3,
        warm_start=True,
        init="learned_steps",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
        references.clear()
        coder.set_params(n_layers=4).fit(X)
    # The step coder's own fit has none; LISTA's fine-tuning has the loss of
    # its untrained 4-layer network, above where the fine-tuning starts.
    assert references[-1] is not None
    untrained = coder.network_.init_params(4)
    assert references[-1] == pytest.approx(
        coder._monitored_loss(coder.network_, untrained, (X, None))
    )
    assert references[-1] > coder.best_loss_


@pytest.mark.parametrize("momentum", [False, True])
def test_safeguard_keeps_every_signal_below_its_start(problem, momentum):
    X, dictionary, alpha = problem
    coder = StepLISTACoder(
        dictionary, alpha=alpha, n_layers=6, max_iter=2, momentum=momentum
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    # Steps far beyond 2 / L: the plain network diverges on every signal.
    coder.steps_ = np.full(6, 40.0 / coder.lipschitz_)
    problem_ = LassoProblem(dictionary, alpha)
    plain = problem_.cost(X, coder.transform(X))
    coder.set_params(safeguard=True)
    guarded = problem_.cost(X, coder.transform(X))
    start = 0.5 * np.sum(X**2, axis=1)
    assert np.median(plain) > 1e3 * np.median(start)
    assert np.all(np.isfinite(guarded))
    assert np.all(guarded <= start)
    # One safe ISTA step from zero already gains: so does the guarded network.
    one_step = ISTACoder(dictionary, alpha=alpha, n_layers=1).fit(X).transform(X)
    assert np.all(guarded <= problem_.cost(X, one_step) + 1e-9 * start)


def test_safeguard_leaves_a_monotone_network_unchanged(problem):
    # ISTA steps of 1 / L never raise the cost: nothing to fall back from.
    X, dictionary, alpha = problem
    coder = StepLISTACoder(dictionary, alpha=alpha, n_layers=5, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    coder.steps_ = np.full(5, 1.0 / coder.lipschitz_)
    plain = coder.transform(X)
    assert_allclose(coder.set_params(safeguard=True).transform(X), plain, atol=1e-12)
    ista = ISTACoder(dictionary, alpha=alpha, n_layers=5).fit(X).transform(X)
    assert_allclose(plain, ista, atol=1e-10)


def test_safeguard_refuses_support_selection(problem):
    X, dictionary, alpha = problem
    coder = StepLISTACoder(
        dictionary, alpha=alpha, n_layers=2, safeguard=True, support_selection=True
    )
    with pytest.raises(ValueError, match="support_selection=False"):
        coder.fit(X)


def test_init_from_a_fitted_step_coder_equals_learned_steps(problem):
    X, dictionary, alpha = problem
    settings = dict(alpha=alpha, n_layers=3, max_iter=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        trained = LISTACoder(dictionary, init="learned_steps", **settings).fit(X)
        given = LISTACoder(dictionary, init=trained.init_coder_, **settings).fit(X)
    assert_allclose(given.transform(X), trained.transform(X), atol=1e-12)
    # A copy is kept, the given coder is not refitted.
    assert given.init_coder_ is not trained.init_coder_
    assert_array_equal(given.init_coder_.steps_, trained.init_coder_.steps_)


def test_init_from_a_step_coder_of_another_problem_is_refused(problem):
    X, dictionary, alpha = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        steps = StepLISTACoder(dictionary, alpha=alpha, n_layers=2, max_iter=2).fit(X)
    cases = [
        (LISTACoder(dictionary, alpha=alpha, n_layers=3, init=steps), "n_layers=3"),
        (LISTACoder(dictionary, alpha=2 * alpha, n_layers=2, init=steps), "alpha"),
        (LFISTACoder(dictionary, alpha=alpha, n_layers=2, init=steps), "momentum"),
        (
            LISTACoder(dictionary[::-1], alpha=alpha, n_layers=2, init=steps),
            "another dictionary",
        ),
        (
            LISTACoder(
                dictionary, alpha=alpha, n_layers=2, init=steps, parametrization="tied"
            ),
            "does not contain",
        ),
    ]
    for coder, message in cases:
        with pytest.raises(ValueError, match=message):
            coder.fit(X)
    with pytest.raises(TypeError, match="or a StepLISTACoder"):
        LISTACoder(dictionary, alpha=alpha, n_layers=2, init=ISTACoder()).fit(X)


def test_an_unfitted_init_step_coder_is_fitted_as_a_grid_search_clones_it(problem):
    # clone() (a grid search, cross_validate) unfits an estimator parameter,
    # as scikit-learn does with `init` estimators: it is fitted on the data.
    X, dictionary, alpha = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        steps = StepLISTACoder(dictionary, alpha=alpha, n_layers=2, max_iter=2).fit(X)
        coder = LISTACoder(
            dictionary, alpha=alpha, n_layers=3, max_iter=2, init=steps, random_state=0
        )
        copy_ = clone(coder)
        assert not hasattr(copy_.init, "network_")
        copy_.fit(X)
    # Fitted on this coder's depth (3, not the template's 2), not in place.
    assert copy_.init_coder_.steps_.shape == (3,)
    assert not hasattr(copy_.init, "network_")
    assert copy_.score(X) >= copy_.init_coder_.score(X) - 1e-9 * abs(copy_.score(X))


@pytest.mark.parametrize("momentum", [False, True])
def test_safeguarded_layers_have_exact_gradients(momentum):
    from sklearn_lista.networks import StepFISTA, StepISTA

    X, dictionary, _ = make_sparse_coding(40, 20, 10, random_state=0)
    problem = LassoProblem(dictionary, 0.1 * alpha_max(X, dictionary))
    network = (StepFISTA if momentum else StepISTA)(problem, safeguard=True)
    rng = np.random.default_rng(0)
    params = network.init_params(5)
    # Steps up to 12 / L: some layers fall back on some signals.
    params["steps"] = params["steps"] * rng.uniform(0.5, 12, 5)
    if momentum:
        params["momentums"] = rng.uniform(0, 1, 4)
    weights = rng.standard_normal((40, 20))
    codes, cache = network.forward(X, params)
    assert sum(rises.sum() for *_, rises, _ in cache[1][0]) > 0
    grads = network.backward(params, cache, weights)
    for name, values in params.items():
        numeric = np.zeros_like(values)
        for i in range(values.shape[0]):
            shift = 1e-7 * max(1.0, abs(values[i]))
            up = {key: value.copy() for key, value in params.items()}
            down = {key: value.copy() for key, value in params.items()}
            up[name][i] += shift
            down[name][i] -= shift
            numeric[i] = np.sum(
                weights
                * (
                    network.forward(X, up, False)[0]
                    - network.forward(X, down, False)[0]
                )
            ) / (2 * shift)
        assert_allclose(
            grads[name], numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max()
        )


def test_safeguarded_step_coder_trains(problem):
    X, dictionary, alpha = problem
    coder = StepLISTACoder(
        dictionary, alpha=alpha, n_layers=4, max_iter=5, safeguard=True, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    untrained = ISTACoder(dictionary, alpha=alpha, n_layers=4).fit(X)
    assert coder.score(X) > untrained.score(X)


class _Quadratic:
    """A training loss ``(w - 1)^2`` whose held-out loss is ``(w + 1)^2``:
    every step gains on the monitored loss and loses on held-out signals."""

    divergence_guard = False

    def batches(self, rng):
        return [None]

    def loss(self, params, batch):
        return float((params["w"][0] - 1.0) ** 2)

    def loss_and_grads(self, params, batch):
        return self.loss(params, batch), {"w": 2 * (params["w"] - 1.0)}

    def monitor(self, params):
        return self.loss(params, None)

    def project(self, params):
        pass

    @staticmethod
    def held_out(params):
        return (params["w"] + 1.0) ** 2


def test_held_out_guard_stops_a_run_that_would_be_undone():
    from sklearn_lista._training import HeldOutGuard, TrainingLoop
    from sklearn_lista.optim import ConstantSchedule, SGDOptimizer
    from sklearn_lista.optim.manifolds import Euclidean

    def run(guard):
        loop = TrainingLoop(
            SGDOptimizer({"w": Euclidean()}, learning_rate_init=1e-3, momentum=0.0),
            ConstantSchedule(),
            max_iter=200,
            tol=1e-6,
            n_iter_no_change=10,
            rng=np.random.RandomState(0),
        )
        params = {"w": np.zeros(1)}
        return loop.run(_Quadratic(), params, guard=guard), params

    unguarded, trained = run(None)
    assert unguarded.n_iter == 200 and trained["w"][0] > 0.3
    guard = HeldOutGuard(_Quadratic.held_out, check_every=10, patience=2)
    result, params = run(guard)
    # Worse on held-out signals at the checks of epochs 10 and 20: stopped
    # there, and the start restored.
    assert result.n_iter == 20
    assert result.converged and result.n_guarded == 1
    assert params["w"][0] == 0.0


def _guarded_quadratic_run(held_out, guard=None, tol=1e-6, n_iter_no_change=10):
    from sklearn_lista._training import HeldOutGuard, TrainingLoop
    from sklearn_lista.optim import ConstantSchedule, SGDOptimizer
    from sklearn_lista.optim.manifolds import Euclidean

    loop = TrainingLoop(
        SGDOptimizer({"w": Euclidean()}, learning_rate_init=1e-3, momentum=0.0),
        ConstantSchedule(),
        max_iter=200,
        tol=tol,
        n_iter_no_change=n_iter_no_change,
        rng=np.random.RandomState(0),
    )
    params = {"w": np.zeros(1)}
    guard = (
        HeldOutGuard(held_out, check_every=10, patience=2) if guard is None else guard
    )
    return loop.run(_Quadratic(), params, guard=guard), params


def _one_signal_gains(params):
    """Held-out losses: one signal gains ``w``, the 99 others lose ``1e-3 w``
    (better on average, the gain not shown)."""
    w = params["w"][0]
    losses = np.full(100, 1.0 + 1e-3 * w)
    losses[0] = 10.0 - w
    return losses


def _most_signals_gain(params):
    """Held-out losses: 99 signals gain ``1e-3 w``, one loses ``w`` (worse on
    average, although most gain)."""
    w = params["w"][0]
    losses = np.full(100, 1.0 - 1e-3 * w)
    losses[0] = 1.0 + w
    return losses


def test_held_out_guard_undoes_a_run_whose_gain_is_never_shown():
    # The held-out loss falls on average with the training loss, but only
    # through one signal while the 99 others lose: stopped at the second
    # check (epoch 20, w = 1 - 0.998^20) and undone, although better on
    # average than its start.
    from sklearn_lista._training import worse_on_held_out

    result, params = _guarded_quadratic_run(_one_signal_gains)
    assert result.n_iter == 20
    assert result.converged and result.n_guarded == 1
    assert params["w"][0] == 0.0
    undone = {"w": np.array([1.0 - 0.998**20])}
    assert not worse_on_held_out(_one_signal_gains(params), _one_signal_gains(undone))


def test_held_out_guard_counts_a_majority_worse_on_average_as_no_gain():
    # Most signals gain, the mean is worse: no check shows a gain.
    result, params = _guarded_quadratic_run(_most_signals_gain)
    assert result.n_iter == 20
    assert result.n_guarded == 1 and params["w"][0] == 0.0


def test_held_out_guard_keeps_a_stopped_run_whose_gain_was_shown():
    # Most held-out signals gain at the first check (w ~ 0.02), then lose
    # while one signal keeps the mean better than the start: the run stops
    # after two checks without a shown gain and keeps its trained network.
    def held_out(params):
        w = params["w"][0]
        losses = np.full(100, 1.0 - w + 30.0 * w**2)
        losses[0] = 10.0 - 100.0 * w
        return losses

    result, params = _guarded_quadratic_run(held_out)
    assert result.n_iter == 30
    assert result.converged and result.n_guarded == 0
    assert params["w"][0] > 0.05


def test_held_out_guard_judges_each_run_afresh():
    # One guard for two runs (as the stages of a stagewise fit): the gain the
    # first run showed does not carry over to the second.
    from sklearn_lista._training import HeldOutGuard

    losses = {"held_out": lambda params: 1.0 - params["w"][0] * np.ones(100)}
    guard = HeldOutGuard(lambda params: losses["held_out"](params), 10, 2)
    result, params = _guarded_quadratic_run(None, guard=guard)
    assert result.n_guarded == 0 and params["w"][0] > 0
    losses["held_out"] = _one_signal_gains
    result, params = _guarded_quadratic_run(None, guard=guard)
    assert result.n_guarded == 1 and params["w"][0] == 0.0


def test_held_out_guard_undoes_a_run_whose_final_check_shows_no_gain():
    # A run that ends before the first check (n_iter_no_change=3, a slowly
    # falling training loss) whose result is better on average through one
    # held-out signal only: the final check shows no gain, and it is undone.
    options = dict(tol=0.2, n_iter_no_change=3)
    result, params = _guarded_quadratic_run(_one_signal_gains, **options)
    assert 0 < result.n_iter < 10
    assert result.n_guarded == 1 and params["w"][0] == 0.0
    # Most held-out signals gaining: kept.
    result, params = _guarded_quadratic_run(
        lambda params: 1.0 - params["w"][0] * np.ones(100), **options
    )
    assert result.n_guarded == 0 and params["w"][0] > 0


def test_doubling_depths():
    from sklearn_lista._coders.learned import doubling_depths

    assert doubling_depths(1) == [1]
    assert doubling_depths(2) == [1, 2]
    assert doubling_depths(12) == [1, 2, 4, 8, 12]
    assert doubling_depths(16) == [1, 2, 4, 8, 16]
    assert doubling_depths(17) == [1, 2, 4, 8, 16, 17]
    assert doubling_depths(3) == [1, 2, 3]


def test_deep_step_coder_is_grown_by_doubling(split, monkeypatch):
    # A fresh fit from 16 layers trains 1, 2, 4, 8, 16 layers in turn, each a
    # warm start from the previous one; shallower fits, stage-wise ones and
    # warm starts train once, at their depth. The learned coders' start is
    # such a step coder.
    X, _, dictionary, alpha = split
    fitted = []
    train = StepLISTACoder._train

    def recording_train(self, X, y, incremental):
        fitted.append((self.n_layers, self.warm_start))
        return train(self, X, y, incremental)

    monkeypatch.setattr(StepLISTACoder, "_train", recording_train)
    params = dict(alpha=alpha, max_iter=2, random_state=0)
    grown = [(1, False), (2, True), (4, True), (8, True), (16, True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        steps = StepLISTACoder(dictionary, n_layers=16, **params).fit(X)
        assert fitted == grown
        # This coder holds the grown network, its parameters unchanged.
        assert steps.steps_.shape[0] == 16 and steps.n_layers == 16
        assert not steps.warm_start and steps.dictionary is dictionary
        # Each depth continued the previous one (5 depths of 2 epochs).
        assert steps.n_iter_ == len(steps.loss_curve_) == 10
        fitted.clear()
        StepLISTACoder(dictionary, n_layers=16, momentum=True, **params).fit(X)
        assert fitted == grown
        fitted.clear()
        StepLISTACoder(dictionary, n_layers=8, **params).fit(X)
        StepLISTACoder(
            dictionary, n_layers=16, fit_algorithm="stagewise", **params
        ).fit(X)
        steps.set_params(n_layers=32, warm_start=True).fit(X)
        assert fitted == [(8, False), (16, False), (32, True)]
        fitted.clear()
        coder = LISTACoder(dictionary, n_layers=16, init="learned_steps", **params).fit(
            X
        )
        assert fitted == grown and coder.init_coder_.n_iter_ == 10


def test_grown_step_coder_learns_its_dictionary_and_matches_a_sweep():
    # dictionary=None and the validation guard (1200 signals): the coder
    # keeps its parameters, learns one dictionary, and equals the depths
    # fitted one by one on that dictionary.
    X, _, _ = make_sparse_coding(1200, 30, 20, density=0.1, random_state=0)
    params = dict(n_components=30, alpha=0.05, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grown = StepLISTACoder(n_layers=16, random_state=0, **params).fit(X)
        assert grown.dictionary is None and not grown.warm_start
        assert grown.n_components_ == 30 and grown.steps_.shape[0] == 16
        manual = StepLISTACoder(
            dictionary=grown.components_, random_state=0, warm_start=True, **params
        )
        for depth in (1, 2, 4, 8, 16):
            manual.set_params(n_layers=depth).fit(X)
        # A RandomState seed is left as given (the depths share one drawn).
        rng = np.random.RandomState(0)
        seeded = StepLISTACoder(n_layers=16, random_state=rng, **params).fit(X)
        assert seeded.random_state is rng and seeded.n_iter_ == 10
    assert_array_equal(grown.steps_, manual.steps_)
    assert grown.n_iter_ == manual.n_iter_ == 10
    assert_array_equal(grown.transform(X[:50]), manual.transform(X[:50]))


def test_grown_step_coder_counts_guard_restores_over_its_depths(monkeypatch):
    import sklearn_lista._training as training

    X, dictionary, _ = make_sparse_coding(1200, 30, 20, density=0.1, random_state=0)
    monkeypatch.setattr(
        training.HeldOutGuard, "rejects", lambda self, trained, best_epoch=None: True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder = StepLISTACoder(
            dictionary, alpha=0.05, n_layers=16, max_iter=3, random_state=0
        ).fit(X)
    assert coder.guard_restores_ == 5


def _record_training_starts(monkeypatch):
    """The starting parameters of every `TrainingLoop.run` (one per stage)."""
    from sklearn_lista._training import TrainingLoop

    starts = []
    run = TrainingLoop.run

    def recording_run(self, objective, params, result=None, **kwargs):
        starts.append({name: value.copy() for name, value in params.items()})
        return run(self, objective, params, result, **kwargs)

    monkeypatch.setattr(TrainingLoop, "run", recording_run)
    return starts


def test_stagewise_warm_start_trains_every_new_depth(problem, monkeypatch):
    # Growing a trained 2-layer network to 4 layers trains depth 3, then 4
    # (max_iter epochs each), not only the final depth.
    X, dictionary, alpha = problem
    starts = _record_training_starts(monkeypatch)
    coder = LISTACoder(
        dictionary,
        alpha=alpha,
        n_layers=2,
        init="classical",
        fit_algorithm="stagewise",
        warm_start=True,
        max_iter=3,
        tol=0.0,
        n_iter_no_change=10,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
        assert coder.n_iter_ == 6
        starts.clear()
        coder.set_params(n_layers=4).fit(X)
    assert [coder.network_.n_layers(start) for start in starts] == [3, 4]
    assert coder.n_iter_ == 12


def test_stagewise_warm_start_picks_the_next_depth_on_held_out_signals(
    monkeypatch,
):
    # With the validation guard (>= 1000 signals) and a supervised loss, the
    # grown starts of the first new depth compete on the held-out signals, as
    # when the network grows by one layer.
    from sklearn_lista._training import split_monitor
    from sklearn_lista.datasets import make_compressed_sensing

    X, dictionary, codes = make_compressed_sensing(
        1000, n_measurements=20, n_components=40, random_state=0
    )
    starts = _record_training_starts(monkeypatch)
    coder = LISTACoder(
        dictionary,
        alpha=0.01,
        n_layers=2,
        loss="squared_error",
        init="classical",
        fit_algorithm="stagewise",
        warm_start=True,
        max_iter=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X, codes)
        trained = {name: value.copy() for name, value in coder._get_params().items()}
        starts.clear()
        compared = []
        monitored_loss = LISTACoder._monitored_loss

        def recording_loss(self, network, params, signals):
            compared.append((network.n_layers(params), signals[0].shape[0]))
            return monitored_loss(self, network, params, signals)

        monkeypatch.setattr(LISTACoder, "_monitored_loss", recording_loss)
        coder.set_params(n_layers=4).fit(X, codes)
        monkeypatch.setattr(LISTACoder, "_monitored_loss", monitored_loss)
    *_, held_out = split_monitor(
        X,
        codes,
        early_stopping=False,
        validation_fraction=0.1,
        random_state=0,
        guard=True,
    )
    grown = coder._grown_starts(coder.network_, trained, 3)
    assert len(grown) > 1

    def loss_on(signals):
        return [coder._monitored_loss(coder.network_, s, signals) for s in grown]

    # Only the depth-3 starts were compared, each on the 100 held-out signals.
    assert compared == [(3, held_out[0].shape[0])] * len(grown)
    assert held_out[0].shape[0] == 100
    expected = grown[int(np.argmin(loss_on(held_out)))]
    assert [coder.network_.n_layers(start) for start in starts] == [3, 4]
    for name, value in expected.items():
        assert_array_equal(starts[0][name], value)


def test_grown_step_coder_on_sparse_signals_announces_its_depths(split, capsys):
    X, _, dictionary, alpha = split
    params = dict(alpha=alpha, n_layers=16, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = StepLISTACoder(dictionary, **params).fit(X)
        capsys.readouterr()
        grown = StepLISTACoder(dictionary, verbose=1, **params).fit(sp.csr_matrix(X))
    assert "growing the network: 1, 2, 4, 8, 16 layers" in capsys.readouterr().out
    assert_array_equal(grown.steps_, dense.steps_)


@pytest.fixture(scope="module")
def digits_problem():
    """The digits with a dictionary learned on them: there the classical start
    of a fresh fit overtakes the learned steps within a few epochs."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import MiniBatchDictionaryLearning

    X = load_digits().data / 16
    X_train, X_test = X[:1200], X[1200:]
    dictionary = (
        MiniBatchDictionaryLearning(
            n_components=100, alpha=0.3, max_iter=20, random_state=0
        )
        .fit(X_train)
        .components_
    )
    return X_train, X_test, dictionary, 0.1 * alpha_max(X_train, dictionary)


def test_auto_init_keeps_the_classical_start_when_it_overtakes_the_steps(
    digits_problem,
):
    X, X_test, dictionary, alpha = digits_problem
    params = dict(alpha=alpha, n_layers=4, max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto = LISTACoder(dictionary, **params).fit(X)
        steps = LISTACoder(dictionary, init="learned_steps", **params).fit(X)
        classical = LISTACoder(dictionary, init="classical", **params).fit(X)
    assert not hasattr(auto, "init_coder_")
    assert hasattr(steps, "init_coder_")
    assert auto.score(X_test) > steps.score(X_test)
    # The kept run is the classical fit itself.
    assert_array_equal(auto.transform(X_test), classical.transform(X_test))
    assert auto.n_iter_ == classical.n_iter_
    assert auto.loss_curve_ == classical.loss_curve_


def test_auto_init_keeps_the_learned_steps_when_the_classical_start_lags():
    X, dictionary, _ = make_sparse_coding(1200, 30, 20, density=0.1, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    params = dict(alpha=alpha, n_layers=4, max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto = LISTACoder(dictionary, **params).fit(X)
        steps = LISTACoder(dictionary, init="learned_steps", **params).fit(X)
    assert hasattr(auto, "init_coder_")
    # The race trains a copy with its own loop: the kept fit is untouched.
    assert_array_equal(auto.transform(X), steps.transform(X))
    assert auto.n_iter_ == steps.n_iter_


def test_start_race_runs_only_for_a_fresh_end_to_end_auto_fit(
    digits_problem, monkeypatch
):
    X, _, dictionary, alpha = digits_problem
    races = []
    original = LISTACoder._classical_challenger

    def record(self, objective, trained, choice, guard):
        races.append(self.n_layers)
        return original(self, objective, trained, choice, guard)

    monkeypatch.setattr(LISTACoder, "_classical_challenger", record)
    params = dict(alpha=alpha, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder = LISTACoder(dictionary, n_layers=2, warm_start=True, **params).fit(X)
        coder.set_params(n_layers=3).fit(X)
        LISTACoder(dictionary, n_layers=2, init="learned_steps", **params).fit(X)
        LISTACoder(dictionary, n_layers=2, fit_algorithm="stagewise", **params).fit(X)
    assert races == [2]


def test_a_lagging_run_is_given_up_at_its_pace():
    from sklearn_lista._training import _cannot_reach

    # Below the target, or too few epochs to judge the pace: it goes on.
    assert not _cannot_reach([3.0, 2.0, 0.9], 1.0, epochs_left=10)
    assert not _cannot_reach([3.0, 2.9, 2.8], 1.0, epochs_left=1)
    # Gaining 0.1 per epoch after 5 epochs: 10 more (twice those run) reach
    # 1.0, fewer do not.
    curve = [2.5, 2.4, 2.3, 2.2, 2.1, 2.0]
    assert not _cannot_reach(curve, 1.0, epochs_left=100)
    assert _cannot_reach(curve, 0.9, epochs_left=100)
    assert _cannot_reach(curve, 1.0, epochs_left=5)
    # A plateau above the target gains nothing.
    assert _cannot_reach([2.0] * 6, 1.0, epochs_left=100)
    # A non-finite epoch does not hide the later ones.
    assert _cannot_reach([2.5, np.nan, 2.3, 2.2, 2.1, 2.0], 0.9, epochs_left=100)
