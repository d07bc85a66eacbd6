"""``sksparse prune``: fit, prune, re-train; accuracy against compression."""

from pathlib import Path

from sksparse.cli._args import (
    add_common_options,
    add_data_options,
    add_mlp_options,
    amount,
    int_at_least,
)
from sksparse.cli._inputs import resolve_scale
from sksparse.cli._run import CommandError, use_agg
from sksparse.cli._sweep import sweep

__all__ = ["check", "register", "run"]


def register(subparsers):
    """Add ``prune`` to the ``sksparse`` parser's subcommands."""
    from sksparse.experiments import PRUNING_METHODS, sweep_methods

    methods = sweep_methods()
    others = [m for kind in ("prior", "sparse-training") for m in methods[kind]]
    parser = subparsers.add_parser(
        "prune",
        help="fit, prune and re-train at several amounts; accuracy vs compression",
        description="Fit a dense MLP, prune it with each method to each amount "
        "(cumulative sparsity against the dense size), re-train, and compare "
        "test accuracy against compression with the dense network. Priors "
        "and sparse-training methods can be compared in the same run.",
    )
    add_data_options(parser)
    parser.add_argument(
        "--method",
        nargs="+",
        default=["class-blinded"],
        choices=[*PRUNING_METHODS, *others],
        metavar="METHOD",
        help=f"pruning methods: {', '.join(PRUNING_METHODS)}; or, to compare, "
        f"priors and sparse training: {', '.join(others)} "
        "(default: class-blinded)",
    )
    parser.add_argument(
        "--amount",
        type=amount,
        nargs="+",
        default=[0.8],
        help="target sparsities, fractions of the weights removed (default: 0.8)",
    )
    parser.add_argument(
        "--retrain-epochs",
        type=int_at_least(0),
        default=5,
        help="epochs of re-training after pruning (default: 5)",
    )
    parser.add_argument(
        "--schedule",
        choices=["one-shot", "iterative", "gradual"],
        default=None,
        help="pruning schedule (default: one-shot)",
    )
    parser.add_argument(
        "--pattern",
        type=pattern,
        default=None,
        help="structure of the class-blinded and class-uniform masks: N:M "
        "(2:4 keeps 2 of every 4 consecutive inputs; sparsity 1 - N/M whatever "
        "--amount says) or RxC blocks (4x4); compress() then stores them in "
        "that form where it is faster",
    )
    parser.add_argument(
        "--rewind",
        type=rewind,
        default=None,
        metavar="{init,reinit,K}",
        help="lottery tickets: after each pruning event reset the kept weights to "
        "their initial values (init), to their values after K epochs, or to a "
        "fresh random initialisation (reinit, the control), then re-train "
        "(default: keep the trained weights)",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the dense network's row"
    )
    parser.add_argument(
        "--save-models",
        action="store_true",
        help="save every fitted model to OUT/models/METHOD-AMOUNT.joblib (a "
        "pickle: 'sksparse report' and 'graph' read it with --trust-pickle; "
        "with --scale it expects standardised features)",
    )
    add_mlp_options(parser, hidden=(300, 100), epochs=10, lr=5e-3)
    parser.set_defaults(func=run, check=check)
    add_common_options(parser, "prune")
    return parser


def pattern(text):
    """``N:M`` (kept as text) or ``RxC`` (a block shape), checked now."""
    import argparse

    from sksparse.pruning._patterns import check_pattern

    value = text
    if "x" in text:
        try:
            value = tuple(int(v) for v in text.split("x"))
        except ValueError:
            value = text
    try:
        check_pattern(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected N:M with 1 <= N < M (2:4) or blocks RxC (4x4), got {text!r}"
        ) from None
    return value


def rewind(text):
    """``init``, ``reinit`` or an epoch count ``K >= 0``."""
    import argparse

    if text in ("init", "reinit"):
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected init, reinit or an epoch count K >= 0, got {text!r}"
        )
    return value


def check(args):
    """Settle ``--scale`` and refuse a pattern no method takes, before any work."""
    resolve_scale(args)
    if isinstance(args.rewind, int) and args.rewind > args.epochs:
        raise CommandError(
            f"--rewind {args.rewind} asks for the weights after {args.rewind} "
            f"epochs, but --epochs is {args.epochs}"
        )
    if args.pattern is not None:
        others = [m for m in args.method if m in ("class-distributed", "random")]
        if others:
            raise CommandError(
                f"--pattern works with class-blinded and class-uniform, not "
                f"{', '.join(others)}"
            )


def run(args):
    """Run the pruning comparison; return the exit status."""
    use_agg()
    methods = list(dict.fromkeys(args.method))
    if not args.no_baseline:
        methods.insert(0, "dense")
    title = (
        f"{', '.join(args.method)} on {Path(str(args.data)).name}, "
        f"{args.epochs} + {args.retrain_epochs} re-training epochs"
    )
    return sweep(
        args,
        methods=methods,
        sparsities=args.amount,
        name="pruning",
        title=title,
        save_models=args.save_models,
        pattern=args.pattern,
        rewind=args.rewind,
    )
