"""The ``sksparse`` command refuses what it cannot do before doing any work.

Argument errors, unreadable data and model files without consent end with
one line on stderr and exit status 2; a closed stdout ends quietly with 0;
``-q`` leaves only the summary; ``--scale`` standardises with statistics of
the training samples alone. "Before any work" is measured directly: the
experiment functions that read data, read models or train are replaced by
ones that record a call, and none may be recorded.
"""

import doctest
import gzip
import importlib
import io
import json
import os
import pickle
import pkgutil
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

import sksparse.cli
import sksparse.experiments
from sksparse.cli import main
from sksparse.datasets import load_digits

WORK = (
    "load_dataset",
    "load_model",
    "sparsity_sweep",
    "reber_population",
    "genetic_search",
)


@pytest.fixture
def no_work(monkeypatch):
    """Record any call of a function that reads data or models or trains."""
    calls = []
    for name in WORK:

        def record(*args, _name=name, **kwargs):
            calls.append(_name)
            raise AssertionError(f"{_name} was called")

        monkeypatch.setattr(sksparse.experiments, name, record)
    return calls


# {model}: a file that exists; {text}: a file with a suffix no command
# reads; {tmp}: a folder; {out}: a folder not yet made, which must stay so.
BAD_ARGUMENTS = [
    (["graph", "{model}", "-o", "{tmp}/x.png"], ["-o/--output", ".graphml"]),
    (["graph", "{model}", "-o", "{tmp}/x.graphml"], ["--trust-pickle"]),
    (["report", "{model}", "--out", "{out}"], ["--trust-pickle", "runs any code"]),
    (["report", "{tmp}/none.joblib", "--out", "{out}"], ["MODEL", "no such file"]),
    (["prune", "--n-jobs", "0", "--out", "{out}"], ["--n-jobs", "-1"]),
    (["demo", "--n-jobs", "two", "--out", "{out}"], ["--n-jobs"]),
    (["search", "--population-size", "1", "--out", "{out}"], ["--population-size"]),
    (["search", "--cv", "1", "--out", "{out}"], ["--cv", ">= 2"]),
    (["prune", "--data", "{tmp}/x.csv", "--out", "{out}"], ["--data", "nor a file"]),
    (["prune", "--data", "{text}", "--out", "{out}"], ["--data", ".npz or .csv"]),
    (["prune", "--root", "{tmp}/typo", "--out", "{out}"], ["--root", "no such"]),
    (["prune", "--out", "{text}"], ["--out", "is a file"]),
    (["prune", "--lr", "inf", "--out", "{out}"], ["--lr", "> 0"]),
    (["search", "--checkpoint", "{tmp}", "--out", "{out}"], ["--checkpoint"]),
    (
        ["rnn-structure", "--sparsity-range", "0.9", "0.1", "--out", "{out}"],
        ["--sparsity-range", "LOW"],
    ),
]


