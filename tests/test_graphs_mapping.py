"""Tests for sksparse.graphs._layering and _mapping: layered DAGs and masks."""

import time
from collections import Counter

import networkx as nx
import numpy as np
import pytest

from sksparse.graphs import (
    PRIORS,
    interleaved_order,
    make_prior,
    prior_masks,
    to_layered_dag,
)

PRIORS_AND_NONE = [None, *sorted(PRIORS)]


def _layer_counts(dag):
    return Counter(nx.get_node_attributes(dag, "layer").values())


def _cross_edges(graph, n_in, n_out, offset):
    """Mask of a prior's cross-layer edges under the interleaved order, rotated."""
    order = interleaved_order([n_in, n_out])
    n_nodes = n_in + n_out
    mask = np.zeros((n_out, n_in), dtype=bool)
    for u, v in graph.edges:
        (lu, ju), (lv, jv) = (
            order[(u + offset) % n_nodes],
            order[(v + offset) % n_nodes],
        )
        if lu != lv:
            out, inp = (ju, jv) if lu == 1 else (jv, ju)
            mask[out, inp] = True
    return mask


def _matches_some_rotation(mask, graph, n_in, n_out, relation):
    return any(
        relation(mask, _cross_edges(graph, n_in, n_out, offset))
        for offset in range(n_in + n_out)
    )


# -- interleaved_order --------------------------------------------------------


def test_interleaved_order_places_neurons_by_relative_position():
    assert interleaved_order([2, 4]) == [(1, 0), (0, 0), (1, 1), (1, 2), (0, 1), (1, 3)]


def test_interleaved_order_alternates_equal_widths_layer_by_layer():
    assert interleaved_order([2, 2, 2]) == [
        (0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)
    ]  # fmt: skip


def test_interleaved_order_lists_every_neuron_once():
    widths = [7, 3, 11]
    order = interleaved_order(widths)
    expected = [(layer, j) for layer, w in enumerate(widths) for j in range(w)]
    assert sorted(order) == expected


@pytest.mark.parametrize("widths", [[], [3, 0], [2.5], "abc"])
def test_interleaved_order_rejects_bad_widths(widths):
    with pytest.raises(ValueError, match="widths"):
        interleaved_order(widths)


# -- to_layered_dag -----------------------------------------------------------


@pytest.fixture(scope="module")
def small_world():
    return nx.watts_strogatz_graph(30, 4, 0.2, seed=0)


def test_small_world_30_nodes_maps_to_3_layers_not_a_30_layer_chain(small_world):
    # Regression guard against deepstruct's mapping, which turns this graph
    # into a chain 30 layers deep and one neuron wide.
    dag = to_layered_dag(small_world, n_layers=3)
    assert _layer_counts(dag) == {0: 10, 1: 10, 2: 10}
    assert nx.dag_longest_path_length(dag) <= 2


def test_default_is_three_layers_and_fewer_for_tiny_graphs(small_world):
    assert len(_layer_counts(to_layered_dag(small_world))) == 3
    assert _layer_counts(to_layered_dag(nx.path_graph(2))) == {0: 1, 1: 1}


def test_widths_are_respected(small_world):
    dag = to_layered_dag(small_world, widths=[12, 10, 8])
    assert _layer_counts(dag) == {0: 12, 1: 10, 2: 8}
    indices = {(d["layer"], d["index"]) for _, d in dag.nodes(data=True)}
    assert len(indices) == 30


@pytest.mark.parametrize("random_state", [None, 0, 7])
def test_layered_dag_is_a_dag_whose_edges_go_up(small_world, random_state):
    dag = to_layered_dag(small_world, n_layers=4, random_state=random_state)
    layer = nx.get_node_attributes(dag, "layer")
    assert nx.is_directed_acyclic_graph(dag)
    assert set(dag.nodes) == set(small_world.nodes)
    assert all(layer[u] < layer[v] for u, v in dag.edges)


