"""Sphinx configuration: numpydoc API pages and a sphinx-gallery of examples."""

import os
import re
import socket

import sklearn_lista


def _online(host="docs.python.org"):
    """Whether the intersphinx inventories can be fetched (offline builds skip
    them instead of warning once per inventory)."""
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError:
        return False
    return True


project = "sklearn-lista"
author = "the sklearn-lista developers"
release = sklearn_lista.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
# Class pages come from doc/_templates/autosummary/class.rst: a table of the
# methods, then every public method (inherited ones included) documented on the
# page, so that `:meth:` references and the table's rows resolve.
templates_path = ["_templates"]
autodoc_default_options = {"member-order": "groupwise"}
numpydoc_show_class_members = False
exclude_patterns = ["_build", "auto_examples/*.ipynb"]

html_theme = "pydata_sphinx_theme"
html_title = "sklearn-lista"
html_short_title = "sklearn-lista"
html_theme_options = {
    "logo": {"text": "sklearn-lista"},
    "navbar_align": "left",
    # Six top-level pages: all of them fit as links, no "More" dropdown.
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
}
html_css_files = ["custom.css"]
html_static_path = ["_static"]

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "joblib": ("https://joblib.readthedocs.io/en/stable/", None),
    "scipy": ("https://docs.scipy.org/doc/scipy/", None),
    "dask": ("https://docs.dask.org/en/stable/", None),
    "dask_ml": ("https://ml.dask.org/", None),
    "distributed": ("https://distributed.dask.org/en/stable/", None),
}
ONLINE = _online()
if not ONLINE:
    intersphinx_mapping = {}

# `-n` (nitpicky) is on in CI: every cross-reference must resolve. Offline, the
# inventories of the other projects cannot be fetched, so references into them
# (and the labels of scikit-learn's pages that its inherited docstrings cite)
# are the only ones let go; references into sklearn_lista never are.
nitpick_ignore_regex = []
if not ONLINE:
    EXTERNAL = r"(sklearn|numpy|scipy|joblib|dask|dask_ml|distributed|python)"
    nitpick_ignore_regex = [
        (r"py:.*", EXTERNAL + r"(\..*)?"),
        # Labels of scikit-learn's user guide cited by its inherited docstrings
        # (set_output, get_metadata_routing, set_params; score of its
        # classifier and regressor mixins).
        (
            r"std:ref",
            r"(df_output_transform|metadata_routing|sphx_glr_auto_examples_.*"
            r"|accuracy_score|r2_score)",
        ),
        # Its glossary, cited by the set_fit_request-style methods of
        # estimators whose fit takes sample_weight.
        (r"std:term", r"meta-estimator"),
    ]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "reference_url": {"sklearn_lista": None},
    # "Examples using X" at the bottom of each API page.
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sklearn_lista",),
    "thumbnail_size": (400, 280),
}

# ----------------------------------------------------------- quick mode label
QUICK = bool(os.environ.get("SKLEARN_LISTA_EXAMPLES_QUICK"))
QUICK_NOTE = """
.. admonition:: Built in quick mode
   :class: warning

   This page was built with ``SKLEARN_LISTA_EXAMPLES_QUICK=1``: smaller
   problems and a few training epochs, so the figures and printed numbers are
   rougher than those of the full run, which the prose quotes where it says
   so. Run the script without the variable for the full figures.

"""


def _label_quick_pages(app, docname, source):
    """Put the quick-mode note under the title of every gallery page."""
    if not (QUICK and docname.startswith("auto_examples/")):
        return
    title = re.search(r"^(=+|-+)\n.+\n(=+|-+)\n|^.+\n(=+|-+)\n", source[0], re.M)
    if title:
        end = title.end()
        source[0] = source[0][:end] + QUICK_NOTE + source[0][end:]


def setup(app):
    app.connect("source-read", _label_quick_pages)
