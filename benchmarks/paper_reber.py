"""The paper's Reber population: how much of an RNN's accuracy its graph predicts.

Stier, Darji & Granitzer (2021), on their experiment code's protocol: per cell
type (tanh RNN, ReLU RNN, GRU, LSTM), Barabási–Albert graphs (n drawn in
[10, 50], m = n // 10) and connected Watts–Strogatz graphs (k = n // 5,
p = 1); each graph becomes a recurrent network that learns the
grammatical-against-ungrammatical Reber task (batch 128, 15 epochs); 23
structural features of the graph (nodes, edges, layers, sources, sinks,
diameter, density, average shortest path, and mean / variance / std of
eccentricity, degree, closeness, node and edge betweenness), min-max scaled,
feed Bayesian ridge, a random forest and AdaBoost, which predict the
network's test accuracy.

Both of :class:`sksparse.GraphPriorRNNClassifier`'s mappings:

- ``layered`` (the paper's): the graph oriented from lower to higher node
  number (as deepstruct does), its topological generations the recurrent
  layers, edges that skip layers connections between non-adjacent layers;
- ``hidden``: one recurrent layer of n units whose hidden-to-hidden mask is
  the graph.

Scores: R² and Kendall τ on the paper's single 90/10 split and with 5-fold
cross-validation, per cell type and pooled over cell types, beside two
baselines with the same regressors: **family only** (BA or WS, one 0/1
feature) and **size only** (nodes and edges). What the structure explains
beyond family and size is the gap between the full model and these.

Every trained network is appended to ``paper_reber.networks.jsonl`` the
moment it is done, so an interrupted run resumes. Writes
``benchmarks/results/paper_reber.{json,csv,md,png}``.

Usage (``make bench-paper-reber`` runs the defaults)::

    python benchmarks/paper_reber.py [--per-family 50] [--jobs 2]
        [--cells rnn rnn_relu gru lstm] [--mappings layered hidden] [--no-train]

The defaults train 50 + 50 graphs per cell type and mapping (800 networks)
on 3,000 training and 1,000 test strings of the plain grammar (at most 15
symbols): about 4 CPU seconds a network here, so ``--jobs 2`` finishes in
about half an hour on 2 cores. The paper's population is ``--per-family
100`` (1600 networks with both mappings) on 18,750 training strings; with
300 training strings (45 optimiser steps in 15 epochs) no cell type learned
the task (test accuracy about 0.5), which leaves nothing for R² to explain.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    machine,
    markdown_table,
    pyplot,
    save_figure,
    write_csv,
)
from _common import config as args_config  # noqa: E402

CELLS = ("rnn", "rnn_relu", "gru", "lstm")
MAPPINGS = ("layered", "hidden")
FAMILIES = ("barabasi_albert", "watts_strogatz")
FEATURES = (
    "nodes",
    "edges",
    "layers",
    "sources",
    "sinks",
    "diameter",
    "density",
    "average_shortest_path",
    *(
        f"{kind}_{stat}"
        for kind in (
            "eccentricity",
            "degree",
            "closeness",
            "node_betweenness",
            "edge_betweenness",
        )
        for stat in ("mean", "var", "std")
    ),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-family", type=int, default=50, help="paper: 100")
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    parser.add_argument("--mappings", nargs="+", default=list(MAPPINGS))
    parser.add_argument("--n-train", type=int, default=3000, help="paper: 18750")
    parser.add_argument("--n-test", type=int, default=1000, help="paper: 6250")
    parser.add_argument("--max-length", type=int, default=15)
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded Reber grammar (harder) instead of the plain one",
    )
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--jobs", type=int, default=1, help="networks trained at once, 1 thread each"
    )
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


# -- the population ------------------------------------------------------------
def make_graph(family, index):
    """Graph ``index`` of a family, the same for every cell type and mapping."""
    rng = np.random.default_rng([FAMILIES.index(family), index])
    n = int(rng.integers(10, 51))
    seed = int(rng.integers(2**31 - 1))
    if family == "barabasi_albert":
        return nx.barabasi_albert_graph(n, max(1, n // 10), seed=seed)
    return nx.connected_watts_strogatz_graph(
        n, max(2, n // 5), 1.0, tries=200, seed=seed
    )


def orient(graph):
    """deepstruct's orientation: every edge from the lower to the higher node."""
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.nodes)
    dag.add_edges_from((min(u, v), max(u, v)) for u, v in graph.edges)
    return dag


