"""Compact inference form: same predictions, fewer neurons, size ~ non-zeros."""

import contextlib
import copy
import io
import pickle

import joblib
import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from sksparse.nn import (
    CompactLinear,
    CompressedNetwork,
    DAGNetwork,
    MaskedLinear,
    SparseMLP,
    _csr,
    compress,
)
from sksparse.nn._compact import DENSE_THRESHOLD, numba_available

BACKENDS = ["torch"] + (["numba"] if numba_available() else [])


def _random_mlp(seed, sizes, density, activation="relu"):
    gen = torch.Generator().manual_seed(seed)
    masks = [
        (torch.rand(n_out, n_in, generator=gen) < density).float()
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SparseMLP(sizes[0], sizes[1:-1], sizes[-1], masks, activation=activation)
        # Non-zero biases everywhere, so that constant neurons matter.
        for layer in net.masked_layers:
            layer.bias.data.normal_()
    return net.eval()


def _connected_mlp(seed, sizes, density):
    """A random sparse MLP in which no neuron is removed (widths stay known)."""
    net = _random_mlp(seed, sizes, density)
    for layer in net.masked_layers:
        mask = layer.mask.clone()
        mask[0, :] = mask[:, 0] = 1  # every unit reads and feeds another
        layer.set_mask(mask)
        with torch.no_grad():  # pruned weights were zeroed: give them values
            layer.weight[0, :] = layer.weight[:, 0] = 0.5
    return net


def _assert_same(compressed, module, X, atol=1e-5):
    with torch.no_grad():
        expected = module(X)
    got = compressed(X)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("density", [1.0, 0.5, 0.2, 0.05, 0.01, 0.002])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compressed_mlp_predicts_like_masked_model(backend, density, seed):
    net = _random_mlp(seed, [40, 64, 32, 5], density)
    X = torch.randn(17, 40, generator=torch.Generator().manual_seed(seed))
    small = compress(net, backend=backend)
    _assert_same(small, net, X)
    _assert_same(small, net, X[:1])  # batch 1 takes the matrix-vector kernel


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_every_layout_predicts_the_same(backend, layout):
    net = _random_mlp(3, [30, 50, 50, 4], 0.1, activation="tanh")
    small = compress(net, layout=layout, backend=backend)
    assert {layer.layout for layer in small.layers} == {layout}
    _assert_same(small, net, torch.randn(9, 30))


def test_auto_layout_follows_the_density_threshold():
    masks = [torch.ones(20, 20), torch.zeros(20, 20)]
    masks[1][:, 0] = 1  # every output reads hidden unit 0 only
    net = SparseMLP(20, (20,), 20, masks=masks).eval()
    # Hidden units 1..19 feed no one and go; what stays is dense.
    small = compress(net, backend="torch")
    assert [layer.layout for layer in small.layers] == ["dense", "dense"]
    assert [layer.density for layer in small.layers] == [1.0, 1.0]
    small = compress(net, backend="torch", dense_threshold=1.0)
    assert all(layer.layout == "csr" for layer in small.layers)
    small = compress(net, backend="torch", dense_threshold=0.0)
    assert all(layer.layout == "dense" for layer in small.layers)


def test_dense_threshold_is_a_density_rule_without_timing(monkeypatch):
    def no_timing(*args):
        raise AssertionError("a density rule must not time layers")

    monkeypatch.setattr(_csr, "layer_seconds", no_timing)
    threshold = DENSE_THRESHOLD["torch"]
    net = _random_mlp(0, [200, 200, 3], threshold / 2)
    small = compress(net, backend="torch", dense_threshold=threshold)
    assert small.layers[0].layout == "csr"
    net = _random_mlp(0, [50, 50, 3], 0.9)
    small = compress(net, backend="torch", dense_threshold=threshold)
    assert small.layers[0].layout == "dense"


def _fake_timing(monkeypatch, seconds):
    """Make compress() see ``seconds(layer, batch)`` as each layer's timing."""
    calls = []

    def fake(layer, batch, relu):
        calls.append((layer.out_features, layer.layout, layer.backend, batch))
        return seconds(layer, batch)

    def network(net, batch):
        # A network costs the sum of its layers (no chain call faked).
        return sum(seconds(layer, batch) for layer in net.layers)

    monkeypatch.setattr(_csr, "layer_seconds", fake)
    monkeypatch.setattr(_csr, "network_seconds", network)
    return calls


def test_measured_layout_falls_back_to_dense_per_layer(monkeypatch):
    # Sparse is faster for the 64-unit layer, slower for the 32-unit one, and
    # the output layer's sparse form loses at batch 1 only: it must stay dense.
    def seconds(layer, batch):
        if layer.layout == "dense":
            return 1.0
        if layer.out_features == 64:
            return 0.5
        if layer.out_features == 32:
            return 2.0
        return 0.5 if batch > 1 else 1.5

    calls = _fake_timing(monkeypatch, seconds)
    net = _connected_mlp(1, [40, 64, 32, 5], 0.2)
    small = compress(net, backend="torch")
    assert [layer.layout for layer in small.layers] == ["csr", "dense", "dense"]
    assert {batch for *_, batch in calls} == set(_csr.MEASURE_BATCHES)
    X = torch.randn(9, 40)
    _assert_same(small, net, X)
    _assert_same(small, net, X[:1])


def _chain_timing(monkeypatch, chain_batch1):
    """Layers whose numba CSR form wins at batch 256 only, on its own.

    A network of numba CSR layers only costs ``chain_batch1`` at batch 1 (its
    one-call path), any other network the sum of its layers.
    """

    def layer(layer, batch):
        if layer.layout == "dense":
            return 1.0
        if layer.backend == "numba":
            return 0.4 if batch > 1 else 1.5
        return 2.0

    def network(net, batch):
        all_numba = all(
            lay.layout == "csr" and lay.backend == "numba" for lay in net.layers
        )
        if batch == 1 and all_numba:
            return chain_batch1
        return sum(layer(lay, batch) for lay in net.layers)

    monkeypatch.setattr(
        _csr, "layer_seconds", lambda lay, batch, relu: layer(lay, batch)
    )
    monkeypatch.setattr(_csr, "network_seconds", network)


@pytest.mark.skipif(not numba_available(), reason="needs numba")
def test_a_chain_of_csr_layers_is_weighed_as_a_whole(monkeypatch):
    # Each layer alone loses to dense at batch 1 (per-layer overhead), but
    # the chain of CSR layers crosses the network in one call and wins at
    # both batch sizes: the network, not each layer, decides.
    _chain_timing(monkeypatch, chain_batch1=2.0)
    net = _connected_mlp(3, [40, 64, 32, 5], 0.2)
    small = compress(net)
    assert [(lay.layout, lay.backend) for lay in small.layers] == [("csr", "numba")] * 3
    X = torch.randn(9, 40)
    _assert_same(small, net, X)
    _assert_same(small, net, X[:1])


@pytest.mark.skipif(not numba_available(), reason="needs numba")
def test_a_network_slower_than_dense_at_batch_1_stays_dense(monkeypatch):
    # The chain wins at batch 256 but not at batch 1 (3.5 against dense's
    # 3.0): never slower than dense, so every layer stays dense.
    _chain_timing(monkeypatch, chain_batch1=3.5)
    net = _connected_mlp(4, [40, 64, 32, 5], 0.2)
    small = compress(net)
    assert [lay.layout for lay in small.layers] == ["dense"] * 3


def test_measured_layout_picks_the_faster_kernel_and_skips_dense_layers(
    monkeypatch,
):
    calls = _fake_timing(
        monkeypatch,
        lambda layer, batch: {"dense": 1.0, "torch": 0.4, "numba": 0.6}[
            "dense" if layer.layout == "dense" else layer.backend
        ],
    )
    net = _connected_mlp(2, [40, 64, 32, 5], 0.2)
    net.masked_layers[1].set_mask(torch.ones(32, 64))  # too dense to time
    with torch.no_grad():
        net.masked_layers[1].weight.normal_()
    small = compress(net)
    assert [(layer.layout, layer.backend) for layer in small.layers][::2] == [
        ("csr", "torch"),
        ("csr", "torch"),
    ]
    assert small.layers[1].layout == "dense"
    assert 32 not in {out for out, *_ in calls}
    _assert_same(small, net, torch.randn(6, 40))


@pytest.mark.parametrize(
    "kinds",
    [
        k
        for k in __import__("itertools").product(
            ["dense"] + [f"csr-{b}" for b in BACKENDS], repeat=3
        )
    ],
)
def test_layout_choice_never_changes_outputs(monkeypatch, kinds):
    # Each layer (told apart by its width) gets the layout the test names.
    wanted = dict(zip((64, 48, 5), kinds))

    def seconds(layer, batch):
        kind = "dense" if layer.layout == "dense" else f"csr-{layer.backend}"
        return 0.1 if kind == wanted[layer.out_features] else 1.0

    _fake_timing(monkeypatch, seconds)
    net = _connected_mlp(3, [40, 64, 48, 5], 0.3)
    small = compress(net)
    got = [
        "dense" if layer.layout == "dense" else f"csr-{layer.backend}"
        for layer in small.layers
    ]
    assert got == list(kinds)
    X = torch.randn(300, 40, generator=torch.Generator().manual_seed(0))
    _assert_same(small, net, X)
    _assert_same(small, net, X[:1])
    _assert_same(small, net, X[:7])


def test_real_measurement_chooses_layouts_that_predict_the_same():
    net = _random_mlp(4, [100, 120, 60, 5], 0.05)
    small = compress(net)
    assert all(layer.layout in ("dense", "csr") for layer in small.layers)
    _assert_same(small, net, torch.randn(20, 100))


@pytest.mark.skipif(not numba_available(), reason="needs numba")
def test_sparse_kernels_use_torch_thread_count(monkeypatch):
    import numba

    from sksparse.nn import _numba_kernels

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here")
    net = _random_mlp(5, [300, 600, 10], 0.3)  # 56k non-zeros
    small = compress(net, layout="csr", backend="numba")
    X = torch.randn(64, 300)
    seen = []
    names = ("spmm", "spmm_parallel", "chain_spmm", "chain_spmv", "chain_spmv_parallel")
    for name in names:
        original = getattr(_numba_kernels, name)

        def spy(*args, _name=name, _original=original):
            seen.append((_name, numba.get_num_threads()))
            return _original(*args)

        monkeypatch.setattr(_numba_kernels, name, spy)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, one_b1 = small(X), small(X[:1])
        # One thread: the whole chain in one call, batch 1 included.
        assert {name for name, _ in seen} == {"chain_spmm", "chain_spmv"}
        seen.clear()
        torch.set_num_threads(2)
        two, two_b1 = small(X), small(X[:1])
        assert set(seen) == {("spmm_parallel", 2), ("chain_spmv_parallel", 2)}
    finally:
        torch.set_num_threads(before)
    # Threads split rows, each row computed as on one thread: same bits.
    assert torch.equal(one, two) and torch.equal(one_b1, two_b1)
    _assert_same(small, net, X)


def test_nnz_counts_non_zeros_in_every_layout():
    weight = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    for layout in ("dense", "csr"):
        layer = CompactLinear(weight, torch.zeros(3), layout=layout)
        assert layer.nnz == 2 and layer.density == pytest.approx(1 / 3)
    net = _random_mlp(6, [30, 40, 4], 0.2)
    dense, csr = compress(net, layout="dense"), compress(net, layout="csr")
    assert (
        dense.nnz == csr.nnz == sum(int(layer.values.numel()) for layer in csr.layers)
    )
    assert dense.nnz <= sum(int(layer.mask.sum()) for layer in net.masked_layers)


def test_neuron_without_inputs_is_folded_into_next_bias_exactly():
    # hidden unit 0 reads nothing: relu(2.0) = 2 reaches the output by w = 3;
    # hidden unit 1 reads nothing and relu(-1) = 0; unit 2 is a real neuron.
    first = MaskedLinear(2, 3, mask=torch.tensor([[0, 0], [0, 0], [1, 1]]))
    second = MaskedLinear(3, 1)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[0, 0], [0, 0], [0.5, -0.25]]))
        first.bias.copy_(torch.tensor([2.0, -1.0, 0.125]))
        second.weight.copy_(torch.tensor([[3.0, 7.0, 2.0]]))
        second.bias.copy_(torch.tensor([0.5]))
    net = nn.Sequential(first, nn.ReLU(), second).eval()
    small = compress(net, backend="torch", layout="dense")
    assert small.removed_units == [0, 2, 0]
    assert small.layers[0].out_features == 1
    # 0.5 + 3 * relu(2) + 7 * relu(-1) = 6.5, exactly representable.
    assert small.layers[1].bias.item() == 6.5
    assert small.layers[1].dense_weight().tolist() == [[2.0]]
    _assert_same(small, net, torch.randn(8, 2), atol=0)


