"""The evolutionary operators and the parameter space: pure, seeded, valid."""

import numpy as np
import pytest
from scipy.stats import loguniform, randint, uniform

from sksparse.search import (
    LayerSizes,
    ParamSpace,
    PriorChoice,
    crossover_layers,
    elite_indices,
    mutate_categorical,
    mutate_distribution,
    mutate_layers,
    tournament_select,
    uniform_crossover,
)


@pytest.fixture
def space():
    return ParamSpace(
        {
            "hidden_layer_sizes": LayerSizes(1, 3, 4, 64),
            "lr": loguniform(1e-4, 1e-1),
            "sparsity": uniform(0.1, 0.8),
            "batch_size": randint(16, 129),
            "activation": ["relu", "tanh"],
            "prior": PriorChoice(
                {
                    "watts_strogatz": {"k": randint(2, 8), "p": uniform(0, 1)},
                    "barabasi_albert": {"m": [1, 2, 3]},
                    None: {},
                }
            ),
        }
    )


def test_tournament_select_prefers_fitter_and_is_seeded():
    fitness = [0.1, 0.9, 0.5, np.nan]
    a = tournament_select(fitness, 200, 2, np.random.default_rng(0))
    b = tournament_select(fitness, 200, 2, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    counts = np.bincount(a, minlength=4)
    assert counts[1] > counts[2] > counts[0]
    # NaN (a failed individual) wins only a tournament of itself alone.
    assert counts[3] == 0
    # A tournament as big as the population always returns the best.
    assert set(tournament_select(fitness, 20, 4, np.random.default_rng(1))) == {1}


def test_tournament_select_rejects_empty_population():
    with pytest.raises(ValueError, match="at least one"):
        tournament_select([], 1, 2, np.random.default_rng(0))


def test_elite_indices_ranks_nan_last_and_is_stable():
    np.testing.assert_array_equal(elite_indices([0.5, np.nan, 0.9, 0.5], 3), [2, 0, 3])
    assert elite_indices([0.1, 0.2], 0).size == 0


def test_uniform_crossover_swaps_genes_without_touching_parents():
    a, b = {"x": 1, "y": 2, "z": 3}, {"x": 10, "y": 20, "z": 30}
    ca, cb = uniform_crossover(a, b, np.random.default_rng(3))
    assert a == {"x": 1, "y": 2, "z": 3}
    for key in a:  # each gene comes from one parent, the other child the other
        assert {ca[key], cb[key]} == {a[key], b[key]}
    all_swapped = uniform_crossover(a, b, np.random.default_rng(0), swap_probability=1)
    assert all_swapped == (b, a)
    with pytest.raises(ValueError, match="same genes"):
        uniform_crossover({"x": 1}, {"y": 1}, np.random.default_rng(0))


def test_mutate_categorical_changes_value_within_choices():
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert mutate_categorical("relu", ["relu", "tanh", "gelu"], rng) in {
            "tanh",
            "gelu",
        }
    assert mutate_categorical("relu", ["relu"], rng) == "relu"


@pytest.mark.parametrize(
    "dist", [uniform(0.1, 0.8), loguniform(1e-4, 1e-1), randint(2, 8)]
)
def test_mutate_distribution_stays_in_support(dist):
    rng = np.random.default_rng(0)
    low, high = dist.support()
    value = dist.rvs(random_state=rng)
    changed = 0
    for _ in range(300):
        new = mutate_distribution(value, dist, rng, scale=0.5)
        assert low <= new <= high
        changed += new != value
        value = new
    assert changed > 250
    if dist.dist.name == "randint":
        assert isinstance(value, int)


def test_mutate_layers_respects_bounds():
    rng = np.random.default_rng(0)
    sizes = (16,)
    depths = set()
    for _ in range(300):
        sizes = mutate_layers(
            sizes, rng, min_layers=1, max_layers=3, min_units=4, max_units=64
        )
        assert 1 <= len(sizes) <= 3
        assert all(4 <= s <= 64 and isinstance(s, int) for s in sizes)
        depths.add(len(sizes))
    assert depths == {1, 2, 3}


def test_crossover_layers_keeps_depth_bounds():
    rng = np.random.default_rng(0)
    for _ in range(100):
        a, b = crossover_layers((8, 16, 32), (64,), rng, min_layers=1, max_layers=3)
        assert 1 <= len(a) <= 3 and 1 <= len(b) <= 3
        assert sorted(a + b) == sorted((8, 16, 32, 64))


def test_space_operators_always_produce_valid_genomes(space):
    rng = np.random.default_rng(0)
    population = [space.sample(rng) for _ in range(10)]
    assert all(space.contains(g) for g in population)
    for _ in range(200):
        i, j = rng.integers(len(population), size=2)
        a, b = space.crossover(population[i], population[j], rng)
        a = space.mutate(a, rng, rate=0.5)
        b = space.mutate(b, rng, rate=1.0)
        assert space.contains(a) and space.contains(b)
        population[i], population[j] = a, b


def test_space_is_reproducible_from_the_generator_state(space):
    rng = np.random.default_rng(42)
    space.sample(rng)
    saved = rng.bit_generator.state
    first = [space.mutate(space.sample(rng), rng, rate=0.5) for _ in range(5)]
    rng = np.random.default_rng()
    rng.bit_generator.state = saved
    second = [space.mutate(space.sample(rng), rng, rate=0.5) for _ in range(5)]
    assert [space.key(g) for g in first] == [space.key(g) for g in second]


def test_forced_mutation_changes_the_genome(space):
    rng = np.random.default_rng(0)
    genome = space.sample(rng)
    for _ in range(50):
        child = space.mutate(genome, rng, rate=0.0, force=True)
        assert space.key(child) != space.key(genome)
    assert space.mutate(genome, rng, rate=0.0) == genome


def test_to_params_expands_prior_choice(space):
    genome = space.sample(np.random.default_rng(0))
    genome["prior"] = ("watts_strogatz", {"k": 4, "p": 0.2})
    params = space.to_params(genome)
    assert params["prior"] == "watts_strogatz"
    assert params["prior_params"] == {"k": 4, "p": 0.2}
    genome["prior"] = (None, {})
    assert space.to_params(genome)["prior_params"] is None


def test_encode_matches_feature_names(space):
    genome = space.sample(np.random.default_rng(0))
    assert len(space.encode(genome)) == len(space.feature_names())
    assert np.isfinite(space.encode(genome)).all()


@pytest.mark.parametrize(
    "param_space, match",
    [
        ({}, "non-empty"),
        ({"lr": 0.1}, "list of choices"),
        ({1: [1, 2]}, "names"),
        ({"a": []}, "at least one"),
    ],
)
def test_invalid_spaces_are_rejected(param_space, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ParamSpace(param_space)


def test_invalid_layer_sizes_are_rejected():
    with pytest.raises(ValueError, match="min_layers"):
        LayerSizes(min_layers=3, max_layers=2)
    with pytest.raises(TypeError, match="int"):
        LayerSizes(min_units=2.5)
