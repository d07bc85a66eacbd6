"""PrunedEstimator: fit, prune, re-train as a scikit-learn meta-estimator."""

import io

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier
from torch import nn

from sksparse import (
    GraphPriorRNNClassifier,
    PrunedEstimator,
    SparseMLPClassifier,
    SparseMLPRegressor,
)
from sksparse.datasets import load_digits, make_reber_classification
from sksparse.pruning import Iterative, MagnitudePruner, RandomPruner


@pytest.fixture(scope="module")
def digits():
    X, y, X_test, y_test = load_digits()
    return X[:600], y[:600], X_test, y_test


def small_clf(**kwargs):
    params = dict(max_epochs=10, lr=0.01, batch_size=64, random_state=0)
    return SparseMLPClassifier((32,), **{**params, **kwargs})


@pytest.fixture(scope="module")
def pruned(digits):
    X, y, _, _ = digits
    est = PrunedEstimator(
        small_clf(), MagnitudePruner(0.8, scope="class-blinded"), retrain_epochs=3
    )
    return est.fit(X, y)


def _pruned_weights_are_zero(est):
    params = dict(est.module_.named_parameters())
    return all(bool((params[n][~m] == 0).all()) for n, m in est.masks_.items())


def test_pruned_estimator_exposes_fitted_state(pruned, digits):
    X, y, X_test, y_test = digits
    assert is_classifier(pruned)
    assert pruned.sparsity_ == pytest.approx(0.8, abs=1e-3)
    np.testing.assert_array_equal(pruned.classes_, np.arange(10))
    assert pruned.n_features_in_ == 64
    # History: 10 dense epochs, then 3 of re-training with the sparsity recorded.
    assert len(pruned.history_) == 13
    assert pruned.history_[-1, "sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert pruned.pruner_.n_pruned_ == round(0.8 * pruned.pruner_.n_weights_)
    assert pruned.predict_proba(X_test).shape == (len(X_test), 10)
    assert pruned.predict(X_test).shape == (len(X_test),)
    assert pruned.score(X_test, y_test) > 0.85
    assert not hasattr(pruned.estimator, "net_")  # the clone was fitted


def test_retrained_pruned_weights_are_exactly_zero(pruned):
    assert _pruned_weights_are_zero(pruned)
    for layer in pruned.module_.masked_layers:
        assert (layer.weight[layer.mask == 0] == 0).all()


def test_joblib_reloaded_model_keeps_pruned_weights_zero(pruned, digits, tmp_path):
    _, _, X_test, _ = digits
    path = tmp_path / "pruned.joblib"
    joblib.dump(pruned, path)
    loaded = joblib.load(path)
    assert _pruned_weights_are_zero(loaded)
    assert loaded.sparsity_ == pruned.sparsity_
    np.testing.assert_allclose(
        loaded.predict_proba(X_test), pruned.predict_proba(X_test)
    )
    # Training the reloaded model further keeps the pruned weights at zero too.
    loaded.net_.partial_fit(
        X_test.astype(np.float32), digits[3].astype(np.int64), epochs=1
    )
    assert _pruned_weights_are_zero(loaded)


def test_retraining_recovers_accuracy(digits):
    X, y, X_test, y_test = digits
    base = dict(estimator=small_clf(), pruner=MagnitudePruner(0.95))
    no_retrain = PrunedEstimator(**base, retrain_epochs=0).fit(X, y)
    retrained = PrunedEstimator(**base, retrain_epochs=5).fit(X, y)
    assert len(no_retrain.history_) == 10
    assert retrained.score(X_test, y_test) > no_retrain.score(X_test, y_test)


def test_prefit_estimator_is_pruned_as_a_copy(pruned, digits):
    X, y, X_test, _ = digits
    dense = small_clf(max_epochs=3).fit(X, y)
    before = dense.predict_proba(X_test)
    est = PrunedEstimator(dense, MagnitudePruner(0.6), retrain_epochs=1, prefit=True)
    est.fit(X, y)
    assert len(est.history_) == 3 + 1 and est.sparsity_ == pytest.approx(0.6, abs=1e-3)
    np.testing.assert_array_equal(dense.predict_proba(X_test), before)  # untouched
    assert dense.sparsity_ == 0
    with pytest.raises(NotFittedError):
        PrunedEstimator(small_clf(), prefit=True).fit(X, y)


def test_iterative_schedule_retrains_after_each_step(digits):
    X, y, _, _ = digits
    est = PrunedEstimator(
        small_clf(max_epochs=2),
        RandomPruner(0.9, random_state=0),
        retrain_epochs=1,
        schedule=Iterative(n_steps=3),
    ).fit(X, y)
    assert len(est.history_) == 2 + 3
    assert est.history_[-3:, "sparsity"] == pytest.approx([0.3, 0.6, 0.9], abs=1e-3)
    assert _pruned_weights_are_zero(est)


def test_gradual_schedule_by_name(digits):
    X, y, _, _ = digits
    est = PrunedEstimator(
        small_clf(max_epochs=1),
        MagnitudePruner(0.5),
        retrain_epochs=0,
        schedule="gradual",
    ).fit(X, y)
    assert est.sparsity_ == pytest.approx(0.5, abs=1e-3)


def test_regressor_is_wrapped_as_a_regressor():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = X @ np.arange(5.0)
    est = PrunedEstimator(
        SparseMLPRegressor((32,), max_epochs=30, lr=0.01, random_state=0),
        MagnitudePruner(0.5, scope="class-distributed"),
        retrain_epochs=10,
    ).fit(X, y)
    assert is_regressor(est) and not is_classifier(est)
    assert not hasattr(est, "predict_proba")
    assert est.predict(X).shape == (300,)
    assert est.score(X, y) > 0.8


def test_recurrent_estimator_is_pruned_gate_by_gate():
    X, y = make_reber_classification(120, random_state=0)[:2]
    clf = GraphPriorRNNClassifier(
        cell="lstm", hidden_size=8, max_epochs=2, random_state=0
    )
    est = PrunedEstimator(
        clf, MagnitudePruner(0.7, scope="class-uniform"), retrain_epochs=1
    ).fit(X, y)
    assert "rnn.weight_hh_l0[o]" in est.pruner_.weight_classes_
    assert est.sparsity_ == pytest.approx(0.7, abs=0.01)
    assert _pruned_weights_are_zero(est)
    assert est.predict(X).shape == (len(X),)


def test_plain_skorch_net_is_tolerated_and_kept_sparse(digits):
    X, y, X_test, _ = digits
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)),
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        lr=0.05,
        max_epochs=3,
        train_split=None,
        verbose=0,
    )
    est = PrunedEstimator(net, MagnitudePruner(0.7), retrain_epochs=2)
    est.fit(X.astype(np.float32), y.astype(np.int64))
    assert _pruned_weights_are_zero(est)
    assert est.sparsity_ == pytest.approx(0.7, abs=1e-3)
    assert est.predict(X_test.astype(np.float32)).shape == (len(X_test),)
    joblib.dump(est, "/dev/null")  # no hook left behind: it still pickles


