"""Checkpoints: atomic writes, clear errors, and a killed search that resumes."""

import base64
import hashlib
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from scipy.stats import randint, uniform
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from sksparse import GeneticSearchCV
from sksparse.search._checkpoint import (
    read_checkpoint,
    search_fingerprint,
    write_checkpoint,
)
from sksparse.search._codec import decode, encode, key_path, local_key, sign

ROOT = Path(__file__).resolve().parents[1]
FINGERPRINT = {"estimator": "abc", "data": "123"}


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    """The checkpoint key goes to a fresh folder, never the real home."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


# -- the file format ------------------------------------------------------------
def assert_same(a, b):
    """Equal in type and value, arrays and graphs included (nan == nan)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, nx.Graph):
        assert_same(dict(a.graph), dict(b.graph))
        assert_same(list(a.nodes(data=True)), list(b.nodes(data=True)))
        assert_same(list(a.edges(data=True)), list(b.edges(data=True)))
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, z in zip(a, b):
            assert_same(x, z)
    elif isinstance(a, (float, np.floating)) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def _state():
    graph = nx.DiGraph(params={"hidden_layer_sizes": (8, 4)}, genome=np.ones(3))
    graph.add_edge((0, 1), (1, 2), weight=np.float32(0.5), kind="dense")
    graph.add_node("lonely", features=np.arange(6, dtype=np.int16).reshape(2, 3))
    key = (("hidden_layer_sizes", (8, 4)), ("lr", 0.01), ("prior", None))
    return {
        "generation": 3,
        "rng_state": np.random.default_rng(0).bit_generator.state,
        "rows": [
            {
                "key": key,
                "params": {"hidden_layer_sizes": (8, 4), "prior": None},
                "fitness": math.nan,
                "predicted_score": -math.inf,
                "out": [{"test_scores": np.float64(0.25), "n_test_samples": 7}],
                "parents": (),
            }
        ],
        "graphs": {key: graph, (("other",),): None},
        "curves": {key: {"score": math.inf, "losses": [1.5, math.nan]}},
        "odd": {"__tuple__": "a user's key that looks like a tag", 1: b"\x00\xff"},
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalars": [np.int64(-3), np.bool_(True), np.float32(np.nan), -0.0],
    }


def test_round_trip_and_no_temporary_left(tmp_path, config_home):
    path = tmp_path / "sub" / "search.json"
    state = _state()
    write_checkpoint(path, state, FINGERPRINT)
    assert_same(read_checkpoint(path, FINGERPRINT), state)
    assert [p.name for p in path.parent.iterdir()] == ["search.json"]
    # Plain JSON (no NaN literals), no pickled part, so no key was made.
    text = json.loads(path.read_text(), parse_constant=pytest.fail)["state"]
    assert "__pickle__" not in text and "__graph__" in text
    assert not config_home.exists()


def test_codec_refuses_unknown_tags_and_malformed_arrays():
    with pytest.raises(ValueError, match="unknown tag"):
        decode({"__code__": "print(1)"})
    bad = encode(np.arange(4))
    bad["shape"] = [5]
    with pytest.raises(ValueError, match="bytes"):
        decode(bad)
    with pytest.raises(ValueError, match="dtype"):
        decode({"__ndarray__": "", "dtype": "O", "shape": [0]})


def test_signed_user_object_round_trips(tmp_path, config_home):
    """Objects JSON cannot express are pickled, signed and read back."""
    path = tmp_path / "search.json"
    tree = DecisionTreeClassifier(max_depth=3, random_state=0)
    write_checkpoint(path, {"generation": 1, "params": {"clf": tree}}, FINGERPRINT)
    assert "__pickle__" in json.loads(path.read_text())["state"]
    # The key was made for it, readable by its owner only.
    assert key_path() == config_home / "sksparse" / "checkpoint.key"
    assert len(local_key(create=False)) == 32
    if os.name == "posix":
        assert key_path().stat().st_mode & 0o777 == 0o600
    loaded = read_checkpoint(path, FINGERPRINT)["params"]["clf"]
    assert type(loaded) is DecisionTreeClassifier
    assert loaded.get_params() == tree.get_params()


class Payload:
    """Unpickling this creates ``flag``: proof that code ran."""

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (open, (str(self.flag), "w"))


