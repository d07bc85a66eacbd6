"""Plots of sparse networks and of the experiments on them (matplotlib).

Every function draws into the ``ax`` it is given (or a new figure's) and
returns the matplotlib ``Axes`` it drew on, for the caller to style and save.
matplotlib is imported when a function is first called, so that
``import sksparse.plotting`` stays cheap.

- :func:`plot_accuracy_vs_compression`: accuracy against the fraction of
  weights removed, one line per method.
- :func:`plot_structure`: the network as a layered graph, neurons as dots and
  kept connections as lines (small networks), or :func:`plot_masks`: one
  mask image per layer (large ones).
- :func:`plot_predicted_vs_true`: a performance predictor's predictions
  against the true scores.
- :func:`plot_search_progress`: best and median score per generation of a
  structure search.
"""

import math

import numpy as np

__all__ = [
    "plot_accuracy_vs_compression",
    "plot_masks",
    "plot_predicted_vs_true",
    "plot_search_progress",
    "plot_structure",
]

_KIND_COLORS = {"input": "#7f7f7f", "hidden": "#1f77b4", "output": "#d62728"}
_RECURRENT_COLOR = "#ff7f0e"


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _records(results):
    """Rows of dicts from a list of dicts, a dict of columns or a DataFrame."""
    if hasattr(results, "to_dict") and hasattr(results, "columns"):
        return results.to_dict("records")
    if isinstance(results, dict):
        columns = {k: list(v) for k, v in results.items() if np.ndim(v) == 1}
        n = len(next(iter(columns.values()), []))
        return [{k: v[i] for k, v in columns.items()} for i in range(n)]
    return [dict(row) for row in results]


def _column(rows, name):
    missing = [i for i, row in enumerate(rows) if name not in row]
    if missing:
        raise ValueError(f"results lack the column {name!r} (row {missing[0]}).")
    return [row[name] for row in rows]


def plot_accuracy_vs_compression(
    results,
    *,
    x="sparsity",
    y="accuracy",
    hue="method",
    baseline="dense",
    ax=None,
):
    """Accuracy against compression, one line per method.

    Compression is the fraction of weights removed (80 % compression = 20 %
    of the weights remain), drawn in percent. Where a method has several rows
    at one compression (several seeds), the line joins their means and bars
    show their standard deviation.

    Parameters
    ----------
    results : list of dict, dict of columns or pandas.DataFrame
        One row per trained network, such as the rows of
        :func:`sksparse.experiments.sparsity_sweep` or the file it wrote.
    x : str, default="sparsity"
        Column of the compression, a fraction in ``[0, 1]``.
    y : str, default="accuracy"
        Column of the score.
    hue : str, default="method"
        Column that names the method; one line per value.
    baseline : str or None, default="dense"
        A method drawn as a horizontal dashed line (the unpruned network)
        instead of a curve.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure's when None.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> from sksparse.plotting import plot_accuracy_vs_compression
    >>> rows = [{"method": "dense", "sparsity": 0.0, "accuracy": 0.97},
    ...         {"method": "class-blinded", "sparsity": 0.8, "accuracy": 0.96},
    ...         {"method": "class-blinded", "sparsity": 0.9, "accuracy": 0.93}]
    >>> ax = plot_accuracy_vs_compression(rows)
    >>> [line.get_label() for line in ax.get_lines()]
    ['class-blinded', 'dense (0.970)']
    """
    rows = _records(results)
    if not rows:
        raise ValueError("results are empty: nothing to plot.")
    xs = np.asarray(_column(rows, x), dtype=float)
    ys = np.asarray(_column(rows, y), dtype=float)
    labels = [str(v) for v in _column(rows, hue)]
    ax = _new_axes(ax, (6.4, 4.2))
    import matplotlib as mpl

    colors = mpl.colormaps["tab10"].colors
    methods = [m for m in dict.fromkeys(labels) if m != baseline]
    markers = "osD^vP*Xh<>"
    for k, method in enumerate(methods):
        mine = np.array([label == method for label in labels])
        levels = np.unique(xs[mine])
        means = np.array([np.nanmean(ys[mine & (xs == v)]) for v in levels])
        stds = np.array([np.nanstd(ys[mine & (xs == v)]) for v in levels])
        color = colors[k % len(colors)]
        ax.plot(
            100 * levels,
            means,
            marker=markers[k % len(markers)],
            color=color,
            label=method,
        )
        if np.any(stds > 0):
            ax.errorbar(
                100 * levels, means, yerr=stds, fmt="none", ecolor=color, capsize=3
            )
    if baseline is not None and baseline in labels:
        level = float(np.nanmean(ys[[label == baseline for label in labels]]))
        ax.axhline(
            level, color="0.3", linestyle="--", label=f"{baseline} ({level:.3f})"
        )
    ax.set_xlabel("compression (% of weights removed)")
    ax.set_ylabel(y.replace("_", " "))
    ax.grid(True, alpha=0.3)
    ax.legend(title=hue, fontsize="small", title_fontsize="small")
    return ax


