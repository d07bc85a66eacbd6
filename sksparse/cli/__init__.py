"""The ``sksparse`` command: parse, check, call the public API, print.

One module per subcommand (``demo``, ``prune``, ``sensitivity``,
``rnn_structure``, ``search``, ``report``, ``graph``), each with
``register(subparsers)`` and ``run(args)``; the run loop they share (Ctrl-C,
progress, summary, errors) is :mod:`sksparse.cli._run`.

Every argument is checked before any data is read or any network trained (a
bad one is a one-line error and exit status 2). A run writes every finished
result at once to ``--out`` as JSON and CSV (so Ctrl-C keeps them; exit
status 130), draws its plots there as PNG with :mod:`sksparse.plotting` and
ends with a summary table.

Examples
--------
>>> from sksparse.cli import build_parser
>>> args = build_parser().parse_args(["prune", "--amount", "0.5", "0.9"])
>>> args.command, args.amount, args.hidden
('prune', [0.5, 0.9], (300, 100))
"""

import sys
import warnings

from sksparse.cli import (
    demo,
    graph,
    prune,
    report,
    rnn_structure,
    search,
    sensitivity,
)
from sksparse.cli._args import Parser
from sksparse.cli._run import CommandError, execute, silence_stdout

__all__ = ["build_parser", "main"]

#: The subcommands, in the order ``sksparse --help`` lists them.
COMMANDS = (demo, prune, sensitivity, rnn_structure, search, report, graph)


def build_parser():
    """The argument parser of the ``sksparse`` command."""
    from sksparse import __version__

    parser = Parser(
        prog="sksparse",
        description="Sparse neural networks for scikit-learn: run the experiments "
        "of sksparse from the shell.",
        epilog="Run 'sksparse COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def _main(argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argument errors
        return exc.code if isinstance(exc.code, int) else 2
    check = getattr(args, "check", None)
    if check is not None:
        try:
            check(args)
        except CommandError as exc:
            print(
                f"sksparse {args.command}: error: {exc} "
                f"(see 'sksparse {args.command} --help')",
                file=sys.stderr,
            )
            return 2
    return execute(args)


def main(argv=None):
    """Run the ``sksparse`` command; return its exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success (and when the reader of stdout went away, as in
        ``sksparse ... | head``), 2 for bad arguments or data, 130 when
        interrupted.
    """
    try:
        with warnings.catch_warnings():
            # --epochs is the budget the user set: a network that trains all of
            # it is no failure to print once per fit (the estimators'
            # ConvergenceWarning); the results show how each one scored.
            warnings.filterwarnings("ignore", message=r".*: max_epochs \(\d+\) reached")
            code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        return 0
    return code
