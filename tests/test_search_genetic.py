"""GeneticSearchCV: the search surface, prediction, failures, parallel backends.

The mechanics of the search are tested on a decision tree (fits in
milliseconds); prediction and divergence need a sparse net and use tiny ones.
"""

import math
import os
import time
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits
from sklearn.exceptions import FitFailedWarning
from sklearn.tree import DecisionTreeClassifier

from sksparse import (
    GeneticSearchCV,
    PrunedEstimator,
    SparseMLPClassifier,
    StructuralRegressor,
)
from sksparse.pruning import MagnitudePruner
from sksparse.search import (
    LayerSizes,
    PerformancePredictor,
    PriorChoice,
    candidate_graph,
)

TREE_SPACE = {
    "max_depth": randint(1, 12),
    "min_samples_leaf": randint(1, 20),
    "criterion": ["gini", "entropy"],
    "max_features": uniform(0.1, 0.9),
}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return X[:400], y[:400], X[1400:], y[1400:]


@pytest.fixture(scope="module")
def tree_search(digits):
    X, y, _, _ = digits
    return GeneticSearchCV(
        DecisionTreeClassifier(random_state=0),
        TREE_SPACE,
        population_size=8,
        generations=4,
        elitism=2,
        cv=3,
        random_state=0,
    ).fit(X, y)


# -- the scikit-learn search surface ------------------------------------------
def test_search_has_the_sklearn_search_surface(tree_search, digits):
    _, _, X_test, y_test = digits
    results = tree_search.cv_results_
    n_rows = len(results["params"])
    for key in (
        "params",
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "split0_test_score",
        "split2_test_score",
        "mean_fit_time",
        "param_max_depth",
        "generation",
        "parents",
        "screened",
        "trained",
        "predicted_score",
        "n_epochs",
    ):
        assert len(results[key]) == n_rows, key
    frame = pd.DataFrame(results)
    assert len(frame) == n_rows
    best = tree_search.best_index_
    assert results["rank_test_score"][best] == 1
    assert tree_search.best_score_ == pytest.approx(np.nanmax(frame.mean_test_score))
    assert tree_search.best_params_ == results["params"][best]
    assert (
        tree_search.best_estimator_.get_params()["max_depth"]
        == (tree_search.best_params_["max_depth"])
    )
    np.testing.assert_array_equal(
        tree_search.predict(X_test), tree_search.best_estimator_.predict(X_test)
    )
    assert tree_search.predict_proba(X_test).shape == (len(X_test), 10)
    assert 0 <= tree_search.score(X_test, y_test) <= 1
    assert tree_search.n_splits_ == 3
    np.testing.assert_array_equal(tree_search.classes_, np.arange(10))


def test_rows_record_generations_and_parents(tree_search):
    results = tree_search.cv_results_
    generation = results["generation"]
    # The initial generation is the whole population, later ones add at most
    # population - elitism new individuals each.
    assert (generation == 0).sum() == 8
    assert set(generation) == {0, 1, 2, 3}
    assert all(np.bincount(generation)[1:] <= 6)
    for row, parents in enumerate(results["parents"]):
        if generation[row] == 0:
            assert parents == ()
        else:
            assert 1 <= len(parents) <= 2
            assert all(generation[p] < generation[row] for p in parents)
    # No predictor: every individual was trained and none screened.
    assert results["trained"].all() and not results["screened"].any()
    assert np.isnan(results["predicted_score"]).all()
    # Duplicates are re-mutated rather than trained twice.
    keys = [tuple(sorted(p.items())) for p in results["params"]]
    assert len(set(keys)) == len(keys)
    assert len(tree_search.population_) == 8


def test_params_stay_inside_the_space(tree_search):
    for params in tree_search.cv_results_["params"]:
        assert 1 <= params["max_depth"] <= 11
        assert 1 <= params["min_samples_leaf"] <= 19
        assert params["criterion"] in ("gini", "entropy")
        assert 0.1 <= params["max_features"] <= 1.0


