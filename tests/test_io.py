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
    PrunedEstimator,
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


def test_foreign_estimators_are_refused_with_the_pickle_route(tmp_path):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="LogisticRegression.*--trust-pickle"):
        save(LogisticRegression(), tmp_path / "c.sksparse")
    assert list(tmp_path.iterdir()) == []


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


# -- PrunedEstimator ------------------------------------------------------------
def _plain_params(est):
    """get_params() with nested estimators replaced by (class, their params)."""
    return {
        k: (type(v), _plain_params(v)) if hasattr(v, "get_params") else v
        for k, v in est.get_params(deep=False).items()
    }


@pytest.fixture(scope="module")
def pruned(data):
    from sksparse.pruning import Gradual, MagnitudePruner

    X, y = data
    inner = SparseMLPClassifier((16, 8), max_epochs=3, random_state=0)
    return PrunedEstimator(
        inner,
        MagnitudePruner(amount=0.8, scope="class-uniform"),
        schedule=Gradual(n_steps=2),
        retrain_epochs=1,
        rewind=1,
    ).fit(X, y)


def test_pruned_estimator_round_trip(pruned, data, tmp_path):
    from sklearn.base import clone

    X, y = data
    loaded = load(save(pruned, tmp_path / "pruned.sksparse"))
    assert type(loaded) is PrunedEstimator
    np.testing.assert_array_equal(loaded.predict_proba(X), pruned.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), pruned.predict(X))
    assert _plain_params(loaded) == _plain_params(pruned)
    assert loaded.sparsity_ == pruned.sparsity_ > 0.7
    assert sorted(loaded.masks_) == sorted(pruned.masks_)
    for name, mask in pruned.masks_.items():
        assert loaded.masks_[name].dtype == bool
        np.testing.assert_array_equal(loaded.masks_[name], mask)
    assert sorted(loaded.rewind_weights_) == sorted(pruned.rewind_weights_)
    for name, weight in pruned.rewind_weights_.items():
        assert torch.equal(loaded.rewind_weights_[name], weight)
    assert loaded.pruner_.thresholds_ == pruned.pruner_.thresholds_
    assert loaded.history_.to_list() == pruned.history_.to_list()
    # A clone of the loaded one is an unfitted estimator that fits as the
    # original's clone does.
    refit = clone(loaded).fit(X, y)
    np.testing.assert_array_equal(refit.predict_proba(X), pruned.predict_proba(X))


def test_pruned_estimator_with_named_schedule_and_no_rewind(data, tmp_path):
    from sksparse.pruning import RandomPruner

    X, y = data
    est = PrunedEstimator(
        SparseMLPRegressor((8,), max_epochs=2, random_state=0),
        RandomPruner(amount=0.5, random_state=0),
        schedule="iterative",
        retrain_epochs=1,
    )
    unfitted = load(save(est, tmp_path / "u.sksparse"))
    assert _plain_params(unfitted) == _plain_params(est)
    assert not hasattr(unfitted, "estimator_")
    est.fit(X, X[:, 0])
    loaded = load(save(est, tmp_path / "f.sksparse"))
    assert loaded.rewind_weights_ is None
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_pruned_skorch_net_is_refused_with_the_pickle_route(data, tmp_path):
    from skorch import NeuralNetClassifier
    from torch import nn

    net = NeuralNetClassifier(nn.Sequential(nn.Linear(6, 2)), max_epochs=1)
    with pytest.raises(TypeError, match="estimator.*NeuralNetClassifier.*trust-pickle"):
        save(PrunedEstimator(net), tmp_path / "p.sksparse")
    assert list(tmp_path.iterdir()) == []


# -- compressed estimators --------------------------------------------------------
def _n_elements(path):
    with safe_open(path, "pt") as f:
        return sum(f.get_tensor(k).numel() for k in f.keys())


