"""CIFAR-10's pickled batches, unpickled with only numpy's array globals allowed."""

import pickle

import numpy as np

from sksparse.datasets._validation import DataFileError, _check_labels, _check_pixels

_PIXELS_PER_IMAGE = 3 * 32 * 32
_N_CLASSES = 10

# The globals a batch may name: numpy's array reconstruction (the modules of
# numpy 1 and 2, pickle protocols 2 to 5) and the ``_codecs.encode`` that
# Python 2's byte strings go through. Anything else would be code run at load:
# a batch is refused rather than unpickled with ``pickle.load``.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refers to {module}.{name}, which a CIFAR-10 batch never holds "
                "(not loaded: unpickling it could run code)"
            )
        return super().find_class(module, name)


def _unpickle(path):
    # ``latin1`` decodes the Python 2 byte strings, as torchvision does.
    with open(path, "rb") as f:
        try:
            return _BatchUnpickler(f, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise DataFileError(
                path, f"not a readable CIFAR-10 batch ({exc})."
            ) from None


def read_cifar_batch(path):
    """Images ``(n, 3072)`` uint8 and labels ``(n,)`` int64 of one batch.

    Raises
    ------
    DataFileError
        A ``ValueError`` naming the file if it is not a batch, holds other
        globals than numpy arrays, pixels outside 0..255, labels outside 0..9,
        or a number of labels that differs from the number of images.
    """
    entry = _unpickle(path)
    if not isinstance(entry, dict) or "data" not in entry:
        raise DataFileError(path, "not a CIFAR-10 batch (no 'data' entry).")
    labels = entry.get("labels", entry.get("fine_labels"))
    if labels is None:
        raise DataFileError(path, "not a CIFAR-10 batch (no 'labels' entry).")
    X = np.asarray(entry["data"])
    if X.ndim != 2 or X.shape[1] != _PIXELS_PER_IMAGE:
        raise DataFileError(
            path,
            f"data must have shape (n, {_PIXELS_PER_IMAGE}), got {X.shape}.",
        )
    X = _check_pixels(X, path).astype(np.uint8)
    y = _check_labels(labels, _N_CLASSES, path)
    if len(y) != len(X):
        raise DataFileError(path, f"holds {len(X)} images but {len(y)} labels.")
    return X, y


def read_cifar_batches(paths, max_items):
    """The first ``max_items`` images and labels of the batches, in order."""
    X, y, n = [], [], 0
    for path in paths:
        if max_items is not None and n >= max_items:
            break
        X_batch, y_batch = read_cifar_batch(path)
        X.append(X_batch)
        y.append(y_batch)
        n += len(y_batch)
    X, y = np.concatenate(X), np.concatenate(y)
    return X[:max_items], y[:max_items]
