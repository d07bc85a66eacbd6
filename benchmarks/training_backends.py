"""Sparse training cost through the estimators: masked and CSR backends against dense.

For LeNet-300-100 at 90 % and 784-2000-2000-10 at 95 % sparsity (uniform
random masks on every layer, Adam(fused) lr 1e-3, batch 128), in one run:

* **epoch time through the estimator**: ``SparseMLPClassifier.fit`` with
  ``max_epochs`` fixed, dense (``sparsity=0``), ``backend="masked"`` and
  ``backend="csr"``; each epoch's CPU and wall seconds from a skorch
  callback, the fits rotated over ``--repeats`` so a busy phase of a shared
  machine hits every variant alike; the minimum epoch is reported. Test
  accuracy after the fit beside it.
* **the module-level step** (forward, loss, backward, optimizer step) of
  the same networks: dense ``SparseMLP``, masked ``SparseMLP``, ``CSRMLP``,
  and SparseProp's ``SparseLinear`` (``sparseprop`` on PyPI) where it
  imports in ``.venv-peers`` (``make bench-peers-env``), run there by
  subprocess with the same masks and optimizer.

Both at one torch thread (CPU seconds: the work done, whatever else the
machine runs) and at torch's default threads (wall seconds).

Writes ``results/training_backends.{json,csv,md,png}``.
Run: ``make bench-training-backends`` or
``python benchmarks/training_backends.py [--quick]``.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    EpochClock,
    machine,
    markdown_table,
    pyplot,
    save_figure,
    write_csv,
    write_json,
)

NETS = {
    "lenet-300-100@90%": ((300, 100), 0.90),
    "784-2000-2000-10@95%": ((2000, 2000), 0.95),
}
LR, BATCH = 1e-3, 128
TARGETS = {  # epoch time over dense, like for like
    ("lenet-300-100@90%", "csr"): 0.85,
    ("784-2000-2000-10@95%", "csr"): 0.40,
    ("lenet-300-100@90%", "masked"): 1.05,
    ("784-2000-2000-10@95%", "masked"): 1.05,
}
PEERS_PYTHON = Path(__file__).resolve().parent.parent / ".venv-peers" / "bin" / "python"


def _masks(sizes, density, seed=0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(n_out, n_in, generator=gen) < density).float()
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]


# -- through the estimator ----------------------------------------------------------
def estimator_epochs(data, hidden, sparsity, epochs, repeats):
    from sksparse import SparseMLPClassifier

    X, y, X_test, y_test = data
    variants = {
        "dense": dict(sparsity=0.0),
        "masked": dict(sparsity=sparsity, backend="masked"),
        "csr": dict(sparsity=sparsity, backend="csr"),
    }
    out = {name: {"cpu_s": [], "wall_s": [], "accuracy": []} for name in variants}
    for _ in range(repeats):
        for name, params in variants.items():
            clf = SparseMLPClassifier(
                hidden,
                max_epochs=epochs,
                lr=LR,
                batch_size=BATCH,
                random_state=0,
                callbacks=[("clock", EpochClock())],
                **params,
            ).fit(X, y)
            # the first epoch pays one-off costs (numba's cache load, allocator)
            out[name]["cpu_s"] += list(clf.history_[1:, "cpu_s"])
            out[name]["wall_s"] += list(clf.history_[1:, "wall_s"])
            out[name]["accuracy"].append(float(clf.score(X_test, y_test)))
    return {
        name: {
            "cpu_s": min(v["cpu_s"]),
            "wall_s": min(v["wall_s"]),
            "cpu_s_median": float(np.median(v["cpu_s"])),
            "wall_s_median": float(np.median(v["wall_s"])),
            "accuracy": float(np.mean(v["accuracy"])),
        }
        for name, v in out.items()
    }


# -- module-level steps ---------------------------------------------------------------
def module_steps(sizes, density, n_steps, repeats):
    import torch
    from torch.nn import functional as F

    from sksparse.nn import CSRMLP, SparseMLP

    masks = _masks(sizes, density)
    torch.manual_seed(0)
    dense = SparseMLP(sizes[0], sizes[1:-1], sizes[-1])
    torch.manual_seed(0)
    masked = SparseMLP(sizes[0], sizes[1:-1], sizes[-1], masks=masks)
    nets = {"dense": dense, "masked": masked, "csr": CSRMLP.from_masked(masked)}
    opts = {
        k: torch.optim.Adam(m.parameters(), lr=LR, fused=True) for k, m in nets.items()
    }
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(BATCH * n_steps, sizes[0], generator=gen)
    Y = torch.randint(0, sizes[-1], (BATCH * n_steps,), generator=gen)
    cpu = {k: [] for k in nets}
    wall = {k: [] for k in nets}
    for rep in range(repeats + 1):
        for name, net in nets.items():
            c, w = time.process_time(), time.perf_counter()
            for j in range(n_steps):
                opts[name].zero_grad(set_to_none=True)
                xb, yb = X[j * BATCH : (j + 1) * BATCH], Y[j * BATCH : (j + 1) * BATCH]
                F.cross_entropy(net(xb), yb).backward()
                opts[name].step()
            if rep:  # the first round warms up (numba compilation, allocator)
                cpu[name].append((time.process_time() - c) / n_steps)
                wall[name].append((time.perf_counter() - w) / n_steps)
    return {k: {"cpu_s": min(cpu[k]), "wall_s": min(wall[k])} for k in nets}


SPARSEPROP = textwrap.dedent(
    """
    import json, sys, time, torch
    from torch import nn
    from torch.nn import functional as F
    from sparseprop.modules import SparseLinear
    sizes, density, n_steps, repeats, threads = json.loads(sys.argv[1])
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    masks = [(torch.rand(o, i, generator=gen) < density).float()
             for i, o in zip(sizes[:-1], sizes[1:])]
    torch.manual_seed(0)
    layers = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(i, o)
        with torch.no_grad():
            lin.weight.mul_(masks[k])
        layers.append(SparseLinear.from_dense(lin))
        if k < len(masks) - 1:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(128 * n_steps, sizes[0], generator=gen)
    Y = torch.randint(0, sizes[-1], (128 * n_steps,), generator=gen)
    cpu, wall = [], []
    for rep in range(repeats + 1):
        c, w = time.process_time(), time.perf_counter()
        for j in range(n_steps):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(X[j*128:(j+1)*128]), Y[j*128:(j+1)*128]).backward()
            opt.step()
        if rep:
            cpu.append((time.process_time() - c) / n_steps)
            wall.append((time.perf_counter() - w) / n_steps)
    print(json.dumps({"cpu_s": min(cpu), "wall_s": min(wall)}))
    """
)


def sparseprop_steps(sizes, density, n_steps, repeats, threads):
    """SparseProp's step in its own venv, or why it could not run."""
    if not PEERS_PYTHON.exists():
        return {"unavailable": f"{PEERS_PYTHON} missing (make bench-peers-env)"}
    args = json.dumps([list(sizes), density, n_steps, repeats, threads])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        [str(PEERS_PYTHON), "-c", SPARSEPROP, args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if proc.returncode != 0:
        return {"unavailable": proc.stderr.strip().splitlines()[-1][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=20, help="module-level steps")
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument(
        "--threads",
        nargs="+",
        type=int,
        default=None,
        help="torch thread counts (default: 1 and torch's default)",
    )
    parser.add_argument(
        "--out-name",
        default="training_backends",
        help="results/<name>.{json,csv,md,png}",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats, args.n_train, args.steps = 2, 1, 1024, 3

    import torch

    from sksparse.datasets import load_fashion_mnist

    default_threads = torch.get_num_threads()
    X, y, X_test, y_test = load_fashion_mnist(n_samples=args.n_train)
    data = (X, y, X_test[:5000], y_test[:5000])
    rows, payload = [], {}
    counts = args.threads or list(dict.fromkeys([1, default_threads]))
    for threads in counts:
        # One thread: CPU seconds, the work done whatever else the machine
        # runs; more threads: wall seconds, what parallelism buys.
        clock = "cpu_s" if threads == 1 else "wall_s"
        torch.set_num_threads(threads)
        for net_name in args.nets:
            hidden, sparsity = NETS[net_name]
            sizes = (784, *hidden, 10)
            print(f"{net_name}, {threads} thread(s) ...", flush=True)
            est = estimator_epochs(data, hidden, sparsity, args.epochs, args.repeats)
            step = module_steps(sizes, 1 - sparsity, args.steps, args.repeats + 1)
            step["sparseprop"] = sparseprop_steps(
                sizes, 1 - sparsity, args.steps, args.repeats + 1, threads
            )
            payload[f"{net_name}/threads={threads}"] = {
                "estimator_epoch": est,
                "module_step": step,
                "clock": clock,
            }
            for variant in ("dense", "masked", "csr", "sparseprop"):
                s = step[variant]
                e = est.get(variant)
                row = {
                    "net": net_name,
                    "threads": threads,
                    "clock": "CPU" if clock == "cpu_s" else "wall",
                    "variant": variant,
                    "epoch_s": e[clock] if e else None,
                    "epoch_over_dense": e[clock] / est["dense"][clock] if e else None,
                    "accuracy": e["accuracy"] if e else None,
                    "step_ms": 1e3 * s[clock] if clock in s else None,
                    "step_over_dense": (
                        s[clock] / step["dense"][clock] if clock in s else None
                    ),
                    "note": s.get("unavailable", ""),
                }
                target = TARGETS.get((net_name, variant))
                if target is not None and threads == 1:
                    row["target"] = target
                    row["met"] = bool(row["epoch_over_dense"] <= target)
                rows.append(row)
                print("   ", {k: v for k, v in row.items() if k not in ("net",)})
            _write(rows, payload, args)  # a long run keeps what it measured
    torch.set_num_threads(default_threads)
    path, table = _write(rows, payload, args)
    print(table)
    print(f"wrote {path}")


def _write(rows, payload, args):
    """Write the JSON, CSV, table and plot of what has been measured so far."""
    result = {
        "benchmark": "training_backends",
        "data": f"Fashion-MNIST, first {args.n_train} training images",
        "optimizer": f"Adam(fused) lr={LR}, batch {BATCH}, every variant",
        "epochs": args.epochs,
        "repeats": args.repeats,
        "machine": machine(),
        "results": payload,
        "rows": rows,
    }
    path = write_json(f"{args.out_name}.json", result)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    write_csv(RESULTS / f"{args.out_name}.csv", rows, fields)

    def fmt(value, spec):
        return "—" if value is None else format(value, spec)

    table = markdown_table(
        [
            "net",
            "threads",
            "variant",
            "epoch s",
            "epoch / dense",
            "test acc %",
            "step ms",
            "step / dense",
            "target",
        ],
        [
            (
                r["net"],
                f"{r['threads']} ({r['clock']})",
                r["variant"],
                fmt(r["epoch_s"], ".2f"),
                fmt(r["epoch_over_dense"], ".2f"),
                fmt(r["accuracy"] and 100 * r["accuracy"], ".2f"),
                fmt(r["step_ms"], ".2f") if not r["note"] else "n/a",
                fmt(r["step_over_dense"], ".2f"),
                (
                    f"≤ {r['target']:.2f} {'met' if r['met'] else 'missed'}"
                    if "target" in r
                    else ""
                ),
            )
            for r in rows
        ],
    )
    (RESULTS / f"{args.out_name}.md").write_text(table + "\n")
    _plot(rows, RESULTS / f"{args.out_name}.png")
    return path, table


def _plot(rows, path):
    plt = pyplot()

    nets = list(dict.fromkeys(r["net"] for r in rows))
    threads = list(dict.fromkeys(r["threads"] for r in rows))
    fig, axes = plt.subplots(1, len(nets), figsize=(5 * len(nets), 3.5), squeeze=False)
    for ax, net in zip(axes[0], nets):
        width = 0.8 / len(threads)
        for k, t in enumerate(threads):
            mine = [r for r in rows if r["net"] == net and r["threads"] == t]
            names = [r["variant"] for r in mine]
            ratios = [r["epoch_over_dense"] or r["step_over_dense"] or 0 for r in mine]
            ax.bar(
                np.arange(len(names)) + k * width,
                ratios,
                width,
                label=f"{t} thread(s)",
            )
        ax.set_xticks(np.arange(len(names)) + width * (len(threads) - 1) / 2)
        ax.set_xticklabels(names)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_title(net)
        ax.set_ylabel("epoch (sparseprop: step) / dense")
        ax.legend()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
