"""``sksparse rnn-structure``: graph-prior RNNs on the Reber grammar.

Trains a population, then predicts each network's test accuracy from its
graph alone.
"""

from pathlib import Path

from sksparse.cli._args import (
    add_common_options,
    fraction,
    int_at_least,
    positive_float,
    positive_int,
)
from sksparse.cli._run import (
    CommandError,
    finish,
    progress,
    run_loop,
    save_figure,
    say,
    settings,
    use_agg,
)

__all__ = ["check", "register", "run"]


def register(subparsers):
    """Add ``rnn-structure`` to the ``sksparse`` parser's subcommands."""
    from sksparse.experiments import REGRESSORS, sweep_methods

    priors = list(sweep_methods()["prior"])
    parser = subparsers.add_parser(
        "rnn-structure",
        help="graph-prior RNNs on the Reber grammar; predict accuracy from structure",
        description="Train a population of recurrent networks whose hidden "
        "structure a random graph draws, on the Reber grammar, then predict each "
        "network's test accuracy from its graph alone (StructuralRegressor, "
        "cross-validated per cell type) and report R2, Kendall tau, Spearman rho.",
    )
    parser.add_argument(
        "--cells",
        nargs="+",
        choices=["rnn", "gru", "lstm"],
        default=["rnn", "gru", "lstm"],
        help="cell types (default: all three)",
    )
    parser.add_argument(
        "--priors",
        nargs="+",
        choices=priors,
        default=["erdos_renyi", "watts_strogatz", "barabasi_albert"],
        metavar="PRIOR",
        help=f"priors, cycled through: {', '.join(priors)}",
    )
    parser.add_argument(
        "--n-networks",
        type=positive_int,
        default=20,
        help="networks per cell type (default: 20)",
    )
    parser.add_argument(
        "--hidden-sizes",
        type=positive_int,
        nargs="+",
        default=[6, 10, 16],
        help="hidden widths the networks are drawn from (default: 6 10 16)",
    )
    parser.add_argument(
        "--sparsity-range",
        type=fraction,
        nargs=2,
        default=[0.1, 0.9],
        metavar=("LOW", "HIGH"),
        help="sparsities drawn from this range",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded Reber grammar (long-range memory)",
    )
    parser.add_argument(
        "--n-samples",
        type=positive_int,
        default=1200,
        help="strings generated, 2/3 to train, 1/3 to test",
    )
    parser.add_argument("--max-length", type=positive_int, default=20)
    parser.add_argument("--epochs", type=positive_int, default=30)
    parser.add_argument("--lr", type=positive_float, default=2e-2)
    parser.add_argument(
        "--no-early-stopping",
        action="store_true",
        help="train every network for --epochs (default: stop when a held-out "
        "tenth of the training strings stops improving)",
    )
    parser.add_argument(
        "--regressor",
        choices=REGRESSORS,
        default="forest",
        help="regressor behind the structural features",
    )
    parser.add_argument(
        "--cv",
        type=int_at_least(2),
        default=5,
        help="cross-validation folds of the prediction",
    )
    parser.set_defaults(func=run, check=check)
    add_common_options(parser, "rnn-structure")
    return parser


def check(args):
    """Refuse a sparsity range whose ends are swapped."""
    low, high = args.sparsity_range
    if low > high:
        raise CommandError(
            f"--sparsity-range: LOW must not exceed HIGH, got {low} {high}"
        )


def _predict(args, graphs, writer, out, grammar):
    """Predict accuracy from structure; the metric rows and the files written."""
    import numpy as np

    from sksparse.experiments import ResultsWriter, predict_from_structure
    from sksparse.plotting import plot_predicted_vs_true

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
    for row, value in zip(writer.rows, result["predicted"]):
        row["predicted_accuracy"] = float(value)
    writer.flush()
    predictions = ResultsWriter(out, "prediction", meta=settings(args))
    for row in result["metrics"]:
        predictions.add(row)
    written = [predictions.json_path, predictions.csv_path]
    ok = np.isfinite(result["predicted"])
    if ok.any():
        ax = plot_predicted_vs_true(
            np.asarray(scores)[ok],
            result["predicted"][ok],
            groups=np.asarray(cells)[ok],
            label="test accuracy",
        )
        ax.set_title(
            f"{args.regressor} on structural features, {grammar}: " + ax.get_title(),
            fontsize="medium",
        )
        written.append(save_figure(ax, out / "predicted_vs_true.png"))
    return result["metrics"], written


def run(args):
    """Train the population and predict from structure; return the exit status."""
    from sksparse.experiments import ResultsWriter, format_table, reber_population
    from sksparse.plotting import plot_structure

    use_agg()
    out = Path(args.out)
    writer = ResultsWriter(
        out, "networks", meta={"command": args.command, **settings(args)}
    )
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
    say(
        args,
        f"training {args.n_networks} graph-prior networks per cell "
        f"({', '.join(args.cells)}) on the {grammar} grammar",
    )
    graphs = []

    def handle(item):
        row, graph = item
        graphs.append(graph)
        writer.add(row)
        return (
            f"  {row['cell']:<5} {row['prior']:<16} sparsity {row['sparsity']:.2f}  "
            f"accuracy {row['accuracy']:.3f}"
        )

    bar = progress(args, args.n_networks * len(args.cells), args.command, "net")
    interrupted = run_loop(args, population, bar, handle, writer)
    written = [writer.json_path, writer.csv_path]
    if graphs:
        ax = plot_structure(graphs[0])
        first = writer.rows[0]
        ax.set_title(
            f"{first['cell']} with a {first['prior']} prior, sparsity "
            f"{first['sparsity']:.2f}: " + ax.get_title(),
            fontsize="medium",
        )
        written.append(save_figure(ax, out / "structure.png"))
    extra = []
    # predict_from_structure needs four networks in a group to cross-validate.
    if not interrupted and len(graphs) >= 4:
        metrics, files = _predict(args, graphs, writer, out, grammar)
        written += files
        if metrics:
            columns = ["group", "regressor", "n", "r2", "kendall_tau", "spearman"]
            extra = [
                "",
                "test accuracy predicted from structure alone (out-of-fold):",
                format_table(metrics, columns),
            ]
    return finish(
        args,
        writer.rows,
        ["cell", "prior", "sparsity", "accuracy", "n_edges"],
        written,
        interrupted=interrupted,
        extra=extra,
    )
