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

Writes ``benchmarks/results/compress_cnn.json`` and ``compress_cnn.md``.
Run: ``nice python benchmarks/compress_cnn.py`` (a few minutes on 2 cores);
``--quick`` for a smoke run.
"""

import argparse
import io
import json
import os
import platform
import time
from pathlib import Path

import joblib
import numpy as np
import torch

from sksparse import PrunedEstimator, SparseCNNClassifier
from sksparse.datasets import load_digits
from sksparse.nn import CompactConv2d, MaskedConv2d
from sksparse.pruning import MagnitudePruner

RESULTS = Path(__file__).parent / "results"


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
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

    rows = []
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
        rows.append(row)
        print(json.dumps(row))

    meta = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": 1,
        "rounds": rounds,
        "load_average": os.getloadavg(),
        "quick": args.quick,
    }
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"compress_cnn{suffix}.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n"
    )
    lines = [
        "| model | sparsity | accuracy | channels kept | file masked / compressed "
        "(kB) | b1 masked / compressed (us) | b256 masked / compressed (us) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['sparsity']:.2f} | {r['accuracy']:.3f} | "
            f"{'/'.join(map(str, r['channels_kept']))} | "
            f"{r['bytes_masked'] / 1e3:.1f} / {r['bytes_compressed'] / 1e3:.1f} | "
            f"{r['us_masked_b1']:.0f} / {r['us_compressed_b1']:.0f} "
            f"({r['speedup_b1']:.2f}x) | "
            f"{r['us_masked_b256']:.0f} / {r['us_compressed_b256']:.0f} "
            f"({r['speedup_b256']:.2f}x) |"
        )
    (RESULTS / f"compress_cnn{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