def structural_features(graph):
    """The paper's 23 features of a graph (layers, sources, sinks: its DAG)."""
    dag = orient(graph)
    stats = {}

    def add(name, values):
        values = np.asarray(list(values), dtype=float)
        stats[f"{name}_mean"] = values.mean()
        stats[f"{name}_var"] = values.var()
        stats[f"{name}_std"] = values.std()

    stats["nodes"] = graph.number_of_nodes()
    stats["edges"] = graph.number_of_edges()
    stats["layers"] = sum(1 for _ in nx.topological_generations(dag))
    stats["sources"] = sum(1 for v in dag if dag.in_degree(v) == 0)
    stats["sinks"] = sum(1 for v in dag if dag.out_degree(v) == 0)
    stats["diameter"] = nx.diameter(graph)
    stats["density"] = nx.density(graph)
    stats["average_shortest_path"] = nx.average_shortest_path_length(graph)
    add("eccentricity", nx.eccentricity(graph).values())
    add("degree", dict(graph.degree).values())
    add("closeness", nx.closeness_centrality(graph).values())
    add("node_betweenness", nx.betweenness_centrality(graph).values())
    add("edge_betweenness", nx.edge_betweenness_centrality(graph).values())
    return [float(stats[name]) for name in FEATURES]


def reber_data(args):
    from sksparse.datasets import make_reber_classification

    strings, y = make_reber_classification(
        args.n_train + args.n_test,
        embedded=args.embedded,
        max_length=args.max_length,
        random_state=2021,
    )
    n = args.n_train
    return strings[:n], y[:n], strings[n:], y[n:]


def train_one(config, data, args):
    from sksparse import GraphPriorRNNClassifier

    X_train, y_train, X_test, y_test = data
    graph = make_graph(config["family"], config["index"])
    n = graph.number_of_nodes()
    if config["mapping"] == "layered":
        params = dict(hidden_size=n, prior=orient(graph), mapping="layered")
    else:
        params = dict(hidden_size=n, prior=graph, mapping="hidden")
    clf = GraphPriorRNNClassifier(
        config["cell"],
        **params,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        random_state=config["index"],
    )
    start = time.process_time()
    clf.fit(X_train, y_train)
    seconds = time.process_time() - start
    return {
        **config,
        "n": n,
        "test_accuracy": float(clf.score(X_test, y_test)),
        "train_accuracy": float(clf.score(X_train, y_train)),
        "n_recurrent_layers": len(getattr(clf.module_, "layers", [None])),
        "sparsity_": float(clf.sparsity_),
        "cpu_seconds": round(seconds, 3),
    }


def key_of(config, args):
    return json.dumps(
        [
            config,
            args.n_train,
            args.n_test,
            args.max_length,
            args.embedded,
            args.epochs,
            args.batch_size,
        ],
        sort_keys=True,
    )


def load_cache(path):
    cache = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                cache[record["key"]] = record
    return cache


def population(args):
    for index in range(args.per_family):
        for family in FAMILIES:
            for mapping in args.mappings:
                for cell in args.cells:
                    yield {
                        "cell": cell,
                        "mapping": mapping,
                        "family": family,
                        "index": index,
                    }


def _train_keyed(config, data, args, key):
    torch.set_num_threads(1)
    return {**train_one(config, data, args), "key": key}


