"""How much smaller and faster a sparse network is: ShrinkBench's report."""

import io
import time

import joblib
import numpy as np
import torch

from sksparse.nn import CompressedConvNetwork, CompressedNetwork, compress
from sksparse.nn._compact import linear_stats
from sksparse.utils import find_module

__all__ = ["compression_report"]


def _module_of(obj):
    """The torch module of whatever model holds one (see ``find_module``)."""
    try:
        return find_module(obj)
    except TypeError as exc:
        raise TypeError(
            "compression_report takes a fitted sksparse estimator, search, "
            f"pipeline, skorch net or a torch.nn.Module; {exc}"
        ) from None


def _compact_layers(compressed):
    """The stored layers of a compressed network, input to output."""
    if isinstance(compressed, CompressedConvNetwork):
        return compressed.compact_layers
    return list(compressed.layers)


def _pickled_bytes(module):
    buffer = io.BytesIO()
    joblib.dump(module, buffer)
    return buffer.tell()


# A timed repeat runs each function for at least this much CPU time, so a
# millisecond forward is averaged over tens of calls and the clock's
# resolution and one-off stalls weigh little.
MIN_REPEAT_S = 0.02


def _cpu_seconds(fn, X, n_calls):
    start = time.thread_time()
    for _ in range(n_calls):
        fn(X)
    return (time.thread_time() - start) / n_calls


def _median_seconds(fns, X, n_repeats):
    """Median CPU seconds per call of each function, and of their paired ratios.

    Each function is warmed up (numba compiles, caches fill) and calibrated
    to a number of calls lasting :data:`MIN_REPEAT_S`; then the repeats
    interleave the functions (source, compressed, source, ...), so a busy
    spell of the machine slows both alike. They run on one torch thread and
    are timed in the calling thread's CPU time (``time.thread_time``), which
    neither other processes nor idle worker threads spinning for work
    inflate: timed on all threads with ``time.process_time`` the ratio
    still spread 1.02-2.74 over 10 calls, where one thread gives 1.96-2.12.
    Returns the median seconds per call of each function and the median
    over repeats of the per-repeat ratio ``source / compressed``.
    """
    calls = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for name, fn in fns.items():
                fn(X)  # warm-up
                once = max(_cpu_seconds(fn, X, 1), 1e-6)
                calls[name] = max(1, min(10_000, int(MIN_REPEAT_S / once)))
            times = {name: [] for name in fns}
            for _ in range(n_repeats):
                for name, fn in fns.items():
                    times[name].append(_cpu_seconds(fn, X, calls[name]))
    finally:
        torch.set_num_threads(threads)
    medians = {name: float(np.median(ts)) for name, ts in times.items()}
    ratio = None
    if "source" in times:
        ratios = [
            s / max(c, 1e-12) for s, c in zip(times["source"], times["compressed"])
        ]
        ratio = float(np.median(ratios))
    return medians, ratio


