"""Plots of structure prediction and structure search."""

import numpy as np

from sksparse.plotting._common import as_rows, column, new_axes


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
    ax = new_axes(ax, (5.0, 5.0))
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
    rows = as_rows(results)
    if not rows:
        raise ValueError("results are empty: nothing to plot.")
    generation = np.asarray(column(rows, "generation"), dtype=int)
    scores = np.asarray(column(rows, score), dtype=float)
    trained = np.asarray([bool(row.get("trained", True)) for row in rows])
    ok = trained & np.isfinite(scores)
    ax = new_axes(ax, (6.4, 4.2))
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
