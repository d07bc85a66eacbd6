"""What compress() gains on a sparse CNN, through the estimator API.

A ``SparseCNNClassifier`` (channels 16 and 32, a 64-unit head) is fitted on
digits, then pruned by ``PrunedEstimator(prefit=True)`` with class-blinded
magnitude pruning to 50-95 % and re-trained, and, as filter pruning does (Li
et al. 2017), with the half of each convolution's output channels of the
smallest L1 norm masked out with their biases (no re-training). Each model
is compressed with ``compress()``; measured per model:

* ``predict_proba`` of the masked and the compressed estimator at batch 1
  and 256: medians over 15 interleaved rounds of the CPU time of the calling
  thread on one torch thread (``time.thread_time``), after a warm-up;
* the joblib file size of each, the channels removed and the test accuracy
  (equal by construction: the predictions are checked to agree).

Writes ``benchmarks/results/compress_cnn.json`` and ``.csv`` (one row per
model, through :class:`sksparse.experiments.ResultsWriter`), ``compress_cnn.md``
and ``compress_cnn.png`` (file size and batch-256 speed-up per model).
Run: ``nice python benchmarks/compress_cnn.py`` (a few minutes on 2 cores);
``--quick`` for a smoke run (``compress_cnn_quick.*``); ``--replot`` redraws
the figure from the JSON file, training nothing.
"""

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    command,
    markdown_table,
    pyplot,
    save_figure,
)

from sksparse import PrunedEstimator, SparseCNNClassifier
from sksparse.datasets import load_digits
from sksparse.experiments import ResultsWriter
from sksparse.nn import CompactConv2d, MaskedConv2d
from sksparse.pruning import MagnitudePruner


def _bytes(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.tell()


def _times(fns, X, rounds):
    """Median thread CPU seconds per call of each function, interleaved."""
    out = {name: [] for name in fns}
    for fn in fns.values():
        fn(X)
    calls = {}
    for name, fn in fns.items():
        start = time.thread_time()
        fn(X)
        calls[name] = max(1, int(0.02 / max(time.thread_time() - start, 1e-6)))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.thread_time()
            for _ in range(calls[name]):
                fn(X)
            out[name].append((time.thread_time() - start) / calls[name])
    return {name: float(np.median(ts)) for name, ts in out.items()}


def _filter_pruned(fitted, fraction):
    """A copy with each convolution's weakest output channels masked out."""
    model = joblib.load(io.BytesIO(_dumps(fitted)))
    for conv in model.module_.modules():
        if not isinstance(conv, MaskedConv2d):
            continue
        norms = (conv.weight * conv.mask).abs().flatten(1).sum(1)
        weakest = torch.argsort(norms)[: int(fraction * len(norms))]
        mask = conv.mask.clone()
        mask[weakest] = 0
        conv.set_mask(mask)
        with torch.no_grad():
            conv.bias[weakest] = 0
    return model


def _dumps(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def table_cells(rows):
    """The README table: header and one row per model."""
    header = [
        "model",
        "sparsity",
        "accuracy",
        "channels kept",
        "file masked / compressed (kB)",
        "b1 masked / compressed (us)",
        "b256 masked / compressed (us)",
    ]
    cells = [
        [
            r["model"],
            f"{r['sparsity']:.2f}",
            f"{r['accuracy']:.3f}",
            "/".join(map(str, r["channels_kept"])),
            f"{r['bytes_masked'] / 1e3:.1f} / {r['bytes_compressed'] / 1e3:.1f}",
            f"{r['us_masked_b1']:.0f} / {r['us_compressed_b1']:.0f} "
            f"({r['speedup_b1']:.2f}x)",
            f"{r['us_masked_b256']:.0f} / {r['us_compressed_b256']:.0f} "
            f"({r['speedup_b256']:.2f}x)",
        ]
        for r in rows
    ]
    return header, cells


def plot(rows, path):
    """File size and batch-256 speed-up of the compressed model, per model."""
    plt = pyplot()
    names = [r["model"] for r in rows]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].bar(x - 0.2, [r["bytes_masked"] / 1e3 for r in rows], 0.4, label="masked")
    axes[0].bar(
        x + 0.2, [r["bytes_compressed"] / 1e3 for r in rows], 0.4, label="compressed"
    )
    axes[0].set_ylabel("joblib file (kB)")
    axes[0].legend(fontsize=8)
    for batch, offset in ((1, -0.2), (256, 0.2)):
        axes[1].bar(
            x + offset,
            [r[f"speedup_b{batch}"] for r in rows],
            0.4,
            label=f"batch {batch}",
        )
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[1].set_ylabel("predict_proba speed-up (x)")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("compress() on a SparseCNNClassifier (digits)")
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--replot", action="store_true", help="redraw the PNG from the JSON file"
    )
    args = parser.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    if args.replot:
        result = json.loads((RESULTS / f"compress_cnn{suffix}.json").read_text())
        plot(result["rows"], RESULTS / f"compress_cnn{suffix}.png")
        return
    torch.set_num_threads(1)
    rounds = 3 if args.quick else 15
    X, y, X_test, y_test = load_digits()
    base = SparseCNNClassifier(
        channels=(16, 32),
        hidden_layer_sizes=(64,),
        max_epochs=2 if args.quick else 20,
        lr=1e-2,
        random_state=0,
    ).fit(X, y)
    models = {"dense": base}
    for amount in (0.5, 0.8, 0.9, 0.95):
        pruner = MagnitudePruner(amount=amount, scope="class-blinded")
        models[f"magnitude {amount:.0%}"] = PrunedEstimator(
            base, pruner, retrain_epochs=1 if args.quick else 5, prefit=True
        ).fit(X, y)
    models["filters 50%"] = _filter_pruned(base, 0.5)

    meta = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": 1,
        "rounds": rounds,
        "load_average": os.getloadavg(),
        "quick": args.quick,
        "command": command("compress_cnn.py", argv),
    }
    # The JSON and CSV files are rewritten after every model: a run cut short
    # keeps the models measured so far.
    writer = ResultsWriter(RESULTS, f"compress_cnn{suffix}", meta=meta)
    for name, model in models.items():
        small = model.compress()
        proba, small_proba = model.predict_proba(X_test), small.predict_proba(X_test)
        agree = float(np.abs(proba - small_proba).max())
        convs = [m for m in small.module_.modules() if isinstance(m, CompactConv2d)]
        row = {
            "model": name,
            "sparsity": round(float(model.sparsity_), 4),
            "accuracy": float(model.score(X_test, y_test)),
            "max_abs_diff_proba": agree,
            "channels_kept": [c.out_channels for c in convs],
            "bytes_masked": _bytes(model),
            "bytes_compressed": _bytes(small),
        }
        for batch in (1, 256):
            Xb = X_test[:batch]
            times = _times(
                {"masked": model.predict_proba, "compressed": small.predict_proba},
                Xb,
                rounds,
            )
            row[f"us_masked_b{batch}"] = 1e6 * times["masked"]
            row[f"us_compressed_b{batch}"] = 1e6 * times["compressed"]
            row[f"speedup_b{batch}"] = times["masked"] / times["compressed"]
        writer.add(row)
        print(json.dumps(row))
    meta["load_average"] = os.getloadavg()  # over the timed part, as before
    writer.flush()
    rows = writer.rows
    table = markdown_table(*table_cells(rows))
    (RESULTS / f"compress_cnn{suffix}.md").write_text(table + "\n")
    plot(rows, RESULTS / f"compress_cnn{suffix}.png")
    print(table)


if __name__ == "__main__":
    main()
