"""Pruning benchmark: the paper's comparison of magnitude pruning schemes.

Reproduces Stier et al. (2021)'s pruning experiment (after See et al. 2016) on
Fashion-MNIST, offline: a LeNet-300-100 (784-300-100-10) is trained dense,
then pruned class-blinded, class-uniform, class-distributed, by sensitivity
(each layer as far as its sensitivity curve allows, the curve measured on
held-out training images) and at random, to 50, 80, 90, 95 and 98 %
compression, one-shot and iteratively, each with and without re-training, over
several seeds. Every pruned model is a
:class:`sksparse.PrunedEstimator` built on the seed's cached dense network
(``prefit=True``), so the grid costs re-training only.

In the same run it times one pruning + re-training round of sksparse (mask
buffers in ``MaskedLinear``) against the same round done with
``torch.nn.utils.prune`` (forward pre-hooks on plain ``nn.Linear``), on the
same weights and batches.

Writes ``benchmarks/results/pruning.json`` (everything), ``pruning.csv`` (the
summary table), ``pruning.md`` (the README table) and ``pruning.png``
(accuracy against compression, one line per method).

Usage (``make bench-pruning`` runs the defaults)::

    python benchmarks/pruning.py [--n-train 20000] [--epochs 8]
        [--retrain-epochs 2] [--iterative-steps 3] [--seeds 0 1 2]

The defaults are sized for one CPU core in about 25 minutes; the paper's
setting is closer to ``--n-train 60000 --epochs 20 --retrain-epochs 5``.
"""

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _common import (
    DENSE_CACHE,
    RESULTS,
    cached_lenet,
    command,
    config,
    load_images,
    machine_info,
    mean_sd,
    pyplot,
    save_figure,
    write_csv,
)
from torch import nn
from torch.nn.utils import prune as torch_prune

from sksparse import PrunedEstimator
from sksparse.pruning import Iterative, MagnitudePruner, OneShot, RandomPruner
from sksparse.pruning._base import reapply_masks

COMPRESSIONS = (0.5, 0.8, 0.9, 0.95, 0.98)
METHODS = (
    "class-blinded",
    "class-uniform",
    "class-distributed",
    "sensitivity",
    "random",
)
#: Amounts of the per-layer sensitivity curve the "sensitivity" scope reads.
SENSITIVITY_AMOUNTS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
#: Held-out training images the sensitivity curve is scored on (never test).
N_VALIDATION = 5_000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", default="fashion-mnist", choices=["fashion-mnist", "mnist"]
    )
    parser.add_argument("--root", default=None, help="folder with the IDX files")
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=8, help="dense training epochs")
    parser.add_argument(
        "--retrain-epochs",
        type=int,
        default=2,
        help="re-training epochs per pruning step",
    )
    parser.add_argument("--iterative-steps", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--compressions", type=float, nargs="+", default=list(COMPRESSIONS)
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--timing-repeats",
        type=int,
        default=5,
        help="repeats of the prune + re-train timing (0: skip it)",
    )
    parser.add_argument(
        "--timing-only",
        action="store_true",
        help="only time the prune + re-train round (on the first seed's cached "
        "dense net) and write pruning_timing.json",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--cache",
        type=Path,
        default=DENSE_CACHE,
        help="where dense networks are cached between runs",
    )
    return parser.parse_args(argv)


def load_data(args):
    X, y, X_val, y_val, X_test, y_test = load_images(
        args.dataset, args.root, n_train=args.n_train, n_val=N_VALIDATION
    )
    return X, y, X_test, y_test, X_val, y_val


def dense_network(args, seed, X, y):
    """Train (or load from the cache) the seed's dense LeNet-300-100."""
    clf = cached_lenet(
        args.cache,
        args.dataset,
        seed,
        X,
        y,
        n_train=args.n_train,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
    )
    return clf, clf.history_[:, "dur"]


