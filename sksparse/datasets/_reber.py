"""Reber grammars: strings, acceptors, next-symbol targets and encodings.

The Reber grammar (Reber 1967) is a small finite automaton over the symbols
``BTSXPVE``; its embedded form (Cleeremans, Servan-Schreiber & McClelland 1989;
Hochreiter & Schmidhuber 1997) wraps a Reber string as ``B c <reber> c E`` with
``c`` in ``{T, P}``, so that predicting the second-to-last symbol needs the
second one: a long-range dependency that tests a recurrent network's memory.
"""

import numbers

import numpy as np

__all__ = [
    "SYMBOLS",
    "decode_sequences",
    "encode_sequences",
    "is_embedded_reber",
    "is_reber",
    "make_embedded_reber",
    "make_reber",
    "make_reber_classification",
    "reber_next_symbols",
]

SYMBOLS = "BTSXPVE"
"""The alphabet, in the order of the encodings' columns (index ``i`` codes
``SYMBOLS[i - 1]``, 0 is padding)."""

_INDEX = {symbol: i for i, symbol in enumerate(SYMBOLS)}

# The automaton after the initial ``B`` (Fahlman's and Hochreiter &
# Schmidhuber's figure): state -> {symbol: next state}. State 5 only emits the
# final ``E``; ``_END`` marks that the string is complete.
_TRANSITIONS = {
    0: {"T": 1, "P": 2},
    1: {"S": 1, "X": 3},
    2: {"T": 2, "V": 4},
    3: {"X": 2, "S": 5},
    4: {"P": 3, "V": 5},
    5: {"E": None},
}
_END = None
_MIN_REBER_LENGTH = 5  # "BTXSE", "BPVVE"
_EMBEDDING = 4  # "B", c, c and "E" around the inner string
_INNER = "TSXPV"  # the symbols that occur inside a string, between B and E


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


def _reber_states(s):
    """States of the automaton after each symbol of ``s``, up to a dead end.

    Entry ``t`` is the state after reading ``s[:t + 1]``: 0 after the initial
    ``B``, then 0..5, then ``_END`` after the ``E``. The list is shorter than
    ``s`` when ``s`` leaves the grammar.
    """
    states = []
    state = "begin"
    for symbol in s:
        if state == "begin":
            if symbol != "B":
                break
            state = 0
        elif state is _END or symbol not in _TRANSITIONS[state]:
            break
        else:
            state = _TRANSITIONS[state][symbol]
        states.append(state)
    return states


def _check_string(s, name="s"):
    if not isinstance(s, str):
        raise TypeError(f"{name} must be a str, got {type(s).__name__} instead.")
    return s


def is_reber(s):
    """Whether ``s`` is a string of the Reber grammar.

    Parameters
    ----------
    s : str
        The string to check.

    Returns
    -------
    accepted : bool
        True if the automaton reads all of ``s`` and ends after its ``E``.

    Examples
    --------
    >>> from sksparse.datasets import is_reber
    >>> is_reber("BTSSXXTVVE"), is_reber("BPVVE"), is_reber("BTXSE")
    (True, True, True)
    >>> is_reber("BTSSXXTVE")
    False
    """
    s = _check_string(s)
    states = _reber_states(s)
    return len(states) == len(s) > 0 and states[-1] is _END


def is_embedded_reber(s):
    """Whether ``s`` is a string of the embedded Reber grammar.

    Parameters
    ----------
    s : str
        The string to check.

    Returns
    -------
    accepted : bool
        True if ``s`` is ``"B" + c + r + c + "E"`` with ``c`` in ``{T, P}`` and
        ``r`` a Reber string.

    Examples
    --------
    >>> from sksparse.datasets import is_embedded_reber
    >>> is_embedded_reber("BTBTXSETE"), is_embedded_reber("BTBTXSEPE")
    (True, False)
    """
    s = _check_string(s)
    return (
        len(s) >= _MIN_REBER_LENGTH + _EMBEDDING
        and s[0] == "B"
        and s[-1] == "E"
        and s[1] in "TP"
        and s[1] == s[-2]
        and is_reber(s[2:-2])
    )


