"""pruning_path and sensitivity_curve: one fit, then prune and score."""

import numpy as np
import pytest
from sklearn.base import clone

from sksparse import PrunedEstimator, SparseMLPClassifier
from sksparse.datasets import load_digits
from sksparse.pruning import MagnitudePruner, pruning_path, sensitivity_curve


@pytest.fixture(scope="module")
def digits():
    X, y, X_test, y_test = load_digits()
    return X[:500], y[:500], X_test, y_test


def small_clf():
    return SparseMLPClassifier(
        (32,), max_epochs=8, lr=0.01, batch_size=64, random_state=0
    )


@pytest.fixture(scope="module")
def fitted_score(digits):
    X, y, X_test, y_test = digits
    return clone(small_clf()).fit(X, y).score(X_test, y_test)


AMOUNTS = [0.0, 0.5, 0.9, 0.99]


def test_path_starts_at_the_fitted_score_and_reaches_each_sparsity(
    digits, fitted_score
):
    X, y, X_test, y_test = digits
    amounts, scores, sparsities = pruning_path(
        small_clf(),
        X,
        y,
        AMOUNTS,
        validation_data=(X_test, y_test),
        return_sparsity=True,
    )
    np.testing.assert_array_equal(amounts, AMOUNTS)
    assert scores.shape == sparsities.shape == (len(AMOUNTS),)
    # Amount 0 prunes nothing: exactly the fitted network's score.
    assert scores[0] == fitted_score
    np.testing.assert_allclose(sparsities, AMOUNTS, atol=1e-3)
    # Pruning 99 % of the weights without re-training costs accuracy.
    assert scores[-1] < scores[0] - 0.2
    assert scores[1] >= scores[-1]


def test_path_point_equals_the_pruned_estimator_it_stands_for(digits):
    X, y, X_test, y_test = digits
    _, scores = pruning_path(
        small_clf(),
        X,
        y,
        [0.8],
        pruner=MagnitudePruner(scope="class-uniform"),
        retrain_epochs=1,
        validation_data=(X_test, y_test),
    )
    # The path prunes copies of one fitted net (prefit=True), as sparsity_sweep
    # prunes its dense run.
    pruned = PrunedEstimator(
        clone(small_clf()).fit(X, y),
        MagnitudePruner(0.8, scope="class-uniform"),
        retrain_epochs=1,
        prefit=True,
    ).fit(X, y)
    assert scores[0] == pytest.approx(pruned.score(X_test, y_test))


def test_path_scoring_and_bad_amounts(digits):
    X, y, _, _ = digits
    _, scores = pruning_path(small_clf(), X, y, [0.0, 0.9], scoring="neg_log_loss")
    assert (scores < 0).all() and scores[1] < scores[0]
    for bad in ([0.9, 0.5], [1.0], [], [-0.1]):
        with pytest.raises(ValueError, match="amounts"):
            pruning_path(small_clf(), X, y, bad)


def test_sensitivity_curve_shape_and_unpruned_column(digits, fitted_score):
    X, y, X_test, y_test = digits
    layers, scores = sensitivity_curve(
        small_clf(), X, y, [0.0, 0.95], validation_data=(X_test, y_test)
    )
    assert len(layers) == 2 and all(name.endswith("weight") for name in layers)
    assert scores.shape == (2, 2)
    np.testing.assert_array_equal(scores[:, 0], fitted_score)
    # Pruning 95 % of one layer hurts; neither layer gains from it much.
    assert (scores[:, 1] <= scores[:, 0] + 0.02).all()
    assert scores[:, 1].min() < scores[0, 0]


def test_sensitivity_curve_prunes_only_the_named_layer(digits, monkeypatch):
    X, y, _, _ = digits
    sparsity = {}
    fit = PrunedEstimator.fit

    def spy(self, X, y):
        fit(self, X, y)
        sparsity[self.pruner.amount] = {n: 1 - m.mean() for n, m in self.masks_.items()}
        return self

    monkeypatch.setattr(PrunedEstimator, "fit", spy)
    layers, scores = sensitivity_curve(small_clf(), X, y, [0.6], layers=None)
    # masks_ holds only the layer pruned (the others are excluded).
    assert scores.shape == (2, 1)
    (masks,) = sparsity.values()
    assert list(masks) == [layers[-1]]
    assert masks[layers[-1]] == pytest.approx(0.6, abs=1e-2)


def test_sensitivity_curve_rejects_unknown_layers(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="layers.*prunable weights"):
        sensitivity_curve(small_clf(), X, y, [0.5], layers=["nope.weight"])


def test_cross_validated_sensitivity_has_one_curve_per_fold(digits):
    X, y, _, _ = digits
    layers, scores = sensitivity_curve(small_clf(), X, y, [0.0, 0.99], cv=3)
    assert len(layers) == 2 and scores.shape == (2, 2, 3)
    # Amount 0 scores each fold's own fitted network: the same for every layer.
    np.testing.assert_array_equal(scores[0, 0], scores[1, 0])
    assert (scores[:, 1].mean(axis=-1) < scores[:, 0].mean(axis=-1)).all()
    # The folds' mean feeds the allocation as a plain curve does.
    pruner = MagnitudePruner(
        0.5, scope="sensitivity", sensitivity=(layers, scores, [0.0, 0.99])
    )
    pruner.compute_masks(clone(small_clf()).fit(X[:100], y[:100]).module_)
    assert pruner.sparsity_ == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ValueError, match="validation_data and cv"):
        sensitivity_curve(small_clf(), X, y, [0.0], cv=3, validation_data=(X, y))
