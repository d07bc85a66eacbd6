"""Write the ``--help`` of every ``sksparse`` subcommand for the CLI page."""

import contextlib
import io
import os


def write_cli_help(folder):
    """``<folder>/<command>.txt`` for the command and each subcommand."""
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal's width
    from sksparse.cli import build_parser

    parser = build_parser()
    commands = [
        None,
        "demo",
        "prune",
        "sensitivity",
        "rnn-structure",
        "search",
        "report",
        "graph",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    for command in commands:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
            parser.parse_args([command, "--help"] if command else ["--help"])
        text = buffer.getvalue()
        path = folder / f"{command or 'sksparse'}.txt"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