@pytest.mark.parametrize("layout", ["csr", "dense", "auto"])
def test_compressed_round_trip(clf, data, tmp_path, layout):
    from sksparse.nn import CompressedNetwork

    X, _ = data
    small = clf.compress(layout=layout)
    small.predict_proba(X[:1])  # fills the caches, which are not stored
    loaded = load(save(small, tmp_path / "c.sksparse"))
    assert isinstance(loaded.module_, CompressedNetwork)
    layouts = [layer.layout for layer in loaded.module_.layers]
    assert layouts == [layer.layout for layer in small.module_.layers]
    np.testing.assert_array_equal(loaded.predict_proba(X), small.predict_proba(X))
    np.testing.assert_array_equal(
        loaded.predict_proba(X[:1]), small.predict_proba(X[:1])
    )
    assert loaded.get_params() == small.get_params()


def test_compressed_file_holds_no_dense_copy(tmp_path):
    X, y, X_test, _ = load_digits()
    clf = SparseMLPClassifier(
        (256, 256), sparsity=0.95, max_epochs=1, random_state=0
    ).fit(X, y)
    small = clf.compress(layout="csr")
    dense = save(clf, tmp_path / "dense.sksparse")
    compact = save(small, tmp_path / "compact.sksparse")
    np.testing.assert_array_equal(
        load(compact).predict_proba(X_test), small.predict_proba(X_test)
    )
    stored = sum(layer.nnz for layer in small.module_.layers)
    n_weights = sum(
        p.numel() for n, p in clf.module_.named_parameters() if n.endswith("weight")
    )
    # Values, column indices, row pointers and biases: about 2 x nnz, far
    # from the 64*256 + 256*256 + 256*10 dense weights.
    assert _n_elements(compact) < 2 * stored + 3 * 257 + 256 * 2 + 10
    assert _n_elements(compact) < 0.15 * n_weights
    assert compact.stat().st_size < 0.3 * dense.stat().st_size


def test_compressed_cnn_and_pruned_round_trip(pruned, data, tmp_path):
    X, y, X_test, _ = load_digits()
    cnn = SparseCNNClassifier(
        channels=(4,), hidden_layer_sizes=(8,), sparsity=0.3, max_epochs=1
    ).fit(X[:100], y[:100])
    small = cnn.compress()
    loaded = load(save(small, tmp_path / "cnn.sksparse"))
    assert type(loaded.module_) is type(small.module_)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test[:50]), small.predict_proba(X_test[:50])
    )
    small = pruned.compress()
    loaded = load(save(small, tmp_path / "pruned.sksparse"))
    assert loaded.masks_ == {} and loaded.rewind_weights_ is None
    np.testing.assert_array_equal(
        loaded.predict_proba(data[0]), small.predict_proba(data[0])
    )


def test_structured_layouts_round_trip(clf, data, tmp_path):
    from sksparse.nn import BlockLinear, NMLinear
    from sksparse.pruning import MagnitudePruner

    X, y = data
    est = PrunedEstimator(
        SparseMLPClassifier((16, 8), max_epochs=2, random_state=0),
        MagnitudePruner(amount=0.5, pattern="2:4"),
        retrain_epochs=0,
    )
    with pytest.warns(Warning):  # two epochs do not converge
        est.fit(X, y)
    small = est.compress(layout="nm")
    assert all(isinstance(m, NMLinear) for m in small.estimator_.module_.layers)
    loaded = load(save(small, tmp_path / "nm.sksparse"))
    assert all(isinstance(m, NMLinear) for m in loaded.estimator_.module_.layers)
    np.testing.assert_array_equal(loaded.predict_proba(X), small.predict_proba(X))
    # Removing dead neurons breaks block alignment, so compress() rarely
    # picks BSR on a small net: a block layer is put in by hand.
    small = clf.compress(layout="dense")
    layer = small.module_.layers[1]
    small.module_.layers[1] = BlockLinear(layer.weight, layer.bias, (2, 2))
    small.module_._steps_cache = None
    loaded = load(save(small, tmp_path / "bsr.sksparse"))
    assert isinstance(loaded.module_.layers[1], BlockLinear)
    np.testing.assert_array_equal(loaded.predict_proba(X), small.predict_proba(X))


def _compressed_file(clf, tmp_path):
    return save(clf.compress(layout="csr"), tmp_path / "c.sksparse")


