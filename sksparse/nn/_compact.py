"""Compact inference form of sparse networks: fewer neurons, sparse storage.

A masked network is as large and as slow as a dense one: its zeros are
stored and multiplied. :func:`compress` turns it into a
:class:`CompressedNetwork` that

1. removes neurons that lost all their inputs (a constant, whose effect is
   folded exactly into the biases of the layers that read it) or all their
   outputs (nothing reads it), and input features that no weight reads;
2. stores each remaining layer dense or in CSR form, by its density: only the
   non-zeros and their indices are kept, so the pickled model grows with the
   number of non-zeros and a sparse layer costs time in proportion to them.

A CSR layer computes in *feature-major* layout: its input is stored as an
``(n_units, n_samples)`` matrix, so a CSR row of the layer meets contiguous
rows of the input and the kernel streams them; consecutive CSR layers pass
that layout on without copies, and dense layers read it through BLAS's
transposed mode.

Nothing here imports scikit-learn or skorch; numba, when installed, provides
the fastest sparse kernel and is imported on first use only.
"""

import importlib.util
import numbers
import warnings

import numpy as np
import torch
from torch import nn

__all__ = [
    "CompactLinear",
    "CompressedNetwork",
    "DENSE_THRESHOLD",
    "compress",
    "linear_stats",
]

# Largest density at which a layer is stored in CSR form rather than dense,
# per sparse kernel. Crossovers measured on one core of an AMD EPYC (Zen 3),
# torch 2.14 with MKL, layers 300x784, 100x300, 2000x784 and 2000x2000
# (benchmarks/inference.py, "crossover" in benchmarks/results/inference.json):
# numba's CSR wins up to density 0.2-0.3 at batch 256 but only up to 0.05-0.2
# at batch 1 (per-layer call overhead); torch.sparse up to 0.1-0.15. The
# thresholds sit between, so that neither batch size loses much.
DENSE_THRESHOLD = {"numba": 0.15, "torch": 0.1}

BACKENDS = ("auto", "numba", "torch")
LAYOUTS = ("auto", "dense", "csr")

