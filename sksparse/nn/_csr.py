"""Sparse CSR kernels of the compact inference form (numba, imported on first use)."""

import importlib.util
import time

import numpy as np
import torch

# Largest density at which a layer is stored in CSR form rather than dense,
# per sparse kernel. Crossovers measured on one core of an AMD EPYC (Zen 3),
# torch 2.14 with MKL, layers 300x784, 100x300, 2000x784 and 2000x2000
# (benchmarks/inference.py --crossover-only, results/inference_crossover.json):
# numba's CSR wins up to density 0.2-0.3 at batch 256 but only up to 0.05-0.2
# at batch 1 (per-layer call overhead); torch.sparse up to 0.1-0.15. The
# thresholds sit between, so that neither batch size loses much.
DENSE_THRESHOLD = {"numba": 0.15, "torch": 0.1}

BACKENDS = ("auto", "numba", "torch")


# Fewest multiply-adds (non-zeros x samples) a product must have to be split
# across threads: below it the start of a parallel region costs more than it
# saves. Measured, 2 threads: 784x300 at 5 %, batch 1 (12k) 11 us parallel
# against 9 us serial; 2000x2000 at 5 %, batch 1 (200k) 121 against 221 us;
# every batch-256 layer tried (>= 1M) ran 1.7-2x faster on 2 threads.
MIN_PARALLEL_WORK = 50_000


_KERNELS = None


def _numba_kernels():
    """numba's kernels (:mod:`sksparse.nn._numba_kernels`), compiled on first use."""
    global _KERNELS
    if _KERNELS is None:
        from numba.np.ufunc.parallel import _launch_threads

        from sksparse.nn import _numba_kernels as kernels

        # numba's OpenMP pool shares the OpenMP runtime with torch; starting
        # it (lazily, at the first parallel call otherwise) reset torch's
        # thread count to the core count here. Start it now, keep torch's.
        threads = torch.get_num_threads()
        _launch_threads()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        _KERNELS = kernels
    return _KERNELS


def kernel_threads():
    """Threads the sparse kernels use: torch's intra-op thread count.

    The same count as dense layers get from ``torch.set_num_threads``, so one
    setting governs the whole network; capped by numba's own pool size.
    """
    import numba

    return max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))


def row_bounds(crow, n_chunks):
    """Row chunks of about equal numbers of non-zeros (for load balance)."""
    crow = np.asarray(crow, dtype=np.int64)
    n_rows = crow.shape[0] - 1
    targets = np.linspace(0, crow[-1], n_chunks + 1)
    bounds = np.searchsorted(crow, targets, side="left")
    bounds[0], bounds[-1] = 0, n_rows
    return np.maximum.accumulate(np.clip(bounds, 0, n_rows)).astype(np.int64)


def csr_matmul(arrays, x, out, relu, bounds_cache):
    """``out = W @ x + bias`` (ReLU fused if ``relu``) for feature-major ``x``.

    ``arrays`` are the numpy CSR arrays and bias; ``x`` has shape
    ``(in_features, n_samples)`` (or ``(in_features,)``). Runs on
    :func:`kernel_threads` threads when the product is big enough.
    """
    kernels = _numba_kernels()
    crow = arrays[0]
    vector = x.ndim == 1
    work = arrays[2].shape[0] * (1 if vector else x.shape[1])
    threads = kernel_threads()
    if threads == 1 or work < MIN_PARALLEL_WORK:
        kernel = kernels.spmv if vector else kernels.spmm
        kernel(*arrays, x, out, relu, _NO_BOUNDS)
        return
    import numba

    bounds = bounds_cache.get(threads)
    if bounds is None:
        # 4 chunks a thread: rows of uneven length still even out.
        bounds = bounds_cache[threads] = row_bounds(crow, 4 * threads)
    numba.set_num_threads(threads)
    kernel = kernels.spmv_parallel if vector else kernels.spmm_parallel
    kernel(*arrays, x, out, relu, bounds)


_NO_BOUNDS = np.zeros(2, dtype=np.int64)


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


