"""Compact inference form of sparse networks: fewer neurons, sparse storage.

A masked network is as large and as slow as a dense one: its zeros are
stored and multiplied. :func:`compress` turns it into a
:class:`CompressedNetwork` that

1. removes neurons that lost all their inputs (a constant, whose effect is
   folded exactly into the biases of the layers that read it) or all their
   outputs (nothing reads it), and input features that no weight reads;
2. stores each remaining layer dense or in CSR form, whichever measures
   faster: only the non-zeros and their indices are kept, so the pickled
   model grows with the number of non-zeros and a sparse layer costs time in
   proportion to them.

A network with CSR layers computes in *feature-major* layout: activations are
stored as ``(n_units, n_samples)`` matrices, so a CSR row of a layer meets
contiguous rows of its input and the kernel streams them; every layer, dense
ones included (one plain GEMM), passes that layout on without copies.

Nothing here imports scikit-learn or skorch; numba, when installed, provides
the fastest sparse kernel and is imported on first use only.
"""

import numbers
import warnings

import numpy as np
import torch
from torch import nn

from sksparse.nn import _csr
from sksparse.nn._compact_conv import (
    CompactConv2d,
    CompressedConvNetwork,
    chain_of,
    compress_chain,
)
from sksparse.nn._compressed import CompressedNetwork
from sksparse.nn._csr import (
    DENSE_THRESHOLD,
    _resolve_backend,
    csr_matmul,
    numba_available,
)
from sksparse.nn._mlp import DAGNetwork, SparseMLP
from sksparse.nn._packing import pack_buffers, pack_indices, pack_sparse_dense
from sksparse.nn._stages import _block_slices, _effective_weight, _eliminate, _stages_of

__all__ = [
    "CompactConv2d",
    "CompactLinear",
    "CompressedConvNetwork",
    "CompressedNetwork",
    "DENSE_THRESHOLD",
    "compress",
    "linear_stats",
    "numba_available",
]

LAYOUTS = ("auto", "dense", "csr", "bsr", "nm")