@pytest.mark.parametrize("argv, words", BAD_ARGUMENTS, ids=lambda v: " ".join(v)[:40])
def test_bad_arguments_are_refused_before_any_work(
    argv, words, tmp_path, no_work, capsys
):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"never read")
    text = tmp_path / "notes.txt"
    text.write_text("1,2\n")
    names = {"model": model, "text": text, "tmp": tmp_path, "out": tmp_path / "out"}
    argv = [arg.format(**names) for arg in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no "data: ..." line, no training line
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"sksparse {argv[0]}: error: ")
    for word in words:
        assert word in err
    assert no_work == []
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_before_any_work(no_work, tmp_path, capsys):
    argv = ["search", "--device", "cuda:0", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--device" in err and "CUDA is not available" in err
    assert no_work == [] and not (tmp_path / "out").exists()


# -- consent before unpickling ----------------------------------------------------
class _Payload:
    """Unpickling this creates a file: code a model file runs when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("command", ["report", "graph"])
def test_a_pickle_runs_only_with_trust_pickle(command, tmp_path, capsys):
    marker = str(tmp_path / "payload-ran")
    model = tmp_path / "model.joblib"
    model.write_bytes(pickle.dumps(_Payload(marker)))
    argv = [command, str(model)]
    argv += ["-o", str(tmp_path / "g.graphml")] if command == "graph" else []
    argv += ["--out", str(tmp_path / "out")] if command == "report" else []
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--trust-pickle" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(marker)
    # With consent the file is unpickled (and its payload runs, as it would
    # in joblib.load); what it held is no model, a one-line error.
    assert main([*argv, "--trust-pickle"]) == 2
    assert os.path.exists(marker)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- data files that cannot be read -------------------------------------------------
def _npz_bytes():
    X, y, X_test, y_test = load_digits(n_samples=40)
    buffer = io.BytesIO()
    np.savez(buffer, X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    return buffer.getvalue()


def _bad_crc(data):
    data = bytearray(data)
    data[data.find(b"\x93NUMPY") + 200] ^= 0xFF  # inside X_train's values
    return bytes(data)


BAD_FILES = {
    "truncated.npz": lambda: _npz_bytes()[:-300],
    "empty.npz": lambda: b"",
    "bad-crc.npz": lambda: _bad_crc(_npz_bytes()),
    "not-a-zip.npz": lambda: b"PK\x03\x04 and then nothing",
    "oversized-field.csv": lambda: b"a,label\n" + b"1" * 200_000 + b",1\n",
    "ragged.csv": lambda: b"a,b,label\n1,2,0\n3,1\n",
    "letters.csv": lambda: b"a,label\nx,0\ny,1\n",
    "header-only.csv": lambda: b"a,label\n",
    "binary.csv": lambda: bytes(range(256)) * 4,
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_data_files_are_one_line_errors(name, tmp_path, capsys):
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name]())
    argv = ["prune", "--data", str(path), "--out", str(tmp_path / "out"), "-q"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sksparse prune: error: ") and "Traceback" not in err
    assert name in err
    assert not (tmp_path / "out" / "pruning.json").exists()


def _idx_gz(path, values, dims):
    head = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(path, "wb") as file:
        file.write(head + np.asarray(values, dtype=np.uint8).tobytes())


@pytest.mark.parametrize("fault", ["truncated", "absurd-header"])
def test_unreadable_idx_files_are_one_line_errors(fault, tmp_path, capsys):
    root = tmp_path / "fashion"
    root.mkdir()
    rng = np.random.default_rng(0)
    names = {
        "train-images-idx3-ubyte.gz": (20, 28, 28),
        "train-labels-idx1-ubyte.gz": (20,),
        "t10k-images-idx3-ubyte.gz": (10, 28, 28),
        "t10k-labels-idx1-ubyte.gz": (10,),
    }
    for name, shape in names.items():
        _idx_gz(root / name, rng.integers(0, 10, shape), shape)
    images = root / "train-images-idx3-ubyte.gz"
    if fault == "truncated":
        images.write_bytes(images.read_bytes()[:-40])
    else:  # a header claiming 2**32 - 1 rows of 28 x 28 pixels
        _idx_gz(images, np.zeros(10), (20, 2**32 - 1, 28))
    argv = ["prune", "--data", "fashion-mnist", "--root", str(root)]
    assert main([*argv, "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sksparse prune: error: cannot read --data fashion-mnist")


# -- output: a closed pipe, -q ------------------------------------------------------
TINY_PRUNE = ["prune", "--n-samples", "60", "--epochs", "1", "--retrain-epochs", "1"]
TINY_PRUNE += ["--amount", "0.5", "--hidden", "4"]


def test_closed_stdout_ends_quietly_with_status_0(tmp_path):
    # As 'sksparse prune ... | head -0': the reader is gone before the first
    # line is written.
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    process = subprocess.Popen(
        [sys.executable, "-m", "sksparse", *TINY_PRUNE, "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 0, stderr
    assert "Broken pipe" not in stderr and "Traceback" not in stderr
    assert "Exception ignored" not in stderr


class _ClosedPipe:
    """A stdout whose reader went away: writing fails, flushing nothing is fine."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass  # as a real pipe: an empty buffer's flush writes nothing


def test_closed_stdout_after_the_run_keeps_the_results(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main([*TINY_PRUNE, "--out", str(tmp_path), "-q"]) == 0
    rows = json.loads((tmp_path / "pruning.json").read_text())["rows"]
    assert [row["method"] for row in rows] == ["dense", "class-blinded"]


def test_quiet_prints_only_the_summary(tmp_path, capsys):
    assert main([*TINY_PRUNE, "--out", str(tmp_path)]) == 0
    loud = capsys.readouterr().out
    assert "data: digits" in loud and "done in" in loud
    assert "  dense              sparsity 0.00" in loud  # a per-run line
    assert main([*TINY_PRUNE, "--out", str(tmp_path), "-q"]) == 0
    quiet = capsys.readouterr().out
    assert "data:" not in quiet and "done in" not in quiet
    assert "  dense              sparsity" not in quiet
    # The summary: the table of every run, then the files.
    lines = quiet.strip().splitlines()
    assert lines[0].split()[:2] == ["method", "target_sparsity"]
    assert [line.split()[0] for line in lines[2:4]] == ["dense", "class-blinded"]
    assert f"wrote {tmp_path / 'pruning.json'}" in quiet


# -- --scale ----------------------------------------------------------------------
@pytest.fixture
def seen(monkeypatch):
    """The arrays each sparsity sweep is given, the real sweep still run."""
    real = sksparse.experiments.sparsity_sweep
    arrays = []

    def spy(X, y, X_test, y_test, **kwargs):
        arrays.append((np.array(X), np.array(X_test)))
        return real(X, y, X_test, y_test, **kwargs)

    monkeypatch.setattr(sksparse.experiments, "sparsity_sweep", spy)
    return arrays


@pytest.fixture
def uneven_csv(tmp_path):
    """Features in very different units, with a split column."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(5, 2, 40), rng.normal(-300, 100, 40)])
    y = (X[:, 0] > 5).astype(int)
    split = ["train"] * 30 + ["test"] * 10
    lines = ["size,price,label,split"]
    lines += [f"{a:.17g},{b:.17g},{c},{s}" for (a, b), c, s in zip(X, y, split)]
    path = tmp_path / "uneven.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, X[:30], X[30:]


@pytest.mark.parametrize("flag", [[], ["--scale"], ["--no-scale"]])
def test_scale_standardises_with_training_statistics(flag, uneven_csv, seen, tmp_path):
    path, X_raw, X_test_raw = uneven_csv
    argv = ["prune", "--data", str(path), *TINY_PRUNE[3:], "--out", str(tmp_path)]
    assert main([*argv, *flag, "-q"]) == 0
    X, X_test = seen[0]
    meta = json.loads((tmp_path / "pruning.json").read_text())["meta"]
    if flag == ["--no-scale"]:
        assert meta["scale"] is False
        np.testing.assert_allclose(X, X_raw, rtol=1e-6)
        return
    assert meta["scale"] is True  # on by default for a .csv file
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(X.std(axis=0), 1, atol=1e-5)
    # The test samples with the training samples' statistics, not their own.
    expected = (X_test_raw - X_raw.mean(axis=0)) / X_raw.std(axis=0)
    np.testing.assert_allclose(X_test, expected, rtol=1e-4, atol=1e-5)


def test_npz_data_are_scaled_only_when_asked(tmp_path, seen):
    X, y, X_test, y_test = load_digits(n_samples=60)
    path = tmp_path / "digits.npz"
    np.savez(path, X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    argv = ["prune", "--data", str(path), *TINY_PRUNE[3:], "--out", str(tmp_path)]
    assert main([*argv, "-q"]) == 0
    np.testing.assert_array_equal(seen[0][0], X)
    assert main([*argv, "--scale", "-q"]) == 0
    kept = seen[1][0][:, seen[1][0].std(axis=0) > 0]
    np.testing.assert_allclose(kept.std(axis=0), 1, atol=1e-4)


# -- the docstring examples of every module of the package ------------------------
def test_docstring_examples_of_every_cli_module_run():
    attempted = {}
    for info in pkgutil.iter_modules(sksparse.cli.__path__):
        module = importlib.import_module(f"sksparse.cli.{info.name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, info.name
        attempted[info.name] = result.attempted
    assert doctest.testmod(sksparse.cli).attempted > 0
    assert attempted["_args"] > 0
