"""Compact inference networks as a tree of allow-listed layers and tensors.

A compressed estimator's ``module_`` (:class:`~sksparse.nn.CompressedNetwork`
or :class:`~sksparse.nn.CompressedConvNetwork`) cannot be rebuilt from the
estimator's parameters: its shapes follow the pruned weights. It is stored as
its module tree instead: every module's class as a name from :func:`allowed`
(sksparse's compact layers and torch's activations, pooling and containers),
its plain attributes as JSON, its buffers as tensors named by their dotted
path (as in a state dict). Loading looks each class up in the allow-list,
creates it without running its ``__init__`` (which would expect dense
weights) and sets the attributes and buffers back; nothing named by the file
is imported or called.
"""

import re

from torch import nn

from sksparse.io._json import decode, encode

__all__ = ["allowed", "dump_module", "load_module"]

# nn.Module's own bookkeeping, which ``nn.Module.__init__`` recreates.
_TORCH_STATE = {
    "training",
    "_parameters",
    "_buffers",
    "_modules",
    "_non_persistent_buffers_set",
    "_is_full_backward_hook",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHILD = re.compile(r"^[A-Za-z0-9_]+$")


def allowed():
    """``{name: class}`` of the modules a compact network may be made of."""
    from sksparse.nn import CompactConv2d, CompactLinear, CompressedNetwork
    from sksparse.nn._compact_conv import CompressedConvNetwork, _Reshape, _Select
    from sksparse.nn._structured import BlockLinear, NMLinear

    classes = [
        CompressedNetwork,
        CompressedConvNetwork,
        CompactLinear,
        CompactConv2d,
        BlockLinear,
        NMLinear,
        _Reshape,
        _Select,
        # Activations and shape layers compress() keeps between layers.
        nn.ModuleList,
        nn.Sequential,
        nn.Identity,
        nn.ReLU,
        nn.ReLU6,
        nn.LeakyReLU,
        nn.ELU,
        nn.GELU,
        nn.SiLU,
        nn.Tanh,
        nn.Sigmoid,
        nn.Softplus,
        nn.Hardtanh,
        nn.Softmax,
        nn.LogSoftmax,
        nn.Dropout,
        nn.Flatten,
        nn.MaxPool2d,
        nn.AvgPool2d,
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveMaxPool2d,
    ]
    return {f"{c.__module__}.{c.__qualname__}": c for c in classes}


def dump_module(module, prefix=""):
    """``(tree, tensors)``: ``module``'s classes and attributes, and its buffers.

    Raises
    ------
    TypeError
        If a module is not of an allowed class or holds parameters (a compact
        network holds buffers only); the message names it.
    """
    names = {cls: name for name, cls in allowed().items()}
    tensors = {}

    def walk(mod, path):
        name = names.get(type(mod))
        if name is None or mod._parameters:
            raise TypeError(
                f"the compressed network holds a {type(mod).__name__} at "
                f"{path or 'its root'!r}, which the safe format does not store "
                "(user modules cannot be rebuilt without running their code); "
                "save it with joblib.dump and read it with --trust-pickle."
            )
        attributes, caches = {}, []
        for key, value in vars(mod).items():
            if key in _TORCH_STATE or "hook" in key:
                continue
            if key.startswith("_"):
                # The compact layers' private attributes are caches (CSR
                # tensors, numba arrays, the batch-1 chain), rebuilt on use.
                caches.append(key)
                continue
            attributes[key] = encode(value, f"attribute {key!r} of {path or 'root'}")
        buffers = []
        for key, buf in mod._buffers.items():
            buffers.append(
                [key, buf is not None, key in mod._non_persistent_buffers_set]
            )
            if buf is not None:
                tensors[f"{prefix}{path}{key}"] = buf
        children = {
            key: walk(child, f"{path}{key}.") for key, child in mod._modules.items()
        }
        return {
            "class": name,
            "training": bool(mod.training),
            "attributes": attributes,
            "caches": caches,
            "buffers": buffers,
            "children": children,
        }

    return walk(module, ""), tensors


def load_module(tree, tensors, prefix=""):
    """The module :func:`dump_module` stored; TypeError/ValueError if malformed."""
    classes = allowed()

    def build(node, path):
        if not isinstance(node, dict):
            raise ValueError(f"malformed module entry at {path!r} in the model file.")
        cls = classes.get(node.get("class"))
        if cls is None:
            raise TypeError(
                f"the model file names the module class {node.get('class')!r} at "
                f"{path or 'the root'!r}, which is not one of the compact layers "
                "the format rebuilds; it is refused, not imported."
            )
        mod = cls.__new__(cls)
        nn.Module.__init__(mod)
        mod.training = bool(node.get("training", False))
        for key, value in decode(node.get("attributes") or {}).items():
            _check_key(cls, key, path)
            object.__setattr__(mod, key, value)
        for key in node.get("caches") or []:
            if not isinstance(key, str) or not key.startswith("_") or key in vars(mod):
                raise ValueError(f"malformed cache name {key!r} in the model file.")
            _check_key(cls, key, path)
            object.__setattr__(mod, key, None)
        for entry in node.get("buffers") or []:
            key, present, transient = entry
            _check_key(cls, key, path)
            buf = None
            if present:
                full = f"{prefix}{path}{key}"
                if full not in tensors:
                    raise ValueError(f"the model file lacks the tensor {full!r}.")
                buf = tensors[full]
            mod.register_buffer(key, buf, persistent=not transient)
        for key, child in (node.get("children") or {}).items():
            # Children of containers are numbered ("0", "1", ...).
            _check_key(cls, key, path, child=True)
            mod.add_module(key, build(child, f"{path}{key}."))
        return mod

    return build(tree, "")


def _check_key(cls, key, path, child=False):
    """Refuse names that would shadow a method, property or dunder of ``cls``."""
    pattern = _CHILD if child else _NAME
    if not isinstance(key, str) or not pattern.match(key) or key.startswith("__"):
        raise ValueError(f"malformed attribute name {key!r} at {path!r} in the file.")
    if key in _TORCH_STATE or hasattr(cls, key):
        raise ValueError(
            f"the model file sets {key!r} at {path!r}, a name of "
            f"{cls.__name__} itself; it is refused."
        )