def train_population(args):
    """Train what the cache lacks (``--jobs`` at once); every network's record."""
    from joblib import Parallel, delayed

    torch.set_num_threads(1)
    networks = args.out / "paper_reber.networks.jsonl"
    cache = load_cache(networks)
    configs = [(config, key_of(config, args)) for config in population(args)]
    missing = [(c, k) for c, k in configs if k not in cache]
    if missing and not args.no_train:
        data = reber_data(args)
        networks.parent.mkdir(parents=True, exist_ok=True)
        # Records come back as each network finishes and are appended by this
        # process alone, so an interrupted run keeps every finished network.
        done = Parallel(n_jobs=args.jobs, return_as="generator_unordered")(
            delayed(_train_keyed)(config, data, args, key) for config, key in missing
        )
        for record in done:
            with open(networks, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            cache[record["key"]] = record
            print(
                f"{record['mapping']:7s} {record['cell']:8s} "
                f"{record['family']:15s} #{record['index']:3d} n={record['n']:2d} "
                f"acc {record['test_accuracy']:.3f} ({record['cpu_seconds']:.1f} s)",
                flush=True,
            )
    return [cache[key] for _, key in configs if key in cache]


# -- the analysis --------------------------------------------------------------
def regressors():
    from sklearn.ensemble import AdaBoostRegressor, RandomForestRegressor
    from sklearn.linear_model import BayesianRidge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    return {
        "bayesian_ridge": lambda: make_pipeline(MinMaxScaler(), BayesianRidge()),
        "random_forest": lambda: make_pipeline(
            MinMaxScaler(), RandomForestRegressor(200, random_state=0, n_jobs=1)
        ),
        "adaboost": lambda: make_pipeline(
            MinMaxScaler(), AdaBoostRegressor(n_estimators=100, random_state=0)
        ),
    }


def _scores(y, pred):
    from scipy.stats import kendalltau
    from sklearn.metrics import r2_score

    tau = kendalltau(y, pred).statistic
    return float(r2_score(y, pred)), float(0.0 if np.isnan(tau) else tau)


def evaluate(X, y, make, folds):
    """R² and τ on one 90/10 split (the paper's) and over k-fold CV."""
    from sklearn.model_selection import KFold, cross_val_predict, train_test_split

    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.1, random_state=0)
    split_r2, split_tau = _scores(y_te, make().fit(X_tr, y_tr).predict(X_te))
    cv = KFold(folds, shuffle=True, random_state=0)
    pred = cross_val_predict(make(), X, y, cv=cv)
    fold_r2 = []
    for _, test in cv.split(X):
        fold_r2.append(_scores(y[test], pred[test])[0])
    cv_r2, cv_tau = _scores(y, pred)
    return {
        "split_r2": split_r2,
        "split_tau": split_tau,
        "cv_r2": cv_r2,
        "cv_r2_fold_mean": float(np.mean(fold_r2)),
        "cv_r2_fold_std": float(np.std(fold_r2)),
        "cv_tau": cv_tau,
        "cv_predictions": pred.tolist(),
    }


def analyse(records, args):
    features = {}
    rows = []
    for mapping in args.mappings:
        for group in [*args.cells, "pooled"]:
            subset = [
                r
                for r in records
                if r["mapping"] == mapping and (group == "pooled" or r["cell"] == group)
            ]
            if len(subset) < 2 * args.folds:
                continue
            y = np.array([r["test_accuracy"] for r in subset])
            full = []
            for r in subset:
                graph_key = (r["family"], r["index"])
                if graph_key not in features:
                    features[graph_key] = structural_features(make_graph(*graph_key))
                full.append(features[graph_key])
            full = np.array(full)
            family = np.array(
                [[r["family"] == "barabasi_albert"] for r in subset], float
            )
            size = full[:, [FEATURES.index("nodes"), FEATURES.index("edges")]]
            for inputs, X in (
                ("structure", full),
                ("family only", family),
                ("size only", size),
            ):
                for name, make in regressors().items():
                    result = evaluate(X, y, make, args.folds)
                    rows.append(
                        {
                            "mapping": mapping,
                            "group": group,
                            "features": inputs,
                            "regressor": name,
                            "n_networks": len(subset),
                            "accuracy_mean": float(y.mean()),
                            "accuracy_std": float(y.std()),
                            **result,
                            "y": y.tolist(),
                            "cells": [r["cell"] for r in subset],
                        }
                    )
    return rows


