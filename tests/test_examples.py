"""Every gallery example runs on its own in quick mode, without a
ConvergenceWarning (the built gallery shows none)."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))


@pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_in_quick_mode(path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    monkeypatch.setenv("SKLEARN_LISTA_EXAMPLES_QUICK", "1")
    monkeypatch.chdir(path.parent)
    runpy.run_path(str(path), run_name="__main__")
    import matplotlib.pyplot as plt

    assert plt.get_fignums(), f"{path.name} drew no figure"
    plt.close("all")


def test_there_are_examples():
    assert EXAMPLES
    assert all(p.read_text().startswith('"""') for p in EXAMPLES)
