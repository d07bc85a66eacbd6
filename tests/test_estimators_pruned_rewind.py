"""PrunedEstimator(rewind=...): lottery-ticket rewinding, checked on real tensors.

Lightning's lottery-ticket reset silently did nothing for years, so every test
here compares the network's tensors with the stored ones, entry for entry.
"""

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochTimer
from torch import nn

from sksparse import PrunedEstimator, SparseMLPClassifier
from sksparse.datasets import load_digits
from sksparse.pruning import Iterative, MagnitudePruner, RandomPruner


@pytest.fixture(scope="module")
def digits():
    X, y, _, _ = load_digits()
    return X[:400], y[:400]


def small_clf(**kwargs):
    params = dict(max_epochs=4, lr=0.01, batch_size=64, random_state=0)
    return SparseMLPClassifier((32,), **{**params, **kwargs})


def _params(module):
    return {n: p.detach().cpu().clone() for n, p in module.named_parameters()}


def _assert_rewound(params, stored, masks):
    """Kept entries equal the stored ones exactly, pruned entries are zero."""
    assert set(params) == set(stored)
    for name, value in params.items():
        if name in masks:
            keep = torch.as_tensor(np.asarray(masks[name]))
            assert torch.equal(value[keep], stored[name][keep]), name
            assert bool((value[~keep] == 0).all()), name
            assert int((~keep).sum()) > 0, name
        else:
            assert torch.equal(value, stored[name]), name


def test_rewind_init_resets_kept_weights_to_the_initialisation(digits):
    X, y = digits
    est = PrunedEstimator(small_clf(), MagnitudePruner(0.7), retrain_epochs=0)
    est.set_params(rewind="init").fit(X, y)
    # The stored weights are the initialisation: a net built by the same
    # estimator and trained for no epoch has exactly them.
    init = _params(small_clf(max_epochs=0).fit(X, y).module_)
    trained = _params(small_clf().fit(X, y).module_)
    for name, value in init.items():
        assert torch.equal(est.rewind_weights_[name], value)
        assert not torch.equal(trained[name], value)
    _assert_rewound(_params(est.module_), est.rewind_weights_, est.masks_)
    assert est.sparsity_ == pytest.approx(0.7, abs=1e-3)


def test_rewind_to_epoch_k_stores_the_weights_after_k_epochs(digits):
    X, y = digits
    est = PrunedEstimator(small_clf(), MagnitudePruner(0.5), retrain_epochs=0, rewind=2)
    est.fit(X, y)
    after_two = _params(small_clf(max_epochs=2).fit(X, y).module_)
    for name, value in after_two.items():
        assert torch.equal(est.rewind_weights_[name], value)
    _assert_rewound(_params(est.module_), est.rewind_weights_, est.masks_)


def test_each_pruning_step_rewinds_before_re_training(digits, monkeypatch):
    X, y = digits
    seen = []
    retrain = PrunedEstimator._retrain

    def spy(self, estimator, net, X, y):
        # The state right after the reset, before any re-training step.
        seen.append(
            (_params(net.module_), {n: m.clone() for n, m in _current_masks(net)})
        )
        return retrain(self, estimator, net, X, y)

    monkeypatch.setattr(PrunedEstimator, "_retrain", spy)
    est = PrunedEstimator(
        small_clf(),
        MagnitudePruner(0.8),
        retrain_epochs=2,
        schedule=Iterative(n_steps=2),
        rewind="init",
    ).fit(X, y)
    assert len(seen) == 2
    for params, masks in seen:
        _assert_rewound(params, est.rewind_weights_, masks)
    # Re-training moved the kept weights away from the stored ones.
    final = _params(est.module_)
    name = next(iter(est.masks_))
    keep = torch.as_tensor(est.masks_[name])
    assert not torch.equal(final[name][keep], est.rewind_weights_[name][keep])
    assert est.sparsity_ == pytest.approx(0.8, abs=1e-3)
    assert len(est.history_) == 4 + 2 * 2


def _current_masks(net):
    return [
        (name, module.mask != 0)
        for mod_name, module in net.module_.named_modules()
        if hasattr(module, "mask")
        for name in [f"{mod_name}.weight"]
    ]


