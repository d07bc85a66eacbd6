"""Masked layers: a weight whose mask is 0 is zero and stays zero.

The mask is a persistent buffer (saved in ``state_dict``, moved by ``.to()``),
never a ``torch.nn.utils.prune`` re-parametrisation: modules pruned that way
cannot be deep-copied, change their state-dict keys and compound repeated
prunes.
"""

import torch
from torch import nn
from torch.nn import functional as F

from sksparse.nn._packing import pack_buffers, pack_mask

__all__ = ["MaskedLinear", "MaskedMixin", "clear_optimizer_state"]


def _check_mask(mask, shape, name="mask"):
    """Return ``mask`` as a float tensor of ``shape`` with 0/1 entries."""
    mask = torch.as_tensor(mask)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have the weight's shape {tuple(shape)}, "
            f"got {tuple(mask.shape)}."
        )
    if mask.dtype != torch.bool:
        if not torch.all((mask == 0) | (mask == 1)):
            raise ValueError(f"{name} must hold only 0 and 1.")
    return mask.to(torch.float32)


class MaskedMixin:
    """Shared mask bookkeeping for layers with one masked ``weight``.

    Subclasses register a buffer ``mask`` of the weight's shape.
    """

    @torch.no_grad()
    def set_mask(self, mask):
        """Replace the mask in place and zero the weights it removes.

        The buffer object is kept (``copy_``), so optimizers, hooks and
        devices that refer to it keep working.

        Parameters
        ----------
        mask : array-like or torch.Tensor of the weight's shape
            1 keeps a connection, 0 removes it.

        Returns
        -------
        self
        """
        mask = _check_mask(mask, self.weight.shape)
        self.mask.copy_(mask.to(self.mask.device))
        self.weight.mul_(self.mask)
        return self

    @torch.no_grad()
    def apply_mask(self):
        """Zero every weight whose mask is 0 (idempotent)."""
        self.weight.mul_(self.mask)
        return self

    def __getstate__(self):
        # The mask goes into a pickle as bits (1/32 of its float32 bytes); it
        # is rebuilt as the same float buffer on load (sksparse.nn._packing).
        state = dict(super().__getstate__())
        # The full-mask cache is keyed on a data pointer, which a new process
        # may reuse: let the loaded layer compute it afresh.
        state.pop("_full_key", None)
        state.pop("_full", None)
        return pack_buffers(
            state, lambda name, t: pack_mask(t) if name == "mask" else t
        )

    @property
    def n_nonzero(self):
        """Number of connections the mask keeps."""
        return int(self.mask.count_nonzero())

    @property
    def density(self):
        """Fraction of the weight's entries the mask keeps."""
        return self.n_nonzero / self.mask.numel()

    @property
    def sparsity(self):
        """Fraction of the weight's entries the mask removes."""
        return 1.0 - self.density


class MaskedLinear(MaskedMixin, nn.Linear):
    """A :class:`torch.nn.Linear` whose connections are chosen by a 0/1 mask.

    Parameters
    ----------
    in_features : int
        Size of each input sample.
    out_features : int
        Size of each output sample.
    bias : bool, default=True
        Whether the layer learns an additive bias (biases are never masked).
    mask : array-like of shape (out_features, in_features), default=None
        1 keeps a connection, 0 removes it. ``None`` keeps all.
    device, dtype : optional
        As for :class:`torch.nn.Linear`.

    Attributes
    ----------
    mask : torch.Tensor of shape (out_features, in_features)
        Persistent float buffer of 0 and 1.

    Notes
    -----
    The forward pass uses ``weight * mask``, so the gradient of a removed
    weight is exactly zero, and the weight itself is zeroed whenever the mask
    changes. With zero gradients, SGD (with momentum and weight decay), Adam
    and AdamW leave a zero weight at zero, provided the optimizer holds no
    state for it from before it was masked: after changing a mask mid-training
    call :func:`clear_optimizer_state` (sksparse's pruning callbacks do).

    Initialisation is rescaled to the mask's fan-in, so a sparse layer starts
    with the activation variance of a dense one (Evci et al. 2020 do the same).

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import MaskedLinear
    >>> layer = MaskedLinear(3, 2, mask=torch.tensor([[1, 0, 1], [0, 1, 0]]))
    >>> layer.n_nonzero, round(layer.sparsity, 2)
    (3, 0.5)
    >>> bool((layer.weight[layer.mask == 0] == 0).all())
    True
    """

    def __init__(
        self, in_features, out_features, bias=True, mask=None, device=None, dtype=None
    ):
        super().__init__(
            in_features, out_features, bias=bias, device=device, dtype=dtype
        )
        self.register_buffer(
            "mask", torch.ones(out_features, in_features, device=device)
        )
        if mask is not None:
            self.set_mask(mask)
        self.reset_parameters()

    def reset_parameters(self):
        # Kaiming-uniform over the *kept* fan-in: a neuron with 3 of 300 inputs
        # would otherwise start with a vanishing pre-activation.
        if not hasattr(self, "mask"):
            super().reset_parameters()
            return
        with torch.no_grad():
            fan_in = self.mask.sum(dim=1, keepdim=True).clamp(min=1)
            bound = 1.0 / torch.sqrt(fan_in)
            self.weight.uniform_(-1.0, 1.0).mul_(bound).mul_(self.mask)
            if self.bias is not None:
                self.bias.uniform_(-1.0, 1.0).mul_(bound.squeeze(1))

    def forward(self, input):
        if self._mask_is_full():
            # A full mask removes nothing: skip the product (and its copy and
            # its backward), so a dense MaskedLinear costs what nn.Linear does.
            return F.linear(input, self.weight, self.bias)
        return F.linear(input, self.weight * self.mask, self.bias)

    def _mask_is_full(self):
        # Cached on the buffer's identity and version counter: every in-place
        # change (set_mask, load_state_dict, a pruner's copy_) bumps _version,
        # and .to()/deepcopy make a new tensor, so the cache cannot go stale.
        key = (self.mask.data_ptr(), self.mask._version)
        if key != getattr(self, "_full_key", None):
            self._full = bool(self.mask.all())
            self._full_key = key
        return self._full

    def extra_repr(self):
        return f"{super().extra_repr()}, density={self.density:.3f}"


def clear_optimizer_state(optimizer, module):
    """Zero optimizer state (momentum, Adam moments) of masked-out weights.

    Call it after a mask changes during training, so that stale momentum
    cannot move a removed weight away from zero.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    module : torch.nn.Module
        Every sub-module with a ``mask`` buffer and a ``weight`` is handled,
        and every ``(weight, mask)`` pair a sub-module's
        ``masked_parameters()`` yields (masked recurrent layers).
    """
    for sub in module.modules():
        for weight, mask in _masked_parameters(sub):
            state = optimizer.state.get(weight)
            if not state:
                continue
            for value in state.values():
                if isinstance(value, torch.Tensor) and value.shape == mask.shape:
                    value.mul_(mask.to(value.dtype))


def _masked_parameters(sub):
    """``(weight, mask)`` pairs of one module, not of its children.

    Layers with several masked matrices (the masked recurrent layers) list
    them in ``masked_parameters()``; others have one ``weight`` and ``mask``.
    """
    if hasattr(sub, "masked_parameters"):
        return list(sub.masked_parameters())
    mask = getattr(sub, "mask", None)
    if mask is None or not isinstance(mask, torch.Tensor):
        return []
    return [(sub.weight, mask)]
