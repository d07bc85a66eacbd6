"""Tests for sksparse.graphs._priors (make_prior) and its validators."""

import doctest
import random
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from sksparse.graphs import PRIORS, _mapping, _priors, make_prior
from sksparse.utils import _validation, check_generator

KINDS = sorted(PRIORS)
RANDOM_KINDS = [kind for kind in KINDS if kind != "complete"]


@pytest.mark.parametrize("kind", KINDS)
def test_make_prior_has_n_nodes_labelled_0_to_n_minus_1(kind):
    graph = make_prior(kind, 40, density=0.2, random_state=0)
    assert isinstance(graph, nx.Graph) and not graph.is_directed()
    assert sorted(graph.nodes) == list(range(40))


@pytest.mark.parametrize("kind", KINDS)
def test_make_prior_same_random_state_gives_identical_graph(kind):
    a = make_prior(kind, 50, density=0.1, random_state=3)
    b = make_prior(kind, 50, density=0.1, random_state=3)
    assert sorted(a.edges) == sorted(b.edges)


def test_make_prior_different_random_states_give_different_graphs():
    a = make_prior("erdos_renyi", 50, random_state=0)
    b = make_prior("erdos_renyi", 50, random_state=1)
    assert sorted(a.edges) != sorted(b.edges)


def test_make_prior_accepts_a_generator_and_advances_it():
    rng = np.random.default_rng(0)
    a = make_prior("erdos_renyi", 50, random_state=rng)
    b = make_prior("erdos_renyi", 50, random_state=rng)
    assert sorted(a.edges) != sorted(b.edges)


def test_make_prior_leaves_global_random_state_alone():
    # The legacy global state is exactly what must stay untouched.
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    make_prior("watts_strogatz", 30, random_state=0)
    make_prior("barabasi_albert", 30, random_state=0)
    assert random.getstate() == py_state
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002


def test_erdos_renyi_density_is_close_to_the_asked_density():
    densities = [
        nx.density(make_prior("erdos_renyi", 200, density=0.1, random_state=s))
        for s in range(3)
    ]
    assert np.mean(densities) == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("kind", RANDOM_KINDS)
@pytest.mark.parametrize("density", [0.05, 0.2])
def test_derived_parameters_give_about_the_asked_density(kind, density):
    graph = make_prior(kind, 200, density=density, random_state=0)
    assert nx.density(graph) == pytest.approx(density, rel=0.2)


def test_default_density_is_one_tenth():
    graph = make_prior("watts_strogatz", 101, random_state=0)
    assert nx.density(graph) == pytest.approx(0.1)


def test_watts_strogatz_degree_is_the_nearest_even_number():
    # density * (n - 1) = 3 -> k = 4 (nearest even, ties to even k / 2).
    graph = make_prior("watts_strogatz", 21, density=0.15, p=0.0, random_state=0)
    assert {d for _, d in graph.degree} == {4}
    # Never below 2, so a sparse ring stays connected.
    graph = make_prior("watts_strogatz", 50, density=0.001, p=0.0, random_state=0)
    assert {d for _, d in graph.degree} == {2}


def test_random_regular_degree_is_made_even_with_an_odd_node_count():
    # n = 11, density 0.3 -> d = 3 but 11 * 3 is odd -> d = 4.
    graph = make_prior("random_regular", 11, density=0.3, random_state=0)
    assert {d for _, d in graph.degree} == {4}


def test_dense_random_regular_is_drawn_as_a_complement():
    graph = make_prior("random_regular", 40, density=0.9, random_state=0)
    assert {d for _, d in graph.degree} == {35}  # round(0.9 * 39)


@pytest.mark.parametrize("kind", ["barabasi_albert", "powerlaw_cluster"])
def test_dense_preferential_attachment_does_not_degenerate_into_a_star(kind):
    graph = make_prior(kind, 60, density=1.0, random_state=0)
    assert nx.density(graph) > 0.45


def test_complete_prior_ignores_density():
    assert nx.density(make_prior("complete", 12, density=0.1)) == 1.0


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "barabasi_albert"])
@pytest.mark.parametrize("n_nodes", [1, 2, 3])
def test_tiny_graphs_are_valid(kind, n_nodes):
    assert make_prior(kind, n_nodes, random_state=0).number_of_nodes() == n_nodes