# Element-wise modules a compressed network can apply between its layers:
# each maps a unit's pre-activation to its activation on its own, which is
# what folding a constant neuron into the next bias needs.
ELEMENTWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.Hardshrink,
    nn.Softshrink,
    nn.Tanhshrink,
    nn.LogSigmoid,
    nn.Threshold,
)
# Modules that are the identity at inference time.
INFERENCE_IDENTITY = (
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


# -- sparse kernels ------------------------------------------------------------
def _spmm_kernel(crow, col, val, bias, x, out):
    """``out = W @ x + bias[:, None]`` for CSR ``W`` and row-major ``x``.

    Each non-zero ``W[r, c]`` adds ``W[r, c] * x[c, :]`` to ``out[r, :]``: an
    axpy over the samples, contiguous in both operands, which LLVM vectorises.
    """
    n_rows = crow.shape[0] - 1
    n_cols = x.shape[1]
    for r in range(n_rows):
        b = bias[r]
        for j in range(n_cols):
            out[r, j] = b
        for k in range(crow[r], crow[r + 1]):
            v = val[k]
            c = col[k]
            for j in range(n_cols):
                out[r, j] += v * x[c, j]


def _spmv_kernel(crow, col, val, bias, x, out):
    """``out = W @ x + bias`` for CSR ``W`` and a vector ``x`` (batch 1).

    Four accumulators per row break the chain of dependent additions, so
    four gathers and multiply-adds are in flight at a time.
    """
    n_rows = crow.shape[0] - 1
    for r in range(n_rows):
        a0 = a1 = a2 = a3 = val.dtype.type(0)
        k = crow[r]
        end = crow[r + 1]
        while k + 4 <= end:
            a0 += val[k] * x[col[k]]
            a1 += val[k + 1] * x[col[k + 1]]
            a2 += val[k + 2] * x[col[k + 2]]
            a3 += val[k + 3] * x[col[k + 3]]
            k += 4
        while k < end:
            a0 += val[k] * x[col[k]]
            k += 1
        out[r] = bias[r] + ((a0 + a1) + (a2 + a3))


def _chain_spmv_kernel(crow, col, val, bias, sizes, relu, buf_a, buf_b, x, out):
    """A chain of CSR layers on one sample, in one call (batch-1 latency).

    Layer ``l`` maps ``sizes[l]`` to ``sizes[l + 1]`` units; its rows are the
    next ``sizes[l + 1]`` rows of the concatenated CSR arrays (``crow`` is
    global: each layer's row pointers are offset by the non-zeros before
    it), ``relu[l]`` says whether a ReLU follows. Activations ping-pong
    between two buffers and the last layer writes ``out``.
    """
    n_layers = sizes.shape[0] - 1
    row = 0
    src = x
    for layer in range(n_layers):
        n_out = sizes[layer + 1]
        last = layer == n_layers - 1
        dst = out if last else (buf_a if layer % 2 == 0 else buf_b)
        zero = val.dtype.type(0)
        for r in range(n_out):
            a0 = a1 = a2 = a3 = zero
            k = crow[row + r]
            end = crow[row + r + 1]
            while k + 4 <= end:
                a0 += val[k] * src[col[k]]
                a1 += val[k + 1] * src[col[k + 1]]
                a2 += val[k + 2] * src[col[k + 2]]
                a3 += val[k + 3] * src[col[k + 3]]
                k += 4
            while k < end:
                a0 += val[k] * src[col[k]]
                k += 1
            acc = bias[row + r] + ((a0 + a1) + (a2 + a3))
            if relu[layer] and acc < zero:
                acc = zero
            dst[r] = acc
        row += n_out
        src = dst


_NUMBA_KERNELS = None


def _numba_kernels():
    """Compile (or load from numba's cache) the sparse kernels on first use."""
    global _NUMBA_KERNELS
    if _NUMBA_KERNELS is None:
        import numba

        # "contract" lets LLVM fuse multiply-adds; no "nnan"/"ninf", so NaN
        # and inf still propagate as in the masked model.
        jit = numba.njit(
            nogil=True, cache=True, boundscheck=False, fastmath={"contract"}
        )
        _NUMBA_KERNELS = (
            jit(_spmm_kernel),
            jit(_spmv_kernel),
            jit(_chain_spmv_kernel),
        )
    return _NUMBA_KERNELS


def numba_available():
    """Whether numba, the fastest sparse kernel here, can be imported."""
    return importlib.util.find_spec("numba") is not None


def _resolve_backend(backend):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    if backend == "auto":
        return "numba" if numba_available() else "torch"
    if backend == "numba" and not numba_available():
        raise ImportError(
            "backend='numba' needs numba (pip install numba); "
            "backend='torch' uses torch.sparse instead."
        )
    return backend


# -- compact layers ------------------------------------------------------------
class CompactLinear(nn.Module):
    """An inference-only linear layer, dense or CSR.

    Computes ``x @ W.T + b`` like ``nn.Linear``. A CSR layer computes
    ``W @ x.T`` in *feature-major* layout, where a non-zero ``W[r, c]``
    meets the contiguous row ``x.T[c]`` of all samples; it returns a
    transposed view of its ``(out_features, n_samples)`` result, which the
    next CSR layer reads without a copy.

    Parameters
    ----------
    weight : torch.Tensor of shape (out_features, in_features)
        Dense weights; zeros are not stored in the CSR layout.
    bias : torch.Tensor of shape (out_features,)
    layout : {"dense", "csr"}, default="dense"
    backend : {"numba", "torch"}, default="torch"
        Kernel of the CSR layout: numba's (fastest on CPU) or
        ``torch.sparse.addmm`` (also on GPU).

    Attributes
    ----------
    nnz : int
        Number of stored weights (all of them for the dense layout).
    """

    def __init__(self, weight, bias, layout="dense", backend="torch"):
        super().__init__()
        if layout not in ("dense", "csr"):
            raise ValueError(f"layout must be 'dense' or 'csr', got {layout!r}.")
        weight = weight.detach()
        self.out_features, self.in_features = (int(n) for n in weight.shape)
        self.layout = layout
        self.backend = backend
        self.register_buffer("bias", bias.detach().to(weight.dtype).clone())
        if layout == "dense":
            self.register_buffer("weight", weight.clone().contiguous())
        else:
            # int32 indices: half the file size of int64, and as fast.
            nonzero = weight != 0
            crow = torch.zeros(self.out_features + 1, dtype=torch.int32)
            crow[1:] = torch.cumsum(nonzero.sum(dim=1), 0)
            self.register_buffer("crow_indices", crow)
            self.register_buffer(
                "col_indices", torch.nonzero(nonzero)[:, 1].to(torch.int32)
            )
            self.register_buffer("values", weight[nonzero].clone())
        self._csr = self._arrays = None

    @property
    def nnz(self):
        if self.layout == "dense":
            return self.weight.numel()
        return self.values.numel()

    @property
    def density(self):
        size = self.out_features * self.in_features
        return self.nnz / size if size else 1.0

    def dense_weight(self):
        """The weight matrix as a dense tensor (for inspection and tests)."""
        if self.layout == "dense":
            return self.weight
        return self._torch_csr().to_dense()

    def _torch_csr(self):
        csr = self._csr
        # Rebuilt when the buffers were swapped (torch.func.functional_call,
        # .to(), load_state_dict into new storage).
        if csr is None or csr.values().data_ptr() != self.values.data_ptr():
            with warnings.catch_warnings():
                # torch warns that sparse CSR support is "in beta" on first use.
                warnings.simplefilter("ignore", UserWarning)
                csr = torch.sparse_csr_tensor(
                    self.crow_indices,
                    self.col_indices,
                    self.values,
                    (self.out_features, self.in_features),
                    check_invariants=False,
                )
            self._csr = csr
        return csr

    @property
    def wants_feature_major(self):
        """Whether the input is best stored ``(in_features, n_samples)``."""
        return self.layout == "csr" and self.backend == "numba"

    def forward(self, x):
        """``x @ W.T + b`` for ``x`` of shape ``(n_samples, in_features)``.

        ``x`` may be a transposed view of feature-major storage (what a CSR
        layer returns), which the next layer then reads without a copy.
        """
        if self.layout == "dense":
            return torch.nn.functional.linear(x, self.weight, self.bias)
        if self.backend == "numba" and not x.is_cuda:
            return self._forward_numba(x.T).T
        csr = self._torch_csr()
        return torch.sparse.addmm(self.bias.unsqueeze(1), csr, x.T).T

    def _forward_numba(self, h):
        spmm, spmv, _ = _numba_kernels()
        # numpy views of the buffers, made once: at batch 1 the kernel takes
        # microseconds and so would four .numpy() calls per layer.
        args = self._arrays
        key = (self.values.data_ptr(), self.bias.data_ptr())
        if args is None or args[0] != key:
            args = self._arrays = (
                key,
                self.crow_indices.numpy(),
                self.col_indices.numpy(),
                self.values.numpy(),
                self.bias.numpy(),
            )
        args = args[1:]
        if h.requires_grad:
            h = h.detach()
        x = (h if h.is_contiguous() else h.contiguous()).numpy()
        if x.dtype != args[2].dtype:
            x = x.astype(args[2].dtype)
        out = np.empty((self.out_features, x.shape[1]), dtype=x.dtype)
        if x.shape[1] == 1:
            spmv(*args, x[:, 0], out[:, 0])
        else:
            spmm(*args, x, out)
        return torch.from_numpy(out)

    def _apply(self, fn, *args, **kwargs):
        self._csr = self._arrays = None
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self):
        # The caches view the buffers: never pickle them a second time.
        state = super().__getstate__().copy()
        state["_csr"] = state["_arrays"] = None
        return state

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"layout={self.layout!r}, nnz={self.nnz}, density={self.density:.3f}"
        )


