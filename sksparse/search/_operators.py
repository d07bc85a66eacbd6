"""Evolutionary operators: small pure functions that take an explicit ``rng``.

Every function here draws its randomness from the ``numpy.random.Generator``
it is given and from nothing else, so a search that saves the generator's
``bit_generator.state`` can resume with the same random stream. None of them
knows about estimators: :class:`~sksparse.search.GeneticSearchCV` composes
them, and they can be used (and tested) on their own.

Mutation and crossover always return valid values: a mutated number is
clipped back into its support, a mutated category is one of the choices, and
layer sizes stay within their bounds.
"""

import math

import numpy as np

__all__ = [
    "crossover_layers",
    "elite_indices",
    "mutate_categorical",
    "mutate_distribution",
    "mutate_layers",
    "tournament_select",
    "uniform_crossover",
]

# Quantiles are kept this far from 0 and 1: the inverse CDF of a distribution
# with unbounded support is infinite there, and scipy's discrete ppf(0) is
# ``a - 1``, one below the support.
_EPS = 1e-9


def _fitness_array(fitness):
    """Fitness as floats, with NaN (a failed individual) ranked below all."""
    fitness = np.asarray(fitness, dtype=np.float64)
    return np.where(np.isnan(fitness), -np.inf, fitness)


def tournament_select(fitness, n_select, tournament_size, rng):
    """Pick individuals by tournaments: the fittest of a random sample wins.

    Parameters
    ----------
    fitness : array-like of shape (n_individuals,)
        Higher is better; NaN (a failed individual) loses every tournament
        against a finite one.
    n_select : int
        Number of winners to return (individuals may win repeatedly).
    tournament_size : int
        Contestants per tournament, drawn without replacement (capped at the
        population size). Larger tournaments select more greedily.
    rng : numpy.random.Generator

    Returns
    -------
    winners : ndarray of int, shape (n_select,)
        Indices into ``fitness``.

    Examples
    --------
    >>> import numpy as np
    >>> tournament_select([0.1, 0.9, 0.5], 2, 3, np.random.default_rng(0))
    array([1, 1])
    """
    fitness = _fitness_array(fitness)
    n = len(fitness)
    if n == 0:
        raise ValueError("tournament_select needs at least one individual.")
    size = min(int(tournament_size), n)
    winners = np.empty(n_select, dtype=np.int64)
    for i in range(n_select):
        contestants = rng.choice(n, size=size, replace=False)
        # Ties go to the first drawn contestant: random, yet reproducible.
        winners[i] = contestants[np.argmax(fitness[contestants])]
    return winners


def elite_indices(fitness, n_elite):
    """Indices of the ``n_elite`` fittest individuals, fittest first.

    Ties keep the earlier individual first (a stable sort), NaN ranks last.

    Examples
    --------
    >>> elite_indices([0.3, float("nan"), 0.7, 0.3], 2)
    array([2, 0])
    """
    fitness = _fitness_array(fitness)
    order = np.argsort(-fitness, kind="stable")
    return order[: max(0, int(n_elite))]


def uniform_crossover(genome_a, genome_b, rng, *, swap_probability=0.5):
    """Swap each gene between two parents with probability ``swap_probability``.

    Parameters
    ----------
    genome_a, genome_b : dict
        Parents with the same keys.
    rng : numpy.random.Generator
    swap_probability : float, default=0.5

    Returns
    -------
    child_a, child_b : dict
        New dicts; the parents are not modified.
    """
    if genome_a.keys() != genome_b.keys():
        raise ValueError("uniform_crossover needs genomes with the same genes.")
    child_a, child_b = dict(genome_a), dict(genome_b)
    for key in sorted(genome_a, key=str):
        if rng.random() < swap_probability:
            child_a[key], child_b[key] = genome_b[key], genome_a[key]
    return child_a, child_b


def mutate_categorical(value, choices, rng):
    """Replace ``value`` by a different one of ``choices`` (uniformly).

    With a single choice the value is returned unchanged.
    """
    others = [i for i, choice in enumerate(choices) if not _same(choice, value)]
    if not others:
        return value
    return choices[others[rng.integers(len(others))]]


def _same(a, b):
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b


