"""Sparse training on Fashion-MNIST: SET and RigL against dense and pruning.

A LeNet-300-100 MLP (784-300-100-10, Adam, lr 1e-3, batch 128) trained for
the same number of epochs by every method, at 90 % and 95 % final sparsity,
over 3 seeds:

* ``dense``: no sparsity (the reference);
* ``static``: a fixed random sparse structure (Erdős–Rényi layer densities,
  Mocanu et al.), never rewired: what SET and RigL start from;
* ``SET``: drop 30 % of the smallest weights every 50 steps, regrow at
  random (Mocanu et al. 2018), to the end of training;
* ``RigL``: drop 30 % cosine-decayed every 50 steps, regrow by dense
  gradient, until 75 % of training (Evci et al. 2020);
* ``prune-retrain``: dense for half the epochs, one-shot class-blinded
  magnitude pruning, re-training for the other half (``PrunedEstimator``);
* ``gradual``: Zhu & Gupta's cubic magnitude pruning during training
  (``sparsity_schedule="gradual"``), reaching the sparsity at half time.

Writes ``benchmarks/results/sparse_training.json``, ``sparse_training.md``
and ``sparse_training.png`` (accuracy per method and sparsity).
Run: ``nice python benchmarks/sparse_training.py`` (``--quick`` for a smoke
run, into ``sparse_training_quick.*``; ``--replot`` redraws the figure from
the JSON file). Needs Fashion-MNIST (``make data`` installs Debian's package).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    LENET_300_100,
    RESULTS,
    lenet,
    load_images,
    machine,
    markdown_table,
    mean_sd,
    pyplot,
    save_figure,
    write_json,
)

HIDDEN, LR, BATCH = LENET_300_100, 1e-3, 128
UPDATE_EVERY, DROP_FRACTION = 50, 0.3


def make_estimator(method, sparsity, epochs, seed):
    from sksparse import PrunedEstimator
    from sksparse.pruning import SET, MagnitudePruner, RigL

    common = dict(lr=LR, batch_size=BATCH)
    if method == "dense":
        return lenet(seed, epochs=epochs, **common)
    if method in ("static", "SET", "RigL"):
        # The callback draws the Erdős–Rényi structure on a dense module at
        # the start of training; "static" is the same draw, never rewired.
        if method == "RigL":
            callback = RigL(
                DROP_FRACTION, UPDATE_EVERY, sparsity=sparsity, random_state=seed
            )
        else:
            every = UPDATE_EVERY if method == "SET" else 10**9
            callback = SET(DROP_FRACTION, every, sparsity=sparsity, random_state=seed)
        return lenet(seed, epochs=epochs, callbacks=[(method, callback)], **common)
    if method == "prune-retrain":
        first = epochs // 2
        return PrunedEstimator(
            lenet(seed, epochs=first, **common),
            pruner=MagnitudePruner(sparsity, scope="class-blinded"),
            retrain_epochs=epochs - first,
        )
    if method == "gradual":
        return lenet(
            seed,
            epochs=epochs,
            sparsity=sparsity,
            sparsity_schedule="gradual",
            **common,
        )
    raise ValueError(method)


def run(method, sparsity, seed, epochs, data):
    X, y, X_test, y_test = data
    estimator = make_estimator(method, sparsity, epochs, seed)
    start = time.perf_counter()
    estimator.fit(X, y)
    seconds = time.perf_counter() - start
    fitted = getattr(estimator, "estimator_", estimator)
    return {
        "method": method,
        "target_sparsity": sparsity,
        "seed": seed,
        "epochs": epochs,
        "accuracy": float(estimator.score(X_test, y_test)),
        "sparsity": float(fitted.sparsity_),
        "fit_seconds": seconds,
    }


def load(n_train):
    """``n_train`` training images (a fixed random subset), all test images."""
    X, y, _, _, X_test, y_test = load_images("fashion-mnist", n_train=n_train, n_val=0)
    return X, y, X_test, y_test


def summarise(rows):
    table = []
    keys = sorted(
        {(r["target_sparsity"], r["method"]) for r in rows},
        key=lambda k: (k[0], METHODS.index(k[1])),
    )
    for sparsity, method in keys:
        sel = [
            r
            for r in rows
            if r["method"] == method and r["target_sparsity"] == sparsity
        ]
        acc_mean, acc_sd = mean_sd(100 * r["accuracy"] for r in sel)
        table.append(
            {
                "method": method,
                "target_sparsity": sparsity,
                "accuracy_mean": acc_mean,
                "accuracy_std": acc_sd,
                "sparsity": float(np.mean([r["sparsity"] for r in sel])),
                "fit_seconds": float(np.mean([r["fit_seconds"] for r in sel])),
                "n_seeds": len(sel),
            }
        )
    return table


METHODS = ["dense", "static", "SET", "RigL", "prune-retrain", "gradual"]


def plot(summary, path):
    """Test accuracy (mean ± sd over seeds) per method, one group a sparsity."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    dense = [s for s in summary if s["method"] == "dense"]
    sparsities = sorted({s["target_sparsity"] for s in summary} - {0.0})
    methods = [m for m in METHODS[1:] if any(s["method"] == m for s in summary)]
    width = 0.8 / max(1, len(methods))
    for i, method in enumerate(methods):
        cells = [
            next(
                (
                    s
                    for s in summary
                    if s["method"] == method and s["target_sparsity"] == t
                ),
                None,
            )
            for t in sparsities
        ]
        x = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(sparsities))]
        ax.bar(
            [xj for xj, c in zip(x, cells) if c],
            [c["accuracy_mean"] for c in cells if c],
            width,
            yerr=[c["accuracy_std"] for c in cells if c],
            label=method,
        )
    if dense:
        ax.axhline(dense[0]["accuracy_mean"], color="k", lw=0.8, label="dense")
    low = min(s["accuracy_mean"] - s["accuracy_std"] for s in summary)
    ax.set_ylim(max(0.0, low - 2), None)
    ax.set_xticks(range(len(sparsities)), [f"{100 * t:g} % sparse" for t in sparsities])
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=3)
    ax.set_title("Sparse training of LeNet-300-100 on Fashion-MNIST")
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--replot", action="store_true", help="redraw the PNG from the JSON file"
    )
    parser.add_argument(
        "--tag", default="", help="suffix of the result files (sparse_training_TAG)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.n_train = 2, 1, 2000
    name = "sparse_training" + (f"_{args.tag}" if args.tag else "")
    name += "_quick" if args.quick else ""  # never over the full run
    if args.replot:
        result = json.loads((RESULTS / f"{name}.json").read_text())
        plot(result["summary"], RESULTS / f"{name}.png")
        return
    import torch

    torch.set_num_threads(1)
    data = load(args.n_train)
    rows = []
    for seed in range(args.seeds):
        for method in args.methods:
            for sparsity in [0.0] if method == "dense" else args.sparsities:
                row = run(method, sparsity, seed, args.epochs, data)
                rows.append(row)
                print(
                    f"seed {seed} {method:14s} s={sparsity:.2f}: "
                    f"acc {row['accuracy']:.4f}, sparsity {row['sparsity']:.3f}, "
                    f"{row['fit_seconds']:.0f} s",
                    flush=True,
                )
    summary = summarise(rows)
    meta = machine() | {
        "n_train": len(data[0]),
        "n_test": len(data[2]),
        "epochs": args.epochs,
        "hidden": list(HIDDEN),
        "lr": LR,
        "batch_size": BATCH,
        "update_every": UPDATE_EVERY,
        "drop_fraction": DROP_FRACTION,
    }
    write_json(f"{name}.json", {"meta": meta, "summary": summary, "runs": rows})
    header = ["method", "sparsity", "test accuracy % (mean ± sd)", "fit s", "seeds"]
    lines = [
        [
            s["method"],
            f"{100 * s['sparsity']:.1f} %",
            f"{s['accuracy_mean']:.2f} ± {s['accuracy_std']:.2f}",
            f"{s['fit_seconds']:.0f}",
            s["n_seeds"],
        ]
        for s in summary
    ]
    table = markdown_table(header, lines)
    (RESULTS / f"{name}.md").write_text(table + "\n")
    plot(summary, RESULTS / f"{name}.png")
    print(table)


if __name__ == "__main__":
    main()
