"""MagnitudePruner(pattern=...): N:M groups and whole blocks."""

import numpy as np
import pytest
import torch
from torch import nn

from sksparse import PrunedEstimator, SparseMLPClassifier
from sksparse.pruning import MagnitudePruner
from sksparse.pruning._patterns import check_pattern


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 12))


@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (1, 10), (3, 8)])
def test_n_of_every_m_consecutive_inputs_are_kept_the_largest(n, m):
    module = net()
    masks = MagnitudePruner(pattern=f"{n}:{m}").prune(module)
    for name, mask in masks.items():
        weight = dict(module.named_parameters())[name].detach().abs()
        cols = mask.shape[1]
        for start in range(0, cols, m):
            group = mask[:, start : start + m]
            # Exactly N kept per group (fewer only in a short last group).
            assert (group.sum(dim=1) == min(n, group.shape[1])).all()
            w = weight[:, start : start + m]
            kept = torch.where(group == 1, w, torch.full_like(w, np.inf))
            gone = torch.where(group == 0, w, torch.full_like(w, -np.inf))
            assert (gone.max(dim=1).values <= kept.min(dim=1).values).all()


def test_n_m_sparsity_and_pruned_weights_stay_pruned():
    module = net()
    with torch.no_grad():
        module[0].weight[:, 0:4] = 0  # a whole group already gone
    pruner = MagnitudePruner(pattern="2:4")
    masks = pruner.compute_masks(module)
    assert (masks["0.weight"][:, 0:4] == 0).all()
    # Layer 0 keeps 2 in each of its 11 other groups per row (22 of 48), the
    # output layer half of its 12 x 32.
    assert pruner.sparsity_ == pytest.approx((32 * 26 + 12 * 16) / (32 * 48 + 12 * 32))


def _blocks(mask, r, c):
    rows, cols = mask.shape
    return [
        mask[i : i + r, j : j + c] for i in range(0, rows, r) for j in range(0, cols, c)
    ]


@pytest.mark.parametrize("shape", [(4, 4), (1, 4), (4, 1), (8, 8)])
@pytest.mark.parametrize("scope", ["class-blinded", "class-uniform"])
def test_blocks_go_whole_weakest_first(shape, scope):
    r, c = shape
    module = net()
    weights = {n: p.detach().clone() for n, p in module.named_parameters()}
    pruner = MagnitudePruner(0.8, scope=scope, pattern=shape)
    masks = pruner.prune(module)
    assert pruner.sparsity_ == pytest.approx(0.8, abs=0.03)
    kept_norms, gone_norms = {}, {}
    for name, mask in masks.items():
        blocks = _blocks(mask, r, c)
        wblocks = _blocks(weights[name], r, c)
        for block, wb in zip(blocks, wblocks):
            assert block.min() == block.max()  # all kept or all pruned
            side = kept_norms if block.max() == 1 else gone_norms
            side.setdefault(name, []).append(float(wb.norm()))
        if scope == "class-uniform":
            assert float((mask == 0).float().mean()) == pytest.approx(0.8, abs=0.1)
            assert max(gone_norms[name]) <= min(kept_norms[name])
    if scope == "class-blinded":
        gone = [v for vs in gone_norms.values() for v in vs]
        kept = [v for vs in kept_norms.values() for v in vs]
        assert max(gone) <= min(kept)


def test_blocks_of_a_convolution_read_it_as_out_by_in_times_kernel():
    conv = nn.Conv2d(4, 8, 3)
    masks = MagnitudePruner(0.5, pattern=(2, 9)).prune(conv)
    flat = masks["weight"].reshape(8, -1)
    for block in _blocks(flat, 2, 9):
        assert block.min() == block.max()


def test_patterns_survive_re_training_in_an_estimator():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 16)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = SparseMLPClassifier((8,), max_epochs=2, random_state=0)
    pruned = PrunedEstimator(clf, MagnitudePruner(pattern="1:4"), retrain_epochs=2).fit(
        X, y
    )
    first = pruned.module_.masked_layers[0].weight.detach()
    assert ((first != 0).reshape(8, 4, 4).sum(dim=2) <= 1).all()
    assert pruned.sparsity_ == pytest.approx(0.75)


@pytest.mark.parametrize(
    "pattern", ["2:2", "0:4", "4:2", "2/4", (1, 1), (0, 4), (2,), (True, 4), 4]
)
def test_bad_patterns_are_refused(pattern):
    with pytest.raises((ValueError, TypeError), match="pattern"):
        MagnitudePruner(pattern=pattern).compute_masks(net())


def test_patterns_take_two_scopes_and_no_floor():
    with pytest.raises(ValueError, match="scope 'class-blinded' or"):
        MagnitudePruner(scope="class-distributed", pattern="2:4").compute_masks(net())
    with pytest.raises(ValueError, match="min_density=0"):
        MagnitudePruner(min_density=0.1, pattern=(4, 4)).compute_masks(net())
    assert check_pattern(None) is None and check_pattern([2, 2]) == ("block", 2, 2)
