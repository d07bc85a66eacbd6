"""Structured sparsity: block and N:M patterns against unstructured CSR.

Two questions, on LeNet-300-100 (784-300-100-10) trained on Fashion-MNIST:

1. **Speed.** Each hidden layer of the trained network is pruned to 80, 90
   and 95 % (``MagnitudePruner(pattern=...)``, the same density per layer)
   unstructured, in ``(1, 4)``, ``(4, 1)``, ``(4, 4)`` and ``(8, 8)`` blocks,
   and N:M (1:5, 1:10, 1:20: the same densities), and every compact layout
   that can hold it is timed: dense, CSR (numba), blocks (sksparse's numba
   kernel; ``torch.sparse_bsr`` for square blocks) and N:M values + offsets.
   Times are the CPU time of one thread (``time.thread_time``), the best of
   several rounds: on a shared machine, CPU time does not count the time
   other processes held the core, which wall-clock time does.
2. **Accuracy.** The trained dense network is pruned in each pattern
   (class-blinded, one shot) and re-trained for ``--retrain-epochs``; test
   accuracy against unstructured pruning at the same density.

Writes ``benchmarks/results/structured.json``, ``structured.md`` (the README
table) and ``structured.png``.

Usage (``make bench-structured`` runs the defaults)::

    python benchmarks/structured.py [--n-train 20000] [--epochs 8]
        [--retrain-epochs 2] [--densities 0.2 0.1 0.05] [--cache DIR]
"""

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DENSE_CACHE,
    RESULTS,
    cached_lenet,
    config,
    load_images,
    machine,
    markdown_table,
    pyplot,
    save_figure,
    write_json,
)

from sksparse import PrunedEstimator  # noqa: E402
from sksparse.nn import BlockLinear, CompactLinear, NMLinear  # noqa: E402
from sksparse.pruning import MagnitudePruner  # noqa: E402

BLOCKS = ((1, 4), (4, 1), (4, 4), (8, 8))
BATCHES = (1, 256)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="folder of the IDX files")
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--retrain-epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--densities", type=float, nargs="+", default=[0.2, 0.1, 0.05])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument(
        "--cache",
        type=Path,
        default=DENSE_CACHE,
        help="where the dense network is cached (shared with benchmarks/pruning.py)",
    )
    return parser.parse_args(argv)


def patterns(density):
    """Every pattern at ``density``: its label and MagnitudePruner's pattern."""
    keep = round(1 / density)
    return (
        [("unstructured", None)]
        + [(f"{r}x{c}", (r, c)) for r, c in BLOCKS]
        + [(f"1:{keep}", f"1:{keep}")]
    )


def dense_network(args, X, y):
    """The seed's dense LeNet-300-100 (the cache key of benchmarks/pruning.py)."""
    return cached_lenet(
        args.cache,
        "fashion-mnist",
        args.seed,
        X,
        y,
        n_train=args.n_train,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
    )


def cpu_seconds(layer, batch, rounds, min_round=0.02):
    """Best CPU seconds of one thread per forward, input feature-major."""
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(layer.in_features, batch, generator=gen).T
    with torch.no_grad():
        layer.forward(h, True)  # numba compiles or loads here
        start = time.thread_time()
        layer.forward(h, True)
        once = max(time.thread_time() - start, 1e-6)
        n = max(1, int(min_round / once))
        best = float("inf")
        for _ in range(rounds):
            start = time.thread_time()
            for _ in range(n):
                layer.forward(h, True)
            best = min(best, (time.thread_time() - start) / n)
    return best


def layouts(weight, bias, pattern):
    """Every compact layer that can hold ``weight``, by layout name."""
    out = {
        "dense": CompactLinear(weight, bias, "dense", "numba"),
        "csr": CompactLinear(weight, bias, "csr", "numba"),
    }
    if isinstance(pattern, tuple):
        out["bsr"] = BlockLinear(weight, bias, pattern, "numba")
        if pattern[0] == pattern[1]:
            out["bsr-torch"] = BlockLinear(weight, bias, pattern, "torch")
    elif isinstance(pattern, str):
        n, m = (int(v) for v in pattern.split(":"))
        out["nm"] = NMLinear(weight, bias, n, m)
    return out