def test_only_edges_inside_one_layer_are_dropped(small_world):
    dag = to_layered_dag(small_world, n_layers=3, random_state=1)
    layer = nx.get_node_attributes(dag, "layer")
    kept = {frozenset(e) for e in dag.edges}
    for u, v in small_world.edges:
        assert (frozenset((u, v)) in kept) == (layer[u] != layer[v])


def test_skip_connections_across_layers_are_kept():
    # Nodes 0, 1, 2 land in layers 0, 1, 2 with widths [1, 1, 1].
    graph = nx.Graph()
    graph.add_nodes_from([0, 1, 2])
    graph.add_edges_from([(0, 2), (0, 1)])
    dag = to_layered_dag(graph, widths=[1, 1, 1])
    assert dag.has_edge(0, 2) and dag.nodes[2]["layer"] - dag.nodes[0]["layer"] == 2


def test_node_attributes_and_labels_are_kept():
    graph = nx.cycle_graph(["a", "b", "c", "d"])
    graph.nodes["a"]["color"] = "red"
    dag = to_layered_dag(graph, n_layers=2)
    assert set(dag.nodes) == {"a", "b", "c", "d"}
    assert dag.nodes["a"]["color"] == "red"


def test_same_random_state_gives_the_same_dag(small_world):
    a = to_layered_dag(small_world, random_state=3)
    b = to_layered_dag(small_world, random_state=3)
    assert nx.get_node_attributes(a, "layer") == nx.get_node_attributes(b, "layer")
    assert sorted(a.edges) == sorted(b.edges)


def test_directed_dag_layers_are_topological_generations():
    graph = nx.DiGraph([(0, 1), (1, 2), (0, 2), (3, 2)])
    dag = to_layered_dag(graph)
    assert nx.get_node_attributes(dag, "layer") == {0: 0, 1: 1, 2: 2, 3: 0}
    assert sorted(dag.edges) == sorted(graph.edges)


def test_cyclic_directed_graph_raises():
    with pytest.raises(ValueError, match="graph must be a DAG"):
        to_layered_dag(nx.DiGraph([(0, 1), (1, 2), (2, 0)]))


def test_directed_graph_rejects_widths():
    with pytest.raises(ValueError, match="widths"):
        to_layered_dag(nx.DiGraph([(0, 1)]), widths=[1, 1])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"widths": [10, 10]}, "widths"),
        ({"widths": [10, 10, 10], "n_layers": 2}, "n_layers"),
        ({"n_layers": 31}, "n_layers"),
        ({"n_layers": 0}, "n_layers"),
    ],
)
def test_bad_widths_or_depth_raise_naming_them(small_world, kwargs, name):
    with pytest.raises(ValueError, match=name):
        to_layered_dag(small_world, **kwargs)


# -- prior_masks --------------------------------------------------------------


@pytest.mark.parametrize("mapping", ["neuron", "relational"])
@pytest.mark.parametrize("prior", PRIORS_AND_NONE)
def test_masks_have_weight_shapes_and_exact_counts(prior, mapping):
    masks = prior_masks([20, 15, 5], 0.3, prior=prior, mapping=mapping, random_state=0)
    assert [m.shape for m in masks] == [(15, 20), (5, 15)]
    assert all(m.dtype == bool for m in masks)
    assert [int(m.sum()) for m in masks] == [90, round(0.3 * 75)]


@pytest.mark.parametrize("mapping", ["neuron", "relational"])
@pytest.mark.parametrize("prior", [None, "watts_strogatz", "barabasi_albert"])
def test_same_random_state_gives_identical_masks(prior, mapping):
    kwargs = dict(prior=prior, mapping=mapping)
    a = prior_masks([30, 20, 4], 0.2, random_state=5, **kwargs)
    b = prior_masks([30, 20, 4], 0.2, random_state=5, **kwargs)
    c = prior_masks([30, 20, 4], 0.2, random_state=6, **kwargs)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("mapping", ["neuron", "relational"])