def test_evolution_improves_on_the_initial_population(tree_search):
    scores = tree_search.cv_results_["mean_test_score"]
    generation = tree_search.cv_results_["generation"]
    assert tree_search.best_score_ >= scores[generation == 0].max()
    # Later generations are bred from the best: their mean beats the random start.
    assert scores[generation == 3].mean() > scores[generation == 0].mean()


def test_same_random_state_gives_same_search(digits, tree_search):
    X, y, _, _ = digits
    again = GeneticSearchCV(
        DecisionTreeClassifier(random_state=0),
        TREE_SPACE,
        population_size=8,
        generations=4,
        elitism=2,
        cv=3,
        random_state=0,
    ).fit(X, y)
    assert again.cv_results_["params"] == tree_search.cv_results_["params"]
    np.testing.assert_array_equal(
        again.cv_results_["mean_test_score"], tree_search.cv_results_["mean_test_score"]
    )
    other = again.set_params(random_state=1).fit(X, y)
    assert other.cv_results_["params"] != tree_search.cv_results_["params"]


def test_parallel_fits_give_the_same_results(digits):
    X, y, _, _ = digits
    params = dict(population_size=4, generations=2, cv=2, random_state=0)
    tree = DecisionTreeClassifier(random_state=0)
    serial = GeneticSearchCV(tree, TREE_SPACE, **params).fit(X, y)
    parallel = GeneticSearchCV(tree, TREE_SPACE, n_jobs=2, **params).fit(X, y)
    assert parallel.cv_results_["params"] == serial.cv_results_["params"]
    np.testing.assert_array_equal(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )


def test_refit_false_keeps_results_but_no_estimator(digits):
    X, y, X_test, _ = digits
    search = GeneticSearchCV(
        DecisionTreeClassifier(random_state=0),
        TREE_SPACE,
        population_size=4,
        generations=2,
        cv=2,
        refit=False,
        random_state=0,
    ).fit(X, y)
    assert hasattr(search, "best_params_") and not hasattr(search, "best_estimator_")
    with pytest.raises(AttributeError, match="predict"):
        search.predict(X_test)


def test_multimetric_scoring_evolves_for_the_refit_metric(digits):
    X, y, _, _ = digits
    search = GeneticSearchCV(
        DecisionTreeClassifier(random_state=0),
        TREE_SPACE,
        population_size=4,
        generations=2,
        cv=2,
        scoring={"acc": "accuracy", "bacc": "balanced_accuracy"},
        refit="bacc",
        random_state=0,
    ).fit(X, y)
    results = search.cv_results_
    assert {"mean_test_acc", "mean_test_bacc", "rank_test_bacc"} <= set(results)
    assert search.best_score_ == np.nanmax(results["mean_test_bacc"])
    with pytest.raises(ValueError, match="refit must"):
        search.set_params(refit=True).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(elitism=4), "elitism"),
        (dict(population_size=1), "population_size"),
        (dict(screen_ratio=0.0), "screen_ratio"),
        (dict(predictor="oracle"), "predictor"),
        (dict(mutation_rate=1.5), "mutation_rate"),
        (dict(on_generation="print"), "on_generation"),
    ],
)
def test_invalid_parameters_raise_naming_them(digits, params, match):
    X, y, _, _ = digits
    search = GeneticSearchCV(
        DecisionTreeClassifier(), TREE_SPACE, population_size=4, cv=2
    ).set_params(**params)
    with pytest.raises(ValueError, match=match):
        search.fit(X, y)


def test_on_generation_sees_every_generation_as_fit_reports_it(digits, tree_search):
    X, y, _, _ = digits
    records = []
    search = clone(tree_search).set_params(on_generation=records.append).fit(X, y)
    assert [r.index for r in records] == [0, 1, 2, 3]
    results = search.cv_results_
    last = records[-1]
    assert list(last.population) == search.population_
    np.testing.assert_array_equal(
        last.cv_results["mean_test_score"], results["mean_test_score"]
    )
    # Each record holds the rows so far, and its best score is the best of them.
    for record in records:
        generations = record.cv_results["generation"]
        assert generations.max() == record.index
        trained = record.cv_results["mean_test_score"][record.cv_results["trained"]]
        assert record.best_score == np.nanmax(trained)
        assert len(record.scores) == len(record.population) == search.population_size
    # The hook does not change the search.
    np.testing.assert_array_equal(
        results["mean_test_score"], tree_search.cv_results_["mean_test_score"]
    )


