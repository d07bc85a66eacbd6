"""Image data sets as numpy arrays: digits, MNIST, Fashion-MNIST and CIFAR-10.

Every loader returns ``(X_train, y_train, X_test, y_test)`` with ``X`` float32 in
``[0, 1]`` and ``y`` int64. Files are read from disk; a loader downloads (through
torchvision) only when called with ``download=True``, so that nothing touches the
network unless asked to.
"""

import gzip
import math
import os
import pickle
from pathlib import Path

import numpy as np

__all__ = ["load_cifar10", "load_digits", "load_fashion_mnist", "load_mnist"]

# Where Debian's ``dataset-fashion-mnist`` package installs the four gzipped IDX
# files (``apt-get install dataset-fashion-mnist``).
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

_IDX_FILES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# IDX type codes (http://yann.lecun.com/exdb/mnist/): all multi-byte values are
# big-endian, hence the ">" in the dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_TEST_BATCH = "test_batch"


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
        or not isinstance(n_samples, int | np.integer)
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


def _read_idx(path, max_items=None, *, header_only=False):
    """Read an IDX file (the MNIST format), gzipped or not, into a numpy array.

    With ``max_items`` only the first entries along the first axis are read (for
    a gzipped file, only what is needed is decompressed). With ``header_only``
    the shape is returned instead of the data.
    """
    # IDX is parsed here rather than by torchvision's ``read_image_file``:
    # torchvision's reader opens files with a plain ``open`` (no gzip) and its
    # datasets expect their own ``<root>/<Name>/raw`` layout, whereas Debian
    # ships the files gzipped in a flat folder. Reading them directly also keeps
    # torchvision (seconds to import) out of the offline path.
    path = Path(path)
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as f:
        # Magic: two zero bytes, the type code, the number of dimensions; then
        # one big-endian uint32 per dimension (2051 = ubyte images, 2049 = labels).
        magic = f.read(4)
        if len(magic) != 4 or magic[:2] != b"\x00\x00" or magic[2] not in _IDX_DTYPES:
            raise ValueError(f"{path} is not an IDX file (magic bytes {magic!r}).")
        dtype, ndim = _IDX_DTYPES[magic[2]], magic[3]
        shape = [int(n) for n in np.frombuffer(f.read(4 * ndim), dtype=">u4")]
        if len(shape) != ndim:
            raise ValueError(f"{path} is truncated in its header.")
        if header_only:
            return tuple(shape)
        if max_items is not None and ndim > 0:
            shape[0] = min(shape[0], int(max_items))
        count = math.prod(shape)
        data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError(
            f"{path} is truncated: expected {count} values of shape {tuple(shape)}."
        )
    # ``astype`` copies: the result is writable and in native byte order.
    return (
        np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)
    )


def _find_file(folder, name):
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _find_idx_files(folders):
    """First folder holding all four IDX files, as ``{key: path}``, or None."""
    for folder in folders:
        paths = {key: _find_file(folder, name) for key, name in _IDX_FILES.items()}
        if all(paths.values()):
            return paths
    return None


def _candidate_folders(roots, torchvision_name):
    """Each root as a flat folder, then in torchvision's ``<root>/<Name>/raw``."""
    folders = []
    for root in roots:
        root = Path(root).expanduser()
        folders += [root, root / torchvision_name / "raw"]
    return folders


def _download_with_torchvision(class_name, root, **kwargs):
    """Instantiate ``torchvision.datasets.<class_name>`` with ``download=True``.

    Any failure (no network, a checksum mismatch, a read-only folder) is
    returned as the exception rather than raised, so that the caller can report
    it together with where it looked.
    """
    try:
        # torchvision is imported here: it takes seconds and is only needed to
        # download.
        from torchvision import datasets

        getattr(datasets, class_name)(str(root), download=True, **kwargs)
    except Exception as exc:
        return exc
    return None


def _not_found(name, folders, expected, hint, error=None):
    looked = "\n".join(f"  - {folder}" for folder in folders)
    message = (
        f"{name} was not found. Looked in:\n{looked}\n"
        f"for the files: {', '.join(expected)}.\n{hint}"
    )
    if error is not None:
        message += f"\nThe download failed with: {error!r}"
    return FileNotFoundError(message)


