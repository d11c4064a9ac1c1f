"""The code of the user guide and of the index page runs as printed.

Each page's ``.. code-block:: python`` blocks run in order as one script, as
a reader pasting them would; a block with ``if __name__ == "__main__":`` (the
Dask scripts, whose workers import the script again) runs as a script of its
own. A ``.. code-block:: text`` right after a python block is the output the
page promises: its lines must be printed. A ConvergenceWarning is an error.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DOC = Path(__file__).parents[1] / "doc"
PAGES = ["index.rst", "user_guide.rst", "deploying.rst"]
BLOCK = re.compile(r"^\.\. code-block:: (\w+)\n((?:\n|[ \t]+.*\n)+)", re.MULTILINE)


def code_blocks(page):
    """``(language, code)`` of each code block of a page, in order."""
    text = (DOC / page).read_text()
    return [
        (language, textwrap.dedent(body).strip("\n") + "\n")
        for language, body in BLOCK.findall(text)
    ]


def scripts(page):
    """``(code, expected output lines)`` of each script a page's blocks form."""
    blocks = code_blocks(page)
    main_code, main_expected, standalone = [], [], []
    for index, (language, code) in enumerate(blocks):
        if language != "python":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
        expected = following[1].splitlines() if following[0:1] == ("text",) else []
        if 'if __name__ == "__main__":' in code:
            standalone.append((code, expected))
        else:
            main_code.append(code)
            main_expected += expected
    found = [("\n".join(main_code), main_expected)] if main_code else []
    return found + standalone


# (`python -W error::sklearn.exceptions.ConvergenceWarning` cannot name a category
# that is not imported at startup.)
PROLOGUE = """\
import warnings
from sklearn.exceptions import ConvergenceWarning
warnings.simplefilter("error", ConvergenceWarning)
"""

CASES = [
    pytest.param(code, expected, id=f"{page}-{number}")
    for page in PAGES
    for number, (code, expected) in enumerate(scripts(page))
]


def test_the_pages_have_code():
    assert len(CASES) >= 3
    assert all(
        any(language == "python" for language, _ in code_blocks(page)) for page in PAGES
    )


@pytest.mark.parametrize(("code", "expected"), CASES)
def test_page_code_runs_and_prints_what_the_page_shows(code, expected, tmp_path):
    if "distributed" in code or "dask" in code:
        pytest.importorskip("distributed")
        pytest.importorskip("dask_ml")
    script = tmp_path / "snippet.py"
    script.write_text(PROLOGUE + code)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    missing = [line for line in expected if line.strip() and line not in printed]
    assert not missing, f"printed:\n{result.stdout}\nnot printed: {missing}"