def _multi_hot(symbols):
    row = np.zeros(len(SYMBOLS), dtype=np.float32)
    for symbol in symbols:
        row[_INDEX[symbol]] = 1.0
    return row


def _reber_next(s, offset=0):
    """Rows of legal next symbols for a prefix of a Reber string ``s``."""
    states = _reber_states(s)
    if len(states) != len(s):
        raise ValueError(
            f"s must be a prefix of a Reber string; {s!r} cannot continue after "
            f"position {offset + len(states)}."
        )
    return [_multi_hot([] if st is _END else _TRANSITIONS[st]) for st in states]


def reber_next_symbols(s, *, embedded=False):
    """Legal next symbols after each prefix of a (embedded) Reber string.

    The target of the next-symbol prediction task (Hochreiter & Schmidhuber
    1997): after reading ``s[:t + 1]`` a network should predict the set of
    symbols the grammar allows next.

    Parameters
    ----------
    s : str
        A string of the grammar, or a prefix of one.
    embedded : bool, default=False
        Use the embedded Reber grammar.

    Returns
    -------
    targets : ndarray of shape (len(s), 7), dtype float32
        Row ``t`` is 1 in the columns (ordered as :data:`SYMBOLS`) of the
        symbols that may follow ``s[:t + 1]``; the row after the final ``E`` is
        all zeros.

    Raises
    ------
    ValueError
        If ``s`` is not a prefix of a string of the grammar.

    Examples
    --------
    >>> from sksparse.datasets import reber_next_symbols, SYMBOLS
    >>> targets = reber_next_symbols("BTXSE")
    >>> ["".join(c for c, on in zip(SYMBOLS, row) if on) for row in targets]
    ['TP', 'SX', 'SX', 'E', '']
    """
    s = _check_string(s)
    if not embedded:
        return np.array(_reber_next(s), dtype=np.float32).reshape(len(s), len(SYMBOLS))

    # Embedded: B, then c in {T, P}, then a Reber string, then c again, then E.
    rows = []
    if len(s) >= 1:
        if s[0] != "B":
            raise ValueError(
                f"s must be a prefix of an embedded Reber string, got {s!r}."
            )
        rows.append(_multi_hot("TP"))
    if len(s) >= 2:
        if s[1] not in "TP":
            raise ValueError(
                f"s must be a prefix of an embedded Reber string; {s!r} cannot "
                "continue after position 1."
            )
        rows.append(_multi_hot("B"))
    inner = s[2:]
    inner_end = inner.find("E")
    inner_rows = _reber_next(
        inner if inner_end < 0 else inner[: inner_end + 1], offset=2
    )
    # After the inner E, only the symbol that opened the string may follow:
    # the long-range dependency.
    if inner_end >= 0:
        inner_rows[-1] = _multi_hot(s[1])
    rows += inner_rows
    tail = "" if inner_end < 0 else inner[inner_end + 1 :]
    if len(tail) >= 1:
        if tail[0] != s[1]:
            raise ValueError(
                f"s must be a prefix of an embedded Reber string; {s!r} closes "
                f"with {tail[0]!r} what it opened with {s[1]!r}."
            )
        rows.append(_multi_hot("E"))
    if len(tail) >= 2:
        if tail[1] != "E" or len(tail) > 2:
            raise ValueError(
                f"s must be a prefix of an embedded Reber string; {s!r} goes on "
                "after its end."
            )
        rows.append(_multi_hot(""))
    return np.array(rows, dtype=np.float32).reshape(len(s), len(SYMBOLS))


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


