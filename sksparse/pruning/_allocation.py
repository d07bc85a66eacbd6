"""Per-layer amounts from a sensitivity curve, for one global target.

Each class (layer) is pruned as far as its own curve allows: one tolerated
score drop ``τ`` holds for every class, each class goes to the largest amount
whose measured drop stays within ``τ``, and ``τ`` is the smallest drop at
which the amounts add up to the target. Insensitive layers thus take most of
the pruning, sensitive ones keep their weights (Han et al. 2015's per-layer
sensitivity analysis, made a rule).
"""

import warnings

import numpy as np

__all__ = ["check_sensitivity", "sensitivity_allocation"]

# A slope that makes every drop curve strictly increasing, so its inverse is
# a function and the total amount is continuous in the tolerated drop.
_TIE_SLOPE = 1e-9


def check_sensitivity(sensitivity):
    """``(layers, scores, amounts)`` as a list, an array and an array, checked."""
    if not isinstance(sensitivity, (tuple, list)) or len(sensitivity) != 3:
        raise ValueError(
            "sensitivity must be a tuple (layers, scores, amounts): the layers and "
            "scores sensitivity_curve returned and the amounts it was given, got "
            f"{type(sensitivity).__name__}."
        )
    layers, scores, amounts = sensitivity
    if isinstance(layers, str) or not all(isinstance(n, str) for n in layers):
        raise ValueError(
            f"sensitivity's layers must be parameter names, got {layers!r}."
        )
    amounts = np.asarray(amounts, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if amounts.ndim != 1 or amounts.size == 0:
        raise ValueError("sensitivity's amounts must be a non-empty 1-D sequence.")
    if not ((amounts >= 0) & (amounts < 1)).all() or (np.diff(amounts) <= 0).any():
        raise ValueError(
            "sensitivity's amounts must increase within [0, 1), got "
            f"{amounts.tolist()}."
        )
    if scores.shape != (len(layers), len(amounts)):
        raise ValueError(
            f"sensitivity's scores must have shape (n_layers, n_amounts) = "
            f"({len(layers)}, {len(amounts)}), got {scores.shape}."
        )
    if not np.isfinite(scores).all():
        raise ValueError("sensitivity's scores must be finite.")
    return list(layers), scores, amounts


def _drop_curve(scores, amounts):
    """``(drops, amounts)`` from 0 to 1, drops non-negative and increasing."""
    reference = scores[0]
    xs, drops = list(amounts), list(reference - scores)
    if xs[0] > 0:
        xs.insert(0, 0.0)
        drops.insert(0, 0.0)
    # Pruning a whole layer leaves nothing of its score: a drop of at least
    # the reference (its curve's end beyond the last amount measured).
    xs.append(1.0)
    drops.append(max(max(drops), abs(reference)))
    xs = np.asarray(xs)
    drops = np.maximum.accumulate(np.maximum(np.asarray(drops), 0.0))
    return drops + _TIE_SLOPE * xs, xs


def sensitivity_allocation(
    sensitivity, names, sizes, target, *, pruned=None, caps=None
):
    """The amount of every class for ``target`` pruned weights in all.

    Parameters
    ----------
    sensitivity : tuple (layers, scores, amounts)
        A sensitivity curve (see :func:`sksparse.pruning.sensitivity_curve`).
    names : list of str
        The classes to prune; each must be one of the curve's layers.
    sizes : list of int
        Their numbers of weights.
    target : int
        Number of weights pruned over all classes together.
    pruned, caps : list of int, default=None
        Per class, the weights pruned already (never revived: the fewest it
        gets) and the most it may lose (``min_density``'s floor).

    Returns
    -------
    counts : list of int
        Weights pruned per class, adding up to ``target`` where the caps
        allow.
    tolerance : float
        The score drop every class was allowed.
    """
    layers, scores, amounts = check_sensitivity(sensitivity)
    missing = [n for n in names if n not in layers]
    if missing:
        raise ValueError(
            f"sensitivity has no curve for {missing}; it covers {layers}. Compute "
            "it over every layer the pruner prunes."
        )
    sizes = np.asarray(sizes, dtype=float)
    floors = np.zeros(len(names)) if pruned is None else np.asarray(pruned, float)
    caps = sizes.copy() if caps is None else np.asarray(caps, float)
    curves = [_drop_curve(scores[layers.index(n)], amounts) for n in names]

    def counts_at(tolerance):
        allowed = np.array([np.interp(tolerance, d, a) for d, a in curves]) * sizes
        return np.clip(allowed, floors, np.maximum(caps, floors))

    low, high = 0.0, max(float(d[-1]) for d, _ in curves)
    if counts_at(high).sum() < target:
        warnings.warn(
            f"min_density allows pruning only {int(counts_at(high).sum())} of "
            f"{int(sizes.sum())} weights, {target} were asked for: the target "
            "sparsity is not reached.",
            UserWarning,
            stacklevel=3,
        )
        low = high
    for _ in range(100):
        if counts_at(low).sum() >= target:
            high = low
            break
        middle = (low + high) / 2
        if counts_at(middle).sum() >= target:
            high = middle
        else:
            low = middle
        if high - low < 1e-12:
            break
    exact = counts_at(high)
    counts = np.floor(exact).astype(int)
    # Largest remainders first, within each class's cap, to meet the target.
    short = int(min(target, np.floor(np.maximum(caps, floors)).sum()) - counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    for i in order:
        if short <= 0:
            break
        if counts[i] < max(caps[i], floors[i]):
            counts[i] += 1
            short -= 1
    return [int(c) for c in counts], float(high)
