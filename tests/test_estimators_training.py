"""Training as scikit-learn's MLP trains: convergence, early stopping, weights,
partial_fit."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from skorch.callbacks import Checkpoint, EarlyStopping

from sksparse import (
    GraphPriorRNNClassifier,
    SparseCNNClassifier,
    SparseMLPClassifier,
    SparseMLPRegressor,
)
from sksparse.pruning import Gradual


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0)[:300], y[:300]


def _fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


# -- convergence --------------------------------------------------------------
def test_training_stops_after_n_iter_no_change_epochs_without_improvement(digits):
    X, y = digits
    # No epoch can improve by tol=10: the first sets the best, then
    # n_iter_no_change + 1 epochs without improvement stop it (sklearn's rule).
    clf = SparseMLPClassifier((16,), tol=10.0, n_iter_no_change=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ == 1 + 3 + 1
    assert len(clf.history_) == clf.n_iter_


def test_tol_zero_trains_while_the_loss_falls(digits):
    X, y = digits
    clf = _fit_quietly(
        SparseMLPClassifier((16,), max_epochs=40, tol=0.0, random_state=0), X, y
    )
    losses = clf.history_[:, "train_loss"]
    # It stopped only once the loss had not fallen for 11 epochs in a row.
    if clf.n_iter_ < 40:
        assert min(losses[-11:]) >= min(losses[:-11])


def test_budget_exhausted_warns_convergence(digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), max_epochs=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"max_epochs \(3\)"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3


def test_no_warning_with_zero_epochs(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SparseMLPClassifier((16,), max_epochs=0, random_state=0).fit(X, y)
    assert clf.n_iter_ == 0


def test_stopping_never_cuts_a_sparsity_schedule_short(digits):
    X, y = digits
    schedule = Gradual(n_steps=4, start=2)
    clf = SparseMLPClassifier(
        (32,),
        sparsity=0.8,
        sparsity_schedule=schedule,
        tol=10.0,  # nothing counts as improvement
        n_iter_no_change=1,
        random_state=0,
    ).fit(X, y)
    pruning = dict(clf.net_.callbacks_)["sparsity_schedule"]
    last = max(schedule.epochs(0.8))
    assert pruning.pruned_epochs_ == schedule.epochs(0.8)
    # Counting starts at the last pruning epoch: the two epochs after it do
    # not improve on it (n_iter_no_change=1), so training ends there.
    assert clf.n_iter_ == last + 1 + 2
    assert clf.sparsity_ == pytest.approx(0.8, abs=0.01)


# -- early stopping -----------------------------------------------------------
def test_early_stopping_keeps_the_best_validation_epoch(digits):
    X, y = digits
    clf = SparseMLPClassifier(
        (16,), early_stopping=True, n_iter_no_change=3, lr=0.05, random_state=0
    )
    clf.fit(X, y)
    scores = clf.history_[:, "valid_acc"]
    assert clf.n_iter_ < 200
    # The weights are the best epoch's: re-scoring the same held-out split
    # with the fitted module gives the best validation accuracy, not the last.
    _, valid = clf.net_.get_split_datasets(X.astype(np.float32), y)
    X_valid = np.stack([valid[i][0] for i in range(len(valid))])
    y_valid = np.array([valid[i][1] for i in range(len(valid))])
    accuracy = np.mean(clf.predict(X_valid) == clf.classes_[y_valid])
    assert accuracy == pytest.approx(max(scores))
    assert len(valid) == pytest.approx(0.1 * len(X), abs=1)


def test_regressor_early_stopping_scores_r2():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X @ np.arange(1.0, 5.0)
    reg = _fit_quietly(
        SparseMLPRegressor((16,), early_stopping=True, max_epochs=30, random_state=0),
        X,
        y,
    )
    r2 = reg.history_[:, "valid_r2"]
    assert len(r2) == reg.n_iter_
    assert max(r2) > r2[0]


def test_skorch_early_stopping_and_checkpoint_read_the_split(digits, tmp_path):
    X, y = digits
    callbacks = [
        EarlyStopping(patience=2, threshold=0.5, sink=lambda *a: None),
        Checkpoint(dirname=str(tmp_path), monitor="valid_loss_best"),
    ]
    clf = SparseMLPClassifier(
        (16,), early_stopping=True, callbacks=callbacks, random_state=0
    ).fit(X, y)
    # threshold=0.5 (relative) stops it after 1 + 2 epochs, before sksparse's own.
    assert clf.n_iter_ == 3
    assert (tmp_path / "params.pt").exists()


def test_a_callback_needing_a_split_without_one_is_refused(digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), callbacks=[EarlyStopping()], max_epochs=2)
    with pytest.raises(ValueError, match="early_stopping=True"):
        clf.fit(X, y)


def test_rnn_early_stopping_monitors_validation_accuracy():
    rng = np.random.default_rng(0)
    X = rng.integers(1, 4, size=(200, 6))
    y = (X[:, 0] == 1).astype(int)
    clf = GraphPriorRNNClassifier(
        "gru", 8, early_stopping=True, n_iter_no_change=2, random_state=0
    ).fit(X, y)
    assert "valid_acc" in clf.history_[-1]
    assert clf.n_iter_ < 200


# -- sample and class weights ---------------------------------------------------
@pytest.mark.parametrize("estimator_class", [SparseMLPClassifier, SparseCNNClassifier])
def test_integer_weights_train_as_repeated_rows(estimator_class, digits):
    X, y = digits
    X, y = X[:80], y[:80]
    weights = np.random.default_rng(0).integers(0, 4, size=len(y))
    kwargs = dict(
        optimizer="sgd", lr=0.1, max_epochs=15, batch_size=400, tol=0.0, random_state=0
    )
    if estimator_class is SparseCNNClassifier:
        kwargs.update(channels=(4,), hidden_layer_sizes=(16,))
    else:
        kwargs.update(hidden_layer_sizes=(16,))
    # One batch holds every row, so the weighted mean of the losses is the
    # mean over the repeated rows: the same gradient, up to float32 rounding.
    weighted = _fit_quietly(estimator_class(**kwargs), X, y, sample_weight=weights)
    repeated = _fit_quietly(
        estimator_class(**kwargs), X.repeat(weights, axis=0), y.repeat(weights)
    )
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-4
    )


def test_regressor_sample_weight_changes_the_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 0] > 0, 5.0, -5.0)
    weights = np.where(X[:, 0] > 0, 1.0, 1e-3)
    kwargs = dict(hidden_layer_sizes=(8,), max_epochs=30, lr=0.01, random_state=0)
    plain = _fit_quietly(SparseMLPRegressor(**kwargs), X, y)
    weighted = _fit_quietly(SparseMLPRegressor(**kwargs), X, y, sample_weight=weights)
    right = X[:, 0] > 0
    # The heavily weighted half is fitted better than without weights.
    error = lambda m: np.mean((m.predict(X[right]) - y[right]) ** 2)  # noqa: E731
    assert error(weighted) < error(plain)


def test_balanced_class_weight_is_balanced_sample_weight():
    X, y = make_classification(
        300, 6, n_informative=4, weights=[0.85, 0.15], random_state=0
    )
    kwargs = dict(hidden_layer_sizes=(16,), max_epochs=10, random_state=0)
    balanced = _fit_quietly(
        SparseMLPClassifier(class_weight="balanced", **kwargs), X, y
    )
    by_sample = _fit_quietly(
        SparseMLPClassifier(**kwargs),
        X,
        y,
        sample_weight=compute_sample_weight("balanced", y),
    )
    np.testing.assert_array_equal(balanced.predict_proba(X), by_sample.predict_proba(X))
    plain = _fit_quietly(SparseMLPClassifier(**kwargs), X, y)
    minority = y == 1
    assert np.mean(balanced.predict(X[minority]) == 1) > np.mean(
        plain.predict(X[minority]) == 1
    )


def test_class_weight_dict_multiplies_sample_weight():
    X, y = make_classification(200, 5, random_state=0)
    y = np.where(y == 1, "b", "a")
    kwargs = dict(hidden_layer_sizes=(8,), max_epochs=5, random_state=0)
    sw = np.random.default_rng(0).uniform(0.5, 2, size=len(y))
    by_dict = _fit_quietly(
        SparseMLPClassifier(class_weight={"b": 3.0}, **kwargs), X, y, sample_weight=sw
    )
    by_hand = _fit_quietly(
        SparseMLPClassifier(**kwargs), X, y, sample_weight=sw * np.where(y == "b", 3, 1)
    )
    np.testing.assert_array_equal(by_dict.predict_proba(X), by_hand.predict_proba(X))


def test_weights_leaving_one_class_are_refused():
    X, y = make_classification(60, 4, random_state=0)
    with pytest.raises(ValueError, match="at least 2 classes with a non-zero weight"):
        SparseMLPClassifier(max_epochs=1).fit(X, y, sample_weight=(y == 1) * 1.0)
    with pytest.raises(ValueError, match="sample_weight"):
        SparseMLPClassifier(max_epochs=1).fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="class_weight"):
        SparseMLPClassifier(class_weight="even", max_epochs=1).fit(X, y)


def test_sample_weight_routes_through_pipeline_and_grid_search(digits):
    X, y = digits
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    params = dict(hidden_layer_sizes=(16,), max_epochs=3, random_state=0)
    direct = _fit_quietly(
        SparseMLPClassifier(**params),
        StandardScaler().fit_transform(X),
        y,
        sample_weight=weights,
    )
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            SparseMLPClassifier(**params)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=True),
        )
        _fit_quietly(pipe, X, y, sample_weight=weights)
        np.testing.assert_array_equal(
            pipe.predict_proba(X),
            direct.predict_proba(StandardScaler().fit_transform(X)),
        )
        search = GridSearchCV(pipe, {"sparsemlpclassifier__lr": [1e-3, 1e-2]}, cv=2)
        _fit_quietly(search, X, y, sample_weight=weights)
        assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # Without routing, scikit-learn's step__param spelling reaches it too.
    plain = make_pipeline(StandardScaler(), SparseMLPClassifier(**params))
    _fit_quietly(plain, X, y, sparsemlpclassifier__sample_weight=weights)
    np.testing.assert_array_equal(plain.predict_proba(X), pipe.predict_proba(X))


# -- partial_fit ----------------------------------------------------------------
def test_partial_fit_needs_classes_on_the_first_call(digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 5], y[y < 5], classes=np.arange(10))
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_iter_ == 1
    # Later batches may hold other classes of the first call's list ...
    clf.partial_fit(X[y >= 5], y[y >= 5])
    assert clf.n_iter_ == 2
    # ... but not another list, nor unseen labels.
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=np.arange(5))
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:10], np.full(10, 11))


def test_partial_fit_trains_one_epoch_and_keeps_masks(digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), sparsity=0.7, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    masks = [m.copy() for m in clf.masks_]
    first = clf.net_
    losses = []
    for _ in range(4):
        clf.partial_fit(X, y)
        losses.append(clf.history_[-1, "train_loss"])
    assert clf.net_ is first and clf.n_iter_ == 5
    for before, after in zip(masks, clf.masks_):
        np.testing.assert_array_equal(before, after)
    assert losses[-1] < losses[0]


def test_partial_fit_continues_a_pruning_schedule(digits):
    X, y = digits
    clf = SparseMLPClassifier(
        (32,), sparsity=0.8, sparsity_schedule=Gradual(n_steps=2), random_state=0
    )
    sparsities = []
    for _ in range(4):
        clf.partial_fit(X, y, classes=np.unique(y))
        sparsities.append(clf.sparsity_)
    # Each call is one epoch of the schedule: its targets, then it holds.
    targets = Gradual(n_steps=2).targets(0.8)  # at epochs 0, 1, 2
    np.testing.assert_allclose(sparsities, [*targets, targets[-1]], atol=0.01)


def test_partial_fit_refuses_balanced_and_changed_structure(digits):
    X, y = digits
    with pytest.raises(ValueError, match="'balanced' is not supported by partial_fit"):
        SparseMLPClassifier(class_weight="balanced").partial_fit(
            X, y, classes=np.unique(y)
        )
    clf = SparseMLPClassifier((16,)).partial_fit(X, y, classes=np.unique(y))
    clf.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        clf.partial_fit(X, y)


def test_partial_fit_ignores_the_validation_split(digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), early_stopping=True, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    assert clf.history_[-1, "train_batch_count"] == 2  # 300 rows, batches of 200
    assert "valid_acc" not in clf.history_[-1]


def test_regressor_partial_fit(digits):
    X, y = digits
    reg = SparseMLPRegressor((16,), random_state=0)
    for _ in range(3):
        reg.partial_fit(X, y.astype(float), sample_weight=np.ones(len(y)))
    assert reg.n_iter_ == 3
    assert reg.predict(X).shape == (len(X),)


def test_batch_size_auto_is_sklearns(digits):
    X, y = digits
    clf = _fit_quietly(SparseMLPClassifier((8,), max_epochs=1), X[:150], y[:150])
    assert clf.net_.batch_size == 150
    clf = _fit_quietly(SparseMLPClassifier((8,), max_epochs=1), X, y)
    assert clf.net_.batch_size == 200


def test_cnn_and_rnn_partial_fit_continue_one_network(digits):
    X, y = digits
    cnn = SparseCNNClassifier(channels=(4,), hidden_layer_sizes=(8,), random_state=0)
    cnn.partial_fit(X[:150], y[:150], classes=np.arange(10))
    first = cnn.net_
    cnn.partial_fit(X[150:], y[150:])
    assert cnn.net_ is first and cnn.n_iter_ == 2
    assert cnn.predict(X).shape == (len(X),)

    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 4, size=(120, 5))
    labels = (tokens[:, 0] == 1).astype(int)
    rnn = GraphPriorRNNClassifier("gru", 8, sparsity=0.5, random_state=0)
    rnn.partial_fit(tokens[:60], labels[:60], classes=[0, 1])
    masks = [m.copy() for m in rnn.masks_]
    rnn.partial_fit(tokens[60:], labels[60:])
    assert rnn.n_iter_ == 2
    for before, after in zip(masks, rnn.masks_):
        np.testing.assert_array_equal(before, after)


def test_early_stopping_never_restores_a_net_denser_than_the_schedule_ends(digits):
    X, y = digits
    schedule = Gradual(n_steps=4, start=2)
    clf = SparseMLPClassifier(
        (32,),
        sparsity=0.8,
        sparsity_schedule=schedule,
        early_stopping=True,
        tol=10.0,  # no epoch improves: the best is the first one counted
        n_iter_no_change=1,
        random_state=0,
    ).fit(X, y)
    pruning = dict(clf.net_.callbacks_)["sparsity_schedule"]
    assert pruning.pruned_epochs_ == schedule.epochs(0.8)
    assert clf.n_iter_ > max(schedule.epochs(0.8))
    assert clf.sparsity_ == pytest.approx(0.8, abs=0.01)
