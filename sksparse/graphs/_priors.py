"""Random-graph priors: graphs that decide, before training, which connections exist.

Stier, Darji & Granitzer (2021) draw sparse structures from generators of
network theory (Erdős–Rényi, Watts–Strogatz, Barabási–Albert and similar);
:func:`make_prior` gives them one calling convention, seeded by a
``random_state`` and parametrised by the edge density the user asks for.
"""

import inspect
import math
import numbers

import networkx as nx

from sksparse.utils._validation import (
    check_density,
    check_generator,
    check_int,
    draw_seed,
)

__all__ = ["PRIORS", "make_prior"]

#: Names of the built-in priors and the networkx generators behind them.
PRIORS = {
    # fast_gnp draws the same G(n, p) distribution as gnp_random_graph in
    # O(n + m) instead of O(n^2) time, which matters for 1000-node layer pairs.
    "erdos_renyi": nx.fast_gnp_random_graph,
    "watts_strogatz": nx.watts_strogatz_graph,
    "barabasi_albert": nx.barabasi_albert_graph,
    "random_regular": nx.random_regular_graph,
    "newman_watts_strogatz": nx.newman_watts_strogatz_graph,
    "powerlaw_cluster": nx.powerlaw_cluster_graph,
    "complete": nx.complete_graph,
}

_DEFAULT_DENSITY = 0.1
# Rewiring (Watts-Strogatz), shortcut (Newman-Watts-Strogatz) and triangle
# (Holme-Kim powerlaw_cluster) probability when the user gives none.
_DEFAULT_P = 0.1


def _check_probability(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 <= value <= 1
    ):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}.")
    return float(value)


def _even_degree(target, n_nodes):
    """Nearest even ring degree >= 2 to ``target``, capped so the ring fits."""
    k = max(2, 2 * round(target / 2))
    cap = n_nodes - 1 if (n_nodes - 1) % 2 == 0 else n_nodes - 2
    if cap < 2:  # 1 or 2 nodes: k == n_nodes makes networkx return K_n
        return n_nodes
    return min(k, cap)


def _attachment_m(density, n_nodes):
    """Edges per new node for a preferential-attachment graph of ``density``.

    Barabási–Albert and powerlaw_cluster graphs built by networkx have
    ``m * (n - m)`` edges, so density ``rho = 2 m (n - m) / (n (n - 1))``;
    solving for the smaller root gives
    ``m = (n - sqrt(n^2 - 2 rho n (n - 1))) / 2`` (about ``rho (n - 1) / 2``
    for sparse graphs). Densities above the reachable maximum (about 0.5)
    give ``m = n / 2``.
    """
    discriminant = max(0.0, n_nodes**2 - 2 * density * n_nodes * (n_nodes - 1))
    m = round((n_nodes - math.sqrt(discriminant)) / 2)
    return min(max(1, m), max(1, n_nodes - 1))


def _regular_degree(density, n_nodes):
    """Degree ``round(density (n - 1))``, moved by one where ``n * d`` is odd."""
    target = density * (n_nodes - 1)
    d = min(max(0, round(target)), n_nodes - 1)
    if (n_nodes * d) % 2:  # n odd and d odd: n - 1 is even, so d + 1 fits
        d = d + 1 if target >= d else d - 1
    return d


def _args_erdos_renyi(n, density, params):
    return {"p": _check_probability(params.get("p", density), "p")}


def _args_watts_strogatz(n, density, params):
    p = _check_probability(params.get("p", _DEFAULT_P), "p")
    if "k" in params:
        k = check_int(params["k"], "k", low=0, high=n)
    else:
        k = _even_degree(density * (n - 1), n)
    return {"k": k, "p": p}


def _args_newman_watts_strogatz(n, density, params):
    p = _check_probability(params.get("p", _DEFAULT_P), "p")
    if "k" in params:
        k = check_int(params["k"], "k", low=0, high=n)
    else:
        # Each of the n k / 2 ring edges adds a shortcut with probability p.
        k = _even_degree(density * (n - 1) / (1 + p), n)
    return {"k": k, "p": p}


