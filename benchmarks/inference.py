"""Inference speed and file size of sparse MLPs: dense, masked, pruned, compressed.

For an MLP of LeNet-300-100 shape (784-300-100-10) and a wide one
(784-2000-2000-10), at sparsities 0 to 99 %, in one run on one machine:

* throughput at batch 256 and latency at batch 1 of the dense ``torch.nn``
  model, sksparse's masked model (``SparseMLP``), ``torch.nn.utils.prune``'s
  model (``custom_from_mask``), and the compressed model of
  :func:`sksparse.nn.compress` with each of its sparse kernels;
* the joblib file size of each;
* a "crossover" section timing single layers dense against CSR, which sets
  :data:`sksparse.nn._compact.DENSE_THRESHOLD`.

Timings are medians over rounds in which the variants are interleaved, so a
machine shared with other work slows all of them alike. One torch thread
unless ``--threads`` says otherwise. Writes ``benchmarks/results/inference.json``,
``inference.png`` (speed-up against sparsity with the ideal 1/density line)
and ``inference.md`` (the README's table).

Run: ``nice python benchmarks/inference.py`` (``make bench-inference``);
``--quick`` for a smoke run.
"""

import argparse
import copy
import io
import json
import os
import platform
import random
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from sksparse.nn import SparseMLP, compress
from sksparse.nn._compact import CompactLinear, numba_available

RESULTS = Path(__file__).parent / "results"
MODELS = {"lenet-300-100": (784, 300, 100, 10), "wide-2000-2000": (784, 2000, 2000, 10)}
SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
CROSSOVER_SHAPES = ((300, 784), (100, 300), (2000, 784), (2000, 2000))
CROSSOVER_DENSITIES = (0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05)


# CPU time of this process, not wall-clock time: on a shared machine the
# wall clock also counts the time slices other processes get. With one torch
# thread, every variant computes in this thread, so CPU time is its cost.
CLOCK = time.process_time


def _calibrate(fn, min_time):
    """Number of calls of ``fn`` that take about ``min_time`` seconds."""
    fn()
    n, elapsed = 1, 0.0
    while True:
        start = CLOCK()
        for _ in range(n):
            fn()
        elapsed = CLOCK() - start
        if elapsed >= min_time / 4 or n >= 1 << 16:
            break
        n *= 4
    return max(1, int(n * min_time / max(elapsed, 1e-9)))


