"""Per-layer sensitivity: the score with one layer pruned, against the amount."""

import numpy as np

from sksparse.plotting._common import as_rows, column, new_axes


def _curves(results, amounts):
    """``(amounts, layers, scores)`` from a curve's tuple or from result rows."""
    if isinstance(results, tuple) and len(results) == 2:
        layers, scores = results
        scores = np.asarray(scores, dtype=float)
        if scores.ndim == 3:  # a cross-validated curve: the folds' mean
            scores = scores.mean(axis=2)
        if amounts is None:
            raise ValueError(
                "amounts must be given with the (layers, scores) of "
                "sensitivity_curve: the amounts it was called with."
            )
        amounts = np.asarray(amounts, dtype=float)
        layers = [str(layer) for layer in layers]
        if scores.shape != (len(layers), len(amounts)):
            raise ValueError(
                f"scores must have shape (n_layers, n_amounts) = "
                f"({len(layers)}, {len(amounts)}), got {scores.shape}."
            )
        return amounts, layers, scores
    rows = as_rows(results)
    if not rows:
        raise ValueError("results are empty: nothing to plot.")
    names = [str(v) for v in column(rows, "layer")]
    xs = np.asarray(column(rows, "amount"), dtype=float)
    ys = np.asarray(column(rows, "score"), dtype=float)
    layers = list(dict.fromkeys(names))
    levels = np.unique(xs) if amounts is None else np.asarray(amounts, dtype=float)
    scores = np.full((len(layers), len(levels)), np.nan)
    for name, x, score in zip(names, xs, ys):
        hit = np.flatnonzero(np.isclose(levels, x))
        if hit.size:
            scores[layers.index(name), hit[0]] = score
    return levels, layers, scores


def plot_sensitivity_curve(results, amounts=None, *, ax=None):
    """Score against the amount each layer alone is pruned to, one line per layer.

    A layer whose line falls early is sensitive; one that keeps its score
    can be pruned further (see :func:`sksparse.pruning.sensitivity_curve`).

    Parameters
    ----------
    results : tuple (layers, scores), list of dict, dict of columns or DataFrame
        What :func:`~sksparse.pruning.sensitivity_curve` returned (then
        ``amounts`` is required), or rows with the columns ``layer``,
        ``amount`` and ``score``, as ``sksparse sensitivity`` writes them.
    amounts : sequence of float, default=None
        The amounts of the curve's columns.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure's when None.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> from sksparse.plotting import plot_sensitivity_curve
    >>> curve = (["layers.0.weight", "layers.2.weight"],
    ...          [[0.97, 0.96, 0.90], [0.97, 0.80, 0.40]])
    >>> ax = plot_sensitivity_curve(curve, [0.0, 0.5, 0.9])
    >>> [line.get_label() for line in ax.get_lines()]
    ['layers.0.weight', 'layers.2.weight']
    """
    amounts, layers, scores = _curves(results, amounts)
    ax = new_axes(ax, (6.4, 4.2))
    markers = "osD^vP*Xh<>"
    for k, (layer, row) in enumerate(zip(layers, scores)):
        ax.plot(100 * amounts, row, marker=markers[k % len(markers)], label=layer)
    ax.set_xlabel("weights of the layer removed (%)")
    ax.set_ylabel("score")
    ax.grid(True, alpha=0.3)
    ax.legend(title="layer pruned alone", fontsize="small", title_fontsize="small")
    return ax
