"""Checks shared by the loaders: what a file holds, said in one line naming it."""

import numbers
import os
from pathlib import Path

import numpy as np


class DataFileError(ValueError):
    """A data file exists but does not hold what its format promises.

    A ``ValueError`` (so that callers catching bad input catch it too) whose
    message is one line naming the file and what was found; the file is also
    kept as ``path``.
    """

    def __init__(self, path, problem):
        self.path = Path(path)
        super().__init__(f"{path}: {problem}")


def _data_home():
    """Return the folder downloads go to when no ``root`` is given.

    ``$SKSPARSE_DATA`` if set, else ``~/sksparse_data`` (scikit-learn's
    ``get_data_home`` convention).
    """
    return Path(os.environ.get("SKSPARSE_DATA", "~/sksparse_data")).expanduser()


def _check_n_samples(n_samples):
    if n_samples is None:
        return None
    if (
        isinstance(n_samples, bool)
        or not isinstance(n_samples, numbers.Integral)
        or n_samples < 1
    ):
        raise ValueError(
            f"n_samples must be None or an int >= 1, got {n_samples!r} instead."
        )
    return int(n_samples)


def _n_test_for(n_samples, n_train, n_test):
    """Number of test samples proportional to ``n_samples`` of ``n_train``."""
    if n_samples is None or n_samples >= n_train:
        return n_test
    return min(n_test, max(1, round(n_samples * n_test / n_train)))


def _check_labels(y, n_classes, path):
    """Integer labels in ``0..n_classes - 1``, else a :class:`DataFileError`."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataFileError(path, f"labels must be 1-dimensional, got shape {y.shape}.")
    if y.dtype.kind not in "iu":
        raise DataFileError(path, f"labels must be integers, got dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)]
        raise DataFileError(
            path,
            f"labels must lie in 0..{n_classes - 1}, found {int(bad[0])} "
            f"({bad.size} out of range).",
        )
    return y.astype(np.int64)


def _check_pixels(X, path):
    """Integer pixels in ``0..255``, else a :class:`DataFileError`.

    Float pixels are refused rather than guessed at: a float file may hold
    0..255 or already 0..1, and reading one as the other would be silently
    wrong; a cast to uint8 would wrap 1000 to 232.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "iu":
        raise DataFileError(
            path,
            f"pixels must be integers 0..255, got dtype {X.dtype} (float images "
            "are not read: write them as uint8 0..255).",
        )
    if X.dtype != np.uint8 and X.size and (X.min() < 0 or X.max() > 255):
        bad = X[(X < 0) | (X > 255)]
        raise DataFileError(
            path,
            f"pixels must lie in 0..255, found {int(bad.flat[0])} "
            f"({bad.size} out of range).",
        )
    return X


def _scale_images(X, shape, *, scale, flatten):
    """Pixels to float32 in ``[0, 1]`` of ``(n, *shape)``, or flattened."""
    X = np.asarray(X, dtype=np.float32).reshape((len(X), *shape)) / np.float32(scale)
    return X.reshape(len(X), -1) if flatten else X
