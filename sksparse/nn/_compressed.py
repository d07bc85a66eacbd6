"""The compact network: layers in feature-major layout, a one-call batch-1 path."""

import numpy as np
import torch
from torch import nn

from sksparse.nn._csr import MIN_PARALLEL_WORK, _numba_kernels, kernel_threads

#: Rows a dense layer pads to under ``pad_rows`` in feature-major layout:
#: MKL's ``W @ H`` (addmm) gave a column bit-identical results only with 12
#: or more columns (measured on 32x64 to 2000x2000 weights, 1 to 300
#: columns); row-major ``x @ W.T`` needs the caller's 7-8.
FEATURE_MAJOR_DENSE_ROWS = 16

#: Samples per pass of a network with feature-major (sparse) layers: a larger
#: batch is cut into chunks of this many, a remainder under half a chunk
#: joined to the last one. Each non-zero streams one input row of
#: ``n_samples`` values, and at 256 samples the layer's input stays in the
#: core's cache; at 10,000 it does not. Measured
#: one thread (Intel Xeon, 2 MB L2), batch 10,000, uniform masks: LeNet-300-100
#: at 80 / 90 / 95 % took 93 / 55 / 28 ms whole, 35 / 23 / 16 ms in chunks of
#: 256 (dense: 34-39 ms); 784-2000-2000-10 at 95 % 312 -> 116 ms. Chunks of 128
#: and 512 were up to 30 % slower.
CHUNK_ROWS = 256


def chunk_bounds(n, rows):
    """Bounds of ``n`` samples cut into chunks of ``rows``, a remainder under
    ``rows // 2`` joined to the last chunk: ``[0, rows, ..., n]``.

    Whole chunks of a multiple of the vector width: near-equal chunks of 250
    ran 20 % slower than 256 (the kernels' scalar remainder loops).
    """
    bounds = (list(range(0, n, rows)) or [0]) + [n]  # n = 0: one empty chunk
    if len(bounds) > 2 and n - bounds[-2] < rows // 2:
        del bounds[-2]
    return bounds


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

    #: ``forward`` takes ``pad_rows`` (see there): callers that need each
    #: sample's outputs independent of its batch pass it instead of padding
    #: the whole batch.
    pads_dense_rows = True

    @property
    def predict_block_rows(self):
        """Rows per call that suit prediction: :data:`CHUNK_ROWS` with
        feature-major layers (their input stays in cache), else None.

        ``predict_module`` feeds blocks of this many samples and checks each
        for NaN/inf just before it goes in, while it is in cache.
        """
        if any(step[0].wants_feature_major for step in self._steps()):
            return CHUNK_ROWS
        return None

    @property
    def nnz(self):
        """Number of stored weights over all layers."""
        return sum(layer.nnz for layer in self.layers)

    def _steps(self):
        """``(layer, reads, activation or None, relu)`` per layer, plain objects.

        ``relu``: the activation is a plain ReLU, which the layer applies in
        place (fused into numba's kernel) instead of a separate pass.

        Cached: looking sub-modules up through ``nn.Module.__getattr__`` and
        ``ModuleList`` costs microseconds a layer, as much as a batch-1 layer.
        """
        steps = self._steps_cache
        if steps is None:
            steps = []
            for layer, reads, act, has_act in zip(
                self.layers, self.reads, self.activations, self.has_activation
            ):
                act = act if has_act else None
                relu = type(act) is nn.ReLU
                steps.append((layer, reads, None if relu else act, relu))
            self._steps_cache = steps
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
            for i, (layer, reads, _, _) in enumerate(steps)
        )
        relu = [fused for _, _, _, fused in steps]
        if any(
            act is not None and type(act) is not nn.Identity for *_, act, _ in steps
        ):
            eligible = False
        if eligible:
            layers = [layer for layer, *_ in steps]
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

    def forward(self, X, *, pad_rows=None):
        """Outputs on ``X`` of shape ``(n_samples, n_features_in)``.

        ``pad_rows``: layers other than numba's CSR (dense ones, MKL; torch's
        CSR) get at least this many rows, zero rows added and their results
        dropped. MKL sums a product of 1-6 rows in another order than a
        larger one, whereas numba's kernels give each sample the same
        operations at any batch size, one row included: with
        ``pad_rows=8`` (at least :data:`FEATURE_MAJOR_DENSE_ROWS` for dense
        layers in feature-major layout) every sample's outputs are
        bit-identical whatever else is in its batch, and only the dense
        layers pay for the padding (a 95 %-sparse 784-2000-2000-10 at
        batch 1 took 1.3 ms with the whole batch padded to 8 rows, against
        0.5 ms for its module alone).
        """
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
            n = X.shape[0]
            if n > CHUNK_ROWS and any(step[0].wants_feature_major for step in steps):
                # No chunk is under CHUNK_ROWS / 2, so no layer sees fewer
                # than FEATURE_MAJOR_DENSE_ROWS and each sample's outputs
                # stay what they are in any batch.
                bounds = chunk_bounds(n, CHUNK_ROWS)
                return torch.cat(
                    [
                        self._forward_batch(X[a:b], steps, pad_rows)
                        for a, b in zip(bounds[:-1], bounds[1:])
                    ]
                )
            return self._forward_batch(X, steps, pad_rows)

    def _forward_batch(self, X, steps, pad_rows):
        """``forward`` on one batch (checked and converted, under ``no_grad``):
        the whole batch, or one chunk of :data:`CHUNK_ROWS` samples."""
        index = self._buffers.get("input_features")
        # A chain of numba CSR layers only: one call, no padding needed.
        chain = None if X.is_cuda else self._chain()
        if chain is not None and X.shape[0] == 1:
            x = X[0] if index is None else X[0].index_select(0, index)
            x = x.contiguous().numpy()
            out = np.empty(steps[-1][0].out_features, x.dtype)
            _chain_spmv(chain, x, out)
            return torch.from_numpy(out).unsqueeze(0)
        if chain is not None and _serial_chain(steps, X.shape[0]):
            h = _feature_major(X, index).numpy()
            out = _numba_kernels().chain_spmm(*chain, h)
            return torch.from_numpy(out).T.contiguous()
        feature_major = any(step[0].wants_feature_major for step in steps)
        if feature_major:
            h = _feature_major(X, index).T
        else:
            h = X if index is None else X.index_select(1, index)
        blocks = [h]
        if pad_rows is not None and feature_major:
            pad_rows = max(pad_rows, FEATURE_MAJOR_DENSE_ROWS)
        for layer, reads, act, relu in steps:
            if len(reads) == 1:
                inp = blocks[reads[0]]
            elif reads:
                inp = _concat([blocks[r] for r in reads])
            else:
                inp = blocks[0][:, :0]
            n = inp.shape[0]
            if pad_rows is not None and n < pad_rows and not layer.row_invariant:
                # .forward, not __call__: at batch 1 the hook machinery of
                # nn.Module costs as much as a sparse layer's arithmetic.
                padded = _pad_rows(inp, pad_rows, feature_major)
                out = layer.forward(padded, relu)[:n]
                # The layout the next layer gets at any larger batch.
                out = out.T.contiguous().T if feature_major else out.contiguous()
            else:
                out = layer.forward(inp, relu)
            blocks.append(out if act is None else act.forward(out))
        return blocks[-1].contiguous()


