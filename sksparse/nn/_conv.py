"""Masked 2-D convolution: a kernel weight whose mask is 0 is zero and stays zero.

The same design as :class:`~sksparse.nn.MaskedLinear`: the mask is a
persistent buffer of the weight's shape (saved in ``state_dict``, moved by
``.to()``), removed weights are kept exactly zero in the stored weight (a
select, so a NaN there reads as 0) and their gradients are zeroed by a hook,
so the forward pass convolves with the weight itself, with no per-step
``weight * mask`` product.
"""

import torch
from torch import nn

from sksparse.nn._masked import MaskedMixin
from sksparse.nn._mlp import SparseMLP, get_activation

__all__ = ["MaskedConv2d", "SparseCNN", "expand_channel_mask"]


def expand_channel_mask(channel_mask, weight_shape):
    """Tile a channel-to-channel mask over the kernel taps.

    Parameters
    ----------
    channel_mask : array-like of shape (out_channels, in_channels // groups)
        1 where input channel ``j`` feeds output channel ``i``.
    weight_shape : tuple
        The convolution weight's shape ``(out, in // groups, kh, kw)``.

    Returns
    -------
    mask : torch.Tensor of ``weight_shape``

    Examples
    --------
    >>> from sksparse.nn import expand_channel_mask
    >>> expand_channel_mask([[1, 0]], (1, 2, 3, 3)).sum().item()
    9.0
    """
    channel_mask = torch.as_tensor(channel_mask, dtype=torch.float32)
    if tuple(channel_mask.shape) != tuple(weight_shape[:2]):
        raise ValueError(
            f"a channel mask must have shape {tuple(weight_shape[:2])} "
            f"(out_channels, in_channels // groups), got {tuple(channel_mask.shape)}."
        )
    extra = (1,) * (len(weight_shape) - 2)
    return channel_mask.reshape(*channel_mask.shape, *extra).expand(*weight_shape)


