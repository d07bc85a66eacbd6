"""Compact inference form of convolutional chains: dead channels out, masks folded.

A chain is what :func:`chain_of` reads from a model: ``nn.Sequential``,
:class:`~sksparse.nn.SparseCNN`, or any module that ``torch.fx`` traces to a
single line of Linear/Conv2d layers, element-wise activations, pooling,
dropout, flatten and reshape. :func:`compress_chain` turns a chain with
convolutions into a :class:`CompressedConvNetwork`:

1. each convolution's mask is multiplied into its weight once (no mask is
   stored, no ``weight * mask`` product per call) and a batch norm after it
   folded into its weight and bias;
2. an output channel whose kernels are all zero and whose bias maps to zero
   through the activation (so its map is zero everywhere) is removed, with
   the matching input channels of the next convolution (or the features of
   the head's first layer); a channel no later weight reads is removed too;
3. the linear head goes through :func:`~sksparse.nn.compress`'s neuron
   removal and dense/CSR layout choice.

Convolutions stay dense (the mask folded in). ``F.unfold`` (im2col) + numba
CSR was measured against the bias-folded ``F.conv2d`` (medians of 40 calls
in thread CPU time, one thread, 2-core AMD EPYC, torch 2.14, 3x3 kernels,
same padding). It lost at every batch-256 and batch-64 setting: 1->16
channels on 8x8 maps at density 0.1, 0.66 against 0.55 ms; 16->32 on 4x4 at
0.1, 4.8 against 0.57 ms; 16->32 on 16x16 at 0.05, 75 against 9.5 ms;
32->64 on 16x16 at 0.02 (batch 64), 46 against 11 ms. It won only at batch
1 on the sparsest layer (32->64 on 16x16 at 0.02: 171 against 203 us) and
lost there too on 16->32 on 4x4 (43 against 15 us). The unfold copy alone
costs more than the dense convolution at batch 256; a layout that loses 4x
at throughput for 1.2x at latency is not kept (the rule the linear layers
follow: sparse only where faster at both). Unfold + dense GEMM lost as well
(1->16 on 8x8, batch 256: 0.77 against 0.35 ms).
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from sksparse.nn._chain import _IDENTITY, _POOLS, _Reshape, _Select, chain_of
from sksparse.nn._packing import pack_buffers, pack_sparse_dense
from sksparse.nn._stages import (
    _effective_weight,
    _is_elementwise,
)

__all__ = ["CompactConv2d", "CompressedConvNetwork", "chain_of"]


class CompactConv2d(nn.Module):
    """An inference-only 2-D convolution: mask and batch norm folded in, dense.

    Parameters
    ----------
    weight : torch.Tensor of shape (out_channels, in_channels, kh, kw)
    bias : torch.Tensor of shape (out_channels,)
    stride, padding, dilation
        As for :class:`torch.nn.Conv2d` (zero padding).

    Attributes
    ----------
    nnz : int
        Number of non-zero kernel weights.
    n_stored : int
        Number of kernel weights stored (the dense kernel of the kept
        channels).
    n_positions : int
        Output positions per sample (``h * w``) in the network it was made
        for; each applies every stored weight once.
    """

    layout = "dense"

    def __init__(self, weight, bias, stride=1, padding=0, dilation=1):
        super().__init__()
        weight = weight.detach()
        self.out_channels, self.in_channels = (int(n) for n in weight.shape[:2])
        self.kernel_size = tuple(int(k) for k in weight.shape[2:])
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = 1
        self.n_positions = 1
        self.register_buffer("weight", weight.clone().contiguous())
        self.register_buffer("bias", bias.detach().to(weight.dtype).clone())

    @property
    def nnz(self):
        return int(torch.count_nonzero(self.weight))

    @property
    def n_stored(self):
        return self.weight.numel()

    def __getstate__(self):
        # The file grows with the non-zeros, as CompactLinear's does: the
        # kernels are packed as an (out, in * kh * kw) matrix by their
        # non-zeros where that is smaller, and reshaped back on load.
        state = super().__getstate__().copy()

        def pack(name, tensor):
            if name != "weight":
                return tensor
            return pack_sparse_dense(tensor.reshape(tensor.shape[0], -1))

        return pack_buffers(state, pack)

    def __setstate__(self, state):
        super().__setstate__(state)
        weight = self._buffers["weight"]
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        if tuple(weight.shape) != shape:
            self._buffers["weight"] = weight.reshape(shape)

    def forward(self, x):
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation
        )

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, nnz={self.nnz}"
        )


class CompressedConvNetwork(nn.Sequential):
    """A convolutional chain in compact inference form (see :func:`compress`).

    An ``nn.Sequential`` of :class:`CompactConv2d`, activations and pooling,
    a flatten, the kept features of the maps, and the compact linear head
    (:class:`CompactLinear` layers and activations). Inference only: the
    forward pass runs without autograd.

    Attributes
    ----------
    input_shape : tuple of int
        One image's ``(channels, height, width)``: given to :func:`compress`,
        a :class:`SparseCNN`'s own, or the smallest square that fills the
        head. Flat inputs are reshaped to it where the source network
        reshaped them.
    removed_units : list of int
        Channels removed from each convolution's output (the image's
        channels first, always 0), then neurons removed from each head layer.
    source_stats : dict
        Sizes and FLOPs (ShrinkBench's) of the network it was made from.
    """

    def __init__(self, *modules, input_shape=None):
        super().__init__(*modules)
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.removed_units = []
        self.source_stats = {}

    @property
    def compact_layers(self):
        """The stored layers: convolutions, then the head's linear layers."""
        layers = []
        for module in self:
            if hasattr(module, "reads"):  # a branching head kept whole
                layers.extend(module.layers)
            elif hasattr(module, "n_stored"):
                layers.append(module)
        return layers

    @property
    def nnz(self):
        return sum(layer.nnz for layer in self.compact_layers)

    def forward(self, X):
        with torch.no_grad():
            for module in self:
                X = module(X)
            return X


# -- compressing a chain with convolutions --------------------------------------
def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(module, h, w):
    """Spatial size after ``module`` (convolutions and pooling), analytically."""
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        size = _pair(module.output_size)
        return (size[0] or h, size[1] or w)
    if isinstance(module, (nn.Conv2d, CompactConv2d)):
        k, s, p, d = (
            _pair(module.kernel_size),
            _pair(module.stride),
            _pair(module.padding),
            _pair(module.dilation),
        )
        ceil = False
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _pair(module.kernel_size)
        s = _pair(module.stride if module.stride is not None else module.kernel_size)
        p = _pair(module.padding)
        d = _pair(getattr(module, "dilation", 1))
        ceil = bool(module.ceil_mode)
    else:
        return h, w
    out = []
    for n, ki, si, pi, di in zip((h, w), k, s, p, d):
        span = (n + 2 * pi - di * (ki - 1) - 1) / si + 1
        out.append(int(math.ceil(span) if ceil else math.floor(span)))
    return tuple(out)


class _Block:
    """One convolution (mask and batch norm folded) and the maps after it."""

    def __init__(self, conv):
        if conv.groups != 1 or conv.padding_mode != "zeros":
            raise TypeError(
                "compress handles convolutions with groups=1 and zero padding; "
                f"got groups={conv.groups}, padding_mode={conv.padding_mode!r}."
            )
        if isinstance(conv.padding, str):
            raise TypeError(
                f"compress needs numeric padding, got padding={conv.padding!r}."
            )
        self.conv = conv
        self.weight, self.bias = _effective_weight(conv)
        self.post = []

    def fold_batch_norm(self, bn):
        if bn.running_mean is None:
            raise TypeError(
                "compress folds BatchNorm2d with running statistics only "
                "(track_running_stats=True)."
            )
        scale = (bn.running_var.detach().cpu() + bn.eps).rsqrt()
        shift = -bn.running_mean.detach().cpu() * scale
        if bn.affine:
            scale = scale * bn.weight.detach().cpu()
            shift = shift * bn.weight.detach().cpu() + bn.bias.detach().cpu()
        scale, shift = scale.to(self.weight.dtype), shift.to(self.weight.dtype)
        self.weight = self.weight * scale.reshape(-1, 1, 1, 1)
        self.bias = self.bias * scale + shift

    def zero_maps(self):
        """Output channels whose maps are zero everywhere, whatever the input."""
        dead = ~(self.weight.flatten(1) != 0).any(dim=1)
        value = self.bias.clone()
        known = True  # the map is still the constant `value` everywhere
        for module in self.post:
            if _is_elementwise(module):
                with torch.no_grad():
                    value = module(value)
            elif isinstance(module, nn.AvgPool2d) and _pair(module.padding) != (0, 0):
                known = bool((value == 0).all()) and known
        return dead & (value == 0) if known else dead & torch.zeros_like(dead)


def _split(chain):
    """(reshape or None, conv blocks, tail of linear modules) of a conv chain."""
    reshape = None
    items = list(chain)
    if items and isinstance(items[0], _Reshape):
        reshape = items.pop(0)
    blocks, pending_bn = [], True
    for i, sub in enumerate(items):
        if isinstance(sub, nn.Flatten):
            if sub.start_dim != 1 or sub.end_dim != -1:
                raise TypeError("compress handles nn.Flatten(1, -1) only.")
            if not blocks:
                raise TypeError("compress found a flatten before any convolution.")
            return reshape, blocks, items[i + 1 :]
        if isinstance(sub, nn.Conv2d):
            blocks.append(_Block(sub))
            pending_bn = True
        elif isinstance(sub, _IDENTITY):
            continue
        elif not blocks:
            raise TypeError(
                "compress needs a convolution before any other module, "
                f"got {type(sub).__name__} first."
            )
        elif isinstance(sub, nn.BatchNorm2d) and pending_bn:
            blocks[-1].fold_batch_norm(sub)
        elif _is_elementwise(sub) or isinstance(sub, _POOLS):
            blocks[-1].post.append(copy.deepcopy(sub).eval())
            pending_bn = False
        else:
            raise TypeError(
                "compress handles chains of Conv2d, BatchNorm2d, element-wise "
                "activations, pooling and dropout, then a flatten and linear "
                f"layers; cannot compress {type(sub).__name__} between them."
            )
    raise TypeError(
        "compress needs a flatten between the convolutions and the linear "
        "layers (nn.Flatten, torch.flatten(x, 1) or x.view(len(x), -1))."
    )


def _spatial_sizes(blocks, h, w):
    """Output (h, w) of each convolution and the size at the flatten."""
    sizes = []
    for block in blocks:
        h, w = _out_size(block.conv, h, w)
        sizes.append((h, w))
        for module in block.post:
            h, w = _out_size(module, h, w)
    return sizes, (h, w)


def _input_size(blocks, n_flat, input_shape):
    """The input image's (h, w): given, or the smallest square that fits."""
    if input_shape is not None:
        return tuple(int(s) for s in input_shape[-2:])
    channels = blocks[-1].weight.shape[0]
    for side in range(1, 1025):
        _, (h, w) = _spatial_sizes(blocks, side, side)
        if h > 0 and w > 0 and channels * h * w == n_flat:
            return side, side
    raise ValueError(
        "compress cannot tell the input image size from the layers; pass "
        "input_shape=(channels, height, width)."
    )


def compress_chain(chain, compress_linear, *, input_shape=None):
    """Compress a chain with convolutions (see the module docstring).

    ``compress_linear(nn.Sequential)`` compresses the linear head (the
    :func:`compress` of the linear layers, with the caller's layout choices).
    """
    reshape, blocks, tail = _split(chain)
    linears = [m for m in tail if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError("compress found no nn.Linear layer after the flatten.")
    if input_shape is None and reshape is not None:
        input_shape = reshape.shape
    head_weight, head_bias = _effective_weight(linears[0])
    n_flat = head_weight.shape[1]
    h, w = _input_size(blocks, n_flat, input_shape)
    if input_shape is None:
        input_shape = (blocks[0].weight.shape[1], h, w)
    conv_sizes, (fh, fw) = _spatial_sizes(blocks, h, w)
    positions = fh * fw
    if blocks[-1].weight.shape[0] * positions != n_flat:
        raise ValueError(
            f"the head reads {n_flat} features but the last convolution gives "
            f"{blocks[-1].weight.shape[0]} channels of {fh}x{fw}."
        )
    if input_shape is not None and len(input_shape) == 3:
        if int(input_shape[0]) != blocks[0].weight.shape[1]:
            raise ValueError(
                f"input_shape has {input_shape[0]} channels, the first "
                f"convolution reads {blocks[0].weight.shape[1]}."
            )
    stats = _conv_stats(blocks, conv_sizes, tail)

    # Forward: a channel whose map is zero contributes nothing downstream.
    zero = torch.zeros(blocks[0].weight.shape[1], dtype=torch.bool)
    for block in blocks:
        block.weight[:, zero] = 0
        zero = block.zero_maps()
    head_weight[:, zero.repeat_interleave(positions)] = 0
    first = nn.Linear(n_flat, head_weight.shape[0]).eval()
    with torch.no_grad():
        first.weight.copy_(head_weight)
        first.bias.copy_(head_bias)
    rest = list(tail)
    rest[rest.index(linears[0])] = first
    head = compress_linear(nn.Sequential(*rest))

    # Backward: a channel is kept if a kept weight reads it.
    kept_features = head.input_features
    if kept_features is None:
        kept_features = torch.arange(n_flat)
    keep = torch.zeros(blocks[-1].weight.shape[0], dtype=torch.bool)
    keep[kept_features // positions] = True
    keeps = [_at_least_one(keep)]
    for block in reversed(blocks[1:]):
        used = (block.weight[keeps[0]] != 0).any(dim=(0, 2, 3))
        keeps.insert(0, _at_least_one(used))
    keeps.insert(0, torch.ones(blocks[0].weight.shape[1], dtype=torch.bool))

    modules = [] if reshape is None else [_Reshape(reshape.shape)]
    for i, block in enumerate(blocks):
        conv = block.conv
        weight = block.weight[keeps[i + 1]][:, keeps[i]]
        compact = CompactConv2d(
            weight, block.bias[keeps[i + 1]], conv.stride, conv.padding, conv.dilation
        )
        compact.n_positions = conv_sizes[i][0] * conv_sizes[i][1]
        modules.append(compact)
        modules.extend(block.post)
    modules.append(nn.Flatten())
    keep = keeps[-1]
    rank = torch.cumsum(keep.long(), 0) - 1
    new_index = rank[kept_features // positions] * positions + (
        kept_features % positions
    )
    n_kept = int(keep.sum()) * positions
    selected = not torch.equal(new_index, torch.arange(n_kept))
    head_modules = _head_modules(head)
    if head_modules == [head]:  # kept whole: it selects its own features
        head.n_features_in = n_kept
        head._buffers.pop("input_features", None)
        head.__dict__.pop("input_features", None)
        if selected:
            head.register_buffer("input_features", new_index)
        else:
            head.input_features = None
    elif selected:
        modules.append(_Select(new_index))
    modules.extend(head_modules)
    net = CompressedConvNetwork(*modules, input_shape=input_shape)
    net.removed_units = [int((~k).sum()) for k in keeps] + list(head.removed_units[1:])
    net.source_stats = stats
    return net.eval()


def _at_least_one(keep):
    """``keep``, or its first channel where it keeps none.

    A convolution of no output channel cannot run; one channel no kept weight
    reads (or whose map is zero) changes no output.
    """
    if not keep.any():
        keep = keep.clone()
        keep[0] = True
    return keep


def _head_modules(head):
    """A compressed linear chain as modules in a row, or itself if it branches."""
    chain = all(reads == (i,) for i, reads in enumerate(head.reads))
    if not chain or head.layers[0].in_features == 0:
        return [head]
    out = []
    for layer, act, has_act in zip(head.layers, head.activations, head.has_activation):
        out.append(layer)
        if has_act:
            out.append(act)
    return out


def _conv_stats(blocks, conv_sizes, tail):
    """ShrinkBench's size and FLOPs of the source network, convolutions included."""
    from sksparse.nn._compact import linear_stats

    stats = linear_stats(nn.Sequential(*[m for m in tail if isinstance(m, nn.Linear)]))
    for block, (h, w) in zip(blocks, conv_sizes):
        weight = block.weight
        nz = int(weight.count_nonzero())
        stats["size"] += weight.numel()
        stats["size_nz"] += nz
        stats["flops"] += weight.numel() * h * w
        stats["flops_nz"] += nz * h * w
        if block.conv.bias is not None:
            stats["size"] += block.bias.numel()
            stats["size_nz"] += int(block.conv.bias.detach().count_nonzero())
    return stats