def encode_sequences(strings, *, one_hot=False, pad_value=0):
    """Encode strings over :data:`SYMBOLS` as padded arrays.

    Parameters
    ----------
    strings : list of str
        The strings, of any lengths.
    one_hot : bool, default=False
        If False, each symbol becomes its index 1..7 in ``SYMBOLS``
        (``B`` is 1, ``E`` is 7) and padding is ``pad_value``. If True, each
        symbol becomes a one-hot row of 7 floats and padding rows are zeros.
    pad_value : int, default=0
        Value of the padding positions in the index encoding.

    Returns
    -------
    X : ndarray of shape (n_strings, max_len), dtype int64, or \
            (n_strings, max_len, 7), dtype float32
        The encoded strings, left-aligned and padded at the end.
    lengths : ndarray of shape (n_strings,), dtype int64
        The length of each string, as ``torch.nn.utils.rnn.pack_padded_sequence``
        expects.

    Raises
    ------
    ValueError
        If ``strings`` is empty, a single str, or holds a symbol outside
        ``SYMBOLS``.

    See Also
    --------
    decode_sequences : The inverse.

    Examples
    --------
    >>> from sksparse.datasets import encode_sequences
    >>> X, lengths = encode_sequences(["BPVVE", "BTXSE", "BT"])
    >>> X
    array([[1, 5, 6, 6, 7],
           [1, 2, 4, 3, 7],
           [1, 2, 0, 0, 0]])
    >>> lengths
    array([5, 5, 2])
    """
    if isinstance(strings, str):
        raise ValueError(
            "strings must be a list of str, not a single str; wrap it in a list."
        )
    strings = list(strings)
    if not strings:
        raise ValueError("strings must hold at least one string, got none.")
    for s in strings:
        if not isinstance(s, str):
            raise ValueError(
                f"strings must hold str only, got {type(s).__name__} {s!r}."
            )
        unknown = set(s) - set(SYMBOLS)
        if unknown:
            raise ValueError(
                f"strings holds symbols outside {SYMBOLS!r}: {sorted(unknown)} "
                f"in {s!r}."
            )
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    width = int(lengths.max())
    X = np.full((len(strings), width), pad_value, dtype=np.int64)
    for row, s in zip(X, strings):
        row[: len(s)] = [_INDEX[c] + 1 for c in s]
    if not one_hot:
        return X, lengths
    X_one_hot = np.zeros((len(strings), width, len(SYMBOLS)), dtype=np.float32)
    for i, s in enumerate(strings):
        X_one_hot[i, np.arange(len(s)), X[i, : len(s)] - 1] = 1.0
    return X_one_hot, lengths


def decode_sequences(X, lengths=None):
    """Turn encoded sequences back into strings (the inverse of encoding).

    Parameters
    ----------
    X : array-like of shape (n_strings, max_len) or (n_strings, max_len, 7)
        Index encoding (1..7, as :func:`encode_sequences` gives) or one-hot or
        score rows (the arg-max column is taken).
    lengths : array-like of shape (n_strings,), default=None
        Length of each string. None reads each row up to its first position
        that is not a symbol (index outside 1..7, or an all-zero one-hot row).

    Returns
    -------
    strings : list of str
        The decoded strings.

    Examples
    --------
    >>> from sksparse.datasets import decode_sequences, encode_sequences
    >>> decode_sequences(*encode_sequences(["BPVVE", "BT"], one_hot=True))
    ['BPVVE', 'BT']
    """
    X = np.asarray(X)
    if X.ndim == 3:
        valid = X.any(axis=2)
        X = np.where(valid, X.argmax(axis=2) + 1, 0)
    elif X.ndim != 2:
        raise ValueError(f"X must be 2- or 3-dimensional, got shape {X.shape}.")
    X = X.astype(np.int64)
    if lengths is None:
        is_symbol = (X >= 1) & (X <= len(SYMBOLS))
        lengths = np.where(
            is_symbol.all(axis=1), X.shape[1], (~is_symbol).argmax(axis=1)
        )
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.shape != (len(X),):
        raise ValueError(
            f"lengths must have shape ({len(X)},), got {lengths.shape} instead."
        )
    strings = []
    for row, n in zip(X, lengths):
        codes = row[:n]
        if codes.size and (codes.min() < 1 or codes.max() > len(SYMBOLS)):
            raise ValueError(f"X holds codes outside 1..{len(SYMBOLS)} within lengths.")
        strings.append("".join(SYMBOLS[c - 1] for c in codes))
    return strings
