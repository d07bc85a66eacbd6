"""Structure search at an equal budget of trained epochs: random vs genetic.

Three searches over the same space of sparse MLPs (hidden layer sizes,
sparsity, random-graph prior, learning rate, activation), each seeded three
times, on a Fashion-MNIST subset:

* ``random``: ``GeneticSearchCV(generations=1)``, i.e. individuals drawn at
  random from the space, as many as the budget allows;
* ``genetic``: the plain genetic search, every offspring trained;
* ``genetic+predictor``: the same search with ``predictor="auto"``
  (structure, hyper-parameters and a one-epoch learning-curve probe): only
  the best ``screen_ratio`` of each generation's offspring are trained.

The budget is the plain search's total of trained epochs; the other two are
cut at that budget (probe epochs count). Each search validates on one
holdout split of the training subset; whenever its best validation score
improves, that individual (same seed, same split, so the same weights) is
scored on the test set, giving *best test accuracy against epochs spent*.

Run: ``make bench-search`` or ``python benchmarks/search.py`` (about 25
minutes on one CPU core; ``--quick`` for a smoke run on digits). Writes
``results/search.json``, ``results/search.png`` and ``results/search.md``.

The paper's CIFAR-10 setting (Stier et al. 2021, 82.4 %) needs a GPU::

    python benchmarks/search.py --dataset cifar10 --root ~/data --device cuda \\
        --n-train 50000 --n-test 10000 --epochs 20 --population 20 \\
        --generations 10 --seeds 3
"""

import argparse
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    machine,
    markdown_table,
    pyplot,
    save_figure,
    write_json,
)

METHODS = ["random", "genetic", "genetic+predictor"]


def load_data(args):
    """Search data (train subset) and a held-out test set."""
    if args.dataset == "digits":
        from sksparse.datasets import load_digits

        X, y, X_test, y_test = load_digits()
    elif args.dataset == "fashion_mnist":
        from sksparse.datasets import load_fashion_mnist

        X, y, X_test, y_test = load_fashion_mnist(args.root)
        if args.downsample > 1:  # average-pool the 28x28 images
            f = args.downsample
            side = 28 // f
            X, X_test = (
                a.reshape(-1, side, f, side, f).mean((2, 4)).reshape(len(a), -1)
                for a in (X, X_test)
            )
    elif args.dataset == "cifar10":
        from sksparse.datasets import load_cifar10

        X, y, X_test, y_test = load_cifar10(args.root, flatten=True)
    else:
        raise ValueError(f"unknown dataset {args.dataset!r}")
    n_train = min(args.n_train, len(X))
    n_test = min(args.n_test, len(X_test))
    return (
        np.ascontiguousarray(X[:n_train], dtype=np.float32),
        y[:n_train],
        np.ascontiguousarray(X_test[:n_test], dtype=np.float32),
        y_test[:n_test],
    )


def make_search(method, seed, args, budget_individuals=None):
    from scipy.stats import loguniform, uniform
    from sklearn.model_selection import ShuffleSplit

    from sksparse import GeneticSearchCV, SparseCNNClassifier, SparseMLPClassifier
    from sksparse.search import LayerSizes, PriorChoice

    priors = PriorChoice(
        {
            None: {},
            "erdos_renyi": {},
            "watts_strogatz": {"p": uniform(0.0, 1.0)},
            "barabasi_albert": {},
        }
    )
    common = dict(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        random_state=seed,
    )
    if args.estimator == "cnn":
        estimator = SparseCNNClassifier(**common)
        space = {
            "channels": LayerSizes(1, 3, 16, 128),
            "hidden_layer_sizes": LayerSizes(1, 2, 64, 512),
        }
    else:
        estimator = SparseMLPClassifier(**common)
        space = {"hidden_layer_sizes": LayerSizes(1, 2, 16, 256)}
    space.update(
        {
            "sparsity": uniform(0.5, 0.45),
            "prior": priors,
            "lr": loguniform(3e-4, 3e-2),
            "activation": ["relu", "tanh"],
        }
    )
    params = dict(
        population_size=args.population,
        generations=args.generations,
        elitism=1,
        tournament_size=3,
        mutation_rate=0.3,
        crossover_rate=0.5,
        cv=ShuffleSplit(n_splits=1, test_size=args.val_size, random_state=0),
        refit=False,
        random_state=seed,
    )
    if method == "random":
        params.update(population_size=budget_individuals, generations=1)
    elif method == "genetic+predictor":
        params.update(predictor="auto", screen_ratio=args.screen_ratio)
    return GeneticSearchCV(estimator, space, **params)


