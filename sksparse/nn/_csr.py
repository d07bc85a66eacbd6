"""Sparse CSR kernels of the compact inference form (numba, imported on first use)."""

import importlib.util

# Largest density at which a layer is stored in CSR form rather than dense,
# per sparse kernel. Crossovers measured on one core of an AMD EPYC (Zen 3),
# torch 2.14 with MKL, layers 300x784, 100x300, 2000x784 and 2000x2000
# (benchmarks/inference.py, "crossover" in benchmarks/results/inference.json):
# numba's CSR wins up to density 0.2-0.3 at batch 256 but only up to 0.05-0.2
# at batch 1 (per-layer call overhead); torch.sparse up to 0.1-0.15. The
# thresholds sit between, so that neither batch size loses much.
DENSE_THRESHOLD = {"numba": 0.15, "torch": 0.1}

BACKENDS = ("auto", "numba", "torch")


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
