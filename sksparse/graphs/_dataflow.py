"""Follow a model's real data flow, neuron by neuron (channel by channel).

The model runs once on a small example input, in eval mode and without
autograd. Every tensor that carries neurons gets a *signal*: the graph node
of each position along its feature dimension (the last dimension for linear
layers, dimension 1 for convolutions; ``-1`` where a position is a constant,
such as zero padding). Operations then map signals:

- a linear or convolutional layer makes new nodes, one per output feature
  (channel), connected from the input nodes its non-zero weights read;
- an addition, subtraction, product... of two signals makes one *merge* node
  per position, fed by both (a residual sum is such a node);
- concatenation, flatten, view, permute, slicing move positions around
  without new nodes: they are replayed on a tensor of node ids, so every
  layout the op supports is followed exactly;
- element-wise maps, normalisation, pooling and dropout keep the signal.

The operations come from ``torch.fx`` (symbolic tracing, then the traced graph
is interpreted on the example input), or, for models that cannot be traced
(Python control flow on tensors), from a ``TorchFunctionMode`` that sees every
torch call of one forward pass and records which tensor (by identity) feeds
which. Weighted leaf modules are read from their weights and masks in both
cases. Nothing is patched on the model: hooks and modes are removed before
this returns.

The module is a little over 600 lines: the op tables, the signal algebra and
its two drivers (fx and the recorded pass) share every helper, and splitting
them would only spread one algorithm over files.
"""

import operator
import warnings

import networkx as nx
import numpy as np
import torch
from torch import nn

__all__ = ["trace_graph"]

# Ops that keep every position and only move it: replayed on an id tensor.
_MOVES = {
    "view",
    "reshape",
    "flatten",
    "unflatten",
    "permute",
    "transpose",
    "t",
    "squeeze",
    "unsqueeze",
    "expand",
    "expand_as",
    "repeat",
    "contiguous",
    "clone",
    "narrow",
    "select",
    "getitem",
    "chunk",
    "split",
    "tensor_split",
    "unbind",
    "movedim",
    "moveaxis",
    "swapaxes",
    "swapdims",
    "flip",
    "roll",
    "index_select",
    "view_as",
    "reshape_as",
}
# Casts and copies: the signal is unchanged.
_CASTS = {"to", "float", "double", "half", "bfloat16", "type", "cpu", "cuda", "detach"}
# Element-wise ops of two tensors: two signals meet in merge nodes.
_MERGES = {
    "add",
    "sub",
    "mul",
    "div",
    "true_divide",
    "floor_divide",
    "rsub",
    "maximum",
    "minimum",
    "fmax",
    "fmin",
    "where",
    "addcmul",
    "addcdiv",
}
_CATS = {"cat", "concat", "concatenate", "stack", "hstack"}
_REDUCTIONS = {
    "mean",
    "sum",
    "amax",
    "amin",
    "max",
    "min",
    "prod",
    "std",
    "var",
    "norm",
    "logsumexp",
    "nanmean",
    "nansum",
}
_ALIASES = {
    "iadd": "add",
    "radd": "add",
    "isub": "sub",
    "imul": "mul",
    "rmul": "mul",
    "truediv": "div",
    "itruediv": "div",
    "rtruediv": "div",
    "ifloordiv": "floor_divide",
    "floordiv": "floor_divide",
}


def _op_name(target):
    """``operator.iadd``, ``Tensor.__iadd__``, ``'add_'`` and ``torch.add``: 'add'."""
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    name = name.strip("_")
    return _ALIASES.get(name, name)


def is_weighted(module):
    """Whether ``module`` is a leaf layer whose weights define connections."""
    if hasattr(module, "dense_weight") and hasattr(module, "in_features"):
        return True  # CompactLinear, whatever its storage layout
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim < 2:
        return False
    return not any(True for _ in module.children())


def _aggregate(weight):
    """(out, in) matrix of a weight, summing |taps| of convolution kernels."""
    if weight.ndim > 2:
        return weight.abs().reshape(weight.shape[0], weight.shape[1], -1).sum(-1)
    return weight