class CompressedNetwork(nn.Module):
    """A feed-forward network in compact inference form (see :func:`compress`).

    Blocks of units are numbered: block 0 is the (kept) input features and
    block ``i + 1`` the output of layer ``i``. Layer ``i`` reads the
    concatenation of the blocks ``reads[i]``; the last layer's block is the
    network's output.

    Parameters
    ----------
    layers : list of CompactLinear
    reads : list of tuple of int
        The blocks each layer reads.
    activations : list of nn.Module or None
        Applied to each layer's output.
    n_features_in : int
        Number of input features of the original network.
    input_features : sequence of int or None, default=None
        Indices of the input features the network reads; ``None`` for all.
    flatten : bool, default=False
        Flatten inputs of more than two dimensions first (as ``nn.Flatten``).

    Attributes
    ----------
    input_features : torch.Tensor or None
        Kept input feature indices (a buffer).
    removed_units : list of int
        Number of neurons removed from each block of the original network
        (the input features first).
    source_stats : dict
        :func:`linear_stats` of the network it was made from.

    Notes
    -----
    Inference only: the forward pass runs without autograd and in eval
    semantics (dropout is the identity).
    """

    def __init__(
        self,
        layers,
        reads,
        activations,
        n_features_in,
        input_features=None,
        flatten=False,
    ):
        super().__init__()
        if not (len(layers) == len(reads) == len(activations)) or not layers:
            raise ValueError("layers, reads and activations must be equally long.")
        self.layers = nn.ModuleList(layers)
        self.reads = [tuple(int(r) for r in rs) for rs in reads]
        self.has_activation = [act is not None for act in activations]
        self.activations = nn.ModuleList(
            [nn.Identity() if act is None else act for act in activations]
        )
        self.n_features_in = int(n_features_in)
        self.flatten = bool(flatten)
        if input_features is None:
            self.input_features = None
        else:
            self.register_buffer(
                "input_features", torch.as_tensor(input_features, dtype=torch.long)
            )
        self.removed_units = []
        self.source_stats = {}
        self._chain_cache = self._steps_cache = None

    @property
    def n_outputs(self):
        return self.layers[-1].out_features

    @property
    def nnz(self):
        """Number of stored weights over all layers."""
        return sum(layer.nnz for layer in self.layers)

    def _steps(self):
        """``(layer, reads, activation or None)`` per layer, as plain objects.

        Cached: looking sub-modules up through ``nn.Module.__getattr__`` and
        ``ModuleList`` costs microseconds a layer, as much as a batch-1 layer.
        """
        steps = self._steps_cache
        if steps is None:
            steps = self._steps_cache = [
                (layer, reads, act if has_act else None)
                for layer, reads, act, has_act in zip(
                    self.layers, self.reads, self.activations, self.has_activation
                )
            ]
        return steps

    def _chain(self):
        """Arrays of the one-call batch-1 kernel, or None where it does not apply.

        It applies to a chain of numba CSR layers with ReLU or no activation
        between them: then a sample crosses the whole network in one numba
        call, without the per-layer Python overhead that dominates latency.
        """
        steps = self._steps()
        first = steps[0][0]._buffers.get("values")
        cached = self._chain_cache
        # Rebuilt when the buffers were swapped (functional_call, .to()).
        if cached is not None and cached[0] is first:
            return cached[1]
        arrays = None
        eligible = all(
            layer.layout == "csr" and layer.backend == "numba" and reads == (i,)
            for i, (layer, reads, _) in enumerate(steps)
        )
        relu = []
        for _, _, act in steps:
            relu.append(type(act) is nn.ReLU)
            if act is not None and not isinstance(act, (nn.ReLU, nn.Identity)):
                eligible = False
        if eligible:
            layers = [layer for layer, _, _ in steps]
            crows, offset = [np.zeros(1, np.int64)], 0
            for layer in layers:
                crows.append(layer.crow_indices.numpy()[1:].astype(np.int64) + offset)
                offset += layer.nnz
            sizes = [layers[0].in_features] + [layer.out_features for layer in layers]
            width = max(sizes)
            dtype = layers[0].values.numpy().dtype
            arrays = (
                np.concatenate(crows),
                np.concatenate([layer.col_indices.numpy() for layer in layers]),
                np.concatenate([layer.values.numpy() for layer in layers]),
                np.concatenate([layer.bias.numpy() for layer in layers]),
                np.asarray(sizes, dtype=np.int64),
                np.asarray(relu, dtype=np.bool_),
                np.empty(width, dtype),
                np.empty(width, dtype),
            )
        self._chain_cache = (first, arrays)
        return arrays

    def _apply(self, fn, *args, **kwargs):
        self._chain_cache = self._steps_cache = None
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state["_chain_cache"] = state["_steps_cache"] = None
        return state

    def forward(self, X):
        with torch.no_grad():
            if self.flatten and X.ndim > 2:
                X = X.flatten(1)
            steps = self._steps()
            if X.dtype != steps[0][0].bias.dtype:
                X = X.to(steps[0][0].bias.dtype)
            if X.shape[-1] != self.n_features_in:
                raise ValueError(
                    f"X has {X.shape[-1]} features, the network expects "
                    f"{self.n_features_in}."
                )
            index = self._buffers.get("input_features")
            if X.shape[0] == 1 and not X.is_cuda:
                chain = self._chain()
                if chain is not None:
                    x = X[0] if index is None else X[0].index_select(0, index)
                    x = x.contiguous().numpy()
                    out = np.empty(steps[-1][0].out_features, x.dtype)
                    _numba_kernels()[2](*chain, x, out)
                    return torch.from_numpy(out).unsqueeze(0)
            if steps[0][0].wants_feature_major:
                # Gather the kept features and transpose in a single copy.
                h = X.T if index is None else X.T.index_select(0, index)
                h = h.contiguous().T
            else:
                h = X if index is None else X.index_select(1, index)
            blocks = [h]
            for layer, reads, act in steps:
                if len(reads) == 1:
                    inp = blocks[reads[0]]
                elif reads:
                    inp = _concat([blocks[r] for r in reads])
                else:
                    inp = blocks[0][:, :0]
                # .forward, not __call__: at batch 1 the hook machinery of
                # nn.Module costs as much as a sparse layer's arithmetic.
                out = layer.forward(inp)
                blocks.append(out if act is None else act.forward(out))
            return blocks[-1].contiguous()


