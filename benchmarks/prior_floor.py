"""Graph priors at high sparsity, with and without an in-degree floor.

The ``sksparse demo`` setting (digits, SparseMLPClassifier 128-64, 15 epochs,
lr 1e-2, batch 128): uniform, Watts-Strogatz and Barabasi-Albert masks at 90 %
and 95 % sparsity, plain and with ``prior_params`` ``{"min_in_degree": 3}``,
``{"uniform_output": True}`` and both, 3 seeds. Writes
benchmarks/results/prior_floor.json and .csv (one row per fit) and prints the
mean accuracy per setting.

Run (~10 min on a loaded 2-core machine)::

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/prior_floor.py
"""

import argparse
import csv
import os
import statistics
import time

from _common import RESULTS, machine, write_json

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
    args = parser.parse_args(argv)
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
    write_json(
        "prior_floor.json",
        {
            "machine": machine(),
            "loadavg": os.getloadavg(),
            "settings": {**SETTINGS, "data": "digits", "seeds": args.seeds},
            "summary": summary,
            "rows": rows,
        },
    )
    with open(RESULTS / "prior_floor.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


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
        acc = [r["accuracy"] for r in rs]
        out.append(
            {
                "method": method,
                "target_sparsity": sparsity,
                "variant": variant,
                "accuracy_mean": round(statistics.mean(acc), 4),
                "accuracy_sd": round(statistics.stdev(acc), 4) if len(acc) > 1 else 0.0,
                "n": len(acc),
            }
        )
    return out


if __name__ == "__main__":
    main()
