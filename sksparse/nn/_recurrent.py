"""Masked recurrent layers (vanilla RNN, GRU, LSTM) on torch's fused kernels.

Each layer *is* a :class:`torch.nn.RNN`, :class:`torch.nn.GRU` or
:class:`torch.nn.LSTM` (same parameters, same state-dict keys) with two extra
persistent buffers per layer, ``ih_mask_l{k}`` and ``hh_mask_l{k}``. The
forward pass multiplies every weight matrix by its mask once and hands the
masked weights to the fused kernel torch itself calls, so the time loop runs
in C++, not in Python (see ``benchmarks/rnn_structure.py --timing`` for the
measurement against a dense ``nn.LSTM`` and a Python-loop masked cell).

Gates are stacked in torch's order, as row blocks of ``hidden_size`` rows:
``[i; f; g; o]`` for the LSTM, ``[r; z; n]`` for the GRU. A structure mask of
shape ``(hidden_size, n_inputs)`` is tiled block-wise over the gates (one copy
per block, never interleaved row by row), so each gate of a unit sees the same
connections, whatever the gate.
"""

import math

import networkx as nx
import numpy as np
import torch
from torch import nn

from sksparse.nn._masked import _check_mask, select_kept, zero_removed_
from sksparse.nn._packing import pack_buffers, pack_mask

__all__ = ["MaskedGRU", "MaskedLSTM", "MaskedRNN", "tile_gates"]


def tile_gates(mask, n_gates):
    """Repeat a unit-level mask once per gate, as torch stacks the gates.

    Parameters
    ----------
    mask : array-like or torch.Tensor of shape (hidden_size, n_inputs)
        1 keeps the connection from input ``j`` to hidden unit ``i``.
    n_gates : int
        Number of gate blocks: 1 (RNN), 3 (GRU, ``[r; z; n]``) or 4 (LSTM,
        ``[i; f; g; o]``).

    Returns
    -------
    torch.Tensor of shape (n_gates * hidden_size, n_inputs)
        Block ``g`` (rows ``g * hidden_size`` to ``(g + 1) * hidden_size``) is
        a copy of ``mask``.

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import tile_gates
    >>> tile_gates(torch.tensor([[1, 0], [0, 1]]), 2).tolist()
    [[1, 0], [0, 1], [1, 0], [0, 1]]
    """
    mask = torch.as_tensor(mask)
    return mask.repeat(n_gates, 1)


def _as_mask_list(masks, num_layers, name):
    """Turn ``masks`` (None, one mask, or one per layer) into a list."""
    if masks is None:
        return [None] * num_layers
    if isinstance(masks, (torch.Tensor, np.ndarray)):
        if num_layers != 1:
            raise ValueError(
                f"{name} must be a list of {num_layers} masks (one per layer), "
                "got a single array."
            )
        return [masks]
    masks = list(masks)
    if len(masks) != num_layers:
        raise ValueError(
            f"{name} must hold one mask per layer ({num_layers}), got {len(masks)}."
        )
    return masks


