"""A floor on every neuron's in-degree, at the mask's own density.

At high sparsity a local prior leaves many neurons reading almost nothing:
under the ``"neuron"`` mapping a Watts-Strogatz ring gives each output neuron
the few inputs near it on the ring, a Barabasi-Albert graph gives its hubs
most connections and the other neurons one. The floor raises every row of a
mask to at least ``min_in_degree`` ones, drawn at random among the row's
free entries, and pays for them with the worst-ranked connections of the
best-connected rows, so the mask keeps exactly its ``k`` ones.
"""

import numpy as np

from sksparse.utils._validation import check_int


def check_min_in_degree(min_in_degree, layer_sizes):
    """Validate ``min_in_degree``: an int in ``[0, min(fan-in)]``."""
    fan_in = min(layer_sizes[:-1])
    return check_int(min_in_degree, "min_in_degree", low=0, high=fan_in)


def floor_in_degree(mask, key, min_in_degree, rng):
    """Give every row of ``mask`` at least ``min_in_degree`` ones, same total.

    Parameters
    ----------
    mask : numpy.ndarray of bool, shape (n_out, n_in)
        The selected connections.
    key : numpy.ndarray, shape (n_out, n_in)
        Rank of every entry (lower is better): removed connections are the
        highest-ranked (the farthest in the prior) of their row.
    min_in_degree : int
        The floor, at most ``n_in``. A layer whose ``k`` ones cannot give
        every row that many (``k < min_in_degree * n_out``) gets the floor
        ``k // n_out``, so the density is never exceeded.
    rng : numpy.random.Generator
        Draws the added connections.

    Returns
    -------
    mask : numpy.ndarray of bool
        A new mask with ``mask.sum()`` ones and every row at least the floor.
    """
    n_out, n_in = mask.shape
    k = int(np.count_nonzero(mask))
    floor = min(min_in_degree, k // n_out, n_in)
    mask = mask.copy()
    degree = mask.sum(axis=1)
    poor = np.flatnonzero(degree < floor)
    if poor.size == 0:
        return mask
    # Added connections: uniform among each poor row's free entries (a random
    # key per entry, the free ones first), so the floor adds no structure.
    draw = rng.random((poor.size, n_in)) + mask[poor]
    needed = floor - degree[poor]
    picks = np.argsort(draw, axis=1)
    added = np.arange(n_in)[None, :] < needed[:, None]
    rows = np.repeat(poor, needed)
    mask[rows, picks[added]] = True
    n_remove = int(needed.sum())
    # Water-filling: cut the richest rows down to a level T >= floor, the
    # smallest with sum(max(d - T, 0)) <= n_remove, then one more from as many
    # rows at T as remain (T > floor then, since cutting all rows to the floor
    # frees exactly k + n_remove - floor * n_out >= n_remove).
    degree = mask.sum(axis=1)
    levels = np.arange(floor, degree.max() + 1)
    excess = np.maximum(degree[None, :] - levels[:, None], 0).sum(axis=1)
    level = int(levels[np.argmax(excess <= n_remove)])
    cut = np.maximum(degree - level, 0)
    left = n_remove - int(cut.sum())
    if left:
        at_level = np.flatnonzero(degree >= level)
        cut[rng.choice(at_level, size=left, replace=False)] += 1
    for row in np.flatnonzero(cut):
        ones = np.flatnonzero(mask[row])
        worst = ones[np.argsort(key[row, ones], kind="stable")[::-1][: cut[row]]]
        mask[row, worst] = False
    return mask
