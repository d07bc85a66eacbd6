"""From a prior graph to a network: the "neuron" and "relational" mappings.

Stier, Darji & Granitzer (2021) turn a random graph into a network either by
making its nodes neurons (oriented into a DAG for a feed-forward net) or by
using it as the pattern of the layers' masks. Two explicit mappings do that
here:

- ``"neuron"``: graph nodes are neurons placed in layers by
  :func:`interleaved_order`; depth and widths are the user's, never the
  graph's (deepstruct maps a 30-node small-world graph onto a chain 30
  layers deep and one neuron wide).
- ``"relational"``: a graph over groups of neurons gives every layer a block
  mask (You, Leskovec, He & Xie 2020, "Graph Structure of Neural Networks").
"""

import inspect
import itertools
from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_bipartite_matching, shortest_path

from sksparse.graphs._floor import check_min_in_degree, floor_in_degree
from sksparse.graphs._layering import _ring_slots
from sksparse.graphs._priors import make_prior
from sksparse.utils._validation import (
    check_density,
    check_generator,
    check_int,
    spawn_generators,
)

__all__ = ["prior_masks"]

_MAPPINGS = ("neuron", "relational")


def _check_layer_sizes(layer_sizes):
    if isinstance(layer_sizes, str | bytes) or not isinstance(
        layer_sizes, Sequence | np.ndarray
    ):
        raise ValueError(
            f"layer_sizes must be a sequence of positive ints, got {layer_sizes!r}."
        )
    if len(layer_sizes) < 2:
        raise ValueError(
            "layer_sizes must hold at least the input and output sizes, got "
            f"{list(layer_sizes)}."
        )
    return [check_int(s, f"layer_sizes[{i}]", low=1) for i, s in enumerate(layer_sizes)]


def _prior_kwargs(prior, prior_params, graph_density):
    """``prior_params``, plus the calibrated ``density`` where it applies."""
    params = dict(prior_params)
    if isinstance(prior, nx.Graph) or "density" in params:
        return params
    if isinstance(prior, str) or _accepts_density(prior):
        params["density"] = float(np.clip(graph_density, 0.0, 1.0))
    return params


def _accepts_density(func):
    try:
        return "density" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _adjacency(graph, n_nodes):
    """Symmetric CSR adjacency of a graph whose nodes are ``0..n_nodes-1``."""
    n_edges = graph.number_of_edges()
    ends = np.fromiter(
        itertools.chain.from_iterable(graph.edges),
        dtype=np.int64,
        count=2 * n_edges,
    ).reshape(-1, 2)
    rows = np.concatenate([ends[:, 0], ends[:, 1]])
    cols = np.concatenate([ends[:, 1], ends[:, 0]])
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_array((data, (rows, cols)), shape=(n_nodes, n_nodes))


def _bounded_distances(adjacency, sources, targets, n_wanted):
    """Hop distances from ``sources`` to ``targets``, as far as ranking needs.

    A breadth-first search from all sources at once (one sparse product per
    level), stopped at the first level by which ``n_wanted`` source-target
    pairs are reached: pairs further away cannot be among the ``n_wanted``
    nearest, so they all get that level + 1. This is exact for ranking and
    cheaper than full shortest paths when the prior already supplies most
    of the connections (it usually stops after one or two levels).
    """
    n_sources, n_nodes = len(sources), adjacency.shape[0]
    target_col = np.full(n_nodes, -1, dtype=np.int64)
    target_col[targets] = np.arange(len(targets))
    distance = np.full((n_sources, len(targets)), np.inf)
    reached = np.zeros((n_sources, n_nodes), dtype=bool)
    rows = np.arange(n_sources)
    reached[rows, sources] = True
    ones = np.ones(n_sources, dtype=np.float32)
    frontier = sp.csr_array((ones, (rows, sources)), shape=(n_sources, n_nodes))
    found = level = 0
    while found < n_wanted and frontier.nnz:
        level += 1
        step = sp.csr_array(frontier @ adjacency)
        r = np.repeat(np.arange(n_sources), np.diff(step.indptr))
        c = step.indices
        new = ~reached[r, c]
        r, c = r[new], c[new]
        reached[r, c] = True
        t = target_col[c]
        hit = t >= 0
        distance[r[hit], t[hit]] = level
        found += int(hit.sum())
        ones = np.ones(len(r), dtype=np.float32)
        frontier = sp.csr_array((ones, (r, c)), shape=(n_sources, n_nodes))
    distance[np.isinf(distance)] = level + 1
    return distance


def _covers(mask, k):
    """Whether ``min(n_out, k)`` rows and ``min(n_in, k)`` columns are used."""
    n_out, n_in = mask.shape
    rows_used = np.count_nonzero(mask.any(axis=1))
    cols_used = np.count_nonzero(mask.any(axis=0))
    return rows_used >= min(n_out, k) and cols_used >= min(n_in, k)


