"""numba's kernels of the structured compact layers (imported on first use only).

Products are ``out = W @ x + bias[:, None]`` with ``x`` feature-major
(``(in_features, n_samples)``), as in :mod:`sksparse.nn._numba_kernels`;
one thread, so that the result does not depend on the thread count.
"""

import numba

from sksparse.nn._numba_kernels import _axpy, _axpy4, _fill_row, _relu_row

_jit = numba.njit(nogil=True, cache=True, boundscheck=False, fastmath={"contract"})


@_jit
def bsr_spmm(crow, col, val, bias, x, out, relu):
    """Block rows of ``r`` outputs; each stored ``(r, c)`` block meets ``c``
    contiguous input rows, read once for the block's ``r`` outputs."""
    n_out, n = out.shape
    n_in = x.shape[0]
    r, c = val.shape[1], val.shape[2]
    for R in range(crow.shape[0] - 1):
        r0 = R * r
        rows = min(r, n_out - r0)
        for i in range(rows):
            _fill_row(out, r0 + i, bias[r0 + i])
        for k in range(crow[R], crow[R + 1]):
            c0 = col[k] * c
            cols = min(c, n_in - c0)
            i = 0
            # Two outputs by four inputs per pass over the samples: each
            # input value loaded feeds two rows (8 multiply-adds per 6 loads
            # and stores instead of 4).
            while i + 2 <= rows:
                o = r0 + i
                q = 0
                while q + 4 <= cols:
                    a0, a1 = val[k, i, q], val[k, i, q + 1]
                    a2, a3 = val[k, i, q + 2], val[k, i, q + 3]
                    b0, b1 = val[k, i + 1, q], val[k, i + 1, q + 1]
                    b2, b3 = val[k, i + 1, q + 2], val[k, i + 1, q + 3]
                    for j in range(n):
                        x0, x1 = x[c0 + q, j], x[c0 + q + 1, j]
                        x2, x3 = x[c0 + q + 2, j], x[c0 + q + 3, j]
                        out[o, j] += (a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)
                        out[o + 1, j] += (b0 * x0 + b1 * x1) + (b2 * x2 + b3 * x3)
                    q += 4
                while q < cols:
                    a, b = val[k, i, q], val[k, i + 1, q]
                    for j in range(n):
                        xv = x[c0 + q, j]
                        out[o, j] += a * xv
                        out[o + 1, j] += b * xv
                    q += 1
                i += 2
            while i < rows:
                o = r0 + i
                q = 0
                while q + 4 <= cols:
                    _axpy4(
                        out, o, x, c0 + q, c0 + q + 1, c0 + q + 2, c0 + q + 3,
                        val[k, i, q], val[k, i, q + 1],
                        val[k, i, q + 2], val[k, i, q + 3],
                    )  # fmt: skip
                    q += 4
                while q < cols:
                    _axpy(out, o, x, c0 + q, val[k, i, q])
                    q += 1
                i += 1
        if relu:
            for i in range(rows):
                _relu_row(out, r0 + i)


@_jit
def bsr_spmv(crow, col, val, bias, x, out, relu):
    n_out = out.shape[0]
    n_in = x.shape[0]
    r, c = val.shape[1], val.shape[2]
    zero = val.dtype.type(0)
    for R in range(crow.shape[0] - 1):
        r0 = R * r
        rows = min(r, n_out - r0)
        for i in range(rows):
            out[r0 + i] = bias[r0 + i]
        for k in range(crow[R], crow[R + 1]):
            c0 = col[k] * c
            cols = min(c, n_in - c0)
            for i in range(rows):
                acc = zero
                for q in range(cols):
                    acc += val[k, i, q] * x[c0 + q]
                out[r0 + i] += acc
        if relu:
            for i in range(rows):
                if out[r0 + i] < zero:
                    out[r0 + i] = zero


# nm_spmm keeps its own copy of spmm_rows' row loop rather than calling the
# shared row helpers of _numba_kernels (as bsr_spmm does): through them it ran
# 4-10 % slower at batch 256 (300x784, 100x300, 10x100 at 1:10 and 1:20, one
# thread, interleaved medians; this copy against itself: 0-3 %), although the
# arithmetic is the same.
@_jit
def nm_spmm(val, off, n_keep, m, bias, x, out, relu):
    """Rows of fixed length: entry ``k`` reads input ``(k // N) * M + off[k]``."""
    n_out, length = val.shape
    n = x.shape[1]
    zero = val.dtype.type(0)
    for r in range(n_out):
        b = bias[r]
        for j in range(n):
            out[r, j] = b
        k = 0
        while k + 4 <= length:
            c0 = (k // n_keep) * m + off[r, k]
            c1 = ((k + 1) // n_keep) * m + off[r, k + 1]
            c2 = ((k + 2) // n_keep) * m + off[r, k + 2]
            c3 = ((k + 3) // n_keep) * m + off[r, k + 3]
            v0, v1, v2, v3 = val[r, k], val[r, k + 1], val[r, k + 2], val[r, k + 3]
            for j in range(n):
                out[r, j] += (v0 * x[c0, j] + v1 * x[c1, j]) + (
                    v2 * x[c2, j] + v3 * x[c3, j]
                )
            k += 4
        while k < length:
            c0 = (k // n_keep) * m + off[r, k]
            v = val[r, k]
            for j in range(n):
                out[r, j] += v * x[c0, j]
            k += 1
        if relu:
            for j in range(n):
                if out[r, j] < zero:
                    out[r, j] = zero


@_jit
def nm_spmv(val, off, n_keep, m, bias, x, out, relu):
    n_out, length = val.shape
    zero = val.dtype.type(0)
    for r in range(n_out):
        a0 = a1 = zero
        k = 0
        while k + 2 <= length:
            a0 += val[r, k] * x[(k // n_keep) * m + off[r, k]]
            a1 += val[r, k + 1] * x[((k + 1) // n_keep) * m + off[r, k + 1]]
            k += 2
        if k < length:
            a0 += val[r, k] * x[(k // n_keep) * m + off[r, k]]
        acc = bias[r] + (a0 + a1)
        if relu and acc < zero:
            acc = zero
        out[r] = acc
