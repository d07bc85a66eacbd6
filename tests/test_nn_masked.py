import copy
import io
import pickle

import pytest
import torch

from sksparse.nn import MaskedLinear, clear_optimizer_state


def _random_mask(shape, density, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < density).float()


def test_mask_is_a_persistent_buffer_saved_in_state_dict():
    layer = MaskedLinear(5, 3, mask=_random_mask((3, 5), 0.5))
    state = layer.state_dict()
    assert "mask" in state and "weight" in state
    fresh = MaskedLinear(5, 3)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.mask, layer.mask)
    assert torch.equal(fresh.weight, layer.weight)


def test_masked_weights_are_zero_and_properties_count_them():
    mask = torch.tensor([[1, 0, 1], [0, 1, 0]])
    layer = MaskedLinear(3, 2, mask=mask)
    assert torch.all(layer.weight[mask == 0] == 0)
    assert layer.n_nonzero == 3
    assert layer.density == pytest.approx(0.5)
    assert layer.sparsity == pytest.approx(0.5)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.01),
        lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1),
        lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5),
    ],
    ids=["sgd-momentum-wd", "sgd-nesterov", "adam-wd", "adamw", "rmsprop"],
)
def test_optimizers_never_revive_a_masked_weight(make_optimizer):
    torch.manual_seed(0)
    layer = MaskedLinear(20, 10, mask=_random_mask((10, 20), 0.3))
    optimizer = make_optimizer(layer.parameters())
    X, y = torch.randn(64, 20), torch.randn(64, 10)
    for step in range(30):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(layer(X), y).backward()
        optimizer.step()
        if step == 10:  # prune more mid-training, with optimizer state present
            new_mask = layer.mask * _random_mask((10, 20), 0.5, seed=1)
            layer.set_mask(new_mask)
            clear_optimizer_state(optimizer, layer)
        assert torch.all(layer.weight[layer.mask == 0] == 0), f"step {step}"


def test_set_mask_keeps_the_buffer_object():
    layer = MaskedLinear(4, 4)
    buffer = layer.mask
    layer.set_mask(torch.eye(4))
    assert layer.mask is buffer
    assert layer.n_nonzero == 4


@pytest.mark.parametrize("shape", [(3, 4), (4, 3, 1), (12,)])
def test_mask_of_the_wrong_shape_is_a_clear_error(shape):
    with pytest.raises(ValueError, match=r"mask must have the weight's shape \(4, 3\)"):
        MaskedLinear(3, 4, mask=torch.ones(shape))


def test_mask_with_values_other_than_0_and_1_is_rejected():
    with pytest.raises(ValueError, match="only 0 and 1"):
        MaskedLinear(2, 2, mask=torch.full((2, 2), 0.5))


def test_masked_layer_deepcopies_pickles_and_moves():
    layer = MaskedLinear(6, 2, mask=_random_mask((2, 6), 0.5))
    clone = copy.deepcopy(layer)
    assert torch.equal(clone.mask, layer.mask)
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    restored = pickle.loads(pickle.dumps(layer))
    assert torch.equal(restored(torch.ones(1, 6)), layer(torch.ones(1, 6)))
    moved = layer.to(torch.float64)
    assert moved.mask.dtype == torch.float64


def test_sparse_initialisation_keeps_the_pre_activation_scale():
    torch.manual_seed(0)
    dense = MaskedLinear(1000, 200)
    sparse = MaskedLinear(1000, 200, mask=_random_mask((200, 1000), 0.02))
    X = torch.randn(256, 1000)
    ratio = sparse(X).std() / dense(X).std()
    assert 0.5 < ratio < 2.0