# -- choosing a layer's layout by measurement -------------------------------------
# Batch sizes at which compress() times each layer's candidate layouts, and
# then whole networks: a network is kept only if it is faster than the dense
# one at every one, so it is never slower than dense at either latency (1)
# or throughput (256) use.
MEASURE_BATCHES = (1, 256)
# Rows the estimators pad a batch to (sksparse.estimators._inference.MIN_ROWS):
# networks are timed as predict_proba runs them.
PREDICT_PAD_ROWS = 8
# Above this density no sparse layout is timed: the crossovers measured on
# layers 300x784 to 2000x2000 lay at density 0.05-0.3 (numba and torch.sparse,
# batch 1 and 256), so timing denser layers would only cost compress() time.
MAX_SPARSE_DENSITY = 0.5
# Each timing is the best of this many rounds of at least MIN_ROUND_S seconds:
# the minimum, because other work on the machine only ever adds time.
ROUNDS = 5
MIN_ROUND_S = 0.004


def layer_seconds(layer, batch, relu):
    """Seconds per forward of ``layer`` on ``batch`` feature-major samples.

    The input is laid out as inside a compressed network with sparse layers
    (``(in_features, batch)`` storage), at the thread count in effect now.
    """
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(layer.in_features, batch, generator=gen, dtype=layer.bias.dtype).T
    with torch.no_grad():
        return _best_seconds(lambda: layer.forward(h, relu))


def _best_seconds(fn):
    """Best of :data:`ROUNDS` rounds of at least :data:`MIN_ROUND_S` of ``fn()``.

    On one thread every kernel runs in this thread: its CPU time is the
    cost, and other work on a shared machine does not enter it (at a load
    average of 20 on 2 cores the wall clock kept a 90 % LeNet's layers
    dense, 0.69x dense's speed). More threads: the wall clock.
    """
    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter
    fn()  # first call: numba loads or compiles its kernel
    start = clock()
    fn()
    once = clock() - start
    n = max(1, int(MIN_ROUND_S / max(once, 1e-7)))
    best = once
    for _ in range(ROUNDS):
        start = clock()
        for _ in range(n):
            fn()
        best = min(best, (clock() - start) / n)
    return best


def network_seconds(network, batch):
    """Seconds per forward of a compressed ``network`` on ``batch`` samples.

    Row-major input and :data:`PREDICT_PAD_ROWS` padding, as the estimators'
    ``predict_proba`` calls it, at the thread count in effect now.
    """
    gen = torch.Generator().manual_seed(0)
    dtype = network.layers[0].bias.dtype
    X = torch.randn(batch, network.n_features_in, generator=gen, dtype=dtype)
    return _best_seconds(lambda: network.forward(X, pad_rows=PREDICT_PAD_ROWS))


def choose_network(candidates):
    """The fastest of ``candidates`` (name -> network) that beats ``"dense"``.

    Each is timed with :func:`network_seconds` at every
    :data:`MEASURE_BATCHES` size; one must be faster than the dense network
    at every batch size, and among those the smallest geometric mean of the
    time ratios to dense wins. Returns ``(name, {name: [seconds]})``.
    """
    times = {
        name: [network_seconds(net, batch) for batch in MEASURE_BATCHES]
        for name, net in candidates.items()
    }
    return _fastest(times), times


def _fastest(times):
    dense = times["dense"]
    best, best_score = "dense", 0.0
    for name, seconds in times.items():
        if name == "dense":
            continue
        ratios = [t / max(d, 1e-12) for t, d in zip(seconds, dense)]
        score = float(np.mean(np.log(ratios)))
        if max(ratios) < 1.0 and score < best_score:
            best, best_score = name, score
    return best


def choose_layout(candidates, relu):
    """The fastest of ``candidates`` (name -> layer), dense unless sparse wins.

    ``candidates`` holds ``"dense"`` and the sparse layers to try; each is
    timed with :func:`layer_seconds` at every :data:`MEASURE_BATCHES` size.
    A sparse candidate must be faster than dense at every batch size; among
    those, the one with the smallest geometric mean of its time ratios to
    dense wins (so a kernel 5x faster at batch 256 and 0.9x dense's time at
    batch 1 beats one 6x faster at 256 that only ties at batch 1).
    Returns ``(name, {name: [seconds per batch size]})``.
    """
    times = {
        name: [layer_seconds(layer, batch, relu) for batch in MEASURE_BATCHES]
        for name, layer in candidates.items()
    }
    return _fastest(times), times
