"""Schedules: one-shot, iterative equal steps, Zhu & Gupta's cubic gradual."""

import pytest
from sklearn.base import clone

from sksparse.pruning import Gradual, Iterative, OneShot, cubic_sparsity
from sksparse.pruning._schedules import check_schedule


def test_cubic_sparsity_is_zhu_and_gupta_formula():
    s_i, s_f, t0, n, dt = 0.1, 0.9, 2, 5, 3
    for t in range(t0, t0 + n * dt + 1, dt):
        expected = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3
        got = cubic_sparsity((t - t0) / dt, s_f, initial_sparsity=s_i, n_steps=n)
        assert got == pytest.approx(expected)
    assert cubic_sparsity(-3, s_f, n_steps=n) == 0.0
    assert cubic_sparsity(99, s_f, n_steps=n) == s_f


def test_one_shot_prunes_once_to_the_final_sparsity():
    assert OneShot().targets(0.9) == [0.9]
    assert OneShot(start=4).epochs(0.9) == [4]
    assert OneShot(start=4).sparsity_at(4, 0.9) == 0.9
    assert OneShot(start=4).sparsity_at(3, 0.9) is None


def test_iterative_takes_equal_cumulative_steps():
    schedule = Iterative(n_steps=4, start=1, frequency=2)
    assert schedule.targets(0.8) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert schedule.epochs(0.8) == [1, 3, 5, 7]
    assert schedule.sparsity_at(5, 0.8) == pytest.approx(0.6)
    assert schedule.sparsity_at(6, 0.8) is None
    assert Iterative(n_steps=3).targets(100) == [33, 67, 100]  # counts stay ints


def test_gradual_is_increasing_and_ends_at_the_final_sparsity():
    schedule = Gradual(n_steps=6, start=2, frequency=1, initial_sparsity=0.2)
    targets = schedule.targets(0.95)
    assert len(targets) == 7
    assert targets[0] == pytest.approx(0.2) and targets[-1] == pytest.approx(0.95)
    assert all(a < b for a, b in zip(targets, targets[1:]))
    # Steps shrink: pruning is fast first, slow at the end.
    steps = [b - a for a, b in zip(targets, targets[1:])]
    assert all(a > b for a, b in zip(steps, steps[1:]))
    assert schedule.epochs(0.95) == list(range(2, 9))
    assert Gradual(n_steps=2).targets(80) == [0, 70, 80]


def test_schedules_are_scikit_learn_estimators_and_names_resolve():
    assert clone(Iterative(n_steps=5)).get_params()["n_steps"] == 5
    assert isinstance(check_schedule(None), OneShot)
    assert isinstance(check_schedule("iterative"), Iterative)
    assert isinstance(check_schedule("gradual"), Gradual)


@pytest.mark.parametrize(
    "schedule, error, match",
    [
        (Iterative(n_steps=0), ValueError, "n_steps"),
        (Gradual(n_steps=2.5), TypeError, "n_steps"),
        (Iterative(frequency=0), ValueError, "frequency"),
        (OneShot(start=-1), ValueError, "start"),
        (Gradual(initial_sparsity=1.5), ValueError, "initial_sparsity"),
    ],
)
def test_bad_schedule_parameters_raise_errors_naming_them(schedule, error, match):
    with pytest.raises(error, match=match):
        schedule.targets(0.9)


def test_unknown_schedule_names_are_rejected():
    with pytest.raises(ValueError, match="schedule"):
        check_schedule("cosine")
    with pytest.raises(TypeError, match="schedule"):
        check_schedule(3)