def time_interleaved(fns, *, repeats, min_time, seed=0):
    """Median seconds per call of each function, the functions interleaved.

    Each round runs every function (in a shuffled order) for about
    ``min_time`` seconds; the median over ``repeats`` rounds is kept.
    """
    counts = {name: _calibrate(fn, min_time) for name, fn in fns.items()}
    times = {name: [] for name in fns}
    order = list(fns)
    rng = random.Random(seed)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            fn, n = fns[name], counts[name]
            start = CLOCK()
            for _ in range(n):
                fn()
            times[name].append((CLOCK() - start) / n)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def file_size(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.tell()


def random_masks(sizes, sparsity, seed):
    """Uniform random masks, the same sparsity in every layer."""
    gen = torch.Generator().manual_seed(seed)
    masks = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        n_keep = max(1, round((1.0 - sparsity) * n_in * n_out))
        flat = torch.zeros(n_in * n_out)
        flat[torch.randperm(n_in * n_out, generator=gen)[:n_keep]] = 1.0
        masks.append(flat.view(n_out, n_in))
    return masks


def build_variants(sizes, sparsity, seed, backends):
    """The same function in every form the benchmark compares."""
    masks = random_masks(sizes, sparsity, seed)
    torch.manual_seed(seed)
    masked = SparseMLP(sizes[0], sizes[1:-1], sizes[-1], masks=masks).eval()
    dense = nn.Sequential()
    for i, layer in enumerate(masked.masked_layers):
        linear = nn.Linear(layer.in_features, layer.out_features)
        with torch.no_grad():
            linear.weight.copy_(layer.weight * layer.mask)
            linear.bias.copy_(layer.bias)
        dense.append(linear)
        if i < len(masks) - 1:
            dense.append(nn.ReLU())
    dense.eval()
    pruned = copy.deepcopy(dense)
    for module, mask in zip(pruned[::2], masks):
        prune.custom_from_mask(module, "weight", mask)
    variants = {"dense": dense, "masked": masked, "torch.prune": pruned}
    for backend in backends:
        variants[f"compressed[{backend}]"] = compress(masked, backend=backend)
    return variants


def prune_file_size(model):
    """torch.prune's model: pickled if it can be, else its state dict."""
    try:
        return file_size(model), "joblib"
    except Exception as exc:  # noqa: BLE001 - report why, measure what we can
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        return buffer.tell(), f"state_dict ({type(exc).__name__})"


def bench_models(args, backends):
    rows = []
    for model_name, sizes in MODELS.items():
        for sparsity in args.sparsities:
            variants = build_variants(sizes, sparsity, args.seed, backends)
            gen = torch.Generator().manual_seed(args.seed)
            X256 = torch.randn(256, sizes[0], generator=gen)
            X1 = X256[:1].clone()
            with torch.no_grad():
                reference = variants["masked"](X256)
                errors = {
                    name: max(
                        float((model(X256) - reference).abs().max()),
                        float((model(X1) - reference[:1]).abs().max()),
                    )
                    for name, model in variants.items()
                }

            def call(model, X):
                def fn():
                    with torch.no_grad():
                        model(X)

                return fn

            t256 = time_interleaved(
                {name: call(m, X256) for name, m in variants.items()},
                repeats=args.repeats,
                min_time=args.min_time,
            )
            t1 = time_interleaved(
                {name: call(m, X1) for name, m in variants.items()},
                repeats=args.repeats,
                min_time=args.min_time,
            )
            for name, model in variants.items():
                if name == "torch.prune":
                    size, how = prune_file_size(model)
                else:
                    size, how = file_size(model), "joblib"
                row = {
                    "model": model_name,
                    "sizes": list(sizes),
                    "sparsity": sparsity,
                    "variant": name,
                    "throughput_256": 256 / t256[name],
                    "latency_1_us": t1[name] * 1e6,
                    "speedup_256": t256["dense"] / t256[name],
                    "speedup_1": t1["dense"] / t1[name],
                    "file_bytes": size,
                    "file_how": how,
                    "max_abs_error": errors[name],
                }
                if name.startswith("compressed"):
                    row["layouts"] = [layer.layout for layer in model.layers]
                    row["removed_units"] = model.removed_units
                rows.append(row)
            dense_bytes = next(
                r["file_bytes"]
                for r in rows
                if r["model"] == model_name
                and r["sparsity"] == sparsity
                and r["variant"] == "dense"
            )
            for r in rows[-len(variants) :]:
                r["file_fraction"] = r["file_bytes"] / dense_bytes
            summary = "  ".join(
                f"{r['variant']}: x{r['speedup_256']:.2f}/x{r['speedup_1']:.2f}"
                for r in rows[-len(variants) :]
            )
            print(f"{model_name} s={sparsity:.2f}  {summary}", flush=True)
    return rows


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
                        name: (lambda layer=layer, h=h: layer(h))
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


def plot(rows, path, backends):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(MODELS), figsize=(11, 8), sharex=True)
    sparsities = np.array(sorted({r["sparsity"] for r in rows}))
    ideal = 1.0 / (1.0 - sparsities)
    styles = {"masked": ":", "torch.prune": "-."}
    for col, model in enumerate(MODELS):
        for row, (key, title) in enumerate(
            [
                ("speedup_256", "throughput, batch 256"),
                ("speedup_1", "latency, batch 1"),
            ]
        ):
            ax = axes[row, col]
            ax.plot(sparsities, ideal, "k--", lw=1, label="ideal 1/density")
            ax.axhline(1.0, color="grey", lw=0.8)
            for variant in ["masked", "torch.prune"] + [
                f"compressed[{b}]" for b in backends
            ]:
                pts = sorted(
                    (r["sparsity"], r[key])
                    for r in rows
                    if r["model"] == model and r["variant"] == variant
                )
                if pts:
                    x, y = zip(*pts)
                    ax.plot(x, y, styles.get(variant, "-"), marker="o", label=variant)
            ax.set_yscale("log")
            ax.set_title(f"{model}: {title}")
            ax.set_ylabel("speed-up over dense torch.nn")
            if row == 1:
                ax.set_xlabel("sparsity")
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(rows, backends, meta):
    lines = [
        f"Machine: {meta['cpu']}, {meta['threads']} torch thread(s), "
        f"torch {meta['torch']}, numba {meta['numba']}; load average "
        f"{meta['loadavg_before']} before, {meta['loadavg_after']} after. "
        "Speed-ups over the dense torch.nn model (throughput at batch 256 / "
        "latency at batch 1); file size as a fraction of the dense model's.",
        "",
    ]
    variants = ["masked", "torch.prune"] + [f"compressed[{b}]" for b in backends]
    header = (
        "| model | sparsity | dense samples/s (b256) | dense µs (b1) | "
        + " | ".join(f"{v} ×b256 / ×b1 / file" for v in variants)
    )
    lines += [header + " |", "|" + "---|" * (4 + len(variants))]
    for model in MODELS:
        for sparsity in sorted({r["sparsity"] for r in rows}):
            sel = {
                r["variant"]: r
                for r in rows
                if r["model"] == model and r["sparsity"] == sparsity
            }
            d = sel["dense"]
            cells = [
                f"{sel[v]['speedup_256']:.2f} / {sel[v]['speedup_1']:.2f} / "
                f"{100 * sel[v]['file_fraction']:.0f} %"
                for v in variants
            ]
            lines.append(
                f"| {model} | {100 * sparsity:.0f} % | {d['throughput_256']:.0f} | "
                f"{d['latency_1_us']:.0f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines) + "\n"


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--no-crossover", action="store_true")
    parser.add_argument(
        "--crossover-only", action="store_true", help="time single layers only"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.sparsities = SPARSITIES
    args.crossover_densities = CROSSOVER_DENSITIES
    if args.quick:
        args.sparsities, args.repeats, args.min_time = (0.0, 0.9), 2, 0.01
        args.crossover_densities = (0.3, 0.1)
    torch.set_num_threads(args.threads)
    if args.threads > 1:  # several threads: CPU time would add them up
        global CLOCK
        CLOCK = time.perf_counter
    warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support.*")
    backends = (["numba"] if numba_available() else []) + ["torch"]
    meta = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "numba": _numba_version(),
        "python": platform.python_version(),
        "loadavg_before": _loadavg(),
        "repeats": args.repeats,
        "min_time_s": args.min_time,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "clock": "process CPU time" if args.threads == 1 else "wall clock",
        "note": "timings are medians of interleaved rounds",
    }
    crossover_rows, crossover = ([], {})
    if not args.no_crossover:
        crossover_rows, crossover = bench_crossover(args, backends)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.crossover_only:
        (args.out / "inference_crossover.json").write_text(
            json.dumps({"meta": meta, "crossover": crossover, "rows": crossover_rows})
        )
        return
    rows = bench_models(args, backends)
    meta["loadavg_after"] = _loadavg()
    result = {
        "meta": meta,
        "models": rows,
        "crossover": crossover,
        "crossover_rows": crossover_rows,
    }
    (args.out / "inference.json").write_text(json.dumps(result, indent=1))
    (args.out / "inference.md").write_text(markdown(rows, backends, meta))
    plot(rows, args.out / "inference.png", backends)
    print((args.out / "inference.md").read_text())


def _numba_version():
    if not numba_available():
        return None
    import numba

    return numba.__version__


def _loadavg():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return None


if __name__ == "__main__":
    main()