def fit_to_budget(search, X, y, budget, checkpoint):
    """Add generations until ``budget`` epochs are spent.

    Each ``fit`` resumes from the checkpoint the previous one wrote, so the
    search is the same as one run with the final number of generations.
    """
    search.set_params(checkpoint=str(checkpoint), generations=1)
    while True:
        search.fit(X, y)
        if np.sum(search.cv_results_["n_epochs"]) >= budget:
            return search
        search.set_params(generations=search.generations + 1)


def trajectory(search, X, y, X_test, y_test, budget):
    """Best validation and test accuracy against cumulative epochs spent."""
    from sklearn.base import clone

    results = search.cv_results_
    ((train, _),) = search.cv.split(X, y)
    epochs = np.cumsum(results["n_epochs"])
    points, best, test_cache = [], -np.inf, {}
    for row, spent in enumerate(epochs):
        if spent > budget:
            break
        score = results["mean_test_score"][row]
        if results["trained"][row] and np.isfinite(score) and score > best:
            best = float(score)
            if row not in test_cache:  # the same model as validated: same seed
                model = clone(search.estimator).set_params(**results["params"][row])
                model.fit(X[train], y[train])
                test_cache[row] = float(model.score(X_test, y_test))
            points.append(
                {
                    "epochs": float(spent),
                    "row": row,
                    "best_val": best,
                    "best_test": test_cache[row],
                }
            )
    n_rows = int(np.searchsorted(epochs, budget, side="right"))
    return {
        "points": points,
        "epochs_spent": float(epochs[n_rows - 1]) if n_rows else 0.0,
        "n_individuals": n_rows,
        "n_trained": int(results["trained"][:n_rows].sum()),
        "n_screened_out": int((~results["trained"][:n_rows]).sum()),
        "final_val": points[-1]["best_val"] if points else float("nan"),
        "final_test": points[-1]["best_test"] if points else float("nan"),
        "best_params": _jsonable(results["params"][points[-1]["row"]])
        if points
        else None,
    }


def _jsonable(params):
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = {k: float(v) for k, v in value.items()}
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def epochs_to_reach(points, target):
    for point in points:
        if point["best_val"] >= target - 1e-12:
            return point["epochs"]
    return None