def test_unknown_module_class_in_the_tree_is_refused(clf, tmp_path):
    path = _compressed_file(clf, tmp_path)
    document, _ = read_file(path)
    tree = document["compressed"]
    tree["children"]["activations"]["children"]["0"]["class"] = "os.system"
    _rewrite(path, compressed=tree)
    with pytest.raises(TypeError, match="os.system.*refused, not imported"):
        load(path)


@pytest.mark.parametrize("name", ["forward", "__class__", "_parameters"])
def test_module_attributes_cannot_shadow_methods(clf, tmp_path, name):
    path = _compressed_file(clf, tmp_path)
    document, _ = read_file(path)
    tree = document["compressed"]
    tree["children"]["layers"]["children"]["0"]["attributes"][name] = "x"
    _rewrite(path, compressed=tree)
    with pytest.raises(ValueError, match=name):
        load(path)


def test_user_module_in_a_compressed_net_is_refused(clf, tmp_path):
    from torch import nn

    class Swish(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(x)

    small = clf.compress(layout="csr")
    small.module_.activations[0] = Swish()
    with pytest.raises(TypeError, match="Swish.*--trust-pickle"):
        save(small, tmp_path / "c.sksparse")


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            lambda t: t.__setitem__(
                "layers.0.col_indices", t["layers.0.col_indices"] + 99
            ),
            "column indices",
        ),
        (
            lambda t: t.__setitem__(
                "layers.1.crow_indices", t["layers.1.crow_indices"].flip(0)
            ),
            "row pointers",
        ),
    ],
)
def test_out_of_range_indices_are_refused_before_any_kernel(clf, tmp_path, edit, match):
    # numba's kernels do not check bounds: a forged index must never reach them.
    path = _compressed_file(clf, tmp_path)
    document, tensors = read_file(path)
    edit(tensors)
    write_file(path, {k: v for k, v in document.items() if k != "sha256"}, tensors)
    with pytest.raises(ValueError, match=f"CompactLinear.*{match}"):
        load(path)


def test_widths_that_do_not_chain_are_refused(clf, tmp_path):
    path = _compressed_file(clf, tmp_path)
    document, _ = read_file(path)
    tree = document["compressed"]
    tree["attributes"]["n_features_in"] += 3
    _rewrite(path, compressed=tree)
    with pytest.raises(ValueError, match="layer 0 reads 9 units"):
        load(path)


def test_cli_reads_pruned_and_compressed_files(pruned, tmp_path):
    for name, est in [("pruned", pruned), ("small", pruned.compress())]:
        path = save(est, tmp_path / f"{name}.sksparse")
        out = tmp_path / name
        assert main(["report", str(path), "--no-plot", "--out", str(out), "-q"]) == 0
        assert json.loads((out / "report.json").read_text())["layers"]
        graph = tmp_path / f"{name}.graphml"
        assert main(["graph", str(path), "-o", str(graph)]) == 0
        assert graph.stat().st_size > 0


def test_pruned_file_missing_a_mask_tensor_is_refused(pruned, tmp_path):
    path = save(pruned, tmp_path / "p.sksparse")
    document, tensors = read_file(path)
    name = next(k for k in tensors if k.startswith("masks_/"))
    del tensors[name]
    write_file(path, {k: v for k, v in document.items() if k != "sha256"}, tensors)
    with pytest.raises(ValueError, match="malformed PrunedEstimator"):
        load(path)


def test_prefit_pruned_estimator_keeps_its_fitted_estimator_parameter(data, tmp_path):
    X, y = data
    base = SparseMLPClassifier((16,), max_epochs=2, random_state=0)
    with pytest.warns(Warning):  # two epochs do not converge
        base.fit(X, y)
    est = PrunedEstimator(base, prefit=True, retrain_epochs=1, rewind="reinit")
    est.fit(X, y)
    loaded = load(save(est, tmp_path / "p.sksparse"))
    # The fitted estimator parameter is stored with its own tensors, so the
    # loaded one prunes it again as the original did.
    np.testing.assert_array_equal(
        loaded.estimator.predict_proba(X), base.predict_proba(X)
    )
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(
        loaded.fit(X, y).predict_proba(X), est.predict_proba(X)
    )