def run_speed(args, dense):
    rows = []
    for density in args.densities:
        for label, pattern in patterns(density):
            module = copy.deepcopy(dense.module_)
            pruner = MagnitudePruner(
                1 - density,
                scope="class-uniform",
                pattern=pattern,
                exclude=["layers.4.weight"],
            )
            pruner.prune(module)
            for index, layer in enumerate(module.masked_layers[:2]):
                weight = layer.weight.detach() * layer.mask
                real = float((weight != 0).float().mean())
                for name, compact in layouts(
                    weight, layer.bias.detach(), pattern
                ).items():
                    seconds = [cpu_seconds(compact, b, args.rounds) for b in BATCHES]
                    rows.append(
                        dict(
                            density=density,
                            pattern=label,
                            layer=f"{layer.out_features}x{layer.in_features}",
                            layer_index=index,
                            measured_density=real,
                            layout=name,
                            **{
                                f"us_batch{b}": 1e6 * s
                                for b, s in zip(BATCHES, seconds)
                            },
                        )
                    )
                    print(
                        f"{density:.2f} {label:12s} layer {index} {name:9s} "
                        + " ".join(f"{1e6 * s:9.1f}" for s in seconds)
                        + " us",
                        flush=True,
                    )
    return rows


def run_accuracy(args, dense, X, y, X_test, y_test):
    rows = []
    for density in args.densities:
        for label, pattern in patterns(density):
            start = time.perf_counter()
            pruned = PrunedEstimator(
                dense,
                MagnitudePruner(1 - density, pattern=pattern),
                retrain_epochs=args.retrain_epochs,
                prefit=True,
            ).fit(X, y)
            rows.append(
                dict(
                    density=density,
                    pattern=label,
                    sparsity=pruned.sparsity_,
                    accuracy=float(pruned.score(X_test, y_test)),
                    seconds=time.perf_counter() - start,
                )
            )
            print(
                f"{density:.2f} {label:12s} sparsity {pruned.sparsity_:.3f} "
                f"accuracy {rows[-1]['accuracy']:.4f}",
                flush=True,
            )
    return rows


def network_times(speed):
    """Both hidden layers together, per density, pattern and layout."""
    totals = {}
    for row in speed:
        key = (row["density"], row["pattern"], row["layout"])
        entry = totals.setdefault(key, {f"us_batch{b}": 0.0 for b in BATCHES})
        for b in BATCHES:
            entry[f"us_batch{b}"] += row[f"us_batch{b}"]
    return totals


def tables(speed, accuracy, dense_accuracy, args):
    totals = network_times(speed)
    lines = [
        "Speed: CPU time of one thread for both hidden layers of LeNet-300-100 "
        "(784x300 and 300x100, at the density of the column), per layout, at "
        "batch 1 / batch 256 (µs); **best** is the fastest layout at batch 256, "
        "speed-up against unstructured CSR at the same density.",
        "",
    ]
    header = [
        "density",
        "pattern",
        "dense",
        "CSR",
        "blocks (numba)",
        "blocks (torch)",
        "N:M",
        "best at 256",
        "vs CSR",
    ]
    rows = []
    for density in args.densities:
        csr_ref = totals[(density, "unstructured", "csr")]["us_batch256"]
        for label, _ in patterns(density):
            cells = [f"{100 * density:g} %", label]
            best, best_t = None, float("inf")
            for layout in ("dense", "csr", "bsr", "bsr-torch", "nm"):
                entry = totals.get((density, label, layout))
                if entry is None:
                    cells.append("")
                    continue
                cells.append(f"{entry['us_batch1']:.0f} / {entry['us_batch256']:.0f}")
                if entry["us_batch256"] < best_t:
                    best, best_t = layout, entry["us_batch256"]
            cells += [best, f"{csr_ref / best_t:.2f}x"]
            rows.append(cells)
    lines.append(markdown_table(header, rows))
    if accuracy:
        lines += [
            "",
            f"Accuracy after pruning (class-blinded, one shot) and "
            f"{args.retrain_epochs} re-training epochs; dense "
            f"{100 * dense_accuracy:.2f} % (Fashion-MNIST test, {args.n_train} "
            f"training images, seed {args.seed}).",
            "",
        ]
        labels = [label for label, _ in patterns(args.densities[0])]
        header = ["pattern"] + [f"{100 * (1 - d):g} % sparse" for d in args.densities]
        by = {(r["density"], r["pattern"]): r for r in accuracy}
        rows = []
        for i, label in enumerate(labels):
            cells = [label if i < len(labels) - 1 else "N:M (1:5, 1:10, 1:20)"]
            for density in args.densities:
                name = patterns(density)[i][0]
                cells.append(f"{100 * by[(density, name)]['accuracy']:.2f} %")
            rows.append(cells)
        lines.append(markdown_table(header, rows))
    return "\n".join(lines)


