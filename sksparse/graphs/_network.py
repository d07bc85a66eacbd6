"""Read a network's structure as a graph, without touching the model.

Only masks, weights and shapes are read (duck-typed, so this module needs no
torch import): ``forward`` is never patched, so a model stays picklable after
it has been read (DESIGN.md).
"""

import networkx as nx
import numpy as np

__all__ = ["network_to_graph"]


def _to_numpy(tensor):
    return tensor.detach().cpu().numpy()


def _connections(layer):
    """Boolean (out, in) matrix of a layer's non-zero connections."""
    weight = _to_numpy(layer.weight)
    if weight.ndim > 2:  # convolution: channel j feeds channel i if any tap is kept
        weight = np.abs(weight).reshape(weight.shape[0], weight.shape[1], -1).sum(-1)
    keep = weight != 0
    for name in ("mask", "weight_mask"):  # ours, or torch.nn.utils.prune's
        mask = getattr(layer, name, None)
        if mask is not None and hasattr(mask, "shape"):
            mask = _to_numpy(mask)
            if mask.ndim > 2:
                mask = mask.reshape(mask.shape[0], mask.shape[1], -1).any(-1)
            keep &= mask != 0
    return keep


def _weighted_layers(module):
    """Leaf sub-modules with a 2-D or conv weight, in registration order."""
    layers = []
    for _, sub in module.named_modules():
        weight = getattr(sub, "weight", None)
        if weight is None or not hasattr(weight, "ndim") or weight.ndim < 2:
            continue
        if any(True for _ in sub.children()):
            continue
        layers.append(sub)
    return layers


class _GraphBuilder:
    """Numbers neurons consecutively and records their layer and index."""

    def __init__(self):
        self.graph = nx.DiGraph()
        self.n_nodes = 0

    def add_layer(self, size, layer, **attrs):
        ids = np.arange(self.n_nodes, self.n_nodes + size)
        self.graph.add_nodes_from(
            (int(i), {"layer": layer, "index": j, **attrs}) for j, i in enumerate(ids)
        )
        self.n_nodes += size
        return ids

    def connect(self, sources, targets, keep, weight=None):
        rows, cols = np.nonzero(keep)
        if weight is None:
            self.graph.add_edges_from(
                zip(sources[cols].tolist(), targets[rows].tolist())
            )
        else:
            values = weight[rows, cols].tolist()
            self.graph.add_edges_from(
                (s, t, {"weight": w})
                for s, t, w in zip(
                    sources[cols].tolist(), targets[rows].tolist(), values
                )
            )


def _weight_matrix(layer):
    weight = _to_numpy(layer.weight)
    if weight.ndim > 2:
        weight = np.abs(weight).reshape(weight.shape[0], weight.shape[1], -1).sum(-1)
    return weight


def _dag_network_graph(module, weights):
    builder = _GraphBuilder()
    columns = [builder.add_layer(module.n_features, 0, kind="input")]
    for depth, (layer, nodes) in enumerate(
        zip(module.hidden, module.layer_nodes), start=1
    ):
        ids = builder.add_layer(len(nodes), depth, kind="hidden")
        for i, node in zip(ids, nodes):
            builder.graph.nodes[int(i)]["name"] = str(node)
        sources = np.concatenate(columns)
        builder.connect(
            sources,
            ids,
            _connections(layer),
            _weight_matrix(layer) if weights else None,
        )
        columns.append(ids)
    out = builder.add_layer(module.n_outputs, len(columns), kind="output")
    builder.connect(
        np.concatenate(columns),
        out,
        _connections(module.output),
        _weight_matrix(module.output) if weights else None,
    )
    return builder.graph


def network_to_graph(module, *, weights=False):
    """Read a network's neurons and connections as a directed graph.

    Parameters
    ----------
    module : torch.nn.Module
        A sksparse module (:class:`~sksparse.nn.SparseMLP`,
        :class:`~sksparse.nn.DAGNetwork`, masked recurrent layers), or any
        module whose linear/convolutional layers run in registration order.
        Objects with a ``module_`` attribute (fitted sksparse estimators) are
        read through it.
    weights : bool, default=False
        Store each connection's weight as the edge attribute ``weight``.

    Returns
    -------
    graph : networkx.DiGraph
        One node per neuron (an input feature, a hidden unit, an output; a
        channel for convolutions) with attributes ``layer`` (0 for inputs)
        and ``index`` (position in its layer); one edge per non-zero
        connection. A connection is non-zero when its mask (sksparse's
        ``mask`` or torch.nn.utils.prune's ``weight_mask``) keeps it and its
        weight is not exactly zero.

    Notes
    -----
    Consecutive layers are chained when the sizes agree; where they do not (a
    flatten between a convolution and a linear layer), the later layer's
    inputs become new nodes of the next layer index.

    Examples
    --------
    >>> from sksparse.nn import SparseMLP
    >>> from sksparse.graphs import network_to_graph
    >>> g = network_to_graph(SparseMLP(4, (3,), 2))
    >>> g.number_of_nodes(), g.number_of_edges()
    (9, 18)
    """
    inner = getattr(module, "module_", None)
    if inner is not None:
        module = inner
    if hasattr(module, "to_graph"):
        return module.to_graph(weights=weights)
    if hasattr(module, "layer_nodes") and hasattr(module, "hidden"):
        return _dag_network_graph(module, weights)
    layers = _weighted_layers(module)
    if not layers:
        raise ValueError(
            "module has no layer with a weight matrix to read a structure from."
        )
    builder = _GraphBuilder()
    previous = None
    depth = 0
    for layer in layers:
        keep = _connections(layer)
        n_out, n_in = keep.shape
        if previous is None or len(previous) != n_in:
            if previous is not None:
                depth += 1
            previous = builder.add_layer(n_in, depth)
        depth += 1
        current = builder.add_layer(n_out, depth)
        builder.connect(
            previous, current, keep, _weight_matrix(layer) if weights else None
        )
        previous = current
    return builder.graph
