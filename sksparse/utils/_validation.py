"""Small validators the lower floors share (numpy only, no scikit-learn).

They mirror scikit-learn's parameter checks without importing it.
:func:`check_generator` returns a :class:`numpy.random.Generator`; it is not
named ``check_generator``, which in scikit-learn returns a ``RandomState``.
"""

import numbers

import numpy as np

__all__ = [
    "check_density",
    "check_int",
    "check_generator",
    "draw_seed",
    "spawn_generators",
]


def check_generator(random_state, name="random_state"):
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    random_state : None, int, numpy.random.Generator, numpy.random.RandomState \
or numpy.random.SeedSequence
        ``None`` draws fresh entropy from the operating system; an int seeds a
        new generator, so equal ints give equal results; a ``Generator`` is
        returned as is (and advanced by whoever uses it); a ``RandomState`` is
        advanced once to seed a new generator.
    name : str, default="random_state"
        Name used in error messages.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> from sksparse.utils import check_generator
    >>> a = check_generator(0).integers(1000, size=3)
    >>> b = check_generator(0).integers(1000, size=3)
    >>> bool((a == b).all())
    True
    """
    if random_state is None or isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        if random_state < 0:
            raise ValueError(f"{name} must be a non-negative int, got {random_state}.")
        return np.random.default_rng(int(random_state))
    raise ValueError(
        f"{name} must be None, an int, a numpy.random.Generator or a "
        f"numpy.random.RandomState, got {random_state!r}."
    )


def draw_seed(rng):
    """Draw an int seed for a library that takes ``seed=`` (networkx)."""
    return int(rng.integers(2**32))


def spawn_generators(rng, n):
    """Return ``n`` independent child generators drawn deterministically from ``rng``.

    Works on every numpy version the project supports (``Generator.spawn``
    needs numpy 1.25).
    """
    return [np.random.default_rng(int(s)) for s in rng.integers(2**63, size=n)]


def check_density(density, name="density", *, allow_zero=False):
    """Check that ``density`` is a real number in (0, 1] (or [0, 1]).

    Parameters
    ----------
    density : float
        The fraction of possible connections (or edges) that exist.
    name : str, default="density"
        Name used in error messages.
    allow_zero : bool, default=False
        Whether 0 is a valid value.

    Returns
    -------
    float

    Examples
    --------
    >>> from sksparse.utils import check_density
    >>> check_density(0.25)
    0.25
    """
    low = "[0" if allow_zero else "(0"
    if (
        isinstance(density, bool)
        or not isinstance(density, numbers.Real)
        or not np.isfinite(density)
        or density > 1
        or density < 0
        or (density == 0 and not allow_zero)
    ):
        raise ValueError(f"{name} must be a float in {low}, 1], got {density!r}.")
    return float(density)


def check_int(value, name, *, low=None, high=None):
    """Check that ``value`` is an int with ``low <= value <= high``.

    Parameters
    ----------
    value : int
        The value to check; a bool is not an int here.
    name : str
        Name used in error messages.
    low, high : int or None, default=None
        Inclusive bounds; ``None`` means unbounded.

    Returns
    -------
    int
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}.")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        low = "-inf" if low is None else low
        high = "inf" if high is None else high
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value}.")
    return value
