"""``sksparse demo``: dense vs sparse priors vs pruning on the bundled digits."""

from sksparse.cli._args import add_common_options, add_mlp_options, amount, positive_int
from sksparse.cli._run import use_agg
from sksparse.cli._sweep import sweep

__all__ = ["register", "run"]

METHODS = ("dense", "uniform", "watts_strogatz", "barabasi_albert", "class-blinded")
# The graph priors at their best: every neuron keeps at least 3 inputs. At 95 %
# on digits (benchmarks/prior_floor.py, 3 seeds) Watts-Strogatz rose from 0.48
# to 0.59 with it, Barabasi-Albert from 0.52 to 0.71 (uniform masks: 0.66); a
# uniform output layer too added little (0.59 / 0.72) and varied more by seed.
PRIOR_PARAMS = {"min_in_degree": 3}


def register(subparsers):
    """Add ``demo`` to the ``sksparse`` parser's subcommands."""
    parser = subparsers.add_parser(
        "demo",
        help="dense vs sparse priors vs pruning on the bundled digits (~1 minute)",
        description="Train a dense MLP, MLPs sparse from a prior (uniform, "
        "Watts-Strogatz, Barabasi-Albert) and magnitude-pruned MLPs "
        "(class-blinded, re-trained) at a few sparsities on scikit-learn's "
        "digits; print a table and plot accuracy against compression.",
    )
    parser.add_argument(
        "--sparsities",
        type=amount,
        nargs="+",
        default=[0.8, 0.9, 0.95],
        help="sparsities to compare (default: 0.8 0.9 0.95)",
    )
    parser.add_argument(
        "--n-samples",
        type=positive_int,
        default=None,
        help="use only this many training samples",
    )
    parser.add_argument(
        "--plain-priors",
        action="store_true",
        help="draw the graph priors without their in-degree floor of 3 "
        "(they collapse at high sparsity)",
    )
    add_mlp_options(parser, hidden=(128, 64), epochs=15, lr=1e-2)
    parser.set_defaults(
        func=run, data="digits", root=None, scale=False, retrain_epochs=5
    )
    add_common_options(parser, "demo")
    return parser


def run(args):
    """Run the demo; return the exit status."""
    use_agg()
    title = (
        f"SparseMLPClassifier {'-'.join(map(str, args.hidden))} on digits: "
        "sparse priors vs magnitude pruning"
    )
    return sweep(
        args,
        methods=list(METHODS),
        sparsities=args.sparsities,
        name="results",
        title=title,
        save_models=False,
        prior_params=None if args.plain_priors else dict(PRIOR_PARAMS),
    )