def _select(key, k, rng):
    """The ``k`` entries of lowest ``key``, repaired so no neuron is dead.

    ``floor(key)`` is a hop distance (0 for a uniform mask), the fraction a
    random tie-break. Every output neuron (row) gets an input and every input
    neuron (column) an output where ``k`` allows it: ``min(n_out, k)`` rows
    and ``min(n_in, k)`` columns are covered.
    """
    n_out, n_in = key.shape
    flat = key.ravel()
    if k >= flat.size:
        return np.ones(key.shape, dtype=bool)
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argpartition(flat, k - 1)[:k]] = True
    if _covers(mask.reshape(key.shape), k):
        return mask.reshape(key.shape)  # the usual case: the ranking is kept
    # Repair. A maximum matching (Hopcroft-Karp) among the nearest entries
    # covers the smaller layer: hop 1 first (the prior's own edges, which
    # often hold a perfect matching a greedy pass would miss), widened a hop
    # at a time until it is large enough. Rows and columns are shuffled so
    # that ties do not favour low indices.
    hops = np.floor(key)
    target = min(n_out, n_in, k)
    row_perm, col_perm = rng.permutation(n_out), rng.permutation(n_in)
    shuffled = hops[np.ix_(row_perm, col_perm)]
    for hop in np.unique(shuffled):
        allowed = sp.csr_array(shuffled <= hop)
        match = maximum_bipartite_matching(allowed, perm_type="column")
        if np.count_nonzero(match >= 0) >= target:
            break
    rows = np.flatnonzero(match >= 0)
    cover = row_perm[rows] * n_in + col_perm[match[rows]]
    cover = cover[np.argsort(flat[cover], kind="stable")][:target]
    # The larger layer's uncovered neurons take their best-ranked connection.
    mask = np.zeros(flat.size, dtype=bool)
    mask[cover] = True
    covered = mask.reshape(key.shape)
    if n_out > n_in:
        free = np.flatnonzero(~covered.any(axis=1))
        singles = free * n_in + key[free].argmin(axis=1)
    else:
        free = np.flatnonzero(~covered.any(axis=0))
        singles = key[:, free].argmin(axis=0) * n_in + free
    singles = singles[np.argsort(flat[singles], kind="stable")]
    mask[singles[: k - len(cover)]] = True
    # The best-ranked remaining entries fill up to k.
    order = np.argsort(flat, kind="stable")
    mask[order[~mask[order]][: k - np.count_nonzero(mask)]] = True
    return mask.reshape(key.shape)


def _ranked(distance, rng):
    # Distances are whole hops; adding a uniform draw in [0, 0.5) breaks ties
    # at random without ever crossing into the next hop (no rounding to +1).
    return distance + 0.5 * rng.random(distance.shape)


def _neuron_key(prior, prior_params, n_in, n_out, k, rng):
    """Rank keys of an (n_out, n_in) mask under the "neuron" mapping."""
    n_nodes = n_in + n_out
    # A graph of density rho on n nodes has rho n (n - 1) / 2 edges. With the
    # two layers interleaved around the ring, a random or ring-local edge joins
    # the two layers with probability 2 n_in n_out / n^2, so it has about
    # rho n_in n_out (n - 1) / n cross edges; asking for k of them gives
    # rho = k / (n_in n_out) * n / (n - 1): about the mask's own density.
    graph_density = k / (n_in * n_out) * n_nodes / (n_nodes - 1)
    if (
        isinstance(prior, str)
        and prior == "complete"
        and set(prior_params) <= {"density"}
    ):
        # Every pair is one hop apart: skip building n^2 / 2 edges.
        return _ranked(np.ones((n_out, n_in)), rng)
    params = _prior_kwargs(prior, prior_params, graph_density)
    graph = make_prior(prior, n_nodes, random_state=rng, **params)
    in_slots, out_slots = _ring_slots([n_in, n_out])
    # Rotate a drawn prior's ring so the generator's first nodes (Barabási–
    # Albert hubs) do not always sit on the first neurons (an image's border
    # pixels); a graph the user gave is placed as given.
    offset = 0 if isinstance(prior, nx.Graph) else int(rng.integers(n_nodes))
    in_nodes, out_nodes = (in_slots - offset) % n_nodes, (out_slots - offset) % n_nodes
    adjacency = _adjacency(graph, n_nodes)
    # Search from the smaller layer; edges count both ways (an undirected view).
    if n_out <= n_in:
        distance = _bounded_distances(adjacency, out_nodes, in_nodes, k)
    else:
        distance = _bounded_distances(adjacency, in_nodes, out_nodes, k).T
    return _ranked(distance, rng)


