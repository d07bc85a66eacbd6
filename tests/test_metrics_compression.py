"""compression_report and estimator.compress(): ShrinkBench's numbers, same answers."""

import io

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch import NeuralNetClassifier
from torch import nn

import sksparse
from sksparse import SparseMLPClassifier, SparseMLPRegressor
from sksparse.datasets import load_digits
from sksparse.estimators import compression_report
from sksparse.nn import CompressedNetwork, SparseMLP, compress

KEYS = {
    "size",
    "size_nz",
    "compression_ratio",
    "flops",
    "flops_nz",
    "theoretical_speedup",
    "size_compressed",
    "flops_compressed",
    "bytes",
    "bytes_compressed",
    "removed_neurons",
    "removed_features",
    "layouts",
}


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def fitted_clf(digits):
    X, y, _, _ = digits
    clf = SparseMLPClassifier(
        (32,), sparsity=0.9, max_epochs=2, lr=1e-2, batch_size=64, random_state=0
    )
    return clf.fit(X, y)


def _dumped_bytes(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.tell()


def test_report_counts_parameters_and_flops_like_shrinkbench():
    first = torch.zeros(4, 6)
    first[:, :3] = torch.eye(4, 3)  # 3 connections; unit 3 reads nothing
    net = SparseMLP(6, (4,), 2, masks=[first, torch.ones(2, 4)]).eval()
    report = compression_report(net)
    assert set(report) == KEYS
    # size: 24 + 4 weights and biases, then 8 + 2; non-zero: 3 + 4 + 8 + 2.
    assert report["size"] == 38 and report["size_nz"] == 17
    assert report["compression_ratio"] == pytest.approx(38 / 17)
    assert report["flops"] == 32 and report["flops_nz"] == 11
    assert report["theoretical_speedup"] == pytest.approx(32 / 11)
    # Unit 3 is a constant folded into the output bias; features 3-5 unread.
    assert report["removed_neurons"] == 1 and report["removed_features"] == 3
    # A dense-stored layer counts in full; all-CSR stores the non-zeros only.
    assert report["flops_compressed"] >= 3 + 6
    csr = compression_report(net, layout="csr")
    assert csr["flops_compressed"] == 3 + 6
    # layout="auto" chooses by timing, so its file size is not fixed; dense's is
    # (CSR's index arrays outweigh the 3 + 6 values of a net this small).
    dense = compression_report(net, layout="dense")
    assert dense["bytes_compressed"] < dense["bytes"]


def test_report_on_fitted_estimator_measures_the_speedup(fitted_clf, digits):
    report = compression_report(fitted_clf, digits[2], n_repeats=3)
    assert report["measured_speedup"] > 0
    assert report["seconds"] > 0 and report["seconds_compressed"] > 0
    assert np.isfinite(report["measured_speedup"])
    assert report["compression_ratio"] > 5  # 90 % of the weights are gone


def test_timing_leaves_the_thread_count_as_it_was(fitted_clf, digits):
    threads = torch.get_num_threads()
    report = compression_report(fitted_clf, digits[2][:50], n_repeats=2)
    assert report["measured_speedup"] > 0
    assert torch.get_num_threads() == threads


def test_report_on_a_cnn_counts_convolutions_and_stored_weights(digits):
    from sksparse import SparseCNNClassifier
    from sksparse.nn import CompactConv2d

    X, y, X_test, _ = digits
    cnn = SparseCNNClassifier(
        channels=(4, 8),
        hidden_layer_sizes=(16,),
        sparsity=0.7,
        max_epochs=1,
        random_state=0,
    ).fit(X[:300], y[:300])
    # layout="dense": "auto" chooses by timing, so stored counts would vary.
    report = compression_report(cnn, X_test[:40], n_repeats=2, layout="dense")
    assert report["measured_speedup"] > 0
    module = cnn.module_
    convs = [m for m in module.features if isinstance(m, torch.nn.Conv2d)]
    head = [m for m in module.head.layers if isinstance(m, torch.nn.Linear)]
    # digits: 8x8 maps at the first convolution, 4x4 at the second.
    expected = convs[0].weight.numel() * 64 + convs[1].weight.numel() * 16
    assert report["flops"] == expected + sum(m.weight.numel() for m in head)
    small = compress(module, layout="dense")
    stored = [layer.n_stored for layer in small.compact_layers]
    assert report["size_compressed"] == sum(stored) + sum(
        layer.bias.numel() for layer in small.compact_layers
    )
    assert {type(layer) for layer in small.compact_layers} >= {CompactConv2d}
    again = compression_report(cnn.compress(), X_test[:40], n_repeats=2)
    assert again["flops"] == report["flops"] and again["measured_speedup"] is None


def test_a_dense_stored_layer_reports_its_non_zeros_not_its_size():
    first = torch.zeros(4, 6)
    first[:, :3] = 1.0
    first[0, 0] = 0.0  # 11 non-zeros in a 4x3 block the dense layout stores
    net = SparseMLP(6, (4,), 2, masks=[first, torch.ones(2, 4)]).eval()
    small = compress(net, layout="dense")
    layer = small.layers[0]
    assert (layer.nnz, layer.n_stored) == (11, 12)
    assert "nnz=11" in repr(layer)
    report = compression_report(net, layout="dense")
    assert report["size_nz"] == 11 + 4 + 8 + 2
    assert report["flops_compressed"] == 12 + 8


def test_report_passes_compress_params(fitted_clf):
    report = compression_report(fitted_clf, layout="dense")
    assert set(report["layouts"]) == {"dense"}


def test_report_on_a_compressed_network_knows_its_source(fitted_clf, digits):
    compressed = compress(fitted_clf.module_)
    report = compression_report(compressed, digits[2][:8], n_repeats=2)
    full = compression_report(fitted_clf)
    for key in ("size", "size_nz", "flops", "flops_nz", "theoretical_speedup"):
        assert report[key] == full[key]
    assert report["bytes"] is None and report["measured_speedup"] is None
    assert report["seconds_compressed"] > 0


def test_report_on_a_skorch_net_and_a_plain_sequential():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = NeuralNetClassifier(
        module, max_epochs=1, train_split=None, criterion=nn.CrossEntropyLoss
    ).fit(X, y)
    with torch.no_grad():
        net.module_[0].weight[:, 2:] = 0  # exact zeros count as removed
    report = compression_report(net, X)
    assert report["flops"] == 56
    assert report["removed_features"] == 3
    assert report["measured_speedup"] > 0


def test_report_refuses_what_it_cannot_read():
    with pytest.raises(TypeError, match="is it fitted"):
        compression_report(SparseMLPClassifier())
    with pytest.raises(TypeError, match="torch.nn.Module"):
        compression_report("model")


def test_report_is_public_at_top_level():
    assert sksparse.compression_report is compression_report


def test_compressed_estimator_predicts_the_same(fitted_clf, digits):
    X_test = digits[2]
    small = fitted_clf.compress()
    assert isinstance(small.module_, CompressedNetwork)
    assert isinstance(fitted_clf.module_, SparseMLP)  # the original is kept
    np.testing.assert_array_equal(small.predict(X_test), fitted_clf.predict(X_test))
    np.testing.assert_allclose(
        small.predict_proba(X_test), fitted_clf.predict_proba(X_test), atol=1e-6
    )
    assert small.score(X_test, digits[3]) == fitted_clf.score(X_test, digits[3])
    assert small.get_params() == fitted_clf.get_params()
    assert isinstance(clone(small), SparseMLPClassifier)


def test_compressed_estimator_pickles_smaller(fitted_clf, digits):
    # CSR everywhere: with layout="auto" a layer just above the backend's
    # density threshold would stay dense.
    small = fitted_clf.compress(layout="csr")
    assert _dumped_bytes(small.module_) < 0.5 * _dumped_bytes(fitted_clf.module_)
    buffer = io.BytesIO()
    joblib.dump(small, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    np.testing.assert_array_equal(loaded.predict(digits[2]), small.predict(digits[2]))


def test_compress_forwards_its_parameters(fitted_clf):
    small = fitted_clf.compress(layout="dense", backend="torch")
    assert {layer.layout for layer in small.module_.layers} == {"dense"}


def test_compressed_regressor_predicts_the_same():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 6)).astype(np.float32)
    y = np.c_[X[:, 0] - X[:, 1], X[:, 2]]
    reg = SparseMLPRegressor((16,), sparsity=0.8, max_epochs=2, random_state=0)
    reg.fit(X, y)
    np.testing.assert_allclose(reg.compress().predict(X), reg.predict(X), atol=1e-5)