def test_constants_cascade_through_layers():
    # Layer 1 reads nothing: every hidden neuron is a constant, so layer 2
    # and then the output read only constants; no input feature is needed.
    masks = [torch.zeros(6, 4), torch.ones(5, 6), torch.ones(3, 5)]
    net = _random_mlp(0, [4, 6, 5, 3], 1.0, activation="tanh")
    for layer, mask in zip(net.masked_layers, masks):
        layer.set_mask(mask)
    small = compress(net)
    assert len(small.layers) == 1
    assert small.layers[0].in_features == 0
    assert small.input_features.numel() == 0
    assert small.removed_units == [4, 6, 5, 0]
    _assert_same(small, net, torch.randn(7, 4))
    _assert_same(small, net, torch.randn(1, 4))


def test_collapsed_middle_layer_removes_everything_before_it():
    net = _random_mlp(4, [10, 8, 8, 8, 2], 0.7)
    net.masked_layers[2].set_mask(torch.zeros(8, 8))  # layer 3 reads nothing
    small = compress(net)
    assert small.removed_units[:3] == [10, 8, 8]
    _assert_same(small, net, torch.randn(5, 10))


def test_neurons_without_outputs_and_unread_features_are_removed():
    mask_in = torch.ones(4, 6)
    mask_in[:, 5] = 0  # feature 5 is read by no one
    mask_out = torch.ones(2, 4)
    mask_out[:, 3] = 0  # hidden unit 3 feeds no one
    net = SparseMLP(6, (4,), 2, masks=[mask_in, mask_out]).eval()
    small = compress(net)
    assert small.input_features.tolist() == [0, 1, 2, 3, 4]
    assert small.removed_units == [1, 1, 0]
    assert small.layers[0].out_features == 3
    _assert_same(small, net, torch.randn(3, 6))


