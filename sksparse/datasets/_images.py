"""Image data sets as numpy arrays: digits, MNIST, Fashion-MNIST and CIFAR-10.

Every loader returns ``(X_train, y_train, X_test, y_test)`` with ``X`` float32 in
``[0, 1]`` and ``y`` int64. Files are read from disk; a loader downloads (through
torchvision) only when called with ``download=True``, so that nothing touches the
network unless asked to.
"""

import logging
from pathlib import Path

import numpy as np

from sksparse.datasets._cifar import read_cifar_batches
from sksparse.datasets._idx import read_idx
from sksparse.datasets._validation import (
    DataFileError,
    _check_labels,
    _check_n_samples,
    _check_pixels,
    _data_home,
    _n_test_for,
    _scale_images,
)

__all__ = ["load_cifar10", "load_digits", "load_fashion_mnist", "load_mnist"]

logger = logging.getLogger(__name__)

# Where Debian's ``dataset-fashion-mnist`` package installs the four gzipped IDX
# files (``apt-get install dataset-fashion-mnist``). Read only when no ``root``
# is given: a root names the one folder to use.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

_IDX_FILES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_IMAGE_SHAPE = (28, 28)
_N_CLASSES = 10

_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_TEST_BATCH = "test_batch"


def _find_file(folder, name, *, gz):
    for candidate in (folder / name, folder / f"{name}.gz") if gz else [folder / name]:
        if candidate.is_file():
            return candidate
    return None


def _find_files(folders, names, *, gz):
    """The first folder holding all ``names`` as ``{name: path}``, and the gaps.

    Returns ``(paths, gaps)``: ``paths`` is None when no folder is complete;
    ``gaps`` says of each folder what it lacks, for the error message.
    """
    gaps = []
    for folder in folders:
        if not folder.is_dir():
            gaps.append(f"{folder} is not a folder")
            continue
        paths = {name: _find_file(folder, name, gz=gz) for name in names}
        missing = [name for name, path in paths.items() if path is None]
        if not missing:
            return paths, gaps
        suffix = "[.gz]" if gz else ""
        gaps.append(f"{folder} lacks {', '.join(n + suffix for n in missing)}")
    return None, gaps


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


def _not_found(name, root, gaps, expected, hint, error=None):
    """One line: which root, what each folder lacks, how to fix it."""
    where = f"root={str(root)!r}" if root is not None else "root=None"
    message = (
        f"{name} was not found ({where}): {'; '.join(gaps)}. The files are "
        f"{', '.join(expected)}. {hint}"
    )
    if error is not None:
        message += f" The download failed with: {error!r}"
    return FileNotFoundError(message)


def _locate(name, root, folders, names, *, gz, download, fetch, hint):
    """Find the files in ``folders``, downloading through ``fetch`` if asked."""
    paths, gaps = _find_files(folders, names, gz=gz)
    error = None
    if paths is None and download:
        error = fetch()
        paths, _ = _find_files(folders, names, gz=gz)
    if paths is None:
        suffix = "[.gz]" if gz else ""
        expected = [file + suffix for file in names]
        raise _not_found(name, root, gaps, expected, hint, error)
    logger.info("%s: reading %s", name, next(iter(paths.values())).parent)
    return paths


def _read_idx_split(paths, n_samples):
    """Train and test images and labels of four IDX files, checked together."""
    y_train, n_train = read_idx(paths["y_train"], ndim=1, max_items=n_samples)
    # The test labels are read whole (10,000 bytes for MNIST) to learn their
    # count, which sets the proportional test size.
    y_test, n_test = read_idx(paths["y_test"], ndim=1)
    n_test_kept = _n_test_for(n_samples, n_train, n_test)
    y_test = y_test[:n_test_kept]
    split = {}
    for key, y, n in (("train", y_train, n_train), ("test", y_test, n_test)):
        path = paths[f"X_{key}"]
        X, n_images = read_idx(path, ndim=3, max_items=len(y))
        if n_images != n:
            raise DataFileError(
                path, f"holds {n_images} images but {paths[f'y_{key}']} {n} labels."
            )
        if X.shape[1:] != _IDX_IMAGE_SHAPE:
            raise DataFileError(
                path, f"images must be 28x28, got {X.shape[1]}x{X.shape[2]}."
            )
        split[f"X_{key}"] = _check_pixels(X, path)
        split[f"y_{key}"] = _check_labels(y, _N_CLASSES, paths[f"y_{key}"])
    return split


