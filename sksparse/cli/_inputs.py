"""Reading the user's inputs: data sets (scaled if asked) and model files."""

import csv
import zipfile
from pathlib import Path

from sksparse.cli._run import CommandError, say

__all__ = ["check_trust", "load_data", "read_model", "resolve_scale"]

# What reading a data file can raise besides ValueError and OSError (gzip's
# BadGzipFile is an OSError): numpy on an empty .npz (EOFError), a truncated
# or corrupted one (zipfile's BadZipFile: bad CRC, no central directory), the
# csv module on an oversized field (csv.Error), a header that claims an
# absurd size (OverflowError, or MemoryError when the allocation is tried).
_DATA_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    csv.Error,
    OverflowError,
    MemoryError,
)


def resolve_scale(args):
    """``--scale``'s value: on for ``.csv`` data unless ``--no-scale``."""
    if args.scale is None:
        args.scale = args.data is not None and Path(args.data).suffix.lower() == ".csv"
    return args.scale


def load_data(args):
    """``--data`` split for training and testing, standardised if ``--scale``.

    The scaler is fitted on the training samples alone: test samples never
    inform it, and ``sksparse report`` on the same file and ``--seed`` scales
    the test samples exactly as ``prune`` did when it trained the model.

    Raises
    ------
    CommandError
        If the data cannot be read; the message names the data and what was
        wrong, on one line.
    """
    import numpy as np

    from sksparse.experiments import load_dataset

    try:
        X, y, X_test, y_test = load_dataset(
            args.data, n_samples=args.n_samples, root=args.root, random_state=args.seed
        )
    except _DATA_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if isinstance(exc, MemoryError) and not reason:
            reason = "the file claims more data than fits in memory"
        kind = "csv.Error" if isinstance(exc, csv.Error) else type(exc).__name__
        raise CommandError(
            f"cannot read --data {args.data}: {kind}"
            + (f": {reason}" if reason else "")
        ) from None
    if resolve_scale(args):
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(X)
        X = scaler.transform(X).astype(np.float32)
        X_test = scaler.transform(X_test).astype(np.float32)
    say(
        args,
        f"data: {args.data} ({len(X)} train / {len(X_test)} test samples, "
        f"{X.shape[1]} features{', standardised' if args.scale else ''})",
    )
    return X, y, X_test, y_test


def check_trust(args):
    """Refuse to go on, before any work, if reading ``args.model`` needs consent.

    A file in sksparse's own format (:func:`sksparse.io.save`, ``.sksparse``)
    is recognised by its header, whatever its name, and read without consent:
    loading it runs no code. Anything else is read as a joblib pickle, and
    unpickling runs whatever code the file holds; so it needs
    ``--trust-pickle``.

    Raises
    ------
    CommandError
        For a file not in sksparse's format, without ``--trust-pickle``.
    """
    from sksparse.io._file import is_model_file

    if is_model_file(args.model):
        return
    if not args.trust_pickle:
        raise CommandError(
            f"{args.model} is not a .sksparse file (sksparse.io.save) and would be "
            "read with pickle (joblib.load), which runs any code the file holds; "
            "pass --trust-pickle if you made or trust this file"
        )


def read_model(args):
    """The model in ``args.model`` (see :func:`check_trust`).

    Raises
    ------
    CommandError
        For a pickle, without ``--trust-pickle``.
    ValueError
        If a ``.sksparse`` file fails its hash, or a pickle is not a model
        saved with ``joblib.dump``.
    TypeError
        If a ``.sksparse`` file names a class that is not sksparse's.
    """
    from sksparse.io._file import is_model_file

    if is_model_file(args.model):
        from sksparse.io import load

        return load(args.model)
    check_trust(args)
    from sksparse.experiments import load_model

    return load_model(args.model)
