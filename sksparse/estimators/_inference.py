"""Prediction through a fitted module, in float32 and without parameter copies."""

import threading

import numpy as np
import torch
from sklearn.utils import assert_all_finite

from sksparse.nn._compressed import chunk_bounds

# Switching a shared module's mode is the only mutation prediction needs; the
# lock keeps two threads from racing on it (the forward itself reads only).
_MODE_LOCK = threading.Lock()

#: Rows per forward call: bounds the activations' memory on large inputs
#: (a module's ``predict_block_rows`` overrides it).
BLOCK_ROWS = 4096

#: Batches smaller than this are padded with zero rows. Measured on this
#: machine (torch 2.x, MKL, 1 and 2 threads): a float32 ``Linear`` forward
#: gives every row bit-identical outputs for any batch of >= 7 rows (up to
#: 5,000 tried, any row order), and ``Conv2d`` for >= 2 rows, but 1-6 rows take
#: a matrix-vector kernel that sums in another order. Padding to 8 rows keeps
#: scikit-learn's subset- and sample-order-invariance in float32 at the cost of
#: a few zero rows, which at batch 1 is far cheaper than a float64 copy of the
#: weights.
MIN_ROWS = 8


def _pad(array, rows):
    if len(array) >= rows:
        return array
    pad = np.zeros((rows - len(array), *array.shape[1:]), dtype=array.dtype)
    return np.concatenate([array, pad])


def _module_dtype(module):
    # One pass that stops at the first floating tensor: a CompressedNetwork
    # has buffers only, and walking all parameters and then all buffers cost
    # 16 us a call at batch 1 (5 for a masked MLP).
    for sub in module.modules():
        for tensors in (sub._parameters, sub._buffers):
            for tensor in tensors.values():
                if tensor is not None and tensor.is_floating_point():
                    return tensor.dtype
    return torch.float32


def _declared(module, name, default):
    """``module.name`` where its class declares it, else ``default``.

    Looked up on the class first: a miss through ``nn.Module.__getattr__``
    raises and catches an ``AttributeError`` (1.2 us against 0.2).
    """
    if hasattr(type(module), name):
        return getattr(module, name)
    return default


def _to_tensor(value, device, dtype, rows):
    value = _pad(np.asarray(value), rows)
    if device == "cpu" and value.dtype.kind in "fiub" and value.flags.writeable:
        # from_numpy shares the memory: torch.as_tensor(..., device=) took
        # tens of microseconds at batch 1.
        tensor = torch.from_numpy(value)
    else:
        tensor = torch.as_tensor(value, device=device)
    if tensor.is_floating_point() and tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor


def predict_module(module, X, *, device="cpu", check_finite=False):
    """Outputs of ``module`` on ``X`` (an array, or a dict of keyword arrays).

    The forward pass runs in the module's own dtype (float32 unless a user
    converted it) in evaluation mode under ``torch.inference_mode``: no copy
    of the parameters and no mutation of the module, so threads may share
    it. Batches under :data:`MIN_ROWS` are padded so every sample goes
    through the same kernels whichever other samples share its call.

    ``X`` goes in blocks of the module's ``predict_block_rows`` or
    :data:`BLOCK_ROWS` samples. ``check_finite``: each block's floating
    arrays are checked for NaN and inf just before the block goes in (it is
    then in cache for the forward pass), raising scikit-learn's
    ``ValueError``.
    """
    if module.training:
        with _MODE_LOCK:
            module.eval()
    dtype = _module_dtype(module)
    device = str(device)
    # A compressed network pads only the layers that need it (its sparse
    # layers do not): a 90 % LeNet, all CSR, took 65 us for one row and 210
    # for eight.
    pads_itself = _declared(module, "pads_dense_rows", False)
    rows = 1 if pads_itself else MIN_ROWS
    kwargs = {"pad_rows": MIN_ROWS} if pads_itself else {}
    inputs = X if isinstance(X, dict) else {None: X}
    n = len(next(iter(inputs.values())))
    block_rows = _declared(module, "predict_block_rows", None) or BLOCK_ROWS
    bounds = chunk_bounds(n, block_rows)
    outputs = []
    with torch.inference_mode():
        for start, stop in zip(bounds[:-1], bounds[1:]):
            blocks = {key: value[start:stop] for key, value in inputs.items()}
            if check_finite:
                _check_finite(blocks)
            batch = {
                key: _to_tensor(value, device, dtype, rows)
                for key, value in blocks.items()
            }
            if None in batch:
                out = module(batch[None], **kwargs)
            else:
                out = module(**batch, **kwargs)
            if len(out) != stop - start:
                out = out[: stop - start]
            outputs.append(
                out.numpy() if out.device.type == "cpu" else out.cpu().numpy()
            )
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)


def _check_finite(blocks):
    for value in blocks.values():
        value = np.asarray(value)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            assert_all_finite(value, input_name="X")
