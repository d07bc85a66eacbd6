"""The sparse first layer as a feature selector: get_support and the selector."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from sksparse import PrunedEstimator, SparseFeatureSelector, SparseMLPClassifier
from sksparse.estimators import SparseMLPRegressor
from sksparse.nn import SparseMLP, compress
from sksparse.nn._stages import input_support
from sksparse.pruning import MagnitudePruner

INFORMATIVE = [0, 1, 2]


@pytest.fixture(scope="module")
def planted():
    """20 features, of which only the first three decide the class."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] - X[:, 2] > 0).astype(int)
    return X, y


def _pruned(amount=0.9):
    mlp = SparseMLPClassifier(
        (8,), max_epochs=30, lr=2e-2, batch_size=100, random_state=0
    )
    return PrunedEstimator(mlp, MagnitudePruner(amount), retrain_epochs=10)


@pytest.fixture(scope="module")
def selector(planted):
    return SparseFeatureSelector(_pruned()).fit(*planted)


def test_input_support_reads_kept_weights_of_live_neurons():
    masks = [torch.zeros(3, 5), torch.ones(2, 3)]
    masks[0][0, 1] = masks[0][1, 3] = masks[0][2, 4] = 1
    net = SparseMLP(5, (3,), 2, masks=masks)
    assert input_support(net).tolist() == [False, True, False, True, True]
    # Neuron 2 reaches no output: feature 4, which only it reads, is unread.
    masks[1][:, 2] = 0
    net = SparseMLP(5, (3,), 2, masks=masks)
    assert input_support(net).tolist() == [False, True, False, True, False]
    # compress() keeps exactly the supported features, and says so.
    assert input_support(compress(net)).tolist() == input_support(net).tolist()


def test_planted_informative_features_are_kept(planted, selector):
    support = selector.get_support(indices=True)
    assert set(INFORMATIVE) <= set(support)
    # The pruned first layer reads few of the 17 noise features.
    assert len(support) <= 5
    X, _ = planted
    np.testing.assert_array_equal(selector.transform(X), X[:, support])


def test_get_support_of_the_network_matches_its_compressed_copy(selector):
    net = selector.estimator_.estimator_
    support = net.get_support()
    assert support.dtype == bool and support.shape == (20,)
    np.testing.assert_array_equal(net.compress().get_support(), support)
    np.testing.assert_array_equal(
        net.get_support(indices=True), np.flatnonzero(support)
    )
    # The pruned meta-estimator answers for its network.
    np.testing.assert_array_equal(selector.estimator_.get_support(), support)
    # Every supported feature is read by a kept first-layer weight.
    first = net.masks_[0]
    assert first[:, support].any(axis=0).all()


def test_a_dense_network_supports_every_feature(planted):
    X, y = planted
    reg = SparseMLPRegressor((4,), max_epochs=1, random_state=0).fit(X, y)
    assert reg.get_support().all()


def test_selector_in_a_pipeline_before_a_linear_model(planted):
    X, y = planted
    pipe = Pipeline(
        [("select", SparseFeatureSelector(_pruned())), ("model", LogisticRegression())]
    ).fit(X, y)
    kept = pipe.named_steps["select"].get_support(indices=True)
    assert pipe.named_steps["model"].coef_.shape == (1, len(kept))
    assert pipe.score(X, y) > 0.9
    names = pipe.named_steps["select"].get_feature_names_out()
    assert list(names) == [f"x{i}" for i in kept]


def test_feature_names_out_follow_dataframe_columns(planted):
    pd = pytest.importorskip("pandas")
    X, y = planted
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    selector = SparseFeatureSelector(_pruned()).fit(frame, y)
    kept = selector.get_support(indices=True)
    assert list(selector.get_feature_names_out()) == [f"f{i}" for i in kept]


def test_prefit_copies_the_fitted_estimator(planted, selector):
    X, _ = planted
    fitted = selector.estimator_
    prefit = SparseFeatureSelector(fitted, prefit=True)
    # transform before fit, as SelectFromModel(prefit=True) allows.
    np.testing.assert_array_equal(prefit.transform(X), selector.transform(X))
    prefit.fit(X)
    assert prefit.estimator_ is not fitted
    np.testing.assert_array_equal(prefit.get_support(), selector.get_support())
    with pytest.raises(NotFittedError, match="prefit=True"):
        SparseFeatureSelector(clone(fitted), prefit=True).fit(X)


def test_unfitted_or_unreadable_estimators_are_refused(planted):
    X, y = planted
    with pytest.raises(NotFittedError):
        SparseFeatureSelector(_pruned()).transform(X)
    with pytest.raises(TypeError, match="estimator must be a feed-forward"):
        SparseFeatureSelector(LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="prefit"):
        SparseFeatureSelector(_pruned(), prefit="yes").fit(X, y)


def test_a_prior_drawn_first_layer_selects_what_its_mask_reads(planted):
    X, y = planted
    clf = SparseMLPClassifier((4,), sparsity=0.9, max_epochs=2, random_state=0).fit(
        X, y
    )
    first = clf.masks_[0]
    # Every feature a kept first-layer weight of a live neuron reads, no other.
    live = first.any(axis=1) & clf.masks_[1].any(axis=0)
    expected = first[live].any(axis=0)
    np.testing.assert_array_equal(clf.get_support(), expected)
    assert 0 < expected.sum() < X.shape[1]
    selected = SparseFeatureSelector(clf, prefit=True).fit(X).transform(X)
    assert selected.shape == (len(X), expected.sum())
