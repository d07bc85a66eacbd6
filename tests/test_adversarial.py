"""Regression tests for cases an adversary found: each test names its case."""

import json
import os
import pickle

import numpy as np
import pytest
from scipy.stats import randint
from sklearn.tree import DecisionTreeClassifier

from sksparse import GeneticSearchCV
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


# -- search checkpoints: writability, one search per checkpoint ------------------
def _search(checkpoint, estimator=None):
    return GeneticSearchCV(
        estimator or DecisionTreeClassifier(random_state=0),
        {"max_depth": randint(1, 6)},
        population_size=4,
        generations=1,
        cv=2,
        random_state=0,
        checkpoint=checkpoint,
    )


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return X, (X[:, 0] > 0).astype(int)


FITS = []


class _CountingTree(DecisionTreeClassifier):
    """A tree that records its fits, so a test can see that none happened."""

    def fit(self, X, y, **params):
        FITS.append(1)
        return super().fit(X, y, **params)


def test_read_only_checkpoint_folder_fails_before_any_training(tmp_path, monkeypatch):
    """A read-only checkpoint folder: a clear error naming it, before any fit."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.name == "nt" or os.geteuid() == 0:
        # root writes anyway: make the folder refuse new files as it would.
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("tempfile.mkstemp", refuse)
    FITS.clear()
    search = _search(folder / "ck.pkl", _CountingTree(random_state=0))
    try:
        with pytest.raises(
            ValueError, match=r"checkpoint .*ck\.pkl.* cannot be written"
        ):
            search.fit(*_data())
    finally:
        folder.chmod(0o700)
    assert FITS == []
    assert list(folder.iterdir()) == []


def test_checkpoint_that_is_a_directory_fails_clearly(tmp_path):
    """A checkpoint path naming a directory: a clear error, not a late crash."""
    (tmp_path / "ck.pkl").mkdir()
    with pytest.raises(ValueError, match="checkpoint .* cannot be written"):
        _search(tmp_path / "ck.pkl").fit(*_data())


def test_second_search_on_a_held_checkpoint_is_refused(tmp_path):
    """Two searches, one checkpoint: the second gets an error naming the holder."""
    from sksparse.search._checkpoint import checkpoint_lock

    path = tmp_path / "ck.pkl"
    with checkpoint_lock(path):
        with pytest.raises(
            ValueError, match=rf"in use by another search.*{os.getpid()}"
        ):
            _search(path).fit(*_data())
        assert not path.exists()
    # Released when the first finishes: the search now runs and frees it.
    _search(path).fit(*_data())
    assert path.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pkl"]


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    """A lock left by a killed search (its pid dead) is taken over, warned."""
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "ck.pkl"
    (tmp_path / ".ck.pkl.lock").write_text(f"{dead.pid} {socket.gethostname()}\n")
    (tmp_path / ".ck.pkl.k1ll3d.tmp").write_bytes(b"torn")
    with pytest.warns(UserWarning, match=rf"taking over .*{dead.pid}"):
        _search(path).fit(*_data())
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pkl"]


# -- SET / RigL know their layers by name ----------------------------------------
def _dynamic_fit(Dynamic, X, y):
    from sksparse import SparseMLPClassifier

    return SparseMLPClassifier(
        (16,),
        sparsity=0.8,
        max_epochs=2,
        batch_size=16,
        warm_start=True,
        random_state=0,
        callbacks=[("dynamic", Dynamic(0.3, update_every=2, random_state=0))],
    ).fit(X, y)


def _masks(estimator):
    return [
        b.clone()
        for n, b in estimator.net_.module_.named_buffers()
        if n.endswith("mask")
    ]


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("name", ["SET"])
def test_copied_dynamic_sparsity_model_continues_warm_training_alike(name, how):
    """SET/RigL by id(): a copied/pickled model warm-trained differently."""
    import copy

    import torch

    from sksparse import pruning

    Dynamic = getattr(pruning, name)
    X, y = _data()
    X = np.hstack([X, X[:, ::-1]]).astype("float32")
    reference = _dynamic_fit(Dynamic, X, y)
    before = _masks(reference)
    reference.fit(X, y)
    fitted = _dynamic_fit(Dynamic, X, y)
    if how == "deepcopy":
        other = copy.deepcopy(fitted)
    else:
        other = pickle.loads(pickle.dumps(fitted))
    other.fit(X, y)
    assert any(not torch.equal(a, b) for a, b in zip(before, _masks(reference)))
    for a, b in zip(_masks(reference), _masks(other)):
        assert torch.equal(a, b)


def test_deepcopy_of_a_fitted_estimator_leaves_the_original_unchanged():
    """__getstate__ edited the instance's own __dict__: a copy swapped net_."""
    import copy

    from sksparse import pruning

    X, y = _data()
    fitted = _dynamic_fit(pruning.SET, X.astype("float32"), y)
    net, module = fitted.net_, fitted.net_.module_
    copy.deepcopy(fitted)
    pickle.dumps(fitted)
    assert fitted.net_ is net and fitted.net_.module_ is module
    assert fitted.net_.module is module


@pytest.mark.parametrize(
    "params, match",
    [
        ({"exclude": [1]}, "exclude"),
        ({"exclude": 3}, "exclude"),
        ({"rescale": "yes"}, "rescale"),
        ({"module": 0}, "module"),
        ({"random_state": "seed"}, "random_state"),
        ({"drop_fraction": float("nan")}, "drop_fraction"),
    ],
)
@pytest.mark.parametrize("name", ["SET", "RigL"])
def test_dynamic_sparsity_parameters_are_validated(name, params, match):
    """SET/RigL parameters outside their _parameter_constraints are refused."""
    from sksparse import pruning

    Dynamic = getattr(pruning, name)
    assert set(Dynamic._parameter_constraints) == set(Dynamic().get_params())
    with pytest.raises((ValueError, TypeError), match=match):
        Dynamic(**params).initialize()


def test_dynamic_sparsity_set_params_after_initialize_is_validated():
    """A bad value set after initialize is refused at on_train_begin."""
    from sksparse import SparseMLPClassifier
    from sksparse.pruning import SET

    X, y = _data()
    callback = SET(update_every=2, random_state=0).initialize()
    callback.set_params(drop_fraction=2.0)
    clf = SparseMLPClassifier(
        (8,), sparsity=0.5, max_epochs=1, callbacks=[("set", callback)]
    )
    with pytest.raises(ValueError, match="drop_fraction"):
        clf.fit(X.astype("float32"), y)
