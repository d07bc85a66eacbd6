"""Stacked masked recurrent layers of any widths, with skip inputs: a DAG's layers.

The module the paper's recurrent mapping builds
(:func:`sksparse.graphs.layered_recurrent_masks`): layer ``l`` is one masked
RNN, GRU or LSTM layer of ``widths[l]`` units that reads, at every step, the
concatenated output sequences of its ``sources[l]`` (the input for layer 0).
A skip connection is an input column block from a non-adjacent layer; its
mask, like every input-to-hidden mask, is tiled block-wise over the gates.
Each layer runs through torch's fused kernel, so the time loop stays in C++.
"""

import networkx as nx
import numpy as np
import torch
from torch import nn

from sksparse.nn._sequence import make_cell

__all__ = ["LayeredRecurrentNet"]


def _check_structure(input_size, widths, sources, ih_masks):
    widths = [int(w) for w in widths]
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be positive ints, one per layer, got {widths}.")
    if sources is None:
        sources = [()] + [(layer - 1,) for layer in range(1, len(widths))]
    sources = [tuple(int(s) for s in reads) for reads in sources]
    if len(sources) != len(widths):
        raise ValueError(
            f"sources must hold one entry per layer ({len(widths)}), "
            f"got {len(sources)}."
        )
    if sources[0]:
        raise ValueError("sources[0] must be empty: the first layer reads the input.")
    for layer, reads in enumerate(sources[1:], start=1):
        if not reads or any(not 0 <= s < layer for s in reads):
            raise ValueError(
                f"sources[{layer}] must name earlier layers (0..{layer - 1}), "
                f"got {reads}."
            )
    n_in = [input_size] + [sum(widths[s] for s in reads) for reads in sources[1:]]
    if ih_masks is None:
        ih_masks = [None] * len(widths)
    if len(ih_masks) != len(widths):
        raise ValueError(
            f"ih_masks must hold one mask per layer ({len(widths)}), "
            f"got {len(ih_masks)}."
        )
    return widths, sources, n_in, list(ih_masks)