def test_explicit_parameters_override_density():
    graph = make_prior("watts_strogatz", 30, k=6, p=0.0, density=0.9)
    assert graph.number_of_edges() == 90
    assert make_prior("erdos_renyi", 30, p=0.0).number_of_edges() == 0


def test_user_graph_is_returned_as_a_relabelled_copy():
    original = nx.path_graph(["a", "b", "c", "d"])
    graph = make_prior(original, 4)
    assert sorted(graph.nodes) == [0, 1, 2, 3]
    assert sorted(graph.edges) == [(0, 1), (1, 2), (2, 3)]
    graph.add_edge(0, 3)
    assert original.number_of_edges() == 3


def test_user_graph_with_wrong_node_count_raises():
    with pytest.raises(ValueError, match="n_nodes"):
        make_prior(nx.path_graph(5), 6)


def test_user_graph_rejects_parameters():
    with pytest.raises(ValueError, match="density"):
        make_prior(nx.path_graph(5), 5, density=0.5)


def test_user_callable_receives_a_numpy_generator():
    seen = []

    def ring_with_chord(n_nodes, rng, chords=1):
        seen.append(rng)
        graph = nx.cycle_graph(n_nodes)
        for _ in range(chords):
            u, v = rng.choice(n_nodes, size=2, replace=False)
            graph.add_edge(int(u), int(v))
        return graph

    a = make_prior(ring_with_chord, 20, random_state=0, chords=3)
    b = make_prior(ring_with_chord, 20, random_state=0, chords=3)
    assert isinstance(seen[0], np.random.Generator)
    assert sorted(a.edges) == sorted(b.edges)


def test_user_callable_with_seed_parameter_gets_an_int_seed():
    a = make_prior(nx.gnm_random_graph, 20, m=15, random_state=4)
    b = make_prior(nx.gnm_random_graph, 20, m=15, random_state=4)
    assert a.number_of_edges() == 15
    assert sorted(a.edges) == sorted(b.edges)


def test_user_callable_returning_the_wrong_size_raises():
    with pytest.raises(ValueError, match="n_nodes"):
        make_prior(lambda n, rng: nx.path_graph(n + 1), 5)


def test_unknown_kind_lists_the_known_kinds():
    with pytest.raises(ValueError, match="prior") as info:
        make_prior("small_world", 10)
    assert all(kind in str(info.value) for kind in KINDS)


@pytest.mark.parametrize(
    "kind, n_nodes, params, name",
    [
        ("erdos_renyi", 10, {"p": 1.5}, "p"),
        ("erdos_renyi", 10, {"k": 2}, "k"),
        ("erdos_renyi", 10, {"density": 2.0}, "density"),
        ("watts_strogatz", 10, {"k": 11}, "k"),
        ("watts_strogatz", 10, {"p": -0.1}, "p"),
        ("barabasi_albert", 10, {"m": 0}, "m"),
        ("barabasi_albert", 10, {"m": 10}, "m"),
        ("random_regular", 11, {"d": 3}, "d"),
        ("powerlaw_cluster", 10, {"m": 2.5}, "m"),
        ("erdos_renyi", 0, {}, "n_nodes"),
        ("barabasi_albert", 1, {}, "n_nodes"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(kind, n_nodes, params, name):
    with pytest.raises(ValueError, match=name):
        make_prior(kind, n_nodes, **params)


def test_bad_random_state_raises_naming_it():
    with pytest.raises(ValueError, match="random_state"):
        make_prior("erdos_renyi", 10, random_state="seed")


def test_check_generator_accepts_the_usual_seeds():
    assert isinstance(check_generator(None), np.random.Generator)
    legacy = check_generator(np.random.RandomState(0)).integers(100, size=5)
    again = check_generator(np.random.RandomState(0)).integers(100, size=5)
    assert np.array_equal(legacy, again)
    with pytest.raises(ValueError, match="random_state"):
        check_generator(-1)


@pytest.mark.parametrize("module", [_priors, _mapping, _validation])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_import_sksparse_graphs_pulls_in_no_sklearn_skorch_or_torch():
    code = (
        "import sys, sksparse.graphs; "
        "bad = [m for m in ('sklearn', 'skorch', 'torch') if m in sys.modules]; "
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
