"""Inference speed and file size of sparse MLPs, through the estimator API.

What users call is what is measured: ``SparseMLPClassifier.predict_proba``,
masked and after ``compress()``, beside the bare torch modules' forward
passes and, in the same interleaved rounds, the peers:

* scikit-learn's ``MLPClassifier.predict_proba`` with the same weights (and
  its bare numpy arithmetic, so its per-call overhead can be read off);
* scipy CSR and torch CSR (``torch.sparse.addmm``) products of the same
  sparse weights;
* ONNX Runtime and DeepSparse 1.8 on an ONNX model of the dense weights with
  their zeros, run in ``.venv-peers`` (``make bench-peers-env``) by
  ``benchmarks/_inference_peers.py``; a peer that is not installed is
  reported as unavailable.

Every peer's outputs are checked against the dense model's (max abs
difference in the JSON). Models: LeNet-300-100 (784-300-100-10) and a wide
784-2000-2000-10, uniform random masks at sparsity 0, 80, 90, 95 and 99 %;
batches 1, 256 and 10,000 (the last for the estimator against its module
only); one torch thread and the default threads. Also the joblib file sizes,
and a class-blinded magnitude-pruned LeNet whose compressed layers end up
mixed dense/CSR, at batch 1.

Timings are medians over rounds in which the variants are interleaved in a
shuffled order, so a machine shared with other work slows all of them alike;
with one thread each time is the CPU time of the process doing the work (the
benchmark or the peers' worker), with more the wall clock, each variant
timed after a pause in which the last one's thread pools stop spinning
(:data:`SETTLE_S`). The load average
before and after is in the JSON. Writes ``benchmarks/results/inference.json``,
``inference.csv``, ``inference.md`` and ``inference.png``;
``--crossover-only`` times single layers dense against CSR
(``inference_crossover.json``), which set
:data:`sksparse.nn._csr.DENSE_THRESHOLD`.

Run: ``nice python benchmarks/inference.py`` (``make bench-inference``);
``--quick`` for a smoke run (``make bench-inference-quick``).
"""

import argparse
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_name, pyplot, save_figure, write_csv  # noqa: E402

from sksparse.estimators import SparseMLPClassifier  # noqa: E402
from sksparse.nn._compact import CompactLinear, numba_available  # noqa: E402
from sksparse.pruning import MagnitudePruner  # noqa: E402

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEERS_WORKER = Path(__file__).resolve().parent / "_inference_peers.py"
MODELS = {"lenet-300-100": (300, 100), "wide-2000-2000": (2000, 2000)}
N_FEATURES, N_CLASSES = 784, 10
SPARSITIES = (0.0, 0.8, 0.9, 0.95, 0.99)
BATCHES = (1, 256, 10000)
#: Batches at which the peers run (10,000 rows: the estimator against its
#: own module only, the 1.1x target).
PEER_BATCHES = (1, 256)
CROSSOVER_SHAPES = ((300, 784), (100, 300), (2000, 784), (2000, 2000))
CROSSOVER_DENSITIES = (0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05)

#: The issue's speed-up targets over dense at one thread, batch 256.
SPEEDUP_TARGETS = {
    "lenet-300-100": {0.9: 3.7, 0.95: 5.0, 0.99: 45.0},
    "wide-2000-2000": {0.9: 4.0, 0.95: 8.0, 0.99: 66.0},
}
#: Through predict_proba at the default threads, wide 95 %.
DEFAULT_THREADS_TARGET = ("wide-2000-2000", 0.95, 8.0)

CLOCK = time.process_time

#: Seconds to wait before timing a variant on more than one thread. A thread
#: pool that has just worked spins before it sleeps: OpenBLAS (numpy's, so
#: scikit-learn's and scipy's) for about 2**28 cycles, 0.1 s here. Timed
#: right after one, a 2-thread numba kernel shared its cores with that
#: spinning worker: LeNet-300-100 at 95 %, batch 256, ran 372 us alone,
#: 2,973 us right after a numpy matmul (1,888 us 1 ms after it). Measured
#: here without the pause, every 2-thread figure measured the previous
#: variant's pool. 0 at one thread, where each time is the CPU time.
SETTLE_S = 0.0


# -- timing ----------------------------------------------------------------------
def loop(fn):
    """``run(n)``: seconds per call of ``n`` calls of ``fn`` on CLOCK."""

    def run(n):
        clock = CLOCK
        start = clock()
        for _ in range(n):
            fn()
        return (clock() - start) / n

    return run


