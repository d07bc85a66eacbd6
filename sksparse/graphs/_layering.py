"""Placing a graph's nodes in layers: the interleaved order and layered DAGs.

The ``"neuron"`` mapping (:mod:`sksparse.graphs._mapping`) places graph nodes
as neurons in the layers of a feed-forward net; the paper's recurrent mapping
(:mod:`sksparse.graphs._recurrent`) makes a graph a layered DAG whose layers
become recurrent layers. Both start here.
"""

import itertools
from collections.abc import Sequence

import networkx as nx
import numpy as np

from sksparse.utils._validation import check_generator, check_int

__all__ = ["interleaved_order", "to_layered_dag"]


def _check_widths(widths, name="widths"):
    if isinstance(widths, str | bytes) or not isinstance(widths, Sequence | np.ndarray):
        raise ValueError(f"{name} must be a sequence of positive ints, got {widths!r}.")
    if len(widths) == 0:
        raise ValueError(f"{name} must not be empty.")
    return [check_int(w, f"{name}[{i}]", low=1) for i, w in enumerate(widths)]


def _ring_slots(widths):
    """Slot of every neuron in the interleaved ring: ``slots[layer][index]``."""
    widths = np.asarray(widths, dtype=np.int64)
    layer = np.repeat(np.arange(len(widths)), widths)
    index = np.concatenate([np.arange(w) for w in widths])
    # (j + 0.5) / w as (2j + 1) / (2w): both integers are exact, so equal
    # fractions give equal (correctly rounded) floats and tie on the layer.
    position = (2 * index + 1) / (2 * widths[layer])
    order = np.lexsort((layer, position))
    slot = np.empty(len(order), dtype=np.int64)
    slot[order] = np.arange(len(order))
    bounds = np.concatenate([[0], np.cumsum(widths)])
    return [slot[start:stop] for start, stop in itertools.pairwise(bounds)]


def interleaved_order(widths):
    """Order the neurons of layered widths around a ring, layers interleaved.

    Neuron ``j`` of layer ``l`` (of width ``w_l``) has relative position
    ``(j + 0.5) / w_l``; sorting all neurons by ``(position, layer)`` gives
    the order. Graph node ``i`` becomes the ``i``-th neuron of this order, so
    nodes close in a ring lattice (Watts–Strogatz) become neurons at similar
    relative positions in nearby layers: local receptive fields, plus the
    random graph's long-range shortcuts.

    Parameters
    ----------
    widths : sequence of int
        Number of neurons of every layer.

    Returns
    -------
    order : list of (int, int)
        ``(layer, index)`` of every neuron, ``sum(widths)`` in all.

    Examples
    --------
    >>> from sksparse.graphs import interleaved_order
    >>> interleaved_order([2, 4])
    [(1, 0), (0, 0), (1, 1), (1, 2), (0, 1), (1, 3)]
    """
    slots = _ring_slots(_check_widths(widths))
    order = [None] * sum(len(s) for s in slots)
    for layer, layer_slots in enumerate(slots):
        for index, slot in enumerate(layer_slots.tolist()):
            order[slot] = (layer, index)
    return order


def _equal_widths(n_nodes, n_layers):
    base, extra = divmod(n_nodes, n_layers)
    return [base + (layer < extra) for layer in range(n_layers)]


def _resolve_widths(n_nodes, n_layers, widths):
    if widths is not None:
        widths = _check_widths(widths)
        if sum(widths) != n_nodes:
            raise ValueError(
                f"widths must sum to the graph's {n_nodes} nodes, got {sum(widths)}."
            )
        if n_layers is not None and n_layers != len(widths):
            raise ValueError(
                f"n_layers={n_layers} disagrees with the {len(widths)} widths given."
            )
        return widths
    if n_layers is None:
        n_layers = min(3, n_nodes)
    n_layers = check_int(n_layers, "n_layers", low=1, high=n_nodes)
    return _equal_widths(n_nodes, n_layers)


