"""The ``sksparse`` command: parse, call the public API, print.

Each subcommand validates its arguments (a bad one is a one-line error and
exit status 2), runs an experiment of :mod:`sksparse.experiments` with a
progress bar, writes every finished result at once to ``--out`` as JSON and
CSV (so Ctrl-C keeps them; exit status 130), draws its plots there as PNG with
:mod:`sksparse.plotting` and ends with a summary table.
"""

import argparse
import contextlib
import re
import signal
import sys
import threading
import time
from pathlib import Path

__all__ = ["build_parser", "main"]

_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


class _Interrupted(BaseException):
    """Ctrl-C during a run.

    Not a ``KeyboardInterrupt``: skorch's ``fit`` swallows those (it ends the
    training early and returns), so a half-trained network would be recorded
    as finished and the run would go on; scikit-learn's ``_fit_and_score``
    catches only ``Exception``, so this one stops a search too.
    """


# Set by the SIGINT handler as well as raising: a signal that lands inside a
# finaliser (``__del__``) has its exception swallowed by Python, so the loops
# also check this flag after every finished row.
_CTRL_C = threading.Event()


def _check_ctrl_c():
    if _CTRL_C.is_set():
        raise _Interrupted


@contextlib.contextmanager
def _stop_on_ctrl_c():
    def stop(signum, frame):
        _CTRL_C.set()
        raise _Interrupted

    _CTRL_C.clear()

    try:
        previous = signal.signal(signal.SIGINT, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- argument types: checked before anything heavy is imported ---------------
def _int(text, low):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}")
    return value


def _positive_int(text):
    return _int(text, 1)


def _non_negative_int(text):
    return _int(text, 0)


def _fraction(text):
    """A float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a float in [0, 1), got {text!r}")
    return value


def _amount(text):
    """A sparsity in (0, 1)."""
    try:
        value = _fraction(text)
    except argparse.ArgumentTypeError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a float in (0, 1), got {text!r}")
    return value


def _open_unit(text):
    """A float in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a float in (0, 1], got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a float > 0, got {text!r}")
    return value


def _layer_sizes(text):
    """Hidden layer widths written ``300,100``."""
    try:
        sizes = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected widths such as 300,100, got {text!r}"
        )
    return sizes


def _device(text):
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(
            f"expected cpu, cuda, cuda:N or mps, got {text!r}"
        )
    return text


# -- output helpers -----------------------------------------------------------
def _progress(args, total, desc, unit="run"):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        # None: shown on a terminal, left out of logs and pipes.
        disable=True if args.quiet else None,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _save(ax, path):
    """Save the figure of ``ax`` (or of an array of Axes) and close it."""
    import matplotlib.pyplot as plt
    import numpy as np

    figure = np.ravel(ax)[0].figure
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return path


def _use_agg():
    # The command only writes files: never open a window.
    import matplotlib

    matplotlib.use("Agg", force=True)


def _say(args, text):
    if not args.quiet:
        print(text)


def _finish(args, rows, columns, written, *, interrupted, extra=()):
    """The summary table, ``extra`` lines and where the results are."""
    from sksparse.experiments import format_table

    print()
    print(format_table(rows, columns))
    for line in extra:
        print(line)
    print()
    for path in written:
        print(f"wrote {path}")
    if interrupted:
        print(
            f"interrupted: {len(rows)} finished result(s) kept in {args.out}",
            file=sys.stderr,
        )
        return 130
    return 0


def _run_rows(args, rows, writer, bar, describe):
    """Write each row as it arrives; True if Ctrl-C stopped the run."""
    try:
        for row in rows:
            writer.add(row)
            bar.update(1)
            bar.write(describe(row), file=sys.stdout)
            _check_ctrl_c()
    except (_Interrupted, KeyboardInterrupt):
        writer.flush()  # in case Ctrl-C came while the files were written
        return True
    finally:
        bar.close()
    return False


