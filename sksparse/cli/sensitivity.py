"""``sksparse sensitivity``: the score with one layer pruned, per layer and amount."""

import argparse
from pathlib import Path

from sksparse.cli._args import (
    add_common_options,
    add_data_options,
    add_mlp_options,
    fraction,
    int_at_least,
)
from sksparse.cli._inputs import load_data, resolve_scale
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

SCOPES = ("class-blinded", "random")


def register(subparsers):
    """Add ``sensitivity`` to the ``sksparse`` parser's subcommands."""
    parser = subparsers.add_parser(
        "sensitivity",
        help="prune one layer at a time to each amount; score per layer",
        description="Fit a dense MLP once, then, for every layer, prune only that "
        "layer's weights to each amount (by magnitude, or at random), optionally "
        "re-train, and score on the test split: a layer whose score falls early "
        "is sensitive. Writes sensitivity.json and .csv (columns layer, amount, "
        "score) and, unless --no-plot, sensitivity.png.",
    )
    add_data_options(parser)
    parser.add_argument(
        "--amount",
        type=fraction,
        nargs="+",
        default=[0.0, 0.5, 0.8, 0.9, 0.95, 0.99],
        help="increasing fractions of a layer's weights removed, in [0, 1); 0 "
        "scores the fitted network (default: 0 0.5 0.8 0.9 0.95 0.99)",
    )
    parser.add_argument(
        "--layer",
        type=int_at_least(0),
        nargs="+",
        default=None,
        metavar="INDEX",
        help="layers to prune, by position from the input (0 is the first; the "
        "output layer is len(--hidden)); default: every layer",
    )
    parser.add_argument(
        "--pruner",
        choices=["magnitude", "random"],
        default="magnitude",
        help="which weights of the layer go (default: magnitude)",
    )
    parser.add_argument(
        "--retrain-epochs",
        type=int_at_least(0),
        default=0,
        help="epochs of re-training after pruning, per point (default: 0)",
    )
    parser.add_argument(
        "--plot",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="draw sensitivity.png (default: on)",
    )
    add_mlp_options(parser, hidden=(300, 100), epochs=10, lr=5e-3)
    parser.set_defaults(func=run, check=check)
    add_common_options(parser, "sensitivity")
    return parser


def check(args):
    """Amounts increasing, layers within the network, before any work."""
    resolve_scale(args)
    amounts = args.amount
    if any(b <= a for a, b in zip(amounts, amounts[1:])):
        raise CommandError(
            f"--amount must be increasing, got {' '.join(map(str, amounts))}"
        )
    n_layers = len(args.hidden) + 1
    if args.layer is not None:
        wrong = [i for i in args.layer if i >= n_layers]
        if wrong:
            raise CommandError(
                f"--layer {wrong[0]}: the network of --hidden "
                f"{','.join(map(str, args.hidden))} has {n_layers} layers, "
                f"0 to {n_layers - 1}"
            )
        if len(set(args.layer)) != len(args.layer):
            raise CommandError("--layer names a layer twice")


def run(args):
    """Fit once, prune each layer to each amount, write and plot the scores."""
    use_agg()
    from sksparse import SparseMLPClassifier
    from sksparse.estimators._path import fit_once, iter_sensitivity, sensitivity_layers
    from sksparse.experiments import ResultsWriter
    from sksparse.plotting import plot_sensitivity_curve
    from sksparse.pruning import MagnitudePruner, RandomPruner

    X, y, X_test, y_test = load_data(args)
    out = Path(args.out)
    writer = ResultsWriter(
        out, "sensitivity", meta={"command": args.command, **settings(args)}
    )
    estimator = SparseMLPClassifier(
        args.hidden,
        max_epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        device=args.device,
        random_state=args.seed,
        verbose=int(args.verbose),
    )
    pruner = (
        MagnitudePruner()
        if args.pruner == "magnitude"
        else RandomPruner(random_state=args.seed)
    )
    say(args, f"fitting {'x'.join(map(str, args.hidden))} MLP ({args.epochs} epochs)")
    fitted, pruner, scorer, X_score, y_score = fit_once(
        estimator, X, y, pruner, None, (X_test, y_test)
    )
    layers = sensitivity_layers(fitted)
    if args.layer is not None:
        layers = [layers[i] for i in args.layer]
    points = iter_sensitivity(
        fitted,
        pruner,
        layers,
        args.amount,
        X,
        y,
        args.retrain_epochs,
        scorer,
        X_score,
        y_score,
    )

    def handle(point):
        i, j, score = point
        row = {"layer": layers[i], "amount": args.amount[j], "score": score}
        writer.add(row)
        return f"  {row['layer']:<18} amount {row['amount']:.2f}  score {score:.3f}"

    bar = progress(args, len(layers) * len(args.amount), args.command, unit="point")
    interrupted = run_loop(args, points, bar, handle, writer)
    written = [writer.json_path, writer.csv_path]
    if writer.rows and args.plot:
        ax = plot_sensitivity_curve(writer.rows)
        ax.set_title(
            f"{args.pruner} pruning of one layer, {Path(str(args.data)).name}",
            fontsize="medium",
        )
        ax.set_ylabel("test accuracy")
        written.append(save_figure(ax, out / "sensitivity.png"))
    return finish(
        args,
        writer.rows,
        ["layer", "amount", "score"],
        written,
        interrupted=interrupted,
    )
