"""Masked recurrent layers: gate tiling, fused-kernel equivalence, zeros that stay."""

import copy
import io
import pickle

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from sksparse.graphs import network_to_graph
from sksparse.nn import (
    MaskedGRU,
    MaskedLSTM,
    MaskedRNN,
    clear_optimizer_state,
    tile_gates,
)

CELLS = {
    "rnn": (MaskedRNN, nn.RNN, 1),
    "gru": (MaskedGRU, nn.GRU, 3),
    "lstm": (MaskedLSTM, nn.LSTM, 4),
}
N_IN, HIDDEN = 5, 6


def _random_mask(shape, density, seed):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) < density).float()


@pytest.fixture(params=sorted(CELLS))
def cell(request):
    return request.param


def _layer(cell, num_layers=1, seed=0, **kwargs):
    masked_class, _, _ = CELLS[cell]
    ih = [_random_mask((HIDDEN, N_IN), 0.5, seed)]
    ih += [_random_mask((HIDDEN, HIDDEN), 0.5, seed + k) for k in range(1, num_layers)]
    hh = [_random_mask((HIDDEN, HIDDEN), 0.3, seed + 10 + k) for k in range(num_layers)]
    torch.manual_seed(seed)
    return masked_class(N_IN, HIDDEN, num_layers, ih_masks=ih, hh_masks=hh, **kwargs)


def _inputs(seed=0, batch=3, steps=7):
    return torch.randn(
        batch, steps, N_IN, generator=torch.Generator().manual_seed(seed)
    )


def test_tile_gates_repeats_blocks_not_rows():
    mask = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tiled = tile_gates(mask, 4)
    assert tiled.shape == (12, 2)
    for gate in range(4):
        assert torch.equal(tiled[3 * gate : 3 * (gate + 1)], mask)
    assert not torch.equal(tiled, mask.repeat_interleave(4, dim=0))


def test_unit_mask_is_tiled_block_wise_in_torch_gate_order(cell):
    masked_class, _, n_gates = CELLS[cell]
    hh = _random_mask((HIDDEN, HIDDEN), 0.4, 3)
    layer = masked_class(N_IN, HIDDEN, hh_masks=[hh])
    blocks = layer.hh_mask_l0.view(n_gates, HIDDEN, HIDDEN)
    for gate in range(n_gates):
        assert torch.equal(blocks[gate], hh)
    weights = layer.weight_hh_l0.detach().view(n_gates, HIDDEN, HIDDEN)
    assert torch.all(weights[:, hh == 0] == 0)


def test_input_mask_cuts_exactly_the_removed_inputs_of_every_gate(cell):
    # Unit 0 reads input 2 only. If the mask were interleaved, or in another
    # gate order, some gate of unit 0 would still read another input, and the
    # first step's output of unit 0 would move when that input moves.
    masked_class, _, _ = CELLS[cell]
    ih = torch.ones(HIDDEN, N_IN)
    ih[0] = 0.0
    ih[0, 2] = 1.0
    layer = masked_class(N_IN, HIDDEN, ih_masks=[ih])
    x = _inputs(steps=1)
    moved = x.clone()
    moved[..., [0, 1, 3, 4]] += 5.0
    out, moved_out = layer(x)[0], layer(moved)[0]
    torch.testing.assert_close(out[..., 0], moved_out[..., 0])
    assert not torch.allclose(out[..., 1:], moved_out[..., 1:])
    moved[..., 2] += 5.0
    assert not torch.allclose(out[..., 0], layer(moved)[0][..., 0])


def test_per_gate_masks_are_taken_as_given():
    ih = torch.zeros(4 * HIDDEN, N_IN)
    ih[HIDDEN : 2 * HIDDEN] = 1.0  # the forget gate only
    layer = MaskedLSTM(N_IN, HIDDEN, ih_masks=[ih])
    assert torch.equal(layer.ih_mask_l0, ih)
    graph = layer.to_graph()
    assert {g for _, _, g in graph.edges(data="gates") if g != "ifgo"} == {"f"}


@pytest.mark.parametrize("num_layers", [1, 2])
def test_forward_equals_torch_layer_with_masked_weights(cell, num_layers):
    layer = _layer(cell, num_layers)
    _, torch_class, _ = CELLS[cell]
    reference = torch_class(N_IN, HIDDEN, num_layers, batch_first=True)
    state = {k: v for k, v in layer.state_dict().items() if "mask" not in k}
    reference.load_state_dict(state)
    x = _inputs()
    out, _ = layer(x)
    expected, _ = reference(x)
    torch.testing.assert_close(out, expected)
    # The zeros are in the parameters themselves, not only in the product.
    for weight, mask in layer.masked_parameters():
        assert torch.all(weight[mask == 0] == 0)


def test_all_ones_masks_are_the_dense_torch_layer(cell):
    masked_class, torch_class, _ = CELLS[cell]
    torch.manual_seed(0)
    dense = torch_class(N_IN, HIDDEN, batch_first=True)
    layer = masked_class(N_IN, HIDDEN)
    assert layer.density == 1.0
    missing, unexpected = layer.load_state_dict(dense.state_dict(), strict=False)
    assert missing == ["ih_mask_l0", "hh_mask_l0"] and unexpected == []
    x = _inputs()
    torch.testing.assert_close(layer(x)[0], dense(x)[0])


