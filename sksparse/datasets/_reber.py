"""Reber grammars: the automaton, its acceptors and next-symbol targets.

The Reber grammar (Reber 1967) is a small finite automaton over the symbols
``BTSXPVE``; its embedded form (Cleeremans, Servan-Schreiber & McClelland 1989;
Hochreiter & Schmidhuber 1997) wraps a Reber string as ``B c <reber> c E`` with
``c`` in ``{T, P}``, so that predicting the second-to-last symbol needs the
second one: a long-range dependency that tests a recurrent network's memory.

Drawing strings is in ``_reber_generate``, encoding them as arrays in
``_sequences``.
"""

import numpy as np

__all__ = [
    "SYMBOLS",
    "is_embedded_reber",
    "is_reber",
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
