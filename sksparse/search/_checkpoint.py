"""Atomic, validated, pickle-free checkpoints of a running search.

A checkpoint is written to a temporary file in the target's directory,
flushed to disk and moved over the target with :func:`os.replace`, which is
atomic on POSIX and Windows: a search killed at any moment leaves either the
previous checkpoint or the new one, never a torn file.

The file is JSON (format version 2): a format tag, the *fingerprint* of the
search that wrote it (hashes of everything that decides its random stream:
estimator, parameter space, data, cv, random_state, ...), the state as
tagged-JSON text (:mod:`sksparse.search._codec`), that text's SHA-256 and
its HMAC-SHA256 under this user's key. Reading checks the format, the
checksum and the fingerprint and raises a :class:`ValueError` naming the
checkpoint when the file is corrupted or was written by a different
search, so that a search never restarts silently.

Reading runs no code. A state that holds objects JSON cannot express (a
``param_space`` over estimator objects, say) carries them pickled; those
parts are unpickled only after the HMAC proves that this user's key signed
the text, checked with :func:`hmac.compare_digest` before anything is
decoded. A forged file (its checksum recomputed) or one written under
another user's key is refused without unpickling anything; so is a version 1
checkpoint, which was a pickle.

While a search runs it holds :func:`checkpoint_lock`: a lock file beside
the checkpoint, so that two searches never write one checkpoint in turn.
"""

import contextlib
import errno
import hashlib
import hmac
import json
import numbers
import os
import pickle
import socket
import tempfile
import time
import warnings
from pathlib import Path

import joblib
import numpy as np

from sksparse.search._codec import (
    UntrustedPickleError,
    decode,
    encode,
    has_pickle,
    key_path,
    local_key,
    sign,
)
from sksparse.search._space import LayerSizes, PriorChoice
from sksparse.utils._files import atomic_write, remove_stale_temporaries

__all__ = [
    "checkpoint_lock",
    "read_checkpoint",
    "search_fingerprint",
    "write_checkpoint",
]

_FORMAT = "sksparse.search checkpoint"
_VERSION = 2
# Protocol 2+ pickles start with PROTO (0x80); version 1 checkpoints did.
_PICKLE_PROTO = 0x80