# -- structure ----------------------------------------------------------------
def _as_graph(model):
    import networkx as nx

    if isinstance(model, nx.Graph):
        return model
    from sksparse.graphs import network_to_graph

    return network_to_graph(_module(model))


def _module(model):
    from sksparse.experiments import network_module

    return network_module(model)


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
    return _draw_layered(graph, ax=ax, show_recurrent=show_recurrent)


def _n_neurons(model):
    """Neurons of a network, counted from its weight shapes (no graph built)."""
    from sksparse.pruning import find_prunable_weights

    weights = find_prunable_weights(_module(model))
    if not weights:
        return 0
    shapes = [tuple(w.weight.shape) for w in weights]
    return shapes[0][1] + sum(
        s[0] // max(w.n_gates, 1) for s, w in zip(shapes, weights)
    )


def _draw_layered(graph, *, ax, show_recurrent):
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
    ax = _new_axes(
        ax, (min(2.2 * len(columns) + 1.5, 12), min(max(3.5, width / 12), 8))
    )
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


def plot_masks(model, *, layers=None, axes=None, max_columns=4):
    """Draw each layer's mask as an image: black where a connection is kept.

    One image per prunable weight (:func:`sksparse.pruning.find_prunable_weights`),
    rows the layer's outputs, columns its inputs (for a recurrent layer, the
    gates' rows stacked in PyTorch's order). The title gives the layer's
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
    from sksparse.pruning import find_prunable_weights

    weights = find_prunable_weights(_module(model))
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


# -- prediction and search ----------------------------------------------------
def plot_predicted_vs_true(y_true, y_pred, *, groups=None, label="accuracy", ax=None):
    """Scatter a predictor's predictions against the true values.

    Points on the dashed diagonal are predicted exactly. The legend gives R²
    per group (and overall), the figure a structural predictor is judged by.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_networks,)
    groups : array-like of shape (n_networks,), default=None
        Colour the points by group (a cell type, say).
    label : str, default="accuracy"
        What is predicted, for the axis labels.
    ax : matplotlib.axes.Axes, default=None

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> from sksparse.plotting import plot_predicted_vs_true
    >>> ax = plot_predicted_vs_true([0.5, 0.7, 0.9], [0.55, 0.7, 0.85])
    >>> ax.get_xlabel()
    'true accuracy'
    """
    from sklearn.metrics import r2_score

    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            "y_true and y_pred must be 1-D of the same length, got shapes "
            f"{y_true.shape} and {y_pred.shape}."
        )
    groups = np.asarray(["all"] * len(y_true) if groups is None else groups)
    ok = np.isfinite(y_true) & np.isfinite(y_pred)
    ax = _new_axes(ax, (5.0, 5.0))
    import matplotlib as mpl

    colors = mpl.colormaps["tab10"].colors
    names = list(dict.fromkeys(groups[ok].tolist()))
    for k, name in enumerate(names):
        mine = ok & (groups == name)
        text = str(name)
        if mine.sum() >= 2:
            text += f" (R² = {r2_score(y_true[mine], y_pred[mine]):.2f})"
        ax.scatter(
            y_true[mine],
            y_pred[mine],
            s=22,
            alpha=0.75,
            color=colors[k % len(colors)],
            edgecolors="white",
            linewidths=0.4,
            label=text,
        )
    if ok.any():
        low = min(y_true[ok].min(), y_pred[ok].min())
        high = max(y_true[ok].max(), y_pred[ok].max())
        pad = 0.05 * (high - low or 1.0)
        limits = (low - pad, high + pad)
        ax.plot(limits, limits, linestyle="--", color="0.4", linewidth=1, zorder=0)
        ax.set_xlim(limits)
        ax.set_ylim(limits)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"predicted {label}")
    if ok.sum() >= 2:
        ax.set_title(f"R² = {r2_score(y_true[ok], y_pred[ok]):.2f} (n = {ok.sum()})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_search_progress(results, *, score="mean_test_score", ax=None):
    """Best and median score of each generation of a structure search.

    Each generation's new individuals are grey dots, their best and median
    joined by lines; a step line shows the best score found so far (elites
    carried into a generation are not evaluated again, so a generation's own
    best may fall below it). Individuals the performance predictor screened
    out (never trained) have no measured score and are not drawn.

    Parameters
    ----------
    results : GeneticSearchCV, dict of columns, list of dict or DataFrame
        A fitted search (its ``cv_results_``) or rows with ``generation``,
        ``score`` and, optionally, ``trained``.
    score : str, default="mean_test_score"
    ax : matplotlib.axes.Axes, default=None

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> from sksparse.plotting import plot_search_progress
    >>> rows = [{"generation": g, "mean_test_score": s}
    ...         for g, s in [(0, 0.6), (0, 0.8), (1, 0.85), (1, 0.7)]]
    >>> ax = plot_search_progress(rows)
    >>> [line.get_label() for line in ax.get_lines()]
    ['best so far', 'best', 'median']
    """
    if hasattr(results, "cv_results_"):
        results = results.cv_results_
    rows = _records(results)
    if not rows:
        raise ValueError("results are empty: nothing to plot.")
    generation = np.asarray(_column(rows, "generation"), dtype=int)
    scores = np.asarray(_column(rows, score), dtype=float)
    trained = np.asarray([bool(row.get("trained", True)) for row in rows])
    ok = trained & np.isfinite(scores)
    ax = _new_axes(ax, (6.4, 4.2))
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.12, 0.12, size=ok.sum())
    ax.scatter(
        generation[ok] + jitter,
        scores[ok],
        s=14,
        color="0.55",
        alpha=0.6,
        label="individual",
        zorder=1,
    )
    gens = np.unique(generation)
    per_generation = [scores[ok & (generation == g)] for g in gens]
    best = np.array([s.max() if s.size else np.nan for s in per_generation])
    median = np.array([np.median(s) if s.size else np.nan for s in per_generation])
    so_far = np.fmax.accumulate(np.where(np.isnan(best), -np.inf, best))
    ax.step(
        gens,
        np.where(np.isinf(so_far), np.nan, so_far),
        where="post",
        color="0.2",
        linewidth=1,
        label="best so far",
        zorder=2,
    )
    ax.plot(gens, best, marker="o", color="#2ca02c", label="best", zorder=2)
    ax.plot(
        gens,
        median,
        marker="s",
        linestyle="--",
        color="#1f77b4",
        label="median",
        zorder=2,
    )
    ax.set_xticks(gens)
    ax.set_xlabel("generation")
    ax.set_ylabel(score.replace("_", " "))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax
