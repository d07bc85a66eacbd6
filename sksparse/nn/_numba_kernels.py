"""numba's CSR kernels, serial and multi-threaded (imported on first use only).

All products are ``out = W @ x + bias[:, None]`` with ``W`` in CSR form and
``x`` *feature-major*: ``x[c]`` holds feature ``c`` of every sample, so a
non-zero ``W[r, c]`` meets a contiguous row of the input.

Threads split the output rows: each row is written by one thread only, so
the result is the same at any thread count (same operations, same order).
"""

import numba
import numpy as np
from numba import prange

# "contract" lets LLVM fuse multiply-adds; no "nnan"/"ninf", so NaN and inf
# still propagate as in the masked model.
_jit = numba.njit(nogil=True, cache=True, boundscheck=False, fastmath={"contract"})
# The small row helpers below are inlined into their callers at numba's IR
# level: left to LLVM they stayed calls and cost 5-20 % (timed, one thread).
_inline = numba.njit(
    nogil=True, cache=True, boundscheck=False, fastmath={"contract"}, inline="always"
)
_pjit = numba.njit(
    nogil=True, cache=True, boundscheck=False, fastmath={"contract"}, parallel=True
)


@_inline
def _fill_row(out, r, b):
    """``out[r, :] = b``."""
    for j in range(out.shape[1]):
        out[r, j] = b


@_inline
def _axpy4(out, r, x, c0, c1, c2, c3, v0, v1, v2, v3):
    """``out[r] += v0 * x[c0] + ... + v3 * x[c3]``, paired as in ``_csr_dot``."""
    for j in range(x.shape[1]):
        out[r, j] += (v0 * x[c0, j] + v1 * x[c1, j]) + (v2 * x[c2, j] + v3 * x[c3, j])


@_inline
def _axpy(out, r, x, c, v):
    """``out[r] += v * x[c]``."""
    for j in range(x.shape[1]):
        out[r, j] += v * x[c, j]


@_inline
def _relu_row(out, r):
    """``out[r] = max(out[r], 0)`` (NaN stays NaN)."""
    zero = out.dtype.type(0)
    for j in range(out.shape[1]):
        if out[r, j] < zero:
            out[r, j] = zero


@_jit
def spmm_rows(crow, col, val, bias, x, out, relu, r0, r1, row=0):
    """Rows ``r0:r1`` of ``out = W @ x + bias``, ReLU applied if ``relu``.

    ``W``'s rows and ``bias`` are read from ``row`` on (a layer of
    ``chain_spmm``'s concatenated arrays), ``out``'s from 0.

    Four non-zeros of a row per pass over the samples: one load and one
    store of the output per four multiply-adds instead of per one measured
    1.6-1.9x faster (784x300 at 10 %, 2000x2000 at 1-5 %, batch 256 to
    10,000, one thread). Indexing ``out[r, j]`` rather than row views
    ``out[r]``: with views numba did not vectorise and ran 2x slower. The
    row helpers are inlined (``_inline``): same speed as the loops written out.
    """
    for r in range(r0, r1):
        _fill_row(out, r, bias[row + r])
        k = crow[row + r]
        end = crow[row + r + 1]
        while k + 4 <= end:
            _axpy4(
                out, r, x, col[k], col[k + 1], col[k + 2], col[k + 3],
                val[k], val[k + 1], val[k + 2], val[k + 3],
            )  # fmt: skip
            k += 4
        while k < end:
            _axpy(out, r, x, col[k], val[k])
            k += 1
        if relu:
            _relu_row(out, r)


@_jit
def spmm(crow, col, val, bias, x, out, relu, bounds):
    spmm_rows(crow, col, val, bias, x, out, relu, 0, crow.shape[0] - 1)


@_pjit
def spmm_parallel(crow, col, val, bias, x, out, relu, bounds):
    """``spmm`` over the row chunks ``bounds[t]:bounds[t + 1]``, in parallel."""
    for t in prange(bounds.shape[0] - 1):
        spmm_rows(crow, col, val, bias, x, out, relu, bounds[t], bounds[t + 1])


@_inline
def _csr_dot(col, val, x, k, end, acc):
    """``acc + val[k:end] . x[col[k:end]]`` for a vector ``x``.

    The operations and order of ``spmm_rows`` for one column, so a sample
    gets bit-identical outputs alone or in a batch. Four products per step
    break the chain of dependent additions, so four gathers and
    multiply-adds are in flight at a time.
    """
    while k + 4 <= end:
        acc += (val[k] * x[col[k]] + val[k + 1] * x[col[k + 1]]) + (
            val[k + 2] * x[col[k + 2]] + val[k + 3] * x[col[k + 3]]
        )
        k += 4
    while k < end:
        acc += val[k] * x[col[k]]
        k += 1
    return acc


@_jit
def spmv_rows(crow, col, val, bias, x, out, relu, row, r0, r1):
    """Rows ``r0:r1`` of ``out = W @ x + bias`` for a vector ``x`` (batch 1).

    ``W``'s rows and ``bias`` are read from ``row`` on (a layer of
    ``chain_spmv``'s concatenated arrays), ``out`` from 0.
    """
    zero = val.dtype.type(0)
    for r in range(r0, r1):
        k = row + r
        acc = _csr_dot(col, val, x, crow[k], crow[k + 1], bias[k])
        if relu and acc < zero:
            acc = zero
        out[r] = acc


@_jit
def spmv(crow, col, val, bias, x, out, relu, bounds):
    spmv_rows(crow, col, val, bias, x, out, relu, 0, 0, crow.shape[0] - 1)


@_pjit
def spmv_parallel(crow, col, val, bias, x, out, relu, bounds):
    for t in prange(bounds.shape[0] - 1):
        spmv_rows(crow, col, val, bias, x, out, relu, 0, bounds[t], bounds[t + 1])


@_jit
def chain_spmv(crow, col, val, bias, sizes, relu, buf_a, buf_b, x, out, n_chunks):
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
        dst = out if layer == n_layers - 1 else (buf_a if layer % 2 == 0 else buf_b)
        spmv_rows(crow, col, val, bias, src, dst, relu[layer], row, 0, n_out)
        row += n_out
        src = dst


# chain_spmv's layer loop again: a numba function is built with one set of
# options, so the serial and the parallel=True build are two functions (as
# spmm/spmm_parallel and spmv/spmv_parallel are); the row work itself is
# shared (spmv_rows).
@_pjit
def chain_spmv_parallel(
    crow, col, val, bias, sizes, relu, buf_a, buf_b, x, out, n_chunks
):
    """``chain_spmv`` with each layer's rows split into ``n_chunks`` in parallel."""
    n_layers = sizes.shape[0] - 1
    row = 0
    src = x
    for layer in range(n_layers):
        n_out = sizes[layer + 1]
        dst = out if layer == n_layers - 1 else (buf_a if layer % 2 == 0 else buf_b)
        step = (n_out + n_chunks - 1) // n_chunks
        for t in prange(n_chunks):
            r0 = min(t * step, n_out)
            r1 = min(r0 + step, n_out)
            spmv_rows(crow, col, val, bias, src, dst, relu[layer], row, r0, r1)
        row += n_out
        src = dst


@_jit
def chain_spmm(crow, col, val, bias, sizes, relu, buf_a, buf_b, x):
    """A chain of CSR layers on a batch, in one call.

    ``chain_spmv``'s arrays (its two vector buffers unused) and layer loop,
    with ``spmm_rows``' arithmetic, so each sample's outputs are
    bit-identical to the layer-by-layer path's and to ``chain_spmv``'s.
    ``x`` is feature-major, ``(sizes[0], n_samples)``; returns the
    feature-major ``(sizes[-1], n_samples)`` output. One call instead of a
    few Python-level steps a layer: a 99 %-sparse LeNet-300-100 at batch
    256 spent about as long in those as in its three products.
    """
    n = x.shape[1]
    src = x
    row = 0
    for layer in range(sizes.shape[0] - 1):
        n_out = sizes[layer + 1]
        dst = np.empty((n_out, n), x.dtype)
        spmm_rows(crow, col, val, bias, src, dst, relu[layer], 0, n_out, row)
        row += n_out
        src = dst
    return src