def _forge(path, flag, signature):
    """A checkpoint with a payload and a recomputed checksum, as a forger would."""
    envelope = json.loads(path.read_text())
    state = json.loads(envelope["state"])
    state["payload"] = {
        "__pickle__": base64.b64encode(pickle.dumps(Payload(flag))).decode()
    }
    text = json.dumps(state)
    envelope["state"] = text
    envelope["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    envelope["signature"] = signature(text)
    path.write_text(json.dumps(envelope))


@pytest.mark.parametrize(
    "signature",
    [
        lambda text: None,
        lambda text: "0" * 64,
        lambda text: sign(text, b"another user's key, 32 bytes...."),
        lambda text: hashlib.sha256(text.encode()).hexdigest(),
    ],
    ids=["unsigned", "zeros", "other-key", "sha256"],
)
@pytest.mark.parametrize("key_exists", [True, False])
def test_forged_payload_never_runs(tmp_path, signature, key_exists):
    path = tmp_path / "search.json"
    flag = tmp_path / "payload-ran"
    write_checkpoint(path, {"generation": 1, "rows": []}, FINGERPRINT)
    if key_exists:
        local_key(create=True)
    _forge(path, flag, signature)
    with pytest.raises(ValueError, match="not signed by this user's key") as info:
        read_checkpoint(path, FINGERPRINT)
    assert str(path) in str(info.value)
    assert not flag.exists()
    # The payload is live: decoded as trusted, it runs.
    state = json.loads(json.loads(path.read_text())["state"])
    decode(state["payload"], trusted=True).close()
    assert flag.exists()


def test_old_pickle_checkpoint_is_never_unpickled(tmp_path):
    path = tmp_path / "search-checkpoint.pkl"
    flag = tmp_path / "payload-ran"
    path.write_bytes(
        pickle.dumps(
            {
                "format": "sksparse.search checkpoint",
                "version": 1,
                "state": pickle.dumps(Payload(flag)),
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )
    )
    with pytest.raises(ValueError, match="written by an older sksparse"):
        read_checkpoint(path, FINGERPRINT)
    assert not flag.exists()


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "search.json"
    write_checkpoint(path, {"generation": 1}, FINGERPRINT)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(path, {"generation": 2}, FINGERPRINT)
    monkeypatch.undo()
    assert read_checkpoint(path, FINGERPRINT) == {"generation": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["search.json"]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_payload_byte(path):
    envelope = json.loads(path.read_text())
    text = envelope["state"]
    i = text.index("99")  # a digit of the rows, so the state still parses
    envelope["state"] = text[:i] + "88" + text[i + 2 :]
    path.write_text(json.dumps(envelope))


@pytest.mark.parametrize(
    "damage, match",
    [
        (_truncate, "corrupted"),
        (lambda p: p.write_bytes(b"\x00garbage\xff" * 10), "corrupted"),
        (lambda p: p.write_bytes(b""), "corrupted"),
        (_flip_payload_byte, "checksum"),
        (lambda p: p.write_text("[1, 2, 3]"), "not a sksparse"),
        (lambda p: p.write_bytes(pickle.dumps([1, 2, 3])), "older sksparse"),
    ],
)
def test_damaged_checkpoint_raises_naming_it(tmp_path, damage, match):
    path = tmp_path / "search.json"
    write_checkpoint(path, {"generation": 1, "rows": list(range(100))}, FINGERPRINT)
    damage(path)
    with pytest.raises(ValueError, match=match) as info:
        read_checkpoint(path, FINGERPRINT)
    assert "checkpoint" in str(info.value) and str(path) in str(info.value)


def test_mismatched_fingerprint_lists_what_differs(tmp_path):
    path = tmp_path / "search.json"
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


def test_search_over_objects_resumes_signed_and_refuses_unsigned(tmp_path, data):
    """A param_space over estimators: pickled parts, signed, resumed exactly."""
    path = tmp_path / "search.json"
    space = {
        "clf": [DecisionTreeClassifier(max_depth=d, random_state=0) for d in (2, 5)],
        "clf__min_samples_leaf": randint(1, 20),
    }

    def search(generations):
        return GeneticSearchCV(
            Pipeline([("clf", DecisionTreeClassifier(random_state=0))]),
            space,
            population_size=4,
            generations=generations,
            cv=2,
            random_state=0,
            checkpoint=path,
        )

    search(1).fit(*data)
    assert "__pickle__" in json.loads(path.read_text())["state"]
    resumed = search(2).fit(*data)
    reference = search(2).set_params(checkpoint=None).fit(*data)
    np.testing.assert_array_equal(
        resumed.cv_results_["mean_test_score"],
        reference.cv_results_["mean_test_score"],
    )
    # Without the key that signed it, its pickled parts are not trusted.
    key_path().unlink()
    with pytest.raises(ValueError, match="not signed by this user's key"):
        search(3).fit(*data)


def test_resumed_search_equals_uninterrupted_one(tmp_path, data):
    path = tmp_path / "search.json"
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
    path = tmp_path / "search.json"
    tree_search(path, generations=1).fit(*data)
    before = path.read_bytes()
    search, X, y = change(tree_search(path), *data)
    with pytest.raises(ValueError, match="checkpoint .* different search"):
        search.fit(X, y)
    assert path.read_bytes() == before


def test_corrupted_checkpoint_stops_the_search(tmp_path, data):
    path = tmp_path / "search.json"
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
    path = tmp_path / "search.json"
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