def write(rows, records, args, seconds):
    args.out.mkdir(parents=True, exist_ok=True)
    light = [
        {k: v for k, v in r.items() if k not in ("cv_predictions", "y", "cells")}
        for r in rows
    ]
    payload = {
        "benchmark": "paper_reber",
        "machine": machine(),
        "args": args_config(args),
        "features": list(FEATURES),
        "n_networks": len(records),
        "cpu_seconds_training_total": float(sum(r["cpu_seconds"] for r in records)),
        "seconds": seconds,
        "results": light,
        "accuracy_by_cell": {
            f"{m}/{c}": {
                "mean": float(np.mean(a)),
                "std": float(np.std(a)),
                "n": len(a),
            }
            for m in args.mappings
            for c in args.cells
            if (
                a := [
                    r["test_accuracy"]
                    for r in records
                    if r["mapping"] == m and r["cell"] == c
                ]
            )
        },
    }
    (args.out / "paper_reber.json").write_text(json.dumps(payload, indent=2) + "\n")
    write_csv(args.out / "paper_reber.csv", light)
    # README table: the best regressor per (mapping, group, features).
    best = {}
    for r in light:
        key = (r["mapping"], r["group"], r["features"])
        if key not in best or r["cv_r2"] > best[key]["cv_r2"]:
            best[key] = r
    table = []
    for mapping in args.mappings:
        for group in [*args.cells, "pooled"]:
            cells = [
                best.get((mapping, group, f))
                for f in ("structure", "family only", "size only")
            ]
            if cells[0] is None:
                continue
            s = cells[0]
            table.append(
                [
                    mapping,
                    group,
                    s["n_networks"],
                    f"{s['accuracy_mean']:.3f} ± {s['accuracy_std']:.3f}",
                    f"{s['split_r2']:.2f} / {s['split_tau']:.2f}",
                    f"{s['cv_r2']:.2f} / {s['cv_tau']:.2f} ({s['regressor']})",
                    *(f"{c['cv_r2']:.2f} / {c['cv_tau']:.2f}" for c in cells[1:]),
                ]
            )
    header = [
        "mapping",
        "cells",
        "networks",
        "accuracy",
        "90/10 R² / τ",
        "5-fold R² / τ (best)",
        "family only",
        "size only",
    ]
    (args.out / "paper_reber.md").write_text(
        "Best regressor by 5-fold R² per row (Bayesian ridge, random forest, "
        "AdaBoost on min-max scaled features); the 90/10 column is that "
        "regressor on the paper's single split; baselines: 5-fold R² / τ.\n\n"
        + markdown_table(header, table)
        + "\n"
    )
    plot(rows, best, args)


def plot(rows, best, args):
    plt = pyplot()

    full = {(r["mapping"], r["group"], r["features"], r["regressor"]): r for r in rows}
    fig, axes = plt.subplots(
        1, len(args.mappings), figsize=(5 * len(args.mappings), 4.2), squeeze=False
    )
    for ax, mapping in zip(axes[0], args.mappings):
        b = best.get((mapping, "pooled", "structure"))
        if b is None:
            continue
        r = full[(mapping, "pooled", "structure", b["regressor"])]
        y, pred, cells = np.array(r["y"]), np.array(r["cv_predictions"]), r["cells"]
        for cell in args.cells:
            sel = np.array([c == cell for c in cells])
            ax.scatter(y[sel], pred[sel], s=12, alpha=0.7, label=cell)
        lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(
            f"{mapping}: {b['regressor']}, 5-fold R² {b['cv_r2']:.2f}, "
            f"τ {b['cv_tau']:.2f}",
            fontsize=9,
        )
        ax.set_xlabel("true test accuracy")
        ax.set_ylabel("predicted (out of fold)")
        ax.legend(fontsize=7)
    save_figure(fig, args.out / "paper_reber.png")


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    records = train_population(args)
    rows = analyse(records, args)
    if not rows:
        sys.exit("too few trained networks to analyse; train more first.")
    write(rows, records, args, time.perf_counter() - start)
    print(open(args.out / "paper_reber.md").read())


if __name__ == "__main__":
    main()