def _grouped(keep, weight, groups, transposed):
    """Full (out, in) matrices of a (grouped, transposed) convolution.

    ``keep`` and ``weight`` are the kernels' (dim 0, dim 1) matrices: (out,
    in/groups), or (in, out/groups) for a transposed convolution.
    """
    if transposed:
        n_in, out_g = keep.shape
        n_out, in_g = out_g * groups, n_in // groups
    else:
        n_out, in_g = keep.shape
        n_in, out_g = in_g * groups, n_out // groups
    if groups == 1 and not transposed:
        return keep, weight
    full_keep = torch.zeros(n_out, n_in, dtype=torch.bool)
    full_weight = torch.zeros(n_out, n_in, dtype=weight.dtype)
    for g in range(groups):
        rows = slice(g * out_g, (g + 1) * out_g)
        cols = slice(g * in_g, (g + 1) * in_g)
        if transposed:
            full_keep[rows, cols] = keep[cols].T
            full_weight[rows, cols] = weight[cols].T
        else:
            full_keep[rows, cols] = keep[rows]
            full_weight[rows, cols] = weight[rows]
    return full_keep, full_weight


def _layer_matrix(module):
    """(keep, weight, is_conv) of a weighted module, (out, in) each."""
    if hasattr(module, "dense_weight") and hasattr(module, "in_features"):
        weight = module.dense_weight().detach().cpu().double()
        return weight != 0, weight, False
    weight = module.weight.detach().cpu().double()
    keep = weight != 0
    for name in ("mask", "weight_mask"):  # ours, or torch.nn.utils.prune's
        mask = getattr(module, name, None)
        if isinstance(mask, torch.Tensor) and mask.shape == weight.shape:
            keep &= mask.detach().cpu() != 0
    conv = weight.ndim > 2
    weight = _aggregate(weight * keep)
    keep = _aggregate(keep.double()) != 0
    if conv:
        groups = int(getattr(module, "groups", 1))
        transposed = bool(getattr(module, "transposed", False))
        keep, weight = _grouped(keep, weight, groups, transposed)
    return keep, weight, conv


