"""Compact layers for structured sparsity: blocks (BSR) and N:M groups.

A layer pruned in ``(r, c)`` blocks (``MagnitudePruner(pattern=(r, c))``) is
stored block by block: one column index per block and its ``r x c`` values,
so its file holds ``1 / (r c)`` of CSR's indices and its kernel reads every
input row once per block instead of once per weight. A layer pruned N:M
keeps ``N`` weights in every group of ``M`` inputs; it is stored as those
values and their 1-byte offsets inside the group (the group itself is
implicit), ELLPACK-style: every row has the same length, no row pointers.

:func:`sksparse.nn.compress` finds either structure in a layer's non-zeros
(:func:`find_blocks`, :func:`find_nm`) and keeps the layout that measures
fastest, CSR and dense included. Inference only, like every compact layer.
"""

import math
import warnings

import numpy as np
import torch
from torch import nn

__all__ = ["BlockLinear", "NMLinear", "find_blocks", "find_nm"]

#: Block shapes compress() looks for, largest first.
BLOCK_SHAPES = ((8, 8), (4, 4), (2, 8), (8, 2), (1, 8), (8, 1), (1, 4), (4, 1))
#: Largest M an N:M structure is searched with (offsets fit in one byte).
MAX_M = 32
#: Fewest non-zeros a structure's stored slots must hold: a layout that stores
#: more than 1 / STRUCTURE_FILL slots per non-zero is no structure worth it.
STRUCTURE_FILL = 0.9


def _blocks(weight, r, c):
    rows, cols = weight.shape
    n_r, n_c = math.ceil(rows / r), math.ceil(cols / c)
    padded = torch.nn.functional.pad(weight, (0, n_c * c - cols, 0, n_r * r - rows))
    return padded.reshape(n_r, r, n_c, c).permute(0, 2, 1, 3)  # (R, C, r, c)


def find_blocks(weight):
    """The largest block shape whose kept blocks are nearly full, or None.

    Examples
    --------
    >>> w = torch.zeros(8, 8)
    >>> w[:4, 4:] = 1.0
    >>> find_blocks(w)
    (4, 4)
    """
    nnz = int(torch.count_nonzero(weight))
    if nnz == 0:
        return None
    for r, c in BLOCK_SHAPES:
        if r > weight.shape[0] or c > weight.shape[1]:
            continue
        live = (_blocks(weight != 0, r, c)).any(dim=(2, 3))
        if nnz >= STRUCTURE_FILL * int(live.sum()) * r * c:
            return (r, c)
    return None


def find_nm(weight):
    """``(N, M)`` with at most N non-zeros in every group of M inputs, or None.

    The M whose groups are fullest (fewest stored slots per non-zero) wins,
    the smallest on a tie (a 1:10 layer is also 2:20); None if no M stores
    the non-zeros with :data:`STRUCTURE_FILL`.

    Examples
    --------
    >>> w = torch.tensor([[1.0, 0, 0, 2], [0, 3, 4, 0]])
    >>> find_nm(w)
    (1, 2)
    """
    rows, cols = weight.shape
    nnz = int(torch.count_nonzero(weight))
    if nnz == 0:
        return None
    nonzero = (weight != 0).to(torch.int32)
    best, best_slots = None, None
    for m in range(2, min(MAX_M, cols) + 1):
        groups = math.ceil(cols / m)
        padded = torch.nn.functional.pad(nonzero, (0, groups * m - cols))
        n = int(padded.reshape(rows, groups, m).sum(dim=2).max())
        if n >= m:
            continue
        slots = rows * groups * n
        if best_slots is None or slots < best_slots:
            best, best_slots = (n, m), slots
    if best is None or nnz < STRUCTURE_FILL * best_slots:
        return None
    return best


def _kernels():
    from sksparse.nn._csr import _numba_kernels

    _numba_kernels()  # numba's thread pool started as the CSR kernels do
    from sksparse.nn import _structured_kernels

    return _structured_kernels


