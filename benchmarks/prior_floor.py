"""Graph priors at high sparsity, with and without an in-degree floor.

The ``sksparse demo`` setting (digits, SparseMLPClassifier 128-64, 15 epochs,
lr 1e-2, batch 128): uniform, Watts-Strogatz and Barabasi-Albert masks at 90 %
and 95 % sparsity, plain and with ``prior_params`` ``{"min_in_degree": 3}``,
``{"uniform_output": True}`` and both, 3 seeds. Writes
benchmarks/results/prior_floor.json, .csv (one row per fit) and .png (mean
accuracy per setting) and prints the mean accuracy per setting.

Run (~10 min on a loaded 2-core machine; ``--out DIR`` writes elsewhere,
``--replot`` redraws the figure from the JSON file)::

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/prior_floor.py
"""

import argparse
import json
import os
import time
from pathlib import Path

from _common import RESULTS, machine, mean_sd, pyplot, save_figure, write_csv

from sksparse.experiments import load_dataset, make_sweep_estimator

METHODS = ("uniform", "watts_strogatz", "barabasi_albert")
SPARSITIES = (0.9, 0.95)
# Options as prior_params: {} is today's default.
VARIANTS = {
    "plain": {},
    "floor3": {"min_in_degree": 3},
    "uniform_output": {"uniform_output": True},
    "floor3+uniform_output": {"min_in_degree": 3, "uniform_output": True},
}
SEEDS = (0, 1, 2)
SETTINGS = dict(hidden_layer_sizes=(128, 64), max_epochs=15, lr=1e-2, batch_size=128)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--sparsities", type=float, nargs="+", default=list(SPARSITIES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--replot", action="store_true", help="redraw the PNG from the JSON file"
    )
    args = parser.parse_args(argv)
    if args.replot:
        result = json.loads((args.out / "prior_floor.json").read_text())
        plot(result["summary"], args.out / "prior_floor.png")
        return
    rows = []
    for seed in args.seeds:
        X, y, X_test, y_test = load_dataset("digits", random_state=seed)
        dense = make_sweep_estimator("dense", 0.0, random_state=seed, **SETTINGS)
        rows.append(_fit("dense", 0.0, "plain", seed, dense, X, y, X_test, y_test))
        for sparsity in args.sparsities:
            for method in METHODS:
                for variant, params in VARIANTS.items():
                    est = make_sweep_estimator(
                        method, sparsity, random_state=seed, **SETTINGS
                    )
                    if params and method == "uniform":
                        continue  # prior=None takes no prior_params
                    est.set_params(prior_params=params or None)
                    rows.append(
                        _fit(method, sparsity, variant, seed, est, X, y, X_test, y_test)
                    )
                    print(rows[-1], flush=True)
    summary = _summary(rows)
    for line in summary:
        print(line)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine(),
        "loadavg": os.getloadavg(),
        "settings": {**SETTINGS, "data": "digits", "seeds": args.seeds},
        "summary": summary,
        "rows": rows,
    }
    (args.out / "prior_floor.json").write_text(
        json.dumps(result, indent=2, default=float) + "\n"
    )
    write_csv(args.out / "prior_floor.csv", rows)
    plot(summary, args.out / "prior_floor.png")


def plot(summary, path):
    """Mean test accuracy per prior and variant, one panel a sparsity."""
    plt = pyplot()
    sparsities = sorted({s["target_sparsity"] for s in summary} - {0.0})
    dense = [s["accuracy_mean"] for s in summary if s["method"] == "dense"]
    fig, axes = plt.subplots(
        1, len(sparsities), figsize=(5 * len(sparsities), 3.8), squeeze=False
    )
    width = 0.8 / len(VARIANTS)
    for ax, sparsity in zip(axes[0], sparsities):
        for i, variant in enumerate(VARIANTS):
            cells = {
                s["method"]: s
                for s in summary
                if s["target_sparsity"] == sparsity and s["variant"] == variant
            }
            x = [
                j + (i - (len(VARIANTS) - 1) / 2) * width
                for j, m in enumerate(METHODS)
                if m in cells
            ]
            ax.bar(
                x,
                [cells[m]["accuracy_mean"] for m in METHODS if m in cells],
                width,
                yerr=[cells[m]["accuracy_sd"] for m in METHODS if m in cells],
                label=variant,
            )
        if dense:
            ax.axhline(dense[0], color="k", lw=0.8, label="dense")
        ax.set_xticks(range(len(METHODS)), METHODS, fontsize=8)
        ax.set_title(f"{100 * sparsity:g} % sparse")
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("test accuracy (digits)")
    axes[0][-1].legend(fontsize=7)
    save_figure(fig, path)


def _fit(method, sparsity, variant, seed, est, X, y, X_test, y_test):
    start = time.process_time()
    est.fit(X, y)
    masks = getattr(est, "masks_", None) or []
    in_degrees = [int(m.sum(axis=1).min()) for m in masks]
    return {
        "method": method,
        "target_sparsity": sparsity,
        "variant": variant,
        "seed": seed,
        "sparsity": round(float(est.sparsity_), 5),
        "min_in_degree_seen": min(in_degrees) if in_degrees else None,
        "accuracy": round(float(est.score(X_test, y_test)), 4),
        "cpu_seconds": round(time.process_time() - start, 2),
    }


def _summary(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["method"], r["target_sparsity"], r["variant"]), []).append(
            r
        )
    out = []
    for (method, sparsity, variant), rs in groups.items():
        mean, sd = mean_sd(r["accuracy"] for r in rs)
        out.append(
            {
                "method": method,
                "target_sparsity": sparsity,
                "variant": variant,
                "accuracy_mean": round(mean, 4),
                "accuracy_sd": round(sd, 4),
                "n": len(rs),
            }
        )
    return out


if __name__ == "__main__":
    main()
