"""Structural performance prediction for graph-prior RNNs on the embedded Reber grammar.

Reproduces the last row of Stier, Darji & Granitzer (2021)'s table: train a
population of recurrent networks (vanilla RNN, GRU, LSTM) whose hidden
structure is drawn from random-graph priors of several families, parameters,
sparsities and widths, record each one's test performance and its graph, then
cross-validate :class:`sksparse.StructuralRegressor` (graph -> performance) per
cell type with five regressors, scoring R², Kendall τ and Spearman ρ on
held-out networks. The paper reports R² up to 0.81.

The same 100 structures per cell type learn two tasks on the embedded Reber
grammar:

- ``classification``: grammatical strings against ungrammatical ones (half
  with a mismatched second and second-to-last symbol, the long-range
  dependency; half with a local edit), by :class:`sksparse.GraphPriorRNNClassifier`
  with early stopping; performance is test accuracy.
- ``next-symbol``: the classic task of Hochreiter & Schmidhuber (1997): after
  each symbol, predict the set of legal next symbols; performance is the
  fraction of test steps predicted right. The same masked layers and priors,
  trained by a plain torch loop (the classifier reads one output per string).

Each trained network is appended to ``rnn_structure.networks.jsonl.gz`` (its
configuration, performance, cost and graph as an edge list) the moment it is
done, so an interrupted run resumes and a re-run trains only what is missing.

It also times the masked recurrent layers' forward + backward pass against a
dense ``torch.nn.LSTM`` of the same size and a Python-loop masked cell
(``--timing-only`` for just that), and GraphFeatures on 1000 graphs.

Writes ``benchmarks/results/rnn_structure.json`` (everything),
``rnn_structure.md`` (the README table) and ``rnn_structure.png``
(cross-validated predicted against true performance, per task and cell type).

Usage (``make bench-rnn`` runs the defaults)::

    python benchmarks/rnn_structure.py [--n-networks 100] [--cells rnn gru lstm]
        [--tasks classification next-symbol] [--max-epochs 40] [--n-train 800]
        [--ns-epochs 15] [--ns-train 400] [--no-train] [--timing-only]

One core (``torch.set_num_threads(1)``): the defaults train 600 networks
(300 structures, two tasks) in about 25 minutes of CPU time, measured and
written to the JSON (``cpu_seconds_training_total``).
"""

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    RESULTS,
    machine,
    markdown_table,
    pyplot,
    save_figure,
    write_json,
)

CELLS = ("rnn", "gru", "lstm")
TASKS = ("classification", "next-symbol")
# (family, prior_params) pairs the population cycles through; None draws
# uniform random masks, the no-structure baseline.
PRIORS = (
    ("erdos_renyi", {}),
    ("watts_strogatz", {"p": 0.0}),
    ("watts_strogatz", {"p": 0.1}),
    ("watts_strogatz", {"p": 0.5}),
    ("barabasi_albert", {}),
    ("random_regular", {}),
    ("newman_watts_strogatz", {"p": 0.3}),
    ("powerlaw_cluster", {"p": 0.5}),
    (None, {}),
)
HIDDEN_SIZES = (6, 10, 16, 24)
SPARSITY_RANGE = (0.1, 0.95)
# JSON lines, gzipped (a gzip file may grow by appended members).
NETWORKS_FILE = RESULTS / "rnn_structure.networks.jsonl.gz"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-networks", type=int, default=100, help="per cell type")
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    parser.add_argument("--n-train", type=int, default=800)
    parser.add_argument("--n-test", type=int, default=600)
    parser.add_argument("--max-length", type=int, default=20)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument(
        "--ns-train", type=int, default=400, help="next-symbol training strings"
    )
    parser.add_argument("--ns-epochs", type=int, default=15, help="next-symbol epochs")
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="analyse the cached networks only, train nothing",
    )
    return parser.parse_args(argv)


# -- the population ------------------------------------------------------------
def network_config(cell, index):
    """The structure of network ``index`` of a cell type (deterministic)."""
    rng = np.random.default_rng([CELLS.index(cell), index])
    family, params = PRIORS[index % len(PRIORS)]
    return {
        "cell": cell,
        "index": index,
        "prior": family,
        "prior_params": params,
        "hidden_size": int(rng.choice(HIDDEN_SIZES)),
        "sparsity": round(float(rng.uniform(*SPARSITY_RANGE)), 3),
        "random_state": int(rng.integers(2**31 - 1)),
    }


