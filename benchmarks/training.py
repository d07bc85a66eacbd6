"""Training cost of sksparse's estimators against plain skorch and scikit-learn.

On Fashion-MNIST (784-300-100-10), for several seeds, in one run:

* ``SparseMLPClassifier`` dense and at 90 % sparsity,
* a plain skorch ``NeuralNetClassifier`` over the same dense ``nn.Sequential``,
* scikit-learn's ``MLPClassifier`` with the same optimiser settings,

measuring seconds per epoch, peak resident memory (each run in a fresh process,
so peaks do not mix) and test accuracy. Writes ``results/training.json`` and
prints a markdown table for the README.

Run: ``make bench`` or ``python benchmarks/training.py [--epochs 5 --seeds 3]``.
"""

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    EpochClock,
    machine,
    markdown_table,
    write_json,
)

# sksparse's estimators use Adam(fused=True) where torch supports it on the CPU;
# "skorch-dense-fused" gives plain skorch the same optimiser, for a like-for-like
# view of the wrapper's own cost.
VARIANTS = [
    "sksparse-dense",
    "sksparse-sparse90",
    "skorch-dense",
    "skorch-dense-fused",
    "sklearn-mlp",
]


def plain_skorch(seed, epochs, X, y, **kwargs):
    """Plain skorch over the dense 784-300-100-10 ``nn.Sequential``, fitted."""
    import torch
    from skorch import NeuralNetClassifier
    from torch import nn

    torch.manual_seed(seed)
    module = nn.Sequential(
        nn.Linear(784, 300),
        nn.ReLU(),
        nn.Linear(300, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    )
    return NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=128,
        max_epochs=epochs,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        **kwargs,
    ).fit(X, y)


def _run(variant, seed, epochs, n_train, queue):
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    from sksparse.datasets import load_fashion_mnist

    X, y, X_test, y_test = load_fashion_mnist(n_samples=n_train)
    hidden, lr, batch = (300, 100), 1e-3, 128
    start = time.perf_counter()
    if variant.startswith("sksparse"):
        from sksparse import SparseMLPClassifier

        clf = SparseMLPClassifier(
            hidden,
            sparsity=0.9 if variant.endswith("90") else 0.0,
            max_epochs=epochs,
            lr=lr,
            batch_size=batch,
            random_state=seed,
            callbacks=[("cpu", EpochClock())],
        ).fit(X, y)
        epoch_seconds = list(clf.history_[:, "dur"])
        epoch_cpu = list(clf.history_[:, "cpu_s"])
        accuracy = clf.score(X_test, y_test)
    elif variant.startswith("skorch-dense"):
        net = plain_skorch(
            seed,
            epochs,
            X,
            y,
            callbacks=[("cpu", EpochClock())],
            **({"optimizer__fused": True} if variant.endswith("fused") else {}),
        )
        epoch_seconds = list(net.history[:, "dur"])
        epoch_cpu = list(net.history[:, "cpu_s"])
        accuracy = float((net.predict(X_test) == y_test).mean())
    else:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        cpu_start = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = MLPClassifier(
                hidden,
                solver="adam",
                learning_rate_init=lr,
                batch_size=batch,
                max_iter=epochs,
                random_state=seed,
                tol=0,
                n_iter_no_change=epochs,
            ).fit(X, y)
        epoch_seconds = [(time.perf_counter() - start) / clf.n_iter_] * clf.n_iter_
        epoch_cpu = [(time.process_time() - cpu_start) / clf.n_iter_] * clf.n_iter_
        accuracy = clf.score(X_test, y_test)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "variant": variant,
            "seed": seed,
            "epoch_seconds": epoch_seconds,
            # the first epoch pays one-off costs (allocator warm-up): report the rest
            "seconds_per_epoch": float(np.median(epoch_seconds[1:] or epoch_seconds)),
            "epoch_cpu_seconds": epoch_cpu,
            "cpu_seconds_per_epoch": float(np.median(epoch_cpu[1:] or epoch_cpu)),
            "peak_rss_mib": peak_mib,
            "test_accuracy": float(accuracy),
        }
    )


