"""``save`` and ``load``: a fitted sksparse estimator without pickle.

``joblib.load`` and ``pickle.load`` run whatever code a file names; a model
shared between people is then a program they execute. This format stores data
only: the class as a name looked up in an allow-list of sksparse's own
estimators (never imported by name), the parameters and fitted attributes as
JSON, the module's tensors in safetensors. Loading constructs the estimator
from its parameters, validates them as ``fit`` would, rebuilds the module with
the estimator's own ``_build_module`` and loads the saved state dict into it.
"""

import warnings

import torch

import sksparse
from sksparse.io._file import (
    FORMAT,
    pack_masks,
    read_file,
    unpack_masks,
    write_file,
)
from sksparse.io._json import decode, encode

__all__ = ["load", "save"]

# Set by fit but rebuilt on load rather than stored: the skorch net, and the
# structure a warm start compares with (recomputed from the parameters).
_REBUILT = {"net_", "_fitted_structure"}


def _allowed():
    """``{name: class}`` of the estimators the format stores and loads."""
    from sksparse.estimators import (
        GraphPriorRNNClassifier,
        SparseCNNClassifier,
        SparseMLPClassifier,
        SparseMLPRegressor,
    )

    classes = [
        SparseMLPClassifier,
        SparseMLPRegressor,
        SparseCNNClassifier,
        GraphPriorRNNClassifier,
    ]
    return {f"sksparse.estimators.{c.__name__}": c for c in classes}


def _versions():
    import sklearn
    import skorch

    return {
        "sksparse": sksparse.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
    }


def save(estimator, path):
    """Write ``estimator`` to ``path`` as one file that loads without running code.

    The file is a `safetensors <https://huggingface.co/docs/safetensors>`_
    file (suffix ``.sksparse`` by convention): its tensors are the network's
    state dict (0/1 masks bit-packed, 8 per byte), and its metadata a JSON
    document with the estimator's class, ``get_params()``, the fitted
    attributes prediction needs, the package versions and a sha256 hash of
    the content. It is written to a temporary file in ``path``'s folder and
    renamed over ``path``, so a reader never sees half a file.

    Parameters
    ----------
    estimator : SparseMLPClassifier, SparseMLPRegressor, SparseCNNClassifier \
            or GraphPriorRNNClassifier
        Fitted or not. Its parameters must be JSON data (None, bool, numbers,
        strings, and lists, tuples and dicts of them): a graph, a callable,
        an optimizer class or callbacks cannot be stored.
    path : str or path-like

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If the estimator's class is not one the format stores, it is a
        compressed copy (save the uncompressed estimator and call
        ``compress`` after loading), or a parameter or fitted attribute is
        not JSON data; the message names it.

    See Also
    --------
    load

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sksparse import SparseMLPClassifier
    >>> from sksparse.io import load, save
    >>> X = np.random.default_rng(0).normal(size=(40, 4))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = SparseMLPClassifier((8,), sparsity=0.5, max_epochs=2,
    ...                           random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "clf.sksparse")
    >>> _ = save(clf, path)
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    allowed = {cls: name for name, cls in _allowed().items()}
    name = allowed.get(type(estimator))
    if name is None:
        raise TypeError(
            f"save stores {sorted(allowed.values())}, got "
            f"{type(estimator).__name__}; save it with joblib.dump instead."
        )
    params = {
        key: encode(value, f"parameter {key!r}")
        for key, value in estimator.get_params(deep=False).items()
    }
    document = {
        "format": FORMAT,
        "class": name,
        "params": params,
        "fitted": hasattr(estimator, "net_"),
        "versions": _versions(),
    }
    tensors = {}
    if document["fitted"]:
        from sksparse.nn import CompressedNetwork

        module = estimator.net_.module_
        if isinstance(module, CompressedNetwork):
            raise TypeError(
                "save stores the masked network, not a compressed copy: save "
                "the estimator before compress() and call compress() after load."
            )
        skip = _REBUILT | set(params)
        document["attributes"] = {
            key: encode(value, f"fitted attribute {key!r}")
            for key, value in vars(estimator).items()
            if key not in skip
        }
        tensors, document["packed"] = pack_masks(module.state_dict())
    return write_file(path, document, tensors)


def load(path):
    """The estimator :func:`save` wrote to ``path``, rebuilt without running code.

    Reading parses JSON and safetensors only. The class must be one of
    sksparse's own estimators (an allow-list, not an import by name), the
    parameters pass the estimator's validation, and the network is rebuilt by
    the estimator itself and given the saved weights and masks, so the loaded
    estimator predicts exactly what the saved one did.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator

    Raises
    ------
    ValueError
        If the file is not in this format, or its content does not match its
        hash (changed or damaged); the message names the file.
    TypeError
        If the file names a class that is not one of sksparse's estimators.

    Warns
    -----
    UserWarning
        If the file was written with other versions of sksparse, torch,
        scikit-learn or skorch than the ones installed.

    See Also
    --------
    save
    """
    document, tensors = read_file(path)
    cls = _allowed().get(document.get("class"))
    if cls is None:
        raise TypeError(
            f"{str(path)!r} names the class {document.get('class')!r}, which is "
            f"not one of sksparse's estimators ({sorted(_allowed())}); it is "
            "refused, not imported."
        )
    saved = document.get("versions") or {}
    now = _versions()
    changed = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
    if changed:
        text = ", ".join(f"{k} {a} (now {b})" for k, (a, b) in changed.items())
        warnings.warn(
            f"{str(path)!r} was saved with {text}; predictions may differ.",
            UserWarning,
            stacklevel=2,
        )
    params = decode(document.get("params") or {})
    estimator = cls(**params)
    # The constraints of fit: a parameter edited into something invalid is
    # refused here, not met later inside torch.
    estimator._validate_params()
    estimator._check_params()
    if not document.get("fitted"):
        return estimator
    for key, value in decode(document.get("attributes") or {}).items():
        if key in _REBUILT or key in params:
            raise ValueError(f"{str(path)!r} sets {key!r} as a fitted attribute.")
        setattr(estimator, key, value)
    state = unpack_masks(tensors, document.get("packed") or {})
    # The weights and masks are overwritten by the state dict: the seed only
    # shapes what _build_module draws before that.
    module = estimator._build_module(0)
    net = estimator._net_class(module=module, **estimator._net_kwargs(0))
    net.initialize()
    try:
        net.module_.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"{str(path)!r} holds tensors that do not fit the network its "
            f"parameters build: {str(exc).splitlines()[0]}"
        ) from None
    net.module_.eval()
    estimator.net_ = net
    estimator._fitted_structure = estimator._structure()
    return estimator
