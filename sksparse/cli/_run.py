"""The run loop every subcommand shares: Ctrl-C, progress, summary, errors.

A subcommand's ``run(args)`` feeds its results through :func:`run_loop`
(each finished result written at once, a progress line per result, Ctrl-C
checked after each) and ends with :func:`finish` (the summary table and the
files written). :func:`execute` runs it under the SIGINT handler and turns
what can go wrong into exit statuses: 2 and a one-line ``error:`` message
for bad data or files, 130 for Ctrl-C, 0 when the reader of the output went
away (``sksparse ... | head``).
"""

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from sksparse.utils._files import atomic_write

__all__ = [
    "CommandError",
    "Interrupted",
    "check_ctrl_c",
    "execute",
    "finish",
    "progress",
    "run_loop",
    "save_figure",
    "say",
    "settings",
    "silence_stdout",
    "use_agg",
    "write_json",
]


class CommandError(Exception):
    """A failure the user can fix (data, files, settings): one line, status 2.

    Raised with the full message, hint included, by the code that knows what
    went wrong, so that no hint is ever chosen by reading exception text.
    """


class Interrupted(BaseException):
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


def check_ctrl_c():
    """Raise :class:`Interrupted` if Ctrl-C came since the run began."""
    if _CTRL_C.is_set():
        raise Interrupted


@contextlib.contextmanager
def _stop_on_ctrl_c():
    def stop(signum, frame):
        _CTRL_C.set()
        raise Interrupted

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


# -- output ---------------------------------------------------------------------
def say(args, text):
    """Print a message, unless ``--quiet``."""
    if not args.quiet:
        print(text)


def progress(args, total, desc, unit="run"):
    """A progress bar on stderr: on a terminal only, never with ``--quiet``."""
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


def settings(args):
    """The parsed arguments to record beside the results."""
    return {
        k: v
        for k, v in vars(args).items()
        if k not in ("func", "check", "quiet", "verbose")
    }


def use_agg():
    """Draw without a display: the command only writes files."""
    import matplotlib

    matplotlib.use("Agg", force=True)


def save_figure(ax, path):
    """Save the figure of ``ax`` (or of an array of Axes), close it, return ``path``."""
    import matplotlib.pyplot as plt
    import numpy as np

    figure = np.ravel(ax)[0].figure
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return path


def _json_default(value):
    import numpy as np

    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return str(value)


def write_json(path, payload):
    """Write ``payload`` as JSON to ``path`` atomically; NaN and inf as null.

    The temporary file comes from :func:`tempfile.mkstemp` in the target's
    folder (a name no one can plant a link at beforehand), so a reader sees
    the old file or the new one, never a torn one.
    """
    text = json.dumps(payload, default=_json_default)
    # json writes non-finite floats as NaN/Infinity, which is not JSON: read
    # them back as None and write again.
    payload = json.loads(text, parse_constant=lambda _: None)
    path = Path(path)
    with atomic_write(path) as file:
        file.write(json.dumps(payload, indent=2) + "\n")
    return path


# -- the loop and its end -------------------------------------------------------
def run_loop(args, items, bar, handle, writer):
    """Hand each item to ``handle`` as it arrives; True if Ctrl-C stopped the run.

    ``handle(item)`` records the item (``writer`` writes it to disk at once)
    and returns its progress line, printed unless ``--quiet``.
    """
    try:
        for item in items:
            line = handle(item)
            bar.update(1)
            if not args.quiet:
                bar.write(line, file=sys.stdout)
            check_ctrl_c()
    except (Interrupted, KeyboardInterrupt):
        writer.flush()  # in case Ctrl-C came while the files were written
        return True
    finally:
        bar.close()
    return False


def finish(args, rows, columns, written, *, interrupted, extra=()):
    """Print the summary table, ``extra`` lines and the files written.

    Returns the exit status: 130 if the run was interrupted, else 0.
    """
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


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def silence_stdout():
    """Point stdout at devnull after its reader went away.

    The recipe of Python's documentation (``signal``, "Note on SIGPIPE"):
    without it, the interpreter's own flush at exit hits the closed pipe
    again and prints a traceback.
    """
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real file behind it
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fileno)
    finally:
        os.close(devnull)


def execute(args):
    """Run ``args.func(args)``; return the exit status.

    0 on success and when stdout's reader went away (``| head``), as other
    Unix tools; 2 with a one-line message for bad data, files or settings;
    130 when interrupted.
    """
    from sksparse.experiments import MissingFeatureError

    start = time.perf_counter()
    try:
        import torch

        torch.set_num_threads(args.threads)
        with _stop_on_ctrl_c():
            code = args.func(args)
        if code == 0 and not args.quiet and args.command != "graph":
            print(f"done in {time.perf_counter() - start:.1f} s")
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BrokenPipeError:
        silence_stdout()
        return 0
    except (
        CommandError,
        ValueError,
        TypeError,
        OSError,
        MissingFeatureError,
    ) as exc:
        print(f"sksparse {args.command}: error: {_first_line(exc)}", file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt):
        print(f"sksparse {args.command}: interrupted", file=sys.stderr)
        return 130
    return code
