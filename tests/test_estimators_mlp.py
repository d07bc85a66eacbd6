import joblib
import networkx as nx
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksparse import SparseMLPClassifier, SparseMLPRegressor
from sksparse.graphs import network_to_graph
from sksparse.nn import DAGNetwork


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return X[:1200], y[:1200], X[1200:], y[1200:]


@pytest.fixture(scope="module")
def clf_fit(digits):
    X, y, _, _ = digits
    return SparseMLPClassifier(
        (64,),
        sparsity=0.8,
        prior="watts_strogatz",
        max_epochs=15,
        lr=0.01,
        random_state=0,
    ).fit(X, y)


def test_fitted_attributes(clf_fit, digits):
    X, _, X_test, y_test = digits
    assert clf_fit.n_features_in_ == 64
    np.testing.assert_array_equal(clf_fit.classes_, np.arange(10))
    assert clf_fit.sparsity_ == pytest.approx(0.8, abs=0.01)
    assert len(clf_fit.history_) == 15
    assert len(clf_fit.masks_) == 2
    assert clf_fit.score(X_test, y_test) > 0.8
    proba = clf_fit.predict_proba(X_test[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_masked_weights_stay_zero_after_training(clf_fit):
    for layer in clf_fit.module_.masked_layers:
        assert torch.all(layer.weight[layer.mask == 0] == 0)


def test_same_random_state_same_weights_and_predictions(digits):
    X, y, X_test, _ = digits
    params = dict(hidden_layer_sizes=(16,), sparsity=0.5, max_epochs=3, random_state=7)
    a = SparseMLPClassifier(**params).fit(X, y)
    b = SparseMLPClassifier(**params).fit(X, y)
    for pa, pb in zip(a.module_.parameters(), b.module_.parameters()):
        assert torch.equal(pa, pb)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_fit_leaves_global_torch_rng_untouched(digits):
    X, y, _, _ = digits
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SparseMLPClassifier((8,), max_epochs=1, random_state=0).fit(X[:100], y[:100])
    assert torch.equal(torch.rand(3), expected)


def test_joblib_round_trip_predicts_the_same_and_keeps_zeros(clf_fit, digits, tmp_path):
    _, _, X_test, _ = digits
    path = tmp_path / "model.joblib"
    joblib.dump(clf_fit, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), clf_fit.predict_proba(X_test)
    )
    for layer in loaded.module_.masked_layers:
        assert torch.all(layer.weight[layer.mask == 0] == 0)


def test_clone_gives_an_unfitted_copy(clf_fit):
    fresh = clone(clf_fit)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == clf_fit.get_params()


def test_pipeline_and_grid_search_over_sparsity_and_prior(digits):
    X, y, _, _ = digits
    pipe = make_pipeline(
        StandardScaler(), SparseMLPClassifier((16,), max_epochs=2, random_state=0)
    )
    grid = {
        "sparsemlpclassifier__sparsity": [0.5, 0.9],
        "sparsemlpclassifier__prior": [None, "erdos_renyi"],
    }
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X[:400], y[:400])
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_[-1].sparsity_ > 0.4


def test_warm_start_continues_training(digits):
    X, y, _, _ = digits
    clf = SparseMLPClassifier(
        (16,), sparsity=0.5, max_epochs=2, warm_start=True, random_state=0
    )
    clf.fit(X, y)
    first = clf.net_
    mask = clf.masks_[0].copy()
    clf.fit(X, y)
    assert clf.net_ is first
    assert len(clf.history_) == 4
    np.testing.assert_array_equal(clf.masks_[0], mask)


@pytest.mark.parametrize(
    "prior", ["erdos_renyi", "watts_strogatz", "barabasi_albert", "random_regular"]
)
@pytest.mark.parametrize("mapping", ["neuron", "relational"])
def test_every_prior_and_mapping_hits_the_sparsity(prior, mapping, digits):
    X, y, _, _ = digits
    clf = SparseMLPClassifier(
        (32, 16),
        sparsity=0.9,
        prior=prior,
        mapping=mapping,
        max_epochs=0,
        random_state=0,
    ).fit(X[:50], y[:50])
    assert clf.sparsity_ == pytest.approx(0.9, abs=0.01)


def test_a_graph_prior_becomes_the_hidden_structure(digits):
    X, y, _, _ = digits
    graph = nx.watts_strogatz_graph(30, 4, 0.2, seed=0)
    clf = SparseMLPClassifier((10, 10, 10), prior=graph, max_epochs=2, random_state=0)
    clf.fit(X[:200], y[:200])
    assert isinstance(clf.module_, DAGNetwork)
    assert [len(n) for n in clf.module_.layer_nodes] == [10, 10, 10]
    structure = network_to_graph(clf)
    hidden = [n for n, d in structure.nodes(data=True) if d.get("kind") == "hidden"]
    assert len(hidden) == 30


def test_regressor_fits_single_and_multi_output():
    X, y = make_regression(200, 6, n_targets=2, random_state=0, noise=0.1)
    y = y / y.std(axis=0)
    reg = SparseMLPRegressor(
        (32,), sparsity=0.5, max_epochs=60, lr=0.01, random_state=0
    ).fit(X, y)
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, y) > 0.8
    reg.fit(X, y[:, 0])
    assert reg.predict(X).shape == (200,)


# -- bad input: a clear error naming the parameter ------------------------------
@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(sparsity=1.0), ValueError, "'sparsity' parameter"),
        (dict(sparsity=-0.1), ValueError, "'sparsity' parameter"),
        (dict(sparsity="high"), TypeError, "'sparsity' parameter"),
        (dict(sparsity=0.5, prior="small_world_ish"), ValueError, "prior"),
        (dict(mapping="edge"), ValueError, "'mapping' parameter"),
        (dict(hidden_layer_sizes=(0,)), ValueError, "hidden_layer_sizes"),
        (dict(max_epochs=-1), ValueError, "max_epochs"),
        (dict(lr=0), ValueError, "'lr' parameter"),
        (dict(optimizer="lbfgs"), ValueError, "'optimizer' parameter"),
        (dict(device="cuda:0"), ValueError, "device"),
        (dict(activation="swishy"), ValueError, "activation"),
        (dict(prior=nx.DiGraph([(0, 1), (1, 0)])), ValueError, "DAG"),
    ],
)
def test_bad_parameters_are_named_in_the_error(params, error, match, digits):
    X, y, _, _ = digits
    if params.get("device", "").startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(error, match=match):
        SparseMLPClassifier(
            **{"hidden_layer_sizes": (8,), "max_epochs": 1, **params}
        ).fit(X[:50], y[:50])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_X_is_rejected(bad, digits):
    X, y, _, _ = digits
    X = X[:50].copy()
    X[3, 4] = bad
    with pytest.raises(ValueError, match="X"):
        SparseMLPClassifier((8,), max_epochs=1).fit(X, y[:50])


def test_wrong_feature_count_at_predict(clf_fit):
    with pytest.raises(ValueError, match="features"):
        clf_fit.predict(np.zeros((2, 10)))


def test_empty_data_set():
    with pytest.raises(ValueError, match="0 sample"):
        SparseMLPClassifier((8,)).fit(np.zeros((0, 3)), np.zeros(0))
