"""Training over the kept connections only: CSR forward and backward.

A masked layer trains a sparse network at the cost of a dense one (and a
little more: the mask's product and its backward). :class:`CSRLinear` stores
only the kept weights, as the ``values`` of a CSR matrix, and computes the
forward pass, the input gradient and the weight gradient over the non-zeros,
so a step costs about ``density`` times a dense one; an optimizer sees only
the ``nnz`` values (its state shrinks alike).

Layout. The layers work *feature-major*: activations are stored transposed,
``(features, batch)``, so that a non-zero ``W[r, c]`` meets the contiguous
row of all samples of feature ``c``. The three kernels then are axpy loops
and dot products over contiguous rows, which compilers vectorise:

* forward ``Y.T[r] = sum_k v_k X.T[c_k]`` over the row ``r`` of W (CSR);
* input gradient ``dX.T[c] = sum_k v_k dY.T[r_k]`` over the column ``c`` of W
  (the same kernel on W's CSC form, whose values are gathered per step);
* weight gradient ``dv_k = dY.T[r_k] . X.T[c_k]`` (a sampled dense-dense
  product), one dot product of two batch-long rows per non-zero.

:class:`CSRMLP` transposes the input once and the output once, so the
layers between pass feature-major activations without copies. torch's own
``torch.sparse.mm`` backward was measured no faster than a dense backward on
this CPU, and ``sparseprop`` (the SparseProp kernels) supports only its own
layers, hence kernels of our own (compiled by numba, which the ``fast``
extra installs). Without numba the layers fall back to ``torch.sparse``.

Nothing here imports scikit-learn or skorch.
"""

import copy
import types
import warnings

import torch
from torch import nn

from sksparse.nn._compact import numba_available

__all__ = ["CSRLinear", "CSRMLP"]


# -- kernels -----------------------------------------------------------------------
prange = range  # numba.prange once _kernels() compiles them


# Four non-zeros per pass over the output row: each pass loads and stores the
# accumulator row once for four multiply-adds instead of once per non-zero
# (measured 1.4-1.8x faster than one non-zero per pass at batch 128-256).
# Rows are indexed in 2-D (``xt[c, b]``), never taken as views (``xt[c]``):
# numba builds an array struct per view, which measured 4.3x slower here
# (5.4 against 27.7 GFLOP/s on a 2000x2000 layer at 5 %, batch 128).
# Not _numba_kernels.spmm_rows: that one starts from the bias and pairs the
# four products as (a + b) + (c + d), this one sums them left to right, so
# sharing it would change the trained weights' bits.
def _spmm_t(crow, col, val, xt, out):
    """``out[r] = sum_k val[k] * xt[col[k]]`` for the rows ``r`` of a CSR matrix."""
    n_rows = crow.shape[0] - 1
    n_batch = xt.shape[1]
    for r in prange(n_rows):
        for b in range(n_batch):
            out[r, b] = 0.0
        k = crow[r]
        end = crow[r + 1]
        while k + 4 <= end:
            c0, c1, c2, c3 = col[k], col[k + 1], col[k + 2], col[k + 3]
            v0, v1, v2, v3 = val[k], val[k + 1], val[k + 2], val[k + 3]
            for b in range(n_batch):
                out[r, b] += (
                    v0 * xt[c0, b] + v1 * xt[c1, b] + v2 * xt[c2, b] + v3 * xt[c3, b]
                )
            k += 4
        while k < end:
            c0 = col[k]
            v0 = val[k]
            for b in range(n_batch):
                out[r, b] += v0 * xt[c0, b]
            k += 1


def _sddmm_t(crow, col, dyt, xt, out):
    """``out[k] = dyt[r] . xt[col[k]]`` for every non-zero ``k`` of row ``r``."""
    n_rows = crow.shape[0] - 1
    n_batch = xt.shape[1]
    for r in prange(n_rows):
        k = crow[r]
        end = crow[r + 1]
        while k + 4 <= end:
            c0, c1, c2, c3 = col[k], col[k + 1], col[k + 2], col[k + 3]
            s0 = s1 = s2 = s3 = 0.0
            for b in range(n_batch):
                g = dyt[r, b]
                s0 += g * xt[c0, b]
                s1 += g * xt[c1, b]
                s2 += g * xt[c2, b]
                s3 += g * xt[c3, b]
            out[k], out[k + 1], out[k + 2], out[k + 3] = s0, s1, s2, s3
            k += 4
        while k < end:
            c0 = col[k]
            s0 = 0.0
            for b in range(n_batch):
                s0 += dyt[r, b] * xt[c0, b]
            out[k] = s0
            k += 1


