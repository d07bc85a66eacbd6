"""sksparse.io: a model format that loads without running code."""

import json
import os

import joblib
import numpy as np
import pytest
import torch
from safetensors import safe_open

from sksparse import (
    GraphPriorRNNClassifier,
    SparseCNNClassifier,
    SparseMLPClassifier,
    SparseMLPRegressor,
)
from sksparse.cli import main
from sksparse.datasets import load_digits, make_reber_classification
from sksparse.io import load, save
from sksparse.io._file import FORMAT, KEY, read_file, write_file


@pytest.fixture(scope="module")
def data():
    X = np.random.default_rng(0).normal(size=(80, 6))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    return X, y


@pytest.fixture(scope="module")
def clf(data):
    X, y = data
    return SparseMLPClassifier(
        (16, 8), sparsity=0.7, prior="watts_strogatz", max_epochs=3, random_state=0
    ).fit(X, y)


@pytest.fixture
def saved(clf, tmp_path):
    return save(clf, tmp_path / "clf.sksparse")


def test_classifier_round_trip_predicts_the_same(clf, data, saved):
    X, _ = data
    loaded = load(saved)
    assert type(loaded) is SparseMLPClassifier
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    for a, b in zip(loaded.masks_, clf.masks_):
        np.testing.assert_array_equal(a, b)


def test_regressor_round_trip_predicts_the_same(data, tmp_path):
    X, _ = data
    y = X[:, :2] @ np.array([[1.0, -1.0], [2.0, 0.5]])
    reg = SparseMLPRegressor(
        (16,), sparsity=0.5, sparsity_schedule="gradual", max_epochs=4, random_state=0
    ).fit(X, y)
    loaded = load(save(reg, tmp_path / "reg.sksparse"))
    assert loaded.predict(X).shape == (len(X), 2)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.sparsity_ == reg.sparsity_ > 0


def test_cnn_and_rnn_round_trip(tmp_path):
    X, y, X_test, _ = load_digits()
    cnn = SparseCNNClassifier(
        channels=(4,), hidden_layer_sizes=(8,), sparsity=0.3, max_epochs=1
    ).fit(X[:100], y[:100])
    loaded = load(save(cnn, tmp_path / "cnn.sksparse"))
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test[:50]), cnn.predict_proba(X_test[:50])
    )
    strings, labels = make_reber_classification(60, max_length=10, random_state=0)
    rnn = GraphPriorRNNClassifier(
        "lstm", 6, prior="erdos_renyi", sparsity=0.5, max_epochs=1, random_state=0
    ).fit(strings, labels)
    loaded = load(save(rnn, tmp_path / "rnn.sksparse"))
    np.testing.assert_array_equal(
        loaded.predict_proba(strings), rnn.predict_proba(strings)
    )


def test_unfitted_estimator_round_trips_its_parameters(tmp_path):
    est = SparseMLPRegressor((3, 4), sparsity=0.25, prior_params=None, lr=0.5)
    loaded = load(save(est, tmp_path / "est.sksparse"))
    assert loaded.get_params() == est.get_params()
    assert isinstance(loaded.hidden_layer_sizes, tuple)
    assert not hasattr(loaded, "net_")


