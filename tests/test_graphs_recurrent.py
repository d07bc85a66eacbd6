"""recurrent_prior_masks: every mask hits the requested density exactly."""

import networkx as nx
import numpy as np
import pytest

from sksparse.graphs import PRIORS, layered_recurrent_masks, recurrent_prior_masks


@pytest.mark.parametrize("prior", [None, *sorted(PRIORS)])
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.8])
def test_masks_hit_the_requested_sparsity_within_one_connection(prior, sparsity):
    density = 1.0 - sparsity
    ih, hh = recurrent_prior_masks(3, 16, 2, density, prior=prior, random_state=0)
    assert [m.shape for m in ih] == [(16, 3), (16, 16)]
    for mask in [*ih, *hh]:
        assert mask.dtype == bool
        assert abs(int(mask.sum()) - density * mask.size) <= 1
    if prior is not None:
        for mask in hh:  # every unit keeps its state
            assert mask.diagonal().all()
    total = sum(m.size for m in ih + hh)
    kept = sum(int(m.sum()) for m in ih + hh)
    assert abs(kept - density * total) <= len(ih + hh)


def test_a_given_graph_is_kept_as_it_is():
    graph = nx.cycle_graph(8)
    _, hh = recurrent_prior_masks(2, 8, 1, 0.5, prior=graph, random_state=0)
    expected = nx.to_numpy_array(graph, nodelist=range(8)) != 0
    np.fill_diagonal(expected, True)
    assert np.array_equal(hh[0], expected)


def test_seeds_reproduce_and_bad_parameters_are_named():
    a = recurrent_prior_masks(3, 6, 1, 0.5, prior="barabasi_albert", random_state=1)
    b = recurrent_prior_masks(3, 6, 1, 0.5, prior="barabasi_albert", random_state=1)
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        assert np.array_equal(x, y)
    with pytest.raises(ValueError, match="density"):
        recurrent_prior_masks(3, 6, 1, 1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        recurrent_prior_masks(3, 0, 1, 0.5)


@pytest.mark.parametrize("prior", ["watts_strogatz", "barabasi_albert"])
def test_an_undirected_prior_stays_symmetric_after_the_count_is_fixed(prior):
    _, hh = recurrent_prior_masks(3, 16, 2, 0.7, prior=prior, random_state=0)
    for mask in hh:
        np.testing.assert_array_equal(mask, mask.T)
        assert mask.diagonal().all()
        assert int(mask.sum()) - round(0.7 * 256) in (0, 1)


def test_the_rnn_estimator_reaches_the_sparsity_it_was_asked_for():
    from sksparse.estimators import GraphPriorRNNClassifier

    rng = np.random.default_rng(0)
    X, y = rng.integers(1, 5, (40, 6)), rng.integers(0, 2, 40)
    clf = GraphPriorRNNClassifier(
        sparsity=0.5, prior="watts_strogatz", max_epochs=1, random_state=0
    ).fit(X, y)
    assert clf.sparsity_ == pytest.approx(0.5, abs=0.005)


# -- layered_recurrent_masks: the paper's layered-DAG mapping ----------------


def _positions(dag):
    return {n: (d["layer"], d["index"]) for n, d in dag.nodes(data=True)}


@pytest.mark.parametrize(
    "graph, n_layers",
    [
        (nx.watts_strogatz_graph(24, 6, 1.0, seed=0), 4),
        (nx.barabasi_albert_graph(30, 3, seed=1), 3),
        # A DAG (a random graph oriented by node order): its own generations.
        (
            nx.DiGraph(sorted(e) for e in nx.gnp_random_graph(20, 0.3, seed=2).edges),
            None,
        ),
    ],
)
def test_layered_masks_hold_every_dag_edge_once(graph, n_layers):
    s = layered_recurrent_masks(graph, 5, n_layers=n_layers, random_state=0)
    dag, widths, sources = s["dag"], s["widths"], s["sources"]
    position = _positions(dag)
    assert sum(widths) == graph.number_of_nodes()
    assert s["ih_masks"][0].shape == (widths[0], 5) and s["ih_masks"][0].all()
    read = set()
    for target in range(1, len(widths)):
        reads = sources[target]
        assert all(0 <= r < target for r in reads) and list(reads) == sorted(reads)
        columns = [(r, j) for r in reads for j in range(widths[r])]
        mask = s["ih_masks"][target]
        assert mask.shape == (widths[target], len(columns))
        for i, c in zip(*np.nonzero(mask)):
            read.add((columns[c], (target, int(i))))
    assert read == {(position[u], position[v]) for u, v in dag.edges}
    skips = {(position[u][0], position[v][0]) for u, v in dag.edges}
    assert any(v - u > 1 for u, v in skips)  # these graphs have skip edges


def test_layered_masks_keep_a_chain_and_name_bad_input():
    # Node 2 has no input: layer 1 still reads layer 0, through zeros.
    dag = nx.DiGraph([(0, 1)])
    dag.add_edge(0, 3)
    dag.add_edge(1, 3)
    dag.add_node(2)
    s = layered_recurrent_masks(dag, 2)
    assert s["sources"][1] == (0,)
    with pytest.raises(ValueError, match="n_layers"):
        layered_recurrent_masks(dag, 2, n_layers=2)
    with pytest.raises(ValueError, match="input_size"):
        layered_recurrent_masks(nx.path_graph(4), 0)
    with pytest.raises(ValueError, match="DAG"):
        layered_recurrent_masks(nx.DiGraph([(0, 1), (1, 0)]), 2)