_KERNELS = {}


def _serial_twin(func):
    """A copy of ``func`` under its own name, so numba caches it apart."""
    twin = types.FunctionType(
        func.__code__, func.__globals__, func.__name__ + "_serial", func.__defaults__
    )
    twin.__qualname__ = func.__qualname__ + "_serial"
    return twin


def _kernels():
    """The kernels for torch's thread count, compiled (or loaded) on first use.

    One thread runs serial builds: numba's parallel pool (its OpenMP layer)
    keeps a worker spinning after every parallel kernel, even with
    ``numba.set_num_threads(1)``, and that spinning thread took the CPU from
    the next torch ops: a dense LeNet-300-100 step measured 4 ms of CPU
    before the first CSR step and 80 ms after it, on this 2-core machine.
    """
    import numba

    parallel = torch.get_num_threads() > 1
    if parallel not in _KERNELS:
        # "contract" fuses multiply-adds and "reassoc" lets the dot products
        # vectorise; no "nnan"/"ninf", so NaN and inf propagate as in torch.
        jit = numba.njit(
            parallel=parallel,
            nogil=True,
            cache=True,
            boundscheck=False,
            fastmath={"contract", "reassoc"},
        )
        # The kernels read the module global ``prange`` when numba compiles
        # them: numba's parallel range from here on (the plain ``range``
        # before, so importing this module does not import numba).
        global prange
        prange = numba.prange
        funcs = (_spmm_t, _sddmm_t)
        if not parallel:
            funcs = tuple(_serial_twin(f) for f in funcs)
        _KERNELS[parallel] = tuple(jit(f) for f in funcs)
    if parallel:
        _set_threads()
    return _KERNELS[parallel]


def _set_threads():
    """Run numba's kernels on as many threads as torch's intra-op pool."""
    import numba

    numba.set_num_threads(
        max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    )


# -- autograd ------------------------------------------------------------------------
class _CSRMatmulT(torch.autograd.Function):
    """``Y.T = W @ X.T`` for a CSR ``W`` given by ``layer``'s indices and ``values``."""

    @staticmethod
    def forward(ctx, xt, values, layer):
        xt = xt.contiguous()
        ctx.save_for_backward(xt, values)
        ctx.layer = layer
        return layer._matmul_t(values, xt, transpose=False)

    @staticmethod
    def backward(ctx, dyt):
        xt, values = ctx.saved_tensors
        layer = ctx.layer
        dyt = dyt.contiguous()
        dxt = dvalues = None
        if ctx.needs_input_grad[0]:
            dxt = layer._matmul_t(values, dyt, transpose=True)
        if ctx.needs_input_grad[1]:
            dvalues = layer._sampled_t(dyt, xt)
        return dxt, dvalues, None