@pytest.mark.parametrize("prior", [None, "watts_strogatz", "erdos_renyi"])
def test_no_neuron_is_dead_where_the_count_allows(prior, mapping):
    masks = prior_masks(
        [50, 30, 10], 0.05, prior=prior, mapping=mapping, random_state=0
    )
    for mask in masks:
        k = int(mask.sum())
        assert k == max(1, round(0.05 * mask.size))
        assert mask.any(axis=1).sum() == min(mask.shape[0], k)  # outputs read
        assert mask.any(axis=0).sum() == min(mask.shape[1], k)  # inputs are read


def test_tiny_density_keeps_one_connection():
    (mask,) = prior_masks([10, 10], 1e-6, prior="watts_strogatz", random_state=0)
    assert mask.sum() == 1


@pytest.mark.parametrize("prior", PRIORS_AND_NONE)
def test_density_one_gives_dense_masks(prior):
    masks = prior_masks([6, 5, 3], 1.0, prior=prior, random_state=0)
    assert all(m.all() for m in masks)


def test_neuron_mapping_keeps_a_ring_priors_cross_edges_exactly():
    # Two layers of 30 alternate around the ring: each of the 60 ring edges
    # joins the layers, and a mask of 60 ones is exactly those edges.
    ring = nx.cycle_graph(60)
    (mask,) = prior_masks([30, 30], 60 / 900, prior=ring, random_state=0)
    assert np.array_equal(mask, _cross_edges(ring, 30, 30, offset=0))


def test_neuron_mapping_keeps_a_sparse_watts_strogatz_prior_via_its_params():
    # k=2, p=0 fixes the prior to a ring whatever the density: the mask is
    # its cross edges, found through a string kind and prior_params.
    (mask,) = prior_masks(
        [30, 30],
        60 / 900,
        prior="watts_strogatz",
        prior_params={"k": 2, "p": 0.0},
        random_state=1,
    )
    assert _matches_some_rotation(mask, nx.cycle_graph(60), 30, 30, np.array_equal)


def test_neuron_mapping_grows_a_sparser_prior_along_its_paths():
    prior = make_prior("watts_strogatz", 60, k=2, p=0.3, random_state=2)
    (mask,) = prior_masks([25, 35], 0.15, prior=prior, random_state=0)

    cross = _cross_edges(prior, 25, 35, offset=0)
    assert mask.sum() > cross.sum() and not (cross & ~mask).any()


def test_neuron_mapping_subsamples_a_denser_prior():
    lattice = nx.watts_strogatz_graph(60, 6, 0.0)  # 120 cross edges
    (mask,) = prior_masks([30, 30], 60 / 900, prior=lattice, random_state=0)

    cross = _cross_edges(lattice, 30, 30, offset=0)
    assert mask.sum() == 60 and not (mask & ~cross).any()
    # A perfect matching inside the prior keeps every neuron alive.
    assert mask.any(axis=0).all() and mask.any(axis=1).all()


def test_neuron_mapping_calibrates_a_callable_prior_that_takes_density():
    seen = []

    def prior(n_nodes, rng, density):
        seen.append(density)
        return nx.gnp_random_graph(n_nodes, density, seed=int(rng.integers(100)))

    prior_masks([40, 20], 0.25, prior=prior, random_state=0)
    assert seen == [pytest.approx(0.25 * 60 / 59)]


def test_neuron_mapping_graph_prior_must_match_the_layer_pair():
    with pytest.raises(ValueError, match="nodes"):
        prior_masks([10, 10], 0.5, prior=nx.cycle_graph(19))


def _blocks(pattern, size):
    return np.kron(pattern, np.ones((size, size), dtype=int)).astype(bool)


def test_relational_empty_graph_gives_a_block_diagonal_mask():
    (mask,) = prior_masks(
        [12, 12], 1 / 4, prior=nx.empty_graph(4), mapping="relational"
    )
    assert np.array_equal(mask, _blocks(np.eye(4), 3))


def test_relational_path_graph_gives_block_tridiagonal_masks_in_every_layer():
    path = nx.path_graph(4)
    pattern = np.eye(4) + nx.to_numpy_array(path)
    masks = prior_masks(
        [12, 12, 12], 10 / 16, prior=path, mapping="relational", random_state=0
    )
    assert all(np.array_equal(m, _blocks(pattern, 3)) for m in masks)