def _load_idx_dataset(
    name, torchvision_name, root, *, flatten, download, n_samples, system_dir, hint
):
    n_samples = _check_n_samples(n_samples)
    home = Path(root).expanduser() if root is not None else _data_home()
    # A root is that folder only (flat, or torchvision's ``<root>/<Name>/raw``):
    # falling back to a system copy would train on other data than the user's.
    folders = [home, home / torchvision_name / "raw"]
    if root is None and system_dir is not None:
        folders.append(Path(system_dir))

    def fetch():
        error = _download_with_torchvision(torchvision_name, home, train=True)
        return error or _download_with_torchvision(torchvision_name, home, train=False)

    paths = _locate(
        name,
        root,
        folders,
        list(_IDX_FILES.values()),
        gz=True,
        download=download,
        fetch=fetch,
        hint=hint,
    )
    split = _read_idx_split(
        {key: paths[file] for key, file in _IDX_FILES.items()}, n_samples
    )
    shape = (1, *_IDX_IMAGE_SHAPE)
    return (
        _scale_images(split["X_train"], shape, scale=255.0, flatten=flatten),
        split["y_train"],
        _scale_images(split["X_test"], shape, scale=255.0, flatten=flatten),
        split["y_test"],
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
        fails. The message, one line, names ``root``, what each folder searched
        lacks, and how to get the files.
    ValueError
        If a file is not what its format promises ({bad_file}). The error is
        a ``DataFileError``, a ``ValueError`` whose one-line message starts
        with the file's path.
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
    bad_file=(
        "a bad magic number or type code, a size other than the header claims, "
        "a corrupt gzip stream, images and labels that differ in number, labels "
        "outside 0..9, float pixels or pixels outside 0..255"
    ),
)
def load_fashion_mnist(root=None, *, flatten=True, download=False, n_samples=None):
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28x28 images, 10 classes.

    Reads the IDX files, plain or gzipped, from ``root`` (flat, or in
    torchvision's layout ``root/FashionMNIST/raw``) and from there only. Without
    a ``root`` it looks in ``$SKSPARSE_DATA`` (default ``~/sksparse_data``), then
    in ``/usr/share/datasets/fashion-mnist`` where Debian's package
    ``dataset-fashion-mnist`` installs them. It downloads only when
    ``download=True``; the folder read is logged (``logging``, level INFO).

    Parameters
    ----------
    root : str or path-like, default=None
        Folder holding the IDX files; a folder without all four is an error,
        never a reason to read another copy. None means ``$SKSPARSE_DATA``,
        then the Debian package's folder.
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
        system_dir=DEBIAN_FASHION_MNIST_DIR,
        hint=(
            "Pass root=<folder with the four files>, or root=None to read "
            f"{DEBIAN_FASHION_MNIST_DIR} (`apt-get install dataset-fashion-mnist` "
            "on Debian/Ubuntu), or download=True on a machine with internet "
            "access."
        ),
    )


@_docstring(
    flatten=True,
    n_features=784,
    image_shape="n, 1, 28, 28",
    image_shape_n="1, 28, 28",
    torchvision_name="MNIST",
    bad_file=(
        "a bad magic number or type code, a size other than the header claims, "
        "a corrupt gzip stream, images and labels that differ in number, labels "
        "outside 0..9, float pixels or pixels outside 0..255"
    ),
)
def load_mnist(root=None, *, flatten=True, download=False, n_samples=None):
    """Load MNIST (LeCun et al. 1998): 28x28 handwritten digits, 10 classes.

    Reads the IDX files, plain or gzipped, from ``root`` (flat, or in
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
        system_dir=None,
        hint=(
            "Pass root=<folder with the four files>, or download=True on a "
            "machine with internet access."
        ),
    )


@_docstring(
    flatten=False,
    n_features=3072,
    image_shape="n, 3, 32, 32",
    image_shape_n="3, 32, 32",
    torchvision_name="CIFAR10",
    bad_file=(
        "not a batch, globals other than numpy arrays in the pickle, images "
        "and labels that differ in number, labels outside 0..9, float pixels or "
        "pixels outside 0..255"
    ),
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
    paths = _locate(
        "CIFAR-10",
        root,
        [home / _CIFAR10_FOLDER, home],
        [*_CIFAR10_TRAIN_BATCHES, _CIFAR10_TEST_BATCH],
        gz=False,
        download=download,
        fetch=lambda: _download_with_torchvision("CIFAR10", home, train=True),
        hint="Pass root=<folder holding cifar-10-batches-py> (the python version, "
        "cifar-10-python.tar.gz, extracted), or download=True on a machine with "
        "internet access.",
    )
    X_train, y_train = read_cifar_batches(
        [paths[name] for name in _CIFAR10_TRAIN_BATCHES], n_samples
    )
    n_test = None
    if n_samples is not None:
        # CIFAR-10 has 50000 training and 10000 test images.
        n_test = _n_test_for(n_samples, 50_000, 10_000)
    X_test, y_test = read_cifar_batches([paths[_CIFAR10_TEST_BATCH]], n_test)
    return (
        _scale_images(X_train, (3, 32, 32), scale=255.0, flatten=flatten),
        y_train,
        _scale_images(X_test, (3, 32, 32), scale=255.0, flatten=flatten),
        y_test,
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
    # free of it: the data sets sit on a floor below the estimators.
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
    return (
        _scale_images(X_train, (1, 8, 8), scale=16.0, flatten=flatten),
        y_train.astype(np.int64),
        _scale_images(X_test, (1, 8, 8), scale=16.0, flatten=flatten),
        y_test.astype(np.int64),
    )