def run(args):
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    X, y, X_test, y_test = load_data(args)
    runs = {m: [] for m in METHODS}
    for seed in range(args.seeds):
        start = time.perf_counter()
        plain = make_search("genetic", seed, args).fit(X, y)
        budget = float(np.sum(plain.cv_results_["n_epochs"]))
        plain_time = time.perf_counter() - start
        per_individual = args.epochs  # one holdout split
        searches = {"genetic": (plain, plain_time)}
        start = time.perf_counter()
        random = make_search(
            "random", seed, args, budget_individuals=int(budget // per_individual)
        ).fit(X, y)
        searches["random"] = (random, time.perf_counter() - start)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            assisted = fit_to_budget(
                make_search("genetic+predictor", seed, args),
                X,
                y,
                budget,
                Path(tmp) / "search.pkl",
            )
        searches["genetic+predictor"] = (assisted, time.perf_counter() - start)
        for method, (search, seconds) in searches.items():
            record = trajectory(search, X, y, X_test, y_test, budget)
            record.update(seed=seed, budget=budget, search_seconds=seconds)
            runs[method].append(record)
            print(
                f"seed {seed} {method:18s} budget {budget:.0f} epochs: "
                f"val {record['final_val']:.4f} test {record['final_test']:.4f} "
                f"({record['n_trained']} trained, {record['n_screened_out']} "
                f"screened out, {seconds:.0f} s)",
                flush=True,
            )
    return runs, (X.shape, X_test.shape)


def summarise(runs):
    summary = {}
    for method in METHODS:
        reach, ratio = [], []
        for record, plain in zip(runs[method], runs["genetic"]):
            target = plain["final_val"]
            needed = epochs_to_reach(record["points"], target)
            reach.append(needed)
            ratio.append(None if needed is None else needed / plain["budget"])
        vals = [r["final_val"] for r in runs[method]]
        tests = [r["final_test"] for r in runs[method]]
        summary[method] = {
            "final_val_mean": float(np.mean(vals)),
            "final_val_std": float(np.std(vals)),
            "final_test_mean": float(np.mean(tests)),
            "final_test_std": float(np.std(tests)),
            "epochs_to_reach_plain_best": reach,
            "fraction_of_plain_budget": ratio,
            "n_trained_mean": float(np.mean([r["n_trained"] for r in runs[method]])),
            "search_seconds_mean": float(
                np.mean([r["search_seconds"] for r in runs[method]])
            ),
        }
    predictor = summary["genetic+predictor"]["fraction_of_plain_budget"]
    summary["target"] = {
        "predictor_reaches_plain_best_within_half_budget": [
            r is not None and r <= 0.5 for r in predictor
        ],
        "predictor_beats_random_at_equal_budget": [
            p["final_val"] >= r["final_val"]
            for p, r in zip(runs["genetic+predictor"], runs["random"])
        ],
    }
    return summary


def plot(runs, path):
    plt = pyplot()

    colors = {
        "random": "tab:gray",
        "genetic": "tab:blue",
        "genetic+predictor": "tab:red",
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for ax, key, label in (
        (axes[0], "best_val", "best validation accuracy"),
        (axes[1], "best_test", "test accuracy of the best so far"),
    ):
        for method in METHODS:
            budget = max(r["budget"] for r in runs[method])
            grid = np.linspace(0, budget, 200)
            curves = []
            for record in runs[method]:
                xs = [p["epochs"] for p in record["points"]]
                ys = [p[key] for p in record["points"]]
                idx = np.searchsorted(xs, grid, side="right") - 1
                curve = np.where(idx >= 0, np.asarray(ys)[np.maximum(idx, 0)], np.nan)
                curves.append(curve)
                ax.step(
                    grid, curve, where="post", color=colors[method], alpha=0.25, lw=0.8
                )
            with warnings.catch_warnings():  # no point yet before the first fit
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(curves, axis=0)
            ax.plot(
                grid,
                mean,
                color=colors[method],
                lw=2,
                label=method,
            )
        ax.set_xlabel("trained epochs (cumulative, probes included)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle("Structure search at equal epoch budget (thin: seeds, thick: mean)")
    save_figure(fig, path)


def table(summary, runs):
    header = [
        "search",
        "best val. acc.",
        "test acc. of best",
        "trained individuals",
        "epochs to reach plain GA's best (per seed)",
        "fraction of plain GA's budget",
    ]
    rows = []
    for method in METHODS:
        s = summary[method]
        reach = ", ".join(
            "—" if e is None else f"{e:.0f}" for e in s["epochs_to_reach_plain_best"]
        )
        frac = ", ".join(
            "—" if f is None else f"{f:.2f}" for f in s["fraction_of_plain_budget"]
        )
        rows.append(
            [
                method,
                f"{s['final_val_mean']:.4f} ± {s['final_val_std']:.4f}",
                f"{s['final_test_mean']:.4f} ± {s['final_test_std']:.4f}",
                f"{s['n_trained_mean']:.1f}",
                reach,
                frac,
            ]
        )
    return markdown_table(header, rows)


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        default="fashion_mnist",
        choices=["fashion_mnist", "digits", "cifar10"],
    )
    parser.add_argument("--estimator", default="mlp", choices=["mlp", "cnn"])
    parser.add_argument("--root", default=None, help="data folder")
    parser.add_argument(
        "--downsample",
        type=int,
        default=2,
        help="average-pool Fashion-MNIST by this factor (2: 14x14)",
    )
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--val-size", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--screen-ratio", type=float, default=0.3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--name", default="search", help="output file stem")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run on digits: tiny budget, one seed",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.dataset, args.n_train, args.n_test = "digits", 600, 400
        args.population, args.generations, args.seeds, args.epochs = 4, 2, 1, 2
        args.name = args.name + "_quick"
    start = time.perf_counter()
    runs, (train_shape, test_shape) = run(args)
    summary = summarise(runs)
    payload = {
        "benchmark": "search",
        "machine": machine(),
        "config": vars(args)
        | {"X_search": list(train_shape), "X_test": list(test_shape)},
        "summary": summary,
        "runs": runs,
        "wall_seconds": time.perf_counter() - start,
        # The machine is shared: CPU seconds say what one core would need.
        "cpu_seconds": _cpu_seconds(),
    }
    path = write_json(f"{args.name}.json", payload)
    plot(runs, RESULTS / f"{args.name}.png")
    text = table(summary, runs)
    (RESULTS / f"{args.name}.md").write_text(text + "\n")
    print(text)
    print(f"targets: {summary['target']}")
    print(
        f"wrote {path} in {payload['wall_seconds']:.0f} s "
        f"({payload['cpu_seconds']:.0f} CPU s)"
    )


if __name__ == "__main__":
    main()
