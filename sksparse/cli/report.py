"""``sksparse report MODEL``: compression report and structure of a saved model."""

from pathlib import Path

from sksparse.cli._args import add_common_options, add_data_options, add_model_argument
from sksparse.cli._inputs import check_trust, load_data, read_model, resolve_scale
from sksparse.cli._run import save_figure, use_agg, write_json

__all__ = ["check", "register", "run"]

_COMPRESSION_SUMMARY = (
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
)

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


def register(subparsers):
    """Add ``report`` to the ``sksparse`` parser's subcommands."""
    parser = subparsers.add_parser(
        "report",
        help="compression report and structure summary of a saved model",
        description="Load a model saved with sksparse.io.save (.sksparse), or "
        "with joblib.dump (with --trust-pickle), and report its size and "
        "sparsity per layer, ShrinkBench's compression measures and a "
        "summary of its structure as a graph.",
    )
    add_model_argument(parser)
    add_data_options(parser, default=None)
    parser.add_argument(
        "--no-plot", action="store_true", help="do not draw the structure"
    )
    parser.set_defaults(func=run, check=check)
    add_common_options(parser, "report")
    return parser


def check(args):
    """Consent to unpickle, and ``--scale``, settled before the model is read."""
    check_trust(args)
    resolve_scale(args)


def run(args):
    """Report on the model; return the exit status."""
    from sksparse.experiments import ResultsWriter, format_table, model_report
    from sksparse.plotting import plot_structure

    use_agg()
    model = read_model(args)
    X_test = y_test = None
    if args.data is not None:
        _, _, X_test, y_test = load_data(args)
    report = model_report(model, X_test)
    if X_test is not None and hasattr(model, "score"):
        report["test_accuracy"] = float(model.score(X_test, y_test))
    out = Path(args.out)
    layers = ResultsWriter(out, "layers", meta={"model": str(args.model)})
    for row in report["layers"]:
        layers.add(row)
    written = [write_json(out / "report.json", report), layers.csv_path]
    if not args.no_plot:
        ax = plot_structure(model)
        written.append(save_figure(ax, out / "structure.png"))

    print(f"{args.model}: {report['model']}")
    print()
    print(format_table(report["layers"]))
    compression = report["compression"]
    print()
    print("compression (ShrinkBench's terms):")
    rows = [
        {"measure": k, "value": compression[k]}
        for k in _COMPRESSION_SUMMARY
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
