"""The MLPs' CSR training backend: the masked network's training, over the non-zeros."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_regression
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import Callback

from sksparse import SparseMLPClassifier, SparseMLPRegressor
from sksparse.nn import CSRMLP, SparseMLP
from sksparse.pruning import SET, MagnitudePruner, Pruning, RigL


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


PARAMS = dict(hidden_layer_sizes=(32,), sparsity=0.8, max_epochs=4, lr=1e-2)


class _Record(Callback):
    """What skorch trains in each batch: the module's type and the parameter count."""

    def initialize(self):
        self.seen = set()
        return self

    def on_batch_begin(self, net, **kwargs):
        n = sum(p.numel() for g in net.optimizer_.param_groups for p in g["params"])
        self.seen.add((type(net.module_).__name__, n))


def test_csr_backend_trains_what_the_masked_backend_trains(digits):
    X, y = digits
    masked = SparseMLPClassifier(**PARAMS, random_state=0).fit(X, y)
    csr = SparseMLPClassifier(**PARAMS, random_state=0, backend="csr").fit(X, y)
    # Same structure, same start, same batches: the same weights up to
    # floating-point summation order.
    for a, b in zip(masked.masks_, csr.masks_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        csr.predict_proba(X), masked.predict_proba(X), atol=1e-4, rtol=0
    )
    assert (csr.predict(X) == masked.predict(X)).mean() > 0.99
    assert isinstance(csr.module_, SparseMLP)
    for layer in csr.module_.masked_layers:
        assert bool((layer.weight[layer.mask == 0] == 0).all())
    assert csr.sparsity_ == pytest.approx(masked.sparsity_)


def test_the_optimizer_sees_only_the_kept_weights(digits):
    X, y = digits
    record = _Record()
    clf = SparseMLPClassifier(
        **PARAMS, random_state=0, backend="csr", callbacks=[("record", record)]
    ).fit(X, y)
    seen = dict(clf.net_.callbacks_)["record"].seen
    kept = sum(int(m.sum()) for m in clf.masks_)
    biases = sum(layer.bias.numel() for layer in clf.module_.masked_layers)
    assert seen == {("CSRMLP", kept + biases)}


def test_regressor_matches_the_masked_backend():
    X, y = make_regression(200, 10, n_targets=2, random_state=0)
    X, y = X.astype(np.float32), (y / y.std()).astype(np.float32)
    kw = dict(hidden_layer_sizes=(16,), sparsity=0.5, max_epochs=5, random_state=0)
    masked = SparseMLPRegressor(**kw).fit(X, y)
    csr = SparseMLPRegressor(**kw, backend="csr").fit(X, y)
    np.testing.assert_allclose(csr.predict(X), masked.predict(X), atol=1e-4, rtol=0)


def test_warm_start_and_pickle(digits):
    X, y = digits
    clf = SparseMLPClassifier(**PARAMS, random_state=0, backend="csr").fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(warm_start=True, max_epochs=2).fit(X, y)
    assert len(clf.history_) == PARAMS["max_epochs"] + 2
    assert not np.allclose(clf.predict_proba(X), before)
    twin = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    twin.fit(X, y)  # a reloaded estimator trains on with the same backend
    assert len(twin.history_) == PARAMS["max_epochs"] + 4


class _Boom(Callback):
    def on_epoch_end(self, net, **kwargs):
        raise RuntimeError("boom")


def test_a_failing_fit_leaves_the_masked_network_in_place(digits):
    X, y = digits
    clf = SparseMLPClassifier(**PARAMS, backend="csr", callbacks=[_Boom()])
    with pytest.raises(RuntimeError, match="boom"):
        clf.fit(X, y)
    assert isinstance(clf.net_.module_, SparseMLP)
    assert not any(isinstance(m, CSRMLP) for m in clf.net_.module_.modules())


@pytest.mark.parametrize(
    "params, match",
    [
        ({"callbacks": [SET(0.3, 10)]}, "SET callback"),
        ({"callbacks": [("rigl", RigL(0.3, 10))]}, "RigL callback"),
        ({"callbacks": [Pruning(MagnitudePruner(0.5))]}, "Pruning callback"),
        ({"sparsity": 0.5, "sparsity_schedule": "gradual"}, "sparsity_schedule"),
    ],
)
def test_mask_changing_training_asks_for_the_masked_backend(params, match, digits):
    X, y = digits
    params = {**PARAMS, **params, "backend": "csr"}
    if "sparsity_schedule" in params:
        params["sparsity"] = 0.5
    with pytest.raises(ValueError, match=match) as info:
        SparseMLPClassifier(**params).fit(X, y)
    assert "backend='masked'" in str(info.value)


def test_an_unknown_backend_is_named_in_the_error(digits):
    X, y = digits
    with pytest.raises(ValueError, match="'backend' parameter"):
        SparseMLPClassifier(backend="dense").fit(X, y)


CHECKED = dict(
    hidden_layer_sizes=(16,), sparsity=0.5, lr=0.02, batch_size=32, random_state=0
)


@pytest.mark.slow
@parametrize_with_checks(
    [
        SparseMLPClassifier(**CHECKED, max_epochs=20, backend="csr"),
        SparseMLPRegressor(**CHECKED, max_epochs=40, backend="csr"),
    ]
)
def test_csr_backend_passes_sklearn_checks(estimator, check):
    check(estimator)
