"""``save`` and ``load``: a fitted sksparse estimator without pickle.

``joblib.load`` and ``pickle.load`` run whatever code a file names; a model
shared between people is then a program they execute. This format stores data
only: the class as a name looked up in an allow-list of sksparse's own
estimators (never imported by name), the parameters and fitted attributes as
JSON, the module's tensors in safetensors. Loading constructs the estimator
from its parameters, validates them as ``fit`` would, rebuilds the module with
the estimator's own ``_build_module`` and loads the saved state dict into it.
A compressed estimator's compact network is rebuilt from its stored layer
tree (:mod:`sksparse.io._modules`) and checked before use; a
``PrunedEstimator`` nests its estimator, pruner and schedule as documents of
the same allow-lists, its tensors under ``estimator_/``, ``masks_/`` and
``rewind_weights_/``.
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
from sksparse.io._modules import check_compact, dump_module, load_module

__all__ = ["load", "save"]

# Set by fit but rebuilt on load rather than stored: the skorch net, and the
# structure a warm start compares with (recomputed from the parameters).
_REBUILT = {"net_", "_fitted_structure"}

#: A parameter holding an allow-listed object (PrunedEstimator's estimator,
#: pruner, schedule): ``{"__object__": document}``.
_OBJECT = "__object__"

# PrunedEstimator's fitted state stored as tensors or nested documents, not
# as JSON attributes.
_PRUNED_STATE = {"estimator_", "pruner_", "masks_", "rewind_weights_"}


def _allowed():
    """``{name: class}`` of the estimators the format stores and loads."""
    from sksparse.estimators import (
        GraphPriorRNNClassifier,
        PrunedEstimator,
        SparseCNNClassifier,
        SparseMLPClassifier,
        SparseMLPRegressor,
    )

    classes = [
        SparseMLPClassifier,
        SparseMLPRegressor,
        SparseCNNClassifier,
        GraphPriorRNNClassifier,
        PrunedEstimator,
    ]
    return {f"sksparse.estimators.{c.__name__}": c for c in classes}


def _allowed_parts():
    """``{name: class}`` of the objects a PrunedEstimator's parameters hold."""
    from sksparse.pruning import (
        Gradual,
        Iterative,
        MagnitudePruner,
        OneShot,
        RandomPruner,
    )

    classes = [MagnitudePruner, RandomPruner, OneShot, Iterative, Gradual]
    return {f"sksparse.pruning.{c.__name__}": c for c in classes}


def _refuse(obj, where):
    from skorch import NeuralNet

    known = sorted({**_allowed(), **_allowed_parts()})
    hint = (
        "a skorch net's module is user code, which the safe format cannot " "rebuild"
        if isinstance(obj, NeuralNet)
        else f"it stores {known}"
    )
    return TypeError(
        f"{where} is a {type(obj).__name__}: {hint}. Save it with joblib.dump "
        "and read it with --trust-pickle (only files you trust)."
    )


def _versions():
    import sklearn
    import skorch

    return {
        "sksparse": sksparse.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
    }


def _encode_param(value, name, tensors, prefix):
    if type(value) in {*_allowed().values(), *_allowed_parts().values()}:
        return {_OBJECT: _dump(value, tensors, f"{prefix}{name}/", name)}
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        raise _refuse(value, f"parameter {name!r}")
    return encode(value, f"parameter {name!r}")


def _dump(obj, tensors, prefix, where):
    """The document of ``obj`` (an allowed estimator or part); adds its tensors."""
    names = {cls: name for name, cls in {**_allowed(), **_allowed_parts()}.items()}
    name = names.get(type(obj))
    if name is None:
        raise _refuse(obj, where)
    params = {
        key: _encode_param(value, key, tensors, prefix)
        for key, value in obj.get_params(deep=False).items()
    }
    document = {"class": name, "params": params}
    if name in _allowed_parts().keys():
        # A fitted pruner's thresholds_ and counts; a schedule has no state.
        fitted = {
            k: v for k, v in vars(obj).items() if k.endswith("_") and k not in params
        }
        document["attributes"] = {
            k: encode(v, f"fitted attribute {k!r} of {where}")
            for k, v in fitted.items()
        }
        return document
    from sksparse.estimators import PrunedEstimator

    if isinstance(obj, PrunedEstimator):
        document["fitted"] = hasattr(obj, "estimator_")
        if document["fitted"]:
            _dump_pruned(obj, document, tensors, prefix)
        return document
    document["fitted"] = hasattr(obj, "net_")
    if document["fitted"]:
        _dump_fitted(obj, document, params, tensors, prefix)
    return document


