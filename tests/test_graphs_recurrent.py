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