def _load_data(args):
    from sksparse.experiments import load_dataset

    X, y, X_test, y_test = load_dataset(
        args.data, n_samples=args.n_samples, root=args.root, random_state=args.seed
    )
    _say(
        args,
        f"data: {args.data} ({len(X)} train / {len(X_test)} test samples, "
        f"{X.shape[1]} features)",
    )
    return X, y, X_test, y_test


def _sweep(args, *, methods, sparsities, name, title, save_models):
    """A sparsity sweep with its table, files and plot (demo and prune)."""
    from sksparse.experiments import ResultsWriter, sparsity_sweep
    from sksparse.plotting import plot_accuracy_vs_compression

    _use_agg()
    X, y, X_test, y_test = _load_data(args)
    out = Path(args.out)
    settings = {
        k: v for k, v in vars(args).items() if k not in ("func", "quiet", "verbose")
    }
    writer = ResultsWriter(out, name, meta={"command": args.command, **settings})
    n_runs = ("dense" in methods) + len([m for m in methods if m != "dense"]) * len(
        sparsities
    )
    rows = sparsity_sweep(
        X,
        y,
        X_test,
        y_test,
        methods=methods,
        sparsities=sparsities,
        hidden_layer_sizes=args.hidden,
        max_epochs=args.epochs,
        retrain_epochs=getattr(args, "retrain_epochs", 5),
        schedule=getattr(args, "schedule", None),
        lr=args.lr,
        batch_size=args.batch_size,
        random_state=args.seed,
        device=args.device,
        n_jobs=args.n_jobs,
        verbose=int(args.verbose),
        save_dir=out / "models" if save_models else None,
    )
    _say(args, title)
    bar = _progress(args, n_runs, args.command)
    interrupted = _run_rows(
        args,
        rows,
        writer,
        bar,
        lambda r: (
            f"  {r['method']:<18} sparsity {r['sparsity']:.2f}  "
            f"accuracy {r['accuracy']:.3f}  ({r['fit_seconds']:.1f} s)"
        ),
    )
    written = [writer.json_path, writer.csv_path]
    if writer.rows:
        ax = plot_accuracy_vs_compression(
            [
                {**r, "method": f"{r['kind']}: {r['method']}"}
                if r["kind"] != "dense"
                else r
                for r in writer.rows
            ]
        )
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel("test accuracy")
        written.append(_save(ax, out / "accuracy_vs_compression.png"))
    columns = ["method", "target_sparsity", "sparsity", "accuracy", "fit_seconds"]
    return _finish(args, writer.rows, columns, written, interrupted=interrupted)


# -- subcommands --------------------------------------------------------------
def _demo(args):
    methods = ["dense", "uniform", "watts_strogatz", "barabasi_albert", "class-blinded"]
    title = (
        f"SparseMLPClassifier {'-'.join(map(str, args.hidden))} on digits: "
        "sparse priors vs magnitude pruning"
    )
    return _sweep(
        args,
        methods=methods,
        sparsities=args.sparsities,
        name="results",
        title=title,
        save_models=False,
    )


def _prune(args):
    methods = list(dict.fromkeys(args.method))
    if not args.no_baseline:
        methods.insert(0, "dense")
    title = (
        f"{', '.join(args.method)} on {Path(str(args.data)).name}, "
        f"{args.epochs} + {args.retrain_epochs} re-training epochs"
    )
    return _sweep(
        args,
        methods=methods,
        sparsities=args.amount,
        name="pruning",
        title=title,
        save_models=args.save_models,
    )