def test_on_generation_returning_true_stops_and_resumes(digits, tree_search, tmp_path):
    X, y, _, _ = digits
    path = tmp_path / "search.pkl"
    stopped = clone(tree_search).set_params(
        checkpoint=str(path), on_generation=lambda record: record.index == 1
    )
    stopped.fit(X, y)
    assert stopped.cv_results_["generation"].max() == 1
    assert hasattr(stopped, "best_estimator_")
    resumed = clone(tree_search).set_params(checkpoint=str(path)).fit(X, y)
    np.testing.assert_array_equal(
        resumed.cv_results_["mean_test_score"],
        tree_search.cv_results_["mean_test_score"],
    )


def test_invalid_param_space_raises(digits):
    X, y, _, _ = digits
    with pytest.raises(TypeError, match="max_depth"):
        GeneticSearchCV(DecisionTreeClassifier(), {"max_depth": 3}).fit(X, y)


# -- failing individuals ------------------------------------------------------
class FlakyClassifier(ClassifierMixin, BaseEstimator):
    """Fails to fit when ``fail`` is true; otherwise a decision tree."""

    def __init__(self, fail=False, max_depth=3):
        self.fail = fail
        self.max_depth = max_depth

    def fit(self, X, y):
        if self.fail:
            raise RuntimeError("this individual cannot be trained")
        self.tree_ = DecisionTreeClassifier(max_depth=self.max_depth).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X):
        return self.tree_.predict(X)


def test_failing_individual_scores_error_score_and_search_goes_on(digits):
    X, y, _, _ = digits
    search = GeneticSearchCV(
        FlakyClassifier(),
        {"fail": [True, False], "max_depth": randint(1, 10)},
        population_size=6,
        generations=3,
        cv=2,
        error_score=-1.0,
        random_state=0,
    )
    with pytest.warns(FitFailedWarning, match="cannot be trained"):
        search.fit(X, y)
    results = search.cv_results_
    failed = np.array([p["fail"] for p in results["params"]])
    assert failed.any() and (~failed).any()
    np.testing.assert_array_equal(results["mean_test_score"][failed], -1.0)
    assert results["generation"].max() == 2
    assert search.best_params_["fail"] is False


def test_error_score_raise_propagates(digits):
    X, y, _, _ = digits
    search = GeneticSearchCV(
        FlakyClassifier(fail=True),
        {"max_depth": [1, 2]},
        population_size=2,
        generations=1,
        cv=2,
        error_score="raise",
    )
    with pytest.raises(RuntimeError, match="cannot be trained"):
        search.fit(X, y)


def test_all_individuals_failing_raises(digits):
    X, y, _, _ = digits
    search = GeneticSearchCV(
        FlakyClassifier(fail=True),
        {"max_depth": [1, 2, 3]},
        population_size=3,
        generations=1,
        cv=2,
    )
    with pytest.raises(ValueError, match="All the 6 fits"):
        search.fit(X, y)


def test_nan_loss_scores_error_score_with_a_warning(digits):
    X, y, _, _ = digits
    search = GeneticSearchCV(
        SparseMLPClassifier(
            (8,), optimizer="sgd", max_epochs=1, batch_size=64, random_state=0
        ),
        # lr=1e30 makes the loss NaN in the first epoch.
        {"lr": [1e-2, 1e30], "sparsity": [0.0, 0.5]},
        population_size=4,
        generations=1,
        cv=2,
        random_state=0,
    )
    # The estimator itself refuses a diverged fit (as MLPClassifier does), so
    # the search reports it as a failed fit scored error_score.
    with pytest.warns(FitFailedWarning, match="non-finite"):
        search.fit(X[:150], y[:150])
    results = search.cv_results_
    diverged = np.array([p["lr"] > 1 for p in results["params"]])
    assert diverged.any() and (~diverged).any()
    assert np.isnan(results["mean_test_score"][diverged]).all()
    assert np.isfinite(results["mean_test_score"][~diverged]).all()
    assert search.best_params_["lr"] == 1e-2


