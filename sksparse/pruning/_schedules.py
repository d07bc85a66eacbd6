"""Pruning schedules: which target sparsity to prune to, and when.

A schedule maps a final sparsity to a sequence of pruning *events*, each with
a cumulative target. :class:`~sksparse.PrunedEstimator` prunes at each event
and then re-trains; the :class:`~sksparse.pruning.Pruning` callback prunes at
the start of the epochs the schedule names (``start``, ``frequency``).
"""

import numbers

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

__all__ = [
    "BaseSchedule",
    "Gradual",
    "Iterative",
    "OneShot",
    "check_schedule",
    "cubic_sparsity",
]


def _scaled(final, fraction):
    """``final * fraction`` in ``final``'s kind: a count stays an int."""
    if isinstance(final, numbers.Integral) and not isinstance(final, bool):
        return round(final * fraction)
    return final * fraction


def cubic_sparsity(step, final_sparsity, *, initial_sparsity=0.0, n_steps=10):
    """Zhu & Gupta's (2017) gradual pruning target after ``step`` of ``n_steps``.

    ``s_t = s_f + (s_i - s_f) (1 - t / n)^3`` for ``0 <= t <= n``: pruning is
    fast at first, while redundant weights abound, and slows down towards
    the final sparsity. Steps outside ``[0, n]`` are clipped.

    Parameters
    ----------
    step : int
        Pruning step ``t`` (``(epoch - t0) / Δt`` in the paper's notation).
    final_sparsity : float
        ``s_f``.
    initial_sparsity : float, default=0.0
        ``s_i``.
    n_steps : int, default=10
        ``n``, the number of steps from ``s_i`` to ``s_f``.

    References
    ----------
    M. Zhu and S. Gupta, "To prune, or not to prune: exploring the efficacy of
    pruning for model compression", arXiv:1710.01878, 2017.

    Examples
    --------
    >>> [round(cubic_sparsity(t, 0.9, n_steps=4), 4) for t in range(5)]
    [0.0, 0.5203, 0.7875, 0.8859, 0.9]
    """
    progress = min(max(step / n_steps, 0.0), 1.0) if n_steps else 1.0
    return final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - progress) ** 3


class BaseSchedule(BaseEstimator):
    """Base of the schedules (scikit-learn parameters, so grids reach them).

    Subclasses implement ``targets(final_sparsity)``; the events happen at
    epochs ``start + i * frequency``.
    """

    _parameter_constraints = {
        "start": [Interval(numbers.Integral, 0, None, closed="left")]
    }

    def _validate(self):
        self._validate_params()

    def targets(self, final_sparsity):
        """Cumulative target of every pruning event, in order."""
        raise NotImplementedError

    def epochs(self, final_sparsity=1.0):
        """Epochs (0-based) at whose start the callback prunes."""
        self._validate()
        frequency = getattr(self, "frequency", 1)
        n = len(self.targets(final_sparsity))
        return [self.start + i * frequency for i in range(n)]

    def sparsity_at(self, epoch, final_sparsity):
        """Target to prune to at the start of ``epoch``, or None (no event)."""
        targets = self.targets(final_sparsity)
        for event, target in zip(self.epochs(final_sparsity), targets):
            if event == epoch:
                return target
        return None


class OneShot(BaseSchedule):
    """Prune once, straight to the final sparsity.

    Parameters
    ----------
    start : int, default=0
        Epoch at whose start the :class:`Pruning` callback prunes.

    Examples
    --------
    >>> OneShot().targets(0.9)
    [0.9]
    """

    def __init__(self, start=0):
        self.start = start

    def targets(self, final_sparsity):
        self._validate()
        return [final_sparsity]