class MaskedConv2d(MaskedMixin, nn.Conv2d):
    """A :class:`torch.nn.Conv2d` whose kernel weights are chosen by a 0/1 mask.

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
    padding_mode, device, dtype
        As for :class:`torch.nn.Conv2d`.
    mask : array-like, default=None
        Either the weight's shape ``(out, in // groups, kh, kw)``
        (unstructured), or ``(out, in // groups)``: a channel mask, tiled over
        the kernel taps, so a connection between two channels is kept or
        removed whole. ``None`` keeps all.

    Attributes
    ----------
    mask : torch.Tensor of the weight's shape
        Persistent float buffer of 0 and 1.

    Notes
    -----
    Initialisation is Kaiming-uniform over the *kept* fan-in of each output
    channel, as :class:`~sksparse.nn.MaskedLinear` does, so a sparse layer
    starts with the activation scale of a dense one. After changing a mask
    during training, call :func:`~sksparse.nn.clear_optimizer_state`.

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import MaskedConv2d
    >>> conv = MaskedConv2d(2, 3, 3, padding=1, mask=[[1, 0], [0, 1], [1, 1]])
    >>> conv.n_nonzero, round(conv.sparsity, 2)
    (36, 0.33)
    >>> conv(torch.zeros(1, 2, 5, 5)).shape
    torch.Size([1, 3, 5, 5])
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        mask=None,
        device=None,
        dtype=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
            device=device,
            dtype=dtype,
        )
        self.register_buffer("mask", torch.ones_like(self.weight, dtype=torch.float32))
        if mask is not None:
            self.set_mask(mask)
        self.reset_parameters()

    @torch.no_grad()
    def set_mask(self, mask):
        """Replace the mask in place (a weight-shaped or a channel mask).

        Parameters
        ----------
        mask : array-like or torch.Tensor
            Of the weight's shape, or ``(out_channels, in_channels // groups)``.

        Returns
        -------
        self
        """
        mask = torch.as_tensor(mask)
        if mask.ndim == 2:
            mask = expand_channel_mask(mask, self.weight.shape)
        return super().set_mask(mask)

    @property
    def channel_mask(self):
        """Boolean ``(out, in // groups)``: which channel connections exist."""
        return self.mask.flatten(2).any(dim=2)

    def reset_parameters(self):
        if not hasattr(self, "mask"):
            super().reset_parameters()
            return
        with torch.no_grad():
            fan_in = self.mask.flatten(1).sum(dim=1).clamp(min=1)
            bound = 1.0 / torch.sqrt(fan_in)
            shape = (-1,) + (1,) * (self.weight.ndim - 1)
            self.weight.uniform_(-1.0, 1.0).mul_(bound.reshape(shape))
            if self.bias is not None:
                self.bias.uniform_(-1.0, 1.0).mul_(bound)
        self.apply_mask()

    def forward(self, input):
        if self._mask_is_full():
            return self._conv_forward(input, self.weight, self.bias)
        return self._conv_forward(input, self._masked_weight(), self.bias)

    def extra_repr(self):
        return f"{super().extra_repr()}, density={self.density:.3f}"


def _pool_size(h, w):
    """2x2 pooling, along a side only where it is still at least 2 long."""
    return (2 if h >= 2 else 1, 2 if w >= 2 else 1)


class SparseCNN(nn.Module):
    """A small convolutional network of masked convolutions and a masked head.

    ``len(channels)`` blocks of *convolution (same padding) -> activation ->
    2x2 max-pooling* (pooling only along a side still at least 2 long), then a
    :class:`~sksparse.nn.SparseMLP` head on the flattened maps.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one image. Inputs may be given flat,
        ``(n, C * H * W)``, or as images ``(n, C, H, W)``.
    channels : sequence of int
        Output channels of each convolution.
    hidden_layer_sizes : sequence of int
        Widths of the head's hidden layers.
    n_outputs : int
    kernel_size : int, default=3
    conv_masks : sequence, default=None
        One mask per convolution (weight-shaped or a channel mask
        ``(out, in)``), ``None`` entries dense.
    head_masks : sequence, default=None
        One mask per head layer (``len(hidden_layer_sizes) + 1``), as for
        :class:`~sksparse.nn.SparseMLP`.
    activation : str or nn.Module class, default="relu"

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import SparseCNN
    >>> net = SparseCNN((1, 8, 8), (4, 8), (16,), 10)
    >>> net(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape,
        channels,
        hidden_layer_sizes,
        n_outputs,
        kernel_size=3,
        conv_masks=None,
        head_masks=None,
        activation="relu",
    ):
        super().__init__()
        c, h, w = (int(v) for v in input_shape)
        if min(c, h, w) < 1:
            raise ValueError(f"input_shape must be positive, got {input_shape}.")
        channels = [int(v) for v in channels]
        if conv_masks is None:
            conv_masks = [None] * len(channels)
        if len(conv_masks) != len(channels):
            raise ValueError(
                f"conv_masks must hold one mask per convolution ({len(channels)}), "
                f"got {len(conv_masks)}."
            )
        self.input_shape = (c, h, w)
        blocks = []
        for out, mask in zip(channels, conv_masks):
            blocks.append(
                MaskedConv2d(c, out, kernel_size, padding=kernel_size // 2, mask=mask)
            )
            blocks.append(get_activation(activation))
            pool = _pool_size(h, w)
            if pool != (1, 1):
                blocks.append(nn.MaxPool2d(pool))
                h, w = h // pool[0], w // pool[1]
            c = out
        self.features = nn.Sequential(*blocks)
        self.n_flat = c * h * w
        self.head = SparseMLP(
            self.n_flat,
            hidden_layer_sizes,
            n_outputs,
            masks=head_masks,
            activation=activation,
        )

    @staticmethod
    def n_flat_features(input_shape, channels):
        """Size of the flattened feature maps the head reads.

        Examples
        --------
        >>> from sksparse.nn import SparseCNN
        >>> SparseCNN.n_flat_features((3, 32, 32), (16, 32))
        2048
        """
        _, h, w = (int(v) for v in input_shape)
        for _ in channels:
            ph, pw = _pool_size(h, w)
            h, w = h // ph, w // pw
        return int(channels[-1]) * h * w if len(channels) else 0

    @property
    def masked_layers(self):
        """The masked convolutions, then the head's masked linear layers."""
        convs = [m for m in self.features if isinstance(m, MaskedConv2d)]
        return convs + self.head.masked_layers

    def forward(self, X):
        X = X.reshape(X.shape[0], *self.input_shape)
        return self.head(self.features(X).flatten(1))