def test_compress_needs_a_fitted_estimator():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SparseMLPClassifier().compress()


def test_docstring_examples_run():
    import doctest

    from sksparse.metrics import _compression as _report

    result = doctest.testmod(_report)
    assert result.failed == 0 and result.attempted > 0


class _UserConvNet(nn.Module):
    """A user's own module, read by torch.fx: functional calls and a view."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 4 * 4, 16)
        self.out = nn.Linear(16, 10)

    def forward(self, x):
        x = x.view(-1, 1, 8, 8)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        x = x.view(x.size(0), -1)
        return self.out(torch.relu(self.fc(x)))


def test_compress_net_over_a_users_traced_module(digits, tensor_elements):
    from sklearn.exceptions import NotFittedError

    from sksparse.estimators import compress_net
    from sksparse.nn import CompressedConvNetwork

    X, y, X_test, _ = digits
    X32, y64 = X.astype(np.float32), y.astype(np.int64)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        _UserConvNet, max_epochs=2, lr=0.05, train_split=None, verbose=0
    ).fit(X32, y64)
    with torch.no_grad():  # prune: two dead channels and a sparse head
        net.module_.conv.weight[:2] = 0
        net.module_.conv.bias[:2] = -1.0
        net.module_.fc.weight[net.module_.fc.weight.abs() < 0.05] = 0
    small = compress_net(net)
    assert isinstance(small.module_, CompressedConvNetwork)
    assert small.module_.removed_units[1] == 2
    X_test = X_test.astype(np.float32)
    np.testing.assert_allclose(
        small.predict_proba(X_test), net.predict_proba(X_test), atol=1e-6
    )
    buffer = io.BytesIO()
    joblib.dump(small, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    np.testing.assert_allclose(
        loaded.predict_proba(X_test), net.predict_proba(X_test), atol=1e-6
    )
    assert tensor_elements(loaded) == sum(b.numel() for b in loaded.module_.buffers())
    report = compression_report(net, X_test[:50], n_repeats=2)
    assert report["removed_neurons"] >= 2 and report["measured_speedup"] > 0
    with pytest.raises(NotFittedError):
        compress_net(NeuralNetClassifier(_UserConvNet))


def test_report_counts_what_structured_layers_store():
    from sksparse.nn import BlockLinear

    weight = torch.zeros(8, 8)
    weight[:4, :4] = torch.randn(4, 4)
    weight[0, 0] = 0.0  # a zero inside a stored block
    net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    with torch.no_grad():
        net[0].weight.copy_(weight)
        net[2].weight[:, 4:] = 0  # units 4-7 read nothing that matters
    report = compression_report(net, layout="bsr")
    layer = compress(net, layout="bsr").layers[0]
    assert isinstance(layer, BlockLinear)
    assert layer.nnz == 15 and layer.n_stored == layer.values.numel() >= 16
    assert report["size_compressed"] == sum(
        ly.n_stored + ly.bias.numel() for ly in compress(net, layout="bsr").layers
    )


def test_compress_net_predicts_on_the_cpu_where_the_compact_kernels_run():
    from sksparse.estimators import compress_net

    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)),
        max_epochs=1,
        train_split=None,
        verbose=0,
    ).fit(X, y)
    net.device = "cuda"  # as a net trained on a GPU says (its module is here)
    small = compress_net(net)
    assert small.device == "cpu" and net.device == "cuda"
    net.device = "cpu"
    np.testing.assert_allclose(small.predict_proba(X), net.predict_proba(X), atol=1e-6)