class MaskedRecurrentMixin:
    """Mask bookkeeping shared by :class:`MaskedRNN`, GRU and LSTM.

    Not used on its own: it is mixed into a :class:`torch.nn.RNNBase`
    subclass and registers the buffers ``ih_mask_l{k}`` and ``hh_mask_l{k}``.
    """

    #: Names of the gate blocks, in torch's order.
    gates = ()
    #: Keyword arguments of the torch cell that this class passes on.
    _cell_params = ()

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        *,
        bias=True,
        batch_first=True,
        dropout=0.0,
        ih_masks=None,
        hh_masks=None,
        device=None,
        dtype=None,
        **cell_kwargs,
    ):
        # ``cell_kwargs``: what one cell type adds (nn.RNN's nonlinearity);
        # anything else torch takes (bidirectional, proj_size) has no masks.
        unknown = sorted(set(cell_kwargs) - set(self._cell_params))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword arguments {unknown}; "
                "masked recurrent layers are unidirectional and unprojected."
            )
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            device=device,
            dtype=dtype,
            **cell_kwargs,
        )
        self._init_masks(ih_masks, hh_masks, device)

    def _init_masks(self, ih_masks, hh_masks, device):
        rows = len(self.gates) * self.hidden_size
        for k in range(self.num_layers):
            n_in = self.input_size if k == 0 else self.hidden_size
            self.register_buffer(f"ih_mask_l{k}", torch.ones(rows, n_in, device=device))
            self.register_buffer(
                f"hh_mask_l{k}", torch.ones(rows, self.hidden_size, device=device)
            )
        self.set_masks(ih_masks, hh_masks, reset=True)

    def __getstate__(self):
        # Masks go into a pickle as bits and load as the same float buffers.
        state = dict(super().__getstate__())
        return pack_buffers(
            state,
            lambda name, t: pack_mask(t)
            if name.startswith(("ih_mask_", "hh_mask_"))
            else t,
        )

    # -- masks ---------------------------------------------------------------
    @property
    def ih_masks(self):
        """Input-to-hidden masks, one ``(n_gates * hidden_size, n_in)`` per layer."""
        return [getattr(self, f"ih_mask_l{k}") for k in range(self.num_layers)]

    @property
    def hh_masks(self):
        """Hidden-to-hidden masks, one ``(n_gates * hidden_size, hidden_size)``."""
        return [getattr(self, f"hh_mask_l{k}") for k in range(self.num_layers)]

    def _gate_mask(self, mask, weight, name):
        """Check ``mask`` against ``weight``; tile a unit-level mask over gates."""
        mask = torch.as_tensor(mask)
        if mask.ndim == 2 and mask.shape[0] == self.hidden_size != weight.shape[0]:
            mask = tile_gates(mask, len(self.gates))
        return _check_mask(mask, weight.shape, name)

    @torch.no_grad()
    def set_masks(self, ih_masks=None, hh_masks=None, *, reset=False):
        """Replace masks in place and zero the weights they remove.

        Parameters
        ----------
        ih_masks, hh_masks : list of array-like, default=None
            One mask per layer (``None`` entries, or ``None`` for the whole
            list, leave a mask unchanged). A mask of shape
            ``(hidden_size, n_in)`` is a unit-level structure and is tiled
            over the gates with :func:`tile_gates`; a mask of shape
            ``(n_gates * hidden_size, n_in)`` gives each gate its own.
        reset : bool, default=False
            Draw fresh initial weights for the new masks (see Notes of the
            layer classes).

        Returns
        -------
        self
        """
        ih_masks = _as_mask_list(ih_masks, self.num_layers, "ih_masks")
        hh_masks = _as_mask_list(hh_masks, self.num_layers, "hh_masks")
        for k, (ih, hh) in enumerate(zip(ih_masks, hh_masks)):
            for kind, new in (("ih", ih), ("hh", hh)):
                if new is None:
                    continue
                buffer = getattr(self, f"{kind}_mask_l{k}")
                weight = getattr(self, f"weight_{kind}_l{k}")
                new = self._gate_mask(new, weight, f"{kind}_masks[{k}]")
                buffer.copy_(new.to(buffer.device))
        if reset:
            self.reset_parameters()
        else:
            self.apply_mask()
        return self

    def masked_parameters(self):
        """Yield ``(weight, mask)`` for every masked weight matrix.

        The order is torch's: ``weight_ih_l0, weight_hh_l0, weight_ih_l1, ...``.
        Used by :func:`~sksparse.nn.clear_optimizer_state` and pruners.
        """
        for k in range(self.num_layers):
            yield getattr(self, f"weight_ih_l{k}"), getattr(self, f"ih_mask_l{k}")
            yield getattr(self, f"weight_hh_l{k}"), getattr(self, f"hh_mask_l{k}")

    @torch.no_grad()
    def apply_mask(self):
        """Zero every weight whose mask is 0 (idempotent)."""
        for weight, mask in self.masked_parameters():
            zero_removed_(weight, mask)  # a select: NaN at a removed entry -> 0
        return self

    @property
    def n_nonzero(self):
        """Number of recurrent connections (gate entries) the masks keep."""
        return sum(int(m.count_nonzero()) for _, m in self.masked_parameters())

    @property
    def density(self):
        """Fraction of the recurrent weight entries the masks keep."""
        total = sum(m.numel() for _, m in self.masked_parameters())
        return self.n_nonzero / total

    @property
    def sparsity(self):
        """Fraction of the recurrent weight entries the masks remove."""
        return 1.0 - self.density

    # -- torch.nn.RNNBase hooks -------------------------------------------------
    def reset_parameters(self):
        # torch draws every entry from U(-1/sqrt(H), 1/sqrt(H)). A row that keeps
        # only a fraction of its ih + hh fan-in gets a bound scaled up by
        # sqrt(dense / kept), so its pre-activation variance matches the dense
        # layer's (the fan-in rescaling MaskedLinear and Evci et al. 2020 use).
        super().reset_parameters()
        if not hasattr(self, f"hh_mask_l{self.num_layers - 1}"):
            return  # torch's __init__ calls this before the masks exist
        with torch.no_grad():
            base = 1.0 / math.sqrt(self.hidden_size)
            for k in range(self.num_layers):
                ih, hh = getattr(self, f"ih_mask_l{k}"), getattr(self, f"hh_mask_l{k}")
                dense = ih.shape[1] + hh.shape[1]
                kept = (ih.sum(1) + hh.sum(1)).clamp(min=1).unsqueeze(1)
                bound = base * torch.sqrt(dense / kept)
                for kind, mask in (("ih", ih), ("hh", hh)):
                    weight = getattr(self, f"weight_{kind}_l{k}")
                    weight.uniform_(-1.0, 1.0).mul_(bound)
                    zero_removed_(weight, mask)

    def forward(self, input, hx=None):
        # Torch's forward hands ``self._flat_weights`` to the fused kernel
        # (``torch._VF.lstm`` & co.). Swapping in the masked weights for this
        # call keeps the C++ time loop and makes the gradient of a removed
        # weight exactly zero; the list is restored even if the call fails.
        self._update_flat_weights()
        dense = self._flat_weights
        masks = {}
        for k in range(self.num_layers):
            for kind in ("ih", "hh"):
                masks[f"weight_{kind}_l{k}"] = getattr(self, f"{kind}_mask_l{k}")
        # select_kept, not ``w * mask``: a NaN at a removed entry gives 0.
        self._flat_weights = [
            select_kept(w, masks[name]) if name in masks else w
            for name, w in zip(self._flat_weights_names, dense, strict=True)
        ]
        try:
            return super().forward(input, hx)
        finally:
            self._flat_weights = dense

    def extra_repr(self):
        return f"{super().extra_repr()}, density={self.density:.3f}"

    # -- structure -------------------------------------------------------------
    def to_graph(self, *, weights=False):
        """The layer's units and connections as a ``networkx.DiGraph``.

        Parameters
        ----------
        weights : bool, default=False
            Store weights on the edges: ``weight_<gate>`` per kept gate, and
            ``weight`` (the signed weight for a vanilla RNN, the sum of the
            gates' absolute weights for GRU and LSTM).

        Returns
        -------
        graph : networkx.DiGraph
            Nodes ``0..input_size - 1`` are the inputs (``layer=0``,
            ``kind="input"``), then ``hidden_size`` nodes per recurrent layer
            (``layer=k + 1``, ``kind="hidden"``); each node has its ``index``
            within its layer. An edge ``u -> v`` exists where *any* gate keeps
            the connection; its ``gates`` attribute names the gates that do
            (``"ifgo"``, ``"rzn"``, ``"h"``) and its ``kind`` is
            ``"feedforward"`` (input-to-hidden) or ``"recurrent"``
            (hidden-to-hidden, self-loops included).
        """
        graph = nx.DiGraph()
        sizes = [self.input_size] + [self.hidden_size] * self.num_layers
        offsets = np.cumsum([0, *sizes])
        for layer, size in enumerate(sizes):
            kind = "input" if layer == 0 else "hidden"
            graph.add_nodes_from(
                (int(offsets[layer] + j), {"layer": layer, "index": j, "kind": kind})
                for j in range(size)
            )
        for k in range(self.num_layers):
            source_ids = offsets[k] + np.arange(sizes[k])
            hidden_ids = offsets[k + 1] + np.arange(self.hidden_size)
            for kind, sources in (("ih", source_ids), ("hh", hidden_ids)):
                self._add_gate_edges(graph, k, kind, sources, hidden_ids, weights)
        return graph

    def _add_gate_edges(self, graph, k, kind, sources, targets, weights):
        n_gates, size = len(self.gates), self.hidden_size
        mask = getattr(self, f"{kind}_mask_l{k}").detach().cpu().numpy() != 0
        mask = mask.reshape(n_gates, size, -1)  # gate, unit, input: block layout
        weight = getattr(self, f"weight_{kind}_l{k}").detach().cpu().numpy()
        weight = weight.reshape(n_gates, size, -1) * mask
        edge_kind = "feedforward" if kind == "ih" else "recurrent"
        rows, cols = np.nonzero(mask.any(axis=0))
        for i, j in zip(rows.tolist(), cols.tolist()):
            kept = mask[:, i, j]
            attrs = {
                "gates": "".join(g for g, on in zip(self.gates, kept) if on),
                "kind": edge_kind,
            }
            if weights:
                for g, on, w in zip(self.gates, kept, weight[:, i, j].tolist()):
                    if on:
                        attrs[f"weight_{g}"] = w
                values = weight[:, i, j]
                attrs["weight"] = (
                    float(values[0]) if n_gates == 1 else float(np.abs(values).sum())
                )
            graph.add_edge(int(sources[j]), int(targets[i]), **attrs)