def _group_distances(prior, prior_params, density, n_groups, rng):
    """Hop distances between the groups of one shared relational graph."""
    if n_groups == 1:
        return np.zeros((1, 1))
    # You et al. (2020): a node reads its own group and its neighbours', so
    # near-equal groups and a graph of E edges give a block mask of density
    # (G + 2E) / G^2; with rho = 2E / (G (G - 1)) that is (1 + rho (G - 1)) / G,
    # hence rho = (density G - 1) / (G - 1), clipped to [0, 1].
    graph_density = (density * n_groups - 1) / (n_groups - 1)
    params = _prior_kwargs(prior, prior_params, graph_density)
    graph = make_prior(prior, n_groups, random_state=rng, **params)
    distance = shortest_path(
        _adjacency(graph, n_groups), unweighted=True, directed=False
    )
    distance[np.isinf(distance)] = n_groups  # unreachable groups rank last
    if isinstance(prior, nx.Graph):
        return distance  # group i is the user's node i
    # As for "neuron": rotate a drawn prior so its hubs are not always group 0.
    nodes = (np.arange(n_groups) - int(rng.integers(n_groups))) % n_groups
    return distance[np.ix_(nodes, nodes)]


def _groups(width, n_groups):
    """Group of every neuron: ``n_groups`` contiguous near-equal groups."""
    return np.arange(width) * n_groups // width


