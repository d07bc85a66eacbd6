"""Lottery-ticket benchmark: rewinding against the papers' two controls.

Frankle & Carbin (2019)'s LeNet experiment on Fashion-MNIST, offline: a
LeNet-300-100 (784-300-100-10) is trained, 20 % of the weights of each hidden
layer with the smallest magnitudes are pruned (class-uniform, as the paper's
layer-wise pruning; the 100x10 output layer stays dense, where the paper
prunes it at half the rate), the kept weights are reset and the net is
trained again; 18 rounds reach 0.8^18 = 1.8 % of the hidden weights. Four
variants of the reset, each one :class:`sksparse.PrunedEstimator`:

``init``
    rewind to the initialisation (Frankle & Carbin's winning ticket);
``epoch-k``
    rewind to the weights after ``k`` epochs (Frankle et al. 2020), re-trained
    for the epochs left after ``k``;
``reinit``
    the same procedure with a fresh random initialisation of the kept
    weights at every round (``rewind="reinit"``), the papers' control;
``random``
    a random mask at the same per-layer density
    (``RandomPruner(scope="class-uniform")``), rewound to the initialisation.

Every round trains a fixed number of epochs and is scored on a validation set
(held out from the training images) after each; the round reports the test
accuracy of the weights at its best validation epoch (early stopping, as the
paper's) and that epoch, counted from the weights' starting point (for
``epoch-k``, ``k`` plus the epochs trained after the rewind).

Writes ``benchmarks/results/lottery.json`` (every round of every run),
``lottery.csv`` (mean and standard deviation per variant and round),
``lottery.md`` (the README table) and ``lottery.png``.

Usage (``make bench-lottery`` runs the defaults)::

    python benchmarks/lottery.py [--epochs 4] [--rounds 18] [--seeds 0 1 2]
        [--variants init epoch-k reinit random] [--quick]

The defaults cost about 10 minutes of CPU on one thread (12 runs of 19
rounds, each about 50 s). On a shared machine the runs can go to separate
processes, one ``--variants``/``--seeds`` subset each with its own ``--out``,
then ``--combine DIR ...`` writes the joined results. The paper trains
50,000 iterations of batch 60 on all 60,000 images per round.
"""

import argparse
import copy
import json
import time
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from _common import (
    RESULTS,
    command,
    config,
    lenet,
    load_images,
    machine_info,
    mean_sd,
    pyplot,
    save_figure,
    write_csv,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval
from skorch.callbacks import Callback

from sksparse import PrunedEstimator
from sksparse.pruning import MagnitudePruner, RandomPruner
from sksparse.pruning._base import find_prunable_weights
from sksparse.pruning._schedules import BaseSchedule

VARIANTS = ("init", "epoch-k", "reinit", "random")
LABELS = {
    "init": "rewind to init",
    "epoch-k": "rewind to epoch k",
    "reinit": "re-init (control)",
    "random": "random mask (control)",
}

# The recorder callback is deep-copied with the estimator (clone, the net's
# own copy of its callbacks): it holds a key, the data and the rounds live here.
_DATA = {}
_ROUNDS = {}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="folder with the IDX files")
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--n-val", type=int, default=5_000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per round")
    parser.add_argument("--rounds", type=int, default=18, help="pruning rounds")
    parser.add_argument("--rate", type=float, default=0.2, help="pruned per round")
    parser.add_argument("--rewind-epoch", type=int, default=1, help="k of epoch-k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS
    )
    parser.add_argument("--lr", type=float, default=1.2e-3)  # the paper's Adam rate
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 2,000 images, 3 rounds of 2 epochs, one seed "
        "(writes lottery-quick.*)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        default=None,
        help="write the results of the lottery.json in these folders (runs "
        "split over processes, e.g. one per variant) to --out, training nothing",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_val, args.n_test = 2000, 1000, 2000
        args.epochs, args.rounds, args.seeds = 2, 3, [0]
    if not 0 < args.rewind_epoch < args.epochs:
        parser.error("--rewind-epoch must be between 1 and --epochs - 1")
    return args


class RoundSchedule(BaseSchedule):
    """``rate`` of the remaining weights pruned per round: ``1 - (1 - rate)^r``."""

    _parameter_constraints = {
        **BaseSchedule._parameter_constraints,
        "rate": [Interval(Real, 0, 1, closed="neither")],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, rate=0.2, n_rounds=18, *, start=0):
        self.rate = rate
        self.n_rounds = n_rounds
        self.start = start

    def targets(self, final_sparsity):
        self._validate()
        return [1.0 - (1.0 - self.rate) ** r for r in range(1, self.n_rounds + 1)]


