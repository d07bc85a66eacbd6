"""The compact network: layers in feature-major layout, a one-call batch-1 path."""

import numpy as np
import torch
from torch import nn

from sksparse.nn._csr import MIN_PARALLEL_WORK, _numba_kernels, kernel_threads


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
    def invariant_min_rows(self):
        """Fewest rows from which each sample's outputs do not depend on the batch.

        numba's CSR kernels compute every sample's outputs with the same
        operations in the same order at any batch size, one row included:
        a network of such layers needs no padding (1). Dense layers (MKL)
        need 7 or more rows, as ``nn.Linear`` does, and so do torch's CSR
        kernel and anything not checked: ``None`` then.
        """
        if all(
            layer.layout == "csr" and layer.backend == "numba" for layer in self.layers
        ):
            return 1
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
                    _chain_spmv(chain, x, out)
                    return torch.from_numpy(out).unsqueeze(0)
            if any(step[0].wants_feature_major for step in steps):
                # Gather the kept features and transpose in a single copy.
                h = X.T if index is None else X.T.index_select(0, index)
                h = h.contiguous().T
            else:
                h = X if index is None else X.index_select(1, index)
            blocks = [h]
            for layer, reads, act, relu in steps:
                if len(reads) == 1:
                    inp = blocks[reads[0]]
                elif reads:
                    inp = _concat([blocks[r] for r in reads])
                else:
                    inp = blocks[0][:, :0]
                # .forward, not __call__: at batch 1 the hook machinery of
                # nn.Module costs as much as a sparse layer's arithmetic.
                out = layer.forward(inp, relu)
                blocks.append(out if act is None else act.forward(out))
            return blocks[-1].contiguous()


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


def _concat(blocks):
    """Concatenate ``(n_samples, n_i)`` blocks, feature-major if all are."""
    if all(b.T.is_contiguous() for b in blocks):
        return torch.cat([b.T for b in blocks]).T
    return torch.cat(blocks, dim=1)