class _Flow:
    """The graph being built and the signal of every tensor seen so far."""

    def __init__(self, weights):
        self.graph = nx.DiGraph()
        self.weights = weights
        self.signals = {}  # id(tensor) -> (tensor, ids, dim)
        self.merges = {}  # sorted tuple of node ids -> merge node
        self.unread = []
        self.layers = []  # layer of each node

    # -- nodes and signals ----------------------------------------------------
    def new_nodes(self, size, layer, kind, module=""):
        start = self.graph.number_of_nodes()
        self.graph.add_nodes_from(
            (start + j, {"layer": layer, "index": j, "kind": kind, "module": module})
            for j in range(size)
        )
        self.layers.extend([layer] * size)
        return np.arange(start, start + size)

    def layer_after(self, ids):
        ids = ids[ids >= 0]
        return 1 + max((self.layers[i] for i in ids.tolist()), default=-1)

    def get(self, value):
        if not isinstance(value, torch.Tensor):
            return None
        entry = self.signals.get(id(value))
        if entry is None or entry[0] is not value:
            return None
        return entry[1], entry[2]

    def set(self, tensor, ids, dim):
        if isinstance(tensor, torch.Tensor) and tensor.ndim > 0:
            self.signals[id(tensor)] = (tensor, np.asarray(ids, dtype=np.int64), dim)

    def add_input(self, tensor, dim):
        ids = self.new_nodes(tensor.shape[dim], 0, "input")
        self.set(tensor, ids, dim)

    def merge(self, columns):
        """One node per row of ``columns`` (positions x operands) that mixes."""
        out = np.empty(len(columns), dtype=np.int64)
        for p, row in enumerate(columns):
            sources = tuple(sorted(set(int(i) for i in row if i >= 0)))
            if len(sources) <= 1:
                out[p] = sources[0] if sources else -1
                continue
            node = self.merges.get(sources)
            if node is None:
                layer = 1 + max(self.layers[i] for i in sources)
                node = int(self.new_nodes(1, layer, "merge")[0])
                self.graph.nodes[node]["index"] = p
                self.graph.add_edges_from(
                    (s, node, {"weight": 1.0} if self.weights else {}) for s in sources
                )
                self.merges[sources] = node
            out[p] = node
        return out

    def fresh(self, result, name, dim):
        """Outputs of an op that cannot be followed: new, unconnected nodes."""
        for tensor in _tensors(result):
            if tensor.ndim == 0:
                continue  # a scalar (a loss, a test in an if) holds no neurons
            self.unread.append(name)
            d = min(dim, tensor.ndim - 1)
            ids = self.new_nodes(tensor.shape[d], 0, "unread", name)
            self.set(tensor, ids, d)

    # -- layers ---------------------------------------------------------------
    def connect(self, ids, keep, weight, module_name, result, dim):
        rows, cols = np.nonzero(keep.numpy())
        sources = ids[cols]
        valid = sources >= 0
        rows, sources = rows[valid], sources[valid]
        layer = self.layer_after(ids)
        targets = self.new_nodes(keep.shape[0], layer, "hidden", module_name)
        if self.weights:
            # One edge per (source node, target) pair: several weights meet in
            # one pair where a flatten maps positions of a channel to it;
            # they sum in absolute value, as a kernel's taps do.
            values = weight.numpy()[rows, cols[valid]]
            pairs = {}
            for s, r, w in zip(sources.tolist(), rows.tolist(), values.tolist()):
                pairs.setdefault((s, r), []).append(w)
            self.graph.add_edges_from(
                (
                    s,
                    int(targets[r]),
                    {"weight": w[0] if len(w) == 1 else sum(map(abs, w))},
                )
                for (s, r), w in pairs.items()
            )
        else:
            self.graph.add_edges_from(zip(sources.tolist(), targets[rows].tolist()))
        self.set(result, targets, dim)

    def layer(self, keep, weight, module_name, x, result, conv):
        signal = self.get(x)
        if signal is None or not isinstance(result, torch.Tensor):
            return
        ids, dim = signal
        want = 1 if conv else x.ndim - 1
        if dim != want or len(ids) != keep.shape[1]:
            self.fresh(result, f"{module_name or 'a layer'} (input not read)", want)
            return
        out_dim = 1 if conv else result.ndim - 1
        self.connect(ids, keep, weight, module_name, result, out_dim)

    def module(self, module, name, args, result):
        keep, weight, conv = _layer_matrix(module)
        self.layer(keep, weight, name, args[0] if args else None, result, conv)

    # -- functions ------------------------------------------------------------
    def function(self, name, call, args, kwargs, result, where=""):
        """Map the signals of ``call(*args, **kwargs) -> result``."""
        if not any(isinstance(t, torch.Tensor) for t in _tensors(result)):
            return
        inputs = [a for a in _tensors((args, kwargs)) if self.get(a) is not None]
        if not inputs:
            return
        label = f"{name}{f' ({where})' if where else ''}"
        if name in ("linear", "conv1d", "conv2d", "conv3d"):
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            if not isinstance(weight, torch.Tensor) or self.get(weight) is not None:
                self.fresh(result, label, 1)
                return
            weight = weight.detach().cpu().double()
            keep = _aggregate((weight != 0).double()) != 0
            weight = _aggregate(weight)
            conv = name != "linear"
            if conv:
                groups = args[6] if len(args) > 6 else kwargs.get("groups", 1)
                keep, weight = _grouped(keep, weight, int(groups), False)
            self.layer(keep, weight, where, args[0], result, conv)
        elif name in _CASTS:
            ids, dim = self.get(inputs[0])
            for tensor in _tensors(result):
                self.set(tensor, ids, dim)
        elif name in _CATS:
            self._cat(name, args, kwargs, result, label)
        elif name in _MOVES:
            self._move(call, args, kwargs, result, label, inputs)
        elif name in _MERGES and len(inputs) > 1:
            self._merge(inputs, result, label)
        elif name in _REDUCTIONS:
            self._reduce(args, kwargs, result, label, inputs)
        elif len(inputs) == 1:
            self._keep(inputs[0], result, label)
        else:
            ids, dim = self.get(inputs[0])
            self.fresh(result, label, dim)

    def _keep(self, x, result, label):
        """Element-wise maps, pooling, normalisation: same signal, if it fits."""
        ids, dim = self.get(x)
        out = result[0] if isinstance(result, tuple) else result  # max_pool indices
        if (
            isinstance(out, torch.Tensor)
            and out.ndim == x.ndim
            and out.shape[dim] == len(ids)
        ):
            self.set(out, ids, dim)
        else:
            self.fresh(result, label, dim)

    def _merge(self, inputs, result, label):
        rel = {self.get(t)[1] - t.ndim for t in inputs}
        if len(rel) != 1 or not isinstance(result, torch.Tensor):
            self.fresh(result, label, self.get(inputs[0])[1])
            return
        dim = result.ndim + rel.pop()
        size = result.shape[dim]
        columns = []
        for t in inputs:
            ids = self.get(t)[0]
            if len(ids) not in (1, size):
                self.fresh(result, label, dim)
                return
            columns.append(np.broadcast_to(ids, size))
        self.set(result, self.merge(np.stack(columns, axis=1)), dim)

    def _ids_tensor(self, t):
        """A tensor shaped like ``t`` holding each position's node id."""
        signal = self.get(t)
        if signal is None:
            return torch.full(t.shape, -1.0, dtype=torch.float64)
        ids, dim = signal
        shape = [1] * t.ndim
        shape[dim] = len(ids)
        return torch.from_numpy(ids.astype(np.float64)).reshape(shape).expand(t.shape)

    def _read_ids(self, ids_out, result, label, dim_hint):
        """Set ``result``'s signal from a replayed id tensor."""
        if ids_out.ndim == 0:
            return
        varying = [
            d
            for d in range(ids_out.ndim)
            if ids_out.shape[d] > 1
            and not bool((ids_out == ids_out.narrow(d, 0, 1)).all())
        ]
        if len(varying) == 1:
            dim = varying[0]
            index = [0] * ids_out.ndim
            index[dim] = slice(None)
            self.set(result, ids_out[tuple(index)].numpy().astype(np.int64), dim)
        elif not varying:
            dim = min(dim_hint, ids_out.ndim - 1)
            ids = np.full(ids_out.shape[dim], int(ids_out.flatten()[0]), dtype=np.int64)
            self.set(result, ids, dim)
        else:
            # Positions spread over several dimensions (attention heads):
            # read each slice of the largest as the merge of what it holds.
            self.unread.append(f"{label} (features over several dimensions)")
            dim = max(varying, key=lambda d: ids_out.shape[d])
            rows = ids_out.movedim(dim, 0).reshape(ids_out.shape[dim], -1)
            self.set(result, self.merge(rows.numpy().astype(np.int64)), dim)

    def _move(self, call, args, kwargs, result, label, inputs):
        x = args[0] if args else None
        signal = self.get(x)
        if signal is None:
            self.fresh(result, label, self.get(inputs[0])[1])
            return
        try:
            replay = call(self._ids_tensor(x), *args[1:], **kwargs)
        except Exception:  # an op the id tensor cannot take (an odd dtype)
            self.fresh(result, label, signal[1])
            return
        for out, ids_out in zip(_tensors(result), _tensors(replay)):
            self._read_ids(ids_out, out, label, signal[1])

    def _cat(self, name, args, kwargs, result, label):
        tensors = args[0] if args else kwargs.get("tensors")
        dim = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis", 0))
        if name == "hstack":
            dim = 0 if tensors[0].ndim == 1 else 1
        replay = getattr(torch, "stack" if name == "stack" else "cat")(
            [self._ids_tensor(t) for t in tensors], dim=dim
        )
        hint = next(self.get(t)[1] for t in tensors if self.get(t) is not None)
        self._read_ids(replay, result, label, hint)

    def _reduce(self, args, kwargs, result, label, inputs):
        x = args[0] if args else None
        signal = self.get(x)
        if signal is None:
            self.fresh(result, label, self.get(inputs[0])[1])
            return
        ids, channel = signal
        dims = args[1] if len(args) > 1 else kwargs.get("dim")
        keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        if isinstance(dims, bool) or dims is None or isinstance(dims, torch.Tensor):
            self.fresh(result, f"{label} over all features", channel)
            return
        dims = [dims] if isinstance(dims, int) else list(dims)
        dims = [d % x.ndim for d in dims]
        if channel in dims:
            self.fresh(result, f"{label} over the feature dimension", channel)
            return
        out = result[0] if isinstance(result, tuple) else result
        dim = channel if keepdim else channel - sum(d < channel for d in dims)
        self.set(out, ids, dim)


