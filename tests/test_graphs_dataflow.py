"""network_to_graph on models read from their data flow (torch.fx or hooks)."""

import warnings

import networkx as nx
import pytest
import torch
from torch import nn

from sksparse.graphs import network_to_graph
from sksparse.nn import CompactLinear, SparseCNN, SparseMLP, compress


class _ResidualMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 5), nn.Linear(5, 5), nn.Linear(5, 2)

    def forward(self, x):
        h = torch.relu(self.a(x))
        h = h + torch.relu(self.b(h))
        return self.c(h)


class _Branchy(nn.Module):
    """Python control flow on a tensor: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 5), nn.Linear(4, 3), nn.Linear(8, 2)

    def forward(self, x):
        if x.sum() > -1e9:
            return self.c(torch.cat([self.a(x), self.b(x)], dim=1))
        return x


def _modules_of(graph, nodes):
    return {graph.nodes[n]["module"] or graph.nodes[n]["kind"] for n in nodes}


def test_resnet18_is_one_piece_with_its_residual_additions():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    graph = network_to_graph(model)
    assert nx.number_weakly_connected_components(graph) == 1
    # Counted from the weights: one node per input channel, per output
    # channel of each convolution and linear layer, and per channel of each
    # block's addition; one edge per (output, input) channel pair that a
    # non-zero weight joins, and two per addition node.
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    basic = torchvision.models.resnet.BasicBlock
    n_merge = sum(b.conv2.out_channels for b in model.modules() if isinstance(b, basic))
    n_nodes = 3 + sum(m.weight.shape[0] for m in layers) + n_merge
    n_pairs = sum(
        int((m.weight != 0).reshape(*m.weight.shape[:2], -1).any(-1).sum())
        for m in layers
    )
    assert graph.number_of_nodes() == n_nodes
    assert graph.number_of_edges() == n_pairs + 2 * n_merge
    # Each block's sum reads its second convolution and its skip: the
    # downsample convolution where there is one, else the block's input.
    merges = [n for n, kind in graph.nodes(data="kind") if kind == "merge"]
    previous = "conv1"  # the stem (max pooling keeps its channels)
    for name, block in model.named_modules():
        if not isinstance(block, basic):
            continue
        mine = [
            m
            for m in merges
            if f"{name}.conv2" in _modules_of(graph, graph.predecessors(m))
        ]
        assert len(mine) == block.conv2.out_channels
        skip = f"{name}.downsample.0" if block.downsample is not None else previous
        for m in mine:
            assert _modules_of(graph, graph.predecessors(m)) == {f"{name}.conv2", skip}
        previous = "merge"
    outputs = [n for n, kind in graph.nodes(data="kind") if kind == "output"]
    assert len(outputs) == 10
    assert all(graph.in_degree(n) == 512 for n in outputs)  # fc reads the last sum


def test_a_residual_mlp_keeps_its_skip():
    model = _ResidualMLP()
    graph = network_to_graph(model)
    kinds = nx.get_node_attributes(graph, "kind")
    modules = nx.get_node_attributes(graph, "module")
    merges = [n for n in graph if kinds[n] == "merge"]
    assert len(merges) == 5
    for m in merges:  # feature j of the sum reads feature j of a and of b
        preds = sorted(graph.predecessors(m))
        assert [modules[p] for p in preds] == ["a", "b"]
        assert {graph.nodes[p]["index"] for p in preds} == {graph.nodes[m]["index"]}
        assert set(graph.successors(m)) == {n for n in graph if modules[n] == "c"}
    assert graph.number_of_edges() == 4 * 5 + 5 * 5 + 2 * 5 + 5 * 2
    layer = nx.get_node_attributes(graph, "layer")
    assert all(layer[u] < layer[v] for u, v in graph.edges)


def test_untraceable_models_are_read_from_a_forward_pass_with_a_warning():
    with pytest.warns(UserWarning, match="torch.fx cannot trace _Branchy"):
        graph = network_to_graph(_Branchy())
    assert graph.number_of_nodes() == 4 + 5 + 3 + 2
    assert graph.number_of_edges() == 4 * 5 + 4 * 3 + 8 * 2
    assert nx.number_weakly_connected_components(graph) == 1


def test_an_operation_that_cannot_be_followed_is_named_in_a_warning():
    class WithLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.lstm(x)[0])

    with pytest.warns(UserWarning, match="could not follow the data through: lstm"):
        graph = network_to_graph(WithLSTM(), input_shape=(5, 3))
    assert "unread" in set(nx.get_node_attributes(graph, "kind").values())


def test_plain_chains_read_as_before_and_the_model_is_left_as_it_was():
    model = nn.Sequential(
        nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2)
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        graph = network_to_graph(model)
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    layers = nx.get_node_attributes(graph, "layer")
    assert sorted(layers.values()) == [0] * 4 + [1] * 3 + [2] * 2
    assert graph.number_of_edges() == 4 * 3 + 3 * 2


@pytest.mark.parametrize("layout", ["dense", "csr", "auto"])
def test_compressed_networks_are_read_with_their_stored_connections(layout):
    g = torch.Generator().manual_seed(0)
    masks = [
        torch.rand(30, 20, generator=g) < 0.3,
        torch.rand(3, 30, generator=g) < 0.5,
    ]
    net = SparseMLP(20, (30,), 3, masks=masks).eval()
    small = compress(net, layout=layout)
    graph = network_to_graph(small)
    stored = sum(int(layer.dense_weight().count_nonzero()) for layer in small.layers)
    assert graph.number_of_edges() == stored
    kept = small.n_features_in - small.removed_units[0]
    reading = {
        n for n, d in graph.nodes(data=True) if d["layer"] == 0 and graph.out_degree(n)
    }
    assert len(reading) == kept
    # compress only folds dead neurons: the live connections are the net's.
    full = network_to_graph(net)
    assert stored <= full.number_of_edges() == sum(int(m.sum()) for m in masks)


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_compact_layers_inside_a_users_model_are_read(layout):
    g = torch.Generator().manual_seed(1)
    w1 = torch.randn(6, 5, generator=g) * (torch.rand(6, 5, generator=g) < 0.4)
    w2 = torch.randn(2, 6, generator=g) * (torch.rand(2, 6, generator=g) < 0.6)
    model = nn.Sequential(
        CompactLinear(w1, torch.zeros(6), layout),
        nn.ReLU(),
        CompactLinear(w2, torch.zeros(2), layout),
    )
    graph = network_to_graph(model)
    assert graph.number_of_nodes() == 5 + 6 + 2
    assert graph.number_of_edges() == int(w1.count_nonzero() + w2.count_nonzero())


def test_masked_convolutions_reach_the_head_through_the_flatten():
    net = SparseCNN((1, 8, 8), (4, 6), (5,), 3)
    with torch.no_grad():
        net.features[0].mask[2] = 0  # channel 2 of the first conv reads nothing
    graph = network_to_graph(net)
    assert graph.number_of_nodes() == 1 + 4 + 6 + 5 + 3
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert graph.number_of_edges() == (4 - 1) + 4 * 6 + 6 * 5 + 5 * 3
    assert nx.number_weakly_connected_components(graph) == 1
    assert len(convs) == 2


def test_grouped_convolutions_connect_within_their_groups():
    graph = network_to_graph(nn.Sequential(nn.Conv2d(4, 6, 3, groups=2)))
    index = nx.get_node_attributes(graph, "index")
    assert graph.number_of_edges() == 6 * 2
    for u, v in graph.edges:
        assert index[u] // 2 == index[v] // 3


def test_input_shape_is_checked_and_needed_where_a_flatten_fixes_it():
    lenet = nn.Sequential(nn.Conv2d(1, 2, 5), nn.Flatten(), nn.Linear(2 * 24 * 24, 3))
    with pytest.raises(ValueError, match="input_shape="):
        network_to_graph(lenet)
    graph = network_to_graph(lenet, input_shape=(1, 28, 28))
    assert graph.number_of_nodes() == 1 + 2 + 3
    assert graph.number_of_edges() == 2 + 2 * 3
    with pytest.raises(TypeError, match="input_shape must be a tuple of ints"):
        network_to_graph(lenet, input_shape="28x28")
    with pytest.raises(ValueError, match="positive ints"):
        network_to_graph(lenet, input_shape=(1, 0, 28))
