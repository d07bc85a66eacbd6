"""Regression tests for cases an adversary found: each test names its case."""

import json
import os
import pickle

import numpy as np
import pytest

from sksparse.experiments import ResultsWriter
from sksparse.search._checkpoint import read_checkpoint, write_checkpoint
from sksparse.utils._files import atomic_write, remove_stale_temporaries

FINGERPRINT = {"estimator": "abc"}


def _plant(link, victim):
    victim.write_text("victim")
    os.symlink(victim, link)


# -- atomic outputs ------------------------------------------------------------
def test_results_writer_does_not_follow_a_planted_symlink(tmp_path):
    """ResultsWriter: a link at the old ``.NAME.json.tmp`` name is not followed."""
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    _plant(out / ".runs.json.tmp", victim)
    os.symlink(victim, out / ".runs.csv.tmp")
    writer = ResultsWriter(out, "runs")
    writer.add({"method": "dense", "accuracy": 0.5})
    assert victim.read_text() == "victim"
    assert json.loads((out / "runs.json").read_text())["rows"][0]["method"] == "dense"
    assert "dense" in (out / "runs.csv").read_text()


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temporary(tmp_path):
    """A failure mid-write leaves the previous file intact and no stray temp."""
    target = tmp_path / "model.joblib"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target, "wb") as file:
            file.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_atomic_write_never_follows_a_link_at_any_temporary_name(tmp_path):
    """mkstemp's O_EXCL: links planted at guessable temp names stay untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("victim")
    folder = tmp_path / "out"
    folder.mkdir()
    for name in [".out.txt.tmp", ".out.txt.0.tmp", "out.txt.tmp"]:
        os.symlink(victim, folder / name)
    with atomic_write(folder / "out.txt") as file:
        file.write("new")
    assert victim.read_text() == "victim"
    assert (folder / "out.txt").read_text() == "new"


def test_remove_stale_temporaries_unlinks_links_not_their_targets(tmp_path):
    """Stale temporaries of a killed writer are removed; a link's target is kept."""
    victim = tmp_path / "victim.txt"
    victim.write_text("victim")
    (tmp_path / ".ck.pkl.abc123.tmp").write_bytes(b"torn")
    os.symlink(victim, tmp_path / ".ck.pkl.zzz.tmp")
    (tmp_path / ".other.pkl.abc.tmp").write_bytes(b"not ours")
    removed = remove_stale_temporaries(tmp_path / "ck.pkl")
    assert sorted(p.name for p in removed) == [".ck.pkl.abc123.tmp", ".ck.pkl.zzz.tmp"]
    assert victim.read_text() == "victim"
    assert (tmp_path / ".other.pkl.abc.tmp").exists()


def test_checkpoint_write_failure_keeps_the_previous_checkpoint(tmp_path):
    """write_checkpoint: an unpicklable state leaves the old file and no temp."""
    path = tmp_path / "search.pkl"
    write_checkpoint(path, {"generation": 1}, FINGERPRINT)
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        write_checkpoint(path, {"generation": 2, "bad": lambda: 0}, FINGERPRINT)
    assert read_checkpoint(path, FINGERPRINT) == {"generation": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["search.pkl"]


def test_saved_models_are_written_atomically(tmp_path, monkeypatch):
    """--save-models: a dump that fails leaves no truncated model file."""
    import joblib

    from sksparse.experiments import _sweeps

    class Fitted:
        sparsity_ = 0.5

        def fit(self, X, y):
            return self

        def score(self, X, y):
            return 1.0

    def failing_dump(obj, file):
        file.write(b"partial")
        raise OSError(28, "No space left on device")

    model_path = tmp_path / "models" / "magnitude-0.5.joblib"
    monkeypatch.setattr(joblib, "dump", failing_dump)
    X = np.zeros((2, 2))
    with pytest.raises(OSError, match="No space"):
        _sweeps._fit_and_test(Fitted(), X, [0, 1], X, [0, 1], {}, model_path)
    assert list(model_path.parent.iterdir()) == []
