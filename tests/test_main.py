import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from sklearn_lista import FISTACoder, ISTACoder, experiments
from sklearn_lista.__main__ import main
from sklearn_lista.datasets import alpha_max, make_sparse_coding
from sklearn_lista.experiments import (
    PAPER_METHODS,
    STEP_METHODS,
    compare_coders,
    depth_sweep,
    make_problem,
    plot_gap_curves,
    reference_cost,
)


def _table(out, names):
    lines = out.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["depth"])
    assert header.split() == ["depth", *names]
    rows = [line.split() for line in lines[lines.index(header) + 2 :]]
    rows = [row for row in rows if row and row[0].isdigit()]
    return [int(row[0]) for row in rows], np.array(
        [[float(v) for v in row[1:]] for row in rows]
    )


def test_main_prints_the_gap_table_and_writes_the_figure(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    output = tmp_path / "gaps.png"
    argv = ["--n-train", "200", "--n-test", "60", "--max-layers", "4"]
    argv += ["--max-epochs", "3", "--seed", "1", "--output", str(output)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    depths, gaps = _table(out, [*PAPER_METHODS, *STEP_METHODS])
    assert depths == [1, 2, 4]
    assert np.all(gaps > 0)
    assert np.all(np.diff(gaps[:, 0]) < 0)  # deeper ISTA is closer to F*
    assert "LISTA depth   4: fine-tuned in" in out  # progress while training
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"figure written to {output}" in out


def test_main_problem_and_methods(capsys):
    argv = ["--problem", "adversarial", "--methods", "ISTA", "FISTA"]
    argv += ["--n-train", "30", "--n-test", "30", "--max-layers", "3"]
    assert main([*argv, "--output", "none"]) == 0
    out = capsys.readouterr().out
    assert "problem adversarial" in out and "K=256, P=50" in out
    depths, gaps = _table(out, ["ISTA", "FISTA"])
    assert depths == [1, 2] and gaps.shape == (2, 2)
    assert "figure written" not in out


def test_main_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["--problem", "mnist"])
    assert "invalid choice: 'mnist'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--max-layers", "0"])
    assert "--max-layers must be a positive integer" in capsys.readouterr().err


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_lista", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for option in ("--problem", "--quick", "--output", "--max-layers", "--seed"):
        assert option in result.stdout


def test_depth_sweep_gaps_decrease_to_zero():
    X, dictionary, _ = make_sparse_coding(50, 20, 10, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    optimal, codes = reference_cost(X, dictionary, alpha)
    assert codes.shape == (50, 20)
    gaps = depth_sweep(
        {
            "ISTA": ISTACoder(dictionary, alpha=alpha),
            "FISTA": FISTACoder(dictionary, alpha=alpha),
        },
        X,
        dictionary,
        alpha,
        [1, 10, 1000],
        optimal_cost=optimal,
    )
    for values in gaps.values():
        assert values[0] > values[1] > 0
        assert abs(values[2]) < 1e-9


def test_train_depth_sweep_warm_starts_each_depth():
    from sklearn_lista import LISTACoder
    from sklearn_lista.experiments import train_depth_sweep

    X, dictionary, _ = make_sparse_coding(200, 20, 10, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    template = LISTACoder(dictionary, alpha=alpha, max_iter=5, random_state=0)
    models = train_depth_sweep(template, X, [1, 2, 4])
    assert [m.n_layers for m in models.values()] == [1, 2, 4]
    # Each depth continues the previous one: epochs accumulate.
    assert models[1].n_iter_ < models[2].n_iter_ < models[4].n_iter_
    assert template.warm_start is False and not hasattr(template, "weights_x_")
    scores = [models[q].score(X) for q in (1, 2, 4)]
    assert scores[0] < scores[1] < scores[2]
    with pytest.raises(ValueError, match="strictly increasing"):
        train_depth_sweep(template, X, [2, 1])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--n-train", "0"], "--n-train must be a positive integer"),
        (["--max-epochs", "-1"], "--max-epochs must be a positive integer"),
    ],
)
def test_main_validates_sizes(capsys, argv, message):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["gaussian-sparse", "gaussian-dense", "adversarial"])
def test_make_problem_synthetic(name):
    problem = make_problem(name, n_train=300, n_test=50, random_state=0)
    assert problem.X_train.shape[0] == 300 and problem.X_test.shape[0] == 50
    n_components, n_features = problem.dictionary.shape
    assert problem.X_train.shape[1] == n_features
    assert problem.alpha == pytest.approx(
        0.1 * alpha_max(problem.X_train, problem.dictionary)
    )
    again = make_problem(name, n_train=300, n_test=50, random_state=0)
    np.testing.assert_array_equal(again.X_test, problem.X_test)
    assert not np.allclose(problem.X_train[:50], problem.X_test)
    # The dense problem has about five times the non-zeros of the sparse one.
    codes = ISTACoder(problem.dictionary, alpha=problem.alpha, n_layers=300)
    density = np.mean(codes.fit_transform(problem.X_test) != 0)
    assert (density > 0.08) == (name == "gaussian-dense")


