"""Drawing strings of the Reber grammars, grammatical or not, seeded."""

import numbers

import numpy as np

from sksparse.datasets._reber import (
    _EMBEDDING,
    _END,
    _INNER,
    _MIN_REBER_LENGTH,
    _TRANSITIONS,
    is_embedded_reber,
    is_reber,
)

__all__ = ["make_embedded_reber", "make_reber", "make_reber_classification"]


def _check_random_state(random_state):
    """Turn ``random_state`` into a ``numpy.random.Generator``.

    None gives fresh entropy, an int a seeded generator; a ``Generator`` is used
    as is and a legacy ``RandomState`` seeds a new one from its stream. Global
    state is never touched.
    """
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32, dtype=np.uint64))
    raise ValueError(
        "random_state must be None, an int, a numpy Generator or RandomState, "
        f"got {random_state!r} instead."
    )


def _check_int(value, name, *, low, allow_none=False):
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
    ):
        none = "None or " if allow_none else ""
        raise ValueError(
            f"{name} must be {none}an int >= {low}, got {value!r} instead."
        )
    return int(value)


def _check_lengths(min_length, max_length, *, shortest):
    """Validate the length bounds of a grammar whose shortest string is given."""
    min_length = _check_int(min_length, "min_length", low=0)
    max_length = _check_int(max_length, "max_length", low=0, allow_none=True)
    if max_length is not None:
        if max_length < shortest:
            raise ValueError(
                f"max_length must be >= {shortest}, the length of the shortest "
                f"string of the grammar, got {max_length}."
            )
        if max_length < min_length:
            raise ValueError(
                f"min_length must be <= max_length, got min_length={min_length} "
                f"and max_length={max_length}."
            )
    return max(min_length, shortest), max_length


def _completion_weights(min_length, max_length):
    """Probability, up to a factor per length, that a walk ends within bounds.

    ``w[k, s]`` is proportional to the probability that a walk in state ``s``
    that has emitted ``k`` symbols (the initial ``B`` included) ends with a
    total length in ``[min_length, max_length]``, each transition taken with
    probability 1/2. Past the last row the walk is surely long enough (no
    ``max_length``, weight 1) or surely too long (weight 0).
    """
    horizon = max_length if max_length is not None else min_length
    beyond = 0.0 if max_length is not None else 1.0
    w = np.zeros((horizon + 2, len(_TRANSITIONS)))
    w[horizon + 1] = beyond
    # Only ratios within a row are used, so each row is kept relative to its
    # largest entry and the factor in log_scale: the probability of reaching a
    # large min_length (about 0.6**min_length) would underflow otherwise.
    log_scale = 0.0
    for k in range(horizon, -1, -1):
        grown = np.zeros(len(_TRANSITIONS))
        for state in range(5):
            grown[state] = sum(
                0.5 * w[k + 1, nxt] for nxt in _TRANSITIONS[state].values()
            )
        # Emitting the E now ends the string at length k + 1.
        ends = min_length <= k + 1 and (max_length is None or k + 1 <= max_length)
        log_grown = log_scale + np.log(grown.max()) if grown.max() > 0 else -np.inf
        new_log_scale = max(log_grown, 0.0 if ends else -np.inf)
        if new_log_scale == -np.inf:  # no way to end within bounds from row k
            w[k] = 0.0
            continue
        w[k] = grown * np.exp(log_scale - new_log_scale)
        w[k, 5] = np.exp(-new_log_scale) if ends else 0.0
        log_scale = new_log_scale
    return w, horizon, beyond


def _sample_reber(rng, n_samples, min_length, max_length):
    """Draw Reber strings with lengths in ``[min_length, max_length]``.

    The walk takes each transition with probability 1/2, conditioned on ending
    within the bounds. This is the distribution rejection sampling gives, drawn
    without rejection, so that long ``min_length`` (where a walk reaches the
    bound with probability about 0.6**min_length) stays fast.
    """
    w, horizon, beyond = _completion_weights(min_length, max_length)
    strings = []
    for _ in range(n_samples):
        symbols, state = ["B"], 0
        while state is not _END:
            k = len(symbols)
            options = list(_TRANSITIONS[state].items())
            if state == 5:
                symbol, state = options[0]
            else:
                row = w[k + 1] if k + 1 <= horizon + 1 else np.full(6, beyond)
                (_, first), (_, second) = options
                p_first = row[first] / (row[first] + row[second])
                symbol, state = options[0 if rng.random() < p_first else 1]
            symbols.append(symbol)
        strings.append("".join(symbols))
    return strings