def network_key(config, task, args):
    if task == "classification":
        params = [args.n_train, args.n_test, args.max_length]
        params += [args.max_epochs, args.patience]
    else:
        params = [task, args.ns_train, args.n_test, args.max_length, args.ns_epochs]
    return json.dumps([config, params], sort_keys=True)


def reber_data(args):
    from sksparse.datasets import make_reber_classification

    strings, y = make_reber_classification(
        args.n_train + args.n_test,
        embedded=True,
        max_length=args.max_length,
        random_state=2021,
    )
    n = args.n_train
    return strings[:n], y[:n], strings[n:], y[n:]


def next_symbol_data(args):
    from sksparse.datasets import (
        encode_sequences,
        make_embedded_reber,
        reber_next_symbols,
    )

    strings = make_embedded_reber(
        args.ns_train + args.n_test, max_length=args.max_length, random_state=2021
    )
    X, lengths = encode_sequences(strings, one_hot=True)
    targets = np.zeros_like(X)
    for i, string in enumerate(strings):
        targets[i, : len(string)] = reber_next_symbols(string, embedded=True)
    X, targets, lengths = map(torch.as_tensor, (X, targets, lengths))
    n = args.ns_train
    return (X[:n], targets[:n], lengths[:n]), (X[n:], targets[n:], lengths[n:])


def _steps(lengths, width):
    return torch.arange(width)[None, :] < lengths[:, None]


def train_next_symbol(config, data, args):
    """Next-symbol prediction (Hochreiter & Schmidhuber 1997, experiment 1).

    After each symbol the network predicts the set of legal next symbols (7
    sigmoid outputs); a step is right when all 7 are. The structure is drawn as
    GraphPriorRNNClassifier draws it; the loop is plain torch, as skorch's
    classifier reads one output per sequence.
    """
    from sksparse.estimators._rnn import RecurrentSequenceNet, recurrent_prior_masks

    (X, targets, lengths), (X_test, targets_test, lengths_test) = data
    seed = config["random_state"]
    ih, hh = recurrent_prior_masks(
        7,
        config["hidden_size"],
        1,
        1.0 - config["sparsity"],
        prior=config["prior"],
        prior_params=config["prior_params"] or None,
        random_state=seed,
    )
    start = time.process_time()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = RecurrentSequenceNet(
            config["cell"],
            7,
            config["hidden_size"],
            7,
            ih_masks=[torch.as_tensor(m) for m in ih],
            hh_masks=[torch.as_tensor(m) for m in hh],
        )
        optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
        steps = _steps(lengths, X.shape[1]).float()
        for _ in range(args.ns_epochs):
            order = torch.randperm(len(X))
            for batch in order.split(32):
                logits = net.head(net.rnn(X[batch])[0])
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, targets[batch], reduction="none"
                ).mean(dim=-1)
                loss = (loss * steps[batch]).sum() / steps[batch].sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    seconds = time.process_time() - start
    with torch.no_grad():
        right = (net.head(net.rnn(X_test)[0]) > 0) == (targets_test > 0.5)
    right = right.all(dim=-1)
    real = _steps(lengths_test, X_test.shape[1])
    graph = net.to_graph()
    return {
        **config,
        "task": "next-symbol",
        "test_accuracy": float((right & real).sum() / real.sum()),
        "string_accuracy": float((right | ~real).all(dim=1).float().mean()),
        "sparsity_": float(net.rnn.sparsity),
        "epochs": args.ns_epochs,
        "cpu_seconds": round(seconds, 3),
        "n_nodes": graph.number_of_nodes(),
        "edges": [[int(u), int(v)] for u, v in graph.edges()],
    }


def train_one(config, data, args):
    from sksparse import GraphPriorRNNClassifier

    X_train, y_train, X_test, y_test = data
    clf = GraphPriorRNNClassifier(
        config["cell"],
        config["hidden_size"],
        prior=config["prior"],
        prior_params=config["prior_params"] or None,
        sparsity=config["sparsity"],
        max_epochs=args.max_epochs,
        lr=0.02,
        batch_size=64,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=args.patience,
        random_state=config["random_state"],
    )
    start = time.process_time()
    clf.fit(X_train, y_train)
    seconds = time.process_time() - start
    graph = clf.to_graph()
    nodes = sorted(graph)
    return {
        **config,
        "task": "classification",
        "test_accuracy": float(clf.score(X_test, y_test)),
        "train_accuracy": float(clf.score(X_train, y_train)),
        "sparsity_": float(clf.sparsity_),
        "epochs": len(clf.history_),
        "cpu_seconds": round(seconds, 3),
        "n_nodes": len(nodes),
        "edges": [[int(u), int(v)] for u, v in graph.edges()],
    }