def test_grid_search_over_pruner_parameters_in_a_pipeline(digits):
    X, y, _, _ = digits
    pipe = make_pipeline(
        StandardScaler(),
        PrunedEstimator(small_clf(max_epochs=3), MagnitudePruner(), retrain_epochs=1),
    )
    grid = {
        "prunedestimator__pruner__amount": [0.5, 0.9],
        "prunedestimator__pruner__scope": ["class-blinded", "class-uniform"],
    }
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X[:300], y[:300])
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_[-1]
    assert best.sparsity_ == pytest.approx(
        search.best_params_["prunedestimator__pruner__amount"], abs=1e-3
    )
    assert _pruned_weights_are_zero(best)


def test_clone_and_nested_parameters():
    est = PrunedEstimator(small_clf(), MagnitudePruner(0.5), schedule=Iterative(2))
    params = est.get_params()
    assert params["pruner__amount"] == 0.5 and params["schedule__n_steps"] == 2
    assert params["estimator__max_epochs"] == 10
    copy_ = clone(est).set_params(pruner__amount=0.9, schedule__n_steps=4)
    assert copy_.pruner.amount == 0.9 and est.pruner.amount == 0.5


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(pruner="magnitude"), TypeError, "pruner"),
        (dict(retrain_epochs=-1), ValueError, "retrain_epochs"),
        (dict(retrain_epochs=1.5), TypeError, "retrain_epochs"),
        (dict(schedule="cosine"), ValueError, "schedule"),
        (dict(pruner=MagnitudePruner(amount=1.5)), ValueError, "amount"),
        (dict(pruner=MagnitudePruner(scope="blind")), ValueError, "scope"),
    ],
)
def test_bad_parameters_raise_errors_naming_them(kwargs, error, match, digits):
    X, y, _, _ = digits
    est = PrunedEstimator(small_clf(max_epochs=1), **kwargs)
    with pytest.raises(error, match=match):
        est.fit(X[:100], y[:100])


