"""The shared helpers of ``sksparse.utils``: finding the network in a model."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sksparse.estimators import SparseMLPClassifier
from sksparse.utils import find_module, find_net, net_optimizers, sparsity


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = SparseMLPClassifier(hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
    return clf.fit(X, y), X, y


def test_find_module_walks_pipelines_and_searches(fitted):
    clf, X, y = fitted
    pipe = make_pipeline(StandardScaler(), clf).fit(X, y)
    search = GridSearchCV(pipe, {"sparsemlpclassifier__max_epochs": [1]}, cv=2)
    search.fit(X, y)
    assert find_module(clf) is clf.net_.module_
    assert find_module(pipe) is pipe[-1].net_.module_
    inner = search.best_estimator_[-1]
    assert find_module(search) is inner.net_.module_
    assert find_net(search) is inner
    assert find_module(clf.net_) is clf.net_.module_


def test_find_module_returns_a_module_as_is():
    module = nn.Linear(2, 2)
    assert find_module(module) is module


def test_find_module_names_what_it_got():
    with pytest.raises(TypeError, match="is it fitted"):
        find_module(SparseMLPClassifier())
    with pytest.raises(TypeError, match="found no fitted network in a str"):
        find_module("model")
    assert find_net(None) is None


def test_net_optimizers(fitted):
    clf, _, _ = fitted
    assert net_optimizers(clf.net_) == [clf.net_.optimizer_]
    assert net_optimizers(object()) == []


def test_sparsity_counts_masks_zeros_and_recurrent_matrices_but_not_embeddings():
    import torch

    from sksparse.nn import MaskedLinear, MaskedLSTM

    layer = MaskedLinear(4, 5)
    layer.mask[:, :2] = 0  # 10 of 20 masked
    plain = nn.Linear(5, 2)
    with torch.no_grad():
        plain.weight[0] = 0  # 5 of 10 zero
    net = nn.Sequential(nn.Embedding(9, 4), layer, plain)
    assert sparsity(net) == pytest.approx(15 / 30)
    lstm = MaskedLSTM(3, 4)
    masks = [m for _, m in lstm.masked_parameters()]
    expected = 1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)
    assert sparsity(lstm) == pytest.approx(expected)
    assert sparsity(nn.ReLU()) == 0.0


def test_one_sparsity_for_an_estimator_its_pruned_wrapper_and_its_compressed_copy():
    from sksparse import PrunedEstimator
    from sksparse.pruning import MagnitudePruner

    X, y = np.random.default_rng(0).normal(size=(90, 8)), np.arange(90) % 3
    clf = SparseMLPClassifier((32,), max_epochs=2, random_state=0)
    pruned = PrunedEstimator(clf, MagnitudePruner(0.6), retrain_epochs=1).fit(X, y)
    inner = pruned.estimator_
    assert pruned.sparsity_ == pytest.approx(inner.sparsity_)
    assert inner.sparsity_ == pytest.approx(sparsity(inner.module_))
    masked = SparseMLPClassifier((32,), sparsity=0.8, max_epochs=2, random_state=0)
    masked.fit(X, y)
    compact = masked.compress(layout="csr")
    assert compact.sparsity_ == pytest.approx(masked.sparsity_)