def test_packed_sequences_and_initial_state_go_through_torchs_forward():
    layer = _layer("lstm")
    x = _inputs(steps=5)
    lengths = torch.tensor([5, 3, 2])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    h0 = torch.randn(1, 3, HIDDEN), torch.randn(1, 3, HIDDEN)
    packed_out, (h, _) = layer(packed, h0)
    out, _ = layer(x, h0)
    torch.testing.assert_close(h[0, 1], out[1, 2])


OPTIMIZERS = {
    "sgd_momentum_nesterov_decay": lambda p: torch.optim.SGD(
        p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1
    ),
    "adam_decay": lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1),
    "rmsprop_momentum": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.9),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1, weight_decay=0.1),
    "adadelta": lambda p: torch.optim.Adadelta(p, weight_decay=0.1),
    "adamax": lambda p: torch.optim.Adamax(p, weight_decay=0.1),
    "nadam": lambda p: torch.optim.NAdam(p, weight_decay=0.1),
    "radam": lambda p: torch.optim.RAdam(p, weight_decay=0.1),
}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_masked_weights_stay_exactly_zero_under_optimizer(cell, optimizer):
    layer = _layer(cell, num_layers=2)
    opt = OPTIMIZERS[optimizer](layer.parameters())
    x, target = _inputs(), torch.randn(3, 7, HIDDEN)
    for _ in range(5):
        opt.zero_grad()
        loss = ((layer(x)[0] - target) ** 2).mean()
        loss.backward()
        for weight, mask in layer.masked_parameters():
            assert torch.all(weight.grad[mask == 0] == 0)
        opt.step()
    for weight, mask in layer.masked_parameters():
        assert torch.all(weight[mask == 0] == 0)
        assert torch.any(weight[mask == 1] != 0)


def test_clear_optimizer_state_keeps_a_mask_changed_mid_training_at_zero():
    layer = MaskedLSTM(N_IN, HIDDEN)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    x, target = _inputs(), torch.randn(3, 7, HIDDEN)

    def step():
        opt.zero_grad()
        ((layer(x)[0] - target) ** 2).mean().backward()
        opt.step()

    step()
    new_hh = _random_mask((HIDDEN, HIDDEN), 0.5, 7)
    layer.set_masks(hh_masks=[new_hh])
    clear_optimizer_state(opt, layer)
    momentum = opt.state[layer.weight_hh_l0]["momentum_buffer"]
    assert torch.all(momentum[layer.hh_mask_l0 == 0] == 0)
    for _ in range(3):
        step()
    assert torch.all(layer.weight_hh_l0[layer.hh_mask_l0 == 0] == 0)


def test_set_masks_works_in_place_on_the_same_buffers():
    layer = _layer("gru")
    buffer, weight = layer.hh_mask_l0, layer.weight_hh_l0
    ptr = buffer.data_ptr()
    layer.set_masks(hh_masks=[torch.eye(HIDDEN)])
    assert layer.hh_mask_l0 is buffer and buffer.data_ptr() == ptr
    assert layer.weight_hh_l0 is weight
    assert layer.hh_mask_l0.sum() == 3 * HIDDEN


def test_masks_are_persistent_buffers_and_load_into_a_fresh_layer(cell):
    layer = _layer(cell, num_layers=2)
    state = layer.state_dict()
    assert {"ih_mask_l0", "hh_mask_l0", "ih_mask_l1", "hh_mask_l1"} <= set(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    masked_class, _, _ = CELLS[cell]
    fresh = masked_class(N_IN, HIDDEN, 2)
    fresh.load_state_dict(torch.load(buffer))
    for (_, mask), (_, fresh_mask) in zip(
        layer.masked_parameters(), fresh.masked_parameters()
    ):
        assert torch.equal(mask, fresh_mask)
    torch.testing.assert_close(fresh(_inputs())[0], layer(_inputs())[0])


@pytest.mark.parametrize(
    "copier", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))]
)
def test_deep_copy_and_pickle_keep_masks_and_outputs(cell, copier):
    layer = _layer(cell)
    x = _inputs()
    layer(x)  # a forward pass before copying must not leave masked weights behind
    twin = copier(layer)
    torch.testing.assert_close(twin(x)[0], layer(x)[0])
    assert torch.equal(twin.hh_mask_l0, layer.hh_mask_l0)
    assert twin._flat_weights[0] is twin.weight_ih_l0


def test_dtype_conversion_and_functional_call_see_the_masks():
    layer = _layer("lstm").double()
    assert layer.hh_mask_l0.dtype == torch.float64
    out = layer(_inputs().double())[0]
    assert out.dtype == torch.float64
    params = {name: torch.zeros_like(p) for name, p in layer.named_parameters()}
    params["weight_hh_l0"] = torch.ones_like(layer.weight_hh_l0)
    zero_input = torch.zeros(1, 3, N_IN, dtype=torch.float64)
    from_params = torch.func.functional_call(layer, params, (zero_input,))[0]
    assert torch.all(from_params == 0)  # all-zero biases and inputs: h stays 0
    assert layer(zero_input)[0].abs().sum() > 0  # the layer's own weights are back