def time_interleaved(runs, *, repeats, min_time, seed=0):
    """Median seconds per call of each ``run(n)``, interleaved in shuffled rounds."""
    counts = {}
    for name, run in runs.items():
        run(1)  # warm-up: numba loads its kernels, caches fill
        once = max(run(1), 1e-7)
        counts[name] = int(min(max(1, min_time / once), 20000))
    times = {name: [] for name in runs}
    order = list(runs)
    rng = random.Random(seed)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            if SETTLE_S:
                time.sleep(SETTLE_S)
            times[name].append(runs[name](counts[name]))
    return {name: float(np.median(ts)) for name, ts in times.items()}


def file_size(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.tell()


# -- the networks in every form ----------------------------------------------------
def fitted_estimator(hidden, sparsity, seed):
    """A fitted SparseMLPClassifier (max_epochs=0: timing needs no training)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4 * N_CLASSES, N_FEATURES)).astype(np.float32)
    y = np.arange(len(X)) % N_CLASSES
    est = SparseMLPClassifier(
        hidden, sparsity=sparsity, max_epochs=0, random_state=seed
    ).fit(X, y)
    return est


def effective_weights(est):
    """``(weights, biases)`` of the estimator's net as float32 numpy, masks applied."""
    weights, biases = [], []
    for layer in est.module_.masked_layers:
        weights.append((layer.weight * layer.mask).detach().numpy().copy())
        biases.append(layer.bias.detach().numpy().copy())
    return weights, biases


def dense_module(weights, biases):
    seq = nn.Sequential()
    for i, (w, b) in enumerate(zip(weights, biases)):
        linear = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        seq.append(linear)
        if i < len(weights) - 1:
            seq.append(nn.ReLU())
    return seq.eval()


def sklearn_mlp(weights, biases):
    """scikit-learn's MLPClassifier holding the same weights (float64, as fitted)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    hidden = tuple(w.shape[0] for w in weights[:-1])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2 * N_CLASSES, N_FEATURES))
    y = np.arange(len(X)) % N_CLASSES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden, max_iter=1, random_state=0).fit(X, y)
    mlp.coefs_ = [w.T.astype(np.float64) for w in weights]
    mlp.intercepts_ = [b.astype(np.float64) for b in biases]
    return mlp


def numpy_forward(weights, biases):
    """sklearn's arithmetic alone (float64 matmuls, ReLU, softmax), no checks."""
    coefs = [w.T.astype(np.float64) for w in weights]
    inter = [b.astype(np.float64) for b in biases]

    def forward(X):
        h = X
        for i, (w, b) in enumerate(zip(coefs, inter)):
            h = h @ w
            h += b
            if i < len(coefs) - 1:
                np.maximum(h, 0, out=h)
        h -= h.max(axis=1, keepdims=True)
        np.exp(h, out=h)
        h /= h.sum(axis=1, keepdims=True)
        return h

    return forward


def scipy_csr_forward(weights, biases):
    from scipy import sparse

    mats = [sparse.csr_matrix(w) for w in weights]
    cols = [b[:, None] for b in biases]

    def forward(X):
        h = np.ascontiguousarray(X.T)
        for i, (w, b) in enumerate(zip(mats, cols)):
            h = w @ h
            h += b
            if i < len(mats) - 1:
                np.maximum(h, 0, out=h)
        return h.T

    return forward


def torch_csr_forward(weights, biases):
    mats = [torch.from_numpy(w).to_sparse_csr() for w in weights]
    cols = [torch.from_numpy(b).unsqueeze(1) for b in biases]

    def forward(X):
        with torch.inference_mode():
            h = X.T
            for i, (w, b) in enumerate(zip(mats, cols)):
                h = torch.sparse.addmm(b, w, h)
                if i < len(mats) - 1:
                    h.relu_()
            return h.T

    return forward


def magnitude_pruned(sparsity, seed):
    """LeNet-300-100 pruned class-blinded by magnitude: mixed layer densities."""
    est = fitted_estimator(MODELS["lenet-300-100"], 0.0, seed)
    MagnitudePruner(sparsity, scope="class-blinded").prune(est.module_)
    return est


# -- peers in their own interpreter -----------------------------------------------
class Peers:
    """ONNX Runtime and DeepSparse, in ``.venv-peers`` (see _inference_peers.py)."""

    def __init__(self, weights, biases, inputs, threads, deepsparse_batches):
        self.status, self.outputs, self.proc = {}, {}, None
        python = PEERS_PYTHON if PEERS_PYTHON.exists() else None
        if python is None:
            reason = f"not installed: {PEERS_PYTHON} missing (make bench-peers-env)"
            self.status = {"onnxruntime": reason, "deepsparse": reason}
            return
        self.dir = tempfile.TemporaryDirectory()
        wpath = os.path.join(self.dir.name, "net.npz")
        opath = os.path.join(self.dir.name, "out.npz")
        arrays = {"n_layers": len(weights)}
        arrays.update({f"W{i}": w for i, w in enumerate(weights)})
        arrays.update({f"b{i}": b for i, b in enumerate(biases)})
        arrays.update({f"X{b}": x for b, x in inputs.items()})
        arrays["deepsparse_batches"] = np.asarray(deepsparse_batches, dtype=np.int64)
        np.savez(wpath, **arrays)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), NM_DISABLE_ANALYTICS="1")
        self.proc = subprocess.Popen(
            [str(python), str(PEERS_WORKER), wpath, opath, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            err = self.proc.stderr.read()[-2000:]
            self.proc.kill()
            self.proc = None
            reason = f"worker failed: {err.strip().splitlines()[-1:] or line!r}"
            self.status = {"onnxruntime": reason, "deepsparse": reason}
            return
        import ast

        self.status = ast.literal_eval(line[len("ready ") :])
        with np.load(opath) as out:
            self.outputs = {k: out[k] for k in out.files}

    def available(self, peer, batch):
        return f"{peer}:{batch}" in self.outputs

    def run(self, peer, batch):
        def run(n):
            self.proc.stdin.write(f"time {peer} {batch} {n}\n")
            self.proc.stdin.flush()
            return float(self.proc.stdout.readline())

        return run

    def close(self):
        if self.proc is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
            self.proc = None


def softmax(logits):
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


# -- one model at one sparsity ----------------------------------------------------
def _mod(module, T):
    def fn():
        with torch.inference_mode():
            return module(T)

    return fn


def bench_point(args, model, hidden, sparsity, est=None, label=None):
    """Every variant of one network at every thread setting and batch."""
    est = est if est is not None else fitted_estimator(hidden, sparsity, args.seed)
    weights, biases = effective_weights(est)
    dense = dense_module(weights, biases)
    skl = sklearn_mlp(weights, biases)
    npf = numpy_forward(weights, biases)
    sparse_peers = sparsity > 0 and not args.no_peers
    sp = scipy_csr_forward(weights, biases) if sparse_peers else None
    tc = torch_csr_forward(weights, biases) if sparse_peers else None
    gen = np.random.default_rng(args.seed + 1)
    batches = [b for b in args.batches if b in PEER_BATCHES or label is None]
    if model == "wide-2000-2000" and sparsity not in args.wide_big_sparsities:
        batches = [b for b in batches if b in PEER_BATCHES]
    thread_settings = list(args.threads)
    if model == "wide-2000-2000" and sparsity not in args.wide_threaded_sparsities:
        # The default-threads target is at 95 %: the wide model's other
        # sparsities run at one thread only, so a run ends on a shared machine.
        thread_settings = thread_settings[:1]
    Xs = {b: gen.standard_normal((b, N_FEATURES)).astype(np.float32) for b in batches}
    Ts = {b: torch.from_numpy(x) for b, x in Xs.items()}
    with torch.inference_mode():
        ref = {b: dense(T).numpy() for b, T in Ts.items()}
    label = label or model
    rows, info = [], {"model": label, "sparsity": sparsity, "compressed": {}}
    info["files"] = {"estimator": file_size(est), "sklearn": file_size(skl)}
    info["weights_bytes"] = sum(
        w.size * 4 + b.size * 4 for w, b in zip(weights, biases)
    )
    from threadpoolctl import threadpool_limits

    for threads in thread_settings:
        torch.set_num_threads(threads)
        # numpy's BLAS (scikit-learn's and scipy's arithmetic) on as many
        # threads as torch: its default, every core, counts every thread's CPU
        # time at "1 thread" and fights the load.
        blas = threadpool_limits(threads)
        global CLOCK, SETTLE_S
        CLOCK = time.process_time if threads == 1 else time.perf_counter
        SETTLE_S = 0.0 if threads == 1 else 0.3
        start = time.perf_counter()
        small = est.compress()
        layers = small.module_.layers
        info["compressed"][threads] = {
            "compress_s": time.perf_counter() - start,
            "layouts": [
                f"{la.layout}/{la.backend}" if la.layout == "csr" else "dense"
                for la in layers
            ],
            "densities": [round(la.density, 4) for la in layers],
            "removed_units": small.module_.removed_units,
        }
        if threads == args.threads[0]:
            info["files"]["compressed"] = file_size(small)
        peer_batches = [b for b in batches if b in PEER_BATCHES]
        peers = None
        if not args.no_peers and label == model:
            peers = Peers(
                weights,
                biases,
                {b: Xs[b] for b in peer_batches},
                threads,
                PEER_BATCHES if threads == 1 else (),
            )
            info.setdefault("peers", {})[threads] = peers.status
        try:
            for b in batches:
                if threads > 1 and b not in PEER_BATCHES:
                    continue  # 10,000 rows: the 1.1x target, at one thread
                X, T = Xs[b], Ts[b]
                fns = {
                    "dense module": (_mod(dense, T), "logits"),
                    "masked module": (_mod(est.module_, T), "logits"),
                    "masked predict_proba": (lambda X=X: est.predict_proba(X), "proba"),
                    "compressed module": (_mod(small.module_, T), "logits"),
                    "compressed predict_proba": (
                        lambda X=X, small=small: small.predict_proba(X),
                        "proba",
                    ),
                }
                if b in PEER_BATCHES and label == model:
                    fns["sklearn MLPClassifier.predict_proba"] = (
                        lambda X=X: skl.predict_proba(X),
                        "proba",
                    )
                    fns["numpy forward"] = (lambda X=X: npf(X), "proba")
                    if sp is not None:
                        fns["scipy CSR"] = (lambda X=X: sp(X), "logits")
                        fns["torch CSR"] = (lambda T=T: tc(T), "logits")
                errors = {}
                for name, (fn, kind) in fns.items():
                    out = fn()
                    out = out.numpy() if isinstance(out, torch.Tensor) else out
                    expected = softmax(ref[b]) if kind == "proba" else ref[b]
                    errors[name] = float(np.abs(out - expected).max())
                runs = {name: loop(fn) for name, (fn, _) in fns.items()}
                if peers is not None:
                    for peer in ("onnxruntime", "deepsparse"):
                        if peers.available(peer, b):
                            out = peers.outputs[f"{peer}:{b}"]
                            errors[peer] = float(np.abs(out - ref[b]).max())
                            runs[peer] = peers.run(peer, b)
                repeats = args.repeats if b <= 256 else max(3, args.repeats // 2)
                times = time_interleaved(
                    runs, repeats=repeats, min_time=args.min_time, seed=args.seed
                )
                for name, seconds in times.items():
                    rows.append(
                        {
                            "model": label,
                            "sparsity": sparsity,
                            "threads": threads,
                            "batch": b,
                            "variant": name,
                            "seconds": seconds,
                            "us": seconds * 1e6,
                            "samples_per_s": b / seconds,
                            "speedup_vs_dense_module": times["dense module"] / seconds,
                            "max_abs_diff": errors[name],
                        }
                    )
                summary = ", ".join(
                    f"{n}: {1e6 * t:.0f}us" for n, t in sorted(times.items())
                )
                print(
                    f"{label} s={sparsity:.2f} threads={threads} b={b}: {summary}",
                    flush=True,
                )
        finally:
            blas.restore_original_limits()
            if peers is not None:
                peers.close()
    return rows, info


# -- targets ------------------------------------------------------------------------
def _t(rows, **key):
    for r in rows:
        if all(r[k] == v for k, v in key.items()):
            return r["seconds"]
    return None


def targets(rows, infos, default_threads):
    """Each of the issue's inference targets: the figure and whether it is met."""
    out = []

    def add(target, figure, met, note=""):
        out.append({"target": target, "figure": figure, "met": met, "note": note})

    models = list(dict.fromkeys(r["model"] for r in rows))
    for model in models:
        for s in sorted({r["sparsity"] for r in rows if r["model"] == model}):
            for threads in sorted({r["threads"] for r in rows}):
                for b in (256, 10000):
                    for form in ("masked", "compressed"):
                        est = _t(
                            rows,
                            model=model,
                            sparsity=s,
                            threads=threads,
                            batch=b,
                            variant=f"{form} predict_proba",
                        )
                        mod = _t(
                            rows,
                            model=model,
                            sparsity=s,
                            threads=threads,
                            batch=b,
                            variant=f"{form} module",
                        )
                        if est is None or mod is None:
                            continue
                        ratio = est / mod
                        add(
                            f"predict_proba <= 1.1x module forward ({model}, "
                            f"{100 * s:.0f} %, {form}, batch {b}, {threads} "
                            "thread(s))",
                            f"{ratio:.2f}x",
                            ratio <= 1.1,
                        )
    # Batch-1 overhead against scikit-learn's.
    for model in models:
        for s in sorted({r["sparsity"] for r in rows if r["model"] == model}):
            for threads in sorted({r["threads"] for r in rows}):
                key = dict(model=model, sparsity=s, threads=threads, batch=1)
                skl = _t(rows, variant="sklearn MLPClassifier.predict_proba", **key)
                npf = _t(rows, variant="numpy forward", **key)
                if skl is None or npf is None:
                    continue
                skl_over = skl - npf
                for form in ("masked", "compressed"):
                    est = _t(rows, variant=f"{form} predict_proba", **key)
                    mod = _t(rows, variant=f"{form} module", **key)
                    over = est - mod
                    add(
                        f"batch-1 overhead <= sklearn MLPClassifier's ({model}, "
                        f"{100 * s:.0f} %, {form}, {threads} thread(s))",
                        f"{1e6 * over:.0f} us vs sklearn {1e6 * skl_over:.0f} "
                        f"us (total {1e6 * est:.0f} vs {1e6 * skl:.0f} "
                        "us)",
                        over <= skl_over,
                    )
    # Speed-ups at one thread, batch 256, against the and the peers.
    peers = ("scipy CSR", "torch CSR", "onnxruntime", "deepsparse")
    for model, per in SPEEDUP_TARGETS.items():
        for s, goal in per.items():
            key = dict(model=model, sparsity=s, threads=1, batch=256)
            dense = _t(rows, variant="dense module", **key)
            comp = _t(rows, variant="compressed module", **key)
            if dense is None or comp is None:
                continue
            speed = dense / comp
            best = {p: dense / t for p in peers if (t := _t(rows, variant=p, **key))}
            lead = max(best, key=best.get) if best else None
            add(
                f"compressed >= {goal}x dense and ahead of every peer ({model}, "
                f"{100 * s:.0f} %, 1 thread, batch 256)",
                f"{speed:.2f}x; best peer {lead} {best.get(lead, float('nan')):.2f}x",
                speed >= goal and all(speed > v for v in best.values()),
            )
    for model in models:
        if model not in MODELS:
            continue
        for s in sorted({r["sparsity"] for r in rows if r["model"] == model}):
            if s < 0.8:
                continue
            key = dict(model=model, sparsity=s, threads=1, batch=1)
            dense = _t(rows, variant="dense module", **key)
            comp = _t(rows, variant="compressed module", **key)
            if dense is None or comp is None:
                continue
            others = {
                p: _t(rows, variant=p, **key) for p in ("scipy CSR", "onnxruntime")
            }
            others = {p: t for p, t in others.items() if t}
            add(
                "batch 1 ahead of scipy CSR and ONNX Runtime, never slower "
                f"than dense ({model}, {100 * s:.0f} %, 1 thread)",
                f"{dense / comp:.2f}x dense; "
                + ", ".join(f"{p} {dense / t:.2f}x" for p, t in others.items()),
                comp <= dense and all(comp < t for t in others.values()),
            )
    model, s, goal = DEFAULT_THREADS_TARGET
    key = dict(model=model, sparsity=s, threads=default_threads, batch=256)
    masked = _t(rows, variant="masked predict_proba", **key)
    comp = _t(rows, variant="compressed predict_proba", **key)
    if masked and comp:
        add(
            f"predict_proba compressed >= {goal}x the uncompressed estimator "
            f"({model}, {100 * s:.0f} %, {default_threads} threads, batch "
            "256)",
            f"{masked / comp:.2f}x",
            masked / comp >= goal,
        )
    for label in [m for m in models if m not in MODELS]:
        for threads in sorted({r["threads"] for r in rows}):
            key = dict(model=label, threads=threads, batch=1)
            dense = _t(rows, variant="dense module", **key)
            for form in ("compressed module", "compressed predict_proba"):
                t = _t(rows, variant=form, **key)
                ref = (
                    dense
                    if form.endswith("module")
                    else _t(rows, variant="masked predict_proba", **key)
                )
                if t and ref:
                    add(
                        "mixed sparse/dense net not slower than dense "
                        f"at batch 1 ({label}, {form}, {threads} thread(s))",
                        f"{ref / t:.2f}x",
                        t <= ref,
                    )
    # Files.
    by = {(i["model"], i["sparsity"]): i for i in infos}
    for model in MODELS:
        base = by.get((model, 0.0))
        if base is None:
            continue
        ratio = base["files"]["estimator"] / base["weights_bytes"]
        add(
            f"dense estimator file <= 1.3x its float32 weights ({model})",
            f"{ratio:.3f}x",
            ratio <= 1.3,
        )
        for s, goal in ((0.95, 0.08), (0.99, 0.02)):
            info = by.get((model, s))
            if info is None:
                continue
            frac = info["files"]["compressed"] / base["files"]["estimator"]
            add(
                f"compressed estimator file at {100 * s:.0f} % <= {100 * goal:.0f} "
                f"% of the dense estimator's ({model})",
                f"{100 * frac:.2f} %",
                frac <= goal,
            )
    return out


def bench_crossover(args, backends):
    """Dense against CSR for single layers: where does CSR start to win?"""
    rows = []
    gen = torch.Generator().manual_seed(args.seed)
    for n_out, n_in in CROSSOVER_SHAPES:
        for batch in (256, 1):
            # Feature-major storage, as a CSR layer hands it to the next one;
            # the dense layer reads it through BLAS's transposed mode.
            h = torch.randn(n_in, batch, generator=gen).T
            for density in args.crossover_densities:
                weight = torch.randn(n_out, n_in, generator=gen)
                weight *= torch.rand(n_out, n_in, generator=gen) < density
                bias = torch.randn(n_out, generator=gen)
                layers = {"dense": CompactLinear(weight, bias, "dense")}
                for backend in backends:
                    layers[backend] = CompactLinear(weight, bias, "csr", backend)
                times = time_interleaved(
                    {
                        name: loop(lambda layer=layer, h=h: layer(h))
                        for name, layer in layers.items()
                    },
                    repeats=args.repeats,
                    min_time=args.min_time / 2,
                )
                for backend in backends:
                    rows.append(
                        {
                            "shape": [n_out, n_in],
                            "batch": batch,
                            "density": density,
                            "backend": backend,
                            "dense_us": times["dense"] * 1e6,
                            "csr_us": times[backend] * 1e6,
                            "csr_speedup": times["dense"] / times[backend],
                        }
                    )
            print(f"crossover {n_out}x{n_in} batch {batch} done", flush=True)
    crossover = {}
    for backend in backends:
        per_config = {}
        for r in rows:
            if r["backend"] != backend:
                continue
            key = f"{r['shape'][0]}x{r['shape'][1]}@{r['batch']}"
            if r["csr_speedup"] > 1.0:
                per_config[key] = max(per_config.get(key, 0.0), r["density"])
            else:
                per_config.setdefault(key, 0.0)
        crossover[backend] = {
            "per_layer_and_batch": per_config,
            "min": min(per_config.values()) if per_config else None,
            "median": float(np.median(list(per_config.values()))),
        }
        print(f"crossover [{backend}]: {per_config}", flush=True)
    return rows, crossover


# -- output -------------------------------------------------------------------------
PLOT_VARIANTS = (
    "compressed predict_proba",
    "compressed module",
    "masked predict_proba",
    "scipy CSR",
    "torch CSR",
    "onnxruntime",
    "deepsparse",
)


def plot(rows, path):
    plt = pyplot()

    models = [m for m in MODELS if any(r["model"] == m for r in rows)]
    fig, axes = plt.subplots(
        2, len(models), figsize=(5.5 * len(models), 8), squeeze=False
    )
    for col, model in enumerate(models):
        for row, b in enumerate((256, 1)):
            ax = axes[row, col]
            sel = [
                r
                for r in rows
                if r["model"] == model and r["batch"] == b and r["threads"] == 1
            ]
            xs = np.array(sorted({r["sparsity"] for r in sel}))
            ax.plot(xs, 1 / (1 - xs), "k--", lw=1, label="ideal 1/density")
            ax.axhline(1.0, color="grey", lw=0.8)
            for v in PLOT_VARIANTS:
                pts = sorted(
                    (r["sparsity"], r["speedup_vs_dense_module"])
                    for r in sel
                    if r["variant"] == v
                )
                if pts:
                    x, y = zip(*pts)
                    ax.plot(
                        x,
                        y,
                        marker="o",
                        label=v,
                        ls="-" if v.startswith("compressed") else ":",
                    )
            ax.set_yscale("log")
            ax.set_title(f"{model}, batch {b}, 1 thread")
            ax.set_ylabel("speed-up over the dense torch module")
            ax.set_xlabel("sparsity")
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=7)
    save_figure(fig, path, dpi=100)


def _cell(rows, **key):
    t = _t(rows, **key)
    return t


def markdown(rows, infos, checks, meta):
    lines = [
        f"Machine: {meta['cpu']}, {meta['cores']} cores, torch {meta['torch']}, "
        f"numba {meta['numba']}, scikit-learn {meta['sklearn']}; load average "
        f"{meta['loadavg_before']} before, {meta['loadavg_after']} after (shared "
        f"machine). Command: `{meta['command']}`. Medians of {meta['repeats']} "
        "interleaved rounds; CPU time at 1 thread, wall clock at more.",
        "",
    ]
    by = {(i["model"], i["sparsity"]): i for i in infos}
    for threads in meta["threads"]:
        lines += [
            f"**{threads} thread(s).** Speed-ups at batch 256 / batch 1: "
            "the compressed "
            "estimator's `predict_proba` over the uncompressed one's, the compressed "
            "module over the dense torch module, and the best peer over the dense "
            "module; `predict_proba` time over its own module's forward at batch "
            "256 / 10,000; the compressed estimator's joblib file as a fraction of the "
            "dense estimator's.",
            "",
            "| model | sparsity | dense module µs (b1) / samples/s (b256) "
            "| predict_proba compressed ÷ masked | compressed module ÷ "
            "dense | best peer (b256) | best peer (b1) | predict_proba "
            "÷ module, compressed (b256 / b10000) | file |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for model in MODELS:
            for s in sorted({r["sparsity"] for r in rows if r["model"] == model}):
                k = dict(model=model, sparsity=s, threads=threads)
                d1, d256 = (
                    _t(rows, batch=1, variant="dense module", **k),
                    _t(rows, batch=256, variant="dense module", **k),
                )
                if d1 is None or d256 is None:
                    continue

                def ratio(a, b, batch, k=k):
                    ta, tb = (
                        _t(rows, batch=batch, variant=a, **k),
                        _t(rows, batch=batch, variant=b, **k),
                    )
                    return f"{tb / ta:.2f}" if ta and tb else "–"

                def best(batch, k=k):
                    dense = _t(rows, batch=batch, variant="dense module", **k)
                    cands = {
                        p: dense / t
                        for p in ("scipy CSR", "torch CSR", "onnxruntime", "deepsparse")
                        if (t := _t(rows, batch=batch, variant=p, **k))
                    }
                    if not cands:
                        return "–"
                    p = max(cands, key=cands.get)
                    return f"{p} {cands[p]:.2f}"

                def over(batch, k=k):
                    e = _t(rows, batch=batch, variant="compressed predict_proba", **k)
                    m = _t(rows, batch=batch, variant="compressed module", **k)
                    return f"{e / m:.2f}" if e and m else "–"

                info = by.get((model, s), {})
                base = by.get((model, 0.0))
                frac = "–"
                if base and "compressed" in info.get("files", {}):
                    share = info["files"]["compressed"] / base["files"]["estimator"]
                    frac = f"{100 * share:.1f} %"
                lines.append(
                    f"| {model} | {100 * s:.0f} % | {1e6 * d1:.0f} / {256 / d256:.0f} "
                    "| "
                    f"{ratio('compressed predict_proba', 'masked predict_proba', 256)} "
                    f"/ {ratio('compressed predict_proba', 'masked predict_proba', 1)} "
                    "| "
                    f"{ratio('compressed module', 'dense module', 256)} "
                    f"/ {ratio('compressed module', 'dense module', 1)} "
                    "| "
                    f"{best(256)} | {best(1)} | {over(256)} / {over(10000)} | {frac} |"
                )
        lines.append("")
    lines += [
        "**Peers' outputs against the dense model** (max abs difference "
        "of logits, over batches 1 and 256, all sparsities):",
        "",
    ]
    lines += ["| model | peer | max abs diff |", "|---|---|---|"]
    for model in MODELS:
        for p in (
            "sklearn MLPClassifier.predict_proba",
            "scipy CSR",
            "torch CSR",
            "onnxruntime",
            "deepsparse",
            "compressed module",
            "compressed predict_proba",
        ):
            diffs = [
                r["max_abs_diff"]
                for r in rows
                if r["model"] == model and r["variant"] == p
            ]
            if diffs:
                lines.append(f"| {model} | {p} | {max(diffs):.2g} |")
    status = {}
    for info in infos:
        for st in info.get("peers", {}).values():
            status.update(st)
    if status:
        lines += [
            "",
            "Peers: " + "; ".join(f"{k}: {v}" for k, v in status.items()) + ".",
        ]
    lines += ["", "**Targets**", "", "| target | figure | met |", "|---|---|---|"]
    for c in checks:
        lines.append(
            f"| {c['target']} | {c['figure']} | {'met' if c['met'] else '**missed**'} |"
        )
    return "\n".join(lines) + "\n"


def _loadavg():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return None


def _numba_version():
    if not numba_available():
        return None
    import numba

    return numba.__version__


def main(argv=None):
    global PEERS_PYTHON
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="torch thread counts (default: 1 and torch's default)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=list(MODELS)
    )
    parser.add_argument("--sparsities", type=float, nargs="+", default=list(SPARSITIES))
    parser.add_argument("--no-peers", action="store_true", help="skip the peers")
    parser.add_argument(
        "--no-crossover", action="store_true", help="(default; kept for old commands)"
    )
    parser.add_argument(
        "--crossover-only", action="store_true", help="time single layers only"
    )
    parser.add_argument(
        "--peers-venv",
        type=Path,
        default=ROOT / ".venv-peers",
        help="the venv of make bench-peers-env",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    PEERS_PYTHON = args.peers_venv / "bin" / "python"
    default_threads = torch.get_num_threads()
    if args.threads is None:
        args.threads = sorted({1, default_threads})
    args.batches = BATCHES
    # Batch 10,000 through the wide model costs seconds a call per dense-cost
    # variant: measured at these sparsities only.
    args.wide_big_sparsities = (0.95,)
    args.wide_threaded_sparsities = (0.0, 0.95)
    args.crossover_densities = CROSSOVER_DENSITIES
    if args.quick:
        args.models, args.sparsities = ["lenet-300-100"], [0.0, 0.9]
        args.repeats, args.min_time = 2, 0.01
        args.crossover_densities = (0.3, 0.1)
    warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support.*")
    warnings.filterwarnings("ignore", message=".*sparse.*beta.*")
    import sklearn

    meta = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "default_threads": default_threads,
        "torch": torch.__version__,
        "numba": _numba_version(),
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "loadavg_before": _loadavg(),
        "repeats": args.repeats,
        "min_time_s": args.min_time,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "clock": "process CPU time at 1 thread (the worker's for its peers), "
        "wall clock at more",
        "note": "medians of interleaved rounds in shuffled order",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    if args.crossover_only:
        backends = (["numba"] if numba_available() else []) + ["torch"]
        torch.set_num_threads(args.threads[0])
        crossover_rows, crossover = bench_crossover(args, backends)
        (args.out / "inference_crossover.json").write_text(
            json.dumps(
                {"meta": meta, "crossover": crossover, "rows": crossover_rows}, indent=1
            )
        )
        return
    rows, infos = [], []
    for model in args.models:
        for s in args.sparsities:
            r, info = bench_point(args, model, MODELS[model], s)
            rows += r
            infos.append(info)
    if "lenet-300-100" in args.models:
        # Class-blinded magnitude pruning leaves layers of mixed density, which
        # compress() stores partly dense and partly CSR.
        est = magnitude_pruned(0.9, args.seed)
        r, info = bench_point(
            args,
            "lenet-300-100",
            MODELS["lenet-300-100"],
            0.9,
            est=est,
            label="lenet-300-100 magnitude-pruned",
        )
        rows += r
        infos.append(info)
    torch.set_num_threads(default_threads)
    meta["loadavg_after"] = _loadavg()
    checks = targets(rows, infos, default_threads)
    result = {"meta": meta, "rows": rows, "networks": infos, "targets": checks}
    (args.out / "inference.json").write_text(json.dumps(result, indent=1, default=str))
    write_csv(args.out / "inference.csv", rows)
    (args.out / "inference.md").write_text(markdown(rows, infos, checks, meta))
    plot(rows, args.out / "inference.png")
    print((args.out / "inference.md").read_text())


if __name__ == "__main__":
    main()