def _finish(X_train, y_train, X_test, y_test, *, scale, shape, flatten):
    """Scale to float32 in [0, 1], reshape, and cast labels to int64."""
    arrays = []
    for X, y in ((X_train, y_train), (X_test, y_test)):
        X = np.asarray(X, dtype=np.float32).reshape((len(X), *shape)) / scale
        if flatten:
            X = X.reshape(len(X), -1)
        arrays += [X, np.asarray(y, dtype=np.int64)]
    return tuple(arrays)


def _load_idx_dataset(
    name, torchvision_name, root, *, flatten, download, n_samples, fallbacks, hint
):
    n_samples = _check_n_samples(n_samples)
    home = Path(root).expanduser() if root is not None else _data_home()
    folders = _candidate_folders([home, *fallbacks], torchvision_name)
    paths = _find_idx_files(folders)
    error = None
    if paths is None and download:
        error = _download_with_torchvision(torchvision_name, home, train=True)
        if error is None:
            error = _download_with_torchvision(torchvision_name, home, train=False)
        paths = _find_idx_files(_candidate_folders([home], torchvision_name))
    if paths is None:
        expected = [f"{file}[.gz]" for file in _IDX_FILES.values()]
        raise _not_found(name, folders, expected, hint, error)

    y_train = _read_idx(paths["y_train"], max_items=n_samples)
    X_train = _read_idx(paths["X_train"], max_items=len(y_train))
    n_test = None
    if n_samples is not None:
        # The headers give the full sizes without reading the data.
        n_train_total = _read_idx(paths["y_train"], header_only=True)[0]
        n_test_total = _read_idx(paths["y_test"], header_only=True)[0]
        n_test = _n_test_for(n_samples, n_train_total, n_test_total)
    y_test = _read_idx(paths["y_test"], max_items=n_test)
    X_test = _read_idx(paths["X_test"], max_items=len(y_test))
    if len(X_train) != len(y_train) or len(X_test) != len(y_test):
        raise ValueError(f"{name}: images and labels differ in number in {paths}.")
    return _finish(
        X_train,
        y_train,
        X_test,
        y_test,
        scale=255.0,
        shape=(1, *X_train.shape[1:]),
        flatten=flatten,
    )


_COMMON_PARAMS = """
    flatten : bool, default={flatten}
        If True, ``X`` has shape ``(n, {n_features})``; else ``({image_shape})``.
    download : bool, default=False
        If the files are found nowhere, download them through
        ``torchvision.datasets.{torchvision_name}`` into ``root`` (or into
        ``$SKSPARSE_DATA``, default ``~/sksparse_data``, when ``root`` is None).
    n_samples : int, default=None
        Keep only the first ``n_samples`` training samples and a proportional
        number of the first test samples, for quick runs. None keeps all.

    Returns
    -------
    X_train : ndarray of shape (n_train, {n_features}) or (n_train, {image_shape_n})
        Training images, float32 in [0, 1].
    y_train : ndarray of shape (n_train,)
        Training labels, int64 in 0..9.
    X_test : ndarray of shape (n_test, {n_features}) or (n_test, {image_shape_n})
        Test images, float32 in [0, 1].
    y_test : ndarray of shape (n_test,)
        Test labels, int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        If the files are not found and ``download`` is False or the download
        fails. The message lists the folders searched and the files expected.
"""


def _docstring(**kwargs):
    """Share the parameter text of the loaders (imbalanced-learn's Substitution)."""

    def decorate(func):
        if func.__doc__:  # None under ``python -OO``
            func.__doc__ = func.__doc__.format(
                common=_COMMON_PARAMS.format(**kwargs).strip()
            )
        return func

    return decorate