def interleaved(n_train, repeats):
    """CPU seconds per epoch with the variants' epochs interleaved in one process.

    On a shared machine, the load drifts between the separate runs above; here
    every variant's epoch k runs next to the others' epoch k, and the minimum
    over repeats is the least disturbed measurement of each.
    """
    import numpy as np
    import torch

    from sksparse import SparseMLPClassifier
    from sksparse.datasets import load_fashion_mnist

    torch.set_num_threads(1)
    X, y, _, _ = load_fashion_mnist(n_samples=n_train)

    nets = {
        "sksparse-dense": SparseMLPClassifier((300, 100), max_epochs=1, random_state=0)
        .fit(X, y)
        .net_,
        "sksparse-sparse90": SparseMLPClassifier(
            (300, 100), sparsity=0.9, max_epochs=1, random_state=0
        )
        .fit(X, y)
        .net_,
        "skorch-dense": plain_skorch(0, 1, X, y),
        "skorch-dense-fused": plain_skorch(0, 1, X, y, optimizer__fused=True),
    }
    seconds = {name: [] for name in nets}
    for _ in range(repeats):
        for name, net in nets.items():
            start = time.process_time()
            net.partial_fit(X, y)
            seconds[name].append(time.process_time() - start)
    return {
        name: {"min": float(np.min(v)), "median": float(np.median(v)), "all": v}
        for name, v in seconds.items()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--repeats", type=int, default=7, help="interleaved epochs per variant"
    )
    parser.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="first N training images (default: all 60000)",
    )
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    runs = []
    # Interleave variants inside each seed so that slow phases of a shared
    # machine hit every variant alike.
    for seed in range(args.seeds):
        for variant in VARIANTS:
            queue = ctx.Queue()
            proc = ctx.Process(
                target=_run, args=(variant, seed, args.epochs, args.n_train, queue)
            )
            proc.start()
            result = queue.get()
            proc.join()
            runs.append(result)
            print(
                f"{variant:<18} seed {seed}: "
                f"{result['seconds_per_epoch']:.2f} s/epoch, "
                f"{result['cpu_seconds_per_epoch']:.2f} CPU s/epoch, "
                f"{result['peak_rss_mib']:.0f} MiB, acc {result['test_accuracy']:.4f}",
                flush=True,
            )
    summary = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        acc = [r["test_accuracy"] for r in mine]
        summary[variant] = {
            "seconds_per_epoch": statistics.median(
                r["seconds_per_epoch"] for r in mine
            ),
            "cpu_seconds_per_epoch": statistics.median(
                r["cpu_seconds_per_epoch"] for r in mine
            ),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in mine),
            "test_accuracy_mean": statistics.mean(acc),
            "test_accuracy_std": statistics.pstdev(acc),
        }
    # Ratios in CPU seconds: on a shared machine wall time measures the neighbours.
    base = summary["skorch-dense"]["cpu_seconds_per_epoch"]
    ratios = {
        "sparse90_over_skorch_dense": (
            summary["sksparse-sparse90"]["cpu_seconds_per_epoch"] / base
        ),
        "dense_wrapper_over_skorch_dense": (
            summary["sksparse-dense"]["cpu_seconds_per_epoch"] / base
        ),
        "dense_wrapper_over_skorch_dense_fused": (
            summary["sksparse-dense"]["cpu_seconds_per_epoch"]
            / summary["skorch-dense-fused"]["cpu_seconds_per_epoch"]
        ),
    }
    print("interleaved epochs in one process ...", flush=True)
    inter = interleaved(args.n_train or 60000, args.repeats)
    inter_base = inter["skorch-dense"]["min"]
    ratios["interleaved_sparse90_over_skorch_dense"] = (
        inter["sksparse-sparse90"]["min"] / inter_base
    )
    ratios["interleaved_dense_wrapper_over_skorch_dense"] = (
        inter["sksparse-dense"]["min"] / inter_base
    )
    ratios["interleaved_sparse90_over_skorch_dense_fused"] = (
        inter["sksparse-sparse90"]["min"] / inter["skorch-dense-fused"]["min"]
    )
    ratios["interleaved_dense_wrapper_over_skorch_dense_fused"] = (
        inter["sksparse-dense"]["min"] / inter["skorch-dense-fused"]["min"]
    )
    payload = {
        "interleaved_cpu_seconds_per_epoch": inter,
        "benchmark": "training",
        "data": "Fashion-MNIST",
        "architecture": "784-300-100-10, Adam lr=1e-3, batch 128",
        "epochs": args.epochs,
        "seeds": args.seeds,
        "n_train": args.n_train or 60000,
        "machine": machine(),
        "runs": runs,
        "summary": summary,
        "ratios": ratios,
        "targets": {
            "sparse90_over_skorch_dense": 1.10,
            "dense_wrapper_over_skorch_dense": 1.05,
        },
    }
    path = write_json("training.json", payload)
    rows = [
        (
            v,
            f"{s['cpu_seconds_per_epoch']:.2f}",
            f"{s['seconds_per_epoch']:.2f}",
            f"{s['peak_rss_mib']:.0f}",
            f"{100 * s['test_accuracy_mean']:.2f} ± {100 * s['test_accuracy_std']:.2f}",
        )
        for v, s in summary.items()
    ]
    table = markdown_table(
        [
            "variant",
            "CPU s / epoch",
            "wall s / epoch",
            "peak RSS MiB",
            "test accuracy %",
        ],
        rows,
    )
    inter_table = markdown_table(
        ["variant", "CPU s / epoch, interleaved (min)", "median"],
        [(k, f"{v['min']:.2f}", f"{v['median']:.2f}") for k, v in inter.items()],
    )
    table = table + "\n\n" + inter_table
    (RESULTS / "training.md").write_text(table + "\n")
    print(table)
    print({k: round(v, 3) for k, v in ratios.items()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
