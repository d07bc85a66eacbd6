"""Read a network's structure as a graph, without changing the model.

sksparse's own architectures are read from their masks and weights (their
structure is known); any other model is read from its data flow
(:mod:`sksparse.graphs._dataflow`), which imports torch when first needed.
``forward`` is never patched, so a model stays picklable after it was read.
"""

import numbers

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


def _compressed_graph(module, weights):
    """A :class:`~sksparse.nn.CompressedNetwork`: its layers read blocks."""
    builder = _GraphBuilder()
    inputs = builder.add_layer(module.n_features_in, 0, kind="input")
    kept = getattr(module, "input_features", None)
    blocks = [inputs if kept is None else inputs[_to_numpy(kept).astype(np.int64)]]
    depths = [0]
    last = len(module.layers) - 1
    for i, (layer, reads) in enumerate(zip(module.layers, module.reads)):
        sources = np.concatenate([blocks[r] for r in reads] or [inputs[:0]])
        depth = 1 + max((depths[r] for r in reads), default=0)
        kind = "output" if i == last else "hidden"
        ids = builder.add_layer(layer.out_features, depth, kind=kind)
        weight = _to_numpy(layer.dense_weight())
        builder.connect(sources, ids, weight != 0, weight if weights else None)
        blocks.append(ids)
        depths.append(depth)
    return builder.graph


def _is_compressed(module):
    layers = getattr(module, "layers", None)
    return (
        hasattr(module, "reads")
        and hasattr(module, "n_features_in")
        and layers is not None
        and all(hasattr(layer, "dense_weight") for layer in layers)
    )


def _example_shape(module, layers, input_shape):
    """One sample's shape and its feature dimension (in the batched tensor)."""
    first = layers[0]
    conv = not hasattr(first, "dense_weight") and first.weight.ndim > 2
    if input_shape is None:
        input_shape = getattr(module, "input_shape", None)
    if input_shape is None:
        if conv:
            # The spatial size only matters where a flatten feeds a linear
            # layer; 32 is enough for every stride of torchvision's models.
            n_in = first.weight.shape[1] * int(getattr(first, "groups", 1))
            if getattr(first, "transposed", False):
                n_in = first.weight.shape[0]
            input_shape = (n_in, *[32] * (first.weight.ndim - 2))
        else:
            n_in = first.in_features if hasattr(first, "in_features") else None
            input_shape = (n_in or first.weight.shape[1],)
    if isinstance(input_shape, numbers.Integral):
        input_shape = (input_shape,)
    try:
        input_shape = tuple(int(n) for n in input_shape)
    except (TypeError, ValueError):
        raise TypeError(
            "input_shape must be a tuple of ints (one sample's shape, without "
            f"the batch dimension), got {input_shape!r}."
        ) from None
    if not input_shape or min(input_shape) < 1:
        raise ValueError(
            "input_shape must be a non-empty tuple of positive ints, "
            f"got {input_shape}."
        )
    return input_shape, (1 if conv else len(input_shape))


def network_to_graph(module, *, weights=False, input_shape=None):
    """Read a network's neurons and connections as a directed graph.

    Parameters
    ----------
    module : torch.nn.Module
        Any model: sksparse's architectures (:class:`~sksparse.nn.SparseMLP`,
        :class:`~sksparse.nn.DAGNetwork`, :class:`~sksparse.nn.SparseCNN`,
        masked recurrent layers, :class:`~sksparse.nn.CompressedNetwork`) or
        any torch module, read from its real data flow (residual additions,
        concatenations, branches, flatten, pooling). Objects with a
        ``module_`` attribute (fitted estimators, skorch nets) are read
        through it.
    weights : bool, default=False
        Store each connection's weight as the edge attribute ``weight``
        (convolutions and flattened channels: the sum of the absolute values
        of the weights that join the two nodes; merge edges: 1).
    input_shape : tuple of int, default=None
        One sample's shape (without the batch dimension) for the example
        forward pass that reads the data flow. ``None`` takes the model's
        ``input_shape`` attribute if it has one, else ``(in_features,)`` of a
        first linear layer or ``(in_channels, 32, 32)`` of a first 2-D
        convolution. Needed where a flatten feeds a linear layer sized for
        another image size.

    Returns
    -------
    graph : networkx.DiGraph
        One node per neuron (an input feature, a hidden unit, an output; a
        channel for convolutions) with attributes ``layer`` (0 for inputs;
        every edge goes to a higher layer), ``index`` (position in its
        layer) and ``kind`` (``"input"``, ``"hidden"``, ``"output"``, or
        ``"merge"`` for a sum or product of two branches, one node per
        feature, such as a residual addition). One edge per non-zero
        connection: a connection is non-zero when its mask (sksparse's
        ``mask`` or torch.nn.utils.prune's ``weight_mask``) keeps it and its
        weight is not exactly zero. Nodes read from a data flow also have
        ``module``, the name of the layer that computes them.

    Warns
    -----
    UserWarning
        When ``torch.fx`` cannot trace the model (then one forward pass is
        recorded, and branches that the example input does not take are
        missing), and when an operation's data flow cannot be followed (its
        outputs become new nodes of kind ``"unread"``, named in the warning).

    Notes
    -----
    Element-wise maps, normalisation, pooling and dropout keep their input's
    nodes. A linear layer after a flatten reads each channel as one node:
    its connection to a channel exists if any of that channel's positions
    has a non-zero weight. The model runs once in eval mode, without
    autograd; its parameters, buffers and training mode are left as they
    were. A compressed network is read as stored: its removed neurons are
    not in the graph, its kept input features keep their original indices.

    Examples
    --------
    >>> from torch import nn
    >>> from sksparse.nn import SparseMLP
    >>> from sksparse.graphs import network_to_graph
    >>> g = network_to_graph(SparseMLP(4, (3,), 2))
    >>> g.number_of_nodes(), g.number_of_edges()
    (9, 18)

    A residual block keeps its skip: a merge node per feature joins it.

    >>> class Residual(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.inner, self.outer = nn.Linear(3, 3), nn.Linear(3, 2)
    ...     def forward(self, x):
    ...         return self.outer(x + self.inner(x).relu())
    >>> g = network_to_graph(Residual())
    >>> sorted(set(kind for _, kind in g.nodes(data="kind")))
    ['hidden', 'input', 'merge', 'output']
    >>> g.number_of_nodes(), g.number_of_edges()
    (11, 21)
    """
    inner = getattr(module, "module_", None)
    if inner is not None:
        module = inner
    if hasattr(module, "to_graph"):
        return module.to_graph(weights=weights)
    if hasattr(module, "layer_nodes") and hasattr(module, "hidden"):
        return _dag_network_graph(module, weights)
    if _is_compressed(module):
        return _compressed_graph(module, weights)
    from sksparse.graphs._dataflow import is_weighted, trace_graph

    layers = [sub for sub in module.modules() if is_weighted(sub)]
    if not layers:
        raise ValueError(
            "module has no layer with a weight matrix to read a structure from."
        )
    import torch

    shape, dim = _example_shape(module, layers, input_shape)
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), None)
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)  # not the global stream
    x = torch.randn(2, *shape, generator=generator, dtype=dtype or torch.float32)
    try:
        graph, _, _ = trace_graph(module, x.to(device), dim, weights=weights)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ValueError(
            f"cannot run {type(module).__name__} on an example input of shape "
            f"{tuple(x.shape)} to read its data flow ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); pass input_shape= "
            "(one sample's shape, without the batch dimension)."
        ) from exc
    return graph