def test_relational_complete_graph_gives_dense_blocks_diagonal_first():
    complete = nx.complete_graph(4)
    (dense,) = prior_masks([12, 12], 1.0, prior=complete, mapping="relational")
    assert dense.all()
    (half,) = prior_masks([12, 12], 0.5, prior=complete, mapping="relational")
    assert half.sum() == 72 and half[_blocks(np.eye(4), 3)].all()


def test_relational_groups_are_contiguous_and_near_equal():
    (mask,) = prior_masks(
        [10, 7], 0.3, prior=nx.empty_graph(3), mapping="relational", random_state=0
    )
    # Out groups {0,1,2}, {3,4}, {5,6}; in groups {0..3}, {4,5,6}, {7,8,9}:
    # the 21 ones lie in the 3*4 + 2*3 + 2*3 = 24 diagonal-block entries.
    block = np.zeros((7, 10), dtype=bool)
    block[0:3, 0:4] = block[3:5, 4:7] = block[5:7, 7:10] = True
    assert mask.sum() == 21 and not (mask & ~block).any()


def test_relational_n_groups_default_and_bounds():
    masks = prior_masks([40, 5], 0.5, prior="erdos_renyi", mapping="relational")
    assert masks[0].sum() == 100
    with pytest.raises(ValueError, match="n_groups"):
        prior_masks([40, 5], 0.5, prior="erdos_renyi", mapping="relational", n_groups=6)


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        (([10, 5], 0.0), {}, "density"),
        (([10, 5], 1.5), {}, "density"),
        (([10, 5], -0.1), {}, "density"),
        (([10], 0.5), {}, "layer_sizes"),
        (([10, 0], 0.5), {}, "layer_sizes"),
        (([10, 5], 0.5), {"mapping": "layerwise"}, "mapping"),
        (([10, 5], 0.5), {"prior": "small_world"}, "prior"),
        (([10, 5], 0.5), {"prior": "erdos_renyi", "prior_params": [1]}, "prior_params"),
        (([10, 5], 0.5), {"prior": "erdos_renyi", "prior_params": {"q": 1}}, "q"),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        prior_masks(*args, **kwargs)


def test_mnist_sized_watts_strogatz_masks_are_fast():
    start = time.perf_counter()
    masks = prior_masks([784, 300, 100, 10], 0.1, prior="watts_strogatz")
    elapsed = time.perf_counter() - start
    print(f"prior_masks([784, 300, 100, 10], 0.1, 'watts_strogatz'): {elapsed:.3f} s")
    assert [int(m.sum()) for m in masks] == [23520, 3000, 100]
    # Well under 1 s on a laptop core; the bound leaves room for a busy CI
    # machine and catches a return to O(n^2) Python graph searches.
    assert elapsed < 5


# -- min_in_degree ------------------------------------------------------------

FLOOR_SIZES = [64, 128, 64, 10]


@pytest.mark.parametrize("mapping", ["neuron", "relational"])
@pytest.mark.parametrize("prior", [None, "watts_strogatz", "barabasi_albert"])
def test_min_in_degree_floor_and_density(prior, mapping):
    density, floor = 0.05, 3
    masks = prior_masks(
        FLOOR_SIZES,
        density,
        prior=prior,
        mapping=mapping,
        min_in_degree=floor,
        random_state=0,
    )
    plain = prior_masks(
        FLOOR_SIZES, density, prior=prior, mapping=mapping, random_state=0
    )
    for mask, before, (n_in, n_out) in zip(
        masks, plain, zip(FLOOR_SIZES, FLOOR_SIZES[1:])
    ):
        assert mask.shape == (n_out, n_in)
        assert mask.sum(axis=1).min() >= floor  # every neuron, output included
        assert abs(int(mask.sum()) - density * n_in * n_out) <= 1
        assert int(mask.sum()) == int(before.sum())
    # The plain masks do leave neurons below the floor: the option acts.
    assert min(int(m.sum(axis=1).min()) for m in plain) < floor


