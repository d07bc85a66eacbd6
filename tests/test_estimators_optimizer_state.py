"""Optimizer state is dropped when the weights or masks under it change.

Adam's moments of a weight keep moving it after its gradient is zero: a warm
start after ``module_.load_state_dict(...)`` or new masks moved masked
weights off zero.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from sksparse import SparseMLPClassifier
from sksparse.pruning import apply_masks


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(200, 10, random_state=0)
    return X.astype(np.float32), y


def _fitted(data, optimizer="adam"):
    est = SparseMLPClassifier(
        hidden_layer_sizes=(16,),
        sparsity=0.0,
        max_epochs=3,
        batch_size=50,
        optimizer=optimizer,
        warm_start=True,
        random_state=0,
    )
    return est.fit(*data)


def _masked_layers(est):
    return [
        m
        for m in est.module_.modules()
        if isinstance(getattr(m, "mask", None), torch.Tensor)
    ]


def _steps(est):
    """Adam's step count of every parameter (0 where it holds no state)."""
    state = est.net_.optimizer_.state
    return [
        int(state[p]["step"]) if p in state and "step" in state[p] else 0
        for p in est.module_.parameters()
    ]


def _half_masked_state(est):
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    for key in list(state):
        if key.endswith("mask"):
            keep = torch.ones_like(state[key])
            keep[:, ::2] = 0
            state[key] = keep
    return state


def _assert_masked_zero(est):
    layers = _masked_layers(est)
    assert layers
    for layer in layers:
        removed = layer.weight.detach()[layer.mask == 0]
        assert removed.numel() > 0
        assert torch.equal(removed, torch.zeros_like(removed))


def test_plain_warm_start_keeps_the_optimizer_state(data):
    est = _fitted(data)
    before = _steps(est)
    assert min(before) == 3 * 4  # 3 epochs of 4 batches
    est.set_params(max_epochs=1).fit(*data)
    assert _steps(est) == [b + 4 for b in before]


def test_loaded_state_dict_resets_optimizer_and_keeps_masked_weights_zero(data):
    est = _fitted(data)
    # Weights are left as they are at the positions the new masks remove (and
    # one is NaN): the load itself zeroes them.
    state = _half_masked_state(est)
    state["layers.0.weight"][0, 0] = float("nan")
    est.module_.load_state_dict(state)
    _assert_masked_zero(est)
    est.set_params(max_epochs=1).fit(*data)
    _assert_masked_zero(est)
    assert _steps(est) == [4] * len(_steps(est))  # one epoch from a fresh state


@pytest.mark.parametrize("how", ["set_mask", "apply_masks"])
def test_new_masks_reset_the_optimizer_state(data, how):
    est = _fitted(data, optimizer="sgd")  # momentum 0.9: stale buffers move too
    for layer in _masked_layers(est):
        keep = torch.ones_like(layer.mask)
        keep[::2] = 0
        if how == "set_mask":
            layer.set_mask(keep)
        else:
            name = next(n for n, m in est.module_.named_modules() if m is layer)
            apply_masks(est.module_, {f"{name}.weight": keep})
    est.set_params(max_epochs=1).fit(*data)
    _assert_masked_zero(est)


def test_pickled_estimator_still_resets_after_a_load(data):
    est = pickle.loads(pickle.dumps(_fitted(data)))
    assert min(_steps(est)) == 12  # warm_start=True keeps the moments
    est.module_.load_state_dict(_half_masked_state(est))
    est.set_params(max_epochs=1).fit(*data)
    _assert_masked_zero(est)
    assert _steps(est) == [4] * len(_steps(est))
