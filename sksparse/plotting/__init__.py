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
- :func:`plot_sensitivity_curve`: the score with one layer pruned, one line
  per layer, against the amount.
- :func:`plot_search_progress`: best and median score per generation of a
  structure search.
"""

from sksparse.plotting._compression import plot_accuracy_vs_compression
from sksparse.plotting._search import plot_predicted_vs_true, plot_search_progress
from sksparse.plotting._sensitivity import plot_sensitivity_curve
from sksparse.plotting._structure import plot_masks, plot_structure

__all__ = [
    "plot_accuracy_vs_compression",
    "plot_masks",
    "plot_predicted_vs_true",
    "plot_search_progress",
    "plot_sensitivity_curve",
    "plot_structure",
]