@_docstring(
    flatten=True,
    n_features=784,
    image_shape="n, 1, 28, 28",
    image_shape_n="1, 28, 28",
    torchvision_name="FashionMNIST",
)
def load_fashion_mnist(root=None, *, flatten=True, download=False, n_samples=None):
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28x28 images, 10 classes.

    Looks for the IDX files, plain or gzipped, first in ``root`` (flat, or in
    torchvision's layout ``root/FashionMNIST/raw``), then in
    ``/usr/share/datasets/fashion-mnist`` where Debian's package
    ``dataset-fashion-mnist`` installs them, and downloads only when
    ``download=True``.

    Parameters
    ----------
    root : str or path-like, default=None
        Folder holding the IDX files. None means ``$SKSPARSE_DATA`` (default
        ``~/sksparse_data``).
    {common}

    See Also
    --------
    load_mnist : Handwritten digits in the same format.

    References
    ----------
    H. Xiao, K. Rasul and R. Vollgraf, "Fashion-MNIST: a novel image dataset for
    benchmarking machine learning algorithms", arXiv:1708.07747, 2017.

    Examples
    --------
    >>> from sksparse.datasets import load_fashion_mnist
    >>> X_train, y_train, X_test, y_test = load_fashion_mnist(
    ...     n_samples=600)  # doctest: +SKIP
    >>> X_train.shape, X_test.shape  # doctest: +SKIP
    ((600, 784), (100, 784))
    """
    return _load_idx_dataset(
        "Fashion-MNIST",
        "FashionMNIST",
        root,
        flatten=flatten,
        download=download,
        n_samples=n_samples,
        fallbacks=[DEBIAN_FASHION_MNIST_DIR],
        hint=(
            "Pass root=<folder with the files>, install them with "
            "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
            "or pass download=True on a machine with internet access."
        ),
    )


@_docstring(
    flatten=True,
    n_features=784,
    image_shape="n, 1, 28, 28",
    image_shape_n="1, 28, 28",
    torchvision_name="MNIST",
)
def load_mnist(root=None, *, flatten=True, download=False, n_samples=None):
    """Load MNIST (LeCun et al. 1998): 28x28 handwritten digits, 10 classes.

    Looks for the IDX files, plain or gzipped, in ``root`` (flat, or in
    torchvision's layout ``root/MNIST/raw``), and downloads only when
    ``download=True``.

    Parameters
    ----------
    root : str or path-like, default=None
        Folder holding the IDX files. None means ``$SKSPARSE_DATA`` (default
        ``~/sksparse_data``).
    {common}

    See Also
    --------
    load_fashion_mnist : Clothing images in the same format.
    load_digits : Small 8x8 digits bundled with scikit-learn, no files needed.

    References
    ----------
    Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning
    applied to document recognition", Proc. IEEE 86(11), 1998.

    Examples
    --------
    >>> from sksparse.datasets import load_mnist
    >>> X_train, y_train, X_test, y_test = load_mnist(
    ...     "data", download=True, n_samples=600)  # doctest: +SKIP
    >>> X_train.shape, X_test.shape  # doctest: +SKIP
    ((600, 784), (100, 784))
    """
    return _load_idx_dataset(
        "MNIST",
        "MNIST",
        root,
        flatten=flatten,
        download=download,
        n_samples=n_samples,
        fallbacks=[],
        hint=(
            "Pass root=<folder with the files>, or pass download=True on a "
            "machine with internet access."
        ),
    )


def _read_cifar_batch(path):
    # The batches are Python pickles (the format CIFAR-10 is distributed in);
    # ``latin1`` decodes the Python 2 byte strings, as torchvision does.
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    labels = entry["labels"] if "labels" in entry else entry["fine_labels"]
    return np.asarray(entry["data"], dtype=np.uint8), np.asarray(labels)


def _read_cifar_batches(paths, max_items):
    X, y, n = [], [], 0
    for path in paths:
        if max_items is not None and n >= max_items:
            break
        X_batch, y_batch = _read_cifar_batch(path)
        X.append(X_batch)
        y.append(y_batch)
        n += len(y_batch)
    X, y = np.concatenate(X), np.concatenate(y)
    return X[:max_items], y[:max_items]


@_docstring(
    flatten=False,
    n_features=3072,
    image_shape="n, 3, 32, 32",
    image_shape_n="3, 32, 32",
    torchvision_name="CIFAR10",
)
def load_cifar10(root=None, *, flatten=False, download=False, n_samples=None):
    """Load CIFAR-10 (Krizhevsky 2009): 32x32 colour images, 10 classes.

    Reads the pickled batches of the python version from
    ``root/cifar-10-batches-py`` (or from ``root`` itself if it holds them), and
    downloads through ``torchvision.datasets.CIFAR10`` only when
    ``download=True``. Images are channel-first, as PyTorch expects.

    Parameters
    ----------
    root : str or path-like, default=None
        Folder holding ``cifar-10-batches-py``. None means ``$SKSPARSE_DATA``
        (default ``~/sksparse_data``).
    {common}

    Notes
    -----
    The batches are read here rather than through ``torchvision.datasets.CIFAR10``:
    torchvision refuses any batch whose md5 differs from the official one
    (``CIFAR10._check_integrity``), which rejects re-packed or test-written
    files, and it converts the images to height-width-channel order that we
    would convert back. The file format is the same.

    References
    ----------
    A. Krizhevsky, "Learning multiple layers of features from tiny images",
    technical report, University of Toronto, 2009.

    Examples
    --------
    >>> from sksparse.datasets import load_cifar10
    >>> X_train, y_train, X_test, y_test = load_cifar10(
    ...     "data", download=True, n_samples=500)  # doctest: +SKIP
    >>> X_train.shape, X_test.shape  # doctest: +SKIP
    ((500, 3, 32, 32), (100, 3, 32, 32))
    """
    n_samples = _check_n_samples(n_samples)
    home = Path(root).expanduser() if root is not None else _data_home()
    expected = [*_CIFAR10_TRAIN_BATCHES, _CIFAR10_TEST_BATCH]

    def find():
        for folder in (home / _CIFAR10_FOLDER, home):
            if all((folder / name).is_file() for name in expected):
                return folder
        return None

    folder, error = find(), None
    if folder is None and download:
        error = _download_with_torchvision("CIFAR10", home, train=True)
        folder = find()
    if folder is None:
        raise _not_found(
            "CIFAR-10",
            [home / _CIFAR10_FOLDER, home],
            expected,
            "Pass root=<folder holding cifar-10-batches-py> (the python version, "
            "cifar-10-python.tar.gz, extracted), or pass download=True on a "
            "machine with internet access.",
            error,
        )

    X_train, y_train = _read_cifar_batches(
        [folder / name for name in _CIFAR10_TRAIN_BATCHES], n_samples
    )
    n_test = None
    if n_samples is not None:
        # CIFAR-10 has 50000 training and 10000 test images.
        n_test = _n_test_for(n_samples, 50_000, 10_000)
    X_test, y_test = _read_cifar_batches([folder / _CIFAR10_TEST_BATCH], n_test)
    return _finish(
        X_train,
        y_train,
        X_test,
        y_test,
        scale=255.0,
        shape=(3, 32, 32),
        flatten=flatten,
    )


def load_digits(*, test_size=0.25, flatten=True, random_state=0, n_samples=None):
    """Load scikit-learn's bundled 8x8 handwritten digits, split for training.

    1797 images of 10 classes, shipped with scikit-learn, so no files or network
    are needed: the default data set for demos and smoke tests.

    Parameters
    ----------
    test_size : float or int, default=0.25
        Fraction (float) or number (int) of samples held out for testing, in a
        split stratified by class.
    flatten : bool, default=True
        If True, ``X`` has shape ``(n, 64)``; else ``(n, 1, 8, 8)``.
    random_state : int, RandomState instance or None, default=0
        Seeds the shuffle of the split.
    n_samples : int, default=None
        Keep only the first ``n_samples`` training samples (of the shuffled
        split) and a proportional number of test samples. None keeps all.

    Returns
    -------
    X_train : ndarray of shape (n_train, 64) or (n_train, 1, 8, 8)
        Training images, float32 in [0, 1] (pixel values 0..16 divided by 16).
    y_train : ndarray of shape (n_train,)
        Training labels, int64 in 0..9.
    X_test : ndarray of shape (n_test, 64) or (n_test, 1, 8, 8)
        Test images, float32 in [0, 1].
    y_test : ndarray of shape (n_test,)
        Test labels, int64 in 0..9.

    See Also
    --------
    sklearn.datasets.load_digits : The raw data.

    Examples
    --------
    >>> from sksparse.datasets import load_digits
    >>> X_train, y_train, X_test, y_test = load_digits()
    >>> X_train.shape, X_test.shape, X_train.dtype, y_train.dtype
    ((1347, 64), (450, 64), dtype('float32'), dtype('int64'))
    """
    # scikit-learn is imported here so that ``import sksparse.datasets`` stays
    # free of it (see STYLE.md, section 1).
    from sklearn.datasets import load_digits as sklearn_load_digits
    from sklearn.model_selection import train_test_split

    n_samples = _check_n_samples(n_samples)
    X, y = sklearn_load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )
    if n_samples is not None:
        n_test = _n_test_for(n_samples, len(y_train), len(y_test))
        X_train, y_train = X_train[:n_samples], y_train[:n_samples]
        X_test, y_test = X_test[:n_test], y_test[:n_test]
    return _finish(
        X_train, y_train, X_test, y_test, scale=16.0, shape=(1, 8, 8), flatten=flatten
    )
