"""Structural features: numbers computed from a network's graph alone.

Each feature is named after the networkx function that computes it (with a
suffix for a statistic of it: ``in_degree_mean``), and equals what networkx
returns, which ``tests/test_graphs_features.py`` checks. The graph is the
directed graph :func:`~sksparse.graphs.network_to_graph` reads (inputs,
hidden units and outputs as nodes, connections as edges, recurrent
connections and self-loops included); the metrics networkx defines only for
undirected graphs are computed on ``G.to_undirected()``.

Where networkx loops in Python over all pairs of nodes (shortest paths,
triangles), the same quantity is computed with scipy's and numpy's compiled
routines on the adjacency matrix: thousands of graphs must be featurised in
seconds, not minutes.
"""

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

__all__ = ["FEATURE_NAMES", "structural_features"]

_DEGREE_STATS = ("mean", "std", "max", "entropy")

#: The features :func:`structural_features` returns, in its order.
FEATURE_NAMES = (
    "number_of_nodes",
    "number_of_edges",
    "density",
    "number_of_selfloops",
    *(
        f"{kind}_{stat}"
        for kind in ("in_degree", "out_degree", "degree")
        for stat in _DEGREE_STATS
    ),
    "number_of_sources",
    "number_of_sinks",
    "overall_reciprocity",
    "transitivity",
    "average_clustering",
    "number_connected_components",
    "number_strongly_connected_components",
    "average_shortest_path_length",
    "diameter",
    "global_efficiency",
    "degree_assortativity_coefficient",
    "dag_longest_path_length",
    "number_of_topological_generations",
    "topological_generation_width_max",
    "topological_generation_width_mean",
    "topological_generation_width_std",
    "spectral_radius",
)


def _degree_stats(prefix, degrees):
    """Mean, population std, max and Shannon entropy (nats) of a degree list.

    The entropy is that of the degree *distribution* ``P(k)``, the fraction of
    nodes of degree ``k`` (``scipy.stats.entropy`` of the counts).
    """
    degrees = np.asarray(degrees, dtype=float)
    if degrees.size == 0:
        return dict.fromkeys((f"{prefix}_{s}" for s in _DEGREE_STATS), 0.0)
    _, counts = np.unique(degrees, return_counts=True)
    p = counts / counts.sum()
    return {
        f"{prefix}_mean": float(degrees.mean()),
        f"{prefix}_std": float(degrees.std()),
        f"{prefix}_max": float(degrees.max()),
        f"{prefix}_entropy": float(-(p * np.log(p)).sum()),
    }


def _triangle_features(undirected_adjacency):
    """``transitivity`` and ``average_clustering`` of a simple undirected graph.

    networkx ignores self-loops in both; so does this (the diagonal is
    cleared). Triangles through node ``v`` are ``(A^3)_vv / 2``.
    """
    a = sp.csr_matrix(undirected_adjacency)
    a.setdiag(0.0)
    a.eliminate_zeros()
    degree = np.asarray(a.sum(axis=1)).ravel()
    # diag(A^3)_v = sum_j (A^2)_vj A_jv: a sparse product and an element-wise
    # one. numpy's einsum("ij,jk,ki->i") looped over all n^3 triples instead:
    # 4.0 s of the 5.5 s on a 1,194-node pruned LeNet-300-100 graph.
    triangles = np.asarray((a @ a).multiply(a).sum(axis=1)).ravel() / 2.0
    pairs = degree * (degree - 1) / 2.0
    n_triangles, n_pairs = triangles.sum(), pairs.sum()
    transitivity = float(n_triangles / n_pairs) if n_triangles > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.where(pairs > 0, triangles / pairs, 0.0)
    clustering = float(local.mean()) if len(local) else 0.0
    return transitivity, clustering


def _distance_features(undirected_adjacency, labels):
    """Shortest-path features of the undirected graph.

    ``average_shortest_path_length`` and ``diameter`` are those of the
    largest connected component (networkx raises on a disconnected graph);
    ``global_efficiency`` is over the whole graph, 0 for unreachable pairs,
    as networkx defines it.
    """
    n = len(undirected_adjacency)
    if n < 2:
        return 0.0, 0.0, 0.0
    # Breadth-first search from every node over the sparse matrix: O(n m),
    # where the dense matrix costs O(n^3) (0.34 s -> 0.22 s on 1,194 nodes).
    distance = csgraph.shortest_path(
        sp.csr_matrix(undirected_adjacency),
        method="D",
        directed=False,
        unweighted=True,
    )
    off_diagonal = ~np.eye(n, dtype=bool)
    with np.errstate(divide="ignore"):
        efficiency = float((1.0 / distance[off_diagonal]).sum() / (n * (n - 1)))
    # networkx's max() picks the first largest component in node order.
    sizes = np.bincount(labels)
    largest = np.flatnonzero(labels == np.argmax(sizes))
    m = len(largest)
    if m < 2:
        return 0.0, 0.0, efficiency
    within = distance[np.ix_(largest, largest)]
    average = float(within.sum() / (m * (m - 1)))
    return average, float(within.max()), efficiency