def test_make_problem_images_and_digits():
    images = make_problem("images", n_train=100, n_test=40)
    assert images.X_train.shape == (100, 64) and images.X_test.shape == (40, 64)
    assert images.alpha == 0.05 and images.dictionary.shape == (128, 64)
    digits = make_problem("digits", n_train=5000, n_test=100)
    assert digits.X_train.shape == (1347, 64) and digits.X_test.shape == (100, 64)
    assert digits.y_train.shape == (1347,) and digits.dictionary.shape[1] == 64
    with pytest.raises(ValueError, match="unknown problem 'mnist'"):
        make_problem("mnist")
    with pytest.raises(ValueError, match="n_test must be a positive integer"):
        make_problem(n_test=0)


def test_compare_coders_and_figure():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problem = make_problem(n_train=300, n_test=100, random_state=0)
    result = compare_coders(
        problem,
        [1, 2, 4],
        methods=["ISTA", "FISTA", "LISTA"],
        coder_params={"LISTA": {"max_iter": 5}},
    )
    assert list(result.gaps) == ["ISTA", "FISTA", "LISTA"]
    assert np.all(result.gaps["LISTA"] < result.gaps["ISTA"])
    assert np.all(result.fit_times["LISTA"] > 0)
    assert sorted(result.models["LISTA"]) == [1, 2, 4]
    ax = plot_gap_curves(result, title="t")
    assert len(ax.get_lines()) == 3 and ax.get_title() == "t"
    plt.close("all")
    with pytest.raises(ValueError, match="unknown methods"):
        compare_coders(problem, [1], methods=["CD"])
    with pytest.raises(ValueError, match="strictly increasing"):
        compare_coders(problem, [2, 1])


def test_compare_coders_shares_the_step_sweeps_and_runs_in_parallel():
    problem = make_problem(n_train=300, n_test=100, random_state=0)
    params = {name: {"max_iter": 3} for name in ["LISTA", "StepLISTA", "StepFISTA"]}
    alone = compare_coders(
        problem, [1, 2], methods=["StepLISTA", "StepFISTA"], coder_params=params
    )
    both = compare_coders(
        problem,
        [1, 2],
        methods=["LISTA", "StepLISTA", "StepFISTA"],
        coder_params=params,
        n_jobs=2,
    )
    assert list(both.gaps) == ["LISTA", "StepLISTA", "StepFISTA"]
    # StepLISTA is LISTA's initialisation (trained once), with the same result.
    assert np.isnan(both.fit_times["StepLISTA"]).all()
    assert_array_equal(
        both.models["StepLISTA"][2].steps_, both.models["LISTA"][2].init_coder_.steps_
    )
    assert_allclose(both.gaps["StepLISTA"], alone.gaps["StepLISTA"], rtol=1e-10)
    # Not LFISTA's: StepFISTA was trained on its own, in the other process.
    assert np.all(both.fit_times["StepFISTA"] > 0)
    assert_allclose(both.gaps["StepFISTA"], alone.gaps["StepFISTA"], rtol=1e-10)
    # Other settings: trained apart.
    params["StepLISTA"] = {"max_iter": 2}
    apart = compare_coders(
        problem, [1], methods=["LISTA", "StepLISTA"], coder_params=params
    )
    assert np.all(apart.fit_times["StepLISTA"] > 0)