def compression_report(estimator, X=None, *, n_repeats=7, **compress_params):
    """Sizes, FLOPs and speed-ups of a sparse network, in ShrinkBench's words.

    Parameters
    ----------
    estimator : fitted estimator, skorch net or torch.nn.Module
        A fitted sksparse estimator (or one returned by its ``compress()``),
        a fitted skorch net, or a module :func:`~sksparse.nn.compress` takes
        (MLPs, CNNs, traced chains of Linear/Conv2d layers), a
        :class:`~sksparse.nn.CompressedNetwork` or
        :class:`~sksparse.nn.CompressedConvNetwork` included.
    X : array-like of shape (n_samples, n_features), default=None
        When given, both the network and its compressed form predict ``X``
        (one batch) and the measured speed-up is reported.
    n_repeats : int, default=7
        Timed repetitions of each network, interleaved; medians are kept
        (see Notes).
    **compress_params
        Passed to :func:`~sksparse.nn.compress` (``layout``, ``backend``,
        ``dense_threshold``).

    Returns
    -------
    report : dict
        - ``size``, ``size_nz``: weights and biases of the linear and
          convolutional layers, all and non-zero;
          ``compression_ratio = size / size_nz``.
        - ``flops``, ``flops_nz``: multiply-adds per sample of the dense and
          of the sparse network; ``theoretical_speedup = flops / flops_nz``.
        - ``size_compressed``, ``flops_compressed``: numbers stored and
          multiply-adds per sample of the compressed network (a layer it
          keeps dense counts in full), ``bytes``, ``bytes_compressed``: the
          joblib file sizes, ``removed_neurons`` (convolution channels
          included), ``removed_features``.
        - With ``X``: ``seconds``, ``seconds_compressed`` (median CPU
          seconds per call on ``X``) and ``measured_speedup``, the median of
          their per-repeat ratios. For a network that is already compressed
          these are ``None``, but ``seconds_compressed``.

    Notes
    -----
    The vocabulary is ShrinkBench's (Blalock et al. 2020): ``size`` counts
    parameters, ``flops`` the multiply-adds of the linear and convolutional
    layers for one sample (a convolution's kernel once per output
    position), biases and activations not included.

    How speed is measured: both networks run once on ``X`` to warm up
    (numba compiles, caches fill), then each is timed in ``n_repeats``
    repeats interleaved with the other's (source, compressed, source, ...),
    each repeat as many calls as last about 20 ms. Both run on one torch
    thread, timed in CPU time of the calling thread (``time.thread_time``),
    which other processes do not inflate as they do wall-clock time; the
    reported speed-up is the median over repeats of the ratio of the two
    networks' times in that repeat, the single-thread speed-up. Over 10
    consecutive calls on one 64-256-256-10 network at 90 % sparsity (digits,
    CSR layers, a 2-core machine shared with other work) it spread 1.96 to
    2.12; single wall-clock timings taken one after the other had spread
    0.59 to 187. ``benchmarks/`` measures multi-threaded speed.

    References
    ----------
    D. Blalock, J. J. Gonzalez Ortiz, J. Frankle and J. Guttag, "What is the
    state of neural network pruning?", MLSys 2020.

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import SparseMLP
    >>> from sksparse.estimators import compression_report
    >>> masks = [torch.eye(4), torch.ones(2, 4)]
    >>> report = compression_report(SparseMLP(4, (4,), 2, masks=masks))
    >>> report["size"], report["size_nz"], report["flops"], report["flops_nz"]
    (30, 18, 24, 12)
    >>> report["theoretical_speedup"]
    2.0
    """
    module = _module_of(estimator)
    if isinstance(module, (CompressedNetwork, CompressedConvNetwork)):
        compressed, source = module, None
    else:
        source = module
        compressed = compress(module, **compress_params)
    stats = linear_stats(compressed)
    layers = _compact_layers(compressed)
    removed = compressed.removed_units
    report = {
        "size": stats["size"],
        "size_nz": stats["size_nz"],
        "compression_ratio": stats["size"] / max(stats["size_nz"], 1),
        "flops": stats["flops"],
        "flops_nz": stats["flops_nz"],
        "theoretical_speedup": stats["flops"] / max(stats["flops_nz"], 1),
        "size_compressed": sum(layer.n_stored + layer.bias.numel() for layer in layers),
        "flops_compressed": sum(
            layer.n_stored * getattr(layer, "n_positions", 1) for layer in layers
        ),
        "bytes": None if source is None else _pickled_bytes(source),
        "bytes_compressed": _pickled_bytes(compressed),
        "removed_neurons": int(sum(removed[1:])) if removed else 0,
        "removed_features": int(removed[0]) if removed else 0,
        "layouts": [layer.layout for layer in layers],
    }
    if X is not None:
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        fns = {"compressed": compressed}
        if source is not None:
            was_training = source.training
            source.eval()
            fns["source"] = source
        try:
            times, ratio = _median_seconds(fns, X, n_repeats)
        finally:
            if source is not None:
                source.train(was_training)
        report["seconds"] = times.get("source")
        report["seconds_compressed"] = times["compressed"]
        report["measured_speedup"] = ratio
    return report
