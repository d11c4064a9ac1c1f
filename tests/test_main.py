import subprocess
import sys

import numpy as np
import pytest

from sklearn_lista import FISTACoder, ISTACoder
from sklearn_lista.__main__ import main
from sklearn_lista.datasets import alpha_max, make_sparse_coding
from sklearn_lista.experiments import depth_sweep, reference_cost


def test_main_prints_the_gap_table(capsys):
    assert main(["--n-samples", "100", "--depths", "1", "4", "16", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["depth"])
    assert header.split() == ["depth", "ISTA", "FISTA"]
    rows = [
        line.split() for line in lines if line.split()[:1] in (["1"], ["4"], ["16"])
    ]
    gaps = np.array([[float(v) for v in row[1:]] for row in rows])
    assert gaps.shape == (3, 2)
    assert np.all(gaps > 0)
    assert np.all(np.diff(gaps[:, 0]) < 0)  # deeper ISTA is closer to F*


def test_main_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["--density", "0"])
    assert "--density must be in (0, 1]" in capsys.readouterr().err


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_lista", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--alpha-fraction" in result.stdout
    assert "--seed" in result.stdout


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
        (["--n-samples", "0"], "--n-samples must be a positive integer"),
        (["--code-scale", "-1"], "--code-scale must be positive"),
    ],
)
def test_main_validates_sizes(capsys, argv, message):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_main_reports_an_all_zero_problem(capsys):
    assert main(["--density", "0.0001", "--n-samples", "3"]) == 1
    assert "every generated signal is zero" in capsys.readouterr().err