def _feature_major(X, index):
    """The kept features of ``X``, feature-major: ``(n_kept, n_samples)``.

    A single copy that gathers and transposes. On the CPU numpy's: at
    256x784 (one thread) ``X.T`` copied in 85 us against torch's 105, and
    the kept 740 of 784 features in 92 us against ``index_select``'s 120; a
    blocked numba loop took 150-160 (scalar loads and stores).
    """
    if X.is_cuda:
        h = X.T if index is None else X.T.index_select(0, index)
        return h.contiguous()
    x = X.detach().numpy().T
    h = np.ascontiguousarray(x) if index is None else x[index.numpy()]
    return torch.from_numpy(h)


def _serial_chain(steps, n_samples):
    """Whether a batch runs through a CSR chain best in one serial call.

    On one thread, always. On more, only where no layer's product is big
    enough to be split across threads (:data:`MIN_PARALLEL_WORK`); the others
    go layer by layer, each product on every thread.
    """
    if kernel_threads() == 1:
        return True
    return max(step[0].nnz for step in steps) * n_samples < MIN_PARALLEL_WORK


def _chain_spmv(chain, x, out):
    """One sample through a CSR chain, on torch's threads if it is big enough."""
    kernels = _numba_kernels()
    threads = kernel_threads()
    if threads == 1 or chain[2].shape[0] < MIN_PARALLEL_WORK:
        kernels.chain_spmv(*chain, x, out, 1)
        return
    import numba

    numba.set_num_threads(threads)
    kernels.chain_spmv_parallel(*chain, x, out, threads)


def _pad_rows(inp, rows, feature_major):
    """``inp`` with zero rows added up to ``rows``, in the network's layout."""
    n, width = inp.shape
    if not feature_major:
        return torch.cat([inp, inp.new_zeros(rows - n, width)])
    padded = inp.new_zeros(width, rows)
    padded[:, :n] = inp.T
    return padded.T


def _concat(blocks):
    """Concatenate ``(n_samples, n_i)`` blocks, feature-major if all are."""
    if all(b.T.is_contiguous() for b in blocks):
        return torch.cat([b.T for b in blocks]).T
    return torch.cat(blocks, dim=1)