class LayeredRecurrentNet(nn.Module):
    """Masked recurrent layers of given widths with skip inputs, then a read-out.

    Parameters
    ----------
    cell : {"rnn", "rnn_relu", "gru", "lstm"}
        The recurrent cell of every layer (``"rnn_relu"``: an Elman RNN with
        ReLU).
    input_size : int
        Features per step.
    widths : sequence of int
        Units per recurrent layer.
    n_classes : int
        Outputs of the linear read-out of the last layer's last real step.
    sources : sequence of tuple of int, default=None
        Per layer, the earlier layers whose output sequences it reads,
        concatenated in that order; ``sources[0]`` is ``()`` (the input).
        None: a plain stack, each layer reading the one below.
    ih_masks : sequence of array-like, default=None
        Per layer, a unit-level ``(width, n_in)`` mask (tiled over the gates)
        or a gate-level one; ``n_in`` is ``input_size`` for layer 0, else the
        summed widths of its sources. None entries keep every connection.
    hh_masks : sequence of array-like, default=None
        Per layer, a ``(width, width)`` recurrent mask; None keeps it dense.
    node_names : sequence of sequence, default=None
        Per layer, the graph node each unit stands for; :meth:`to_graph`
        stores it as the node attribute ``name``.

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import LayeredRecurrentNet
    >>> net = LayeredRecurrentNet("gru", 3, [4, 2, 5], 2,
    ...                           sources=[(), (0,), (0, 1)])
    >>> net(torch.zeros(8, 6, 3), torch.full((8,), 6)).shape
    torch.Size([8, 2])
    >>> [layer.input_size for layer in net.layers]  # layer 2 reads 0 and 1
    [3, 4, 6]
    """

    def __init__(
        self,
        cell,
        input_size,
        widths,
        n_classes,
        *,
        sources=None,
        ih_masks=None,
        hh_masks=None,
        node_names=None,
    ):
        super().__init__()
        widths, sources, n_in, ih_masks = _check_structure(
            input_size, widths, sources, ih_masks
        )
        hh_masks = [None] * len(widths) if hh_masks is None else list(hh_masks)
        self.cell = cell
        self.input_size = input_size
        self.widths = widths
        self.sources = sources
        self.node_names = None if node_names is None else [list(n) for n in node_names]
        self.layers = nn.ModuleList(
            make_cell(cell, size, width, 1, ih_masks=[ih], hh_masks=[hh])
            for size, width, ih, hh in zip(n_in, widths, ih_masks, hh_masks)
        )
        self.head = nn.Linear(widths[-1], n_classes)

    @property
    def num_layers(self):
        return len(self.widths)

    def forward(self, X, lengths):
        outputs = []
        for layer, reads in zip(self.layers, self.sources):
            inputs = X if not reads else torch.cat([outputs[s] for s in reads], -1)
            out, _ = layer(inputs)
            outputs.append(out)
        out = outputs[-1]
        last = (lengths.to(out.device).long() - 1).clamp(min=0)
        return self.head(out[torch.arange(len(out), device=out.device), last])

    # -- masks, as the single-stack layers expose them ---------------------------
    def masked_parameters(self):
        """Yield ``(weight, mask)`` per masked matrix: ``ih, hh`` of each layer."""
        for layer in self.layers:
            yield from layer.masked_parameters()

    @property
    def sparsity(self):
        """Fraction of the recurrent weight entries the masks remove."""
        pairs = list(self.masked_parameters())
        kept = sum(int(m.count_nonzero()) for _, m in pairs)
        return 1.0 - kept / sum(m.numel() for _, m in pairs)

    # -- structure -------------------------------------------------------------
    def to_graph(self, *, weights=False):
        """Units and connections as a ``networkx.DiGraph``.

        Nodes: the inputs (``layer=0``, ``kind="input"``), the units of
        recurrent layer ``l`` (``layer=l + 1``, ``kind="hidden"``, with
        ``name`` when ``node_names`` was given) and one output per class
        (``kind="output"``). Edges: ``kind="feedforward"`` where any gate of
        an input-to-hidden mask keeps the connection (skip connections
        included, with ``gates`` naming the gates), ``kind="recurrent"`` for
        the hidden-to-hidden ones (self-loops included) and the read-out's.
        ``weights=True`` stores ``weight`` as the layers' ``to_graph`` does.
        """
        graph = nx.DiGraph()
        sizes = [self.input_size, *self.widths]
        offsets = np.cumsum([0, *sizes])
        ids = [offsets[k] + np.arange(size) for k, size in enumerate(sizes)]
        for k, size in enumerate(sizes):
            for j in range(size):
                attrs = {
                    "layer": k,
                    "index": j,
                    "kind": "input" if k == 0 else "hidden",
                }
                if k and self.node_names is not None:
                    attrs["name"] = self.node_names[k - 1][j]
                graph.add_node(int(ids[k][j]), **attrs)
        for layer, (module, reads) in enumerate(zip(self.layers, self.sources)):
            sources = (
                ids[0] if not reads else np.concatenate([ids[s + 1] for s in reads])
            )
            targets = ids[layer + 1]
            module._add_gate_edges(graph, 0, "ih", sources, targets, weights)
            module._add_gate_edges(graph, 0, "hh", targets, targets, weights)
        first = int(offsets[-1])
        head = self.head.weight.detach().cpu().numpy()
        for i in range(head.shape[0]):
            graph.add_node(first + i, layer=len(sizes), index=i, kind="output")
            for j, source in enumerate(ids[-1].tolist()):
                if head[i, j] != 0:
                    attrs = {"kind": "feedforward"}
                    if weights:
                        attrs["weight"] = float(head[i, j])
                    graph.add_edge(int(source), first + i, **attrs)
        return graph