_DOC_PARAMETERS = """
    Parameters
    ----------
    input_size : int
        Number of features of each time step.
    hidden_size : int
        Number of hidden units per layer.
    num_layers : int, default=1
        Number of stacked recurrent layers.{extra}
    bias : bool, default=True
        Whether the gates learn biases (biases are never masked).
    batch_first : bool, default=True
        Inputs and outputs are ``(batch, seq, feature)``; torch's default is
        False, sksparse's True (scikit-learn's samples-first convention).
    dropout : float, default=0.0
        Dropout between stacked layers, as in torch.
    ih_masks : list of array-like, default=None
        One input-to-hidden mask per layer, of shape ``(hidden_size, n_in)``
        (tiled over the gates) or ``({n_gates} * hidden_size, n_in)`` (one mask
        per gate, in the order ``{order}``); ``n_in`` is ``input_size`` for the
        first layer and ``hidden_size`` after. ``None`` keeps all connections.
    hh_masks : list of array-like, default=None
        One hidden-to-hidden mask per layer, of shape
        ``(hidden_size, hidden_size)`` or ``({n_gates} * hidden_size,
        hidden_size)``; entry ``[i, j]`` keeps the connection from unit ``j``
        at step ``t - 1`` to unit ``i`` at step ``t``.
    device, dtype : optional
        As for torch's layer.

    Attributes
    ----------
    ih_masks, hh_masks : list of torch.Tensor
        The gate-tiled masks, persistent float buffers ``ih_mask_l{{k}}`` and
        ``hh_mask_l{{k}}`` (saved in the state dict, moved by ``.to()``).
    n_nonzero, density, sparsity : int, float, float
        Of the recurrent weight matrices.

    Notes
    -----
    The forward pass multiplies each weight matrix by its mask and runs torch's
    fused kernel on the result: the gradient of a removed weight is exactly
    zero, so with the weight itself zeroed when the mask is set, SGD (with
    momentum, Nesterov and weight decay), Adam, AdamW, RMSprop and the other
    torch optimizers keep it at zero. After changing a mask mid-training, call
    :func:`~sksparse.nn.clear_optimizer_state` so stale momentum cannot revive
    a removed weight.

    Initial weights follow torch's ``U(-1/sqrt(H), 1/sqrt(H))`` with each
    row's bound scaled by ``sqrt(dense fan-in / kept fan-in)`` (input plus
    recurrent), so a sparse unit starts with a dense unit's pre-activation
    variance. The state dict holds torch's keys plus the masks: a dense
    ``{torch_name}``'s state dict loads with ``strict=False``.
"""