def _round_trip(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def test_compress_delegates_and_predicts_the_same(pruned, digits, tensor_elements):
    from sksparse.nn import CompressedNetwork

    X_test = digits[2]
    small = pruned.compress()
    assert isinstance(small, PrunedEstimator)
    assert isinstance(small.module_, CompressedNetwork)
    assert not isinstance(pruned.module_, CompressedNetwork)  # unchanged
    assert small.masks_ == {} and small.rewind_weights_ is None
    assert small.sparsity_ == pruned.sparsity_
    np.testing.assert_allclose(
        small.predict_proba(X_test), pruned.predict_proba(X_test), atol=1e-6
    )
    assert small.score(X_test, digits[3]) == pruned.score(X_test, digits[3])
    loaded = _round_trip(small)
    np.testing.assert_array_equal(loaded.predict(X_test), pruned.predict(X_test))
    held = sum(b.numel() for b in loaded.module_.buffers())
    assert tensor_elements(loaded) == held
    assert isinstance(clone(small), PrunedEstimator)


def test_compress_of_a_prefit_cnn_and_of_a_skorch_net(digits, tensor_elements):
    from sksparse import SparseCNNClassifier
    from sksparse.nn import CompressedConvNetwork

    X, y, X_test, _ = digits
    cnn = SparseCNNClassifier(
        channels=(4, 8), hidden_layer_sizes=(16,), max_epochs=2, random_state=0
    ).fit(X, y)
    est = PrunedEstimator(cnn, MagnitudePruner(0.9), retrain_epochs=1, prefit=True)
    small = est.fit(X, y).compress()
    assert isinstance(small.module_, CompressedConvNetwork)
    np.testing.assert_allclose(
        small.predict_proba(X_test), est.predict_proba(X_test), atol=1e-6
    )
    # The prefit estimator passed in holds the dense network: the compressed
    # copy keeps an unfitted clone of it instead.
    loaded = _round_trip(small)
    assert tensor_elements(loaded) == sum(b.numel() for b in loaded.module_.buffers())

    torch.manual_seed(0)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)),
        max_epochs=2,
        train_split=None,
        verbose=0,
    )
    X32, y64 = X.astype(np.float32), y.astype(np.int64)
    est = PrunedEstimator(net, MagnitudePruner(0.8), retrain_epochs=1).fit(X32, y64)
    small = est.compress()
    assert isinstance(small.estimator_, NeuralNetClassifier)
    np.testing.assert_allclose(
        small.predict_proba(X_test.astype(np.float32)),
        est.predict_proba(X_test.astype(np.float32)),
        atol=1e-6,
    )
    loaded = _round_trip(small)
    # Beside the compact network, only the module instance the user passed
    # to the (unfitted) skorch net, its parameter, which clone() needs.
    template = sum(p.numel() for p in loaded.estimator.module.parameters())
    held = sum(b.numel() for b in loaded.module_.buffers())
    assert tensor_elements(loaded) == held + template