def _dump_fitted(estimator, document, params, tensors, prefix):
    from sksparse.nn import CompressedNetwork
    from sksparse.nn._compact_conv import CompressedConvNetwork

    net = estimator.net_
    module = net.module_
    skip = _REBUILT | set(params)
    document["attributes"] = {
        key: encode(value, f"fitted attribute {key!r}")
        for key, value in vars(estimator).items()
        if key not in skip
    }
    try:
        document["history"] = encode(net.history.to_list(), "history")
    except TypeError:
        # A callback that records objects (or inf) leaves the history out:
        # prediction does not need it.
        document["history"] = None
    if isinstance(module, (CompressedNetwork, CompressedConvNetwork)):
        # The compact layers' shapes follow the pruned weights, not the
        # parameters: stored as their module tree, rebuilt without __init__.
        tree, state = dump_module(module)
        document["compressed"] = tree
        tensors.update({f"{prefix}{k}": v for k, v in state.items()})
        return
    state, packed = pack_masks(module.state_dict())
    tensors.update({f"{prefix}{k}": v for k, v in state.items()})
    document["packed"] = packed


def _dump_pruned(obj, document, tensors, prefix):
    document["estimator_"] = _dump(
        obj.estimator_, tensors, f"{prefix}estimator_/", "estimator_"
    )
    document["pruner_"] = _dump(obj.pruner_, tensors, f"{prefix}pruner_/", "pruner_")
    # Keep-masks as bits (8 per byte); the rewind point as it was taken.
    masks = {
        name: torch.from_numpy(m.astype("uint8")) for name, m in obj.masks_.items()
    }
    state, packed = pack_masks({f"{n}.mask": m for n, m in masks.items()})
    document["masks_"] = {n: packed[f"{n}.mask"] for n in masks}
    tensors.update({f"{prefix}masks_/{n}": state[f"{n}.mask"] for n in masks})
    rewind = obj.rewind_weights_
    document["rewind_weights_"] = None if rewind is None else sorted(rewind)
    for n, t in (rewind or {}).items():
        tensors[f"{prefix}rewind_weights_/{n}"] = t
    document["attributes"] = {
        key: encode(value, f"fitted attribute {key!r}")
        for key, value in vars(obj).items()
        if key.endswith("_") and key not in _PRUNED_STATE
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
    estimator : SparseMLPClassifier, SparseMLPRegressor, SparseCNNClassifier, \
            GraphPriorRNNClassifier or PrunedEstimator
        Fitted or not, compressed (``compress()``) or not. Its parameters
        must be JSON data (None, bool, numbers, strings, and lists, tuples
        and dicts of them) or, for a PrunedEstimator, one of these
        estimators and a MagnitudePruner or RandomPruner and a OneShot,
        Iterative or Gradual schedule: a graph, a callable, an optimizer
        class, callbacks or a skorch net cannot be stored. A compressed
        network is stored as its compact layers (no dense copy).
    path : str or path-like

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If the estimator's class is not one the format stores, a compact
        network holds a module that is not one of sksparse's compact layers
        or torch's activations, or a parameter or fitted attribute is not
        JSON data; the message names it and points to joblib with
        ``--trust-pickle``.

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
    tensors = {}
    document = _dump(estimator, tensors, "", "the estimator")
    document = {"format": FORMAT, **document, "versions": _versions()}
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
    return _load(document, tensors, "", path)


def _decode_params(data, tensors, prefix, path):
    params = {}
    for key, value in (data or {}).items():
        if isinstance(value, dict) and set(value) == {_OBJECT}:
            params[key] = _load(value[_OBJECT], tensors, f"{prefix}{key}/", path)
        else:
            params[key] = decode(value)
    return params


def _load(document, tensors, prefix, path):
    if not isinstance(document, dict):
        raise ValueError(f"{str(path)!r} holds a malformed object entry.")
    classes = {**_allowed(), **_allowed_parts()}
    cls = classes.get(document.get("class"))
    if cls is None:
        raise TypeError(
            f"{str(path)!r} names the class {document.get('class')!r}, which is "
            f"not one of sksparse's estimators ({sorted(classes)}); it is "
            "refused, not imported."
        )
    params = _decode_params(document.get("params"), tensors, prefix, path)
    estimator = cls(**params)
    # The constraints of fit: a parameter edited into something invalid is
    # refused here, not met later inside torch.
    estimator._validate_params()
    if hasattr(estimator, "_check_params"):
        estimator._check_params()
    if cls in _allowed_parts().values():
        for key, value in decode(document.get("attributes") or {}).items():
            if not key.endswith("_") or key in params:
                raise ValueError(f"{str(path)!r} sets {key!r} as a fitted attribute.")
            setattr(estimator, key, value)
        return estimator
    if not document.get("fitted"):
        return estimator
    from sksparse.estimators import PrunedEstimator

    if cls is PrunedEstimator:
        return _load_pruned(estimator, document, tensors, prefix, path)
    for key, value in decode(document.get("attributes") or {}).items():
        if key in _REBUILT or key in params:
            raise ValueError(f"{str(path)!r} sets {key!r} as a fitted attribute.")
        setattr(estimator, key, value)
    # The weights and masks are overwritten by the state dict: the seed only
    # shapes what _build_module draws before that.
    module = estimator._build_module(0)
    net = estimator._net_class(module=module, **estimator._net_kwargs(0))
    net.initialize()
    own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    if document.get("compressed") is not None:
        compact = load_module(document["compressed"], own).eval()
        check_compact(compact, repr(str(path)))
        # As compress_net leaves it: the compact module on the CPU, no
        # optimizer, the masked network dropped.
        net.module_ = compact
        net.module = type(compact)
        net.device = "cpu"
        for name in getattr(net, "_optimizers", None) or ["optimizer"]:
            setattr(net, f"{name}_", None)
    else:
        own = {k: v for k, v in own.items() if "/" not in k}
        state = unpack_masks(own, document.get("packed") or {})
        try:
            net.module_.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"{str(path)!r} holds tensors that do not fit the network its "
                f"parameters build: {str(exc).splitlines()[0]}"
            ) from None
        net.module_.eval()
    history = document.get("history")
    if history is not None:
        from skorch.history import History

        net.history_ = History(decode(history))
    estimator.net_ = net
    estimator._fitted_structure = estimator._structure()
    return estimator


