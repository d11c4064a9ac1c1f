"""Every public name is documented: numpydoc sections and the API page."""

from pathlib import Path

import pytest
from numpydoc.validate import validate

import sklearn_lista
from sklearn_lista import analytic, datasets, experiments, metrics

API_PAGE = Path(__file__).parents[1] / "doc" / "api.rst"
PUBLIC = [
    f"sklearn_lista.{name}" for name in sklearn_lista.__all__ if name != "__version__"
]
PUBLIC += [f"sklearn_lista.datasets.{name}" for name in datasets.__all__]
PUBLIC += [f"sklearn_lista.metrics.{name}" for name in metrics.__all__]
PUBLIC += [f"sklearn_lista.analytic.{name}" for name in analytic.__all__]
PUBLIC += [
    f"sklearn_lista.experiments.{name}"
    for name in experiments.__all__
    if callable(getattr(experiments, name))
]
# As scikit-learn's own docstring test: no "See Also" or extended summary
# required, and a Returns entry may name the value.
IGNORED = {"SA01", "ES01", "RT02", "GL01", "GL02"}


@pytest.mark.parametrize("name", PUBLIC)
def test_numpydoc_sections(name):
    errors = [
        f"{code}: {message}"
        for code, message in validate(name)["errors"]
        if code not in IGNORED
    ]
    assert not errors, "\n".join(errors)


def test_api_page_lists_every_public_name():
    page = API_PAGE.read_text()
    for modules, names in (
        ("", sklearn_lista.__all__),
        ("datasets.", datasets.__all__),
        ("experiments.", experiments.__all__),
        ("metrics.", metrics.__all__),
        ("analytic.", analytic.__all__),
    ):
        missing = [
            name
            for name in names
            if name != "__version__"
            and f"{modules}{name}" not in page
            and f".. data:: {name}\n" not in page
        ]
        assert not missing, f"doc/api.rst misses {missing}"
