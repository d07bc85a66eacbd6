"""A network's sparse structure: as a layered graph or as mask images."""

import math

import numpy as np

from sksparse.plotting._layered import draw_layered
from sksparse.utils import find_module


def _as_graph(model):
    import networkx as nx

    if isinstance(model, nx.Graph):
        return model
    from sksparse.graphs import network_to_graph

    return network_to_graph(find_module(model))


def plot_structure(
    model, *, kind="auto", max_neurons=300, show_recurrent=True, ax=None
):
    """Draw a network's sparse structure.

    As a layered graph (``kind="graph"``): neurons are dots in columns, one
    column per layer from the inputs (left) to the outputs (right), and every
    kept connection is a line; recurrent connections (within a layer) are
    orange arcs, and neurons left without inputs or outputs (dead) are
    hollow. As mask images (``kind="masks"``): see :func:`plot_masks`.

    Parameters
    ----------
    model : fitted estimator, torch.nn.Module or networkx.DiGraph
        A network (read with :func:`sksparse.graphs.network_to_graph`) or its
        graph, nodes carrying a ``layer`` attribute (else they are placed by
        topological depth).
    kind : {"auto", "graph", "masks"}, default="auto"
        ``"auto"`` draws the graph for networks of at most ``max_neurons``
        neurons and the masks for larger ones (a graph is always drawn as a
        graph).
    max_neurons : int, default=300
    show_recurrent : bool, default=True
        Draw connections within a layer (recurrent ones), self-loops excepted.
    ax : matplotlib.axes.Axes, default=None
        For ``"graph"`` only.

    Returns
    -------
    ax : matplotlib.axes.Axes, or ndarray of Axes for ``"masks"``

    See Also
    --------
    plot_masks

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import SparseMLP
    >>> from sksparse.plotting import plot_structure
    >>> net = SparseMLP(4, (3,), 2, masks=[torch.ones(3, 4).tril(), torch.ones(2, 3)])
    >>> ax = plot_structure(net)
    >>> ax.get_title()
    '9 neurons, 12 connections'
    """
    import networkx as nx

    if kind not in ("auto", "graph", "masks"):
        raise ValueError(f"kind must be 'auto', 'graph' or 'masks', got {kind!r}.")
    is_graph = isinstance(model, nx.Graph)
    if kind == "masks" or (
        kind == "auto" and not is_graph and _n_neurons(model) > max_neurons
    ):
        if is_graph:
            raise ValueError("kind='masks' needs a network, not a graph.")
        return plot_masks(model)
    graph = _as_graph(model)
    return draw_layered(graph, ax=ax, show_recurrent=show_recurrent)


class _StoredWeight:
    """A compressed network's stored layer, read like a prunable weight."""

    n_gates = 1

    def __init__(self, name, layer):
        self.name = name
        dense = getattr(layer, "dense_weight", None)
        self.weight = (dense() if dense is not None else layer.weight).detach()

    def keep(self):
        return self.weight != 0


def _weights(model):
    """The prunable weights of a network, or a compressed one's stored layers."""
    from sksparse.pruning import find_prunable_weights

    module = find_module(model)
    stored = [
        _StoredWeight(name, layer)
        for name, layer in module.named_modules()
        if hasattr(layer, "n_stored")
    ]
    return stored if stored else find_prunable_weights(module)


def _n_neurons(model):
    """Neurons of a network, counted from its weight shapes (no graph built)."""
    weights = _weights(model)
    if not weights:
        return 0
    shapes = [tuple(w.weight.shape) for w in weights]
    return shapes[0][1] + sum(
        s[0] // max(w.n_gates, 1) for s, w in zip(shapes, weights)
    )


def plot_masks(model, *, layers=None, axes=None, max_columns=4):
    """Draw each layer's mask as an image: black where a connection is kept.

    One image per prunable weight (:func:`sksparse.pruning.find_prunable_weights`;
    for a compressed network, per stored layer), rows the layer's outputs,
    columns its inputs (for a recurrent layer, the gates' rows stacked in
    PyTorch's order). The title gives the layer's
    shape and the fraction of connections kept.

    Parameters
    ----------
    model : fitted estimator or torch.nn.Module
    layers : list of int or str, default=None
        The weights to draw, by position or by name (``"layers.0.weight"``);
        None draws them all.
    axes : matplotlib.axes.Axes or array-like of them, default=None
        One per weight drawn; a new figure's when None.
    max_columns : int, default=4
        Images per row of a new figure.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes
        One per layer.

    Examples
    --------
    >>> from sksparse.nn import SparseMLP
    >>> from sksparse.plotting import plot_masks
    >>> axes = plot_masks(SparseMLP(20, (10,), 3))
    >>> [ax.get_title().splitlines()[0] for ax in axes]
    ['layers.0.weight', 'layers.2.weight']
    """
    weights = _weights(model)
    if not weights:
        raise ValueError("the network has no weight matrix to draw.")
    if layers is not None:
        names = [w.name for w in weights]
        chosen = []
        for layer in [layers] if isinstance(layers, (int, str)) else layers:
            if isinstance(layer, str) and layer not in names:
                raise ValueError(f"no weight {layer!r}; the weights are {names}.")
            if isinstance(layer, int) and not -len(names) <= layer < len(names):
                raise ValueError(f"layer {layer} out of range: {len(names)} weights.")
            chosen.append(
                weights[names.index(layer) if isinstance(layer, str) else layer]
            )
        weights = chosen
    if axes is None:
        import matplotlib.pyplot as plt

        n_cols = min(len(weights), max_columns)
        n_rows = math.ceil(len(weights) / n_cols)
        _, grid = plt.subplots(
            n_rows,
            n_cols,
            figsize=(3.4 * n_cols, 3.2 * n_rows),
            layout="constrained",
            squeeze=False,
        )
        for extra in grid.flat[len(weights) :]:
            extra.set_visible(False)
        axes = grid.flat[: len(weights)]
    axes = np.asarray(list(np.ravel(axes)), dtype=object)
    if len(axes) < len(weights):
        raise ValueError(f"axes must hold {len(weights)} Axes, got {len(axes)}.")
    for ax, weight in zip(axes, weights):
        keep = weight.keep().detach().cpu().numpy().astype(float)
        if keep.ndim > 2:  # a convolution: a channel pair is kept if any tap is
            keep = keep.reshape(keep.shape[0], keep.shape[1], -1).max(-1)
        ax.imshow(
            keep,
            cmap="Greys",
            vmin=0,
            vmax=1,
            aspect="auto",
            interpolation="antialiased" if max(keep.shape) > 200 else "nearest",
        )
        n_out, n_in = keep.shape
        ax.set_title(
            f"{weight.name}\n{n_in} → {n_out}, {100 * keep.mean():.1f} % kept",
            fontsize="small",
        )
        ax.set_xlabel("input neuron", fontsize="small")
        ax.set_ylabel("output neuron", fontsize="small")
        ax.tick_params(labelsize="x-small")
    return axes