def _generation_features(adjacency, strong_labels, n_strong):
    """Depth and widths of the graph's layered DAG.

    For a DAG (a feed-forward network) this is the graph itself; a graph with
    cycles (recurrent connections) is first condensed to the DAG of its
    strongly connected components (what ``networkx.condensation`` builds), one
    node per component. Its ``topological_generations`` are its layers read
    from the sources, their sizes its widths, and
    ``dag_longest_path_length`` (in edges) is the number of generations minus
    one: a node's generation is the longest path from a source to it.
    """
    if n_strong == 0:
        return dict.fromkeys(_GENERATION_FEATURES, 0.0)
    # Sparse: the dense product of the membership matrices cost n^2 * n_strong
    # (0.24 s on a 1,194-node DAG, where n_strong = n).
    n = len(adjacency)
    members = sp.csr_matrix(
        (np.ones(n), (np.arange(n), strong_labels)), shape=(n, n_strong)
    )
    condensed = sp.csr_matrix(members.T @ sp.csr_matrix(adjacency) @ members)
    condensed.setdiag(0.0)
    condensed.eliminate_zeros()
    condensed = (condensed > 0).astype(np.int64).tocsr()
    remaining = np.ones(n_strong, dtype=bool)
    in_degree = np.asarray(condensed.sum(axis=0)).ravel()
    widths = []
    while remaining.any():
        generation = remaining & (in_degree == 0)
        widths.append(int(generation.sum()))
        remaining &= ~generation
        in_degree = in_degree - np.asarray(condensed[generation].sum(axis=0)).ravel()
    widths = np.array(widths, dtype=float)
    return {
        "dag_longest_path_length": float(len(widths) - 1),
        "number_of_topological_generations": float(len(widths)),
        "topological_generation_width_max": float(widths.max()),
        "topological_generation_width_mean": float(widths.mean()),
        "topological_generation_width_std": float(widths.std()),
    }


_GENERATION_FEATURES = (
    "dag_longest_path_length",
    "number_of_topological_generations",
    "topological_generation_width_max",
    "topological_generation_width_mean",
    "topological_generation_width_std",
)


def _assortativity(adjacency, in_degree, out_degree):
    """networkx's ``degree_assortativity_coefficient`` of a directed graph.

    The Pearson correlation, over the edges ``u -> v``, of the out-degree of
    ``u`` and the in-degree of ``v`` (networkx's defaults ``x="out"``,
    ``y="in"``); ``nan`` where it is undefined (no edges, or one of the two
    constant over the edges), where networkx returns nan too.
    """
    sources, targets = np.nonzero(adjacency)
    if len(sources) == 0:
        return float("nan")
    x, y = out_degree[sources], in_degree[targets]
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    if denominator == 0:
        return float("nan")
    return float((x * y).sum() / denominator)