def test_min_in_degree_keeps_prior_connections_of_rich_rows():
    # Only the best-connected rows lose connections, and only what was added.
    masks = prior_masks(
        [32, 32], 0.1, prior="barabasi_albert", min_in_degree=3, random_state=1
    )
    plain = prior_masks([32, 32], 0.1, prior="barabasi_albert", random_state=1)
    (mask,), (before,) = masks, plain
    lost = (before & ~mask).sum(axis=1)
    gained = (mask & ~before).sum(axis=1)
    assert lost.sum() == gained.sum() > 0
    assert not (lost.astype(bool) & gained.astype(bool)).any()
    assert before.sum(axis=1)[lost > 0].min() > 3
    assert (mask.sum(axis=1)[gained > 0] == 3).all()


def test_min_in_degree_capped_by_budget():
    # 10 outputs, 32 connections: a floor of 5 cannot hold; each gets 3.
    (mask,) = prior_masks(
        [64, 10], 0.05, prior="watts_strogatz", min_in_degree=5, random_state=0
    )
    assert int(mask.sum()) == 32
    assert mask.sum(axis=1).min() == 32 // 10


def test_min_in_degree_deterministic_with_seed():
    def draw(seed):
        return prior_masks(
            FLOOR_SIZES,
            0.05,
            prior="barabasi_albert",
            min_in_degree=3,
            random_state=seed,
        )

    first, again, other = draw(7), draw(7), draw(8)
    assert all((a == b).all() for a, b in zip(first, again))
    assert any((a != b).any() for a, b in zip(first, other))


def test_min_in_degree_zero_is_the_default():
    a = prior_masks(FLOOR_SIZES, 0.05, prior="watts_strogatz", random_state=0)
    b = prior_masks(
        FLOOR_SIZES, 0.05, prior="watts_strogatz", min_in_degree=0, random_state=0
    )
    assert all((x == y).all() for x, y in zip(a, b))


@pytest.mark.parametrize("bad", [-1, 11, 2.5, True])
def test_min_in_degree_rejects_bad_values(bad):
    # The smallest fan-in of [64, 10, 3] is 10.
    with pytest.raises(ValueError, match="min_in_degree"):
        prior_masks([64, 10, 3], 0.5, prior="watts_strogatz", min_in_degree=bad)


def test_estimator_passes_min_in_degree_through_prior_params():
    from sksparse import SparseMLPClassifier

    rng = np.random.default_rng(0)
    X = rng.random((40, 64), dtype=np.float32)
    y = np.arange(40) % 4
    clf = SparseMLPClassifier(
        (32,),
        sparsity=0.9,  # the 32 -> 4 output layer keeps 13 connections
        prior="barabasi_albert",
        prior_params={"min_in_degree": 2},
        max_epochs=1,
        random_state=0,
    ).fit(X, y)
    for mask in clf.masks_:
        assert int(np.asarray(mask).sum(axis=1).min()) >= 2
    assert clf.prior_params == {"min_in_degree": 2}  # not mutated


@pytest.mark.parametrize("mapping", ["neuron", "relational"])
def test_uniform_output_draws_only_the_last_layer_uniformly(mapping):
    sizes, density = [64, 32, 10], 0.1
    local = prior_masks(
        sizes, density, prior="watts_strogatz", mapping=mapping, random_state=0
    )
    mixed = prior_masks(
        sizes,
        density,
        prior="watts_strogatz",
        mapping=mapping,
        uniform_output=True,
        random_state=0,
    )
    assert (local[0] == mixed[0]).all()  # hidden layers keep the prior
    assert int(mixed[-1].sum()) == int(local[-1].sum())

    # A ring-local output layer reads a contiguous band of hidden neurons; a
    # uniform one spreads each class's inputs: mean span of the read indices.
    def span(mask):
        return np.mean([np.ptp(np.flatnonzero(row)) for row in mask if row.sum() > 1])

    assert span(mixed[-1]) > span(local[-1])


def test_uniform_output_rejects_non_bool():
    with pytest.raises(ValueError, match="uniform_output"):
        prior_masks([8, 4], 0.5, prior="watts_strogatz", uniform_output="yes")
