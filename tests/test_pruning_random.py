"""RandomPruner: exact counts, seeded, cumulative, the same plumbing as magnitude."""

import pytest
import torch
from torch import nn

from sksparse.pruning import MagnitudePruner, RandomPruner, random_masks


def make_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 10))


def _n_pruned(masks):
    return sum(int((m == 0).sum()) for m in masks.values())


@pytest.mark.parametrize("amount, expected", [(0.5, 400), (0.9, 720), (123, 123)])
def test_random_pruner_prunes_exactly_the_target(amount, expected):
    masks = RandomPruner(amount, random_state=0).compute_masks(make_net())
    assert _n_pruned(masks) == expected


def test_class_uniform_prunes_the_same_fraction_per_class():
    masks = RandomPruner(0.6, scope="class-uniform", random_state=0).compute_masks(
        make_net()
    )
    assert [int((m == 0).sum()) for m in masks.values()] == [360, 120]


def test_seeded_random_pruner_is_reproducible_and_nested():
    net = make_net()
    a = RandomPruner(0.8, random_state=0).compute_masks(net)
    b = RandomPruner(0.8, random_state=0).compute_masks(net)
    c = RandomPruner(0.8, random_state=1).compute_masks(net)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)
    # Same seed: pruning to 0.5 then 0.8 removes what pruning to 0.8 removes.
    RandomPruner(0.5, random_state=0).prune(net)
    stepwise = RandomPruner(0.8, random_state=0).prune(net)
    assert all(torch.equal(a[n], stepwise[n]) for n in a)


def test_random_pruning_is_not_magnitude_pruning():
    net = make_net()
    random = RandomPruner(0.5, random_state=0).compute_masks(net)
    magnitude = MagnitudePruner(0.5).compute_masks(net)
    weight = net[0].weight.detach().abs()
    kept_random = weight[random["0.weight"] == 1].mean()
    kept_magnitude = weight[magnitude["0.weight"] == 1].mean()
    assert kept_magnitude > kept_random * 1.2


def test_random_pruner_never_revives_and_keeps_weights_zero():
    net = make_net()
    first = RandomPruner(0.5, random_state=3).prune(net)
    second = RandomPruner(0.7, random_state=4).prune(net)  # a different ranking
    for name, mask in second.items():
        assert not ((first[name] == 0) & (mask == 1)).any()
    assert _n_pruned(second) == 560


def test_random_masks_function_draws_from_the_generator():
    g = torch.Generator().manual_seed(0)
    masks = random_masks([torch.ones(4, 5), torch.ones(10)], 0.5, generator=g)
    assert [m.shape for m in masks] == [torch.Size([4, 5]), torch.Size([10])]
    assert sum(int((~m).sum()) for m in masks) == 15


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(scope="class-distributed"), ValueError, "scope"),
        (dict(amount=2.0), ValueError, "amount"),
        (dict(amount=10**6), ValueError, "amount"),
        (dict(amount=None), TypeError, "amount"),
    ],
)
def test_random_pruner_rejects_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        RandomPruner(**kwargs).compute_masks(make_net())
