"""Checkpoints: atomic writes, clear errors, and a killed search that resumes."""

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import randint, uniform
from sklearn.datasets import load_digits
from sklearn.tree import DecisionTreeClassifier

from sksparse import GeneticSearchCV
from sksparse.search._checkpoint import (
    read_checkpoint,
    search_fingerprint,
    write_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
FINGERPRINT = {"estimator": "abc", "data": "123"}


# -- the file format ------------------------------------------------------------
def test_round_trip_and_no_temporary_left(tmp_path):
    path = tmp_path / "sub" / "search.pkl"
    state = {"generation": 3, "rows": [1, 2], "rng": np.arange(4)}
    write_checkpoint(path, state, FINGERPRINT)
    loaded = read_checkpoint(path, FINGERPRINT)
    assert loaded["generation"] == 3 and loaded["rows"] == [1, 2]
    np.testing.assert_array_equal(loaded["rng"], np.arange(4))
    assert [p.name for p in path.parent.iterdir()] == ["search.pkl"]


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "search.pkl"
    write_checkpoint(path, {"generation": 1}, FINGERPRINT)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(path, {"generation": 2}, FINGERPRINT)
    monkeypatch.undo()
    assert read_checkpoint(path, FINGERPRINT) == {"generation": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["search.pkl"]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_payload_byte(path):
    envelope = pickle.loads(path.read_bytes())
    payload = bytearray(envelope["state"])
    payload[len(payload) // 2] ^= 0xFF
    envelope["state"] = bytes(payload)
    path.write_bytes(pickle.dumps(envelope))


@pytest.mark.parametrize(
    "damage, match",
    [
        (_truncate, "corrupted"),
        (lambda p: p.write_bytes(b"\x00garbage\xff" * 10), "corrupted"),
        (lambda p: p.write_bytes(b""), "corrupted"),
        (_flip_payload_byte, "checksum"),
        (lambda p: p.write_bytes(pickle.dumps([1, 2, 3])), "not a sksparse"),
    ],
)
def test_damaged_checkpoint_raises_naming_it(tmp_path, damage, match):
    path = tmp_path / "search.pkl"
    write_checkpoint(path, {"generation": 1, "rows": list(range(100))}, FINGERPRINT)
    damage(path)
    with pytest.raises(ValueError, match=match) as info:
        read_checkpoint(path, FINGERPRINT)
    assert "checkpoint" in str(info.value) and str(path) in str(info.value)


def test_mismatched_fingerprint_lists_what_differs(tmp_path):
    path = tmp_path / "search.pkl"
    write_checkpoint(path, {"generation": 1}, FINGERPRINT)
    with pytest.raises(ValueError, match=r"different search \(differs in: data\)"):
        read_checkpoint(path, {"estimator": "abc", "data": "999"})


# -- resuming a search ----------------------------------------------------------
SPACE = {
    "max_depth": randint(1, 12),
    "min_samples_leaf": randint(1, 20),
    "max_features": uniform(0.1, 0.9),
}


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def tree_search(checkpoint=None, generations=4, **params):
    return GeneticSearchCV(
        DecisionTreeClassifier(random_state=0),
        SPACE,
        population_size=6,
        generations=generations,
        cv=2,
        random_state=0,
        checkpoint=checkpoint,
        **params,
    )


def assert_same_search(a, b):
    assert a.cv_results_["params"] == b.cv_results_["params"]
    for key in ("mean_test_score", "generation", "screened", "trained"):
        np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key])
    np.testing.assert_allclose(
        a.cv_results_["predicted_score"], b.cv_results_["predicted_score"]
    )
    assert list(a.cv_results_["parents"]) == list(b.cv_results_["parents"])
    assert a.best_params_ == b.best_params_ and a.best_score_ == b.best_score_
    assert a.population_ == b.population_


def test_resumed_search_equals_uninterrupted_one(tmp_path, data):
    path = tmp_path / "search.pkl"
    reference = tree_search().fit(*data)
    first = tree_search(path, generations=2).fit(*data)
    assert set(first.cv_results_["generation"]) == {0, 1}
    # The fingerprint leaves generations out: a longer run continues.
    resumed = tree_search(path).fit(*data)
    assert_same_search(resumed, reference)
    # A finished search re-runs nothing and gives the same answer.
    again = tree_search(path).fit(*data)
    assert_same_search(again, reference)


@pytest.mark.parametrize(
    "change",
    [
        lambda s, X, y: (s.set_params(estimator__max_leaf_nodes=8), X, y),
        lambda s, X, y: (s.set_params(param_space={"max_depth": [1, 2]}), X, y),
        lambda s, X, y: (s, X[:-1], y[:-1]),
        lambda s, X, y: (s, X + 1, y),
        lambda s, X, y: (s.set_params(cv=3), X, y),
        lambda s, X, y: (s.set_params(random_state=1), X, y),
        lambda s, X, y: (s.set_params(population_size=5), X, y),
    ],
    ids=["estimator", "param_space", "n_samples", "X", "cv", "seed", "search"],
)
def test_mismatched_checkpoint_is_an_error_not_a_restart(tmp_path, data, change):
    path = tmp_path / "search.pkl"
    tree_search(path, generations=1).fit(*data)
    before = path.read_bytes()
    search, X, y = change(tree_search(path), *data)
    with pytest.raises(ValueError, match="checkpoint .* different search"):
        search.fit(X, y)
    assert path.read_bytes() == before


def test_corrupted_checkpoint_stops_the_search(tmp_path, data):
    path = tmp_path / "search.pkl"
    tree_search(path, generations=1).fit(*data)
    _truncate(path)
    with pytest.raises(ValueError, match="checkpoint .* corrupted"):
        tree_search(path).fit(*data)


# -- killed mid-run ----------------------------------------------------------------
# Each search runs in a child process (killed) and in this one (resumed, and as
# the uninterrupted reference), so it is defined once, as source text.
TREE_SOURCE = """
import time

import numpy as np
from scipy.stats import randint
from sklearn.datasets import load_digits
from sklearn.tree import DecisionTreeClassifier

from sksparse import GeneticSearchCV


class SlowTree(DecisionTreeClassifier):
    # A fit slow enough that the kill lands while a generation is in flight.
    def fit(self, X, y, **kwargs):
        time.sleep(0.05)
        return super().fit(X, y, **kwargs)


def load_data():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def make_search(checkpoint):
    return GeneticSearchCV(
        SlowTree(random_state=0),
        {"max_depth": randint(1, 12), "min_samples_leaf": randint(1, 20)},
        population_size=6,
        generations=4,
        cv=2,
        random_state=0,
        checkpoint=checkpoint,
    )
"""

MLP_SOURCE = """
import numpy as np
import torch
from scipy.stats import loguniform, randint, uniform
from sklearn.datasets import load_digits

from sksparse import GeneticSearchCV, SparseMLPClassifier
from sksparse.search import LayerSizes, PriorChoice

torch.set_num_threads(1)


def load_data():
    X, y = load_digits(return_X_y=True)
    return (X[:160] / 16.0).astype(np.float32), y[:160]


def make_search(checkpoint):
    return GeneticSearchCV(
        SparseMLPClassifier(max_epochs=2, batch_size=32, random_state=0),
        {
            "hidden_layer_sizes": LayerSizes(1, 2, 8, 32),
            "sparsity": uniform(0.2, 0.7),
            "lr": loguniform(1e-3, 5e-2),
            "prior": PriorChoice(
                {"watts_strogatz": {"k": randint(2, 6), "p": uniform(0, 1)},
                 None: {}}
            ),
        },
        population_size=4,
        generations=3,
        predictor="auto",
        predictor_warmup=4,
        screen_ratio=0.5,
        cv=2,
        random_state=0,
        checkpoint=checkpoint,
    )
"""


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(TREE_SOURCE, id="tree"),
        # torch training and the predictor's state must resume exactly too.
        pytest.param(MLP_SOURCE, id="sparse-mlp-predictor", marks=pytest.mark.slow),
    ],
)
def test_killed_search_resumes_to_the_uninterrupted_result(tmp_path, source):
    path = tmp_path / "search.pkl"
    script = tmp_path / "run_search.py"
    script.write_text(
        source
        + "\nimport sys\nmake_search(sys.argv[1]).fit(*load_data())\n"
        + "open(sys.argv[1] + '.done', 'w').close()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    child = subprocess.Popen(
        [sys.executable, str(script), str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not path.exists():
            if child.poll() is not None:
                pytest.fail(f"search died early: {child.stderr.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint after 240 s")
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert not Path(str(path) + ".done").exists()

    namespace = {"__name__": "__main__"}  # as in the child
    exec(compile(source, "search_source", "exec"), namespace)
    X, y = namespace["load_data"]()
    make_search = namespace["make_search"]
    search = make_search(path)
    fingerprint = search_fingerprint(search, X, y, _splits(search, X, y))
    killed_at = read_checkpoint(path, fingerprint)["generation"]
    assert 1 <= killed_at < search.generations  # generations were still to run

    resumed = make_search(path).fit(X, y)
    reference = make_search(None).fit(X, y)
    assert_same_search(resumed, reference)


def _splits(search, X, y):
    from sklearn.model_selection import check_cv

    return list(check_cv(search.cv, y, classifier=True).split(X, y))
