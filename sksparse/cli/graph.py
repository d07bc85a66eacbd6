"""``sksparse graph MODEL -o FILE``: a saved model's structure as a graph file."""

from sksparse.cli._args import add_common_options, add_model_argument, graph_file
from sksparse.cli._inputs import check_trust, read_model

__all__ = ["check", "register", "run"]


def register(subparsers):
    """Add ``graph`` to the ``sksparse`` parser's subcommands."""
    parser = subparsers.add_parser(
        "graph",
        help="export a saved model's structure (GraphML, GEXF, GML, edge list)",
        description="Write the network of a saved model (.sksparse, or "
        "a joblib pickle with --trust-pickle) as a directed graph: neurons "
        "are nodes (attributes layer, index, kind), kept connections are "
        "edges. The format follows the extension.",
    )
    add_model_argument(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=graph_file,
        required=True,
        help="graph file: .graphml, .gexf, .gml or .edgelist",
    )
    parser.add_argument(
        "--weights", action="store_true", help="store each connection's weight"
    )
    parser.set_defaults(func=run, check=check)
    add_common_options(parser, "graph", out=False)
    return parser


def check(args):
    """Consent to unpickle, settled before the model is read."""
    check_trust(args)


def run(args):
    """Write the graph; return the exit status."""
    from sksparse.experiments import export_graph

    model = read_model(args)
    graph = export_graph(model, args.output, weights=args.weights)
    print(
        f"wrote {args.output}: {graph.number_of_nodes()} neurons, "
        f"{graph.number_of_edges()} connections"
    )
    return 0
