"""GraphFeatures and StructuralRegressor: graphs in, features and predictions out."""

import math

import networkx as nx
import numpy as np
import pytest
import torch
from joblib import parallel_config
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_validate

from sksparse import GraphFeatures, StructuralRegressor
from sksparse.estimators import (
    kendall_tau_score,
    kendall_tau_scorer,
    spearman_score,
    spearman_scorer,
)
from sksparse.graphs import FEATURE_NAMES, structural_features
from sksparse.nn import MaskedGRU


@pytest.fixture(scope="module")
def population():
    """Directed random graphs whose 'performance' is a noisy function of density."""
    rng = np.random.default_rng(0)
    graphs, target = [], []
    for seed in range(120):
        p = rng.uniform(0.05, 0.5)
        graph = nx.gnp_random_graph(25, p, seed=seed, directed=True)
        graphs.append(graph)
        target.append(1 - (nx.density(graph) - 0.3) ** 2 + rng.normal(0, 0.002))
    return graphs, np.array(target)


def test_rows_are_the_structural_features_in_order(population):
    graphs, _ = population
    features = GraphFeatures().fit_transform(graphs[:3])
    assert features.shape == (3, len(FEATURE_NAMES))
    for row, graph in zip(features, graphs):
        expected = structural_features(graph)
        np.testing.assert_allclose(row, [expected[name] for name in FEATURE_NAMES])
    names = GraphFeatures().fit(graphs[:3]).get_feature_names_out()
    assert names.tolist() == list(FEATURE_NAMES)


def test_a_subset_of_features_keeps_the_given_order():
    gf = GraphFeatures(["diameter", "number_of_nodes"])
    out = gf.fit_transform([nx.path_graph(5)])
    np.testing.assert_array_equal(out, [[4.0, 5.0]])
    assert gf.get_feature_names_out().tolist() == ["diameter", "number_of_nodes"]


def test_undefined_features_are_filled_or_kept():
    cycle = nx.cycle_graph(4, create_using=nx.DiGraph)  # assortativity undefined
    column = list(FEATURE_NAMES).index("degree_assortativity_coefficient")
    assert GraphFeatures().fit_transform([cycle])[0, column] == 0.0
    kept = GraphFeatures(fill_value=None).fit_transform([cycle])
    assert math.isnan(kept[0, column])


def test_parallel_featurisation_equals_sequential(population):
    graphs, _ = population
    sequential = GraphFeatures().fit_transform(graphs[:40])
    # Threads keep the test fast; processes run the same code path.
    with parallel_config(backend="threading"):
        parallel = GraphFeatures(n_jobs=2).fit_transform(graphs[:40])
    np.testing.assert_array_equal(sequential, parallel)


def test_networks_are_read_through_network_to_graph():
    gru = MaskedGRU(3, 4, hh_masks=[torch.eye(4)])
    features = GraphFeatures(["number_of_nodes", "number_of_selfloops"])
    np.testing.assert_array_equal(features.fit_transform([gru]), [[7.0, 4.0]])
    with pytest.raises(TypeError, match="wrap a single graph"):
        features.transform(nx.path_graph(3))
    with pytest.raises(TypeError, match="got str"):
        features.transform([nx.path_graph(3), "not a graph"])


def test_feature_arrays_pass_through_validated():
    X = np.arange(12.0).reshape(4, 3)
    gf = GraphFeatures().fit(X)
    np.testing.assert_array_equal(gf.transform(X), X)
    assert gf.get_feature_names_out().tolist() == ["x0", "x1", "x2"]
    with pytest.raises(ValueError, match="expecting 3 features"):
        gf.transform(X[:, :2])
    with pytest.raises(ValueError, match="fitted on 3"):
        gf.transform([nx.path_graph(3)])


@pytest.mark.parametrize(
    ("features", "error", "match"),
    [
        ("all", ValueError, "'default'"),
        (["diameter", "girth"], ValueError, r"Unknown features \['girth'\]"),
        ([], ValueError, "at least one"),
        (3, TypeError, "'features' parameter of GraphFeatures"),
    ],
)
def test_invalid_features_are_named(features, error, match):
    with pytest.raises(error, match=match):
        GraphFeatures(features).fit([nx.path_graph(3)])


def test_regressor_predicts_held_out_performance_from_graphs(population):
    graphs, target = population
    reg = StructuralRegressor(random_state=0).fit(graphs[:90], target[:90])
    assert reg.score(graphs[90:], target[90:]) > 0.8
    assert list(reg.pipeline_.named_steps) == ["features", "scaler", "regressor"]
    assert reg.feature_names_.tolist() == list(FEATURE_NAMES)
    assert not hasattr(reg, "n_features_in_")
    assert len(reg.regressor_.feature_importances_) == len(FEATURE_NAMES)


def test_precomputed_features_give_the_same_predictions(population):
    graphs, target = population
    features = GraphFeatures().fit_transform(graphs)
    reg = StructuralRegressor(LinearRegression()).fit(graphs[:90], target[:90])
    on_features = clone(reg).fit(features[:90], target[:90])
    assert on_features.n_features_in_ == len(FEATURE_NAMES)
    np.testing.assert_allclose(
        reg.predict(graphs[90:]), on_features.predict(features[90:]), rtol=1e-8
    )


def test_cross_validation_with_rank_scorers(population):
    graphs, target = population
    scores = cross_validate(
        StructuralRegressor(random_state=0),
        GraphFeatures().fit_transform(graphs),
        target,
        cv=3,
        scoring={"r2": "r2", "tau": kendall_tau_scorer, "rho": spearman_scorer},
    )
    assert scores["test_r2"].mean() > 0.5
    assert scores["test_tau"].mean() > 0.5
    assert scores["test_rho"].mean() > scores["test_tau"].mean()


def test_rank_scores_are_scipys():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert kendall_tau_score(a, b) == pytest.approx(stats.kendalltau(a, b).statistic)
    assert spearman_score(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert kendall_tau_score(a, 3 * a + 1) == pytest.approx(1.0)


def test_regressor_must_be_a_regressor(population):
    graphs, target = population
    with pytest.raises(TypeError, match="'regressor' parameter"):
        StructuralRegressor(regressor="forest").fit(graphs[:5], target[:5])