def test_rewind_works_with_a_plain_skorch_net(digits):
    X, y = digits
    module = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    net = NeuralNetClassifier(
        module, max_epochs=3, lr=0.05, train_split=None, verbose=0
    )
    torch.manual_seed(0)
    est = PrunedEstimator(net, MagnitudePruner(0.6), retrain_epochs=0, rewind=1)
    est.fit(X.astype("float32"), y.astype("int64"))
    _assert_rewound(_params(est.module_), est.rewind_weights_, est.masks_)
    # The snapshot callback is gone from the fitted net and its parameters.
    assert est.estimator_.callbacks is None
    assert all(name != "_sksparse_rewind" for name, _ in est.net_.callbacks_)


def test_rewound_estimator_pickles_and_keeps_its_parameters(digits, tmp_path):
    X, y = digits
    est = PrunedEstimator(
        small_clf(), MagnitudePruner(0.5), retrain_epochs=1, rewind="init"
    ).fit(X, y)
    assert est.estimator_.callbacks is None
    assert clone(est).get_params()["rewind"] == "init"
    path = tmp_path / "ticket.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    for name, value in est.rewind_weights_.items():
        assert torch.equal(loaded.rewind_weights_[name], value)


def test_no_rewind_stores_nothing(digits):
    X, y = digits
    est = PrunedEstimator(small_clf(), MagnitudePruner(0.5), retrain_epochs=0)
    assert est.fit(X, y).rewind_weights_ is None


@pytest.mark.parametrize(
    "rewind, error",
    [("last", ValueError), (-1, ValueError), (1.5, ValueError), (True, TypeError)],
)
def test_bad_rewind_values_raise_naming_rewind(rewind, error, digits):
    X, y = digits
    est = PrunedEstimator(small_clf(), retrain_epochs=0, rewind=rewind)
    with pytest.raises(error, match="rewind"):
        est.fit(X, y)


def test_rewind_past_training_or_with_prefit_raises(digits):
    X, y = digits
    with pytest.raises(ValueError, match="rewind=9"):
        PrunedEstimator(small_clf(), retrain_epochs=0, rewind=9).fit(X, y)
    fitted = small_clf().fit(X, y)
    with pytest.raises(ValueError, match="rewind='init'.*prefit"):
        PrunedEstimator(fitted, prefit=True, rewind="init").fit(X, y)


# -- the papers' controls -----------------------------------------------------
def test_reinit_draws_fresh_weights_through_the_mask(digits):
    X, y = digits
    est = PrunedEstimator(
        small_clf(), MagnitudePruner(0.7), retrain_epochs=0, rewind="reinit"
    ).fit(X, y)
    init = _params(small_clf(max_epochs=0).fit(X, y).module_)
    trained = _params(small_clf().fit(X, y).module_)
    fresh = est.rewind_weights_
    for name, value in fresh.items():
        assert not torch.equal(value, init[name]), name
        assert not torch.equal(value, trained[name]), name
        # Drawn from the initialisation's distribution (the dense network's
        # fan-in), not rescaled to the pruned masks' smaller fan-in.
        if value.ndim == 2:  # a 10-entry bias's spread is too noisy to test
            ratio = float(value.std() / init[name].std())
            assert 0.8 < ratio < 1.25, (name, ratio)
    _assert_rewound(_params(est.module_), fresh, est.masks_)
    # Reproducible for a seed, different for another.
    again = PrunedEstimator(
        small_clf(), MagnitudePruner(0.7), retrain_epochs=0, rewind="reinit"
    ).fit(X, y)
    other = PrunedEstimator(
        small_clf(random_state=1),
        MagnitudePruner(0.7),
        retrain_epochs=0,
        rewind="reinit",
    ).fit(X, y)
    for name, value in fresh.items():
        assert torch.equal(again.rewind_weights_[name], value)
        assert not torch.equal(other.rewind_weights_[name], value)