# -- performance prediction ---------------------------------------------------
MLP_SPACE = {
    "hidden_layer_sizes": LayerSizes(1, 2, 8, 48),
    "sparsity": uniform(0.2, 0.7),
    "lr": loguniform(1e-3, 5e-2),
    "prior": PriorChoice(
        {"watts_strogatz": {"k": randint(2, 6), "p": uniform(0, 1)}, None: {}}
    ),
}


def tiny_mlp():
    return SparseMLPClassifier(max_epochs=2, batch_size=64, random_state=0)


@pytest.fixture(scope="module")
def predicted_search(digits):
    X, y, _, _ = digits
    return GeneticSearchCV(
        tiny_mlp(),
        MLP_SPACE,
        population_size=6,
        generations=3,
        elitism=1,
        predictor="auto",
        screen_ratio=0.4,
        cv=2,
        random_state=0,
    ).fit(X[:200], y[:200])


def test_predictor_screens_offspring_after_warmup(predicted_search):
    results = predicted_search.cv_results_
    generation = results["generation"]
    screened, trained = results["screened"], results["trained"]
    # Warm-up: the initial population is trained without prediction.
    assert trained[generation == 0].all() and not screened[generation == 0].any()
    for g in (1, 2):
        rows = generation == g
        n_new = rows.sum()
        assert screened[rows].all()
        assert trained[rows].sum() == max(1, math.ceil(0.4 * n_new))
        assert np.isfinite(results["predicted_score"][rows]).all()
        # The predictor let through the ones it ranked highest.
        assert results["predicted_score"][rows & trained].min() >= (
            results["predicted_score"][rows & ~trained].max()
        )
    untrained = ~trained
    assert untrained.any()
    assert np.isnan(results["mean_test_score"][untrained]).all()
    # Every candidate gets a one-epoch probe; trained ones 2 epochs x 2 folds.
    assert (results["n_epochs"][untrained] == 1).all()
    assert (results["n_epochs"][trained] == 2 * 2 + 1).all()
    ranks = results["rank_test_score"]
    assert (ranks[untrained] == ranks.max()).all()
    assert trained[predicted_search.best_index_]
    assert isinstance(predicted_search.predictor_, PerformancePredictor)


def test_predictor_sees_structure_params_and_learning_curve(predicted_search):
    predictor = predicted_search.predictor_
    n_trained = predicted_search.cv_results_["trained"].sum()
    assert predictor.regressor_[-1].n_features_in_ == predictor.n_features_
    # layered features + encoded genome + (probe score, one epoch's loss)
    assert predictor.n_features_ > 20
    assert len(predictor.regressor_[-1].estimators_) == 200
    assert n_trained >= 6


def test_structural_regressor_as_predictor_uses_no_probe(digits):
    X, y, _, _ = digits
    search = GeneticSearchCV(
        tiny_mlp(),
        {"hidden_layer_sizes": LayerSizes(1, 1, 8, 32), "sparsity": uniform(0.2, 0.7)},
        population_size=4,
        generations=2,
        predictor=StructuralRegressor(features=["number_of_edges", "density"]),
        cv=2,
        random_state=0,
    ).fit(X[:150], y[:150])
    results = search.cv_results_
    assert isinstance(search.predictor_, StructuralRegressor)
    assert results["screened"].any()
    assert set(results["n_epochs"]) <= {0.0, 4.0}  # no probe epochs