# -- compact layers ------------------------------------------------------------
class CompactLinear(nn.Module):
    """An inference-only linear layer, dense or CSR.

    Computes ``x @ W.T + b`` like ``nn.Linear``. When ``x`` is a transposed
    view of *feature-major* storage (``x.T`` contiguous, of shape
    ``(in_features, n_samples)``), every layout computes ``W @ x.T`` and
    returns a transposed view of its ``(out_features, n_samples)`` result,
    which the next layer reads without a copy: a CSR row of ``W`` then meets
    contiguous rows of the input, and a dense layer is one plain GEMM.

    Parameters
    ----------
    weight : torch.Tensor of shape (out_features, in_features)
        Dense weights; zeros are not stored in the CSR layout.
    bias : torch.Tensor of shape (out_features,)
    layout : {"dense", "csr"}, default="dense"
    backend : {"numba", "torch"}, default="torch"
        Kernel of the CSR layout: numba's (fastest on CPU) or
        ``torch.sparse.addmm`` (also on GPU). Both run on torch's intra-op
        threads (``torch.set_num_threads``).

    Attributes
    ----------
    nnz : int
        Number of non-zero weights (in either layout).
    n_stored : int
        Number of weights stored: all ``out * in`` in the dense layout, the
        non-zeros in CSR.
    """

    def __init__(self, weight, bias, layout="dense", backend="torch"):
        super().__init__()
        if layout not in ("dense", "csr"):
            raise ValueError(f"layout must be 'dense' or 'csr', got {layout!r}.")
        if backend not in ("numba", "torch"):
            raise ValueError(f"backend must be 'numba' or 'torch', got {backend!r}.")
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
        self._clear_caches()

    def _clear_caches(self):
        self._csr = self._arrays = None

    @property
    def nnz(self):
        if self.layout == "dense":
            return int(torch.count_nonzero(self.weight))
        return self.values.numel()

    @property
    def n_stored(self):
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
    def row_invariant(self):
        """Whether each sample's outputs are the same at any batch size.

        numba's CSR kernels: the same operations in the same order for
        every sample, one row included. MKL (dense) and torch's CSR are not
        known to be under 7 rows.
        """
        return self.layout == "csr" and self.backend == "numba"

    @property
    def wants_feature_major(self):
        """Whether the input is best stored ``(in_features, n_samples)``."""
        return self.layout == "csr"

    def forward(self, x, relu=False):
        """``x @ W.T + b`` for ``x`` of shape ``(n_samples, in_features)``.

        ``x`` may be a transposed view of feature-major storage (what a
        layer returns from such an input), which the next layer then reads
        without a copy. ``relu=True`` applies a ReLU to the result in place
        (fused into numba's kernel).
        """
        feature_major = x.T.is_contiguous() and (
            not x.is_contiguous() or x.shape[0] == 1
        )
        if self.layout == "dense":
            if feature_major and x.shape[0] > 1:
                out = torch.addmm(self.bias.unsqueeze(1), self.weight, x.T).T
            else:
                out = torch.nn.functional.linear(x, self.weight, self.bias)
        elif self.backend == "numba" and not x.is_cuda:
            return self._forward_numba(x.T, relu).T
        else:
            out = torch.sparse.addmm(self.bias.unsqueeze(1), self._torch_csr(), x.T).T
        return out.relu_() if relu else out

    def _forward_numba(self, h, relu):
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
                {},  # row chunks per thread count
            )
        if h.requires_grad:
            h = h.detach()
        x = (h if h.is_contiguous() else h.contiguous()).numpy()
        if x.dtype != args[3].dtype:
            x = x.astype(args[3].dtype)
        out = np.empty((self.out_features, x.shape[1]), dtype=x.dtype)
        if x.shape[1] == 1:
            csr_matmul(args[1:5], x[:, 0], out[:, 0], relu, args[5])
        else:
            csr_matmul(args[1:5], x, out, relu, args[5])
        return torch.from_numpy(out)

    def _apply(self, fn, *args, **kwargs):
        self._clear_caches()
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self):
        # The caches view the buffers: never pickle them a second time.
        state = super().__getstate__().copy()
        state["_csr"] = state["_arrays"] = None
        # What the file holds grows with the non-zeros whatever layout was
        # timed fastest: column indices in 2 bytes (4 at run time), and a
        # layer kept dense for speed stored by its non-zeros when smaller.
        # Both load back as the tensors saved (sksparse.nn._packing).
        return pack_buffers(state, self._pack)

    def _pack(self, name, tensor):
        if name == "col_indices":
            return pack_indices(tensor, self.in_features)
        if name == "crow_indices":
            return pack_indices(tensor, self.nnz + 1)
        if name == "weight":
            return pack_sparse_dense(tensor)
        return tensor

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"layout={self.layout!r}, backend={self.backend!r}, nnz={self.nnz}, "
            f"density={self.density:.3f}"
        )


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
    if isinstance(module, (CompressedNetwork, CompressedConvNetwork)):
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


def _sparse_backends(backend):
    """The CSR kernels to consider: ``"auto"`` times numba's and torch's."""
    resolved = _resolve_backend(backend)
    if backend == "auto" and resolved == "numba":
        return ("numba", "torch")
    return (resolved,)


def _structured_layers(weight, bias, backends):
    """Block (BSR) and N:M candidates for a layer whose non-zeros have either form."""
    from sksparse.nn._structured import BlockLinear, NMLinear, find_blocks, find_nm

    candidates = {}
    if "numba" not in backends and "torch" not in backends:
        return candidates
    blocks = find_blocks(weight)
    if blocks is not None:
        if "numba" in backends:
            candidates["bsr-numba"] = BlockLinear(weight, bias, blocks, "numba")
        if "torch" in backends and blocks[0] == blocks[1]:
            candidates["bsr-torch"] = BlockLinear(weight, bias, blocks, "torch")
    nm = find_nm(weight)
    if nm is not None and "numba" in backends:
        candidates["nm"] = NMLinear(weight, bias, *nm)
    return candidates


def _forced_structure(weight, bias, layout, backends):
    """The ``"bsr"`` or ``"nm"`` layer the user asked for; refused without one."""
    candidates = _structured_layers(weight, bias, backends)
    names = ["nm"] if layout == "nm" else ["bsr-numba", "bsr-torch"]
    for name in names:
        if name in candidates:
            return candidates[name]
    raise ValueError(
        f"layout={layout!r}: a layer of shape {tuple(weight.shape)} has no "
        + ("N:M groups" if layout == "nm" else "block structure")
        + " in its non-zeros (prune it with MagnitudePruner(pattern=...)), or "
        "use layout='auto'."
    )


