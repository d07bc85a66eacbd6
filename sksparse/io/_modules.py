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

import torch
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


def check_compact(module, where):
    """Refuse a compact network whose indices or shapes do not fit together.

    numba's kernels index without bounds checks, so a file whose column
    indices or widths were edited could make them read outside their
    arrays: every layer's buffers are checked against its shape, and every
    layer's input width against what feeds it, before the module is used.
    """
    from sksparse.nn import CompactLinear, CompressedNetwork
    from sksparse.nn._compact_conv import CompressedConvNetwork
    from sksparse.nn._structured import BlockLinear, NMLinear

    for path, mod in module.named_modules():
        try:
            if isinstance(mod, CompactLinear):
                _check_compact_linear(mod)
            elif isinstance(mod, BlockLinear):
                _check_block_linear(mod)
            elif isinstance(mod, NMLinear):
                _check_nm_linear(mod)
            elif isinstance(mod, CompressedNetwork):
                _check_widths(mod)
        except (AttributeError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(
                f"{where} holds a malformed {type(mod).__name__} at "
                f"{path or 'the root'!r}: {exc}"
            ) from None
    if isinstance(module, CompressedConvNetwork):
        _dry_run(module, where)


def _int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is {value!r}, not an int >= 0")
    return value


def _shape(tensor, shape, name):
    if tensor is None or tuple(tensor.shape) != tuple(shape):
        got = None if tensor is None else tuple(tensor.shape)
        raise ValueError(f"{name} has shape {got}, expected {tuple(shape)}")


def _check_csr(crow, col, rows, cols, name):
    _shape(crow, (rows + 1,), f"{name} row pointers")
    if crow.dtype not in (torch.int32, torch.int64) or col.dtype != crow.dtype:
        raise ValueError(f"{name} indices are {crow.dtype}/{col.dtype}")
    if int(crow[0]) != 0 or bool((crow[1:] < crow[:-1]).any()):
        raise ValueError(f"{name} row pointers do not rise from 0")
    if col.ndim != 1 or int(crow[-1]) != col.numel():
        raise ValueError(f"{name} row pointers end at {int(crow[-1])}, not nnz")
    if col.numel() and (int(col.min()) < 0 or int(col.max()) >= cols):
        raise ValueError(f"{name} column indices leave [0, {cols})")


def _check_compact_linear(mod):
    out, inp = _int(mod.out_features, "out_features"), _int(mod.in_features, "in")
    if mod.layout not in ("dense", "csr") or mod.backend not in ("numba", "torch"):
        raise ValueError(f"layout {mod.layout!r} / backend {mod.backend!r}")
    _shape(mod.bias, (out,), "bias")
    if mod.layout == "dense":
        _shape(mod.weight, (out, inp), "weight")
        return
    _check_csr(mod.crow_indices, mod.col_indices, out, inp, "CSR")
    _shape(mod.values, (mod.col_indices.numel(),), "values")


def _check_block_linear(mod):
    out, inp = _int(mod.out_features, "out_features"), _int(mod.in_features, "in")
    r, c = (_int(v, "blocksize") for v in mod.blocksize)
    if not r or not c or mod.backend not in ("numba", "torch"):
        raise ValueError(f"blocksize {mod.blocksize!r} / backend {mod.backend!r}")
    rows, cols = -(-out // r), -(-inp // c)
    _check_csr(mod.crow_indices, mod.col_indices, rows, cols, "BSR")
    _shape(mod.values, (mod.col_indices.numel(), r, c), "values")
    _shape(mod.bias, (out,), "bias")


def _check_nm_linear(mod):
    out, inp = _int(mod.out_features, "out_features"), _int(mod.in_features, "in")
    n, m = _int(mod.n, "n"), _int(mod.m, "m")
    if not 1 <= n < m <= 256:
        raise ValueError(f"N:M is {n}:{m}")
    groups = -(-inp // m)
    _shape(mod.values, (out, groups * n), "values")
    _shape(mod.offsets, (out, groups * n), "offsets")
    _shape(mod.bias, (out,), "bias")
    if mod.offsets.dtype != torch.uint8:
        raise ValueError(f"offsets are {mod.offsets.dtype}")
    starts = torch.arange(groups).repeat_interleave(n) * m
    if out and bool((starts + mod.offsets.long() >= inp).any()):
        raise ValueError(f"an offset points past the {inp} inputs")


def _check_widths(net):
    layers = list(net.layers)
    if not (len(layers) == len(net.reads) == len(net.activations)):
        raise ValueError("layers, reads and activations differ in length")
    if len(net.has_activation) != len(layers):
        raise ValueError("has_activation differs in length from layers")
    n_in = _int(net.n_features_in, "n_features_in")
    index = net._buffers.get("input_features")
    widths = [n_in]
    if index is not None:
        if index.ndim != 1 or (index.numel() and int(index.max()) >= n_in):
            raise ValueError("input_features leave the input")
        if index.numel() and int(index.min()) < 0:
            raise ValueError("input_features leave the input")
        widths = [index.numel()]
    for i, (layer, reads) in enumerate(zip(layers, net.reads)):
        if not all(isinstance(r, int) and 0 <= r <= i for r in reads):
            raise ValueError(f"layer {i} reads blocks {reads}")
        width = sum(widths[r] for r in reads)
        if width != layer.in_features:
            raise ValueError(f"layer {i} reads {width} units, has {layer.in_features}")
        widths.append(_int(layer.out_features, "out_features"))


def _dry_run(net, where):
    """One zero image through ``net``, each compact layer's input width checked."""
    shape = net.input_shape
    if not isinstance(shape, tuple) or not all(isinstance(s, int) for s in shape):
        raise ValueError(f"{where} holds a compact network without its input shape.")

    def check(mod, args):
        x = args[0]
        if x.shape[-1] != mod.in_features:
            raise ValueError(
                f"{where} holds a {type(mod).__name__} reading {mod.in_features} "
                f"features where the network gives it {x.shape[-1]}."
            )

    heads = [m for m in net.modules() if hasattr(m, "in_features")]
    handles = [m.register_forward_pre_hook(check) for m in heads]
    try:
        buffers = [b for b in net.buffers() if b.is_floating_point()]
        dtype = buffers[0].dtype if buffers else torch.float32
        net(torch.zeros((1, *shape), dtype=dtype))
    except ValueError:
        raise
    except (RuntimeError, TypeError, IndexError) as exc:
        raise ValueError(
            f"{where} holds a compact network that does not run: {exc}"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
