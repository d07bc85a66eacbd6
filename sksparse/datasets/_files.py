"""A classification data set by name or from a ``.npz``/``.csv`` file, checked.

Every problem with a file's contents is a :class:`DataFileError` (a
``ValueError``) whose one-line message starts with the file's path.
"""

import csv
import zipfile
import zlib
from pathlib import Path

import numpy as np

from sksparse.datasets._images import load_fashion_mnist, load_mnist
from sksparse.datasets._validation import DataFileError, _check_n_samples

#: Data set names :func:`load_dataset` knows; anything else is a file path.
DATASETS = ("digits", "fashion-mnist", "mnist")
_TARGET_COLUMNS = ("target", "label", "y", "class")
_NPZ_KEYS = ("X_train", "y_train", "X_test", "y_test")


def _check_features(X, path, what):
    """Numbers finite in float32 (a float64 of 1e39 would become inf)."""
    try:
        with np.errstate(over="ignore"):  # overflow is what is checked below
            X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataFileError(path, f"{what} must hold numbers.") from None
    if not np.isfinite(X).all():
        raise DataFileError(
            path, f"{what} holds NaN, inf or values beyond float32's range."
        )
    return X


def read_npz(path):
    """``(X_train, y_train, X_test, y_test)`` of a ``.npz`` file, checked."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataFileError(path, "is a .npy array, not a .npz archive.")
            missing = [k for k in _NPZ_KEYS if k not in archive.files]
            if missing:
                raise DataFileError(
                    path,
                    f"lacks the arrays {', '.join(missing)}; a .npz data file "
                    f"holds {', '.join(_NPZ_KEYS)}.",
                )
            arrays = {k: archive[k] for k in _NPZ_KEYS}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(path, f"not a readable .npz file ({exc}).") from None
    for key in ("train", "test"):
        X, y = arrays[f"X_{key}"], arrays[f"y_{key}"]
        if y.ndim != 1 or len(X) != len(y) or len(y) == 0:
            raise DataFileError(
                path,
                f"X_{key} and y_{key} must hold the same number (>= 1) of "
                f"samples, with y_{key} 1-dimensional; got shapes {X.shape} "
                f"and {y.shape}.",
            )
        arrays[f"X_{key}"] = _check_features(X, path, f"X_{key}")
    return tuple(arrays[k] for k in _NPZ_KEYS)


def _as_labels(values):
    """Integer labels where every value is an integer, else the strings."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except ValueError:
        return np.asarray(values)
    if np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return np.asarray(values)


def _read_rows(path):
    # ``utf-8-sig``: a byte-order mark (Excel writes one) would otherwise
    # glue itself to the first header name and hide a ``label`` column there.
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.reader(f))
    except csv.Error as exc:  # e.g. a field over csv's 131072-character limit
        raise DataFileError(path, f"not a readable CSV file ({exc}).") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"is not UTF-8 text ({exc.reason}).") from None


def read_csv(path, *, random_state=0, test_size=0.25):
    """``(X_train, y_train, X_test, y_test)`` of a CSV file, checked.

    A header row, then one sample per row of numbers. The target is the column
    named ``target``, ``label``, ``y`` or ``class`` (the first found), else the
    last column. A ``split`` column of ``train``/``test`` assigns the rows;
    without one, a stratified ``test_size`` share is held out.
    """
    rows = _read_rows(path)
    if not rows:
        raise DataFileError(path, "is empty.")
    if len(rows) < 2:
        raise DataFileError(path, "needs a header row and at least one sample.")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if r]
    if any(len(r) != len(header) for r in body):
        raise DataFileError(path, f"every row must have {len(header)} columns.")
    lower = [h.lower() for h in header]
    target = next((lower.index(c) for c in _TARGET_COLUMNS if c in lower), None)
    split_col = lower.index("split") if "split" in lower else None
    candidates = [i for i in range(len(header)) if i != split_col]
    if target is None and candidates:
        target = max(candidates)
    features = [i for i in range(len(header)) if i not in (target, split_col)]
    if not features:
        raise DataFileError(path, "has no feature column.")
    columns = np.asarray(body, dtype=object)
    names = ", ".join(header[i] for i in features)
    X = _check_features(columns[:, features], path, f"feature columns ({names})")
    y = _as_labels([v.strip() for v in columns[:, target]])
    if split_col is None:
        # scikit-learn is imported here: ``import sksparse.datasets`` stays
        # free of it.
        from sklearn.model_selection import train_test_split

        try:
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=test_size, random_state=random_state, stratify=y
            )
        except ValueError as exc:
            raise DataFileError(path, f"cannot be split ({exc})") from None
        return X_train, y_train, X_test, y_test
    split = np.char.lower(columns[:, split_col].astype(str))
    unknown = sorted(set(split) - {"train", "test"})
    if unknown:
        raise DataFileError(
            path, f"the split column holds 'train' or 'test', got {unknown[0]!r}."
        )
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise DataFileError(path, "the split column needs train and test rows.")
    return X[train], y[train], X[test], y[test]


def _subsample(split, n_samples):
    if n_samples is None:
        return split
    X_train, y_train, X_test, y_test = split
    n_test = max(1, round(len(X_test) * min(n_samples, len(X_train)) / len(X_train)))
    return X_train[:n_samples], y_train[:n_samples], X_test[:n_test], y_test[:n_test]


def load_dataset(data, *, n_samples=None, root=None, random_state=0, test_size=0.25):
    """Load a data set by name (:data:`DATASETS`) or from a ``.npz``/``.csv`` file.

    Returns ``(X_train, y_train, X_test, y_test)`` with ``X`` float32 of shape
    ``(n, n_features)``. Raises ``FileNotFoundError`` for a missing file or
    image folder, a ``ValueError`` (:class:`DataFileError` for a file's
    contents) otherwise, each with a one-line message.
    """
    from sksparse.datasets._images import load_digits

    n_samples = _check_n_samples(n_samples)
    name = str(data)
    if name == "digits":
        split = load_digits(
            random_state=random_state, n_samples=n_samples, test_size=test_size
        )
    elif name == "fashion-mnist":
        split = load_fashion_mnist(root, n_samples=n_samples)
    elif name == "mnist":
        split = load_mnist(root, n_samples=n_samples)
    else:
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(
                f"data {name!r} is neither one of {', '.join(DATASETS)} nor a file."
            )
        if path.suffix.lower() == ".npz":
            split = read_npz(path)
        elif path.suffix.lower() == ".csv":
            split = read_csv(path, random_state=random_state, test_size=test_size)
        else:
            raise ValueError(
                f"data file {name!r} must be a .npz or a .csv file, "
                f"got {path.suffix or 'no extension'}."
            )
        split = _subsample(split, n_samples)
    X_train, y_train, X_test, y_test = split
    X_train = np.asarray(X_train, dtype=np.float32).reshape(len(X_train), -1)
    X_test = np.asarray(X_test, dtype=np.float32).reshape(len(X_test), -1)
    return X_train, np.asarray(y_train), X_test, np.asarray(y_test)
