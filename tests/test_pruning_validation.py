"""Pruners, schedules and the Pruning callback check parameters the scikit-learn way."""

import math

import pytest
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from sksparse.pruning import (
    Gradual,
    Iterative,
    MagnitudePruner,
    OneShot,
    Pruning,
    RandomPruner,
)


def _net():
    return nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))


@pytest.mark.parametrize("pruner_class", [MagnitudePruner, RandomPruner])
@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"amount": 1.5}, "amount"),
        ({"amount": -1}, "amount"),
        ({"amount": "half"}, "amount"),
        ({"amount": math.nan}, "amount"),
        ({"scope": "per-layer"}, "scope"),
        ({"classes": 3}, "classes"),
        ({"exclude": 5}, "exclude"),
        ({"prune_output_layer": "yes"}, "prune_output_layer"),
        ({"min_density": 2.0}, "min_density"),
    ],
)
def test_a_bad_pruner_parameter_is_named(pruner_class, params, name):
    pruner = pruner_class(**params)
    with pytest.raises(InvalidParameterError, match=rf"'{name}' parameter"):
        pruner.compute_masks(_net())


def test_the_random_pruner_takes_only_the_scopes_it_implements():
    with pytest.raises(InvalidParameterError, match="'scope' parameter"):
        RandomPruner(scope="class-distributed").compute_masks(_net())
    with pytest.raises(InvalidParameterError, match="'random_state' parameter"):
        RandomPruner(random_state="seed").compute_masks(_net())


def test_a_count_beyond_the_weights_is_named_with_the_count():
    with pytest.raises(ValueError, match=r"amount=1000 .* \[0, 32\]"):
        MagnitudePruner(1000).compute_masks(_net())


@pytest.mark.parametrize(
    ("schedule", "name"),
    [
        (OneShot(start=-1), "start"),
        (Iterative(n_steps=0), "n_steps"),
        (Iterative(n_steps=2.5), "n_steps"),
        (Iterative(frequency=0), "frequency"),
        (Gradual(initial_sparsity=1.5), "initial_sparsity"),
        (Gradual(start="0"), "start"),
    ],
)
def test_a_bad_schedule_parameter_is_named(schedule, name):
    with pytest.raises(InvalidParameterError, match=rf"'{name}' parameter"):
        schedule.targets(0.5)


def test_the_pruning_callback_names_a_pruner_without_compute_masks():
    with pytest.raises(InvalidParameterError, match="'pruner' parameter of Pruning"):
        Pruning(pruner="magnitude").initialize()
    with pytest.raises(InvalidParameterError, match="'module' parameter"):
        Pruning(MagnitudePruner(0.5), module=3).initialize()
