"""MaskedConv2d and SparseCNN: masks as buffers, zero weights stay zero."""

import copy
import io

import pytest
import torch
from torch import nn

from sksparse.nn import (
    MaskedConv2d,
    SparseCNN,
    clear_optimizer_state,
    expand_channel_mask,
)


@pytest.fixture
def conv():
    torch.manual_seed(0)
    mask = torch.rand(4, 3, 3, 3) > 0.5
    return MaskedConv2d(3, 4, 3, padding=1, mask=mask)


def test_masked_weights_are_zero_and_mask_is_a_buffer(conv):
    assert bool((conv.weight[conv.mask == 0] == 0).all())
    assert "mask" in dict(conv.named_buffers())
    assert "mask" in conv.state_dict()
    assert conv.n_nonzero == int(conv.mask.sum())
    assert conv.density == pytest.approx(conv.n_nonzero / conv.weight.numel())


def test_forward_equals_conv2d_with_masked_weight(conv):
    x = torch.randn(2, 3, 6, 6)
    reference = nn.functional.conv2d(x, conv.weight * conv.mask, conv.bias, padding=1)
    torch.testing.assert_close(conv(x), reference)


def test_channel_mask_is_tiled_over_kernel_taps():
    conv = MaskedConv2d(2, 3, 3, mask=[[1, 0], [0, 1], [1, 1]])
    assert conv.mask.shape == conv.weight.shape
    assert conv.channel_mask.tolist() == [[True, False], [False, True], [True, True]]
    assert conv.n_nonzero == 4 * 9
    with pytest.raises(ValueError, match="channel mask"):
        expand_channel_mask([[1, 0, 1]], (3, 2, 3, 3))
    with pytest.raises(ValueError, match="shape"):
        MaskedConv2d(2, 3, 3, mask=torch.ones(3, 2, 5, 5))


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam])
def test_pruned_weights_stay_zero_under_training(conv, optimizer):
    kwargs = (
        {"momentum": 0.9, "weight_decay": 1e-3} if optimizer is torch.optim.SGD else {}
    )
    opt = optimizer(conv.parameters(), lr=0.1, **kwargs)
    x = torch.randn(8, 3, 5, 5)
    for step in range(5):
        opt.zero_grad()
        conv(x).pow(2).mean().backward()
        assert bool((conv.weight.grad[conv.mask == 0] == 0).all())
        opt.step()
        if step == 2:  # prune more mid-training, keeping the same buffer
            buffer = conv.mask
            conv.set_mask(conv.mask * (torch.rand_like(conv.mask) > 0.5))
            clear_optimizer_state(opt, conv)
            assert conv.mask is buffer
    assert bool((conv.weight[conv.mask == 0] == 0).all())


def test_state_dict_round_trip_and_deepcopy(conv):
    buffer = io.BytesIO()
    torch.save(conv.state_dict(), buffer)
    buffer.seek(0)
    fresh = MaskedConv2d(3, 4, 3, padding=1)
    fresh.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(fresh.mask, conv.mask)
    copied = copy.deepcopy(conv)
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(copied(x), conv(x))
    torch.testing.assert_close(fresh(x), conv(x))


def test_init_is_scaled_to_the_kept_fan_in():
    torch.manual_seed(0)
    sparse = MaskedConv2d(16, 32, 3, mask=torch.rand(32, 16) > 0.9)
    fan_in = sparse.mask.flatten(1).sum(1).clamp(min=1)
    bound = 1 / fan_in.sqrt()
    per_channel = sparse.weight.abs().flatten(1).amax(1)
    assert bool((per_channel <= bound + 1e-6).all())


@pytest.mark.parametrize(
    "shape, flat",
    [((1, 8, 8), 64), ((3, 6, 6), 108), ((1, 1, 10), 10), ((1, 5, 1), 5)],
)
def test_sparse_cnn_reads_flat_or_image_input(shape, flat):
    net = SparseCNN(shape, (4, 6), (8,), 3)
    assert net(torch.zeros(2, flat)).shape == (2, 3)
    assert net(torch.zeros(2, *shape)).shape == (2, 3)
    assert len(net.masked_layers) == 4


def test_sparse_cnn_takes_masks_per_layer():
    net = SparseCNN(
        (1, 8, 8),
        (4, 6),
        (8,),
        3,
        conv_masks=[None, torch.eye(6, 4)],
        head_masks=[None, torch.ones(3, 8)],
    )
    assert net.masked_layers[1].channel_mask.sum() == 4
    with pytest.raises(ValueError, match="one mask per convolution"):
        SparseCNN((1, 8, 8), (4, 6), (8,), 3, conv_masks=[None])


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 7, 5), (1, 1, 10), (2, 33, 2)])
def test_n_flat_features_matches_the_built_network(shape):
    net = SparseCNN(shape, (4, 6, 5), (8,), 3)
    assert SparseCNN.n_flat_features(shape, (4, 6, 5)) == net.n_flat
    assert net.features(torch.zeros(1, *shape)).flatten(1).shape[1] == net.n_flat


def test_a_nan_removed_kernel_weight_never_reaches_the_output(conv):
    x = torch.randn(2, 3, 6, 6)
    expected = conv(x).detach()
    with torch.no_grad():
        conv.weight[conv.mask == 0] = float("nan")
    torch.testing.assert_close(conv(x), expected)
    conv(x).sum().backward()
    assert bool((conv.weight.grad[conv.mask == 0] == 0).all())
