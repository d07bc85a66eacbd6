"""MagnitudePruner(scope="sensitivity"): per-layer amounts from a sensitivity curve."""

import numpy as np
import pytest
import torch
from torch import nn

from sksparse import PrunedEstimator, SparseMLPClassifier
from sksparse.datasets import load_digits
from sksparse.pruning import MagnitudePruner, sensitivity_curve
from sksparse.pruning._allocation import sensitivity_allocation

AMOUNTS = [0.0, 0.5, 0.8, 0.9]
# Layer 0 keeps its score far longer than layer 2.
CURVE = (
    ["0.weight", "2.weight"],
    [[0.9, 0.9, 0.88, 0.8], [0.9, 0.7, 0.4, 0.2]],
    AMOUNTS,
)


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(50, 40), nn.ReLU(), nn.Linear(40, 10))


def _drop(name, amount):
    scores = CURVE[1][CURVE[0].index(name)]
    return scores[0] - np.interp(amount, AMOUNTS, scores)


@pytest.mark.parametrize("target", [0.3, 0.6, 0.7, 0.8])
def test_target_met_at_the_least_summed_drop(target):
    pruner = MagnitudePruner(target, scope="sensitivity", sensitivity=CURVE)
    masks = pruner.compute_masks(net())
    assert pruner.sparsity_ == pytest.approx(target, abs=1e-3)
    amounts = pruner.sensitivity_amounts_
    for name, mask in masks.items():
        assert (mask == 0).float().mean().item() == pytest.approx(amounts[name])
    for name, drop in pruner.sensitivity_drops_.items():
        assert drop == pytest.approx(_drop(name, amounts[name]), abs=1e-6)
    # No other split of the target between the layers (2000 and 400 weights)
    # has a smaller sum of the drops their curves give.
    ours = sum(pruner.sensitivity_drops_.values())
    best = min(
        _drop("0.weight", a0) + _drop("2.weight", (target * 2400 - a0 * 2000) / 400)
        for a0 in np.linspace(0, 0.9, 901)
        if 0 <= target * 2400 - a0 * 2000 <= 0.9 * 400
    )
    assert ours <= best + 1e-3
    # The insensitive layer takes the pruning.
    assert amounts["0.weight"] >= min(target * 2400 / 2000, 0.8) - 1e-3


def test_within_a_layer_the_smallest_weights_go():
    module = net()
    pruner = MagnitudePruner(0.6, scope="sensitivity", sensitivity=CURVE)
    masks = pruner.compute_masks(module)
    for name, mask in masks.items():
        weight = dict(module.named_parameters())[name].detach().abs()
        kept, pruned = weight[mask == 1], weight[mask == 0]
        if pruned.numel() and kept.numel():
            assert pruned.max() <= kept.min()


def test_with_equal_curves_the_larger_layer_goes_first():
    # The same fraction of a larger layer frees more weights for the same drop.
    flat = (["0.weight", "2.weight"], [[0.9, 0.8, 0.6], [0.9, 0.8, 0.6]], [0, 0.5, 0.9])
    pruner = MagnitudePruner(0.4, scope="sensitivity", sensitivity=flat)
    pruner.compute_masks(net())
    amounts = pruner.sensitivity_amounts_
    assert amounts["0.weight"] == pytest.approx(0.48) and amounts["2.weight"] == 0


def test_pruned_weights_stay_pruned_and_count():
    module = net()
    with torch.no_grad():
        module[2].weight[:, :30] = 0  # 75 % of the sensitive layer already gone
    pruner = MagnitudePruner(0.5, scope="sensitivity", sensitivity=CURVE)
    masks = pruner.compute_masks(module)
    assert (masks["2.weight"][:, :30] == 0).all()
    assert pruner.sensitivity_amounts_["2.weight"] >= 0.75
    assert pruner.sparsity_ == 0.5


def test_min_density_caps_a_layer_and_warns_when_the_target_is_out_of_reach():
    pruner = MagnitudePruner(
        0.7, scope="sensitivity", sensitivity=CURVE, min_density=0.2
    )
    pruner.compute_masks(net())
    assert pruner.sensitivity_amounts_["0.weight"] == pytest.approx(0.8)
    assert pruner.sparsity_ == pytest.approx(0.7)
    pruner.set_params(min_density=0.5)
    with pytest.warns(UserWarning, match="target sparsity is not reached"):
        pruner.compute_masks(net())
    assert pruner.sparsity_ == pytest.approx(0.5)


def test_allocation_counts_add_up():
    counts, _ = sensitivity_allocation(CURVE, ["0.weight", "2.weight"], [999, 7], 333)
    assert sum(counts) == 333 and counts[1] <= 7


@pytest.mark.parametrize(
    "params, error, words",
    [
        (dict(scope="sensitivity"), ValueError, "needs sensitivity"),
        (dict(sensitivity=CURVE), ValueError, "scope='sensitivity' only"),
        (
            dict(scope="sensitivity", sensitivity=(["0.weight"], [[1.0]], [0.0])),
            ValueError,
            "no curve for ['2.weight']",
        ),
        (
            dict(scope="sensitivity", sensitivity=(CURVE[0], [[1.0]], AMOUNTS)),
            ValueError,
            "shape",
        ),
        (
            dict(scope="sensitivity", sensitivity=(*CURVE[:2], [0.0, 0.9, 0.5, 0.6])),
            ValueError,
            "increase",
        ),
        (dict(scope="sensitivity", sensitivity="curve"), ValueError, "sensitivity"),
    ],
)
def test_bad_sensitivity_is_refused(params, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        MagnitudePruner(0.5, **params).compute_masks(net())


def test_from_a_measured_curve_to_a_pruned_estimator():
    X, y, X_test, y_test = load_digits()
    X, y = X[:500], y[:500]
    clf = SparseMLPClassifier((32,), max_epochs=8, lr=0.01, random_state=0)
    amounts = [0.0, 0.5, 0.8, 0.9, 0.95]
    layers, scores = sensitivity_curve(clf, X, y, amounts)
    assert scores.shape == (2, len(amounts))
    pruner = MagnitudePruner(
        0.85, scope="sensitivity", sensitivity=(layers, scores, amounts)
    )
    pruned = PrunedEstimator(clf, pruner, retrain_epochs=0).fit(X, y)
    assert pruned.sparsity_ == pytest.approx(0.85, abs=1e-3)
    allocated = pruned.pruner_.sensitivity_amounts_
    assert set(allocated) == set(layers)
