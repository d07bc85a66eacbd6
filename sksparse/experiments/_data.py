"""Data sets for the experiments: by name, or from a ``.npz``/``.csv`` file.

The reading and its checks (CRC, sizes, labels, a CSV's byte-order mark)
live in :mod:`sksparse.datasets`; this is the experiments' documented door.
"""

from sksparse.datasets._files import DATASETS
from sksparse.datasets._files import load_dataset as _load_dataset

__all__ = ["DATASETS", "load_dataset"]


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
    return _load_dataset(
        data,
        n_samples=n_samples,
        root=root,
        random_state=random_state,
        test_size=test_size,
    )