class CSRLinear(nn.Module):
    """A trainable linear layer that stores and trains only its kept weights.

    It computes on feature-major activations: ``forward(xt)`` takes
    ``x.T`` of shape ``(in_features, batch)`` and returns ``y.T`` of shape
    ``(out_features, batch)``; :class:`CSRMLP` does the two transposes.

    Parameters
    ----------
    weight : torch.Tensor of shape (out_features, in_features)
        Dense weights; only the entries where ``mask`` is true are kept.
    mask : torch.Tensor of shape (out_features, in_features)
        Which connections exist (bool or 0/1).
    bias : torch.Tensor of shape (out_features,) or None, default=None

    Attributes
    ----------
    values : torch.nn.Parameter of shape (nnz,)
        The kept weights in row-major (CSR) order: what an optimizer updates.
    crow_indices, col_indices : torch.Tensor
        The CSR structure (buffers, fixed for the layer's life).

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import CSRLinear
    >>> w = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> layer = CSRLinear(w, w != 0)
    >>> layer(torch.tensor([[1.0], [1.0]])).flatten().tolist()
    [1.0, 2.0]
    >>> layer.nnz
    2
    """

    def __init__(self, weight, mask, bias=None):
        super().__init__()
        weight = torch.as_tensor(weight).detach()
        mask = torch.as_tensor(mask).detach().to(weight.device)
        if weight.ndim != 2 or mask.shape != weight.shape:
            raise ValueError(
                "weight must be 2-D and mask of the same shape, got "
                f"{tuple(weight.shape)} and {tuple(mask.shape)}."
            )
        if mask.dtype != torch.bool:
            if not bool(((mask == 0) | (mask == 1)).all()):
                raise ValueError("mask must hold only 0 and 1 (or booleans).")
            mask = mask != 0
        self.out_features, self.in_features = weight.shape
        rows, cols = mask.nonzero(as_tuple=True)  # row-major order: CSR's
        counts = torch.bincount(rows, minlength=self.out_features)
        crow = torch.zeros(self.out_features + 1, dtype=torch.int64)
        crow[1:] = torch.cumsum(counts, 0)
        self.values = nn.Parameter(weight[rows, cols].clone().float())
        self.register_buffer("crow_indices", crow)
        self.register_buffer("col_indices", cols.to(torch.int64))
        # W's CSC form for the input gradient: the CSR positions sorted by
        # column (stable, so rows stay ascending within a column).
        perm = torch.argsort(cols, stable=True)
        ccounts = torch.bincount(cols, minlength=self.in_features)
        ccol = torch.zeros(self.in_features + 1, dtype=torch.int64)
        ccol[1:] = torch.cumsum(ccounts, 0)
        self.register_buffer("_csc_perm", perm, persistent=False)
        self.register_buffer("_ccol_indices", ccol, persistent=False)
        self.register_buffer("_csc_rows", rows[perm].to(torch.int64), persistent=False)
        if bias is None:
            self.bias = None
        else:
            self.bias = nn.Parameter(torch.as_tensor(bias).detach().clone().float())

    @property
    def nnz(self):
        """Number of kept connections."""
        return self.values.numel()

    @property
    def density(self):
        """Fraction of the weight's entries that are kept."""
        return self.nnz / (self.out_features * self.in_features)

    def to_dense(self):
        """The weight as a dense ``(out_features, in_features)`` tensor."""
        rows = torch.repeat_interleave(
            torch.arange(self.out_features), torch.diff(self.crow_indices)
        )
        dense = self.values.new_zeros(self.out_features, self.in_features)
        dense[rows, self.col_indices] = self.values.detach()
        return dense

    def mask(self):
        """The keep-mask as a dense bool tensor."""
        rows = torch.repeat_interleave(
            torch.arange(self.out_features), torch.diff(self.crow_indices)
        )
        keep = torch.zeros(self.out_features, self.in_features, dtype=torch.bool)
        keep[rows, self.col_indices] = True
        return keep

    def forward(self, xt):
        if xt.shape[0] != self.in_features:
            raise ValueError(
                f"expected feature-major input with {self.in_features} rows, got "
                f"shape {tuple(xt.shape)}."
            )
        yt = _CSRMatmulT.apply(xt, self.values, self)
        if self.bias is not None:
            yt = yt + self.bias.unsqueeze(1)
        return yt

    # The kernels, on numpy views of CPU float32 tensors (no copies).
    def _use_numba(self, x):
        return x.device.type == "cpu" and x.dtype == torch.float32 and numba_available()

    def _matmul_t(self, values, xt, *, transpose):
        values = values.detach()
        if transpose:  # W.T @ dY.T, over W's columns
            ptr, idx = self._ccol_indices, self._csc_rows
            values = values[self._csc_perm]
            n_out = self.in_features
        else:
            ptr, idx, n_out = self.crow_indices, self.col_indices, self.out_features
        if not self._use_numba(xt):
            with warnings.catch_warnings():  # "CSR support is in beta": known
                warnings.simplefilter("ignore", UserWarning)
                w = torch.sparse_csr_tensor(ptr, idx, values, (n_out, xt.shape[0]))
            return torch.sparse.mm(w, xt)
        spmm, _ = _kernels()
        out = torch.empty(n_out, xt.shape[1], dtype=xt.dtype)
        spmm(ptr.numpy(), idx.numpy(), values.numpy(), xt.detach().numpy(), out.numpy())
        return out

    def _sampled_t(self, dyt, xt):
        if not self._use_numba(xt):
            rows = torch.repeat_interleave(
                torch.arange(self.out_features), torch.diff(self.crow_indices)
            )
            return (dyt[rows] * xt[self.col_indices]).sum(1)
        _, sddmm = _kernels()
        out = torch.empty(self.nnz, dtype=xt.dtype)
        sddmm(
            self.crow_indices.numpy(),
            self.col_indices.numpy(),
            dyt.detach().numpy(),
            xt.detach().numpy(),
            out.numpy(),
        )
        return out

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"nnz={self.nnz}, bias={self.bias is not None}"
        )


