"""compress() of convolutional chains: masks folded, dead channels removed."""

import io

import joblib
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sksparse.graphs import network_to_graph
from sksparse.nn import (
    CompactConv2d,
    CompactLinear,
    CompressedConvNetwork,
    CompressedNetwork,
    SparseCNN,
    compress,
)
from sksparse.nn._compact import linear_stats


def _cnn(seed, density=0.4, dead=(0, 2), activation="relu"):
    """A SparseCNN with random masks and channels ``dead`` of conv 1 zeroed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SparseCNN((1, 8, 8), (6, 8), (16,), 5, activation=activation)
        for layer in net.masked_layers:
            layer.set_mask((torch.rand_like(layer.mask) < density).float())
            with torch.no_grad():
                layer.bias.normal_()
        conv = net.masked_layers[0]
        mask = conv.mask.clone()
        mask[list(dead)] = 0
        conv.set_mask(mask)
        with torch.no_grad():
            conv.bias[list(dead)] = -torch.rand(len(dead))  # ReLU maps them to 0
    return net.eval()


def _same(small, net, X, atol=1e-5):
    with torch.no_grad():
        expected = net(X)
    got = small(X)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compressed_cnn_predicts_like_the_masked_cnn(seed):
    net = _cnn(seed)
    small = compress(net)
    assert isinstance(small, CompressedConvNetwork)
    X = torch.randn(13, 64, generator=torch.Generator().manual_seed(seed))
    _same(small, net, X)
    _same(small, net, X[:1])
    _same(small, net, X.reshape(13, 1, 8, 8))  # images, as SparseCNN takes


def test_dead_channels_go_with_the_next_layers_inputs():
    net = _cnn(0, density=1.0, dead=(0, 2, 5))
    small = compress(net)
    convs = [m for m in small if isinstance(m, CompactConv2d)]
    assert convs[0].out_channels == 3 and convs[1].in_channels == 3
    assert small.removed_units[:3] == [0, 3, 0]
    # The masks are folded into dense kernels: no mask buffer survives.
    assert not any("mask" in name for name, _ in small.named_buffers())
    _same(small, net, torch.randn(7, 64))


def test_unread_channels_are_removed_and_head_features_follow():
    net = _cnn(1, density=1.0, dead=())
    conv2 = net.masked_layers[1]
    mask = conv2.mask.clone()
    mask[:, 4] = 0  # nothing reads channel 4 of the first convolution
    conv2.set_mask(mask)
    head = net.masked_layers[2]
    mask = head.mask.clone()
    mask[:, 2 * 4 : 3 * 4] = 0  # nor channel 2 of the second (2x2 maps: 4 each)
    head.set_mask(mask)
    small = compress(net)
    convs = [m for m in small if isinstance(m, CompactConv2d)]
    assert [c.out_channels for c in convs] == [5, 7]
    assert small.removed_units[:3] == [0, 1, 1]
    _same(small, net, torch.randn(9, 64))


def test_a_zero_kernel_with_a_non_zero_map_is_kept():
    # Sigmoid maps a zero kernel's bias to a non-zero constant map, which
    # the next (padded) convolution reads: the channel must stay.
    net = _cnn(2, density=1.0, dead=(1,), activation="logistic")
    small = compress(net)
    assert [m for m in small if isinstance(m, CompactConv2d)][0].out_channels == 6
    _same(small, net, torch.randn(5, 64))


def test_report_stats_count_convolutions_per_output_position():
    net = _cnn(0, density=1.0, dead=())
    stats = compress(net).source_stats
    conv1, conv2 = net.masked_layers[:2]
    # 8x8 maps at conv 1, 4x4 at conv 2 (same padding, 2x2 pooling between).
    conv_flops = conv1.weight.numel() * 64 + conv2.weight.numel() * 16
    head = linear_stats(net.head)
    assert stats["flops"] == conv_flops + head["flops"]
    assert stats["size"] == (
        conv1.weight.numel() + 6 + conv2.weight.numel() + 8 + head["size"]
    )


class _Traced(nn.Module):
    """A user's module: functional activations, pooling and a view."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, stride=2)
        self.fc = nn.Linear(6 * 3 * 3, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = F.max_pool2d(x, 2)
        x = F.leaky_relu(self.conv2(x), 0.1)
        x = x.view(x.size(0), -1)
        return self.out(F.relu(self.fc(x)))


def test_a_traced_user_module_with_batch_norm_compresses_exactly():
    torch.manual_seed(0)
    module = _Traced()
    with torch.no_grad():
        module.bn.running_mean.normal_()
        module.bn.running_var.uniform_(0.5, 2.0)
        module.bn.weight.uniform_(0.5, 2.0)
        module.conv.weight[1] = 0
        module.bn.bias[1] = -5.0  # dead after the batch norm and ReLU
    module.eval()
    small = compress(module)
    assert [m.out_channels for m in small if isinstance(m, CompactConv2d)] == [3, 6]
    _same(small, module, torch.randn(4, 3, 14, 14), atol=1e-4)
    head_flops = 54 * 8 + 8 * 2
    # Without input_shape: the smallest square whose maps fill the head's 54
    # inputs, 12x12 (-> 10x10 -> 5x5 -> 3x3).
    assert small.source_stats["flops"] == 4 * 27 * 100 + 6 * 36 * 9 + head_flops
    # 14x14 -> 12x12 -> 6x6 -> 3x3 when told.
    told = compress(module, input_shape=(3, 14, 14))
    assert told.source_stats["flops"] == 4 * 27 * 144 + 6 * 36 * 9 + head_flops


def test_a_sequential_of_convolutions_and_a_linear_only_module():
    torch.manual_seed(1)
    seq = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(16, 3),
    ).eval()
    _same(compress(seq), seq, torch.randn(3, 2, 9, 9))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 5), nn.Linear(5, 2)

        def forward(self, x):
            return self.b(torch.tanh(self.a(torch.flatten(x, 1))))

    mlp = MLP().eval()
    small = compress(mlp)
    assert isinstance(small, CompressedNetwork)
    _same(small, mlp, torch.randn(4, 6))


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.b(x + self.a(x))


