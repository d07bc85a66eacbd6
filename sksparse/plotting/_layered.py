"""Drawing a graph whose nodes carry a layer: columns of neurons, lines between."""

import math

import numpy as np

from sksparse.plotting._common import new_axes

_KIND_COLORS = {"input": "#7f7f7f", "hidden": "#1f77b4", "output": "#d62728"}
_RECURRENT_COLOR = "#ff7f0e"


def _layers_of(graph):
    """Each node's layer: the ``layer`` attribute, else its topological depth."""
    import networkx as nx

    layers = nx.get_node_attributes(graph, "layer")
    if len(layers) == graph.number_of_nodes():
        return layers
    depth = {}
    for d, generation in enumerate(nx.topological_generations(graph)):
        depth.update(dict.fromkeys(generation, d))
    return depth


def _layer_name(layer, kinds, first, last):
    if "input" in kinds or layer == first:
        return "input"
    if "output" in kinds or layer == last:
        return "output"
    return f"hidden {layer}"


def draw_layered(graph, *, ax, show_recurrent):
    """Draw ``graph`` into ``ax`` (or a new figure's) and return the Axes."""
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.lines import Line2D
    from matplotlib.path import Path

    if graph.number_of_nodes() == 0:
        raise ValueError("the graph has no nodes to draw.")
    layers = _layers_of(graph)
    by_layer = {}
    for node in graph.nodes:
        by_layer.setdefault(layers[node], []).append(node)
    columns = sorted(by_layer)
    x_of = {layer: i for i, layer in enumerate(columns)}
    pos = {}
    for layer, nodes in by_layer.items():
        nodes.sort(key=lambda v: (graph.nodes[v].get("index", 0), str(v)))
        n = len(nodes)
        for i, node in enumerate(nodes):
            pos[node] = (x_of[layer], 0.5 if n == 1 else 1 - i / (n - 1))

    forward, recurrent = [], []
    for u, v in graph.edges():
        if u == v:
            continue
        (forward if layers[u] != layers[v] else recurrent).append((pos[u], pos[v]))

    width = max(len(nodes) for nodes in by_layer.values())
    ax = new_axes(ax, (min(2.2 * len(columns) + 1.5, 12), min(max(3.5, width / 12), 8)))
    n_edges = max(len(forward), 1)
    alpha = float(np.clip(12 / math.sqrt(n_edges), 0.04, 0.7))
    ax.add_collection(
        LineCollection(
            forward,
            colors="#1f77b4",
            linewidths=0.6,
            alpha=alpha,
            zorder=1,
            gid="connections",
        )
    )
    if show_recurrent and recurrent:
        paths = []
        for (x0, y0), (_, y1) in recurrent:
            bulge = 0.15 + 0.25 * abs(y1 - y0)
            control = (x0 + bulge, (y0 + y1) / 2)
            paths.append(
                Path(
                    [(x0, y0), control, (x0, y1)],
                    [Path.MOVETO, Path.CURVE3, Path.CURVE3],
                )
            )
        ax.add_collection(
            PathCollection(
                paths,
                facecolors="none",
                edgecolors=_RECURRENT_COLOR,
                linewidths=0.6,
                alpha=float(np.clip(12 / math.sqrt(len(recurrent)), 0.05, 0.7)),
                zorder=1,
                gid="recurrent",
            )
        )

    in_deg = dict(graph.in_degree())
    out_deg = dict(graph.out_degree())
    size = float(np.clip(2400 / max(width, 1), 4, 60))
    first, last = columns[0], columns[-1]
    kinds_present = []
    any_dead = False
    for layer in columns:
        nodes = by_layer[layer]
        kinds = {graph.nodes[v].get("kind") for v in nodes} - {None}
        kind = next(iter(kinds)) if len(kinds) == 1 else None
        kind = kind or _layer_name(layer, set(), first, last).split()[0]
        color = _KIND_COLORS.get(kind, _KIND_COLORS["hidden"])
        kinds_present.append(kind)
        dead = [
            v
            for v in nodes
            if (layer != first and in_deg[v] == 0)
            or (layer != last and out_deg[v] == 0)
        ]
        alive = [v for v in nodes if v not in set(dead)]
        any_dead = any_dead or bool(dead)
        for group, face in ((alive, color), (dead, "white")):
            if group:
                xy = np.array([pos[v] for v in group])
                ax.scatter(
                    xy[:, 0],
                    xy[:, 1],
                    s=size,
                    c=face,
                    edgecolors=color,
                    linewidths=0.8,
                    zorder=2,
                )
        name = _layer_name(layer, kinds, first, last)
        ax.annotate(
            f"{name}\n{len(nodes)}",
            (x_of[layer], -0.04),
            ha="center",
            va="top",
            fontsize="small",
            annotation_clip=False,
        )
    handles = [
        Line2D([], [], marker="o", linestyle="", color=_KIND_COLORS[k], label=k)
        for k in _KIND_COLORS
        if k in kinds_present
    ]
    if any_dead:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markerfacecolor="white",
                markeredgecolor="0.3",
                label="dead (no input or output)",
            )
        )
    handles.append(Line2D([], [], color="#1f77b4", label="connection"))
    if show_recurrent and recurrent:
        handles.append(Line2D([], [], color=_RECURRENT_COLOR, label="recurrent"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=len(handles),
        fontsize="small",
        frameon=False,
    )
    ax.set_xlim(-0.4, len(columns) - 0.6 + (0.4 if recurrent else 0))
    ax.set_ylim(-0.05, 1.05)
    ax.set_axis_off()
    ax.set_title(
        f"{graph.number_of_nodes()} neurons, " f"{graph.number_of_edges()} connections"
    )
    return ax
