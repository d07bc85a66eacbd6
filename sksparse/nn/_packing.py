"""Compact pickles: 0/1 masks as bits, CSR indices in the narrowest integers.

At run time masks stay the float buffers the layers document and CSR indices
int32 (a ``bool`` mask in the former ``weight * mask`` step, 300x784 at
batch 128, one thread, measured 1.22x slower: 2.77 ms against 2.28). Only
what a pickle holds is packed: a layer's ``__getstate__`` swaps
the tensor for one of the small objects below, whose ``__reduce__`` rebuilds
the original tensor on load, so ``pickle``, ``joblib``, ``copy.deepcopy``
and ``torch.save`` of whole modules all restore exactly what was saved.

A float32 mask takes 4 bytes a weight, as much as the weight itself; as bits
it takes 1/8 of a byte, so a fitted dense network's file is its weights and
about 3 % more (``tests/test_packing.py`` counts the bytes).
"""

import numpy as np
import torch

__all__ = ["pack_buffers", "pack_indices", "pack_mask", "pack_sparse_dense"]


#: Fewest bytes a packed form must save to be used: each packed array costs a
#: few hundred bytes of pickle framing (measured: a 2x4 weight matrix stored
#: by its non-zeros made a 3 kB file 0.5 kB larger).
MIN_SAVING = 1024


def _dtype_name(dtype):
    return str(dtype).removeprefix("torch.")


def _is_zero_one(tensor):
    return tensor.dtype == torch.bool or bool(((tensor == 0) | (tensor == 1)).all())


def pack_mask(tensor):
    """What a pickle holds for the mask ``tensor``: bits, or the tensor itself.

    A mask holding anything but 0 and 1 (which sksparse's layers never make)
    is kept as it is, so packing never changes what is loaded.
    """
    if not isinstance(tensor, torch.Tensor) or tensor.requires_grad:
        return tensor
    if not (tensor.is_floating_point() or tensor.dtype == torch.bool):
        return tensor
    if tensor.numel() * (tensor.element_size() - 1 / 8) < MIN_SAVING:
        return tensor
    if not _is_zero_one(tensor):
        return tensor
    return _PackedMask(tensor)


class _PackedMask:
    __slots__ = ("bits", "shape", "dtype", "device")

    def __init__(self, tensor):
        flat = tensor.detach().reshape(-1).to("cpu", torch.bool).numpy()
        self.bits = np.packbits(flat)
        self.shape = tuple(tensor.shape)
        self.dtype = _dtype_name(tensor.dtype)
        self.device = str(tensor.device)

    def __reduce__(self):
        return _unpack_mask, (self.bits, self.shape, self.dtype, self.device)


def _unpack_mask(bits, shape, dtype, device):
    count = int(np.prod(shape, dtype=np.int64))
    flat = np.unpackbits(bits, count=count).astype(bool)
    tensor = torch.from_numpy(flat).reshape(shape).to(getattr(torch, dtype))
    return tensor if device == "cpu" else tensor.to(device)


def _narrow_dtype(upper):
    """The smallest unsigned numpy integer type holding ``0..upper``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if upper <= np.iinfo(dtype).max:
            return dtype
    return None


def pack_indices(tensor, upper):
    """What a pickle holds for an index tensor whose entries are ``< upper``.

    Column indices of a layer with at most 65,536 inputs fit 2 bytes where the
    kernels read 4: a CSR weight costs 6 bytes in the file instead of 8.
    """
    if not isinstance(tensor, torch.Tensor) or tensor.device.type != "cpu":
        return tensor
    dtype = _narrow_dtype(max(int(upper) - 1, 0))
    if dtype is None:
        return tensor
    saving = tensor.numel() * (tensor.element_size() - np.dtype(dtype).itemsize)
    if saving < MIN_SAVING:
        return tensor
    return _PackedIndices(tensor, dtype)


class _PackedIndices:
    __slots__ = ("array", "dtype")

    def __init__(self, tensor, dtype):
        self.array = tensor.numpy().astype(dtype)
        self.dtype = _dtype_name(tensor.dtype)

    def __reduce__(self):
        return _unpack_indices, (self.array, self.dtype)


def _unpack_indices(array, dtype):
    return torch.from_numpy(array.astype(np.int64)).to(getattr(torch, dtype))


def pack_sparse_dense(weight):
    """What a pickle holds for a dense weight matrix: its non-zeros if smaller.

    :func:`sksparse.nn.compress` keeps a sparse layer dense where dense
    measures faster; the file should still grow with the non-zeros. The
    matrix is stored as CSR (4 bytes a value, 2 an index) when that is
    smaller and rebuilt dense, value for value, on load.
    """
    if (
        not isinstance(weight, torch.Tensor)
        or weight.ndim != 2
        or weight.device.type != "cpu"
        or weight.requires_grad
    ):
        return weight
    rows, cols = weight.shape
    index = _narrow_dtype(max(cols - 1, 0))
    if index is None:
        return weight
    nonzero = weight != 0
    nnz = int(nonzero.sum())
    packed = nnz * (weight.element_size() + np.dtype(index).itemsize) + 4 * (rows + 1)
    if packed + MIN_SAVING > weight.numel() * weight.element_size():
        return weight
    return _PackedDense(weight, nonzero, index)


class _PackedDense:
    __slots__ = ("shape", "counts", "cols", "values")

    def __init__(self, weight, nonzero, index):
        self.shape = tuple(weight.shape)
        self.counts = nonzero.sum(dim=1).numpy().astype(np.int32)
        self.cols = torch.nonzero(nonzero)[:, 1].numpy().astype(index)
        self.values = weight[nonzero].numpy().copy()

    def __reduce__(self):
        return _unpack_dense, (self.shape, self.counts, self.cols, self.values)


def _unpack_dense(shape, counts, cols, values):
    dense = torch.zeros(shape, dtype=torch.from_numpy(values[:0]).dtype)
    rows = np.repeat(np.arange(shape[0]), counts)
    dense[torch.from_numpy(rows), torch.from_numpy(cols.astype(np.int64))] = (
        torch.from_numpy(values)
    )
    return dense


def pack_buffers(state, pack):
    """``state`` (a module's ``__dict__`` copy) with ``pack(name, buffer)`` applied.

    The buffers' dict is copied, never changed in place: the module pickled
    keeps its own tensors.
    """
    buffers = state.get("_buffers")
    if buffers:
        state["_buffers"] = type(buffers)(
            (name, pack(name, value)) for name, value in buffers.items()
        )
    return state