def test_compare_coders_starts_facnet_from_listas_step_coders():
    problem = make_problem(n_train=300, n_test=100, random_state=0)
    params = {name: {"max_iter": 3} for name in ["LISTA", "FacNet"]}
    alone = compare_coders(problem, [1, 2], methods=["FacNet"], coder_params=params)
    both = compare_coders(
        problem, [1, 2], methods=["LISTA", "FacNet"], coder_params=params
    )
    # The same step coders as its own sweep trains, so the same networks.
    started_from = both.models["FacNet"][2].init
    assert_array_equal(started_from.steps_, both.models["LISTA"][2].init_coder_.steps_)
    assert_allclose(both.gaps["FacNet"], alone.gaps["FacNet"], rtol=1e-10)
    assert_allclose(
        both.models["FacNet"][2].S_, alone.models["FacNet"][2].S_, rtol=1e-10
    )
    # Other step settings: FacNet trains its own.
    params["FacNet"]["n_iter_no_change"] = 5
    apart = compare_coders(
        problem, [1], methods=["LISTA", "FacNet"], coder_params=params
    )
    assert isinstance(apart.models["FacNet"][1].init, str)


def test_compare_coders_schedules_depths_after_the_step_sweep_they_start_from(
    monkeypatch,
):
    problem = make_problem(n_train=300, n_test=100, random_state=0)
    methods = ["ISTA", "LISTA", "FacNet", "StepLISTA"]
    params = {name: {"max_iter": 3} for name in methods[1:]}
    parallel = compare_coders(
        problem, [1, 2, 4], methods=methods, coder_params=params, n_jobs=2
    )
    # In one process, on a clock that makes every fit last one second.
    clock = iter(range(10**6))
    monkeypatch.setattr(
        experiments, "time", SimpleNamespace(perf_counter=lambda: next(clock))
    )
    lines = []
    serial = compare_coders(
        problem, [1, 2, 4], methods=methods, coder_params=params, progress=lines.append
    )
    for name in methods:
        assert_allclose(parallel.gaps[name], serial.gaps[name], rtol=1e-12)
    # Each depth of FacNet and LISTA comes after the step coders' same depth
    # (a line per trained depth), and starts from them.
    order = [(line.split()[0], int(line.split()[2].rstrip(":"))) for line in lines]
    assert len(order) == 9
    for name in ("LISTA", "FacNet"):
        for depth in (1, 2, 4):
            assert order.index((name, depth)) > order.index(("StepLISTA", depth))
    assert serial.models["FacNet"][4].init is serial.models["StepLISTA"][4]
    # LISTA's models keep the init asked for (a refit at another depth grows
    # its step coder, as if it had trained them itself).
    assert serial.models["LISTA"][4].init == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 3 epochs
        refit = serial.models["LISTA"][2].set_params(n_layers=4).fit(problem.X_train)
    assert refit.init_coder_.steps_.shape[0] == 4
    # LISTA pays for the step sweep (its own start would have), FacNet not.
    assert_array_equal(serial.fit_times["LISTA"], [2.0, 2.0, 2.0])
    assert_array_equal(serial.fit_times["FacNet"], [1.0, 1.0, 1.0])
    assert np.isnan(serial.fit_times["StepLISTA"]).all()


def test_compare_coders_in_workers_from_a_script_without_main_guard(tmp_path):
    # The workers do not re-import the caller's script (no
    # ``if __name__ == "__main__"`` needed, as with joblib).
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from sklearn_lista.experiments import compare_coders, make_problem\n"
        "problem = make_problem(n_train=100, n_test=20)\n"
        "result = compare_coders(problem, [1], methods=['ISTA', 'LISTA'],\n"
        "    coder_params={'LISTA': {'max_iter': 2}}, n_jobs=2)\n"
        "print('gaps', len(result.gaps))\n"
    )
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "gaps 2" in run.stdout


def test_main_runs_the_step_coders_on_request(capsys):
    methods = ["FISTA", "StepLISTA", "StepFISTA", "HyperLISTA"]
    argv = ["--methods", *methods, "--n-train", "200"]
    argv += ["--n-test", "60", "--max-layers", "2", "--max-epochs", "3"]
    assert main([*argv, "--output", "none"]) == 0
    depths, gaps = _table(capsys.readouterr().out, methods)
    assert depths == [1, 2] and np.all(gaps > 0)