def test_search_over_pruning_scope_and_amount(digits):
    X, y, _, _ = digits
    estimator = PrunedEstimator(
        SparseMLPClassifier(max_epochs=1, batch_size=64, random_state=0),
        MagnitudePruner(0.5),
        retrain_epochs=1,
    )
    space = {
        "estimator__hidden_layer_sizes": LayerSizes(1, 2, 8, 32),
        "pruner__amount": uniform(0.5, 0.45),
        "pruner__scope": ["class-blinded", "class-uniform"],
    }
    # The untrained structure a predictor sees is pruned to the candidate's amount.
    graph = candidate_graph(
        estimator.set_params(pruner__amount=0.8, estimator__hidden_layer_sizes=(32,)),
        X[:150],
        y[:150],
    )
    assert graph.number_of_edges() == pytest.approx(0.2 * (64 * 32 + 32 * 10), rel=0.05)
    search = GeneticSearchCV(
        estimator,
        space,
        population_size=4,
        generations=2,
        predictor="auto",
        cv=2,
        random_state=0,
    ).fit(X[:150], y[:150])
    for params in search.cv_results_["params"]:
        assert 0.5 <= params["pruner__amount"] <= 0.95
        assert params["pruner__scope"] in ("class-blinded", "class-uniform")
    assert search.best_estimator_.sparsity_ == pytest.approx(
        search.best_params_["pruner__amount"], abs=0.02
    )


def test_custom_predictor_on_graphs(digits):
    X, y, _, _ = digits

    class EdgeCountRegressor(BaseEstimator):
        """Predicts more edges = better; records what it was given."""

        def fit(self, graphs, scores):
            self.n_fitted_ = len(graphs)
            return self

        def predict(self, graphs):
            return np.array([g.number_of_edges() for g in graphs], dtype=float)

    search = GeneticSearchCV(
        tiny_mlp(),
        {"hidden_layer_sizes": LayerSizes(1, 1, 8, 64), "sparsity": [0.1, 0.9]},
        population_size=4,
        generations=2,
        predictor=EdgeCountRegressor(),
        predictor_warmup=3,
        screen_ratio=0.5,
        cv=2,
        random_state=0,
    ).fit(X[:150], y[:150])
    results = search.cv_results_
    later = results["generation"] == 1
    assert results["screened"][later].all()
    predicted = results["predicted_score"][later]
    assert predicted[results["trained"][later]].min() >= predicted.max() / 10
    assert search.predictor_.n_fitted_ >= 3


# -- Dask ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    # Worker processes must import sksparse from this checkout.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, old) if p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's port and resource notices
        with (
            distributed.LocalCluster(
                n_workers=2,
                processes=True,
                threads_per_worker=1,
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
    if old is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = old


def _dask_fit(client, search, X, y):
    from dask.distributed import get_task_stream

    with get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        search.fit(X, y)
    workers = client.run(os.getpid)
    assert len(workers) == 2 and os.getpid() not in workers.values()
    assert len(tasks.data) > 0  # the fits ran as tasks on the cluster
    return search


def test_search_runs_on_a_dask_cluster_of_two_processes(digits, dask_client):
    X, y, _, _ = digits
    params = dict(population_size=4, generations=2, cv=2, random_state=0)
    local = GeneticSearchCV(
        DecisionTreeClassifier(random_state=0), TREE_SPACE, **params
    ).fit(X, y)
    start = time.perf_counter()
    on_dask = _dask_fit(
        dask_client,
        GeneticSearchCV(
            DecisionTreeClassifier(random_state=0), TREE_SPACE, n_jobs=-1, **params
        ),
        X,
        y,
    )
    assert on_dask.cv_results_["params"] == local.cv_results_["params"]
    np.testing.assert_array_equal(
        on_dask.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert time.perf_counter() - start < 120


@pytest.mark.slow
def test_predictor_assisted_sparse_nets_on_dask(digits, dask_client, predicted_search):
    X, y, _, _ = digits
    search = clone(predicted_search).set_params(n_jobs=-1)
    _dask_fit(dask_client, search, X[:200], y[:200])
    for key in ("params", "screened", "trained"):
        assert list(search.cv_results_[key]) == list(predicted_search.cv_results_[key])
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"],
        predicted_search.cv_results_["mean_test_score"],
    )
