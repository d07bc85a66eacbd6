"""Atomic, validated checkpoints of a running search.

A checkpoint is written to a temporary file in the target's directory,
flushed to disk and moved over the target with :func:`os.replace`, which is
atomic on POSIX and Windows: a search killed at any moment leaves either the
previous checkpoint or the new one, never a torn file.

The file holds a pickled envelope: a format tag, the *fingerprint* of the
search that wrote it (hashes of everything that decides its random stream:
estimator, parameter space, data, cv, random_state, ...), the pickled state
and that state's SHA-256. Reading checks all three and raises a
:class:`ValueError` naming the checkpoint when the file is corrupted or was
written by a different search, so that a search never restarts silently.

Checkpoints are pickles: load only those you wrote yourself.
"""

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

__all__ = ["read_checkpoint", "write_checkpoint"]

_FORMAT = "sksparse.search checkpoint"
_VERSION = 1


def write_checkpoint(path, state, fingerprint):
    """Write ``state`` to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
    state : object
        Anything picklable.
    fingerprint : dict of str to str
        Hashes of what the state depends on; :func:`read_checkpoint` compares
        them with the reader's.

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    envelope = {
        "format": _FORMAT,
        "version": _VERSION,
        "fingerprint": dict(fingerprint),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "state": payload,
    }
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            pickle.dump(envelope, file, protocol=pickle.HIGHEST_PROTOCOL)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Never leave half-written temporaries behind, even on KeyboardInterrupt.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def read_checkpoint(path, fingerprint):
    """Read a checkpoint written by :func:`write_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
    fingerprint : dict of str to str
        The reader's hashes; every key must match the writer's.

    Returns
    -------
    state : object

    Raises
    ------
    ValueError
        If the file is not a readable sksparse checkpoint, its state does not
        match its checksum, or it was written by a search whose fingerprint
        differs (the message lists what differs).
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            envelope = pickle.load(file)
    except (
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        IndexError,
        TypeError,
        ValueError,
    ) as exc:
        raise ValueError(
            f"checkpoint {str(path)!r} is corrupted or not a sksparse checkpoint "
            f"({type(exc).__name__}: {exc}). Delete it or pass another "
            "checkpoint path to start a new search."
        ) from None
    if not isinstance(envelope, dict) or envelope.get("format") != _FORMAT:
        raise ValueError(
            f"checkpoint {str(path)!r} is not a sksparse search checkpoint. "
            "Delete it or pass another checkpoint path."
        )
    if envelope.get("version") != _VERSION:
        raise ValueError(
            f"checkpoint {str(path)!r} has format version "
            f"{envelope.get('version')!r}; this sksparse reads version {_VERSION}."
        )
    payload = envelope.get("state")
    if not isinstance(payload, bytes) or hashlib.sha256(
        payload
    ).hexdigest() != envelope.get("sha256"):
        raise ValueError(
            f"checkpoint {str(path)!r} is corrupted: its state does not match "
            "its checksum. Delete it or pass another checkpoint path."
        )
    written = envelope.get("fingerprint") or {}
    differs = sorted(
        key
        for key in set(written) | set(fingerprint)
        if written.get(key) != fingerprint.get(key)
    )
    if differs:
        raise ValueError(
            f"checkpoint {str(path)!r} was written by a different search "
            f"(differs in: {', '.join(differs)}); refusing to resume from it. "
            "Use the same estimator, param_space, data, cv and random_state, "
            "or delete the checkpoint / pass another path to start afresh."
        )
    return pickle.loads(payload)