class _StructuredLinear(nn.Module):
    """What every compact layer shares: shapes, bias, feature-major output."""

    wants_feature_major = True
    #: Not known to give each sample the same outputs at every batch size
    #: (the one-sample kernel is another loop), so a network pads the rows
    #: of small batches for these layers as it does for dense ones.
    row_invariant = False

    def _run(self, x, relu, spmm, spmv, arrays):
        h = x.T
        if h.requires_grad:
            h = h.detach()
        h = (h if h.is_contiguous() else h.contiguous()).numpy()
        if h.dtype != self.bias.numpy().dtype:
            h = h.astype(self.bias.numpy().dtype)
        out = np.empty((self.out_features, h.shape[1]), dtype=h.dtype)
        if h.shape[1] == 1:
            spmv(*arrays, h[:, 0], out[:, 0], relu)
        else:
            spmm(*arrays, h, out, relu)
        return torch.from_numpy(out).T

    @property
    def density(self):
        size = self.out_features * self.in_features
        return self.nnz / size if size else 1.0

    @property
    def n_stored(self):
        """Weights stored: whole blocks, or N values per group of M."""
        return self.values.numel()


class BlockLinear(_StructuredLinear):
    """An inference-only linear layer stored as ``(r, c)`` blocks (BSR).

    Parameters
    ----------
    weight : torch.Tensor of shape (out_features, in_features)
        Blocks holding any non-zero are stored whole.
    bias : torch.Tensor of shape (out_features,)
    blocksize : tuple (r, c)
    backend : {"numba", "torch"}, default="numba"
        sksparse's block kernel, or ``torch.sparse.addmm`` on a
        ``torch.sparse_bsr`` tensor (square blocks only: MKL refuses others).
    """

    layout = "bsr"

    def __init__(self, weight, bias, blocksize, backend="numba"):
        super().__init__()
        if backend not in ("numba", "torch"):
            raise ValueError(f"backend must be 'numba' or 'torch', got {backend!r}.")
        weight = weight.detach()
        self.out_features, self.in_features = (int(n) for n in weight.shape)
        self.blocksize = tuple(int(v) for v in blocksize)
        self.backend = backend
        r, c = self.blocksize
        if backend == "torch" and r != c:
            # torch 2.14's CPU BSR product (MKL) refuses them at run time.
            raise ValueError(
                f"backend='torch' takes square blocks only, got {self.blocksize}."
            )
        blocks = _blocks(weight, r, c)
        live = (blocks != 0).any(dim=(2, 3))
        crow = torch.zeros(live.shape[0] + 1, dtype=torch.int32)
        crow[1:] = torch.cumsum(live.sum(dim=1), 0)
        self.register_buffer("crow_indices", crow)
        self.register_buffer(
            "col_indices", torch.nonzero(live)[:, 1].to(torch.int32).contiguous()
        )
        self.register_buffer("values", blocks[live].contiguous().clone())
        self.register_buffer("bias", bias.detach().to(weight.dtype).clone())
        self._bsr = None

    @property
    def nnz(self):
        return int(torch.count_nonzero(self.values))

    def dense_weight(self):
        """The weight matrix as a dense tensor (for inspection and tests)."""
        r, c = self.blocksize
        n_r, n_c = self.crow_indices.numel() - 1, math.ceil(self.in_features / c)
        full = torch.zeros(n_r, n_c, r, c, dtype=self.values.dtype)
        rows = torch.repeat_interleave(
            torch.arange(n_r), torch.diff(self.crow_indices.long())
        )
        full[rows, self.col_indices.long()] = self.values
        full = full.permute(0, 2, 1, 3).reshape(n_r * r, n_c * c)
        return full[: self.out_features, : self.in_features]

    def _torch_bsr(self):
        if self._bsr is None:
            r, c = self.blocksize
            n_r = self.crow_indices.numel() - 1
            n_c = math.ceil(self.in_features / c)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "in beta state"
                self._bsr = torch.sparse_bsr_tensor(
                    self.crow_indices,
                    self.col_indices,
                    self.values,
                    (n_r * r, n_c * c),
                    check_invariants=False,
                )
        return self._bsr

    def forward(self, x, relu=False):
        """``x @ W.T + b`` for ``x`` of shape ``(n_samples, in_features)``."""
        if self.backend == "torch" or x.is_cuda:
            r, c = self.blocksize
            n_r = self.crow_indices.numel() - 1
            h = x.T
            pad_in = math.ceil(self.in_features / c) * c - self.in_features
            if pad_in:
                h = torch.nn.functional.pad(h, (0, 0, 0, pad_in))
            bias = torch.nn.functional.pad(self.bias, (0, n_r * r - self.out_features))
            out = torch.sparse.addmm(bias.unsqueeze(1), self._torch_bsr(), h)
            out = out[: self.out_features].T
            return out.relu_() if relu else out
        k = _kernels()
        arrays = (
            self.crow_indices.numpy(),
            self.col_indices.numpy(),
            self.values.numpy(),
            self.bias.numpy(),
        )
        return self._run(x, relu, k.bsr_spmm, k.bsr_spmv, arrays)

    def _apply(self, fn, *args, **kwargs):
        self._bsr = None
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state["_bsr"] = None
        return state

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"blocksize={self.blocksize}, backend={self.backend!r}, nnz={self.nnz}"
        )