def _compact_layer(weight, bias, layout, backends, threshold, relu):
    """A compact layer in the layout given, or its timed candidates for ``"auto"``.

    Returns ``(layer, None)``, or for a timed ``"auto"`` choice
    ``(layer chosen alone, (candidates, times))``: :func:`_choose_network`
    then weighs the layers' choices together.
    """
    size = weight.numel()
    if size == 0 or layout == "dense":
        return CompactLinear(weight, bias, "dense", backends[0]), None
    if layout == "csr":
        return CompactLinear(weight, bias, "csr", backends[0]), None
    if layout in ("bsr", "nm"):
        return _forced_structure(weight, bias, layout, _numba_first(backends)), None
    density = int(weight.count_nonzero()) / size
    if threshold is not None:  # the documented rule the user asked for
        chosen = "csr" if density <= threshold else "dense"
        return CompactLinear(weight, bias, chosen, backends[0]), None
    dense = CompactLinear(weight, bias, "dense", backends[0])
    if density > _csr.MAX_SPARSE_DENSITY:
        return dense, None
    candidates = {"dense": dense}
    for backend in backends:
        candidates[backend] = CompactLinear(weight, bias, "csr", backend)
    # A layer pruned in blocks or N:M groups is also timed in that form.
    candidates.update(_structured_layers(weight, bias, _numba_first(backends)))
    chosen, times = _csr.choose_layout(candidates, relu)
    return candidates[chosen], (candidates, times)


def _choose_network(layers, timed, make_network):
    """Weigh the timed layers' layouts together, on whole networks.

    A layer alone keeps a sparse layout only if it beats dense at batch 1
    and at 256, but at batch 1 a network's cost is not the sum of its
    layers': a chain of numba CSR layers crosses the network in one call,
    without the Python overhead of each layer (on a 90 % LeNet-300-100 that
    overhead kept every layer dense, at 1.0x dense's speed at batch 256
    where CSR ran 2-3x faster). So these networks are built and timed as
    ``predict_proba`` runs them, and the fastest that beats the dense
    network at every batch size is kept:

    - ``"dense"``: every timed layer dense, the reference;
    - ``"layers"``: each layer's own choice;
    - ``"throughput"``: each layer's fastest form at batch 256;
    - ``"chain"``: numba's CSR for every layer, where each layer has it.
    """
    if not any(timed):
        return layers
    big = _csr.MEASURE_BATCHES.index(max(_csr.MEASURE_BATCHES))
    options = {"layers": list(layers), "dense": [], "throughput": [], "chain": []}
    for layer, found in zip(layers, timed):
        if found is None:
            for name in ("dense", "throughput", "chain"):
                options[name].append(layer)
            continue
        candidates, times = found
        options["dense"].append(candidates["dense"])
        options["throughput"].append(
            candidates[min(times, key=lambda name: times[name][big])]
        )
        options["chain"].append(candidates.get("numba"))
    if any(layer is None for layer in options["chain"]):
        del options["chain"]

    def key(chosen):
        return tuple(id(layer) for layer in chosen)

    networks = {"dense": make_network(options["dense"])}
    seen = {key(options["dense"])}
    for name in ("layers", "throughput", "chain"):
        if name in options and key(options[name]) not in seen:
            seen.add(key(options[name]))
            networks[name] = make_network(options[name])
    if set(networks) <= {"dense", "layers"}:
        return layers  # nothing but each layer's own choice to weigh
    best, _ = _csr.choose_network(networks)
    return options[best]


def _numba_first(backends):
    """The backends structured layers may use: numba's only where it imports."""
    return tuple(b for b in backends if b != "numba" or numba_available())