class CSRMLP(nn.Module):
    """A feed-forward network of :class:`CSRLinear` layers, trained sparse.

    Built from a masked network (:class:`~sksparse.nn.SparseMLP`) with
    :meth:`from_masked`; :meth:`write_to` copies the trained weights back, so
    everything that reads masked networks (prediction, ``compress``, graphs,
    pruning) keeps working. Layers whose mask keeps every weight stay dense
    ``nn.Linear`` (a dense GEMM beats any sparse kernel there).

    Parameters
    ----------
    layers : sequence of CSRLinear or torch.nn.Linear
    activation : torch.nn.Module
        Applied after every layer but the last.
    dropout : float, default=0.0

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import CSRMLP, SparseMLP
    >>> masked = SparseMLP(4, (8,), 3, masks=[torch.rand(8, 4) < 0.5, None])
    >>> sparse = CSRMLP.from_masked(masked)
    >>> x = torch.randn(5, 4)
    >>> torch.allclose(sparse(x), masked(x), atol=1e-6)
    True
    """

    def __init__(self, layers, activation, dropout=0.0):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.activation = activation
        self.dropout = nn.Dropout(dropout) if dropout else None

    @classmethod
    def from_masked(cls, module):
        """Build the sparse-trained twin of a :class:`~sksparse.nn.SparseMLP`."""
        chain = getattr(module, "layers", None)
        if not isinstance(chain, nn.Sequential):
            raise TypeError(
                "CSRMLP.from_masked takes a sksparse.nn.SparseMLP, got "
                f"{type(module).__name__}."
            )
        linears = [m for m in chain if isinstance(m, nn.Linear)]
        others = [m for m in chain if not isinstance(m, nn.Linear | nn.Dropout)]
        activation = copy.deepcopy(others[0]) if others else nn.Identity()
        layers = []
        for linear in linears:
            mask = getattr(linear, "mask", None)
            bias = None if linear.bias is None else linear.bias.detach()
            if mask is None or bool(mask.all()):
                dense = nn.Linear(
                    linear.in_features, linear.out_features, bias=bias is not None
                )
                with torch.no_grad():
                    dense.weight.copy_(linear.weight)
                    if bias is not None:
                        dense.bias.copy_(bias)
                layers.append(dense)
            else:
                layers.append(CSRLinear(linear.weight.detach(), mask, bias))
        dropout = next(
            (m.p for m in module.modules() if isinstance(m, nn.Dropout)), 0.0
        )
        return cls(layers, activation, dropout)

    @torch.no_grad()
    def write_to(self, module):
        """Copy the trained weights into the masked network they came from."""
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        if len(linears) != len(self.layers):
            raise ValueError(
                f"module has {len(linears)} linear layers, this network "
                f"{len(self.layers)}."
            )
        for linear, layer in zip(linears, self.layers):
            weight = layer.to_dense() if isinstance(layer, CSRLinear) else layer.weight
            if tuple(linear.weight.shape) != tuple(weight.shape):
                raise ValueError(
                    f"shape mismatch: {tuple(linear.weight.shape)} against "
                    f"{tuple(weight.shape)}."
                )
            linear.weight.copy_(weight)
            if linear.bias is not None:
                linear.bias.copy_(layer.bias)
        return module

    def forward(self, x):
        h = x.T  # feature-major from here on; CSR layers need no copy of it
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if isinstance(layer, CSRLinear):
                h = layer(h)
            else:  # a dense layer: nn.Linear on the transposed view
                h = (
                    torch.addmm(layer.bias.unsqueeze(1), layer.weight, h)
                    if (layer.bias is not None)
                    else layer.weight @ h
                )
            if i < last:
                h = self.activation(h)
                if self.dropout is not None:
                    h = self.dropout(h)
        return h.T
