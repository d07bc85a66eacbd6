"""Default-constructed estimators against scikit-learn's MLPClassifier().

Digits (``sksparse.datasets.load_digits``: 1347 training and 450 test images,
the same split for both), ``MLPClassifier(random_state=seed)`` against
``SparseMLPClassifier(random_state=seed)``: both at their defaults (one hidden
layer of 100, Adam lr 1e-3, batches of min(200, n), at most 200 epochs,
stopping when the training loss has not improved by 1e-4 for more than 10
epochs). Records test accuracy, epochs run, CPU and wall seconds per fit, and
the loss curves. Writes benchmarks/results/defaults.{json,md,png}.

Run (~5 min on a loaded 2-core machine, one torch thread)::

    PYTHONPATH=. nice -n 15 .venv/bin/python benchmarks/defaults.py --seeds 3
"""

import argparse
import statistics
import time
import warnings

import torch
from _common import (
    RESULTS,
    machine,
    markdown_table,
    pyplot,
    save_figure,
    write_json,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from sksparse import SparseMLPClassifier
from sksparse.datasets import load_digits


def _fit(name, estimator, X, y, X_test, y_test):
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X, y)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if isinstance(estimator, MLPClassifier):
        curve = list(estimator.loss_curve_)
    else:
        curve = list(estimator.history_[:, "train_loss"])
    return {
        "estimator": name,
        "accuracy": float(estimator.score(X_test, y_test)),
        "n_iter": int(estimator.n_iter_),
        "converged": not any(w.category is ConvergenceWarning for w in caught),
        "cpu_s": cpu,
        "wall_s": wall,
        "loss_curve": curve,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y, X_test, y_test = load_digits()
    rows = []
    for seed in range(args.seeds):
        # Interleaved, so a drift in the machine's load hits both alike.
        for name, estimator in (
            ("sklearn MLPClassifier()", MLPClassifier(random_state=seed)),
            ("SparseMLPClassifier()", SparseMLPClassifier(random_state=seed)),
        ):
            row = _fit(name, estimator, X, y, X_test, y_test)
            row["seed"] = seed
            rows.append(row)
            print({k: v for k, v in row.items() if k != "loss_curve"}, flush=True)
    table = []
    for name in dict.fromkeys(r["estimator"] for r in rows):
        mine = [r for r in rows if r["estimator"] == name]
        acc = [100 * r["accuracy"] for r in mine]
        table.append(
            [
                name,
                f"{statistics.mean(acc):.2f} ± {statistics.pstdev(acc):.2f}",
                " / ".join(f"{a:.2f}" for a in acc),
                " / ".join(str(r["n_iter"]) for r in mine),
                f"{statistics.median(r['cpu_s'] for r in mine):.1f}",
                f"{statistics.median(r['wall_s'] for r in mine):.1f}",
            ]
        )
    header = [
        "estimator",
        "test accuracy %",
        "per seed",
        "epochs (n_iter_)",
        "CPU s / fit (median)",
        "wall s / fit (median)",
    ]
    md = markdown_table(header, table)
    print(md)
    write_json("defaults.json", {"machine": machine(), "rows": rows})
    (RESULTS / "defaults.md").write_text(md + "\n")
    _plot(rows)


def _plot(rows):
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {}
    for row in rows:
        color = colors.setdefault(row["estimator"], f"C{len(colors)}")
        label = row["estimator"] if row["seed"] == 0 else None
        ax.plot(row["loss_curve"], color=color, alpha=0.8, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (log)")
    ax.set_title("digits, default settings, one line per seed")
    ax.legend()
    save_figure(fig, RESULTS / "defaults.png")


if __name__ == "__main__":
    main()
