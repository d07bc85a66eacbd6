"""Output files written atomically, through an unpredictable temporary name.

Every file sksparse writes (result tables, saved models, search checkpoints)
goes through :func:`atomic_write`: the content is written to a file made by
:func:`tempfile.mkstemp` in the target's folder, flushed, and moved over the
target with :func:`os.replace`. ``mkstemp`` creates the file with
``O_CREAT | O_EXCL`` under a random name, so a symlink planted beforehand
at a guessable name (``.NAME.tmp``) is never followed; ``os.replace`` is
atomic on POSIX and Windows, so a reader, a kill or a full disk leaves the
old file or the new one, never a torn one; and on any error (KeyboardInterrupt
included) the temporary file is removed.

The temporary names are ``.<target name>.<random>.tmp``, so that
:func:`remove_stale_temporaries` can find those an earlier, killed process
left behind.
"""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "remove_stale_temporaries"]

_SUFFIX = ".tmp"


def _prefix(path):
    return f".{path.name}."


@contextlib.contextmanager
def atomic_write(path, mode="w", *, newline=None, encoding=None, fsync=True):
    """Open a temporary file that replaces ``path`` when the block ends cleanly.

    Parameters
    ----------
    path : str or os.PathLike
        The target. Its folder must exist.
    mode : {"w", "wb"}, default="w"
    newline, encoding : str, default=None
        As for :func:`open` (text mode only; ``encoding`` defaults to UTF-8).
    fsync : bool, default=True
        Flush the file to disk before the replace, so that a power cut after
        the replace cannot leave an empty target.

    Yields
    ------
    file : file object
        Write the content to it; ``path`` is replaced on leaving the block,
        and left untouched (with no temporary file) if the block raises.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sksparse.utils._files import atomic_write
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = pathlib.Path(folder) / "out.txt"
    ...     with atomic_write(target) as file:
    ...         _ = file.write("done")
    ...     print(target.read_text(), sorted(p.name for p in target.parent.iterdir()))
    done ['out.txt']
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}.")
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=_SUFFIX, dir=directory)
    try:
        if mode == "w":
            file = os.fdopen(fd, "w", newline=newline, encoding=encoding or "utf-8")
        else:
            file = os.fdopen(fd, "wb")
        with file:
            yield file
            file.flush()
            if fsync:
                os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(path):
    """Remove the temporary files :func:`atomic_write` left for ``path``.

    A process killed between ``mkstemp`` and ``os.replace`` (SIGKILL, power
    cut) cannot clean up; the next writer of the same target calls this
    first. Only files named like ``atomic_write``'s temporaries for this
    very target are touched, and only regular files (never a symlink's
    target).

    Returns
    -------
    removed : list of pathlib.Path
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    removed = []
    if not directory.is_dir():
        return removed
    prefix = _prefix(path)
    for entry in directory.iterdir():
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_SUFFIX)):
            continue
        if len(name) <= len(prefix) + len(_SUFFIX):
            continue
        with contextlib.suppress(OSError):
            # unlink removes a link itself, never what it points to.
            entry.unlink()
            removed.append(entry)
    return removed