def make_reber(n_samples, *, min_length=5, max_length=None, random_state=None):
    """Generate strings of the Reber grammar.

    Parameters
    ----------
    n_samples : int
        Number of strings.
    min_length : int, default=5
        Shortest length allowed, ``B`` and ``E`` included (the shortest Reber
        strings, ``BTXSE`` and ``BPVVE``, have 5 symbols).
    max_length : int, default=None
        Longest length allowed; None for no bound.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the generator, for reproducible output.

    Returns
    -------
    strings : list of str
        ``n_samples`` strings, each starting with ``B`` and ending with ``E``.

    Notes
    -----
    From every state the two transitions are taken with probability 1/2. The
    strings are distributed as by rejection sampling of such walks to the length
    bounds, but drawn without rejection (each transition is weighted by the
    probability that the walk can still end within the bounds).

    The automaton, from state 0 after the initial ``B``: 0 -T-> 1, 0 -P-> 2;
    1 -S-> 1, 1 -X-> 3; 2 -T-> 2, 2 -V-> 4; 3 -X-> 2, 3 -S-> 5; 4 -P-> 3,
    4 -V-> 5; 5 -E-> end.

    References
    ----------
    A. S. Reber, "Implicit learning of artificial grammars", Journal of Verbal
    Learning and Verbal Behavior 6(6), 1967.

    Examples
    --------
    >>> from sksparse.datasets import make_reber, is_reber
    >>> strings = make_reber(3, max_length=12, random_state=0)
    >>> all(is_reber(s) and 5 <= len(s) <= 12 for s in strings)
    True
    """
    n_samples = _check_int(n_samples, "n_samples", low=1)
    min_length, max_length = _check_lengths(
        min_length, max_length, shortest=_MIN_REBER_LENGTH
    )
    rng = _check_random_state(random_state)
    return _sample_reber(rng, n_samples, min_length, max_length)


def _sample_embedded_reber(rng, n_samples, min_length, max_length):
    inner_max = None if max_length is None else max_length - _EMBEDDING
    inner = _sample_reber(rng, n_samples, min_length - _EMBEDDING, inner_max)
    wrappers = rng.choice(["T", "P"], size=n_samples)
    return [f"B{c}{s}{c}E" for c, s in zip(wrappers, inner)]


def make_embedded_reber(n_samples, *, min_length=9, max_length=None, random_state=None):
    """Generate strings of the embedded Reber grammar.

    Each string is ``"B" + c + s + c + "E"`` with ``c`` drawn from ``{T, P}``
    with probability 1/2 and ``s`` a Reber string (see :func:`make_reber`).

    Parameters
    ----------
    n_samples : int
        Number of strings.
    min_length : int, default=9
        Shortest length allowed, all symbols included (the shortest embedded
        strings have 9).
    max_length : int, default=None
        Longest length allowed; None for no bound.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the generator, for reproducible output.

    Returns
    -------
    strings : list of str
        ``n_samples`` strings of the embedded grammar.

    See Also
    --------
    make_reber : The inner grammar.
    is_embedded_reber : The acceptor.

    References
    ----------
    S. Hochreiter and J. Schmidhuber, "Long short-term memory", Neural
    Computation 9(8), 1997 (experiment 1).

    Examples
    --------
    >>> from sksparse.datasets import make_embedded_reber
    >>> [s[1] == s[-2] for s in make_embedded_reber(3, random_state=0)]
    [True, True, True]
    """
    n_samples = _check_int(n_samples, "n_samples", low=1)
    min_length, max_length = _check_lengths(
        min_length, max_length, shortest=_MIN_REBER_LENGTH + _EMBEDDING
    )
    rng = _check_random_state(random_state)
    return _sample_embedded_reber(rng, n_samples, min_length, max_length)