class RoundRecorder(Callback):
    """Per round (one fit): density, validation accuracy per epoch, test accuracy.

    The test accuracy is that of the weights at the best validation epoch,
    kept as a copy while the round trains, so early stopping costs no
    re-training.
    """

    def __init__(self, key):
        self.key = key

    def on_train_begin(self, net, **kwargs):
        module = net.module_
        prunable = find_prunable_weights(module)
        hidden = prunable[:-1]  # the output layer is not pruned here
        kept = sum(int(pw.keep().sum()) for pw in hidden)
        total = sum(pw.weight.numel() for pw in hidden)
        self.round_ = dict(
            remaining=kept / total,
            remaining_all=sum(int(pw.keep().sum()) for pw in prunable)
            / sum(pw.weight.numel() for pw in prunable),
            layer_density=[int(pw.keep().sum()) / pw.weight.numel() for pw in prunable],
            val_accuracy=[],
        )
        self.best_ = (-1.0, None)

    def on_epoch_end(self, net, **kwargs):
        data = _DATA[self.key]
        accuracy = _accuracy(net.module_, data["X_val"], data["y_val"])
        self.round_["val_accuracy"].append(accuracy)
        if accuracy > self.best_[0]:
            state = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
            self.best_ = (accuracy, state)

    def on_train_end(self, net, **kwargs):
        data = _DATA[self.key]
        module = net.module_
        row = self.round_
        row["test_accuracy_last"] = _accuracy(module, data["X_test"], data["y_test"])
        best = copy.deepcopy(module)
        best.load_state_dict(self.best_[1])
        row["test_accuracy"] = _accuracy(best, data["X_test"], data["y_test"])
        row["best_epoch_in_round"] = 1 + int(np.argmax(row["val_accuracy"]))
        _ROUNDS.setdefault(self.key, []).append(row)


@torch.no_grad()
def _accuracy(module, X, y):
    training = module.training
    module.eval()
    try:
        pred = torch.cat(
            [module(X[i : i + 5000]).argmax(1) for i in range(0, len(X), 5000)]
        )
    finally:
        module.train(training)
    return float((pred == y).float().mean())


def load_data(args):
    return load_images(
        "fashion-mnist",
        args.root,
        n_train=args.n_train,
        n_val=args.n_val,
        n_test=args.n_test,
    )


def make_estimator(args, variant, seed, key):
    amount = 1.0 - (1.0 - args.rate) ** args.rounds
    clf = lenet(
        seed,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        callbacks=[("rounds", RoundRecorder(key))],
    )
    if variant == "random":
        pruner = RandomPruner(
            amount,
            scope="class-uniform",
            prune_output_layer=False,
            random_state=seed,
        )
    else:
        pruner = MagnitudePruner(
            amount, scope="class-uniform", prune_output_layer=False
        )
    rewind = {
        "init": "init",
        "epoch-k": args.rewind_epoch,
        "reinit": "reinit",
        "random": "init",
    }[variant]
    retrain = args.epochs - (args.rewind_epoch if variant == "epoch-k" else 0)
    return PrunedEstimator(
        clf,
        pruner,
        retrain_epochs=retrain,
        schedule=RoundSchedule(args.rate, args.rounds),
        rewind=rewind,
    )


def run(args, variant, seed, data):
    key = f"{variant}-{seed}"
    _DATA[key] = data
    _ROUNDS.pop(key, None)
    started = time.perf_counter()
    est = make_estimator(args, variant, seed, key).fit(data["X"], data["y"])
    rounds = _ROUNDS.pop(key)
    if len(rounds) != args.rounds + 1:
        raise RuntimeError(f"{key}: {len(rounds)} rounds recorded")
    offset = args.rewind_epoch if variant == "epoch-k" else 0
    for r, row in enumerate(rounds):
        row.update(variant=variant, seed=seed, round=r)
        # Epochs from the weights' starting point (init, or the rewind point).
        row["best_epoch"] = row["best_epoch_in_round"] + (offset if r else 0)
    final = est.score(data["X_test"].numpy(), data["y_test"].numpy())
    if abs(final - rounds[-1]["test_accuracy_last"]) > 1e-6:
        print(f"warning: {key}: the recorder's last accuracy is not score()'s")
    return rounds, time.perf_counter() - started


def summarise(rows, args):
    summary = []
    for variant in args.variants:
        for r in range(args.rounds + 1):
            cell = [x for x in rows if x["variant"] == variant and x["round"] == r]
            if not cell:
                continue
            acc_mean, acc_sd = mean_sd(x["test_accuracy"] for x in cell)
            epoch_mean, epoch_sd = mean_sd(x["best_epoch"] for x in cell)
            summary.append(
                dict(
                    variant=variant,
                    round=r,
                    remaining=cell[0]["remaining"],
                    remaining_all=cell[0]["remaining_all"],
                    n_seeds=len(cell),
                    accuracy_mean=acc_mean,
                    accuracy_std=acc_sd,
                    best_epoch_mean=epoch_mean,
                    best_epoch_std=epoch_sd,
                )
            )
    return summary


def _done(summary, args):
    return [v for v in args.variants if any(s["variant"] == v for s in summary)]


