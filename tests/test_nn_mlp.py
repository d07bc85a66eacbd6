import networkx as nx
import pytest
import torch

from sksparse.nn import DAGNetwork, MaskedLinear, SparseMLP


def test_sparse_mlp_shapes_and_masks():
    masks = [torch.ones(8, 4), torch.zeros(3, 8)]
    masks[1][:, :2] = 1
    net = SparseMLP(4, (8,), 3, masks=masks)
    assert net(torch.randn(5, 4)).shape == (5, 3)
    out = net.masked_layers[-1]
    assert out.n_nonzero == 6
    assert torch.all(out.weight[:, 2:] == 0)


def test_sparse_mlp_rejects_a_wrong_number_of_masks():
    with pytest.raises(ValueError, match="one mask per layer"):
        SparseMLP(4, (8,), 3, masks=[torch.ones(8, 4)])


def test_sparse_mlp_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        SparseMLP(4, (8,), 3, activation="swish-ish")


def test_dag_network_uses_one_matmul_per_layer_with_skip_connections():
    # 0,1 -> 2 -> 3 and the skip 0 -> 3.
    dag = nx.DiGraph([(0, 2), (1, 2), (0, 3), (2, 3)])
    net = DAGNetwork(dag, n_features=5, n_outputs=2)
    assert [len(n) for n in net.layer_nodes] == [2, 1, 1]
    assert len(net.hidden) == 3
    third = net.hidden[2]  # node 3 reads node 0 (column 5) and node 2 (column 7)
    assert third.mask[0].nonzero().flatten().tolist() == [5, 7]
    # sources read every input; the only sink (3) feeds the outputs
    assert net.hidden[0].mask.sum() == 2 * 5
    assert net.output.mask.sum() == 2
    assert net(torch.randn(7, 5)).shape == (7, 2)


def test_dag_network_gradient_reaches_only_kept_connections():
    dag = nx.DiGraph([(0, 1), (1, 2)])
    net = DAGNetwork(dag, n_features=3, n_outputs=1)
    net(torch.randn(4, 3)).sum().backward()
    for layer in net.masked_layers:
        assert torch.all(layer.weight.grad[layer.mask == 0] == 0)


def test_dag_network_honours_the_layer_attribute():
    dag = nx.DiGraph([(0, 1)])
    dag.add_node(2)
    nx.set_node_attributes(dag, {0: 0, 1: 2, 2: 1}, "layer")
    net = DAGNetwork(dag, n_features=2, n_outputs=1)
    assert net.layer_nodes == [[0], [2], [1]]


def test_dag_network_rejects_a_cycle():
    with pytest.raises(ValueError, match="DAG"):
        DAGNetwork(nx.DiGraph([(0, 1), (1, 0)]), 2, 1)


def test_dag_network_rejects_an_undirected_graph():
    with pytest.raises(ValueError, match="DAG"):
        DAGNetwork(nx.path_graph(3), 2, 1)


def test_modules_are_built_from_masked_linear_layers():
    net = SparseMLP(3, (4, 4), 2)
    assert all(isinstance(m, MaskedLinear) for m in net.masked_layers)
    assert len(net.masked_layers) == 3


@pytest.mark.parametrize("width", [2.5, "4", True])
def test_sparse_mlp_rejects_non_integer_widths(width):
    with pytest.raises(TypeError, match="integers"):
        SparseMLP(16, (width,), 2)
