"""The import layering: the lower floors (nn, graphs, utils) know no scikit-learn."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "package", ["sksparse.nn", "sksparse.graphs", "sksparse.utils"]
)
def test_low_layers_do_not_import_sklearn_or_skorch(package):
    code = (
        f"import sys, {package}; "
        "bad = [m for m in ('sklearn', 'skorch') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{package} imported {out}"


@pytest.mark.parametrize(
    "package, above",
    [
        # io stores estimators: it sits above them, and they never need it.
        ("sksparse.estimators", ["sksparse.io"]),
        # ... and below the command line, the search and the experiments.
        ("sksparse.io", ["sksparse.cli", "sksparse.search", "sksparse.experiments"]),
    ],
)
def test_floors_do_not_import_the_floors_above(package, above):
    code = (
        f"import sys, {package}; "
        f"bad = [m for m in {above!r} if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{package} imported {out}"