def test_output_neurons_are_kept_even_without_inputs():
    net = _random_mlp(0, [5, 5, 3], 1.0)
    mask = torch.ones(3, 5)
    mask[1] = 0
    net.masked_layers[1].set_mask(mask)
    small = compress(net)
    assert small.n_outputs == 3
    _assert_same(small, net, torch.randn(4, 5))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(4))
def test_compressed_dag_network_predicts_like_the_dag(backend, seed):
    rng = np.random.default_rng(seed)
    graph = nx.gnp_random_graph(25, 0.15, seed=seed, directed=True)
    dag = nx.DiGraph([(u, v) for u, v in graph.edges if u < v])
    dag.add_nodes_from(graph.nodes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DAGNetwork(dag, n_features=12, n_outputs=3, activation="tanh")
        for layer in net.masked_layers:
            layer.bias.data.normal_()
            keep = torch.as_tensor(rng.random(layer.mask.shape) < 0.6)
            layer.set_mask(layer.mask * keep)
    net.eval()
    small = compress(net, backend=backend)
    assert len(small.layers) <= len(net.masked_layers)
    _assert_same(small, net, torch.randn(11, 12))
    _assert_same(small, net, torch.randn(1, 12))


def test_plain_sequential_with_zeros_and_assorted_modules():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(12, 16),
        nn.GELU(),
        nn.Dropout(0.5),
        nn.Sequential(nn.Linear(16, 16), nn.LeakyReLU(0.1), nn.Tanh()),
        nn.Linear(16, 3),
        nn.Sigmoid(),
    ).eval()
    with torch.no_grad():
        for layer in (net[1], net[4][0], net[5]):
            layer.weight.mul_((torch.rand_like(layer.weight) < 0.3).float())
    small = compress(net)
    assert small.flatten
    _assert_same(small, net, torch.randn(6, 3, 4))