def mutate_distribution(value, distribution, rng, *, scale=0.2):
    """Move ``value`` by a Gaussian step in the distribution's quantile space.

    The value is mapped to its quantile ``u = F(value)``, moved to
    ``u + N(0, scale)`` (reflected into (0, 1)) and mapped back through the
    inverse CDF. The step is therefore scale-free: on a log-uniform learning
    rate it is multiplicative, on a ``randint`` it moves by whole numbers, and
    the result always lies in the distribution's support.

    Parameters
    ----------
    value : float or int
    distribution : scipy.stats frozen distribution
        Anything with ``cdf`` and ``ppf`` (``scipy.stats.uniform``,
        ``loguniform``, ``randint``, ...).
    rng : numpy.random.Generator
    scale : float, default=0.2
        Standard deviation of the step, as a fraction of the quantile range.

    Returns
    -------
    value : float or int
        An int for discrete distributions.
    """
    u = float(distribution.cdf(value))
    if not math.isfinite(u):
        u = 0.5
    step = rng.normal(0.0, scale)
    u = _reflect(u + step)
    new = distribution.ppf(min(max(u, _EPS), 1.0 - _EPS))
    if _is_discrete(distribution):
        new = int(new)
        if new == value:  # a step inside one mass point: move to a neighbour
            low, high = _support(distribution)
            new = _neighbour(int(value), 1 if step >= 0 else -1, low, high)
        return int(new)
    return float(new)


def _neighbour(value, direction, low, high):
    """``value`` moved by one in ``direction``, or the other way at a bound."""
    for candidate in (value + direction, value - direction):
        if low <= candidate <= high:
            return candidate
    return value


def _reflect(u):
    """Reflect ``u`` into [0, 1] (a step past an edge bounces back)."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


def _support(distribution):
    low, high = distribution.support()
    return float(low), float(high)


def _is_discrete(distribution):
    from scipy import stats

    return isinstance(getattr(distribution, "dist", None), stats.rv_discrete)


def mutate_layers(sizes, rng, *, min_layers, max_layers, min_units, max_units):
    """Mutate a tuple of layer widths: add, remove or resize one layer.

    One of three moves is drawn uniformly among those the bounds allow:
    insert a layer (width copied from a neighbour), remove a layer, or scale
    one layer's width by a log-normal factor. Widths are clipped into
    ``[min_units, max_units]`` and the depth stays in
    ``[min_layers, max_layers]``.

    Returns
    -------
    sizes : tuple of int
    """
    sizes = [int(s) for s in sizes]
    moves = ["resize"]
    if len(sizes) < max_layers:
        moves.append("add")
    if len(sizes) > min_layers:
        moves.append("remove")
    move = moves[rng.integers(len(moves))]
    if move == "add":
        at = int(rng.integers(len(sizes) + 1))
        neighbour = sizes[min(at, len(sizes) - 1)] if sizes else min_units
        sizes.insert(at, neighbour)
    elif move == "remove":
        del sizes[int(rng.integers(len(sizes)))]
    else:
        at = int(rng.integers(len(sizes)))
        factor = math.exp(rng.normal(0.0, 0.5))
        new = min(max(int(round(sizes[at] * factor)), min_units), max_units)
        if new == sizes[at]:
            new = _neighbour(new, 1 if factor >= 1 else -1, min_units, max_units)
        sizes[at] = new
    return tuple(int(min(max(s, min_units), max_units)) for s in sizes)


def crossover_layers(sizes_a, sizes_b, rng, *, min_layers, max_layers):
    """One-point crossover of two tuples of layer widths.

    A cut point is drawn in each parent; the children are ``a[:i] + b[j:]``
    and ``b[:j] + a[i:]``. Cut points are re-drawn (at most 20 times) until
    both children have between ``min_layers`` and ``max_layers`` layers; when
    none is found the parents are returned unchanged.

    Returns
    -------
    child_a, child_b : tuple of int
    """
    sizes_a, sizes_b = tuple(sizes_a), tuple(sizes_b)
    for _ in range(20):
        i = int(rng.integers(len(sizes_a) + 1))
        j = int(rng.integers(len(sizes_b) + 1))
        child_a = sizes_a[:i] + sizes_b[j:]
        child_b = sizes_b[:j] + sizes_a[i:]
        if all(min_layers <= len(c) <= max_layers for c in (child_a, child_b)):
            return child_a, child_b
    return sizes_a, sizes_b