def _rnn_structure(args):
    import numpy as np

    from sksparse.experiments import (
        ResultsWriter,
        predict_from_structure,
        reber_population,
    )
    from sksparse.plotting import plot_predicted_vs_true, plot_structure

    _use_agg()
    out = Path(args.out)
    settings = {
        k: v for k, v in vars(args).items() if k not in ("func", "quiet", "verbose")
    }
    writer = ResultsWriter(out, "networks", meta={"command": args.command, **settings})
    population = reber_population(
        cells=args.cells,
        priors=args.priors,
        n_networks=args.n_networks,
        hidden_sizes=args.hidden_sizes,
        sparsity=tuple(args.sparsity_range),
        embedded=args.embedded,
        n_samples=args.n_samples,
        max_length=args.max_length,
        max_epochs=args.epochs,
        lr=args.lr,
        early_stopping=not args.no_early_stopping,
        random_state=args.seed,
        device=args.device,
        n_jobs=args.n_jobs,
        verbose=int(args.verbose),
    )
    grammar = "embedded Reber" if args.embedded else "Reber"
    _say(
        args,
        f"training {args.n_networks} graph-prior networks per cell "
        f"({', '.join(args.cells)}) on the {grammar} grammar",
    )
    graphs = []

    def rows():
        for row, graph in population:
            graphs.append(graph)
            yield row

    bar = _progress(args, args.n_networks * len(args.cells), args.command, "net")
    interrupted = _run_rows(
        args,
        rows(),
        writer,
        bar,
        lambda r: (
            f"  {r['cell']:<5} {r['prior']:<16} sparsity {r['sparsity']:.2f}  "
            f"accuracy {r['accuracy']:.3f}"
        ),
    )
    written = [writer.json_path, writer.csv_path]
    if graphs:
        ax = plot_structure(graphs[0])
        first = writer.rows[0]
        ax.set_title(
            f"{first['cell']} with a {first['prior']} prior, sparsity "
            f"{first['sparsity']:.2f}: " + ax.get_title(),
            fontsize="medium",
        )
        written.append(_save(ax, out / "structure.png"))
    metrics = []
    if not interrupted and len(graphs) >= 4:
        scores = [r["accuracy"] for r in writer.rows]
        cells = [r["cell"] for r in writer.rows]
        result = predict_from_structure(
            graphs,
            scores,
            cells,
            regressor=args.regressor,
            cv=args.cv,
            random_state=args.seed,
            n_jobs=args.n_jobs,
        )
        metrics = result["metrics"]
        for row, value in zip(writer.rows, result["predicted"]):
            row["predicted_accuracy"] = float(value)
        writer.flush()
        predictions = ResultsWriter(out, "prediction", meta=settings)
        for row in metrics:
            predictions.add(row)
        written += [predictions.json_path, predictions.csv_path]
        ok = np.isfinite(result["predicted"])
        if ok.any():
            ax = plot_predicted_vs_true(
                np.asarray(scores)[ok],
                result["predicted"][ok],
                groups=np.asarray(cells)[ok],
                label="test accuracy",
            )
            ax.set_title(
                f"{args.regressor} on structural features, {grammar}: "
                + ax.get_title(),
                fontsize="medium",
            )
            written.append(_save(ax, out / "predicted_vs_true.png"))
    extra = []
    if metrics:
        from sksparse.experiments import format_table

        columns = ["group", "regressor", "n", "r2", "kendall_tau", "spearman"]
        extra = [
            "",
            "test accuracy predicted from structure alone (out-of-fold):",
            format_table(metrics, columns),
        ]
    return _finish(
        args,
        writer.rows,
        ["cell", "prior", "sparsity", "accuracy", "n_edges"],
        written,
        interrupted=interrupted,
        extra=extra,
    )