def _perturb(rng, s, *, embedded):
    """One ungrammatical neighbour of ``s``: an edit at an interior position.

    Substitutions and insertions use the interior symbols ``TSXPV`` only, so a
    negative keeps the ``B ... E`` frame and cannot be told apart by it. For the
    embedded grammar half the negatives mismatch the second and second-to-last
    symbols, the long-range dependency.
    """
    if embedded and rng.random() < 0.5:
        other = "P" if s[-2] == "T" else "T"
        if rng.random() < 0.5:
            return s[:-2] + other + s[-1]
        return s[0] + other + s[2:]
    kind = rng.choice(["substitute", "insert", "delete"])
    if kind == "insert":
        i = rng.integers(1, len(s))  # before the final E at the latest
        return s[:i] + rng.choice(list(_INNER)) + s[i:]
    i = rng.integers(1, len(s) - 1)  # neither the initial B nor the final E
    if kind == "delete":
        return s[:i] + s[i + 1 :]
    choices = [c for c in _INNER if c != s[i]]
    return s[:i] + rng.choice(choices) + s[i + 1 :]


def make_reber_classification(
    n_samples,
    *,
    embedded=False,
    negative_fraction=0.5,
    min_length=None,
    max_length=None,
    random_state=None,
):
    """Generate grammatical and ungrammatical strings, for classification.

    Positives are drawn as by :func:`make_reber` (or
    :func:`make_embedded_reber`). Each negative is a grammatical string with one
    interior symbol substituted, inserted or deleted, or, for the embedded
    grammar, with its second or second-to-last symbol swapped between ``T`` and
    ``P`` so that the two no longer match. Every negative is checked to be
    rejected by the acceptor and to lie within the length bounds.

    Parameters
    ----------
    n_samples : int
        Number of strings.
    embedded : bool, default=False
        Use the embedded Reber grammar.
    negative_fraction : float, default=0.5
        Fraction of ungrammatical strings, in ``[0, 1]``.
    min_length : int, default=None
        Shortest length allowed; None for the grammar's shortest (5, or 9
        embedded).
    max_length : int, default=None
        Longest length allowed; None for no bound.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the generator, for reproducible output.

    Returns
    -------
    strings : list of str
        The strings, positives and negatives shuffled together.
    y : ndarray of shape (n_samples,), dtype int64
        1 for a grammatical string, 0 for an ungrammatical one.

    Examples
    --------
    >>> from sksparse.datasets import make_reber_classification, is_reber
    >>> strings, y = make_reber_classification(6, random_state=0)
    >>> [int(is_reber(s)) for s in strings] == y.tolist()
    True
    """
    n_samples = _check_int(n_samples, "n_samples", low=1)
    if not (
        isinstance(negative_fraction, numbers.Real) and 0.0 <= negative_fraction <= 1.0
    ):
        raise ValueError(
            "negative_fraction must be a float in [0, 1], got "
            f"{negative_fraction!r} instead."
        )
    shortest = _MIN_REBER_LENGTH + (_EMBEDDING if embedded else 0)
    if min_length is None:
        min_length = shortest
    min_length, max_length = _check_lengths(min_length, max_length, shortest=shortest)
    rng = _check_random_state(random_state)
    sample = _sample_embedded_reber if embedded else _sample_reber
    accept = is_embedded_reber if embedded else is_reber

    n_negative = round(negative_fraction * n_samples)
    strings = sample(rng, n_samples - n_negative, min_length, max_length)
    negatives = []
    while len(negatives) < n_negative:
        # Candidates in batches; one that is still grammatical or out of bounds
        # is dropped and another drawn (a substitution before the final E is
        # always ungrammatical, so this ends).
        for s in sample(rng, n_negative - len(negatives), min_length, max_length):
            t = _perturb(rng, s, embedded=embedded)
            if (
                not accept(t)
                and min_length <= len(t)
                and (max_length is None or len(t) <= max_length)
            ):
                negatives.append(t)
    strings += negatives
    y = np.array([1] * (n_samples - n_negative) + [0] * n_negative, dtype=np.int64)
    order = rng.permutation(n_samples)
    return [strings[i] for i in order], y[order]