class MaskedRNN(MaskedRecurrentMixin, nn.RNN):
    __doc__ = (
        """An Elman RNN (:class:`torch.nn.RNN`) with masked weight matrices.
"""
        + _DOC_PARAMETERS.format(
            extra="""
    nonlinearity : {"tanh", "relu"}, default="tanh"
        The activation of the recurrence.""",
            n_gates=1,
            order="[h]",
            torch_name="nn.RNN",
        )
        + """
    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import MaskedRNN
    >>> rnn = MaskedRNN(3, 4, hh_masks=[torch.eye(4)])
    >>> out, h = rnn(torch.zeros(2, 5, 3))
    >>> out.shape, rnn.n_nonzero
    (torch.Size([2, 5, 4]), 16)
    """
    )

    gates = ("h",)
    _cell_params = ("nonlinearity",)


class MaskedGRU(MaskedRecurrentMixin, nn.GRU):
    __doc__ = (
        """A GRU (:class:`torch.nn.GRU`) with masked weight matrices.
"""
        + _DOC_PARAMETERS.format(
            extra="", n_gates=3, order="[r; z; n]", torch_name="nn.GRU"
        )
        + """
    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import MaskedGRU
    >>> gru = MaskedGRU(3, 4, hh_masks=[torch.eye(4)])
    >>> gru.hh_masks[0].shape, gru.n_nonzero
    (torch.Size([12, 4]), 48)
    """
    )

    gates = ("r", "z", "n")


class MaskedLSTM(MaskedRecurrentMixin, nn.LSTM):
    __doc__ = (
        """An LSTM (:class:`torch.nn.LSTM`) with masked weight matrices.
"""
        + _DOC_PARAMETERS.format(
            extra="", n_gates=4, order="[i; f; g; o]", torch_name="nn.LSTM"
        )
        + """
    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import MaskedLSTM
    >>> lstm = MaskedLSTM(3, 4, hh_masks=[torch.eye(4)])
    >>> out, (h, c) = lstm(torch.zeros(2, 5, 3))
    >>> out.shape, round(lstm.sparsity, 3)
    (torch.Size([2, 5, 4]), 0.429)
    >>> bool((lstm.weight_hh_l0[lstm.hh_mask_l0 == 0] == 0).all())
    True
    """
    )

    gates = ("i", "f", "g", "o")
