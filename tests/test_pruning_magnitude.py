"""MagnitudePruner: equal to torch's reference pruning, cumulative, on any module."""

import copy
import warnings

import pytest
import torch
from sklearn.base import clone
from torch import nn
from torch.nn.utils import prune as torch_prune

from sksparse.nn import MaskedLinear, MaskedLSTM, SparseMLP
from sksparse.pruning import (
    MagnitudePruner,
    RandomPruner,
    find_prunable_weights,
    magnitude_masks,
    weight_classes,
)
from sksparse.pruning._functional import n_to_prune

AMOUNTS = [0.0, 0.3, 0.8, 0.95, 1.0, 57]


def make_net(seed=0):
    """Linear, convolutional and masked layers with random weights."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.Flatten(),
        nn.Linear(12, 10),
        nn.ReLU(),
        MaskedLinear(10, 6),
    )


def _sparsity(masks):
    total = sum(m.numel() for m in masks.values())
    return sum(int((m == 0).sum()) for m in masks.values()) / total


@pytest.mark.parametrize("amount", AMOUNTS)
def test_class_blinded_equals_torch_global_unstructured(amount):
    net = make_net()
    reference = copy.deepcopy(net)
    masks = MagnitudePruner(amount, scope="class-blinded").compute_masks(net)
    params = [
        (reference[0], "weight"),
        (reference[2], "weight"),
        (reference[4], "weight"),
    ]
    torch_prune.global_unstructured(
        params, pruning_method=torch_prune.L1Unstructured, amount=amount
    )
    assert list(masks) == ["0.weight", "2.weight", "4.weight"]
    for (module, _), mask in zip(params, masks.values()):
        assert torch.equal(mask, module.weight_mask)


@pytest.mark.parametrize("amount", AMOUNTS[:-1])
def test_class_uniform_equals_torch_l1_unstructured_per_layer(amount):
    net = make_net()
    masks = MagnitudePruner(amount, scope="class-uniform").compute_masks(net)
    for name, mask in masks.items():
        layer = copy.deepcopy(net.get_submodule(name.split(".")[0]))
        torch_prune.l1_unstructured(layer, "weight", amount=amount)
        assert torch.equal(mask, layer.weight_mask), name


def test_class_distributed_hits_target_and_thresholds_follow_sigma():
    net = make_net()
    weights = {n: p.detach() for n, p in net.named_parameters() if p.ndim > 1}
    n_total = sum(w.numel() for w in weights.values())
    for amount in (0.25, 0.5, 0.8, 0.9):
        pruner = MagnitudePruner(amount, scope="class-distributed")
        masks = pruner.compute_masks(net)
        n_pruned = sum(int((m == 0).sum()) for m in masks.values())
        assert abs(n_pruned - amount * n_total) <= 1
        # λ·σ_c: the ratio threshold / σ_c is the same λ for every class.
        sigmas = {n: float(w.double().std(unbiased=False)) for n, w in weights.items()}
        ratios = [pruner.thresholds_[n] / sigmas[n] for n in weights]
        assert ratios == pytest.approx([ratios[0]] * len(ratios), rel=1e-9)
        for name, w in weights.items():
            magnitude = w.abs()
            threshold = pruner.thresholds_[name]
            assert (magnitude[masks[name] == 0] < threshold).all()
            assert (magnitude[masks[name] == 1] > threshold).all()


def test_class_distributed_differs_from_class_blinded_when_sigmas_differ():
    torch.manual_seed(0)
    weights = [torch.randn(400), 10 * torch.randn(400)]
    blinded, _ = magnitude_masks(weights, 0.5, scope="class-blinded")
    distributed, _ = magnitude_masks(weights, 0.5, scope="class-distributed")
    # One threshold prunes the small-σ class almost entirely; λ·σ_c does not.
    assert (blinded[0] == 0).float().mean() > 0.9
    assert (distributed[0] == 0).float().mean() == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize(
    "scope", ["class-blinded", "class-uniform", "class-distributed"]
)
def test_targets_are_cumulative_and_pruned_weights_never_revive(scope):
    net = make_net()
    first = MagnitudePruner(0.8, scope=scope).prune(net)
    second = MagnitudePruner(0.9, scope=scope).prune(net)
    assert _sparsity(first) == pytest.approx(0.8, abs=0.01)
    assert _sparsity(second) == pytest.approx(0.9, abs=0.01)  # not 0.98
    for name in first:
        assert not ((first[name] == 0) & (second[name] == 1)).any()
    # A lower target afterwards keeps everything pruned so far.
    third = MagnitudePruner(0.5, scope=scope).prune(net)
    assert _sparsity(third) == pytest.approx(_sparsity(second))


def test_already_zero_weights_count_as_pruned():
    net = make_net()
    with torch.no_grad():
        net[2].weight[:5] = 0  # 60 of 120 weights of this layer
    pruner = MagnitudePruner(0.5)
    masks = pruner.compute_masks(net)
    assert (masks["2.weight"][:5] == 0).all()
    assert pruner.n_pruned_ == n_to_prune(0.5, pruner.n_weights_)


def test_masked_layer_keeps_its_buffer_and_parameter_objects():
    net = make_net()
    layer = net[4]
    weight, buffer, pointer = layer.weight, layer.mask, layer.mask.data_ptr()
    optimizer = torch.optim.Adam(net.parameters())
    net(torch.randn(4, 2, 4, 4)).sum().backward()
    optimizer.step()
    masks = MagnitudePruner(0.7).prune(net, optimizer=optimizer)
    assert layer.weight is weight and layer.mask is buffer
    assert layer.mask.data_ptr() == pointer
    assert torch.equal(layer.mask, masks["4.weight"])
    assert (layer.weight[layer.mask == 0] == 0).all()
    # Momentum of the pruned weights is gone, so they cannot move again.
    for name, param in net.named_parameters():
        if name in masks:
            for value in optimizer.state[param].values():
                if value.shape == param.shape:
                    assert (value[masks[name] == 0] == 0).all()


def test_biases_are_never_pruned():
    net = make_net()
    biases = {n: p.detach().clone() for n, p in net.named_parameters() if p.ndim == 1}
    masks = MagnitudePruner(1.0).prune(net)
    assert all(name.endswith("weight") for name in masks)
    for name, param in net.named_parameters():
        if name in biases:
            assert torch.equal(param, biases[name])


def test_exclude_and_prune_output_layer_leave_weights_alone():
    net = make_net()
    before = net[0].weight.detach().clone()
    masks = MagnitudePruner(0.9, exclude=["0"], prune_output_layer=False).prune(net)
    assert list(masks) == ["2.weight"]
    assert torch.equal(net[0].weight, before)
    assert net[4].density == 1.0
    by_name = MagnitudePruner(0.5, exclude=["2.weight"]).compute_masks(make_net())
    assert list(by_name) == ["0.weight", "4.weight"]
    by_type = MagnitudePruner(
        0.5, exclude=lambda name, module: isinstance(module, nn.Conv2d)
    ).compute_masks(make_net())
    assert list(by_type) == ["2.weight", "4.weight"]


def test_min_density_floor_prevents_layer_collapse():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(50, 50), nn.Linear(50, 2))
    with torch.no_grad():
        net[0].weight.mul_(1e-3)  # class-blinded would wipe this layer out
    assert (MagnitudePruner(0.97).compute_masks(net)["0.weight"] == 1).sum() == 0
    masks = MagnitudePruner(0.97, min_density=0.02).compute_masks(net)
    assert int(masks["0.weight"].sum()) >= 50
    with pytest.warns(UserWarning, match="min_density"):
        MagnitudePruner(1.0, min_density=0.5).compute_masks(net)


def test_recurrent_weights_split_into_gate_classes():
    torch.manual_seed(0)
    lstm, gru, rnn = nn.LSTM(3, 4), nn.GRU(3, 4), nn.RNN(3, 4, num_layers=2)
    names = weight_classes(find_prunable_weights(lstm))
    assert [n for n, _ in names][:4] == [f"weight_ih_l0[{g}]" for g in "ifgo"]
    assert [n for n, _ in weight_classes(find_prunable_weights(gru))][:3] == [
        "weight_ih_l0[r]",
        "weight_ih_l0[z]",
        "weight_ih_l0[n]",
    ]
    assert len(weight_classes(find_prunable_weights(rnn))) == 4
    # class-uniform prunes the same fraction in every gate block.
    masks = MagnitudePruner(0.5, scope="class-uniform").prune(lstm)
    for mask in masks.values():
        for block in mask.chunk(4, dim=0):
            assert (block == 0).float().mean() == 0.5
    assert (lstm.weight_hh_l0[masks["weight_hh_l0"] == 0] == 0).all()
    # One class per tensor on request.
    tensor = weight_classes(find_prunable_weights(lstm), classes="tensor")
    assert [n for n, _ in tensor] == ["weight_ih_l0", "weight_hh_l0"]


def test_masked_lstm_masks_are_written_into_its_buffers():
    torch.manual_seed(0)
    lstm = MaskedLSTM(3, 4)
    buffer = lstm.ih_mask_l0
    masks = MagnitudePruner(0.6).prune(lstm)
    assert lstm.ih_mask_l0 is buffer
    assert torch.equal(lstm.ih_mask_l0, masks["weight_ih_l0"])
    assert lstm.density == pytest.approx(0.4, abs=0.01)


def test_user_grouping_merges_tensors_into_one_class():
    net = SparseMLP(8, (6, 6), 2)
    pruner = MagnitudePruner(
        0.5,
        scope="class-uniform",
        classes={"layers.0.weight": "a", "layers.2.weight": "a"},
    )
    pruner.compute_masks(net)
    assert pruner.weight_classes_ == ["a", "layers.4.weight"]
    with pytest.raises(ValueError, match="classes"):
        MagnitudePruner(classes={"layers.9.weight": "a"}).compute_masks(net)


def test_pruner_is_a_scikit_learn_estimator():
    pruner = MagnitudePruner(0.8, scope="class-uniform")
    assert pruner.get_params()["amount"] == 0.8
    copy_ = clone(pruner).set_params(amount=0.9)
    assert copy_.amount == 0.9 and pruner.amount == 0.8


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(amount=1.5), ValueError, "amount"),
        (dict(amount=-0.1), ValueError, "amount"),
        (dict(amount=10_000), ValueError, "amount"),
        (dict(amount=-1), ValueError, "amount"),
        (dict(amount="0.5"), TypeError, "amount"),
        (dict(amount=True), TypeError, "amount"),
        (dict(scope="global"), ValueError, "scope"),
        (dict(min_density=2.0), ValueError, "min_density"),
        (dict(exclude=["nope"]), ValueError, "exclude"),
        (dict(classes="gates"), ValueError, "classes"),
        (dict(prune_output_layer="yes"), TypeError, "prune_output_layer"),
    ],
)
def test_bad_parameters_raise_errors_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        MagnitudePruner(**kwargs).compute_masks(make_net())


def test_module_with_nothing_to_prune_is_a_clear_error():
    with pytest.raises(ValueError, match="no prunable weight"):
        MagnitudePruner().compute_masks(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))
    with pytest.raises(TypeError, match="module"):
        MagnitudePruner().compute_masks("not a module")
    with pytest.raises(ValueError, match="prune_output_layer"):
        MagnitudePruner(prune_output_layer=False).compute_masks(nn.Linear(3, 2))


@pytest.mark.parametrize(
    "pruner",
    [
        MagnitudePruner(0.7),
        MagnitudePruner(0.7, scope="class-uniform"),
        MagnitudePruner(0.7, scope="class-distributed"),
        RandomPruner(0.7, random_state=0),
        RandomPruner(0.7, scope="class-uniform", random_state=0),
    ],
)
def test_every_pruner_returns_weight_shaped_masks_and_never_revives(pruner):
    net = nn.Sequential(make_net(), nn.LSTM(6, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = pruner.prune(net, amount=0.4)
        second = pruner.prune(net)
    params = dict(net.named_parameters())
    for name, mask in second.items():
        assert mask.shape == params[name].shape
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        assert not ((first[name] == 0) & (mask == 1)).any()
        assert (params[name][mask == 0] == 0).all()
    assert pruner.sparsity_ == pytest.approx(0.7, abs=0.01)


def test_apply_masks_rejects_masks_that_are_not_0_1():
    from sksparse.pruning import apply_masks

    layer = nn.Linear(3, 2)
    before = layer.weight.detach().clone()
    with pytest.raises(ValueError, match="only 0 and 1"):
        apply_masks(layer, {"weight": torch.full((2, 3), 0.5)})
    with pytest.raises(ValueError, match="shape"):
        apply_masks(layer, {"weight": torch.ones(3, 2)})
    assert torch.equal(layer.weight, before)  # nothing was scaled