def test_sparse_rows_start_with_a_wider_initialisation():
    hh = torch.zeros(HIDDEN, HIDDEN)
    hh[0, 0] = 1.0
    ih = torch.ones(HIDDEN, N_IN)
    ih[0] = 0.0
    ih[0, 0] = 1.0
    torch.manual_seed(0)
    layer = MaskedRNN(N_IN, HIDDEN, ih_masks=[ih], hh_masks=[hh])
    base = HIDDEN**-0.5
    dense_fan_in = N_IN + HIDDEN
    # Unit 0 keeps 2 of 11 inputs, the others 5 of 11.
    bound_0 = base * (dense_fan_in / 2) ** 0.5
    bound_rest = base * (dense_fan_in / N_IN) ** 0.5
    assert layer.weight_ih_l0[0].abs().max() <= bound_0
    assert layer.weight_ih_l0[1:].abs().max() <= bound_rest
    assert layer.weight_ih_l0[1:].abs().max() > base


def test_relu_rnn_and_repr():
    layer = MaskedRNN(N_IN, HIDDEN, nonlinearity="relu", hh_masks=[torch.eye(HIDDEN)])
    assert (layer(_inputs())[0] >= 0).all()
    assert "density=" in repr(layer)
    assert layer.n_nonzero == HIDDEN * N_IN + HIDDEN
    assert layer.sparsity == pytest.approx(
        1 - layer.n_nonzero / (HIDDEN * (N_IN + HIDDEN))
    )


def test_to_graph_has_units_and_feedforward_and_recurrent_edges(cell):
    layer = _layer(cell, num_layers=2)
    graph = network_to_graph(layer)
    assert graph.number_of_nodes() == N_IN + 2 * HIDDEN
    layers = [graph.nodes[v]["layer"] for v in graph]
    assert layers == [0] * N_IN + [1] * HIDDEN + [2] * HIDDEN
    masks = [m for _, m in layer.masked_parameters()]
    n_gates = len(layer.gates)
    expected = sum(int(m.view(n_gates, HIDDEN, -1).amax(0).sum()) for m in masks)
    assert graph.number_of_edges() == expected
    recurrent = [(u, v) for u, v, k in graph.edges(data="kind") if k == "recurrent"]
    hh = layer.hh_mask_l0[:HIDDEN]
    first = [(u, v) for u, v in recurrent if graph.nodes[u]["layer"] == 1]
    assert len(first) == int(hh.sum())
    for u, v in first:
        assert hh[v - N_IN, u - N_IN] == 1
    assert all(g == "".join(layer.gates) for _, _, g in graph.edges(data="gates"))


def test_to_graph_weights_are_read_per_gate():
    layer = _layer("lstm")
    graph = layer.to_graph(weights=True)
    u, v, data = next(iter(graph.edges(data=True)))
    w = layer.weight_ih_l0.detach().view(4, HIDDEN, N_IN)[:, v - N_IN, u]
    assert [data[f"weight_{g}"] for g in "ifgo"] == pytest.approx(w.tolist())
    assert data["weight"] == pytest.approx(float(w.abs().sum()))
    rnn_graph = _layer("rnn").to_graph(weights=True)
    for _, _, data in rnn_graph.edges(data=True):
        assert data["weight"] == data["weight_h"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hh_masks": [torch.ones(5, 5)]}, r"hh_masks\[0\] must have"),
        ({"ih_masks": [torch.full((HIDDEN, N_IN), 0.5)]}, "only 0 and 1"),
        ({"ih_masks": [None, None]}, "one mask per layer"),
    ],
)
def test_invalid_masks_are_rejected_with_the_parameter_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaskedLSTM(N_IN, HIDDEN, **kwargs)


def test_a_single_array_is_one_layers_mask_only():
    layer = MaskedGRU(N_IN, HIDDEN, hh_masks=torch.eye(HIDDEN))
    assert layer.hh_mask_l0.sum() == 3 * HIDDEN
    with pytest.raises(ValueError, match="one per layer"):
        MaskedGRU(N_IN, HIDDEN, 2, hh_masks=torch.eye(HIDDEN))


def test_bidirectional_is_refused():
    with pytest.raises(TypeError):
        MaskedLSTM(N_IN, HIDDEN, bidirectional=True)


def test_a_nan_removed_recurrent_weight_never_reaches_the_output(cell):
    layer = _layer(cell)
    x = _inputs()
    expected = layer(x)[0].detach()
    with torch.no_grad():
        for weight, mask in layer.masked_parameters():
            weight[mask == 0] = float("nan")
    out = layer(x)[0]
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    for weight, mask in layer.masked_parameters():
        assert bool((weight.grad[mask == 0] == 0).all())