class _Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return torch.softmax(self.a(x), dim=1)


@pytest.mark.parametrize(
    "module, message",
    [
        (_Residual(), "single chain"),
        (_Odd(), "softmax"),
        (nn.Sequential(nn.Conv2d(1, 2, 3, groups=1, padding_mode="circular")), "zero"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), "flatten"),
    ],
)
def test_what_is_no_chain_is_refused_by_name(module, message):
    with pytest.raises(TypeError, match=message):
        compress(module)


def test_compressed_cnn_file_holds_no_dense_copy(tensor_elements):
    net = _cnn(0, density=0.3)
    small = compress(net, layout="csr")
    stored = sum(layer.n_stored + layer.bias.numel() for layer in small.compact_layers)
    buffer = io.BytesIO()
    joblib.dump(small, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    dense = sum(p.numel() for p in net.parameters())
    # Every tensor element the file holds: kept kernels, CSR values and
    # indices, biases, the head's kept-feature index. No masked network.
    elements = tensor_elements(loaded)
    csr_indices = sum(
        layer.col_indices.numel() + layer.crow_indices.numel()
        for layer in loaded.compact_layers
        if isinstance(layer, CompactLinear) and layer.layout == "csr"
    )
    select = sum(b.numel() for name, b in loaded.named_buffers() if "index" in name)
    assert elements == stored + csr_indices + select
    assert stored < 0.5 * dense
    _same(loaded, net, torch.randn(6, 64))


def test_graph_of_a_compressed_cnn_lacks_exactly_the_removed_units():
    net = _cnn(3, density=0.5, dead=(1, 3))
    small = compress(net)
    full, compact = network_to_graph(net), network_to_graph(small)
    assert compact.number_of_nodes() == full.number_of_nodes() - sum(
        small.removed_units
    )
    assert 0 < compact.number_of_edges() <= full.number_of_edges()


def test_input_shape_sizes_the_flops_and_is_checked():
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
    small = compress(seq.eval(), input_shape=(1, 6, 6))
    assert small.source_stats["flops"] == 2 * 9 * 16 + 32 * 2
    with pytest.raises(ValueError, match="channels"):
        compress(seq, input_shape=(3, 6, 6))


@pytest.mark.parametrize("dead_layer", [0, 1])
def test_a_convolution_whose_every_channel_is_dead(dead_layer):
    # Everything a layer computes is gone: one channel stays (a convolution
    # of no channel cannot run) and the outputs still match, down to the
    # head reading nothing at all when the last convolution is dead.
    torch.manual_seed(0)
    net = SparseCNN((1, 8, 8), (4, 8), (16,), 3).eval()
    conv = net.masked_layers[dead_layer]
    conv.set_mask(torch.zeros_like(conv.mask))
    with torch.no_grad():
        conv.bias.fill_(-1.0)
    small = compress(net)
    convs = [m for m in small if isinstance(m, CompactConv2d)]
    assert convs[dead_layer].out_channels == 1
    X = torch.randn(5, 64)
    _same(small, net, X)
    _same(small, net, X[:1])
    buffer = io.BytesIO()
    joblib.dump(small, buffer)
    buffer.seek(0)
    _same(joblib.load(buffer), net, X)


class _Tutorial(nn.Module):
    """LeNet as tutorials write it: x.view(-1, n) before the head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.fc = nn.Linear(3 * 3 * 3, 4)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(x.view(-1, 3 * 3 * 3))


def test_a_tutorial_view_flattens_and_the_graph_reads_the_inferred_shape():
    torch.manual_seed(0)
    module = _Tutorial().eval()
    small = compress(module)
    assert small.input_shape == (1, 8, 8)  # the smallest square that fits
    _same(small, module, torch.randn(3, 1, 8, 8))
    graph = network_to_graph(small)
    assert graph.number_of_nodes() == 1 + 3 + 4
    # Channel to channel, then channel to unit where any position's weight is
    # non-zero: counted from the weights.
    conv_edges = int((module.conv.weight != 0).any(dim=(2, 3)).sum())
    head_edges = int((module.fc.weight.reshape(4, 3, 9) != 0).any(dim=2).sum())
    assert graph.number_of_edges() == conv_edges + head_edges