def _concat(blocks):
    """Concatenate ``(n_samples, n_i)`` blocks, feature-major if all are."""
    if all(b.T.is_contiguous() for b in blocks):
        return torch.cat([b.T for b in blocks]).T
    return torch.cat(blocks, dim=1)


# -- compression -----------------------------------------------------------------
class _Stage:
    """One linear layer of a feed-forward net: weights over its read blocks."""

    def __init__(self, weight, bias, reads, activation):
        self.weight = weight
        self.bias = bias
        self.reads = list(reads)
        self.activation = activation


def _effective_weight(linear):
    weight = linear.weight.detach()
    mask = getattr(linear, "mask", None)
    if isinstance(mask, torch.Tensor):
        weight = weight * mask.to(weight.dtype)
    bias = linear.bias
    if bias is None:
        bias = torch.zeros(weight.shape[0], dtype=weight.dtype)
    return weight.cpu().clone(), bias.detach().cpu().to(weight.dtype).clone()


def _is_elementwise(module):
    if isinstance(module, nn.PReLU):
        return module.num_parameters == 1
    return isinstance(module, ELEMENTWISE)


def _unroll(module):
    for sub in module:
        if isinstance(sub, nn.Sequential):
            yield from _unroll(sub)
        else:
            yield sub


def _sequential_stages(sequential):
    """Stages of an ``nn.Sequential`` of Linear layers and element-wise maps."""
    stages, pending, flatten = [], [], False
    for sub in _unroll(sequential):
        if isinstance(sub, nn.Linear):
            if stages:
                stages[-1].activation = _chain(pending)
            elif pending:
                raise TypeError(
                    "compress needs a Linear layer before any activation, "
                    f"got {type(pending[0]).__name__} first."
                )
            pending = []
            weight, bias = _effective_weight(sub)
            stages.append(_Stage(weight, bias, [len(stages)], None))
        elif isinstance(sub, INFERENCE_IDENTITY):
            continue
        elif isinstance(sub, nn.Flatten) and not stages and not pending:
            if sub.start_dim != 1 or sub.end_dim != -1:
                raise TypeError("compress handles nn.Flatten(1, -1) only.")
            flatten = True
        elif _is_elementwise(sub):
            pending.append(sub)
        else:
            raise TypeError(
                "compress handles feed-forward stacks of nn.Linear layers and "
                f"element-wise activations; cannot compress {type(sub).__name__}."
            )
    if not stages:
        raise TypeError("compress found no nn.Linear layer in the module.")
    stages[-1].activation = _chain(pending)
    return stages, flatten