def test_reinit_draws_anew_at_every_event_and_leaves_the_global_rng(digits):
    X, y = digits
    seen = []
    est = PrunedEstimator(
        small_clf(),
        MagnitudePruner(0.8),
        retrain_epochs=1,
        schedule=Iterative(n_steps=2),
        rewind="reinit",
    )
    original = PrunedEstimator._retrain

    def spy(self, estimator, net, X, y):
        seen.append(_params(net.module_))
        return original(self, estimator, net, X, y)

    PrunedEstimator._retrain = spy
    try:
        torch.manual_seed(123)
        before = torch.rand(3)
        torch.manual_seed(123)
        est.fit(X, y)
        after = torch.rand(3)
    finally:
        PrunedEstimator._retrain = original
    assert torch.equal(before, after)
    assert len(seen) == 2
    # The second event's kept weights are a different draw from the first's,
    # and they are exactly the stored last draw.
    name = next(iter(est.masks_))
    keep = torch.as_tensor(est.masks_[name])
    assert not torch.equal(seen[0][name][keep], seen[1][name][keep])
    _assert_rewound(seen[1], est.rewind_weights_, est.masks_)


def test_reinit_works_with_a_prefit_estimator(digits):
    X, y = digits
    fitted = small_clf().fit(X, y)
    before = _params(fitted.module_)
    est = PrunedEstimator(
        fitted, MagnitudePruner(0.6), retrain_epochs=0, prefit=True, rewind="reinit"
    ).fit(X, y)
    _assert_rewound(_params(est.module_), est.rewind_weights_, est.masks_)
    for name, value in before.items():
        assert not torch.equal(est.rewind_weights_[name], value)
        assert torch.equal(_params(fitted.module_)[name], value)  # not touched


def test_random_mask_control_has_the_magnitude_masks_layer_densities(digits):
    X, y = digits
    kwargs = dict(retrain_epochs=1, schedule=Iterative(n_steps=3), rewind="init")
    magnitude = PrunedEstimator(
        small_clf(), MagnitudePruner(0.9, scope="class-uniform"), **kwargs
    ).fit(X, y)
    random = PrunedEstimator(
        small_clf(),
        RandomPruner(0.9, scope="class-uniform", random_state=0),
        **kwargs,
    ).fit(X, y)
    assert set(magnitude.masks_) == set(random.masks_)
    for name, mask in magnitude.masks_.items():
        other = random.masks_[name]
        assert mask.sum() == other.sum(), name
        assert mask.sum() == round(0.1 * mask.size), name
        # Same counts, other positions.
        assert (mask != other).any(), name


def test_bare_user_callbacks_survive_the_rewind_snapshot(digits):
    X, y = digits
    timer = EpochTimer()
    est = PrunedEstimator(
        small_clf(callbacks=[timer]),
        MagnitudePruner(0.5),
        retrain_epochs=1,
        rewind=1,
    ).fit(X, y)
    assert est.history_[-1, "dur"] > 0  # the bare timer kept recording
    # The estimator's parameter is its (cloned) list of one bare callback.
    assert [type(cb) for cb in est.estimator_.callbacks] == [EpochTimer]
    names = [name for name, _ in est.net_.callbacks_]
    assert "EpochTimer" in names and "_sksparse_rewind" not in names
    # The user's callback stays a bare instance; only the snapshot went.
    bare = [cb for cb in est.net_.callbacks if not isinstance(cb, tuple)]
    assert [type(cb) for cb in bare] == [EpochTimer]


class _ScaledOutput(nn.Module):
    """A parameter outside any module with reset_parameters."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.scale = nn.Parameter(torch.ones(10))

    def forward(self, X):
        return self.fc(X) * self.scale


def test_reinit_refuses_parameters_it_cannot_redraw(digits):
    X, y = digits
    net = NeuralNetClassifier(
        _ScaledOutput, max_epochs=1, lr=0.05, train_split=None, verbose=0
    )
    est = PrunedEstimator(net, MagnitudePruner(0.5), retrain_epochs=0, rewind="reinit")
    with pytest.raises(TypeError, match=r"rewind='reinit'.*\['scale'\]"):
        est.fit(X.astype("float32"), y.astype("int64"))