def test_linear_without_bias_and_single_linear():
    torch.manual_seed(0)
    layer = nn.Linear(8, 4, bias=False).eval()
    _assert_same(compress(layer), layer, torch.randn(3, 8))
    net = nn.Sequential(nn.Linear(8, 8, bias=False), nn.ReLU(), nn.Linear(8, 2))
    _assert_same(compress(net.eval()), net, torch.randn(3, 8))


@pytest.mark.parametrize(
    "module, message",
    [
        (nn.Sequential(nn.Conv1d(1, 1, 3)), "Conv1d"),
        (nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=1), nn.Linear(3, 2)), "Softmax"),
        (nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), "before any activation"),
        (nn.Sequential(nn.ReLU()), "no nn.Linear"),
        (nn.GRU(3, 3), "GRU"),
    ],
)
def test_unsupported_modules_are_refused_by_name(module, message):
    with pytest.raises(TypeError, match=message):
        compress(module)


def test_invalid_arguments_are_refused():
    net = _random_mlp(0, [4, 4, 2], 0.5)
    with pytest.raises(ValueError, match="layout"):
        compress(net, layout="coo")
    with pytest.raises(ValueError, match="backend"):
        compress(net, backend="cuda")
    with pytest.raises(ValueError, match="dense_threshold"):
        compress(net, dense_threshold=1.5)
    with pytest.raises(TypeError, match="dense_threshold"):
        compress(net, dense_threshold="high")
    with pytest.raises(ValueError, match="features"):
        compress(net)(torch.randn(2, 5))


