"""Reading a convolutional model as a chain of layers, for :func:`compress_chain`.

A chain is ``nn.Sequential``, :class:`~sksparse.nn.SparseCNN`, or any module
that ``torch.fx`` traces to a single line of Linear/Conv2d layers,
element-wise activations, pooling, dropout, flatten and reshape; anything
else (a residual sum, a branch) is refused with the operation's name.
"""

import operator

import torch
from torch import nn

from sksparse.nn._stages import (
    INFERENCE_IDENTITY,
    _unroll,
)

__all__ = ["chain_of"]


_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_IDENTITY = INFERENCE_IDENTITY + (nn.Dropout2d,)


class _Reshape(nn.Module):
    """``x.reshape(len(x), *shape)``: flat samples to images (as SparseCNN does)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


class _Select(nn.Module):
    """The kept features of the flattened maps (an index buffer)."""

    def __init__(self, index):
        super().__init__()
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long))

    def forward(self, x):
        return x.index_select(1, self.index)


# -- reading a model as a chain ------------------------------------------------
def _leaf_types():
    return (nn.Linear, nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d)


class _ChainTracer(torch.fx.Tracer):
    def is_leaf_module(self, m, qualified_name):
        return isinstance(m, _leaf_types()) or super().is_leaf_module(m, qualified_name)


def _function_module(target, args, kwargs):
    """The module equivalent of a traced function or method call, or None."""
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    simple = {
        "relu": nn.ReLU,
        "relu_": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "elu": nn.ELU,
        "softplus": nn.Softplus,
    }
    rest, kw = list(args[1:]), dict(kwargs)
    kw.pop("inplace", None)
    if name in simple and not rest:
        return simple[name]()
    if name == "leaky_relu":
        slope = rest[0] if rest else kw.get("negative_slope", 0.01)
        return nn.LeakyReLU(slope)
    if name in ("dropout", "dropout2d", "identity", "contiguous"):
        return nn.Identity()
    if name == "flatten":
        start = rest[0] if rest else kw.get("start_dim", 0)
        end = rest[1] if len(rest) > 1 else kw.get("end_dim", -1)
        if start == 1 and end == -1:
            return nn.Flatten()
        return None
    if name == "max_pool2d":
        return nn.MaxPool2d(*rest, **kw)
    if name == "avg_pool2d":
        return nn.AvgPool2d(*rest, **kw)
    return None


def _is_size(node, helpers):
    """Whether a traced node only computes a size (``x.shape[0]``, ``x.size(0)``)."""
    if node.op == "call_method" and node.target == "size":
        return True
    if node.op == "call_function" and node.target is getattr:
        return node.args[1] == "shape"
    if node.op == "call_function" and node.target is operator.getitem:
        return node.args[0] in helpers
    return False


def _reshape_module(node, helpers, first):
    """``view``/``reshape`` calls: a flatten to (n, -1), or flat to an image."""
    shape = node.args[1:]
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if len(shape) == 2 and shape[1] == -1 and (shape[0] in helpers or shape[0] == -1):
        return nn.Flatten()
    if len(shape) == 2 and shape[0] == -1 and isinstance(shape[1], int) and not first:
        # x.view(-1, n) as tutorials flatten: the head's size check below
        # refuses it where n is not one sample's size.
        return nn.Flatten()
    if first and len(shape) >= 2 and (shape[0] in helpers or shape[0] == -1):
        if all(isinstance(s, int) and s > 0 for s in shape[1:]):
            return _Reshape(shape[1:])
    return None


def _traced_chain(module):
    try:
        graph = _ChainTracer().trace(module)
    except Exception as exc:  # noqa: BLE001 - any tracing failure
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise TypeError(
            f"compress cannot trace {type(module).__name__} with torch.fx "
            f"({type(exc).__name__}: {first}); it takes nn.Sequential-like "
            "chains of Linear/Conv2d layers and activations."
        ) from None
    gm = torch.fx.GraphModule(module, graph)
    chain, current, helpers = [], None, set()
    for node in graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise TypeError(
                    f"compress takes a module of one input; "
                    f"{type(module).__name__} takes several."
                )
            current = node
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise TypeError(
                    f"{type(module).__name__} does not return the end of its "
                    "chain of layers; compress takes single chains only."
                )
            break
        if _is_size(node, helpers):
            helpers.add(node)
            continue
        if not node.args or node.args[0] is not current:
            raise TypeError(
                f"{type(module).__name__} is not a single chain of layers at "
                f"{node.format_node()}: compress takes nn.Sequential-like chains "
                "(residual additions and branches are not compressed)."
            )
        others = [
            a
            for a in list(node.args[1:]) + list(node.kwargs.values())
            if isinstance(a, torch.fx.Node) and a not in helpers
        ]
        if others:
            raise TypeError(
                f"{type(module).__name__} mixes two tensors at "
                f"{node.format_node()}; compress takes single chains only."
            )
        if node.op == "call_module":
            found = [gm.get_submodule(node.target)]
        elif node.target in ("view", "reshape") or node.target is torch.reshape:
            found = [_reshape_module(node, helpers, first=not chain)]
        else:
            found = [_function_module(node.target, node.args, node.kwargs)]
        if found[0] is None:
            raise TypeError(
                f"compress cannot read {node.format_node()} of "
                f"{type(module).__name__}: it takes Linear/Conv2d layers, "
                "element-wise activations, pooling, dropout, flatten and reshape."
            )
        chain.extend(found)
        current = node
    return chain


def chain_of(module):
    """The modules a feed-forward model applies one after the other.

    Parameters
    ----------
    module : torch.nn.Module
        ``nn.Sequential`` (nested ones unrolled), :class:`SparseMLP`,
        :class:`SparseCNN`, a single layer, or a module that ``torch.fx``
        traces to one line of layers, activations, pooling, flatten and
        reshape calls.

    Returns
    -------
    list of nn.Module

    Raises
    ------
    TypeError
        Naming the operation that is no part of a single chain.
    """
    from sksparse.nn._conv import SparseCNN
    from sksparse.nn._mlp import SparseMLP

    if isinstance(module, SparseCNN):
        return (
            [_Reshape(module.input_shape)]
            + list(_unroll(module.features))
            + [nn.Flatten()]
            + list(_unroll(module.head.layers))
        )
    if isinstance(module, SparseMLP):
        return list(_unroll(module.layers))
    if isinstance(module, nn.Sequential):
        out = []
        for sub in _unroll(module):
            out.extend(chain_of(sub) if _is_container(sub) else [sub])
        return out
    if isinstance(module, (nn.Linear, nn.Conv2d)) or not _is_container(module):
        return [module]
    return _traced_chain(module)


def _is_container(module):
    """A module with children whose own forward composes them."""
    return any(True for _ in module.children()) and not isinstance(
        module, _leaf_types()
    )