def load_cache():
    cache = {}
    if NETWORKS_FILE.exists():
        with gzip.open(NETWORKS_FILE, "rt") as f:
            lines = f.read().splitlines()
        for line in lines:
            if line.strip():
                record = json.loads(line)
                cache[record["key"]] = record
    return cache


def train_population(args):
    """Records per task and cell: the cached ones, and the missing ones trained."""
    cache = load_cache()
    records = {task: {cell: [] for cell in args.cells} for task in args.tasks}
    todo = []
    for task in args.tasks:
        for cell in args.cells:
            for index in range(args.n_networks):
                config = network_config(cell, index)
                key = network_key(config, task, args)
                if key in cache:
                    records[task][cell].append(cache[key])
                else:
                    todo.append((task, cell, config, key))
    if args.no_train:
        todo = []
    if todo:
        print(f"training {len(todo)} networks ({len(cache)} cached)", flush=True)
    data = {}
    NETWORKS_FILE.parent.mkdir(parents=True, exist_ok=True)
    for n, (task, cell, config, key) in enumerate(todo):
        if task not in data:
            data[task] = (
                reber_data(args) if task == "classification" else next_symbol_data(args)
            )
        train = train_one if task == "classification" else train_next_symbol
        record = {"key": key, **train(config, data[task], args)}
        with gzip.open(NETWORKS_FILE, "at") as f:
            f.write(json.dumps(record) + "\n")
        records[task][cell].append(record)
        print(
            f"[{n + 1}/{len(todo)}] {task} {cell} #{config['index']} "
            f"{config['prior']} h={config['hidden_size']} s={config['sparsity']:.2f}: "
            f"acc {record['test_accuracy']:.3f}, {record['cpu_seconds']:.1f} s",
            flush=True,
        )
    for by_cell in records.values():
        for cell_records in by_cell.values():
            cell_records.sort(key=lambda r: r["index"])
    return records


def to_graph(record):
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(range(record["n_nodes"]))
    graph.add_edges_from(map(tuple, record["edges"]))
    return graph


# -- structural performance prediction -------------------------------------------
def make_regressors():
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import BayesianRidge, LinearRegression
    from sklearn.svm import SVR

    return {
        "linear": LinearRegression(),
        "bayesian_ridge": BayesianRidge(),
        "random_forest": RandomForestRegressor(n_estimators=300, random_state=0),
        "gradient_boosting": GradientBoostingRegressor(random_state=0),
        "svr": SVR(C=1.0, epsilon=0.01),
    }


def cross_validate_structure(records, folds):
    from sklearn.model_selection import KFold, cross_val_predict, cross_validate

    from sksparse import GraphFeatures, StructuralRegressor
    from sksparse.estimators import kendall_tau_scorer, spearman_scorer

    graphs = [to_graph(r) for r in records]
    y = np.array([r["test_accuracy"] for r in records])
    start = time.perf_counter()
    features = GraphFeatures().fit(graphs)
    X = features.transform(graphs)
    featurise_seconds = time.perf_counter() - start
    cv = KFold(folds, shuffle=True, random_state=0)
    scoring = {
        "r2": "r2",
        "kendall_tau": kendall_tau_scorer,
        "spearman": spearman_scorer,
    }
    results, predictions = {}, {}
    for name, regressor in make_regressors().items():
        # Features computed once: StructuralRegressor passes a feature array
        # through GraphFeatures, then scales and regresses, fold by fold.
        model = StructuralRegressor(regressor)
        scores = cross_validate(model, X, y, cv=cv, scoring=scoring)
        results[name] = {
            metric: {
                "mean": float(np.mean(scores[f"test_{metric}"])),
                "std": float(np.std(scores[f"test_{metric}"])),
            }
            for metric in scoring
        }
        predictions[name] = cross_val_predict(model, X, y, cv=cv)
    # How much the graph adds beyond its sparsity: the forest on density alone.
    column = list(features.get_feature_names_out()).index("density")
    density_only = cross_validate(
        StructuralRegressor(make_regressors()["random_forest"]),
        X[:, [column]],
        y,
        cv=cv,
        scoring=scoring,
    )
    results["random_forest_density_only"] = {
        metric: {
            "mean": float(np.mean(density_only[f"test_{metric}"])),
            "std": float(np.std(density_only[f"test_{metric}"])),
        }
        for metric in scoring
    }
    forest = StructuralRegressor(make_regressors()["random_forest"]).fit(X, y)
    importances = dict(
        zip(
            features.get_feature_names_out().tolist(),
            forest.regressor_.feature_importances_.tolist(),
        )
    )
    top = dict(sorted(importances.items(), key=lambda kv: -kv[1])[:8])
    return (
        results,
        predictions,
        y,
        {
            "featurise_seconds": featurise_seconds,
            "n_features": X.shape[1],
            "top_feature_importances": top,
        },
    )


