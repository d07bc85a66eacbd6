"""Recurrent masks from a prior graph.

Two mappings: :func:`recurrent_prior_masks` draws one layer's input-to-hidden
and hidden-to-hidden masks from the graph (``mapping="hidden"``);
:func:`layered_recurrent_masks` makes the graph a layered DAG, one recurrent
layer per DAG layer (``mapping="layered"``, the paper's).
"""

import networkx as nx
import numpy as np

from sksparse.graphs._layering import to_layered_dag
from sksparse.graphs._mapping import prior_masks
from sksparse.graphs._priors import make_prior
from sksparse.utils._validation import check_density, check_generator, check_int

__all__ = ["layered_recurrent_masks", "recurrent_prior_masks"]


def _trim_or_grow(mask, k, rng):
    """Make ``mask`` keep ``k`` entries (one more where symmetry needs it).

    A generator hits its density only in expectation (a Watts-Strogatz graph
    has ``n k / 2`` edges, a random regular one ``n d / 2``), and the diagonal
    adds ``n`` more: ``sparsity=0.5`` with ``"watts_strogatz"`` kept 54.3% of a
    layer. Units' self-connections go last, as they stand for the state a
    unit keeps. A symmetric mask (an undirected prior) loses or gains its
    off-diagonal connections in pairs, so it stays symmetric; an odd
    difference then leaves it one connection above ``k``.
    """
    n = len(mask)
    if np.array_equal(mask, mask.T):
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        excess = int(mask.sum()) - k
        if excess > 0:
            pairs = np.flatnonzero(mask & upper)
            chosen = rng.permutation(pairs)[: min(excess // 2, len(pairs))]
            mask.flat[chosen] = False
            mask.T.flat[chosen] = False
        elif excess < 0:
            pairs = np.flatnonzero(~mask & upper)
            chosen = rng.permutation(pairs)[: min((1 - excess) // 2, len(pairs))]
            mask.flat[chosen] = True
            mask.T.flat[chosen] = True
        if abs(int(mask.sum()) - k) <= 1:
            return mask
    off = ~np.eye(n, dtype=bool)
    excess = int(mask.sum()) - k
    if excess > 0:
        kept = np.flatnonzero(mask & off)
        if len(kept) < excess:  # k < n: self-connections go too
            kept = np.concatenate([kept, np.flatnonzero(mask & ~off)])
        mask.flat[rng.permutation(kept)[:excess]] = False
    elif excess < 0:
        free = np.flatnonzero(~mask & off)
        if len(free) < -excess:
            free = np.concatenate([free, np.flatnonzero(~mask & ~off)])
        mask.flat[rng.permutation(free)[:-excess]] = True
    return mask


def recurrent_prior_masks(
    input_size,
    hidden_size,
    num_layers,
    density,
    *,
    prior=None,
    prior_params=None,
    random_state=None,
):
    """Unit-level input-to-hidden and hidden-to-hidden masks from a prior.

    Parameters
    ----------
    input_size, hidden_size, num_layers : int
    density : float in (0, 1]
        Fraction of connections kept in every mask.
    prior : None, str, networkx.Graph or callable, default=None
        As in :func:`sksparse.graphs.make_prior`; ``None`` draws uniform masks.
        A graph must have ``hidden_size`` nodes and is every layer's
        hidden-to-hidden structure, kept as it is; the input-to-hidden masks
        are then uniform at ``density``.
    prior_params : dict, default=None
        Parameters of the prior. If it fixes ``density``, the drawn graph is
        kept as drawn.
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState

    Returns
    -------
    ih_masks, hh_masks : list of ndarray of bool
        Shapes ``(hidden_size, n_in)`` and ``(hidden_size, hidden_size)``, one
        per layer; the layers tile them over their gates. Every mask keeps
        exactly ``max(1, round(density * size))`` entries (as
        :func:`sksparse.graphs.prior_masks` does), except a hidden-to-hidden
        mask from a given graph or a fixed prior density, and one from an
        undirected prior, which stays symmetric and so may keep one more.

    Notes
    -----
    Input-to-hidden: :func:`sksparse.graphs.prior_masks` under the
    ``"neuron"`` mapping for ``[input_size, hidden_size, ..., hidden_size]``.
    Hidden-to-hidden: a prior graph over the ``hidden_size`` units of a layer,
    its edges the recurrent connections (``mask[i, j]`` for an edge
    ``j -> i``; both directions for an undirected graph), plus every unit's
    connection to itself: a graph node stands for a unit whose state persists,
    and generators draw no self-loops. The graph's density is calibrated to
    ``(density H - 1) / (H - 1)``, so that with the diagonal the mask keeps
    about ``density`` of its entries; a generator hits a density only
    approximately, so random off-diagonal connections are then removed or
    added until the count is exact.

    Examples
    --------
    >>> from sksparse.graphs import recurrent_prior_masks
    >>> ih, hh = recurrent_prior_masks(3, 10, 1, 0.5, prior="watts_strogatz",
    ...                                random_state=0)
    >>> ih[0].shape, hh[0].shape, int(hh[0].sum()), bool(hh[0].diagonal().all())
    ((10, 3), (10, 10), 50, True)
    """
    input_size = check_int(input_size, "input_size", low=1)
    hidden_size = check_int(hidden_size, "hidden_size", low=1)
    num_layers = check_int(num_layers, "num_layers", low=1)
    density = check_density(density)
    rng = check_generator(random_state)
    prior_params = dict(prior_params or {})
    sizes = [input_size] + [hidden_size] * num_layers
    if isinstance(prior, nx.Graph):
        ih = prior_masks(sizes, density, prior=None, random_state=rng)
    else:
        ih = prior_masks(
            sizes, density, prior=prior, prior_params=prior_params, random_state=rng
        )
    k = max(1, round(density * hidden_size * hidden_size))
    hh = []
    for _ in range(num_layers):
        if prior is None:
            hh.append(prior_masks([hidden_size] * 2, density, random_state=rng)[0])
            continue
        params = dict(prior_params)
        calibrated = not isinstance(prior, nx.Graph) and "density" not in params
        if calibrated:
            target = (density * hidden_size - 1) / max(hidden_size - 1, 1)
            params["density"] = float(np.clip(target, 0.0, 1.0))
        graph = make_prior(prior, hidden_size, random_state=rng, **params)
        adjacency = nx.to_numpy_array(graph, nodelist=range(hidden_size), weight=None)
        mask = adjacency.T != 0
        np.fill_diagonal(mask, True)
        if calibrated:
            mask = _trim_or_grow(mask, k, rng)
        hh.append(mask)
    return [np.asarray(m, dtype=bool) for m in ih], hh


def layered_recurrent_masks(graph, input_size, *, n_layers=None, random_state=None):
    """The paper's recurrent mapping: one recurrent layer per layer of a DAG.

    Stier, Darji & Granitzer (2021) make a random graph a layered DAG and
    every DAG layer a recurrent layer whose units are the layer's nodes; an
    edge ``u -> v`` is the input-to-hidden connection from unit ``u`` to unit
    ``v``, and an edge that skips layers is a connection between non-adjacent
    recurrent layers.

    Parameters
    ----------
    graph : networkx.Graph or networkx.DiGraph
        An undirected graph, layered by :func:`to_layered_dag` into
        ``n_layers`` layers of near-equal width, or a DAG, layered by its
        topological generations.
    input_size : int
        Features per step of the sequences; the first layer reads all of them
        (as in the paper's code).
    n_layers : int, default=None
        Layers for an undirected graph (:func:`to_layered_dag`'s default
        when None); must be None for a DAG.
    random_state : None, int or numpy.random.Generator, default=None
        Passed to :func:`to_layered_dag` (rotates which nodes land in which
        layer); None places nodes deterministically.

    Returns
    -------
    structure : dict
        ``widths`` (units per layer), ``sources`` (per layer, the earlier
        layers whose outputs it reads, concatenated in that order; layer 0
        reads the input), ``ih_masks`` (per layer, a unit-level bool mask of
        shape ``(width, n_in)``, ``n_in`` the input size or the summed widths
        of the sources; the layers tile it over their gates) and ``dag``
        (the layered DAG, its nodes with ``layer`` and ``index``).

    Notes
    -----
    Hidden-to-hidden matrices stay dense, as in the paper's code: the graph
    says which unit feeds which, the recurrence is every unit's own layer's.
    A layer whose nodes have no incoming edge still reads the layer below it,
    through an all-zero mask, so the stack stays a chain.

    Examples
    --------
    >>> import networkx as nx
    >>> from sksparse.graphs import layered_recurrent_masks
    >>> dag = nx.DiGraph([(0, 2), (1, 2), (2, 3), (0, 3)])
    >>> s = layered_recurrent_masks(dag, 5)
    >>> s["widths"], s["sources"]
    ([2, 1, 1], [(), (0,), (0, 1)])
    >>> s["ih_masks"][2].astype(int).tolist()  # node 3 reads node 0 and node 2
    [[1, 0, 1]]
    """
    input_size = check_int(input_size, "input_size", low=1)
    dag = to_layered_dag(graph, n_layers=n_layers, random_state=random_state)
    layer = dict(dag.nodes(data="layer"))
    index = dict(dag.nodes(data="index"))
    n = max(layer.values()) + 1
    widths = [0] * n
    for node in dag:
        widths[layer[node]] += 1
    sources, masks = [()], [np.ones((widths[0], input_size), dtype=bool)]
    for target in range(1, n):
        edges = [(u, v) for u, v in dag.edges if layer[v] == target]
        reads = tuple(sorted({layer[u] for u, _ in edges})) or (target - 1,)
        offsets = dict(zip(reads, np.cumsum([0, *[widths[s] for s in reads]])))
        mask = np.zeros((widths[target], sum(widths[s] for s in reads)), dtype=bool)
        for u, v in edges:
            mask[index[v], offsets[layer[u]] + index[u]] = True
        sources.append(reads)
        masks.append(mask)
    return {"widths": widths, "sources": sources, "ih_masks": masks, "dag": dag}