def plot(speed, accuracy, dense_accuracy, args, path):
    plt = pyplot()

    totals = network_times(speed)
    fig, axes = plt.subplots(1, 2 if accuracy else 1, figsize=(11, 4.2), squeeze=False)
    ax = axes[0, 0]
    labels = ["unstructured", "1x4", "4x1", "4x4", "8x8", "N:M"]
    width = 0.8 / len(args.densities)
    for k, density in enumerate(args.densities):
        csr = totals[(density, "unstructured", "csr")]["us_batch256"]
        speedups = []
        for label, _ in patterns(density):
            best = min(
                entry["us_batch256"]
                for (d, p, _layout), entry in totals.items()
                if d == density and p == label
            )
            speedups.append(csr / best)
        ax.bar(
            np.arange(len(labels)) + k * width,
            speedups,
            width,
            label=f"{100 * (1 - density):g} % sparse",
        )
    ax.axhline(1, color="k", lw=1, ls=":")
    ax.set_xticks(
        np.arange(len(labels)) + width * (len(args.densities) - 1) / 2, labels
    )
    ax.set_ylabel("speed-up vs unstructured CSR (batch 256)")
    ax.set_title("fastest layout of each pattern, both hidden layers")
    ax.legend(fontsize="small")
    if accuracy:
        ax = axes[0, 1]
        for i, label in enumerate(labels):
            ys = [
                100
                * next(
                    r["accuracy"]
                    for r in accuracy
                    if r["density"] == d and r["pattern"] == patterns(d)[i][0]
                )
                for d in args.densities
            ]
            ax.plot(
                [100 * (1 - d) for d in args.densities], ys, marker="o", label=label
            )
        ax.axhline(100 * dense_accuracy, color="k", lw=1, ls=":", label="dense")
        ax.set_xlabel("sparsity (%)")
        ax.set_ylabel("test accuracy after re-training (%)")
        ax.set_title(f"{args.retrain_epochs} re-training epochs")
        ax.legend(fontsize="small")
    save_figure(fig, path)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    # The first n_train of load_images' fixed permutation: the images
    # benchmarks/pruning.py's dense network is trained on.
    X, y, _, _, X_test, y_test = load_images(
        "fashion-mnist", args.root, n_train=args.n_train, n_val=0
    )
    dense = dense_network(args, X, y)
    dense_accuracy = float(dense.score(X_test, y_test))
    print(f"dense accuracy {dense_accuracy:.4f}", flush=True)
    speed = run_speed(args, dense)
    accuracy = (
        [] if args.speed_only else run_accuracy(args, dense, X, y, X_test, y_test)
    )
    table = tables(speed, accuracy, dense_accuracy, args)
    write_json(
        "structured.json",
        dict(
            machine=machine(),
            load_average=os.getloadavg(),
            config=config(args),
            dense_accuracy=dense_accuracy,
            speed=speed,
            accuracy=accuracy,
            total_seconds=time.perf_counter() - started,
        ),
    )
    (RESULTS / "structured.md").write_text(table + "\n")
    plot(speed, accuracy, dense_accuracy, args, RESULTS / "structured.png")
    print(table)
    print(f"total {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
