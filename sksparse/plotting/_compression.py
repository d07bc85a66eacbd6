"""Accuracy against compression, the figure of every pruning experiment."""

import numpy as np

from sksparse.plotting._common import as_rows, column, new_axes


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
    rows = as_rows(results)
    if not rows:
        raise ValueError("results are empty: nothing to plot.")
    xs = np.asarray(column(rows, x), dtype=float)
    ys = np.asarray(column(rows, y), dtype=float)
    labels = [str(v) for v in column(rows, hue)]
    ax = new_axes(ax, (6.4, 4.2))
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
