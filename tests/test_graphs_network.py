import pickle

import networkx as nx
import pytest
import torch
import torch.nn.utils.prune
from torch import nn

from sksparse.graphs import network_to_graph, to_layered_dag
from sksparse.nn import DAGNetwork, SparseMLP


def _masks(sizes, density, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(b, a, generator=g) < density).float()
        for a, b in zip(sizes[:-1], sizes[1:])
    ]


def test_sparse_mlp_graph_has_one_edge_per_kept_connection():
    sizes = [6, 5, 4, 3]
    masks = _masks(sizes, 0.5)
    net = SparseMLP(6, (5, 4), 3, masks=masks)
    graph = network_to_graph(net)
    assert graph.number_of_nodes() == sum(sizes)
    assert graph.number_of_edges() == sum(int(m.sum()) for m in masks)
    layers = nx.get_node_attributes(graph, "layer")
    assert sorted(set(layers.values())) == [0, 1, 2, 3]
    for u, v in graph.edges:
        assert layers[v] == layers[u] + 1
    # edge (i -> j) between layers l and l+1 exactly where mask[l][j, i] == 1
    index = nx.get_node_attributes(graph, "index")
    for u, v in graph.edges:
        assert masks[layers[u]][index[v], index[u]] == 1


def test_edge_weights_are_read_when_asked():
    net = SparseMLP(3, (2,), 1)
    graph = network_to_graph(net, weights=True)
    first = net.masked_layers[0].weight
    u, v = next(iter(graph.edges))
    attrs = nx.get_node_attributes(graph, "index")
    assert graph.edges[u, v]["weight"] == pytest.approx(
        float(first[attrs[v], attrs[u]].detach())
    )


def test_plain_torch_modules_and_torch_prune_masks_are_read():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    torch.nn.utils.prune.l1_unstructured(model[0], "weight", amount=0.5)
    graph = network_to_graph(model)
    assert graph.number_of_nodes() == 9
    assert graph.number_of_edges() == 6 + 6


def test_reading_a_network_leaves_it_picklable_and_unchanged():
    net = SparseMLP(4, (3,), 2, masks=_masks([4, 3, 2], 0.7))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    network_to_graph(net)
    pickle.dumps(net)
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key])


def test_dag_network_graph_keeps_skip_connections():
    prior = nx.watts_strogatz_graph(12, 4, 0.3, seed=1)
    dag = to_layered_dag(prior, n_layers=3, random_state=0)
    net = DAGNetwork(dag, n_features=5, n_outputs=2)
    graph = network_to_graph(net)
    hidden = {d["name"]: n for n, d in graph.nodes(data=True) if d["kind"] == "hidden"}
    assert len(hidden) == 12
    for u, v in dag.edges:  # every DAG edge is a connection of the network
        assert graph.has_edge(hidden[str(u)], hidden[str(v)])
    sources = [n for n in dag if dag.in_degree(n) == 0]
    inputs = [n for n, d in graph.nodes(data=True) if d["kind"] == "input"]
    for node in sources:
        assert all(graph.has_edge(i, hidden[str(node)]) for i in inputs)


def test_convolutions_are_read_channel_to_channel():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Conv2d(3, 4, 3))
    with torch.no_grad():
        model[2].weight[0, 1] = 0  # channel 1 -> channel 0 removed
    graph = network_to_graph(model)
    assert graph.number_of_nodes() == 2 + 3 + 4
    assert graph.number_of_edges() == 2 * 3 + 3 * 4 - 1


def test_a_module_without_weights_is_a_clear_error():
    with pytest.raises(ValueError, match="no layer with a weight"):
        network_to_graph(nn.ReLU())