def _chain(modules):
    import copy

    modules = [copy.deepcopy(m).eval() for m in modules]
    if not modules:
        return None
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules)


def _dag_stages(module):
    """Stages of a :class:`~sksparse.nn.DAGNetwork`: layer i reads blocks 0..i."""
    stages = []
    activation = _chain([module.activation])
    for i, layer in enumerate(module.hidden):
        weight, bias = _effective_weight(layer)
        stages.append(_Stage(weight, bias, range(i + 1), activation))
    weight, bias = _effective_weight(module.output)
    stages.append(_Stage(weight, bias, range(len(stages) + 1), None))
    return stages


def _stages_of(module):
    from sksparse.nn._mlp import DAGNetwork, SparseMLP

    if isinstance(module, SparseMLP):
        return _sequential_stages(module.layers)
    if isinstance(module, DAGNetwork):
        return _dag_stages(module), False
    if isinstance(module, nn.Sequential):
        return _sequential_stages(module)
    if isinstance(module, nn.Linear):
        return _sequential_stages(nn.Sequential(module))
    raise TypeError(
        "compress takes a SparseMLP, a DAGNetwork, or an nn.Sequential of "
        f"nn.Linear layers and element-wise activations; got {type(module).__name__}."
    )


def _block_slices(stage, sizes):
    """``(block, slice)`` of each read block in the stage's weight columns."""
    start, out = 0, []
    for block in stage.reads:
        out.append((block, slice(start, start + sizes[block])))
        start += sizes[block]
    if start != stage.weight.shape[1]:
        raise ValueError(
            f"a layer has {stage.weight.shape[1]} inputs but the blocks it reads "
            f"hold {start} units; the layer sizes do not chain."
        )
    return out