def _search(args):
    import joblib

    from sksparse.experiments import ResultsWriter, genetic_search
    from sksparse.plotting import plot_search_progress

    _use_agg()
    X, y, X_test, y_test = _load_data(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = Path(args.checkpoint or out / "search-checkpoint.pkl")
    if args.restart and checkpoint.exists():
        checkpoint.unlink()
    elif checkpoint.exists():
        _say(args, f"resuming from {checkpoint}")
    settings = {
        k: v for k, v in vars(args).items() if k not in ("func", "quiet", "verbose")
    }
    writer = ResultsWriter(
        out, "individuals", meta={"command": args.command, **settings}
    )
    generations = genetic_search(
        X,
        y,
        population_size=args.population_size,
        generations=args.generations,
        predictor=None if args.predictor == "none" else args.predictor,
        screen_ratio=args.screen_ratio,
        cv=args.cv,
        max_layers=args.max_layers,
        max_units=args.max_units,
        max_epochs=args.epochs,
        checkpoint=checkpoint,
        random_state=args.seed,
        device=args.device,
        n_jobs=args.n_jobs,
        verbose=int(args.verbose),
    )
    _say(
        args,
        f"genetic search: {args.generations} generations of {args.population_size}"
        f" sparse MLPs, {args.cv}-fold cross-validation, predictor: {args.predictor}",
    )
    bar = _progress(args, args.generations, args.command, "generation")
    search = None
    interrupted = False
    try:
        for rows, fitted in generations:
            search = fitted
            for row in rows:
                writer.add(row)
            bar.update(1)
            scores = [r["mean_test_score"] for r in writer.rows if r["trained"]]
            bar.write(
                f"  generation {rows[0]['generation'] if rows else '?'}: "
                f"{sum(r['trained'] for r in rows)} trained, "
                f"{sum(not r['trained'] for r in rows)} predicted, "
                f"best so far {max(scores, default=float('nan')):.3f}",
                file=sys.stdout,
            )
            _check_ctrl_c()
    except (_Interrupted, KeyboardInterrupt):
        writer.flush()
        interrupted = True
    except ValueError as exc:
        if "checkpoint" not in str(exc):
            raise
        raise ValueError(
            f"{exc} ('sksparse search --restart' starts afresh.)"
        ) from None
    finally:
        bar.close()
    written = [writer.json_path, writer.csv_path]
    if writer.rows:
        ax = plot_search_progress(writer.rows)
        ax.set_title(
            f"genetic search on {Path(str(args.data)).name}", fontsize="medium"
        )
        written.append(_save(ax, out / "search_progress.png"))
    extra = []
    if search is not None and hasattr(search, "best_estimator_"):
        model_path = out / "best_model.joblib"
        joblib.dump(search.best_estimator_, model_path)
        written.append(model_path)
        best = ", ".join(
            f"{k}={_short(v)}" for k, v in sorted(search.best_params_.items())
        )
        extra = [
            "",
            f"best: {best}",
            f"cv score {search.best_score_:.3f}, "
            f"test accuracy {search.score(X_test, y_test):.3f}",
        ]
    rows = sorted(
        (r for r in writer.rows if r["trained"]),
        key=lambda r: -r["mean_test_score"],
    )[:10]
    columns = ["generation", "hidden_layer_sizes", "sparsity", "prior", "lr"]
    return _finish(
        args,
        rows,
        [*columns, "mean_test_score"],
        written,
        interrupted=interrupted,
        extra=extra,
    )


def _short(value):
    """A parameter value for a summary line: floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return value


_STRUCTURE_SUMMARY = (
    "number_of_nodes",
    "number_of_edges",
    "density",
    "in_degree_mean",
    "out_degree_mean",
    "number_of_sources",
    "number_of_sinks",
    "average_clustering",
    "dag_longest_path_length",
    "spectral_radius",
)


def _report(args):
    import json

    from sksparse.experiments import (
        ResultsWriter,
        _jsonable,
        format_table,
        load_model,
        model_report,
    )
    from sksparse.plotting import plot_structure

    _use_agg()
    model = load_model(args.model)
    X_test = y_test = None
    if args.data is not None:
        _, _, X_test, y_test = _load_data(args)
    report = model_report(model, X_test)
    if X_test is not None and hasattr(model, "score"):
        report["test_accuracy"] = float(model.score(X_test, y_test))
    out = Path(args.out)
    layers = ResultsWriter(out, "layers", meta={"model": str(args.model)})
    for row in report["layers"]:
        layers.add(row)
    report_path = out / "report.json"
    report_path.write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    written = [report_path, layers.csv_path]
    if not args.no_plot:
        ax = plot_structure(model)
        written.append(_save(ax, out / "structure.png"))

    print(f"{args.model}: {report['model']}")
    print()
    print(format_table(report["layers"]))
    compression = report["compression"]
    print()
    print("compression (ShrinkBench's terms):")
    keys = [
        "size",
        "size_nz",
        "compression_ratio",
        "flops",
        "flops_nz",
        "theoretical_speedup",
        "bytes",
        "bytes_compressed",
        "removed_neurons",
        "measured_speedup",
    ]
    rows = [
        {"measure": k, "value": compression[k]}
        for k in keys
        if compression.get(k) is not None
    ]
    print(format_table(rows, floatfmt=".4g"))
    if "error" in compression:
        print(f"no compact inference form: {compression['error']}")
    if "test_accuracy" in report:
        print(f"\ntest accuracy: {report['test_accuracy']:.4f}")
    print()
    print("structure (sksparse.graphs.structural_features):")
    structure = report["structure"]
    rows = [
        {"feature": k, "value": structure[k]}
        for k in _STRUCTURE_SUMMARY
        if k in structure
    ]
    print(format_table(rows, floatfmt=".4g"))
    print()
    for path in written:
        print(f"wrote {path}")
    return 0


def _graph(args):
    from sksparse.experiments import export_graph, load_model

    model = load_model(args.model)
    graph = export_graph(model, args.output, weights=args.weights)
    print(
        f"wrote {args.output}: {graph.number_of_nodes()} neurons, "
        f"{graph.number_of_edges()} connections"
    )
    return 0


# -- the parser -----------------------------------------------------------------
def _common(parser, command, *, out=True):
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--seed", type=int, default=0, help="seeds data splits, structures, weights"
    )
    group.add_argument(
        "--device", type=_device, default="cpu", help="torch device: cpu, cuda, cuda:N"
    )
    group.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="runs in parallel through joblib (-1: all cores)",
    )
    if out:
        group.add_argument(
            "--out",
            default=f"sksparse-results/{command}",
            help="folder for the JSON, CSV and PNG files (default: %(default)s)",
        )
    group.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch threads per process (default: 1; small sparse networks gain "
        "little from more: use --n-jobs to run several at once)",
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar or messages"
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print skorch's epoch table and its per-epoch progress bar",
    )


def _data_options(parser, default="digits"):
    parser.add_argument(
        "--data",
        default=default,
        help="digits, fashion-mnist, mnist, or a .npz (X_train, y_train, X_test, "
        "y_test) or .csv file (header row; target column named target, label, y "
        "or class, else the last; optional split column train/test)"
        + (f" (default: {default})" if default else ""),
    )
    parser.add_argument(
        "--root", default=None, help="folder of the MNIST/Fashion-MNIST files"
    )
    parser.add_argument(
        "--n-samples",
        type=_positive_int,
        default=None,
        help="use only this many training samples (and proportionally fewer test)",
    )


def _mlp_options(parser, *, hidden, epochs, lr):
    parser.add_argument(
        "--hidden",
        type=_layer_sizes,
        default=hidden,
        help="hidden layer widths, e.g. 300,100 (default: "
        f"{','.join(map(str, hidden))})",
    )
    parser.add_argument(
        "--epochs", type=_positive_int, default=epochs, help="training epochs"
    )
    parser.add_argument("--lr", type=_positive_float, default=lr, help="learning rate")
    parser.add_argument("--batch-size", type=_positive_int, default=128)


def build_parser():
    """The argument parser of the ``sksparse`` command."""
    from sksparse import __version__

    parser = _Parser(
        prog="sksparse",
        description="Sparse neural networks for scikit-learn: run the experiments "
        "of sksparse from the shell.",
        epilog="Run 'sksparse COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    demo = sub.add_parser(
        "demo",
        help="dense vs sparse priors vs pruning on the bundled digits (~1 minute)",
        description="Train a dense MLP, MLPs sparse from a prior (uniform, "
        "Watts-Strogatz, Barabasi-Albert) and magnitude-pruned MLPs "
        "(class-blinded, re-trained) at a few sparsities on scikit-learn's "
        "digits; print a table and plot accuracy against compression.",
    )
    demo.add_argument(
        "--sparsities",
        type=_amount,
        nargs="+",
        default=[0.8, 0.9, 0.95],
        help="sparsities to compare (default: 0.8 0.9 0.95)",
    )
    demo.add_argument(
        "--n-samples",
        type=_positive_int,
        default=None,
        help="use only this many training samples",
    )
    _mlp_options(demo, hidden=(128, 64), epochs=15, lr=1e-2)
    demo.set_defaults(func=_demo, data="digits", root=None, retrain_epochs=5)
    _common(demo, "demo")

    from sksparse.experiments import PRUNING_METHODS, REGRESSORS, sweep_methods

    methods = sweep_methods()
    others = [m for kind in ("prior", "sparse-training") for m in methods[kind]]
    prune = sub.add_parser(
        "prune",
        help="fit, prune and re-train at several amounts; accuracy vs compression",
        description="Fit a dense MLP, prune it with each method to each amount "
        "(cumulative sparsity against the dense size), re-train, and compare "
        "test accuracy against compression with the dense network. Priors "
        "and sparse-training methods can be compared in the same run.",
    )
    _data_options(prune)
    prune.add_argument(
        "--method",
        nargs="+",
        default=["class-blinded"],
        choices=[*PRUNING_METHODS, *others],
        metavar="METHOD",
        help=f"pruning methods: {', '.join(PRUNING_METHODS)}; or, to compare, "
        f"priors and sparse training: {', '.join(others)} "
        "(default: class-blinded)",
    )
    prune.add_argument(
        "--amount",
        type=_amount,
        nargs="+",
        default=[0.8],
        help="target sparsities, fractions of the weights removed (default: 0.8)",
    )
    prune.add_argument(
        "--retrain-epochs",
        type=_non_negative_int,
        default=5,
        help="epochs of re-training after pruning (default: 5)",
    )
    prune.add_argument(
        "--schedule",
        choices=["one-shot", "iterative", "gradual"],
        default=None,
        help="pruning schedule (default: one-shot)",
    )
    prune.add_argument(
        "--no-baseline", action="store_true", help="skip the dense network's row"
    )
    prune.add_argument(
        "--save-models",
        action="store_true",
        help="save every fitted model to OUT/models/METHOD-AMOUNT.joblib",
    )
    _mlp_options(prune, hidden=(300, 100), epochs=10, lr=5e-3)
    prune.set_defaults(func=_prune)
    _common(prune, "prune")

    rnn = sub.add_parser(
        "rnn-structure",
        help="graph-prior RNNs on the Reber grammar; predict accuracy from structure",
        description="Train a population of recurrent networks whose hidden "
        "structure a random graph draws, on the Reber grammar, then predict each "
        "network's test accuracy from its graph alone (StructuralRegressor, "
        "cross-validated per cell type) and report R2, Kendall tau, Spearman rho.",
    )
    rnn.add_argument(
        "--cells",
        nargs="+",
        choices=["rnn", "gru", "lstm"],
        default=["rnn", "gru", "lstm"],
        help="cell types (default: all three)",
    )
    rnn.add_argument(
        "--priors",
        nargs="+",
        choices=list(methods["prior"]),
        default=["erdos_renyi", "watts_strogatz", "barabasi_albert"],
        metavar="PRIOR",
        help=f"priors, cycled through: {', '.join(methods['prior'])}",
    )
    rnn.add_argument(
        "--n-networks",
        type=_positive_int,
        default=20,
        help="networks per cell type (default: 20)",
    )
    rnn.add_argument(
        "--hidden-sizes",
        type=_positive_int,
        nargs="+",
        default=[6, 10, 16],
        help="hidden widths the networks are drawn from (default: 6 10 16)",
    )
    rnn.add_argument(
        "--sparsity-range",
        type=_fraction,
        nargs=2,
        default=[0.1, 0.9],
        metavar=("LOW", "HIGH"),
        help="sparsities drawn from this range",
    )
    rnn.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded Reber grammar (long-range memory)",
    )
    rnn.add_argument(
        "--n-samples",
        type=_positive_int,
        default=1200,
        help="strings generated, 2/3 to train, 1/3 to test",
    )
    rnn.add_argument("--max-length", type=_positive_int, default=20)
    rnn.add_argument("--epochs", type=_positive_int, default=30)
    rnn.add_argument("--lr", type=_positive_float, default=2e-2)
    rnn.add_argument(
        "--no-early-stopping",
        action="store_true",
        help="train every network for --epochs (default: stop when a held-out "
        "tenth of the training strings stops improving)",
    )
    rnn.add_argument(
        "--regressor",
        choices=REGRESSORS,
        default="forest",
        help="regressor behind the structural features",
    )
    rnn.add_argument(
        "--cv",
        type=_positive_int,
        default=5,
        help="cross-validation folds of the prediction",
    )
    rnn.set_defaults(func=_rnn_structure)
    _common(rnn, "rnn-structure")

    search = sub.add_parser(
        "search",
        help="genetic search over sparse MLP structures (resumable)",
        description="Evolve sparse MLPs (layer sizes, sparsity, prior, learning "
        "rate) with GeneticSearchCV, optionally screening offspring with a "
        "structural performance predictor. The search is checkpointed after "
        "every generation; running the same command again resumes it.",
    )
    _data_options(search)
    search.add_argument("--population-size", type=_positive_int, default=8)
    search.add_argument("--generations", type=_positive_int, default=4)
    search.add_argument(
        "--predictor",
        choices=["none", "auto", "structural"],
        default="none",
        help="screen offspring with a performance predictor: auto (structure, "
        "hyper-parameters and a one-epoch probe) or structural (structure "
        "alone, StructuralRegressor); none trains every individual",
    )
    search.add_argument(
        "--screen-ratio",
        type=_open_unit,
        default=0.5,
        help="share of offspring the predictor lets train",
    )
    search.add_argument("--cv", type=_positive_int, default=3)
    search.add_argument(
        "--epochs", type=_positive_int, default=5, help="epochs per individual"
    )
    search.add_argument("--max-layers", type=_positive_int, default=3)
    search.add_argument("--max-units", type=_positive_int, default=256)
    search.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint file (default: OUT/search-checkpoint.pkl)",
    )
    search.add_argument(
        "--restart",
        action="store_true",
        help="discard an existing checkpoint and start afresh",
    )
    search.set_defaults(func=_search)
    _common(search, "search")

    report = sub.add_parser(
        "report",
        help="compression report and structure summary of a saved model",
        description="Load a model saved with joblib.dump and report its size "
        "and sparsity per layer, ShrinkBench's compression measures and a "
        "summary of its structure as a graph.",
    )
    report.add_argument("model", metavar="MODEL.joblib")
    _data_options(report, default=None)
    report.add_argument(
        "--no-plot", action="store_true", help="do not draw the structure"
    )
    report.set_defaults(func=_report)
    _common(report, "report")

    graph = sub.add_parser(
        "graph",
        help="export a saved model's structure (GraphML, GEXF, GML, edge list)",
        description="Write the network of a saved model as a directed graph: "
        "neurons are nodes (attributes layer, index, kind), kept connections "
        "are edges. The format follows the extension.",
    )
    graph.add_argument("model", metavar="MODEL.joblib")
    graph.add_argument(
        "-o",
        "--output",
        required=True,
        help="graph file: .graphml, .gexf, .gml or .edgelist",
    )
    graph.add_argument(
        "--weights", action="store_true", help="store each connection's weight"
    )
    graph.set_defaults(func=_graph)
    _common(graph, "graph", out=False)
    return parser


def main(argv=None):
    """Run the ``sksparse`` command; return its exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success, 2 for bad arguments or data, 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argument errors
        return exc.code if isinstance(exc.code, int) else 2
    from sksparse.experiments import MissingFeatureError

    start = time.perf_counter()
    try:
        import torch

        torch.set_num_threads(args.threads)
        with _stop_on_ctrl_c():
            code = args.func(args)
    except (ValueError, TypeError, OSError, MissingFeatureError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"sksparse {args.command}: error: {message or type(exc).__name__}",
            file=sys.stderr,
        )
        return 2
    except (_Interrupted, KeyboardInterrupt):
        print(f"sksparse {args.command}: interrupted", file=sys.stderr)
        return 130
    if code == 0 and not args.quiet and args.command != "graph":
        print(f"done in {time.perf_counter() - start:.1f} s")
    return code
