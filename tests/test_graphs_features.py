"""structural_features: every value equals networkx's for it."""

import math

import networkx as nx
import numpy as np
import pytest
import torch

from sksparse.graphs import FEATURE_NAMES, network_to_graph, structural_features
from sksparse.nn import MaskedLSTM, SparseMLP


def _stats(degrees):
    degrees = np.array([d for _, d in degrees], dtype=float)
    _, counts = np.unique(degrees, return_counts=True)
    p = counts / counts.sum()
    return degrees.mean(), degrees.std(), degrees.max(), -(p * np.log(p)).sum()


def networkx_reference(graph):
    """The features, each computed by the networkx function it is named after."""
    directed = graph if graph.is_directed() else graph.to_directed()
    undirected = directed.to_undirected()
    largest = undirected.subgraph(max(nx.connected_components(undirected), key=len))
    condensed = nx.condensation(directed)
    widths = [len(g) for g in nx.topological_generations(condensed)]
    reference = {
        "number_of_nodes": directed.number_of_nodes(),
        "number_of_edges": directed.number_of_edges(),
        "density": nx.density(directed),
        "number_of_selfloops": nx.number_of_selfloops(directed),
        "number_of_sources": sum(d == 0 for _, d in directed.in_degree()),
        "number_of_sinks": sum(d == 0 for _, d in directed.out_degree()),
        "overall_reciprocity": nx.overall_reciprocity(directed),
        "transitivity": nx.transitivity(undirected),
        "average_clustering": nx.average_clustering(undirected),
        "number_connected_components": nx.number_connected_components(undirected),
        "number_strongly_connected_components": (
            nx.number_strongly_connected_components(directed)
        ),
        "average_shortest_path_length": nx.average_shortest_path_length(largest),
        "diameter": nx.diameter(largest),
        "global_efficiency": nx.global_efficiency(undirected),
        "degree_assortativity_coefficient": nx.degree_assortativity_coefficient(
            directed
        ),
        "dag_longest_path_length": nx.dag_longest_path_length(condensed),
        "number_of_topological_generations": len(widths),
        "topological_generation_width_max": max(widths),
        "topological_generation_width_mean": np.mean(widths),
        "topological_generation_width_std": np.std(widths),
        "spectral_radius": max(abs(nx.adjacency_spectrum(directed))),
    }
    for kind, degrees in (
        ("in_degree", directed.in_degree()),
        ("out_degree", directed.out_degree()),
        ("degree", directed.degree()),
    ):
        for stat, value in zip(("mean", "std", "max", "entropy"), _stats(degrees)):
            reference[f"{kind}_{stat}"] = value
    return reference


def _cyclic_digraph():
    graph = nx.gnp_random_graph(30, 0.12, directed=True, seed=1)
    graph.add_edges_from([(0, 0), (5, 5), (7, 7)])
    return graph


def _recurrent_network_graph():
    gen = torch.Generator().manual_seed(0)
    lstm = MaskedLSTM(
        5,
        12,
        num_layers=2,
        ih_masks=[torch.rand(12, 5, generator=gen) < 0.5, torch.eye(12)],
        hh_masks=[torch.rand(12, 12, generator=gen) < 0.2] * 2,
    )
    return lstm.to_graph()


def _feed_forward_network_graph():
    masks = [torch.rand(10, 6, generator=torch.Generator().manual_seed(2)) < 0.4]
    masks.append(torch.ones(3, 10))
    return network_to_graph(SparseMLP(6, (10,), 3, masks=masks))


def _residual_network_graph():
    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(4, 6), torch.nn.Linear(6, 6)
            self.c = torch.nn.Linear(6, 2)

        def forward(self, x):
            h = self.a(x).relu()
            return self.c(h + self.b(h).relu())

    return network_to_graph(Residual())


GRAPHS = {
    "residual_network": _residual_network_graph,
    "cyclic_digraph_with_selfloops": _cyclic_digraph,
    "recurrent_network": _recurrent_network_graph,
    "feed_forward_network": _feed_forward_network_graph,
    "undirected_small_world": lambda: nx.watts_strogatz_graph(25, 4, 0.2, seed=0),
    "disconnected_digraph": lambda: nx.disjoint_union(
        nx.gnp_random_graph(12, 0.3, directed=True, seed=3),
        nx.path_graph(4, create_using=nx.DiGraph),
    ),
}


@pytest.fixture(scope="module", params=sorted(GRAPHS))
def graph_and_reference(request):
    graph = GRAPHS[request.param]()
    return request.param, graph, networkx_reference(graph)


def test_features_are_named_and_ordered_as_feature_names(graph_and_reference):
    _, graph, _ = graph_and_reference
    assert tuple(structural_features(graph)) == FEATURE_NAMES


def test_every_feature_equals_networkx(graph_and_reference):
    name, graph, reference = graph_and_reference
    features = structural_features(graph)
    assert set(reference) == set(features)
    for key, expected in reference.items():
        tolerance = 1e-9
        if key == "spectral_radius":
            if name == "feed_forward_network":
                continue  # see test_spectral_radius_of_a_dag_is_exactly_zero
            # networkx's whole-matrix eigensolver carries the rounding noise
            # of the graph's acyclic part (about 1e-9 here).
            tolerance = 1e-6
        assert features[key] == pytest.approx(
            float(expected), rel=tolerance, abs=tolerance
        ), key


def test_spectral_radius_of_a_dag_is_exactly_zero():
    # networkx's dense eigensolver returns rounding noise for a DAG's nilpotent
    # adjacency; the per-component computation returns the exact 0.
    graph = _feed_forward_network_graph()
    assert structural_features(graph)["spectral_radius"] == 0.0
    assert max(abs(nx.adjacency_spectrum(graph))) < 1e-4


def test_undirected_graph_is_read_with_both_orientations():
    graph = nx.cycle_graph(6)
    features = structural_features(graph)
    assert features["number_of_edges"] == 12.0
    assert features["overall_reciprocity"] == 1.0
    assert features["spectral_radius"] == pytest.approx(2.0)
    assert features["diameter"] == 3.0


def test_assortativity_is_nan_where_networkx_finds_it_undefined():
    graph = nx.cycle_graph(5, create_using=nx.DiGraph)  # every degree equal
    with pytest.warns(RuntimeWarning):
        expected = nx.degree_assortativity_coefficient(graph)
    assert math.isnan(expected)
    assert math.isnan(structural_features(graph)["degree_assortativity_coefficient"])


@pytest.mark.parametrize(
    "graph",
    [nx.DiGraph(), nx.empty_graph(1, create_using=nx.DiGraph), nx.empty_graph(4)],
    ids=["empty", "single_node", "no_edges"],
)
def test_degenerate_graphs_give_finite_counts(graph):
    features = structural_features(graph)
    assert tuple(features) == FEATURE_NAMES
    n = graph.number_of_nodes()
    assert features["number_of_nodes"] == n
    assert features["number_of_edges"] == 0
    assert features["number_of_sources"] == features["number_of_sinks"] == n
    assert features["diameter"] == 0.0
    assert features["spectral_radius"] == 0.0


def test_multigraph_is_read_as_a_simple_digraph():
    graph = nx.MultiDiGraph([(0, 1), (0, 1), (1, 2)])
    assert structural_features(graph) == pytest.approx(
        structural_features(nx.DiGraph([(0, 1), (1, 2)])), nan_ok=True
    )


def test_non_graph_input_is_rejected_with_its_type():
    with pytest.raises(TypeError, match="ndarray"):
        structural_features(np.eye(3))
