"""LayeredRecurrentNet: a DAG's layers as masked recurrent layers with skip inputs."""

import pytest
import torch

from sksparse.nn import LayeredRecurrentNet

GATES = {"rnn": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}
SOURCES = [(), (0,), (0, 1)]


def _net(cell, seed=0):
    g = torch.Generator().manual_seed(seed)
    widths = [4, 3, 5]
    n_in = [2, 4, 7]
    masks = [(torch.rand(w, n, generator=g) < 0.5) for w, n in zip(widths, n_in)]
    torch.manual_seed(seed)
    net = LayeredRecurrentNet(cell, 2, widths, 3, sources=SOURCES, ih_masks=masks)
    return net, masks


@pytest.mark.parametrize("cell", sorted(GATES))
def test_shapes_follow_widths_and_sources(cell):
    net, _ = _net(cell)
    assert [layer.input_size for layer in net.layers] == [2, 4, 7]
    assert [layer.hidden_size for layer in net.layers] == [4, 3, 5]
    out = net(torch.randn(6, 9, 2), torch.tensor([9, 1, 4, 9, 2, 7]))
    assert out.shape == (6, 3)
    relu = net.layers[0].nonlinearity == "relu" if cell.startswith("rnn") else None
    assert relu is (cell == "rnn_relu" if cell.startswith("rnn") else None)


@pytest.mark.parametrize("cell", sorted(GATES))
def test_unit_masks_are_tiled_block_wise_over_the_gates(cell):
    net, masks = _net(cell)
    for layer, unit in zip(net.layers, masks):
        ih = layer.ih_mask_l0
        w = layer.hidden_size
        assert ih.shape == (GATES[cell] * w, unit.shape[1])
        for g in range(GATES[cell]):
            assert torch.equal(ih[g * w : (g + 1) * w].bool(), unit)
        assert bool((layer.weight_ih_l0[ih == 0] == 0).all())
        assert bool(layer.hh_mask_l0.all())  # the recurrence stays dense


def test_removed_connections_get_no_gradient_and_stay_zero():
    net, _ = _net("lstm")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    x, lengths = torch.randn(8, 5, 2), torch.full((8,), 5)
    for _ in range(3):
        optimizer.zero_grad()
        net(x, lengths).sum().backward()
        optimizer.step()
    for weight, mask in net.masked_parameters():
        assert bool((weight[mask == 0] == 0).all())
    kept = sum(int(m.count_nonzero()) for _, m in net.masked_parameters())
    total = sum(m.numel() for _, m in net.masked_parameters())
    assert net.sparsity == pytest.approx(1 - kept / total)


def test_skip_inputs_reach_a_later_layer():
    # Layer 2 reads layer 0 directly: changing layer 1's output alone does not
    # silence the input's effect on the last layer.
    net, _ = _net("gru")
    with torch.no_grad():
        for weight, _ in net.layers[1].masked_parameters():
            weight.zero_()
        net.layers[1].bias_ih_l0.zero_()
        net.layers[1].bias_hh_l0.zero_()
    x = torch.randn(4, 6, 2)
    lengths = torch.full((4,), 6)
    assert not torch.allclose(net(x, lengths), net(torch.zeros_like(x), lengths))


def test_to_graph_has_skip_edges_and_names():
    net, masks = _net("lstm")
    net.node_names = [["a", "b", "c", "d"], ["e", "f", "g"], list("hijkl")]
    graph = net.to_graph()
    kinds = {k for _, k in graph.nodes(data="kind")}
    assert kinds == {"input", "hidden", "output"}
    hidden = {n: d for n, d in graph.nodes(data=True) if d["kind"] == "hidden"}
    assert [hidden[n]["name"] for n in sorted(hidden)] == list("abcdefghijkl")
    skip = [
        (u, v)
        for u, v, k in graph.edges(data="kind")
        if k == "feedforward"
        and u in hidden
        and v in hidden
        and graph.nodes[v]["layer"] - graph.nodes[u]["layer"] == 2
    ]
    assert len(skip) == int(masks[2][:, :4].sum())


def test_bad_structure_is_named():
    with pytest.raises(ValueError, match="sources"):
        LayeredRecurrentNet("gru", 2, [3, 3], 2, sources=[(), (1,)])
    with pytest.raises(ValueError, match="sources\\[0\\]"):
        LayeredRecurrentNet("gru", 2, [3, 3], 2, sources=[(0,), (0,)])
    with pytest.raises(ValueError, match="widths"):
        LayeredRecurrentNet("gru", 2, [3, 0], 2)
    with pytest.raises(ValueError, match="cell"):
        LayeredRecurrentNet("elman", 2, [3], 2)