def _args_barabasi_albert(n, density, params):
    if n < 2:
        raise ValueError(f"barabasi_albert needs n_nodes >= 2, got {n}.")
    if "m" in params:
        return {"m": check_int(params["m"], "m", low=1, high=n - 1)}
    return {"m": _attachment_m(density, n)}


def _args_powerlaw_cluster(n, density, params):
    p = _check_probability(params.get("p", _DEFAULT_P), "p")
    if "m" in params:
        m = check_int(params["m"], "m", low=1, high=n)
    else:
        m = _attachment_m(density, n)
    return {"m": m, "p": p}


def _args_random_regular(n, density, params):
    if "d" not in params:
        return {"d": _regular_degree(density, n)}
    d = check_int(params["d"], "d", low=0, high=n - 1)
    if (n * d) % 2:
        raise ValueError(f"d must make n_nodes * d even, got d={d}, n_nodes={n}.")
    return {"d": d}


def _args_complete(n, density, params):
    return {}


# kind -> (structural parameters it accepts, resolver returning generator kwargs)
_ARGS = {
    "erdos_renyi": (("p",), _args_erdos_renyi),
    "watts_strogatz": (("k", "p"), _args_watts_strogatz),
    "barabasi_albert": (("m",), _args_barabasi_albert),
    "random_regular": (("d",), _args_random_regular),
    "newman_watts_strogatz": (("k", "p"), _args_newman_watts_strogatz),
    "powerlaw_cluster": (("m", "p"), _args_powerlaw_cluster),
    "complete": ((), _args_complete),
}


def _takes_seed(func):
    try:
        return "seed" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _relabelled(graph, n_nodes, what):
    if not isinstance(graph, nx.Graph):
        raise ValueError(
            f"prior {what} must be a networkx.Graph, got {type(graph).__name__}."
        )
    if graph.number_of_nodes() != n_nodes:
        raise ValueError(
            f"prior {what} has {graph.number_of_nodes()} nodes but n_nodes={n_nodes}."
        )
    return nx.convert_node_labels_to_integers(graph)


def _builtin_prior(kind, n_nodes, rng, density, params):
    accepted, resolve = _ARGS[kind]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        names = ", ".join([*accepted, "density"])
        raise ValueError(
            f"Unknown parameter(s) {unknown} for prior {kind!r}; it accepts {names}."
        )
    density = _DEFAULT_DENSITY if density is None else density
    density = check_density(density, "density", allow_zero=True)
    kwargs = resolve(n_nodes, density, params)
    generator = PRIORS[kind]
    if kind == "complete":
        return generator(n_nodes)
    if kind == "random_regular" and kwargs["d"] > (n_nodes - 1) / 2:
        # networkx's pairing algorithm stalls on dense degrees; the complement
        # of a random (n - 1 - d)-regular graph is a random d-regular graph.
        sparse = generator(n=n_nodes, d=n_nodes - 1 - kwargs["d"], seed=draw_seed(rng))
        return nx.complement(sparse)
    return generator(n=n_nodes, seed=draw_seed(rng), **kwargs)