def test_forward_casts_input_dtype_and_returns_no_graph():
    net = _random_mlp(0, [6, 8, 2], 0.5)
    small = compress(net)
    X = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    out = small(X)
    assert out.dtype == torch.float32 and not out.requires_grad
    _assert_same(small, net, X.detach().float())


def _file_size(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.tell()


def test_joblib_file_size_grows_with_non_zeros_not_dense_size():
    sizes = [784, 300, 100, 10]
    dense = compress(_random_mlp(0, sizes, 1.0))
    files = {}
    for density in (0.2, 0.05, 0.01):
        small = compress(_random_mlp(0, sizes, density), layout="csr")
        files[density] = _file_size(small)
    # 95 % sparse, layouts chosen by density (timed layouts would depend on
    # the machine): at most 15 % of the dense file.
    small = compress(_random_mlp(0, sizes, 0.05), dense_threshold=0.15)
    assert _file_size(small) <= 0.15 * _file_size(dense)
    # 4 bytes of value + 4 of column index per non-zero, and little else.
    assert files[0.2] / files[0.01] > 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_compressed_network_pickles_copies_and_predicts_the_same(backend):
    net = _random_mlp(5, [20, 30, 3], 0.1)
    small = compress(net, backend=backend)
    X = torch.randn(6, 20)
    expected = small(X)
    buffer = io.BytesIO()
    joblib.dump(small, buffer)
    buffer.seek(0)
    for other in (
        joblib.load(buffer),
        pickle.loads(pickle.dumps(small)),
        copy.deepcopy(small),
    ):
        assert isinstance(other, CompressedNetwork)
        torch.testing.assert_close(other(X), expected)
    assert small.to("cpu")(X).shape == (6, 3)


def test_compact_linear_reports_its_storage():
    weight = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    layer = CompactLinear(weight, torch.zeros(3), layout="csr")
    assert layer.nnz == 2 and layer.density == pytest.approx(1 / 3)
    assert layer.crow_indices.dtype == torch.int32
    torch.testing.assert_close(layer.dense_weight(), weight)
    assert "layout='csr'" in repr(layer)
    with pytest.raises(ValueError, match="layout"):
        CompactLinear(weight, torch.zeros(3), layout="coo")


@pytest.mark.skipif(not numba_available(), reason="needs numba")
def test_batch_one_crosses_a_csr_chain_in_one_call_with_the_same_result():
    net = _random_mlp(7, [60, 80, 40, 5], 0.05)
    small = compress(net, backend="numba", layout="csr")
    assert small._chain() is not None  # CSR layers with ReLU: one kernel call
    X = torch.randn(4, 60)
    for i in range(4):
        torch.testing.assert_close(small(X[i : i + 1]), small(X)[i : i + 1])
    _assert_same(small, net, X[:1])
    tanh = compress(_random_mlp(7, [60, 80, 5], 0.05, activation="tanh"), layout="csr")
    assert tanh._chain() is None  # other activations go layer by layer
    _assert_same(tanh, _random_mlp(7, [60, 80, 5], 0.05, activation="tanh"), X[:1])


def test_docstring_examples_run():
    import doctest

    from sksparse.nn import _compact

    result = doctest.testmod(_compact, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("n", [257, 300, 640, 700])
@pytest.mark.parametrize("layouts", [("csr", "csr", "csr"), ("csr", "dense", "csr")])
def test_large_batches_run_in_chunks_with_each_samples_own_outputs(n, layouts):
    from sksparse.nn._compressed import CHUNK_ROWS, FEATURE_MAJOR_DENSE_ROWS

    net = _random_mlp(11, [50, 64, 32, 5], 0.1)
    small = compress(net, layout="csr", backend=BACKENDS[-1])
    for layer, layout in zip(small.layers, layouts):
        if layout == "dense":
            layer.__init__(layer.dense_weight(), layer.bias, layout="dense")
    small._steps_cache = small._chain_cache = None
    X = torch.randn(n, 50, generator=torch.Generator().manual_seed(n))
    seen = []
    original = small._forward_batch
    small._forward_batch = lambda X, *a: seen.append(len(X)) or original(X, *a)
    got = small(X, pad_rows=8)
    del small._forward_batch
    # Whole chunks, a remainder under half a chunk joined to the last one.
    whole, rest = divmod(n, CHUNK_ROWS)
    assert sum(seen) == n and len(seen) == whole + (rest >= CHUNK_ROWS // 2)
    assert min(seen) >= min(n, CHUNK_ROWS // 2) >= FEATURE_MAJOR_DENSE_ROWS
    _assert_same(small, net, X)
    # Each sample's outputs are its own whatever the batch (bit for bit).
    alone = torch.cat([small(X[i : i + 1], pad_rows=8) for i in range(0, n, 37)])
    assert torch.equal(got[::37], alone)
    assert torch.equal(got[: CHUNK_ROWS // 2], small(X[: CHUNK_ROWS // 2], pad_rows=8))


@contextlib.contextmanager
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("n", [2, 7, 16, 17, 256, 300])
@pytest.mark.parametrize("unread_features", [False, True])
def test_csr_chain_in_one_call_gives_the_layer_by_layer_bits(
    monkeypatch, n, unread_features
):
    from sksparse.nn import _compressed, _numba_kernels

    net = _random_mlp(3, [40, 64, 32, 5], 0.1)
    if unread_features:  # features 0-9 feed nothing: an input_features index
        first = net.masked_layers[0]
        keep = torch.ones_like(first.mask)
        keep[:, :10] = 0
        first.set_mask(first.mask * keep)
    small = compress(net, layout="csr", backend="numba")
    assert (small._buffers.get("input_features") is not None) == unread_features
    X = torch.randn(n, 40, generator=torch.Generator().manual_seed(n))
    calls = []
    original = _numba_kernels.chain_spmm
    monkeypatch.setattr(
        _numba_kernels, "chain_spmm", lambda *a: calls.append(1) or original(*a)
    )
    with _single_thread():
        one_call = small(X)
        assert calls
        monkeypatch.setattr(_compressed, "_serial_chain", lambda steps, n: False)
        by_layer = small(X)
    assert torch.equal(one_call, by_layer)
    _assert_same(small, net, X)
    with _single_thread():
        alone = torch.cat([small(X[i : i + 1]) for i in range(n)])
    assert torch.equal(one_call, alone)