def to_layered_dag(graph, *, n_layers=None, widths=None, random_state=None):
    """Make a graph's nodes the neurons of a layered DAG ("neuron" mapping).

    Parameters
    ----------
    graph : networkx.Graph or networkx.DiGraph
        An undirected prior, or a directed acyclic graph.
    n_layers : int, default=None
        Number of layers of near-equal width for an undirected graph
        (default 3, fewer for graphs of fewer than 3 nodes).
    widths : sequence of int, default=None
        Width of every layer for an undirected graph; must sum to the number
        of nodes. Takes precedence over ``n_layers`` (which, if given, must
        equal ``len(widths)``).
    random_state : None, int or numpy.random.Generator, default=None
        If given, the ring order is rotated by an offset drawn from it, so
        that the graph's first nodes (a Barabási–Albert graph's oldest hubs)
        do not always become the first neurons of every layer. ``None``
        applies no rotation: the mapping is then deterministic.

    Returns
    -------
    dag : networkx.DiGraph
        The graph's nodes, with their attributes, plus ``layer`` (int, 0 is
        the first hidden layer) and ``index`` (position within the layer);
        every edge goes from a lower to a higher layer.

    Raises
    ------
    ValueError
        If a directed graph has a cycle, or is given ``n_layers``/``widths``;
        if ``widths`` do not sum to the number of nodes.

    See Also
    --------
    interleaved_order : The order that places nodes in layers.
    prior_masks : The same mapping applied per layer pair, as masks.

    Notes
    -----
    An undirected graph's node ``i`` (in the graph's node order) becomes the
    ``i``-th neuron of :func:`interleaved_order` of the widths, so the depth
    and widths are the user's choice, never the graph's: deepstruct's mapping
    turns a 30-node small-world graph into a chain 30 layers deep and one
    neuron wide. Each edge is oriented from the lower to the higher layer;
    edges within one layer are dropped (a feed-forward layer has no lateral
    connections). Edges spanning several layers are kept as skip connections.
    A neuron may end up without inputs or outputs.

    A directed graph must already be a DAG; its edges are kept and a node's
    layer is its topological generation (:func:`networkx.topological_generations`).

    Examples
    --------
    >>> import networkx as nx
    >>> from sksparse.graphs import to_layered_dag
    >>> g = nx.watts_strogatz_graph(30, 4, 0.1, seed=0)
    >>> dag = to_layered_dag(g, n_layers=3)
    >>> sorted(set(nx.get_node_attributes(dag, "layer").values()))
    [0, 1, 2]
    >>> nx.is_directed_acyclic_graph(dag)
    True
    """
    if not isinstance(graph, nx.Graph):
        raise TypeError(f"graph must be a networkx.Graph, got {type(graph).__name__}.")
    if graph.is_directed():
        return _layer_dag(graph, n_layers, widths)
    n_nodes = graph.number_of_nodes()
    if n_nodes == 0:
        raise ValueError("graph must have at least one node.")
    widths = _resolve_widths(n_nodes, n_layers, widths)
    offset = 0
    if random_state is not None:
        offset = int(check_generator(random_state).integers(n_nodes))
    order = interleaved_order(widths)
    nodes = list(graph.nodes)
    placed = {nodes[(slot - offset) % n_nodes]: order[slot] for slot in range(n_nodes)}
    dag = nx.DiGraph()
    dag.graph.update(graph.graph)
    # Insert layer by layer, so iterating the DAG meets neurons in order.
    for node in sorted(placed, key=placed.__getitem__):
        layer, index = placed[node]
        dag.add_node(node, **{**graph.nodes[node], "layer": layer, "index": index})
    for u, v, data in graph.edges(data=True):
        if placed[u][0] == placed[v][0]:
            continue  # no lateral connections inside a layer
        if placed[u][0] > placed[v][0]:
            u, v = v, u
        dag.add_edge(u, v, **data)
    return dag


def _layer_dag(graph, n_layers, widths):
    if n_layers is not None or widths is not None:
        raise ValueError(
            "n_layers and widths apply to undirected graphs only: a directed "
            "graph's layers are its topological generations."
        )
    if not nx.is_directed_acyclic_graph(graph):
        raise ValueError(
            "graph must be a DAG (directed acyclic graph) to be a feed-forward "
            "network; pass an undirected graph to have it oriented."
        )
    dag = nx.DiGraph(graph)
    position = {node: i for i, node in enumerate(graph)}
    for layer, nodes in enumerate(nx.topological_generations(graph)):
        for index, node in enumerate(sorted(nodes, key=position.__getitem__)):
            dag.nodes[node]["layer"] = layer
            dag.nodes[node]["index"] = index
    return dag


# -- masks --------------------------------------------------------------------