def markdown_table(summary, args):
    variants = _done(summary, args)
    header = ["remaining (hidden weights)", *(LABELS[v] for v in variants)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    index = {(s["variant"], s["round"]): s for s in summary}
    for r in range(args.rounds + 1):
        first = index.get((variants[0], r))
        if first is None:
            continue
        cells = []
        for v in variants:
            s = index[(v, r)]
            cells.append(
                f"{100 * s['accuracy_mean']:.2f} ± {100 * s['accuracy_std']:.2f}"
                f" ({s['best_epoch_mean']:.1f})"
            )
        lines.append(
            f"| {100 * first['remaining']:.1f} % | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def plot(summary, args, path):
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    colors = dict(zip(VARIANTS, ["C0", "C1", "C3", "C7"]))
    for v in _done(summary, args):
        rows = sorted(
            (s for s in summary if s["variant"] == v), key=lambda s: s["round"]
        )
        x = [100 * s["remaining"] for s in rows]
        for ax, name in zip(axes, ("accuracy", "best_epoch")):
            scale = 100 if name == "accuracy" else 1
            ax.errorbar(
                x,
                [scale * s[f"{name}_mean"] for s in rows],
                yerr=[scale * s[f"{name}_std"] for s in rows],
                color=colors[v],
                marker="o",
                ms=3,
                capsize=2,
                label=LABELS[v].replace("epoch k", f"epoch {args.rewind_epoch}"),
            )
    dense = [s["accuracy_mean"] for s in summary if s["round"] == 0]
    axes[0].axhline(100 * dense[0], color="k", lw=1, ls=":", label="dense")
    ticks = [
        t
        for t in (100, 50, 25, 10, 5, 2, 1)
        if t >= 100 * min(s["remaining"] for s in summary) * 0.9
    ]
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.invert_xaxis()
        ax.set_xlabel("hidden weights remaining (%)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy at early stopping (%)")
    axes[1].set_ylabel("early-stopping epoch")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(
        f"Lottery tickets: LeNet-300-100 on Fashion-MNIST "
        f"(seeds: {max(s['n_seeds'] for s in summary)}, "
        f"{args.epochs} epochs per round)"
    )
    save_figure(fig, path)


def write_results(args, argv, rows, seconds, started, extra=None):
    """All four files, from the runs so far (written after every seed)."""
    summary = summarise(rows, args)
    table = markdown_table(summary, args)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "lottery-quick" if args.quick else "lottery"  # never over the full run
    result = dict(
        command=command("lottery.py", argv),
        config=config(args),
        machine=machine_info(),
        network="LeNet-300-100 (784-300-100-10), ReLU, Adam; output layer not pruned",
        pruning="class-uniform magnitude, 20 % of each hidden layer per round",
        seeds_done=sorted({x["seed"] for x in rows}),
        seconds_per_run=seconds,
        summary=summary,
        runs=rows,
        total_seconds=time.perf_counter() - started,
        **(extra or {}),
    )
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1, default=str))
    write_csv(args.out / f"{stem}.csv", summary)
    (args.out / f"{stem}.md").write_text(table + "\n")
    plot(summary, args, args.out / f"{stem}.png")
    return table, result


def combine(args, argv, started):
    """Results of runs made by several processes, read from their folders."""
    rows, seconds, commands = [], {}, []
    for folder in args.combine:
        name = "lottery-quick.json" if args.quick else "lottery.json"
        part = json.loads((folder / name).read_text())
        done = {(x["variant"], x["seed"]) for x in rows}
        rows += [x for x in part["runs"] if (x["variant"], x["seed"]) not in done]
        seconds.update(part["seconds_per_run"])
        commands.append(part["command"])
    found = {(x["variant"], x["seed"]) for x in rows}
    args.variants = [v for v in args.variants if any(v == f[0] for f in found)]
    args.seeds = sorted({f[1] for f in found})
    table, _ = write_results(
        args, argv, rows, seconds, started, extra={"commands_combined": commands}
    )
    print(table)
    return table


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    # The rounds are short on purpose (equal epochs per round, scored by early
    # stopping): the estimator's not-yet-converged warning would fire in each.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    started = time.perf_counter()
    if args.combine:
        return combine(args, argv, started)
    X, y, X_val, y_val, X_test, y_test = load_data(args)
    data = dict(
        X=X,
        y=y,
        X_val=torch.as_tensor(X_val),
        y_val=torch.as_tensor(y_val),
        X_test=torch.as_tensor(X_test),
        y_test=torch.as_tensor(y_test),
    )
    print(
        f"Fashion-MNIST: {len(X)} training, {len(X_val)} validation, "
        f"{len(X_test)} test images",
        flush=True,
    )
    rows, seconds = [], {}
    for seed in args.seeds:
        for variant in args.variants:
            rounds, took = run(args, variant, seed, data)
            rows += rounds
            seconds[f"{variant}-{seed}"] = took
            print(
                f"seed {seed} {variant:8s} {took / 60:5.1f} min: "
                + " ".join(
                    f"{100 * x['remaining']:.1f}%:{100 * x['test_accuracy']:.1f}"
                    for x in rounds[:: max(1, args.rounds // 6)]
                ),
                flush=True,
            )
            # After every run: one cut short still leaves the finished ones.
            table, result = write_results(args, argv, rows, seconds, started)
    print(table)
    print(f"total {result['total_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