def _tensors(value):
    """The tensors in a (nested) value, in order."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


# -- drivers ------------------------------------------------------------------
class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m, module_qualified_name):
        return is_weighted(m) or super().is_leaf_module(m, module_qualified_name)


class _Interpreter(torch.fx.Interpreter):
    def __init__(self, module, flow, input_dim):
        super().__init__(module)
        self.flow = flow
        self.input_dim = input_dim
        self.first = True

    def placeholder(self, target, args, kwargs):
        value = super().placeholder(target, args, kwargs)
        if self.first and isinstance(value, torch.Tensor):
            self.flow.add_input(value, self.input_dim)
            self.first = False
        return value

    def call_module(self, target, args, kwargs):
        out = super().call_module(target, args, kwargs)
        module = self.fetch_attr(target)
        if is_weighted(module):
            self.flow.module(module, target, args, out)
        else:
            call = module.forward
            name = type(module).__name__
            if isinstance(module, nn.Flatten):
                self.flow._move(
                    lambda t: torch.flatten(t, module.start_dim, module.end_dim),
                    (args[0],),
                    {},
                    out,
                    name,
                    [args[0]],
                )
                return out
            self.flow.function(name.lower(), call, args, kwargs, out, target)
        return out

    def call_function(self, target, args, kwargs):
        out = super().call_function(target, args, kwargs)
        name = _op_name(target)
        if target is operator.getitem:
            name = "getitem"
        self.flow.function(name, target, args, kwargs, out)
        return out

    def call_method(self, target, args, kwargs):
        out = super().call_method(target, args, kwargs)

        def call(self_, *rest, **kw):
            return getattr(self_, target)(*rest, **kw)

        self.flow.function(_op_name(target), call, args, kwargs, out)
        return out


class _Mode(torch.overrides.TorchFunctionMode):
    """Sees every torch call outside the weighted layers of one forward pass."""

    def __init__(self, flow):
        super().__init__()
        self.flow = flow
        self.depth = 0  # > 0 inside a weighted layer, which is read as a whole
        self.stack = [""]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth == 0:
            name = _op_name(func)
            self.flow.function(name, func, args, kwargs, out, self.stack[-1])
        return out


def _run_hooked(module, flow, x, input_dim):
    mode = _Mode(flow)
    handles = []
    for name, sub in module.named_modules():
        if is_weighted(sub):

            def pre(m, inputs):
                mode.depth += 1

            def post(m, inputs, output, name=name):
                mode.depth -= 1
                if mode.depth == 0:
                    flow.module(m, name, inputs, output)

            handles.append(sub.register_forward_pre_hook(pre))
            handles.append(sub.register_forward_hook(post))
        elif name:

            def enter(m, inputs, name=name):
                mode.stack.append(name)

            def leave(m, inputs, output):
                mode.stack.pop()

            handles.append(sub.register_forward_pre_hook(enter))
            handles.append(sub.register_forward_hook(leave))
    try:
        flow.add_input(x, input_dim)
        with mode:
            return module(x)
    finally:
        for handle in handles:
            handle.remove()


def trace_graph(module, x, input_dim, *, weights=False):
    """Read ``module``'s data flow on the example input ``x``.

    Returns ``(graph, output, traced)``: the graph, the model's output and
    whether ``torch.fx`` traced it (else one forward pass was recorded).
    """
    flow = _Flow(weights)
    training = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            try:
                graph = _Tracer().trace(module)
            except Exception as exc:  # noqa: BLE001 - any tracing failure
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                warnings.warn(
                    f"network_to_graph: torch.fx cannot trace {type(module).__name__} "
                    f"({reason}); its graph is read from one forward pass instead, "
                    "so branches that this input does not take are missing.",
                    UserWarning,
                    stacklevel=3,
                )
                output = _run_hooked(module, flow, x, input_dim)
                traced = False
            else:
                gm = torch.fx.GraphModule(module, graph)
                output = _Interpreter(gm, flow, input_dim).run(x)
                traced = True
    finally:
        for m, mode in training.items():
            m.train(mode)
    for tensor in _tensors(output):
        signal = flow.get(tensor)
        if signal is None:
            continue
        for node in signal[0].tolist():
            if node >= 0 and flow.graph.nodes[node]["kind"] == "hidden":
                flow.graph.nodes[node]["kind"] = "output"
    if flow.unread:
        warnings.warn(
            "network_to_graph could not follow the data through: "
            f"{', '.join(dict.fromkeys(flow.unread))}; the outputs of these "
            "operations start new nodes (kind 'unread') not connected to what "
            "feeds them.",
            UserWarning,
            stacklevel=3,
        )
    return flow.graph, output, traced
