"""The documentation's sources: what Sphinx would not catch, caught fast.

``make docs`` builds the site with every warning an error; these checks run
with the test suite, without Sphinx: every docstring example of the package,
the gallery's layout, the user guide's code and cross-references. (That every
public name is in the API reference: tests/test_public_api.py.)
"""

import ast
import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"


def _modules():
    """Every module of the package, by name (``__main__`` would run the CLI)."""
    import sksparse

    names = ["sksparse"]
    for info in pkgutil.walk_packages(sksparse.__path__, "sksparse."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


def _has_examples(module):
    return ">>>" in Path(module.__file__).read_text()


def _docstring_examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    examples = []
    for name in _modules():
        module = importlib.import_module(name)
        if not _has_examples(module):
            continue
        for test in finder.find(module):
            # A package re-exports its modules' objects: run each once, where
            # it is defined.
            if test.examples and (test.name + ".").startswith(name + "."):
                examples.append(test)
    return sorted(examples, key=lambda test: test.name)


# Examples that fail today, each with what it does wrong: reported in the
# summary (-ra) as xfail, never skipped, and an XPASS there once one is fixed.
KNOWN_FAILURES = {}


@pytest.mark.parametrize(
    "test",
    [
        pytest.param(
            test,
            id=test.name,
            marks=[pytest.mark.xfail(reason=KNOWN_FAILURES[test.name])]
            if test.name in KNOWN_FAILURES
            else [],
        )
        for test in _docstring_examples()
    ],
)
def test_docstring_examples_run(test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = []
    try:
        result = runner.run(test, out=report.append)
    finally:
        plt.close("all")
    assert result.attempted > 0
    assert result.failed == 0, "".join(report)


@pytest.mark.parametrize(
    "module",
    [name for name in _modules() if _has_examples(importlib.import_module(name))],
)
def test_every_example_written_is_run(module):
    # An example the finder does not reach (in a comment, or in a string that
    # is no docstring) would look tested while it never runs.
    module = importlib.import_module(module)
    found = doctest.DocTestFinder(exclude_empty=True).find(module)
    # A package's __init__ may run re-exported docstrings through __test__;
    # those examples are written (and counted) in their own modules.
    n_run = sum(len(test.examples) for test in found if ".__test__." not in test.name)
    n_written = Path(module.__file__).read_text().count(">>> ")
    assert (
        n_run == n_written > 0
    ), f"{module.__name__}: {n_written} examples written, {n_run} found by doctest"


def test_every_example_folder_has_a_gallery_header():
    # sphinx-gallery silently leaves out a sub-folder without a header file.
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        if any(folder.glob("plot_*.py")):
            assert (folder / "README.txt").is_file(), (
                f"examples/{folder.name}/ has examples but no README.txt (its "
                "gallery section's title and introduction): without one, "
                "sphinx-gallery leaves the folder out of the docs."
            )


def _examples():
    return sorted(EXAMPLES.glob("**/plot_*.py"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_example_starts_with_a_titled_docstring(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert docstring, f"{path.name} needs a docstring: the gallery's title and text"
    lines = docstring.strip("\n").splitlines()
    rules = [i for i, line in enumerate(lines[:3]) if set(line) == {"="}]
    title = next(line for line in lines if set(line) != {"="})
    for i in rules:
        assert len(lines[i]) >= len(title), (
            f"{path.name}: the '=' line under or over the title must be at "
            "least as long as the title (docutils warns, and the docs build "
            "fails)."
        )


_GUIDE = sorted(DOCS.glob("*.rst")) + sorted(DOCS.glob("user_guide/*.rst"))


def _code_blocks(text):
    blocks = re.findall(
        r"^\.\. code-block:: python\n\n((?:(?: {3}.*)?\n)+)", text, re.MULTILINE
    )
    return [re.sub(r"^ {3}", "", b, flags=re.MULTILINE) for b in blocks]


@pytest.mark.parametrize("page", _GUIDE, ids=lambda p: p.name)
def test_user_guide_code_parses_and_imports_exist(page):
    for block in _code_blocks(page.read_text()):
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("sksparse"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(
                        module, alias.name
                    ), f"{page.name}: {node.module} has no {alias.name}"


@pytest.mark.parametrize("page", _GUIDE, ids=lambda p: p.name)
def test_user_guide_references_resolve(page):
    # Sphinx (not nitpicky) renders a broken :class: reference as plain text
    # without a warning: check every one against the package.
    for target in re.findall(
        r":(?:class|func|data|mod):`~?(sksparse[\w.]*)`", page.read_text()
    ):
        parts = target.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"{page.name}: {target} does not exist"
                obj = getattr(obj, attr)
            break


def test_reliability_page_cites_tests_that_exist():
    # Each row names the test that holds it: a renamed test must not leave
    # the page pointing at nothing. ``::name`` continues the file before it.
    text = (DOCS / "user_guide" / "reliability.rst").read_text()
    tests = Path(__file__).resolve().parent
    cited, current = 0, None
    for file, name in re.findall(
        r"``(?:tests/)?(test_\w+\.py)?(?:::(test_\w+))?``", text
    ):
        if file:
            current = tests / file
            assert current.exists(), f"reliability.rst cites {file}, which is missing"
        if name:
            assert current is not None
            assert re.search(
                rf"^def {name}\(", current.read_text(), re.MULTILINE
            ), f"reliability.rst cites {current.name}::{name}, which is missing"
            cited += 1
    assert cited >= 20