def run_dense_control(args, dense, X, y, X_test, y_test, seed):
    """The dense net trained as many more epochs as the re-trained pruned ones.

    Re-training adds epochs; this control (amount 0) tells how much of a
    pruned net's gain over the dense one comes from the extra training alone.
    """
    rows = []
    for schedule_name, n_steps in (
        ("one-shot", 1),
        ("iterative", args.iterative_steps),
    ):
        est = PrunedEstimator(
            dense,
            MagnitudePruner(0.0),
            retrain_epochs=args.retrain_epochs * n_steps,
            prefit=True,
        ).fit(X, y)
        rows.append(
            dict(
                seed=seed,
                schedule=schedule_name,
                extra_epochs=args.retrain_epochs * n_steps,
                accuracy=float(est.score(X_test, y_test)),
            )
        )
        print(
            f"seed {seed} dense + {rows[-1]['extra_epochs']} epochs: "
            f"acc {rows[-1]['accuracy']:.4f}",
            flush=True,
        )
    return rows


def measure_sensitivity(dense, X, y, X_val, y_val):
    """Per-layer sensitivity of the dense net, scored on held-out images."""
    from sklearn.metrics import check_scoring

    from sksparse.estimators._path import iter_sensitivity, sensitivity_layers

    layers = sensitivity_layers(dense)
    scores = np.empty((len(layers), len(SENSITIVITY_AMOUNTS)))
    points = iter_sensitivity(
        dense,
        MagnitudePruner(),
        layers,
        SENSITIVITY_AMOUNTS,
        X,
        y,
        0,
        check_scoring(dense),
        X_val,
        y_val,
    )
    for i, j, score in points:
        scores[i, j] = score
    return layers, scores, list(SENSITIVITY_AMOUNTS)


def make_pruner(method, amount, seed, sensitivity=None):
    if method == "random":
        return RandomPruner(amount, random_state=seed)
    if method == "sensitivity":
        return MagnitudePruner(amount, scope=method, sensitivity=sensitivity)
    return MagnitudePruner(amount, scope=method)


def run_grid(args, dense, X, y, X_test, y_test, seed, sensitivity=None):
    rows = []
    schedules = {"one-shot": OneShot(), "iterative": Iterative(args.iterative_steps)}
    for method in args.methods:
        for amount in args.compressions:
            for schedule_name, schedule in schedules.items():
                for retrain in (0, args.retrain_epochs):
                    start = time.perf_counter()
                    est = PrunedEstimator(
                        dense,
                        make_pruner(method, amount, seed, sensitivity),
                        retrain_epochs=retrain,
                        schedule=schedule,
                        prefit=True,
                    ).fit(X, y)
                    rows.append(
                        dict(
                            seed=seed,
                            method=method,
                            compression=amount,
                            schedule=schedule_name,
                            retrained=bool(retrain),
                            retrain_epochs_total=retrain
                            * len(schedule.targets(amount)),
                            accuracy=float(est.score(X_test, y_test)),
                            sparsity=est.sparsity_,
                            seconds=time.perf_counter() - start,
                        )
                    )
                    allocated = getattr(est.pruner_, "sensitivity_amounts_", None)
                    if allocated:
                        rows[-1]["layer_amounts"] = allocated
                    print(
                        f"seed {seed} {method:17s} {amount:.2f} {schedule_name:9s} "
                        f"retrain={retrain}: acc {rows[-1]['accuracy']:.4f} "
                        f"sparsity {est.sparsity_:.3f} ({rows[-1]['seconds']:.1f} s)",
                        flush=True,
                    )
    return rows


# -- timing: sksparse masks vs torch.nn.utils.prune ---------------------------
def plain_copy(module):
    """The same LeNet as plain nn.Linear layers with the same weights."""
    layers = []
    for i, masked in enumerate(module.masked_layers):
        linear = nn.Linear(masked.in_features, masked.out_features)
        with torch.no_grad():
            linear.weight.copy_(masked.weight)
            linear.bias.copy_(masked.bias)
        layers += [linear, nn.ReLU()] if i < len(module.masked_layers) - 1 else [linear]
    return nn.Sequential(*layers)