def test_class_weight_with_label_keys_round_trips(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    est = SparseMLPClassifier(
        (4,), max_epochs=2, class_weight={0: 2.0, 1: 0.5}, random_state=0
    )
    with pytest.warns(Warning):  # two epochs do not converge
        est.fit(X, y)
    loaded = load(save(est, tmp_path / "cw.sksparse"))
    assert loaded.class_weight == {0: 2.0, 1: 0.5}
    assert loaded.batch_size == "auto"
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


def test_masks_are_bit_packed(clf, saved):
    with safe_open(saved, "pt") as f:
        document = json.loads(f.metadata()[KEY])
        for name, info in document["packed"].items():
            tensor = f.get_tensor(name)
            assert tensor.dtype == torch.uint8
            assert tensor.numel() == -(-int(np.prod(info["shape"])) // 8)
    masks = [k for k in clf.module_.state_dict() if k.endswith("mask")]
    assert sorted(document["packed"]) == sorted(masks)


def test_write_is_atomic_and_leaves_no_temporary_file(clf, saved):
    save(clf, saved)  # over the existing file
    assert os.listdir(saved.parent) == [saved.name]


@pytest.mark.parametrize("where", ["tensors", "json"])
def test_tampered_file_fails_its_hash(saved, where):
    raw = bytearray(saved.read_bytes())
    if where == "tensors":
        raw[-1] ^= 0xFF
    else:
        # Same length, so the safetensors header stays well-formed.
        start = raw.index(b"watts_strogatz")
        raw[start : start + 14] = b"erdos_renyi___"
    saved.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="clf.sksparse.*content hash"):
        load(saved)


def _rewrite(path, **changes):
    """Write ``path`` again with its document changed and a valid hash."""
    document, tensors = read_file(path)
    document = {k: v for k, v in document.items() if k != "sha256"}
    document.update(changes)
    write_file(path, document, tensors)


def test_unknown_class_is_refused(saved):
    _rewrite(saved, **{"class": "sklearn.linear_model.LogisticRegression"})
    with pytest.raises(TypeError, match="LogisticRegression.*not one of sksparse"):
        load(saved)


def test_a_file_naming_os_system_runs_nothing(saved, tmp_path):
    marker = tmp_path / "ran"
    _rewrite(
        saved,
        **{"class": "os.system", "params": {"command": f"touch {marker}"}},
    )
    with pytest.raises(TypeError, match="os.system"):
        load(saved)
    assert not marker.exists()


def test_invalid_parameter_in_file_is_refused(saved):
    document, _ = read_file(saved)
    _rewrite(saved, params={**document["params"], "sparsity": 2.0})
    with pytest.raises(ValueError, match="sparsity"):
        load(saved)


def test_version_mismatch_warns(clf, data, saved):
    document, _ = read_file(saved)
    _rewrite(saved, versions={**document["versions"], "torch": "0.0.1"})
    with pytest.warns(UserWarning, match=r"torch 0\.0\.1"):
        loaded = load(saved)
    np.testing.assert_array_equal(loaded.predict(data[0]), clf.predict(data[0]))


def test_not_a_model_file(tmp_path):
    path = tmp_path / "x.sksparse"
    path.write_bytes(b"hello, world")
    with pytest.raises(ValueError, match="x.sksparse.*not a sksparse model"):
        load(path)


@pytest.mark.parametrize(
    "param, value",
    [("optimizer", torch.optim.SGD), ("callbacks", [object()]), ("lr", np.inf)],
)
def test_parameters_that_are_not_json_are_named(param, value, tmp_path):
    est = SparseMLPClassifier(**{param: value})
    with pytest.raises(TypeError, match=f"parameter '{param}'"):
        save(est, tmp_path / "x.sksparse")
    assert list(tmp_path.iterdir()) == []


def test_compressed_and_foreign_estimators_are_refused(clf, tmp_path):
    with pytest.raises(TypeError, match="compress"):
        save(clf.compress(), tmp_path / "c.sksparse")
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="LogisticRegression"):
        save(LogisticRegression(), tmp_path / "c.sksparse")


def test_format_is_recorded(saved):
    document, _ = read_file(saved)
    assert document["format"] == FORMAT
    assert set(document["versions"]) >= {"sksparse", "torch", "scikit-learn"}


def test_cli_reads_the_format_without_trust_pickle(clf, saved, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(saved), "--no-plot", "--out", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == "SparseMLPClassifier"
    assert [layer["size"] for layer in report["layers"]] == [6 * 16, 16 * 8, 8 * 2]
    graph = tmp_path / "net.graphml"
    assert main(["graph", str(saved), "-o", str(graph)]) == 0
    assert graph.exists()
    # The format is recognised by content: a pickle named .sksparse is not.
    pickle = tmp_path / "model.sksparse"
    joblib.dump(clf, pickle)
    assert main(["report", str(pickle), "--no-plot", "--out", str(out)]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
