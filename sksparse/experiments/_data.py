"""Data sets for the experiments: by name, or from a ``.npz``/``.csv`` file."""

import csv
from pathlib import Path

import numpy as np

from sksparse import datasets

__all__ = ["DATASETS", "load_dataset"]

#: Data set names :func:`load_dataset` knows; anything else is a file path.
DATASETS = ("digits", "fashion-mnist", "mnist")

_TARGET_COLUMNS = ("target", "label", "y", "class")


def load_dataset(data, *, n_samples=None, root=None, random_state=0, test_size=0.25):
    """Load a classification data set by name or from a file, split for testing.

    Parameters
    ----------
    data : str or path-like
        ``"digits"`` (bundled with scikit-learn), ``"fashion-mnist"`` or
        ``"mnist"`` (read through :mod:`sksparse.datasets`), or the path of a
        file:

        - ``.npz``: arrays ``X_train``, ``y_train``, ``X_test``, ``y_test``
          (``X`` of any shape; each sample is flattened);
        - ``.csv``: a header row, then one sample per row of numbers. The
          target is the column named ``target``, ``label``, ``y`` or
          ``class`` (the first found), else the last column. A column named
          ``split`` with values ``train``/``test`` assigns the rows; without
          one, a stratified ``test_size`` share is held out.
    n_samples : int, default=None
        Keep only the first ``n_samples`` training samples and a
        proportional number of test samples; None keeps all.
    root : str, default=None
        Folder of the MNIST/Fashion-MNIST files (see
        :func:`sksparse.datasets.load_fashion_mnist`).
    random_state : int, default=0
        Seeds the digits and CSV splits.
    test_size : float, default=0.25
        Share held out when a data set comes without a split.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
        ``X`` float32 of shape ``(n, n_features)``.

    Raises
    ------
    FileNotFoundError
        If a path does not exist or the image files are missing.
    ValueError
        If a file lacks an array or column, or ``n_samples`` is invalid.

    Examples
    --------
    >>> from sksparse.experiments import load_dataset
    >>> X, y, X_test, y_test = load_dataset("digits", n_samples=100)
    >>> X.shape, X_test.shape
    ((100, 64), (33, 64))
    """
    if n_samples is not None and (
        isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1
    ):
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}.")
    name = str(data)
    if name == "digits":
        split = datasets.load_digits(
            random_state=random_state, n_samples=n_samples, test_size=test_size
        )
    elif name == "fashion-mnist":
        split = datasets.load_fashion_mnist(root, n_samples=n_samples)
    elif name == "mnist":
        split = datasets.load_mnist(root, n_samples=n_samples)
    else:
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(
                f"data {name!r} is neither one of {', '.join(DATASETS)} nor a file."
            )
        if path.suffix.lower() == ".npz":
            split = _load_npz(path)
        elif path.suffix.lower() == ".csv":
            split = _load_csv(path, random_state=random_state, test_size=test_size)
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


def _load_npz(path):
    keys = ("X_train", "y_train", "X_test", "y_test")
    with np.load(path, allow_pickle=False) as archive:
        missing = [k for k in keys if k not in archive.files]
        if missing:
            raise ValueError(
                f"{path} lacks the arrays {', '.join(missing)}; a .npz data file "
                f"holds {', '.join(keys)}."
            )
        return tuple(archive[k] for k in keys)


def _as_labels(values):
    """Integer labels where every value is an integer, else the strings."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except ValueError:
        return np.asarray(values)
    if np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return np.asarray(values)


def _load_csv(path, *, random_state, test_size):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ValueError(f"{path} needs a header row and at least one sample.")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if r]
    if any(len(r) != len(header) for r in body):
        raise ValueError(f"{path}: every row must have {len(header)} columns.")
    lower = [h.lower() for h in header]
    target = next((lower.index(c) for c in _TARGET_COLUMNS if c in lower), None)
    split_col = lower.index("split") if "split" in lower else None
    if target is None:
        target = max(i for i in range(len(header)) if i != split_col)
    features = [i for i in range(len(header)) if i not in (target, split_col)]
    if not features:
        raise ValueError(f"{path} has no feature column.")
    columns = np.asarray(body, dtype=object)
    try:
        X = columns[:, features].astype(np.float32)
    except ValueError:
        raise ValueError(
            f"{path}: feature columns must hold numbers "
            f"({', '.join(header[i] for i in features)})."
        ) from None
    y = _as_labels([v.strip() for v in columns[:, target]])
    if split_col is None:
        from sklearn.model_selection import train_test_split

        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=random_state, stratify=y
        )
        return X_train, y_train, X_test, y_test
    split = np.char.lower(columns[:, split_col].astype(str))
    unknown = sorted(set(split) - {"train", "test"})
    if unknown:
        raise ValueError(
            f"{path}: the split column holds 'train' or 'test', got {unknown[0]!r}."
        )
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise ValueError(f"{path}: the split column needs train and test rows.")
    return X[train], y[train], X[test], y[test]


def _subsample(split, n_samples):
    if n_samples is None:
        return split
    X_train, y_train, X_test, y_test = split
    n_test = max(1, round(len(X_test) * min(n_samples, len(X_train)) / len(X_train)))
    return X_train[:n_samples], y_train[:n_samples], X_test[:n_test], y_test[:n_test]