def train_epoch(module, optimizer, X, y, batch_size, after_step=None):
    criterion = nn.CrossEntropyLoss()
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    for start in range(0, len(X), batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad()
        criterion(module(X[batch]), y[batch]).backward()
        optimizer.step()
        if after_step is not None:
            after_step()


def time_round(variant, dense, X, y, amount, batch_size, lr):
    """Seconds to prune ``dense`` to ``amount`` and re-train one epoch."""
    if variant == "sksparse (MaskedLinear)":
        module = copy.deepcopy(dense.module_)
    else:
        module = plain_copy(dense.module_)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    after_step = None
    start = time.perf_counter()
    if variant == "torch.nn.utils.prune":
        params = [(m, "weight") for m in module if isinstance(m, nn.Linear)]
        torch_prune.global_unstructured(
            params, pruning_method=torch_prune.L1Unstructured, amount=amount
        )
    else:
        masks = MagnitudePruner(amount).prune(module, optimizer=optimizer)
        if variant == "sksparse (plain nn.Linear)":

            def after_step():
                reapply_masks(module, masks)

    prune_seconds = time.perf_counter() - start
    start, start_cpu = time.perf_counter(), time.process_time()
    train_epoch(module, optimizer, X, y, batch_size, after_step)
    # CPU time of this (single-threaded) process: on a shared machine it
    # is far less sensitive to other processes than wall-clock time.
    epoch_cpu_seconds = time.process_time() - start_cpu
    return prune_seconds, time.perf_counter() - start, epoch_cpu_seconds


def run_timing(args, dense, X, y):
    X = torch.as_tensor(X)
    y = torch.as_tensor(y, dtype=torch.int64)
    variants = [
        "sksparse (MaskedLinear)",
        "sksparse (plain nn.Linear)",
        "torch.nn.utils.prune",
    ]
    times = {v: {"prune": [], "epoch": [], "epoch_cpu": []} for v in variants}
    for _ in range(args.timing_repeats):
        for variant in variants:  # interleaved, so load changes hit all alike
            measured = time_round(variant, dense, X, y, 0.9, args.batch_size, args.lr)
            for key, value in zip(("prune", "epoch", "epoch_cpu"), measured):
                times[variant][key].append(value)
    result = {}
    for variant, t in times.items():
        result[variant] = {}
        for key, values in t.items():
            result[variant][f"{key}_seconds_median"] = statistics.median(values)
            result[variant][f"{key}_seconds_min"] = min(values)
            result[variant][f"{key}_seconds"] = values
    return result


# -- reporting ----------------------------------------------------------------
def summarise(rows, dense_acc):
    groups = {}
    for row in rows:
        key = (row["method"], row["compression"], row["schedule"], row["retrained"])
        groups.setdefault(key, []).append(row["accuracy"])
    dense_mean = float(np.mean(dense_acc))
    summary = []
    for (method, compression, schedule, retrained), accs in groups.items():
        mean, sd = mean_sd(accs)
        summary.append(
            dict(
                method=method,
                compression=compression,
                schedule=schedule,
                retrained=retrained,
                accuracy_mean=mean,
                accuracy_std=sd,
                delta_vs_dense=mean - dense_mean,
                n_seeds=len(accs),
            )
        )
    return summary


def check_targets(summary, dense_acc, timing, control):
    dense_mean = float(np.mean(dense_acc))

    def best(method, compression):
        found = [
            s
            for s in summary
            if s["method"] == method
            and s["compression"] == compression
            and s["retrained"]
        ]
        return max(found, key=lambda s: s["accuracy_mean"]) if found else None

    targets = []
    at80, at95 = best("class-blinded", 0.8), best("class-blinded", 0.95)
    if at80:
        targets.append(
            dict(
                target="class-blinded, 80 % compression, re-trained >= dense",
                figure=f"{100 * at80['delta_vs_dense']:+.2f} points "
                f"({at80['schedule']})",
                met=at80["accuracy_mean"] >= dense_mean,
            )
        )
    if at95:
        targets.append(
            dict(
                target="class-blinded, 95 % compression, re-trained within 1 point",
                figure=f"{100 * at95['delta_vs_dense']:+.2f} points "
                f"({at95['schedule']})",
                met=at95["delta_vs_dense"] >= -0.01,
            )
        )
    one_shot_80 = [
        s
        for s in summary
        if s["method"] == "class-blinded"
        and s["compression"] == 0.8
        and s["schedule"] == "one-shot"
        and s["retrained"]
    ]
    controls = [c["accuracy"] for c in control if c["schedule"] == "one-shot"]
    if one_shot_80 and controls:
        delta = one_shot_80[0]["accuracy_mean"] - float(np.mean(controls))
        targets.append(
            dict(
                target="(stricter) class-blinded 80 % one-shot re-trained >= dense "
                "trained the same extra epochs",
                figure=f"{100 * delta:+.2f} points",
                met=delta >= 0,
            )
        )
    if timing is not None:
        targets.append(timing_target(timing))
    return targets


def timing_target(timing):
    ours = timing["sksparse (MaskedLinear)"]["epoch_cpu_seconds_median"]
    torch_s = timing["torch.nn.utils.prune"]["epoch_cpu_seconds_median"]
    return dict(
        target="sksparse re-training no slower per epoch than torch.nn.utils.prune",
        figure=f"{ours:.2f} s vs {torch_s:.2f} s CPU per epoch ({ours / torch_s:.2f}x)",
        met=ours <= torch_s * 1.02,  # 2 % timing noise
    )


def markdown_table(summary, dense_acc, args, control):
    dense_mean, dense_std = 100 * np.mean(dense_acc), 100 * np.std(dense_acc, ddof=1)
    extra = {}
    for row in control:
        extra.setdefault(row["extra_epochs"], []).append(100 * row["accuracy"])
    controls = ", ".join(
        f"+{n} epochs {np.mean(a):.2f} %" for n, a in sorted(extra.items())
    )
    lines = [
        f"Dense LeNet-300-100: **{dense_mean:.2f} ± {dense_std:.2f} %** test accuracy "
        f"({args.dataset}, {args.n_train} training images, {args.epochs} epochs, "
        f"{len(args.seeds)} seeds). Cells: mean ± std test accuracy (%) after pruning "
        "with re-training / without. Control, the dense net trained as many extra "
        f"epochs as the re-training adds: {controls}.",
        "",
        "| method | schedule | "
        + " | ".join(f"{100 * c:g} %" for c in args.compressions)
        + " |",
        "|---|---|" + "---|" * len(args.compressions),
    ]
    index = {
        (s["method"], s["schedule"], s["compression"], s["retrained"]): s
        for s in summary
    }
    for method in args.methods:
        for schedule in ("one-shot", "iterative"):
            cells = []
            for c in args.compressions:
                with_, without = (
                    index[(method, schedule, c, True)],
                    index[(method, schedule, c, False)],
                )
                mean, std = 100 * with_["accuracy_mean"], 100 * with_["accuracy_std"]
                cells.append(
                    f"{mean:.2f} ± {std:.2f} / {100 * without['accuracy_mean']:.2f}"
                )
            lines.append(f"| {method} | {schedule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def allocation_lines(rows):
    """How the sensitivity scope split each target over the layers (mean of seeds)."""
    found = {}
    for row in rows:
        if row.get("layer_amounts") and row["schedule"] == "one-shot":
            found.setdefault(row["compression"], []).append(row["layer_amounts"])
    if not found:
        return ""
    layers = list(next(iter(found.values()))[0])
    lines = [
        "Sensitivity scope, fraction of each layer pruned (one-shot, mean of seeds):",
        "",
        "| compression | " + " | ".join(layers) + " |",
        "|---|" + "---|" * len(layers),
    ]
    for compression, allocations in sorted(found.items()):
        means = [np.mean([a[layer] for a in allocations]) for layer in layers]
        lines.append(
            f"| {100 * compression:g} % | "
            + " | ".join(f"{100 * m:.1f} %" for m in means)
            + " |"
        )
    return "\n".join(lines)


def plot(summary, dense_acc, args, path):
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = dict(zip(METHODS, ["C0", "C1", "C2", "C3", "C7"]))
    x = list(range(len(args.compressions)))  # evenly spaced: 50 ... 98 %
    for ax, retrained in zip(axes, (False, True)):
        dense_mean = 100 * np.mean(dense_acc)
        ax.axhline(dense_mean, color="k", lw=1, ls=":", label="dense")
        for method in args.methods:
            for schedule, style in (("one-shot", "-"), ("iterative", "--")):
                rows = [
                    next(
                        s
                        for s in summary
                        if s["method"] == method
                        and s["schedule"] == schedule
                        and s["compression"] == c
                        and s["retrained"] == retrained
                    )
                    for c in args.compressions
                ]
                ax.errorbar(
                    x,
                    [100 * r["accuracy_mean"] for r in rows],
                    yerr=[100 * r["accuracy_std"] for r in rows],
                    color=colors[method],
                    ls=style,
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=f"{method} ({schedule})",
                )
        ax.set_xticks(x, [f"{100 * c:g}" for c in args.compressions])
        ax.set_xlabel("compression (% of weights removed)")
        ax.set_title("with re-training" if retrained else "without re-training")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    top = max(100 * s["accuracy_mean"] for s in summary)
    axes[0].set_ylim(0, min(100, max(top, 100 * np.mean(dense_acc)) + 3))
    axes[1].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Pruning LeNet-300-100 on {args.dataset} ({len(args.seeds)} seeds)")
    save_figure(fig, path)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    X, y, X_test, y_test, X_val, y_val = load_data(args)
    print(
        f"{args.dataset}: {X.shape[0]} training, {X_test.shape[0]} test images",
        flush=True,
    )

    if args.timing_only:
        dense, _ = dense_network(args, args.seeds[0], X, y)
        timing = run_timing(args, dense, X, y)
        target = timing_target(timing)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "pruning_timing.json").write_text(
            json.dumps(
                dict(
                    command=command("pruning.py", argv),
                    machine=machine_info(),
                    timing_prune_and_retrain_round=timing,
                    target=target,
                ),
                indent=1,
            )
        )
        print(
            f"{'MET ' if target['met'] else 'MISSED'} {target['target']}: "
            f"{target['figure']}"
        )
        return

    rows, dense_acc, dense_epoch_seconds, timing = [], [], [], None
    control, sensitivities = [], {}
    for seed in args.seeds:
        dense, durations = dense_network(args, seed, X, y)
        dense_acc.append(float(dense.score(X_test, y_test)))
        dense_epoch_seconds += list(durations)
        print(f"seed {seed} dense accuracy {dense_acc[-1]:.4f}", flush=True)
        if timing is None and args.timing_repeats > 0:
            timing = run_timing(args, dense, X, y)
            print(
                json.dumps(
                    {
                        k: {
                            m: round(v[m], 3)
                            for m in (
                                "prune_seconds_median",
                                "epoch_seconds_median",
                                "epoch_cpu_seconds_median",
                            )
                        }
                        for k, v in timing.items()
                    }
                ),
                flush=True,
            )
        control += run_dense_control(args, dense, X, y, X_test, y_test, seed)
        sensitivity = None
        if "sensitivity" in args.methods:
            sensitivity = measure_sensitivity(dense, X, y, X_val, y_val)
            sensitivities[seed] = dict(
                layers=sensitivity[0],
                amounts=sensitivity[2],
                scores=sensitivity[1].tolist(),
            )
            print(f"seed {seed} sensitivity {sensitivities[seed]}", flush=True)
        rows += run_grid(args, dense, X, y, X_test, y_test, seed, sensitivity)

    summary = summarise(rows, dense_acc)
    targets = check_targets(summary, dense_acc, timing, control)
    table = markdown_table(summary, dense_acc, args, control)
    allocation = allocation_lines(rows)
    if allocation:
        table += "\n\n" + allocation
    args.out.mkdir(parents=True, exist_ok=True)
    result = dict(
        command=command("pruning.py", argv),
        config=config(args),
        machine=machine_info(),
        network="LeNet-300-100 (784-300-100-10), ReLU, Adam",
        dense_accuracy=dense_acc,
        dense_control_extra_epochs=control,
        dense_epoch_seconds=dense_epoch_seconds,
        timing_prune_and_retrain_round=timing,
        sensitivity_curves=sensitivities,
        targets=targets,
        summary=summary,
        runs=rows,
        total_seconds=time.perf_counter() - started,
    )
    (args.out / "pruning.json").write_text(json.dumps(result, indent=1))
    write_csv(args.out / "pruning.csv", summary)
    (args.out / "pruning.md").write_text(table + "\n")
    plot(summary, dense_acc, args, args.out / "pruning.png")
    print(table)
    for t in targets:
        print(f"{'MET ' if t['met'] else 'MISSED'} {t['target']}: {t['figure']}")
    print(f"total {result['total_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