def _eliminate(stages, n_features):
    """Fold constant neurons into biases, then find the neurons still needed.

    Returns ``needed``: one boolean tensor per block (block 0: input
    features). The stages' weights and biases are updated in place: the
    columns of constant neurons are zeroed and their effect added to the bias.
    """
    sizes = [n_features] + [s.weight.shape[0] for s in stages]
    constant = [torch.zeros(n, dtype=torch.bool) for n in sizes]
    value = [torch.zeros(n, dtype=torch.float64) for n in sizes]
    # Forward: a neuron with no non-zero input outputs act(bias), a constant.
    # Its contribution W[:, j] * act(b_j) to every reader joins the reader's
    # bias, exactly; then the reader may itself have lost all its inputs.
    for i, stage in enumerate(stages):
        slices = _block_slices(stage, sizes)
        bias = stage.bias.to(torch.float64)
        for block, sl in slices:
            if constant[block].any():
                cols = torch.arange(sl.start, sl.stop)[constant[block]]
                bias = (
                    bias
                    + stage.weight[:, cols].to(torch.float64)
                    @ (value[block][constant[block]])
                )
                stage.weight[:, cols] = 0
        stage.bias = bias.to(stage.weight.dtype)
        if i == len(stages) - 1:
            break  # the network's outputs stay, whatever they read
        no_input = ~(stage.weight != 0).any(dim=1)
        constant[i + 1] = no_input
        if no_input.any():
            b = stage.bias[no_input]
            with torch.no_grad():
                act = stage.activation(b) if stage.activation is not None else b
            value[i + 1][no_input] = act.to(torch.float64)
    # Backward: a neuron is needed if a needed neuron reads it.
    needed = [torch.zeros(n, dtype=torch.bool) for n in sizes]
    needed[-1][:] = True
    for i in reversed(range(len(stages))):
        rows = needed[i + 1]
        if not rows.any():
            continue
        used = (stages[i].weight[rows] != 0).any(dim=0)
        for block, sl in _block_slices(stages[i], sizes):
            needed[block] |= used[sl]
    return needed


def linear_stats(module):
    """Parameter and FLOP counts of a network's linear layers (ShrinkBench's).

    Parameters
    ----------
    module : torch.nn.Module
        Every ``nn.Linear`` (``MaskedLinear`` included) counts; a weight is
        non-zero if its mask keeps it and it is not exactly zero. A
        :class:`CompressedNetwork` reports the counts of the network it was
        made from.

    Returns
    -------
    dict
        ``size`` (weights and biases), ``size_nz`` (the non-zero ones),
        ``flops`` (multiply-adds per sample, ``in * out`` per layer, biases
        not counted, as in ShrinkBench) and ``flops_nz`` (non-zero weights).
    """
    if isinstance(module, CompressedNetwork):
        return dict(module.source_stats)
    stats = dict.fromkeys(("size", "size_nz", "flops", "flops_nz"), 0)
    for sub in module.modules():
        if not isinstance(sub, nn.Linear):
            continue
        weight, _ = _effective_weight(sub)
        nz = int(weight.count_nonzero())
        stats["flops"] += weight.numel()
        stats["flops_nz"] += nz
        stats["size"] += weight.numel()
        stats["size_nz"] += nz
        if sub.bias is not None:
            stats["size"] += sub.bias.numel()
            stats["size_nz"] += int(sub.bias.detach().count_nonzero())
    return stats