def test_full_mask_fast_path_notices_every_mask_change():
    torch.manual_seed(0)
    layer = MaskedLinear(4, 3)
    X = torch.randn(5, 4)
    dense_out = layer(X)  # full mask: plain F.linear
    with torch.no_grad():
        layer.mask[0, 0] = 0.0  # in-place edit of the buffer, not via set_mask
        layer.weight[0, 0] = 1.0
    expected = torch.nn.functional.linear(X, layer.weight * layer.mask, layer.bias)
    assert torch.allclose(layer(X), expected)
    assert not torch.allclose(layer(X), dense_out)
    state = layer.state_dict()
    fresh = MaskedLinear(4, 3)
    fresh(X)  # caches "full" for the fresh buffer
    fresh.load_state_dict(state)
    assert torch.allclose(fresh(X), expected)


def _poison_removed(layer, value):
    """Write ``value`` at every removed position, as a careless edit would."""
    with torch.no_grad():
        layer.weight[layer.mask == 0] = value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_removed_weight_never_reaches_the_output(value):
    torch.manual_seed(0)
    layer = MaskedLinear(8, 5, mask=_random_mask((5, 8), 0.4))
    X = torch.randn(6, 8)
    expected = layer(X).detach()
    _poison_removed(layer, value)
    out = layer(X)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, expected)
    # the select leaves exactly +0.0 in the stored weight (0 * nan is nan)
    removed = layer.weight[layer.mask == 0]
    assert torch.equal(removed, torch.zeros_like(removed))
    assert not removed.signbit().any()


def test_a_loaded_state_with_nan_at_removed_positions_predicts_finite():
    torch.manual_seed(0)
    layer = MaskedLinear(8, 5, mask=_random_mask((5, 8), 0.4))
    X = torch.randn(6, 8)
    expected = layer(X).detach()
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    state["weight"][state["mask"] == 0] = float("nan")
    fresh = MaskedLinear(8, 5)
    fresh.load_state_dict(state)
    with torch.inference_mode():
        torch.testing.assert_close(fresh(X), expected)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.01),
        lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.01, fused=True),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
    ],
    ids=["adam-wd", "adam-wd-fused", "sgd-momentum-wd"],
)
def test_removed_weights_have_zero_gradient_and_no_optimizer_state(make_optimizer):
    # The forward pass is a plain F.linear over the stored weight, so a hook
    # must zero the removed weights' gradient: otherwise Adam's moments and
    # SGD's momentum would fill up at positions a regrowth may revive.
    torch.manual_seed(0)
    layer = MaskedLinear(20, 10, mask=_random_mask((10, 20), 0.3))
    optimizer = make_optimizer(layer.parameters())
    X, y = torch.randn(64, 20), torch.randn(64, 10)
    removed = layer.mask == 0
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(layer(X), y).backward()
        assert bool((layer.weight.grad[removed] == 0).all())
        assert bool(layer.weight.grad[~removed].abs().sum() > 0)
        optimizer.step()
        assert bool((layer.weight[removed] == 0).all())
    for value in optimizer.state[layer.weight].values():
        if value.shape == removed.shape:
            assert bool((value[removed] == 0).all())


@pytest.mark.parametrize(
    "copier",
    [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
    ids=["deepcopy", "pickle"],
)
def test_copies_mask_their_gradients_too(copier):
    # Tensor hooks are not copied with a Parameter: the copy registers its own.
    layer = MaskedLinear(6, 4, mask=_random_mask((4, 6), 0.5))
    layer(torch.randn(2, 6)).sum().backward()
    twin = copier(layer)
    assert "_bits" not in twin.__dict__  # caches are rebuilt, never copied
    twin.zero_grad()
    twin(torch.randn(3, 6)).sum().backward()
    assert bool((twin.weight.grad[twin.mask == 0] == 0).all())


def test_gradients_equal_the_weight_times_mask_formulation():
    torch.manual_seed(0)
    layer = MaskedLinear(9, 4, mask=_random_mask((4, 9), 0.5))
    X = torch.randn(5, 9)
    weight = layer.weight.detach().clone().requires_grad_(True)
    reference = torch.nn.functional.linear(X, weight * layer.mask, layer.bias)
    reference.square().sum().backward()
    layer(X).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, weight.grad)
