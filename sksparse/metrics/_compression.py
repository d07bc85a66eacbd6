"""How much smaller and faster a sparse network is: ShrinkBench's report."""

import io
import time

import joblib
import numpy as np
import torch

from sksparse.nn import CompressedNetwork, compress
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


def _pickled_bytes(module):
    buffer = io.BytesIO()
    joblib.dump(module, buffer)
    return buffer.tell()


def _median_seconds(fns, X, n_repeats):
    """Median seconds per call of each function on ``X``, interleaved."""
    times = {name: [] for name in fns}
    with torch.no_grad():
        for fn in fns.values():
            fn(X)  # warm-up: numba compiles, caches fill
        for _ in range(n_repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(X)
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def compression_report(estimator, X=None, *, n_repeats=7, **compress_params):
    """Sizes, FLOPs and speed-ups of a sparse network, in ShrinkBench's words.

    Parameters
    ----------
    estimator : fitted estimator, skorch net or torch.nn.Module
        A fitted sksparse estimator (or one returned by its ``compress()``),
        a fitted skorch net, or a module :func:`~sksparse.nn.compress` takes
        (a :class:`~sksparse.nn.CompressedNetwork` included).
    X : array-like of shape (n_samples, n_features), default=None
        When given, both the network and its compressed form predict ``X``
        (one batch) and the measured speed-up is reported.
    n_repeats : int, default=7
        Timed repetitions; the median is kept.
    **compress_params
        Passed to :func:`~sksparse.nn.compress` (``layout``, ``backend``,
        ``dense_threshold``).

    Returns
    -------
    report : dict
        - ``size``, ``size_nz``: weights and biases of the linear layers, all
          and non-zero; ``compression_ratio = size / size_nz``.
        - ``flops``, ``flops_nz``: multiply-adds per sample of the dense and
          of the sparse network; ``theoretical_speedup = flops / flops_nz``.
        - ``size_compressed``, ``flops_compressed``: numbers stored and
          multiply-adds per sample of the compressed network (a layer it
          keeps dense counts in full), ``bytes``, ``bytes_compressed``: the
          joblib file sizes, ``removed_neurons``, ``removed_features``.
        - With ``X``: ``seconds``, ``seconds_compressed`` (median per call
          on ``X``) and ``measured_speedup``, their ratio. For a network
          that is already compressed these are ``None``, but
          ``seconds_compressed``.

    Notes
    -----
    The vocabulary is ShrinkBench's (Blalock et al. 2020): ``size`` counts
    parameters, ``flops`` the multiply-adds of the linear layers for one
    sample, biases and activations not included.

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
    if isinstance(module, CompressedNetwork):
        compressed, source = module, None
    else:
        source = module
        compressed = compress(module, **compress_params)
    stats = linear_stats(compressed)
    removed = compressed.removed_units
    report = {
        "size": stats["size"],
        "size_nz": stats["size_nz"],
        "compression_ratio": stats["size"] / max(stats["size_nz"], 1),
        "flops": stats["flops"],
        "flops_nz": stats["flops_nz"],
        "theoretical_speedup": stats["flops"] / max(stats["flops_nz"], 1),
        "size_compressed": sum(
            layer.nnz + layer.out_features for layer in compressed.layers
        ),
        "flops_compressed": compressed.nnz,
        "bytes": None if source is None else _pickled_bytes(source),
        "bytes_compressed": _pickled_bytes(compressed),
        "removed_neurons": int(sum(removed[1:])) if removed else 0,
        "removed_features": int(removed[0]) if removed else 0,
        "layouts": [layer.layout for layer in compressed.layers],
    }
    if X is not None:
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        fns = {"compressed": compressed}
        if source is not None:
            was_training = source.training
            source.eval()
            fns["source"] = source
        try:
            times = _median_seconds(fns, X, n_repeats)
        finally:
            if source is not None:
                source.train(was_training)
        report["seconds"] = times.get("source")
        report["seconds_compressed"] = times["compressed"]
        report["measured_speedup"] = (
            times["source"] / times["compressed"] if source is not None else None
        )
    return report
