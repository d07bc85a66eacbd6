"""Strings over the Reber alphabet as padded index or one-hot arrays, and back."""

import numpy as np

from sksparse.datasets._reber import _INDEX, SYMBOLS

__all__ = ["decode_sequences", "encode_sequences"]


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