class NMLinear(_StructuredLinear):
    """An inference-only linear layer keeping N of every M inputs per row.

    Stored as ``values`` and ``offsets`` of shape ``(out_features, groups *
    N)``: entry ``k`` of a row is input ``(k // N) * M + offsets[k]``. A group
    with fewer than ``N`` non-zeros pads with zero values.

    Parameters
    ----------
    weight : torch.Tensor of shape (out_features, in_features)
    bias : torch.Tensor of shape (out_features,)
    n, m : int
        At most ``n`` non-zeros in every group of ``m`` consecutive inputs
        (:func:`find_nm`).
    """

    layout = "nm"
    backend = "numba"

    def __init__(self, weight, bias, n, m):
        super().__init__()
        weight = weight.detach()
        self.out_features, self.in_features = (int(v) for v in weight.shape)
        self.n, self.m = int(n), int(m)
        if not 1 <= self.n < self.m <= 256:
            raise ValueError(f"N:M needs 1 <= N < M <= 256, got {n}:{m}.")
        groups = math.ceil(self.in_features / self.m)
        padded = torch.nn.functional.pad(
            weight, (0, groups * self.m - self.in_features)
        ).reshape(self.out_features, groups, self.m)
        # The non-zeros first in each group, in input order (a stable sort).
        order = torch.argsort((padded == 0).to(torch.int8), dim=2, stable=True)
        order = order[:, :, : self.n]
        values = torch.gather(padded, 2, order)
        if int(torch.count_nonzero(padded)) != int(torch.count_nonzero(values)):
            raise ValueError(
                f"weight has more than {self.n} non-zeros in a group of {self.m} "
                "inputs; find_nm gives an N:M that holds."
            )
        # A padding slot points at its group's first input, which exists:
        # the kernel never reads past the input (its value is 0 anyway).
        order = torch.where(values == 0, torch.zeros_like(order), order)
        self.register_buffer("values", values.reshape(self.out_features, -1).clone())
        self.register_buffer(
            "offsets", order.reshape(self.out_features, -1).to(torch.uint8).clone()
        )
        self.register_buffer("bias", bias.detach().to(weight.dtype).clone())

    @property
    def nnz(self):
        return int(torch.count_nonzero(self.values))

    def dense_weight(self):
        """The weight matrix as a dense tensor (for inspection and tests)."""
        groups = self.values.shape[1] // self.n
        full = torch.zeros(self.out_features, groups, self.m, dtype=self.values.dtype)
        # Adding: padding slots (value 0) share offset 0 with a real weight.
        full.scatter_add_(
            2,
            self.offsets.long().reshape(self.out_features, groups, self.n),
            self.values.reshape(self.out_features, groups, self.n),
        )
        return full.reshape(self.out_features, -1)[:, : self.in_features]

    def forward(self, x, relu=False):
        """``x @ W.T + b`` for ``x`` of shape ``(n_samples, in_features)``."""
        k = _kernels()
        arrays = (
            self.values.numpy(),
            self.offsets.numpy(),
            np.int64(self.n),
            np.int64(self.m),
            self.bias.numpy(),
        )
        return self._run(x, relu, k.nm_spmm, k.nm_spmv, arrays)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"pattern='{self.n}:{self.m}', nnz={self.nnz}"
        )