def _check_threshold(dense_threshold):
    if dense_threshold is None:
        return None
    if isinstance(dense_threshold, bool) or not isinstance(
        dense_threshold, numbers.Real
    ):
        raise TypeError(
            f"dense_threshold must be a float, got {type(dense_threshold).__name__}."
        )
    if not 0.0 <= dense_threshold <= 1.0:
        raise ValueError(f"dense_threshold must be in [0, 1], got {dense_threshold}.")
    return float(dense_threshold)


def compress(module, *, layout="auto", backend="auto", dense_threshold=None):
    """Turn a sparse feed-forward network into a compact, fast inference form.

    Neurons that lost all their inputs are constants: their effect on the
    layers that read them is folded exactly into those layers' biases.
    Neurons that lost all their outputs, and input features that no weight
    reads, are removed. Each remaining layer is stored dense or as CSR
    (non-zeros and their indices only), whichever its density makes faster.

    Parameters
    ----------
    module : SparseMLP, DAGNetwork, nn.Sequential or nn.Linear
        The network, in eval semantics (dropout is dropped). An
        ``nn.Sequential`` may hold ``nn.Linear`` (or ``MaskedLinear``)
        layers, element-wise activations, dropout and a leading
        ``nn.Flatten``. A weight counts as removed if its mask is 0 or it is
        exactly zero.
    layout : {"auto", "dense", "csr"}, default="auto"
        ``"auto"`` stores a layer as CSR when its density (after neuron
        removal) is at most ``dense_threshold``, dense otherwise.
    backend : {"auto", "numba", "torch"}, default="auto"
        Kernel of the CSR layers. ``"numba"`` (used by ``"auto"`` when numba
        is installed) is the fastest on CPU; ``"torch"`` uses
        ``torch.sparse.addmm`` (CPU and GPU).
    dense_threshold : float, default=None
        Largest density stored as CSR with ``layout="auto"``; ``None`` takes
        the crossover measured for the backend (:data:`DENSE_THRESHOLD`).

    Returns
    -------
    CompressedNetwork
        Computes the same outputs as ``module`` (to float rounding).

    See Also
    --------
    sksparse.estimators.compression_report : sizes, FLOPs and speed-ups.

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import SparseMLP, compress
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> masks = [(torch.rand(32, 10) < 0.1), (torch.rand(3, 32) < 0.3)]
    >>> net = SparseMLP(10, (32,), 3, masks=masks).eval()
    >>> small = compress(net)
    >>> X = torch.randn(5, 10)
    >>> torch.allclose(small(X), net(X), atol=1e-6)
    True
    >>> small.layers[0].in_features < 10  # features no weight reads are gone
    True
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}.")
    backend = _resolve_backend(backend)
    threshold = _check_threshold(dense_threshold)
    if threshold is None:
        threshold = DENSE_THRESHOLD[backend]
    stages, flatten = _stages_of(module)
    source_stats = linear_stats(module)
    n_features = stages[0].weight.shape[1]
    if stages[0].reads != [0]:
        raise AssertionError("the first layer must read the input only")
    needed = _eliminate(stages, n_features)

    # New block numbers: input stays 0; a layer that lost every neuron goes.
    new_block = {0: 0}
    layers, reads, activations = [], [], []
    sizes = [n_features] + [s.weight.shape[0] for s in stages]
    for i, stage in enumerate(stages):
        rows = needed[i + 1]
        if not rows.any():
            continue
        cols, kept_reads = [], []
        for block, sl in _block_slices(stage, sizes):
            keep = needed[block]
            if keep.any():
                cols.append(torch.arange(sl.start, sl.stop)[keep])
                kept_reads.append(new_block[block])
        cols = torch.cat(cols) if cols else torch.zeros(0, dtype=torch.long)
        weight = stage.weight[rows][:, cols]
        size = weight.numel()
        density = int(weight.count_nonzero()) / size if size else 1.0
        chosen = layout
        if layout == "auto":
            chosen = "csr" if size and density <= threshold else "dense"
        if size == 0:
            chosen = "dense"
        layers.append(CompactLinear(weight, stage.bias[rows], chosen, backend))
        reads.append(tuple(kept_reads))
        activations.append(stage.activation)
        new_block[i + 1] = len(layers)
    kept = needed[0]
    input_features = None if kept.all() else torch.nonzero(kept).flatten()
    net = CompressedNetwork(
        layers, reads, activations, n_features, input_features, flatten=flatten
    )
    net.removed_units = [int((~keep).sum()) for keep in needed]
    net.source_stats = source_stats
    return net.eval()
