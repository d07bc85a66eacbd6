"""A recurrent sequence classifier's torch module: masked layers, then a read-out."""

import torch
from torch import nn

from sksparse.nn._recurrent import MaskedGRU, MaskedLSTM, MaskedRNN

__all__ = ["RecurrentSequenceNet", "make_cell"]

CELLS = {"rnn": MaskedRNN, "rnn_relu": MaskedRNN, "gru": MaskedGRU, "lstm": MaskedLSTM}
# An Elman RNN with ReLU (the paper's "RNN_RELU") is nn.RNN's other nonlinearity.
_CELL_KWARGS = {"rnn_relu": {"nonlinearity": "relu"}}


def make_cell(cell, input_size, hidden_size, num_layers=1, **kwargs):
    """A masked recurrent layer by name (batch first), e.g. ``"rnn_relu"``."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}.")
    return CELLS[cell](
        input_size,
        hidden_size,
        num_layers,
        batch_first=True,
        **_CELL_KWARGS.get(cell, {}),
        **kwargs,
    )


class RecurrentSequenceNet(nn.Module):
    """Masked recurrent layers, then a linear read-out of the last real step.

    Parameters
    ----------
    cell : {"rnn", "rnn_relu", "gru", "lstm"}
    input_size, hidden_size, n_classes, num_layers : int
    ih_masks, hh_masks : list of array-like or None
        Unit-level or gate-level masks, as the masked layers take them.

    Notes
    -----
    Sequences are padded at their end; the output read is the one at
    ``lengths - 1``. The layers are unidirectional, so padding after a
    sequence never reaches that output, and the whole padded batch runs
    through one fused-kernel call (cheaper than packing for short sequences).
    """

    def __init__(
        self,
        cell,
        input_size,
        hidden_size,
        n_classes,
        num_layers=1,
        ih_masks=None,
        hh_masks=None,
    ):
        super().__init__()
        self.rnn = make_cell(
            cell,
            input_size,
            hidden_size,
            num_layers,
            ih_masks=ih_masks,
            hh_masks=hh_masks,
        )
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, X, lengths):
        out, _ = self.rnn(X)
        last = (lengths.to(out.device).long() - 1).clamp(min=0)
        return self.head(out[torch.arange(len(out), device=out.device), last])

    def to_graph(self, *, weights=False):
        """The recurrent layers' graph (see the masked layers' ``to_graph``),
        plus one ``kind="output"`` node per class, read densely from the last
        hidden layer."""
        graph = self.rnn.to_graph(weights=weights)
        hidden = [
            v for v, d in graph.nodes(data=True) if d["layer"] == self.rnn.num_layers
        ]
        first = graph.number_of_nodes()
        layer = self.rnn.num_layers + 1
        head = self.head.weight.detach().cpu().numpy()
        for i in range(head.shape[0]):
            graph.add_node(first + i, layer=layer, index=i, kind="output")
            for j, source in enumerate(hidden):
                if head[i, j] == 0:
                    continue
                attrs = {"kind": "feedforward"}
                if weights:
                    attrs["weight"] = float(head[i, j])
                graph.add_edge(source, first + i, **attrs)
        return graph