def compress(
    module, *, layout="auto", backend="auto", dense_threshold=None, input_shape=None
):
    """Turn a sparse feed-forward network into a compact, fast inference form.

    Neurons that lost all their inputs are constants: their effect on the
    layers that read them is folded exactly into those layers' biases.
    Neurons that lost all their outputs, and input features that no weight
    reads, are removed. Each remaining layer is stored dense or as CSR
    (non-zeros and their indices only), whichever measures faster; a layer
    whose non-zeros form blocks or N:M groups (``MagnitudePruner(pattern=
    ...)``) is also timed as blocks (:class:`~sksparse.nn.BlockLinear`) and
    N:M values and offsets (:class:`~sksparse.nn.NMLinear`).

    Parameters
    ----------
    module : torch.nn.Module
        The network, in eval semantics (dropout is dropped): a
        :class:`SparseMLP`, :class:`DAGNetwork`, :class:`SparseCNN`, an
        ``nn.Sequential``, or any module that ``torch.fx`` traces to a
        single chain of ``nn.Linear``/``nn.Conv2d`` layers (masked ones
        included), ``BatchNorm2d`` after a convolution, element-wise
        activations (modules or ``torch.relu``-style calls), pooling,
        dropout, and flatten or reshape calls. A weight counts as removed if
        its mask is 0 or it is exactly zero. Residual additions and branches
        are refused with a ``TypeError`` naming the operation.
    layout : {"auto", "dense", "csr", "bsr", "nm"}, default="auto"
        ``"auto"`` times each layer (after neuron removal) dense and in CSR
        form with each kernel ``backend`` allows, at batch 1 and 256 and the
        torch thread count in effect, then times whole networks built from
        those choices (each layer's own, each layer's fastest at batch 256,
        numba's CSR throughout) as ``predict_proba`` runs them, and keeps
        the fastest that beats the dense network at both batch sizes, so the
        network is never slower than dense, whatever its layers' mix;
        layers denser than 0.5 stay dense untimed. That costs up to a few
        tenths of a second per large layer.
        With ``dense_threshold`` set, ``"auto"`` follows the density rule
        instead (no timing, the same layouts on every machine). Layers
        pruned in blocks or N:M groups are timed in those forms too (found
        in the non-zeros after neuron removal, which keeps whole block rows
        and columns aligned but can shift N:M groups). ``"bsr"`` and
        ``"nm"`` ask for that form for every layer that has it (an error for
        one that has not).
    backend : {"auto", "numba", "torch"}, default="auto"
        Kernel of the CSR layers. ``"numba"`` is the fastest on CPU;
        ``"torch"`` uses ``torch.sparse.addmm`` (CPU and GPU). ``"auto"``
        lets ``layout="auto"`` pick per layer between the two (torch's only
        when numba is not installed); both run on torch's intra-op threads.
    dense_threshold : float, default=None
        With ``layout="auto"``: store a layer as CSR when its density is at
        most this, dense otherwise, without timing
        (:data:`DENSE_THRESHOLD` holds crossovers measured per kernel).
    input_shape : tuple of int, default=None
        One image's ``(channels, height, width)``, for networks with
        convolutions: it sizes their FLOPs. ``None`` takes a
        :class:`SparseCNN`'s own, or the smallest square image whose maps
        fill the first linear layer.

    Returns
    -------
    CompressedNetwork or CompressedConvNetwork
        Computes the same outputs as ``module`` (to float rounding). A
        network with convolutions becomes a :class:`CompressedConvNetwork`:
        masks and batch norms folded into dense kernels, and every output
        channel whose map is zero whatever the input (all-zero kernels and a
        bias the activation maps to 0) or that no later weight reads removed
        together with the next layer's matching inputs; its linear head is
        compressed as above.

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
    sparse_backends = _sparse_backends(backend)
    threshold = _check_threshold(dense_threshold)
    if not isinstance(module, (SparseMLP, DAGNetwork)):
        chain = chain_of(module)
        if any(isinstance(m, nn.Conv2d) for m in chain):
            return compress_chain(
                chain,
                lambda head: _compress_linear(head, layout, sparse_backends, threshold),
                input_shape=input_shape,
            )
        module = nn.Sequential(*chain)
    return _compress_linear(module, layout, sparse_backends, threshold)


def _compress_linear(module, layout, sparse_backends, threshold):
    """:func:`compress` of a network of linear layers (no convolution)."""
    stages, flatten = _stages_of(module)
    source_stats = linear_stats(module)
    n_features = stages[0].weight.shape[1]
    if stages[0].reads != [0]:
        raise AssertionError("the first layer must read the input only")
    needed = _eliminate(stages, n_features)

    # New block numbers: input stays 0; a layer that lost every neuron goes.
    new_block = {0: 0}
    layers, timed, reads, activations = [], [], [], []
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
        layer, found = _compact_layer(
            weight,
            stage.bias[rows],
            layout,
            sparse_backends,
            threshold,
            type(stage.activation) is nn.ReLU,
        )
        layers.append(layer)
        timed.append(found)
        reads.append(tuple(kept_reads))
        activations.append(stage.activation)
        new_block[i + 1] = len(layers)
    kept = needed[0]
    input_features = None if kept.all() else torch.nonzero(kept).flatten()

    def make_network(chosen):
        return CompressedNetwork(
            chosen, reads, activations, n_features, input_features, flatten=flatten
        ).eval()

    net = make_network(_choose_network(layers, timed, make_network))
    net.removed_units = [int((~keep).sum()) for keep in needed]
    net.source_stats = source_stats
    return net