def time_featurisation(graphs, n_graphs=1000):
    """CPU seconds of GraphFeatures on ``n_graphs`` network graphs, one process."""
    from sksparse import GraphFeatures

    graphs = (graphs * (n_graphs // len(graphs) + 1))[:n_graphs]
    start = time.process_time()
    GraphFeatures().fit_transform(graphs)
    seconds = time.process_time() - start
    return {
        "n_graphs": n_graphs,
        "mean_nodes": float(np.mean([g.number_of_nodes() for g in graphs])),
        "mean_edges": float(np.mean([g.number_of_edges() for g in graphs])),
        "cpu_seconds": seconds,
        "ms_per_graph": seconds / n_graphs * 1e3,
    }


# -- timing of the masked recurrent layers ---------------------------------------
def _loop_lstm(x, layer):
    """A masked LSTM cell stepped by a Python loop (the slow reference)."""
    hidden = layer.hidden_size
    w_ih = layer.weight_ih_l0 * layer.ih_mask_l0
    w_hh = layer.weight_hh_l0 * layer.hh_mask_l0
    bias = layer.bias_ih_l0 + layer.bias_hh_l0
    h = x.new_zeros(len(x), hidden)
    c = x.new_zeros(len(x), hidden)
    outputs = []
    for t in range(x.shape[1]):
        gates = x[:, t] @ w_ih.T + h @ w_hh.T + bias
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1)


def _time(forward, repeats):
    """Milliseconds of CPU time per forward + backward, best of 5 rounds.

    The best round, not the mean: on a shared machine the others' load only
    ever adds time.
    """

    def step():
        forward().sum().backward()

    for _ in range(3):
        step()
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(repeats):
            step()
        rounds.append((time.process_time() - start) / repeats * 1e3)
    return min(rounds)


def _time_one_size(hidden, repeats):
    from sksparse.nn import MaskedLSTM

    x = torch.randn(64, 20, 7)
    hh = (torch.rand(hidden, hidden) < 0.2).float()
    masked = MaskedLSTM(7, hidden, hh_masks=[hh])
    dense = torch.nn.LSTM(7, hidden, batch_first=True)
    return {
        "hidden_size": hidden,
        "batch": 64,
        "steps": 20,
        "dense_nn_lstm_ms": _time(lambda: dense(x)[0], repeats),
        "masked_lstm_fused_ms": _time(lambda: masked(x)[0], repeats),
        "masked_python_loop_ms": _time(lambda: _loop_lstm(x, masked), repeats),
    }


def time_recurrent_layers(repeats=20):
    torch.manual_seed(0)
    rows = []
    for hidden in (16, 64, 256):
        rows.append(_time_one_size(hidden, repeats))
        print(rows[-1], flush=True)
    return rows


# -- output ----------------------------------------------------------------------
def plot(predictions, truth, cv, path):
    """Cross-validated predicted against true accuracy: a row per task."""
    plt = pyplot()

    tasks = list(predictions)
    cells = list(next(iter(predictions.values())))
    fig, axes = plt.subplots(
        len(tasks),
        len(cells),
        figsize=(4.2 * len(cells), 4.0 * len(tasks)),
        squeeze=False,
    )
    for row, task in zip(axes, tasks):
        for ax, cell in zip(row, cells):
            y = truth[task][cell]
            results = cv[task][cell]
            best = max(predictions[task][cell], key=lambda n: results[n]["r2"]["mean"])
            pred = predictions[task][cell][best]
            ax.scatter(y, pred, s=14, alpha=0.7)
            low, high = min(y.min(), pred.min()), max(y.max(), pred.max())
            ax.plot([low, high], [low, high], "k--", lw=1)
            r2 = results[best]["r2"]["mean"]
            ax.set_title(f"{task}, {cell.upper()}: {best}\nCV R² = {r2:.2f}")
            ax.set_xlabel("true test accuracy")
            ax.set_ylabel("predicted from the graph alone")
    save_figure(fig, path, dpi=100)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    payload = {"machine": machine()}
    timing_path = RESULTS / "rnn_structure.json"
    previous = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    if args.timing_only or "timing" not in previous:
        payload["timing"] = time_recurrent_layers()
    else:
        payload["timing"] = previous["timing"]
    if args.timing_only:
        write_json("rnn_structure.json", {**previous, **payload})
        return
    records = train_population(args)
    payload["tasks"] = {
        "classification": {
            "data": "embedded Reber strings, grammatical or not "
            "(make_reber_classification(embedded=True, random_state=2021)); half "
            "of the negatives close with the wrong one of T/P (the long-range "
            "dependency), half carry a local edit",
            "performance": "test accuracy of GraphPriorRNNClassifier",
            "n_train": args.n_train,
            "n_test": args.n_test,
            "max_length": args.max_length,
            "training": f"Adam lr=0.02, batch 64, at most {args.max_epochs} epochs, "
            f"early stopping on 10 % held out (patience {args.patience})",
        },
        "next-symbol": {
            "data": "embedded Reber strings (make_embedded_reber, random_state="
            "2021); targets: the legal next symbols after each prefix "
            "(reber_next_symbols(embedded=True))",
            "performance": "fraction of test steps whose 7 next-symbol outputs "
            "are all right (string_accuracy: all steps of a string)",
            "n_train": args.ns_train,
            "n_test": args.n_test,
            "max_length": args.max_length,
            "training": f"Adam lr=0.02, batch 32, {args.ns_epochs} epochs",
        },
    }
    payload["structures"] = {
        "priors": [[p, params] for p, params in PRIORS],
        "hidden_sizes": HIDDEN_SIZES,
        "sparsity_range": SPARSITY_RANGE,
        "note": "network i of a cell type has the same structure in both tasks",
    }
    payload["population"], payload["cv"], payload["features"] = {}, {}, {}
    predictions, truth = {}, {}
    for task, by_cell in records.items():
        for cell, cell_records in by_cell.items():
            if len(cell_records) < 2 * args.folds:
                continue
            accuracy = np.array([r["test_accuracy"] for r in cell_records])
            seconds = np.array([r["cpu_seconds"] for r in cell_records])
            payload["population"].setdefault(task, {})[cell] = {
                "n_networks": len(cell_records),
                "test_accuracy_mean": float(accuracy.mean()),
                "test_accuracy_min": float(accuracy.min()),
                "test_accuracy_max": float(accuracy.max()),
                "test_accuracy_std": float(accuracy.std()),
                "cpu_seconds_total": float(seconds.sum()),
                "cpu_seconds_per_network": float(seconds.mean()),
            }
            results, preds, y, info = cross_validate_structure(cell_records, args.folds)
            payload["cv"].setdefault(task, {})[cell] = results
            payload["features"].setdefault(task, {})[cell] = info
            predictions.setdefault(task, {})[cell] = preds
            truth.setdefault(task, {})[cell] = y
    payload["cpu_seconds_training_total"] = float(
        sum(
            r["cpu_seconds"]
            for by_cell in records.values()
            for cell_records in by_cell.values()
            for r in cell_records
        )
    )
    graphs = [
        to_graph(r)
        for by_cell in records.values()
        for cell_records in by_cell.values()
        for r in cell_records
    ]
    if graphs:
        payload["featurisation"] = time_featurisation(graphs)
    write_json("rnn_structure.json", payload)
    if predictions:
        plot(predictions, truth, payload["cv"], RESULTS / "rnn_structure.png")
        write_markdown(payload, args.folds)
    print(json.dumps({"population": payload["population"]}, indent=1))
    print((RESULTS / "rnn_structure.md").read_text() if predictions else "")


def write_markdown(payload, folds):
    rows = []
    for task, by_cell in payload["cv"].items():
        for cell, results in by_cell.items():
            for name, scores in results.items():
                rows.append(
                    [
                        task,
                        cell.upper(),
                        name.replace("_", " "),
                        f"{scores['r2']['mean']:.2f} ± {scores['r2']['std']:.2f}",
                        f"{scores['kendall_tau']['mean']:.2f}",
                        f"{scores['spearman']['mean']:.2f}",
                    ]
                )
    table = markdown_table(
        [
            "task",
            "cell",
            "regressor",
            f"R² ({folds}-fold CV)",
            "Kendall τ",
            "Spearman ρ",
        ],
        rows,
    )
    timing = markdown_table(
        ["hidden", "dense nn.LSTM", "MaskedLSTM (fused)", "masked Python loop"],
        [
            [
                t["hidden_size"],
                f"{t['dense_nn_lstm_ms']:.1f} ms",
                f"{t['masked_lstm_fused_ms']:.1f} ms",
                f"{t['masked_python_loop_ms']:.1f} ms",
            ]
            for t in payload["timing"]
        ],
    )
    (RESULTS / "rnn_structure.md").write_text(table + "\n\n" + timing + "\n")


if __name__ == "__main__":
    main()