def make_prior(kind, n_nodes, *, random_state=None, density=None, **params):
    """Draw a random graph to serve as a network's structural prior.

    Parameters
    ----------
    kind : str, networkx.Graph or callable
        One of the keys of :data:`PRIORS` (``"erdos_renyi"``,
        ``"watts_strogatz"``, ``"barabasi_albert"``, ``"random_regular"``,
        ``"newman_watts_strogatz"``, ``"powerlaw_cluster"``, ``"complete"``);
        a graph with ``n_nodes`` nodes (a relabelled copy is returned); or a
        callable ``kind(n_nodes, rng, **params)`` receiving a
        :class:`numpy.random.Generator`, or ``kind(n_nodes, seed=int, **params)``
        if it has a ``seed`` parameter (so networkx generators work as is).
    n_nodes : int
        Number of nodes of the graph.
    random_state : None, int or numpy.random.Generator, default=None
        Seeds the generator; equal ints give identical graphs.
    density : float in [0, 1], default=None
        Expected edge density ``2 |E| / (n (n - 1))`` of the graph, used for
        every structural parameter not given in ``params`` (see Notes).
        ``None`` means 0.1 for the built-in kinds and is not passed on to a
        callable.
    **params
        The generator's own parameters: ``p`` (erdos_renyi), ``k`` and ``p``
        (watts_strogatz, newman_watts_strogatz), ``m`` (barabasi_albert),
        ``m`` and ``p`` (powerlaw_cluster), ``d`` (random_regular); passed
        unchanged to a callable.

    Returns
    -------
    graph : networkx.Graph
        An undirected graph (a directed one only if ``kind`` is one) whose
        nodes are ``0, ..., n_nodes - 1``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, a parameter is unknown or out of range (the
        message names it), or a given graph does not have ``n_nodes`` nodes.

    See Also
    --------
    prior_masks : Masks of a feed-forward network drawn from a prior.
    to_layered_dag : Orient a prior into a layered DAG of neurons.

    Notes
    -----
    Parameters not given are derived from ``density`` (``n = n_nodes``) and
    clipped to the generator's valid range:

    - ``erdos_renyi``: ``p = density``.
    - ``watts_strogatz``: ``k`` = the even number >= 2 nearest to
      ``density (n - 1)`` (a ring lattice of degree ``k`` has density
      ``k / (n - 1)``); ``p = 0.1``.
    - ``newman_watts_strogatz``: as watts_strogatz with target
      ``density (n - 1) / (1 + p)``, since each ring edge adds a shortcut with
      probability ``p``.
    - ``barabasi_albert``, ``powerlaw_cluster``: networkx builds ``m (n - m)``
      edges, so ``m = (n - sqrt(n^2 - 2 density n (n - 1))) / 2`` rounded, at
      least 1 (about ``density (n - 1) / 2`` for sparse graphs; at most
      ``n / 2``, the densest such graph, about 0.5). ``powerlaw_cluster`` uses
      triangle probability ``p = 0.1``.
    - ``random_regular``: ``d = round(density (n - 1))``, moved by one towards
      the target where ``n d`` would be odd. Degrees above ``(n - 1) / 2`` are
      drawn as the complement of a sparser regular graph, where networkx's
      pairing algorithm would stall.
    - ``complete``: ``density`` is ignored.

    networkx generators take ``seed=``; an int drawn from the generator made
    from ``random_state`` is passed, so the same ``random_state`` gives the
    same graph.

    Examples
    --------
    >>> from sksparse.graphs import make_prior
    >>> g = make_prior("watts_strogatz", 20, density=0.2, random_state=0)
    >>> g.number_of_nodes(), g.number_of_edges()
    (20, 40)
    >>> h = make_prior("watts_strogatz", 20, density=0.2, random_state=0)
    >>> sorted(g.edges) == sorted(h.edges)
    True
    >>> make_prior("erdos_renyi", 10, p=0.0).number_of_edges()
    0
    """
    n_nodes = check_int(n_nodes, "n_nodes", low=1)
    if isinstance(kind, nx.Graph):
        given = sorted(params) + (["density"] if density is not None else [])
        if given:
            raise ValueError(
                "prior parameters cannot be given with a networkx.Graph as prior "
                f"kind, got {given}."
            )
        return _relabelled(kind, n_nodes, "graph")
    rng = check_generator(random_state)
    if isinstance(kind, str):
        if kind not in PRIORS:
            raise ValueError(
                f"Unknown prior kind {kind!r}; prior (kind) must be one of "
                f"{sorted(PRIORS)}, a networkx.Graph or a callable."
            )
        # networkx's generators already number their nodes 0..n-1.
        return _builtin_prior(kind, n_nodes, rng, density, params)
    if callable(kind):
        if density is not None:
            params = {**params, "density": density}
        if _takes_seed(kind):
            graph = kind(n_nodes, seed=draw_seed(rng), **params)
        else:
            graph = kind(n_nodes, rng, **params)
        return _relabelled(graph, n_nodes, "callable's result")
    raise ValueError(
        f"prior (kind) must be a str in {sorted(PRIORS)}, a networkx.Graph or a "
        f"callable, got {type(kind).__name__}."
    )