def write_checkpoint(path, state, fingerprint):
    """Write ``state`` to ``path`` atomically, as signed JSON.

    Parameters
    ----------
    path : str or os.PathLike
    state : object
        Dicts, lists, tuples, numbers, strings, numpy arrays and networkx
        graphs are stored as JSON; anything else is pickled and signed.
    fingerprint : dict of str to str
        Hashes of what the state depends on; :func:`read_checkpoint` compares
        them with the reader's.

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    encoded = encode(state)
    text = json.dumps(encoded, allow_nan=False, separators=(",", ":"))
    # The key is made only when a pickled part needs it: a search over
    # sksparse's estimators never writes to the user's config folder.
    key = local_key(create=has_pickle(encoded))
    envelope = {
        "format": _FORMAT,
        "version": _VERSION,
        "fingerprint": dict(fingerprint),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "signature": None if key is None else sign(text, key),
        "state": text,
    }
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as file:
        json.dump(envelope, file, allow_nan=False)
    return path


def _corrupted(path, why):
    return ValueError(
        f"checkpoint {str(path)!r} is corrupted or not a sksparse checkpoint "
        f"({why}). Delete it or pass another checkpoint path to start a new "
        "search."
    )


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
        If the file is not a readable sksparse checkpoint, was written by an
        older sksparse (a pickle, never unpickled), its state does not match
        its checksum, it was written by a search whose fingerprint differs
        (the message lists what differs), or it holds pickled objects that
        this user's key did not sign.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:1] == bytes([_PICKLE_PROTO]):
        raise ValueError(
            f"checkpoint {str(path)!r} was written by an older sksparse (a "
            "pickle, which is not loaded: unpickling runs code). Delete it or "
            "pass another checkpoint path to start a new search."
        )
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _corrupted(path, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(envelope, dict) or envelope.get("format") != _FORMAT:
        raise ValueError(
            f"checkpoint {str(path)!r} is not a sksparse search checkpoint. "
            "Delete it or pass another checkpoint path."
        )
    if envelope.get("version") != _VERSION:
        raise ValueError(
            f"checkpoint {str(path)!r} has format version "
            f"{envelope.get('version')!r}; this sksparse reads version {_VERSION}."
            " Delete it or pass another checkpoint path."
        )
    text = envelope.get("state")
    if not isinstance(text, str) or not hmac.compare_digest(
        hashlib.sha256(text.encode("utf-8")).hexdigest(),
        str(envelope.get("sha256")),
    ):
        raise ValueError(
            f"checkpoint {str(path)!r} is corrupted: its state does not match "
            "its checksum. Delete it or pass another checkpoint path."
        )
    written = envelope.get("fingerprint")
    written = written if isinstance(written, dict) else {}
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
    # Before anything is decoded: did this user's key sign the text?
    key = local_key(create=False)
    signature = envelope.get("signature")
    trusted = (
        key is not None
        and isinstance(signature, str)
        and hmac.compare_digest(sign(text, key), signature)
    )
    try:
        return decode(json.loads(text), trusted=trusted)
    except UntrustedPickleError:
        raise ValueError(
            f"checkpoint {str(path)!r} holds pickled objects but is not signed "
            f"by this user's key ({str(key_path())!r}), so it may not have been "
            "written by this user's search; refusing to unpickle it (that runs "
            "code). Delete it or pass another checkpoint path; a checkpoint "
            "holds pickled objects only when param_space holds values JSON "
            "cannot express."
        ) from None
    except (
        ValueError,
        RecursionError,
        pickle.UnpicklingError,
        AttributeError,
        ImportError,
        EOFError,
        IndexError,
        TypeError,
    ) as exc:
        # A signed pickled part that no longer loads (a class renamed since).
        raise _corrupted(path, f"{type(exc).__name__}: {exc}") from None


# -- one search per checkpoint -------------------------------------------------
def _lock_path(path):
    return path.with_name(f".{path.name}.lock")


def _pid_alive(pid):
    if os.name == "nt":
        # os.kill on Windows terminates the process: never probe. Unknown is
        # treated as alive, so the user is asked to delete the lock.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def _read_holder(lock):
    """``(pid, host)`` written in ``lock``; None if unreadable or malformed."""
    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd) as file:
        fields = file.read(256).split()
    if len(fields) != 2 or not fields[0].isdigit():
        return None
    return int(fields[0]), fields[1]


def _age(lock):
    try:
        return time.time() - os.lstat(lock).st_mtime
    except OSError:
        return 0.0


def _check_writable(path):
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        # The only test that holds everywhere (ACLs, read-only mounts, root):
        # create a file where the checkpoint's temporary files will go.
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(
            f"checkpoint {str(path)!r} cannot be written ({exc.strerror or exc}); "
            "pass a checkpoint path in a writable folder. Checked before any "
            "training, so no generation is lost."
        ) from None


@contextlib.contextmanager
def checkpoint_lock(path):
    """Hold ``path``'s checkpoint for the block: one search per checkpoint.

    Before any training: checks that the checkpoint can be written, takes
    the lock file ``.<name>.lock`` beside it (created with ``O_CREAT |
    O_EXCL``, holding the pid and host name of the search), and removes the
    temporary files an earlier, killed search left. The lock is removed
    when the block ends, however it ends.

    A lock whose process no longer runs on this host (a search killed by
    SIGKILL or a power cut) is taken over with a warning. The lock is a
    file of our own rather than ``fcntl.flock`` (as the ``filelock``
    package uses) so that the error can name the holding process and so
    that it works alike on every platform and file system that supports
    ``O_EXCL``.

    Raises
    ------
    ValueError
        If the checkpoint's folder is not writable, or another running
        search holds the checkpoint.
    """
    path = Path(path)
    _check_writable(path)
    lock = _lock_path(path)
    me = f"{os.getpid()} {socket.gethostname()}\n"
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_holder(lock)
            host = socket.gethostname()
            if holder is None:
                who = "an unreadable lock"
                # A lock created an instant ago may not hold its pid yet.
                stale = _age(lock) > 10.0
            else:
                who = f"process {holder[0]} on {holder[1]}"
                stale = holder[1] == host and not _pid_alive(holder[0])
            if attempt or not stale:
                raise ValueError(
                    f"checkpoint {str(path)!r} is in use by another search "
                    f"({who}, lock {str(lock)!r}). Wait for it to finish or "
                    "pass another checkpoint path; delete the lock file only "
                    "if that search no longer runs."
                ) from None
            what = (
                f"process {holder[0]}, which no longer runs"
                if holder is not None
                else "an unreadable lock"
            )
            warnings.warn(
                f"taking over the lock of checkpoint {str(path)!r} left by "
                f"{what} (a search killed before it could remove {str(lock)!r}).",
                UserWarning,
                stacklevel=3,
            )
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
            continue
        with os.fdopen(fd, "w") as file:
            file.write(me)
        break
    try:
        # We hold the lock: no writer of this checkpoint is alive, so any
        # temporary file beside it is a torn leftover.
        remove_stale_temporaries(path)
        yield path
    finally:
        # Remove the lock only if it is still ours (not taken over by a
        # search that believed us dead).
        if _read_holder(lock) == (os.getpid(), socket.gethostname()):
            with contextlib.suppress(OSError):
                os.unlink(lock)


# -- fingerprints for checkpoints ---------------------------------------------
def _canonical(obj, depth=0):
    """A stable, picklable description of ``obj`` for hashing.

    scipy's frozen distributions carry numpy's global RandomState and
    estimators may hold objects whose repr shows a memory address: neither
    may enter a fingerprint that must be equal in a fresh process.
    """
    if depth > 12:
        return type(obj).__qualname__
    if obj is None or isinstance(obj, (bool, str, int, float, complex)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (np.random.RandomState, np.random.Generator)):
        return type(obj).__qualname__
    if isinstance(obj, dict):
        return (
            "dict",
            tuple(
                sorted(
                    ((repr(k), _canonical(v, depth + 1)) for k, v in obj.items()),
                    key=lambda kv: kv[0],
                )
            ),
        )
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_canonical(v, depth + 1) for v in obj))
    if isinstance(obj, np.ndarray):
        return ("ndarray", joblib.hash(obj))
    if hasattr(obj, "dist") and hasattr(obj, "ppf") and hasattr(obj, "args"):
        return (
            "distribution",
            getattr(obj.dist, "name", type(obj.dist).__name__),
            _canonical(obj.args, depth + 1),
            _canonical(obj.kwds, depth + 1),
        )
    if isinstance(obj, LayerSizes):
        return (
            "LayerSizes",
            obj.min_layers,
            obj.max_layers,
            obj.min_units,
            obj.max_units,
        )
    if isinstance(obj, PriorChoice):
        return ("PriorChoice", _canonical(obj.kinds, depth + 1))
    if isinstance(obj, type):
        return ("type", obj.__module__, obj.__qualname__)
    if hasattr(obj, "get_params"):
        try:
            params = obj.get_params(deep=False)
        except Exception:  # noqa: BLE001 - an odd estimator: fall back below
            params = None
        if params is not None:
            return (
                "estimator",
                type(obj).__module__,
                type(obj).__qualname__,
                _canonical(params, depth + 1),
            )
    if callable(obj) and hasattr(obj, "__qualname__"):
        return ("callable", getattr(obj, "__module__", ""), obj.__qualname__)
    try:
        return ("pickle", joblib.hash(obj))
    except Exception:  # noqa: BLE001 - unpicklable: its type is all we know
        return ("object", type(obj).__module__, type(obj).__qualname__)


def _hash(obj):
    return joblib.hash(_canonical(obj))


def search_fingerprint(search, X, y, splits):
    """Hashes of everything that decides a genetic search's results.

    A checkpoint carries the fingerprint of the search that wrote it;
    :func:`read_checkpoint` refuses one whose fingerprint differs.
    """
    random_state = search.random_state
    if not (random_state is None or isinstance(random_state, numbers.Integral)):
        random_state = type(random_state).__qualname__
    return {
        "estimator": _hash(search.estimator),
        "param_space": _hash(search.param_space),
        "data": joblib.hash((X, y)),
        "cv": joblib.hash([(np.asarray(a), np.asarray(b)) for a, b in splits]),
        "random_state": _hash(random_state),
        "search": _hash(
            {
                "population_size": search.population_size,
                "mutation_rate": search.mutation_rate,
                "crossover_rate": search.crossover_rate,
                "tournament_size": search.tournament_size,
                "elitism": search.elitism,
                "predictor": search.predictor,
                "predictor_warmup": search.predictor_warmup,
                "screen_ratio": search.screen_ratio,
                "scoring": search.scoring,
                "refit_metric": search.refit if isinstance(search.refit, str) else 0,
                "error_score": search.error_score,
                "return_train_score": search.return_train_score,
            }
        ),
    }