class Iterative(BaseSchedule):
    """Prune in ``n_steps`` equal steps of cumulative sparsity, re-training between.

    The targets are ``s_f / k, 2 s_f / k, ..., s_f`` (Han et al. 2015's
    iterative pruning).

    Parameters
    ----------
    n_steps : int, default=3
        Number of pruning events ``k``.
    start : int, default=0
        First epoch at which the :class:`Pruning` callback prunes.
    frequency : int, default=1
        Epochs between events in the callback. :class:`PrunedEstimator`
        instead re-trains ``retrain_epochs`` after every event.

    Examples
    --------
    >>> [round(t, 2) for t in Iterative(n_steps=3).targets(0.9)]
    [0.3, 0.6, 0.9]
    """

    _parameter_constraints = {
        **BaseSchedule._parameter_constraints,
        "n_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "frequency": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, n_steps=3, *, start=0, frequency=1):
        self.n_steps = n_steps
        self.start = start
        self.frequency = frequency

    def targets(self, final_sparsity):
        self._validate()
        return [
            _scaled(final_sparsity, (i + 1) / self.n_steps) for i in range(self.n_steps)
        ]


class Gradual(BaseSchedule):
    """Zhu & Gupta's (2017) cubic schedule: prune fast at first, then slower.

    At events ``t = t0 + j Δt`` for ``j = 0..n`` the target is
    ``s_f + (s_i - s_f) (1 - (t - t0) / (n Δt))^3``.

    Parameters
    ----------
    n_steps : int, default=10
        ``n``: there are ``n + 1`` events, the last at the final sparsity.
    start : int, default=0
        ``t0``, the first epoch at which the :class:`Pruning` callback prunes.
    frequency : int, default=1
        ``Δt``, epochs between events in the callback. :class:`PrunedEstimator`
        instead re-trains ``retrain_epochs`` after every event.
    initial_sparsity : float, default=0.0
        ``s_i`` (with a float final sparsity only).

    References
    ----------
    M. Zhu and S. Gupta, "To prune, or not to prune: exploring the efficacy of
    pruning for model compression", arXiv:1710.01878, 2017.

    Examples
    --------
    >>> [round(t, 3) for t in Gradual(n_steps=2).targets(0.8)]
    [0.0, 0.7, 0.8]
    """

    _parameter_constraints = {
        **Iterative._parameter_constraints,
        "initial_sparsity": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(self, n_steps=10, *, start=0, frequency=1, initial_sparsity=0.0):
        self.n_steps = n_steps
        self.start = start
        self.frequency = frequency
        self.initial_sparsity = initial_sparsity

    def targets(self, final_sparsity):
        self._validate()
        s_i = self.initial_sparsity
        steps = range(self.n_steps + 1)
        if isinstance(final_sparsity, numbers.Integral):
            if s_i != 0:
                raise ValueError(
                    "initial_sparsity must be 0 when amount is an int (a count); "
                    "give amount as a fraction to start from a sparsity."
                )
            return [
                round(
                    final_sparsity
                    * (
                        1.0
                        - cubic_sparsity(
                            j, 0.0, initial_sparsity=1.0, n_steps=self.n_steps
                        )
                    )
                )
                for j in steps
            ]
        return [
            cubic_sparsity(
                j, final_sparsity, initial_sparsity=s_i, n_steps=self.n_steps
            )
            for j in steps
        ]


_NAMED = {"one-shot": OneShot, "iterative": Iterative, "gradual": Gradual}


def check_schedule(schedule, name="schedule"):
    """Turn None, a name or a schedule into a schedule object.

    ``None`` and ``"one-shot"`` give :class:`OneShot`; ``"iterative"`` and
    ``"gradual"`` the schedule with its default parameters.
    """
    if schedule is None:
        return OneShot()
    if isinstance(schedule, str):
        if schedule not in _NAMED:
            raise ValueError(
                f"{name} must be one of {sorted(_NAMED)}, a schedule object or None, "
                f"got {schedule!r}."
            )
        return _NAMED[schedule]()
    if not callable(getattr(schedule, "targets", None)):
        raise TypeError(
            f"{name} must be a name, None or an object with targets(final_sparsity) "
            f"(OneShot, Iterative, Gradual), got {type(schedule).__name__}."
        )
    return schedule