def _load_pruned(estimator, document, tensors, prefix, path):
    try:
        return _restore_pruned(estimator, document, tensors, prefix, path)
    except (KeyError, AttributeError) as exc:
        raise ValueError(
            f"{str(path)!r} holds a malformed PrunedEstimator: {exc!r} is missing "
            "or of the wrong kind."
        ) from None


def _restore_pruned(estimator, document, tensors, prefix, path):
    estimator.estimator_ = _load(
        document.get("estimator_"), tensors, f"{prefix}estimator_/", path
    )
    estimator.pruner_ = _load(
        document.get("pruner_"), tensors, f"{prefix}pruner_/", path
    )
    masks = document.get("masks_") or {}
    state = unpack_masks(
        {f"{n}.mask": tensors[f"{prefix}masks_/{n}"] for n in masks},
        {f"{n}.mask": info for n, info in masks.items()},
    )
    estimator.masks_ = {n: state[f"{n}.mask"].numpy().astype(bool) for n in masks}
    rewind = document.get("rewind_weights_")
    estimator.rewind_weights_ = (
        None
        if rewind is None
        else {n: tensors[f"{prefix}rewind_weights_/{n}"] for n in rewind}
    )
    for key, value in decode(document.get("attributes") or {}).items():
        if (
            not key.endswith("_")
            or key in _PRUNED_STATE
            or key in {"net_", "module_", "history_", "classes_"}
        ):
            raise ValueError(f"{str(path)!r} sets {key!r} as a fitted attribute.")
        setattr(estimator, key, value)
    return estimator