def prior_masks(
    layer_sizes,
    density,
    *,
    prior=None,
    prior_params=None,
    mapping="neuron",
    n_groups=None,
    min_in_degree=0,
    uniform_output=False,
    random_state=None,
):
    """Draw the connection masks of a feed-forward network from a prior.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_in, h_1, ..., n_out]``: the sizes of all layers.
    density : float in (0, 1]
        Fraction of every layer's connections kept (``1 - sparsity``).
    prior : None, str, networkx.Graph or callable, default=None
        ``None`` draws uniform random masks; otherwise the prior's ``kind``
        as in :func:`make_prior`. A graph must have ``n_in + n_out`` nodes
        for every layer pair under ``"neuron"`` and ``n_groups`` nodes under
        ``"relational"``.
    prior_params : dict, default=None
        Parameters of the prior (``p``, ``k``, ``m``, ``d``, ``density``).
        Unless it fixes ``density``, the prior's density is calibrated to the
        mask's (see Notes); a parameter such as ``k`` fixes the structure.
    mapping : {"neuron", "relational"}, default="neuron"
        How the prior becomes masks (see Notes). Ignored when ``prior=None``.
    n_groups : int, default=None
        Number of neuron groups for ``"relational"`` (default: the graph's
        node count for a graph prior, else ``min(16, min(layer_sizes))``).
        Ignored by ``"neuron"``.
    min_in_degree : int, default=0
        Every hidden and output neuron keeps at least this many inputs (at
        most the smallest fan-in); the extra ones are drawn at random and paid
        for by the farthest connections of the best-connected neurons, so the
        density is unchanged. A layer with fewer than ``min_in_degree * n_out``
        connections gets the floor ``k // n_out``. Keeps local priors
        trainable at high sparsity (:doc:`/user_guide/priors`).
    uniform_output : bool, default=False
        Draw the output layer's mask uniformly at random instead of from the
        prior, so that no class reads only one region of a local prior.
    random_state : None, int or numpy.random.Generator, default=None
        Equal ints give identical masks.

    Returns
    -------
    masks : list of numpy.ndarray of bool
        ``len(layer_sizes) - 1`` masks; mask ``l`` has torch's weight shape
        ``(layer_sizes[l + 1], layer_sizes[l])``.

    Raises
    ------
    ValueError
        If ``density`` is outside (0, 1], a layer size is below 1,
        ``min_in_degree`` is negative or above a fan-in, or ``mapping`` is
        unknown; the message names the parameter.

    See Also
    --------
    make_prior : The priors.
    to_layered_dag : The "neuron" mapping for a whole network as one DAG.

    Notes
    -----
    Every mask has exactly ``max(1, round(density * n_out * n_in))`` ones,
    so the network's density is the one asked for whatever the prior. Both
    mappings rank a layer pair's candidate connections by a distance in the
    prior graph, break ties at random, and keep the ``k`` nearest:

    - ``"neuron"``: a prior on ``n_in + n_out`` nodes is drawn per layer pair;
      its nodes become the two layers' neurons in :func:`interleaved_order`
      (a drawn prior's ring rotated by a random offset; a given graph's node
      ``i`` is the ``i``-th neuron), and a connection's distance is
      the hop distance between its neurons. The prior's cross-layer edges
      come first (distance 1), then pairs two hops apart, and so on: a prior
      sparser than the mask is kept whole and grown along its own paths; a
      denser one is subsampled. The prior's density is calibrated to about
      ``density * n / (n - 1)`` (``n = n_in + n_out``), which gives about
      ``k`` cross edges, since interleaving makes a fraction
      ``2 n_in n_out / n^2`` of its edges cross between the layers.
    - ``"relational"`` (You et al. 2020): one graph over ``G = n_groups``
      nodes serves all layers; each layer's neurons are split into ``G``
      contiguous near-equal groups (the first groups one neuron larger where
      the width is not a multiple of ``G``; a drawn prior's node labels are
      rotated at random, a given graph's node ``i`` is group ``i``) and an
      output neuron in group ``i`` may
      read an input neuron in group ``j`` iff ``i == j`` or ``(i, j)`` is an
      edge. The distance is the hop distance between groups (0 within one),
      so the mask is the block mask, trimmed or grown to exactly ``k``. The
      graph's density is calibrated to ``(density G - 1) / (G - 1)``, for
      which the block mask alone has the asked density.

    Where ``k`` allows it, no neuron is dead: at least ``min(n_out, k)``
    output neurons have an input and ``min(n_in, k)`` input neurons an
    output. The ranking is kept when it already achieves this (the usual
    case); otherwise a maximum matching among the nearest candidates (the
    prior's own edges first) covers the smaller layer, the larger layer's
    uncovered neurons take their nearest candidate, and the ranking fills
    the rest.

    Examples
    --------
    >>> import networkx as nx
    >>> from sksparse.graphs import prior_masks
    >>> masks = prior_masks([8, 6, 2], 0.5, prior="watts_strogatz", random_state=0)
    >>> [m.shape for m in masks]
    [(6, 8), (2, 6)]
    >>> [int(m.sum()) for m in masks]
    [24, 6]
    >>> masks = prior_masks([8, 8], 0.25, prior=nx.empty_graph(4),
    ...                     mapping="relational", random_state=0)
    >>> masks[0].astype(int)
    array([[1, 1, 0, 0, 0, 0, 0, 0],
           [1, 1, 0, 0, 0, 0, 0, 0],
           [0, 0, 1, 1, 0, 0, 0, 0],
           [0, 0, 1, 1, 0, 0, 0, 0],
           [0, 0, 0, 0, 1, 1, 0, 0],
           [0, 0, 0, 0, 1, 1, 0, 0],
           [0, 0, 0, 0, 0, 0, 1, 1],
           [0, 0, 0, 0, 0, 0, 1, 1]])
    """
    sizes = _check_layer_sizes(layer_sizes)
    density = check_density(density, "density")
    if mapping not in _MAPPINGS:
        raise ValueError(f"mapping must be one of {list(_MAPPINGS)}, got {mapping!r}.")
    if prior_params is None:
        prior_params = {}
    elif not isinstance(prior_params, Mapping):
        raise ValueError(
            f"prior_params must be a dict, got {type(prior_params).__name__}."
        )
    min_in_degree = check_min_in_degree(min_in_degree, sizes)
    if not isinstance(uniform_output, bool | np.bool_):
        raise ValueError(f"uniform_output must be a bool, got {uniform_output!r}.")
    rng = check_generator(random_state)
    pairs = list(itertools.pairwise(sizes))
    children = spawn_generators(rng, len(pairs) + 1)
    counts = [max(1, round(density * n_in * n_out)) for n_in, n_out in pairs]

    if prior is None:
        keys = [
            child.random((n_out, n_in)) for (n_in, n_out), child in zip(pairs, children)
        ]
    elif mapping == "neuron":
        keys = [
            np.zeros((n_out, n_in))  # a full layer: every entry is kept
            if k >= n_in * n_out
            else _neuron_key(prior, prior_params, n_in, n_out, k, child)
            for (n_in, n_out), k, child in zip(pairs, counts, children)
        ]
    else:
        if n_groups is None:
            n_groups = (
                prior.number_of_nodes()
                if isinstance(prior, nx.Graph)
                else min(16, min(sizes))
            )
        n_groups = check_int(n_groups, "n_groups", low=1, high=min(sizes))
        # One relational graph for all layers, as in You et al. (2020).
        distance = _group_distances(
            prior, prior_params, density, n_groups, children[-1]
        )
        keys = [
            _ranked(
                distance[np.ix_(_groups(n_out, n_groups), _groups(n_in, n_groups))],
                child,
            )
            for (n_in, n_out), child in zip(pairs, children)
        ]
    if uniform_output and prior is not None:
        n_in, n_out = pairs[-1]
        keys[-1] = children[-1].random((n_out, n_in))
    masks = [_select(key, k, child) for key, k, child in zip(keys, counts, children)]
    if min_in_degree:
        masks = [
            floor_in_degree(mask, key, min_in_degree, child)
            for mask, key, child in zip(masks, keys, children)
        ]
    return masks
