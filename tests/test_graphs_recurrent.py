"""recurrent_prior_masks: every mask hits the requested density exactly."""

import networkx as nx
import numpy as np
import pytest

from sksparse.graphs import PRIORS, recurrent_prior_masks


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