def structural_features(graph):
    """Compute the structural features of a network's graph.

    Parameters
    ----------
    graph : networkx.Graph or networkx.DiGraph
        A network's structure, as :func:`~sksparse.graphs.network_to_graph`
        reads it (or any graph; an undirected one is read as a directed graph
        with both orientations of each edge, as ``G.to_directed()``).

    Returns
    -------
    features : dict of str to float
        Keyed and ordered as :data:`FEATURE_NAMES`:

        - ``number_of_nodes``, ``number_of_edges``, ``density``,
          ``number_of_selfloops``, ``overall_reciprocity``: networkx's, on the
          directed graph.
        - ``{in_degree, out_degree, degree}_{mean, std, max, entropy}``: of the
          directed degree sequences (``degree`` = in + out); ``std`` is the
          population standard deviation and ``entropy`` the Shannon entropy
          in nats of the degree distribution (fraction of nodes per degree).
        - ``number_of_sources``, ``number_of_sinks``: nodes without incoming,
          without outgoing edges.
        - ``transitivity``, ``average_clustering``,
          ``number_connected_components``, ``global_efficiency``: networkx's,
          on ``G.to_undirected()``.
        - ``average_shortest_path_length``, ``diameter``: networkx's, on the
          largest connected component of ``G.to_undirected()``.
        - ``number_strongly_connected_components``: of the directed graph.
        - ``degree_assortativity_coefficient``: networkx's on the directed
          graph (out-degree of the source against in-degree of the target);
          ``nan`` where it is undefined (all degrees equal).
        - ``dag_longest_path_length``, ``number_of_topological_generations``,
          ``topological_generation_width_{max, mean, std}``: depth and widths
          of the layered DAG (see Notes).
        - ``spectral_radius``: largest eigenvalue modulus of the directed
          adjacency matrix, ``max(abs(nx.adjacency_spectrum(G)))``; 0 for a
          DAG, above 0 only through cycles (recurrent connections).

    Notes
    -----
    Depth and widths are those of the graph if it is a DAG (a feed-forward
    network), else of its condensation (``nx.condensation``): the DAG whose
    nodes are the strongly connected components, so a recurrent layer whose
    units all reach each other counts as one node. ``dag_longest_path_length``
    is that DAG's longest path in edges; its ``topological_generations`` are
    its layers, read from the sources.

    Shortest paths, triangles and the spectrum are computed with scipy and
    numpy on the adjacency matrix, not with networkx's Python loops; the
    values agree with networkx's to floating-point precision.

    Examples
    --------
    >>> import networkx as nx
    >>> from sksparse.graphs import structural_features
    >>> f = structural_features(nx.path_graph(4, create_using=nx.DiGraph))
    >>> f["number_of_edges"], f["diameter"], f["dag_longest_path_length"]
    (3.0, 3.0, 3.0)
    >>> f["number_of_sources"], f["number_of_sinks"], f["spectral_radius"]
    (1.0, 1.0, 0.0)
    """
    if not isinstance(graph, nx.Graph):
        raise TypeError(f"graph must be a networkx graph, got {type(graph).__name__}.")
    if not graph.is_directed():
        graph = graph.to_directed()
    if graph.is_multigraph():
        graph = nx.DiGraph(graph)
    n = graph.number_of_nodes()
    n_edges = graph.number_of_edges()
    # One dense 0/1 adjacency matrix serves every feature: a self-loop is a
    # diagonal 1, counted once in in- and once in out-degree, as in networkx.
    adjacency = nx.to_numpy_array(graph, weight=None)
    undirected = np.maximum(adjacency, adjacency.T)  # G.to_undirected()
    in_degree = adjacency.sum(axis=0)
    out_degree = adjacency.sum(axis=1)
    features = {
        "number_of_nodes": float(n),
        "number_of_edges": float(n_edges),
        "density": float(nx.density(graph)),
        "number_of_selfloops": float(np.trace(adjacency)),
    }
    features.update(_degree_stats("in_degree", in_degree))
    features.update(_degree_stats("out_degree", out_degree))
    features.update(_degree_stats("degree", in_degree + out_degree))
    features["number_of_sources"] = float(np.sum(in_degree == 0))
    features["number_of_sinks"] = float(np.sum(out_degree == 0))
    # networkx: 2 * (|E| - |E of G.to_undirected()|) / |E|.
    n_undirected = int(np.count_nonzero(np.triu(undirected)))
    features["overall_reciprocity"] = (
        2.0 * (n_edges - n_undirected) / n_edges if n_edges else 0.0
    )
    transitivity, clustering = _triangle_features(undirected)
    features["transitivity"] = transitivity
    features["average_clustering"] = clustering
    if n:
        n_components, labels = csgraph.connected_components(undirected, directed=False)
        n_strong, strong_labels = csgraph.connected_components(
            adjacency, directed=True, connection="strong"
        )
    else:
        n_components = n_strong = 0
        labels = strong_labels = np.zeros(0, dtype=int)
    features["number_connected_components"] = float(n_components)
    features["number_strongly_connected_components"] = float(n_strong)
    average, diameter, efficiency = _distance_features(undirected, labels)
    features["average_shortest_path_length"] = average
    features["diameter"] = diameter
    features["global_efficiency"] = efficiency
    features["degree_assortativity_coefficient"] = _assortativity(
        adjacency, in_degree, out_degree
    )
    features.update(_generation_features(adjacency, strong_labels, n_strong))
    features["spectral_radius"] = _spectral_radius(adjacency, strong_labels)
    return features


def _spectral_radius(adjacency, labels):
    """Largest eigenvalue modulus of a directed adjacency matrix.

    Ordered by its strongly connected components, the matrix is block
    triangular, so its spectrum is the union of the components' spectra: the
    radius is the largest over components with a cycle, and exactly 0 for a
    DAG. (On the whole matrix, a DAG's nilpotent adjacency gives rounding
    noise of order ``eps ** (1 / depth)`` instead.)
    """
    radius = 0.0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        block = adjacency[np.ix_(members, members)]
        if len(members) == 1 and block[0, 0] == 0:
            continue  # no cycle through this node
        radius = max(radius, float(np.abs(np.linalg.eigvals(block)).max()))
    return radius


def _feature_rows(graphs, names):
    """Rows of the features ``names`` of each graph (a joblib task).

    It lives here, not beside the transformer, so that a worker process
    unpickling it imports ``sksparse.graphs`` only, not torch or skorch.
    """
    rows = []
    for graph in graphs:
        features = structural_features(graph)
        rows.append([features[name] for name in names])
    return rows
