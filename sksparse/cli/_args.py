"""Argument types and the option groups the subcommands share.

Everything a single argument can be checked for is checked by its ``type=``
function while argparse parses, so that a bad value is a one-line error with
exit status 2 before any data is read or any network trained. Checks that
need two arguments at once live in each subcommand's ``check(args)``, which
:func:`sksparse.cli.main` calls right after parsing.
"""

import argparse
import os
import re
from pathlib import Path

__all__ = [
    "DATA_SUFFIXES",
    "GRAPH_SUFFIXES",
    "Parser",
    "add_common_options",
    "add_data_options",
    "add_mlp_options",
    "add_model_argument",
    "amount",
    "data_source",
    "device",
    "existing_dir",
    "existing_file",
    "fraction",
    "graph_file",
    "int_at_least",
    "layer_sizes",
    "n_jobs",
    "open_unit",
    "output_dir",
    "output_file",
    "positive_float",
    "positive_int",
]

#: File formats ``--data PATH`` reads (see :func:`sksparse.experiments.load_dataset`).
DATA_SUFFIXES = (".npz", ".csv")
#: Graph formats ``sksparse graph -o`` writes (those of
#: :func:`sksparse.experiments.export_graph`), checked here so that a wrong
#: suffix is refused before the model is read rather than after.
GRAPH_SUFFIXES = (".graphml", ".gexf", ".gml", ".edgelist")

_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# -- argument types -------------------------------------------------------------
def int_at_least(low):
    """An argument type: an int >= ``low``.

    Examples
    --------
    >>> int_at_least(2)("3")
    3
    >>> int_at_least(2)("1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected an int >= 2, got '1'
    """

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}")
        return value

    return parse


positive_int = int_at_least(1)


def n_jobs(text):
    """joblib's ``n_jobs``: a positive count, or -1 (all cores), -2, ...; not 0.

    Examples
    --------
    >>> n_jobs("-1"), n_jobs("2")
    (-1, 2)
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
    if value == 0:
        # joblib raises only once the first parallel fit starts.
        raise argparse.ArgumentTypeError(
            "expected a number of jobs >= 1, or -1 for all cores, got '0'"
        )
    return value


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float, got {text!r}") from None


def fraction(text):
    """A float in [0, 1)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a float in [0, 1), got {text!r}")
    return value


def amount(text):
    """A sparsity in (0, 1).

    Examples
    --------
    >>> amount("0.8")
    0.8
    """
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a float in (0, 1), got {text!r}")
    return value


def open_unit(text):
    """A float in (0, 1]."""
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a float in (0, 1], got {text!r}")
    return value


def positive_float(text):
    """A finite float > 0."""
    value = _float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a float > 0, got {text!r}")
    return value


def layer_sizes(text):
    """Hidden layer widths written ``300,100``.

    Examples
    --------
    >>> layer_sizes("300,100")
    (300, 100)
    """
    try:
        sizes = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected widths such as 300,100, got {text!r}"
        )
    return sizes


def device(text):
    """A torch device that exists on this machine.

    ``cuda`` without a GPU is refused here, not after the data load; torch is
    imported only for a device other than ``cpu``.
    """
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(
            f"expected cpu, cuda, cuda:N or mps, got {text!r}"
        )
    if text == "cpu":
        return text
    import torch

    if text == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError("MPS is not available on this machine")
        return text
    if not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(
            f"{text!r}: CUDA is not available on this machine (use --device cpu)"
        )
    index = int(text.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise argparse.ArgumentTypeError(
            f"{text!r}: this machine has {count} CUDA device(s), cuda:0 to "
            f"cuda:{count - 1}"
        )
    return text


def existing_file(text):
    """The path of an existing file."""
    path = Path(text)
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "no such file"
        raise argparse.ArgumentTypeError(f"{text!r}: {what}")
    return text


def existing_dir(text):
    """The path of an existing folder."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: no such folder")
    return text


def _check_writable(path, text):
    """Refuse ``path`` when it cannot be created or written."""
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {str(parent)!r} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: {str(parent)!r} is not writable")


def output_dir(text):
    """A folder to write into: existing and writable, or creatable."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    _check_writable(path, text)
    return text


def output_file(text):
    """A file to write: not a folder, in a folder that is writable or creatable."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    _check_writable(path.parent, text)
    return text


def graph_file(text):
    """A graph file to write, with one of :data:`GRAPH_SUFFIXES`.

    Examples
    --------
    >>> graph_file("net.png")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'net.png': expected a file ending in .graphml, \
.gexf, .gml or .edgelist
    """
    if Path(text).suffix.lower() not in GRAPH_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a file ending in {', '.join(GRAPH_SUFFIXES[:-1])} "
            f"or {GRAPH_SUFFIXES[-1]}"
        )
    return output_file(text)


def data_source(text):
    """A data set name, or an existing ``.npz`` or ``.csv`` file."""
    from sksparse.experiments import DATASETS

    if text in DATASETS:
        return text
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither one of {', '.join(DATASETS)} nor a file"
        )
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a data file ends in .npz or .csv, got "
            f"{path.suffix or 'no extension'}"
        )
    return text


# -- option groups --------------------------------------------------------------
def add_common_options(parser, command, *, out=True):
    """The options every subcommand takes: seed, device, jobs, out, threads, -q, -v."""
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--seed", type=int, default=0, help="seeds data splits, structures, weights"
    )
    group.add_argument(
        "--device", type=device, default="cpu", help="torch device: cpu, cuda, cuda:N"
    )
    group.add_argument(
        "--n-jobs",
        type=n_jobs,
        default=1,
        help="runs in parallel through joblib (-1: all cores)",
    )
    if out:
        group.add_argument(
            "--out",
            type=output_dir,
            default=f"sksparse-results/{command}",
            help="folder for the JSON, CSV and PNG files (default: %(default)s)",
        )
    group.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch threads per process (default: 1; small sparse networks gain "
        "little from more: use --n-jobs to run several at once)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the summary: no progress bar, messages or per-run lines",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print skorch's epoch table and its per-epoch progress bar",
    )


def add_data_options(parser, default="digits"):
    """``--data``, ``--root``, ``--n-samples`` and ``--scale``."""
    parser.add_argument(
        "--data",
        type=data_source,
        default=default,
        help="digits, fashion-mnist, mnist, or a .npz (X_train, y_train, X_test, "
        "y_test) or .csv file (header row; target column named target, label, y "
        "or class, else the last; optional split column train/test)"
        + (f" (default: {default})" if default else ""),
    )
    parser.add_argument(
        "--root",
        type=existing_dir,
        default=None,
        help="folder of the MNIST/Fashion-MNIST files",
    )
    parser.add_argument(
        "--n-samples",
        type=positive_int,
        default=None,
        help="use only this many training samples (and proportionally fewer test)",
    )
    parser.add_argument(
        "--scale",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="standardise every feature to mean 0 and variance 1, with a "
        "StandardScaler fitted on the training samples only (default: on for "
        ".csv data, whose columns come in any units; off for the image data "
        "sets and .npz files)",
    )


def add_mlp_options(parser, *, hidden, epochs, lr):
    """``--hidden``, ``--epochs``, ``--lr`` and ``--batch-size``."""
    parser.add_argument(
        "--hidden",
        type=layer_sizes,
        default=hidden,
        help="hidden layer widths, e.g. 300,100 (default: "
        f"{','.join(map(str, hidden))})",
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=epochs, help="training epochs"
    )
    parser.add_argument("--lr", type=positive_float, default=lr, help="learning rate")
    parser.add_argument("--batch-size", type=positive_int, default=128)


def add_model_argument(parser):
    """The ``MODEL`` file and ``--trust-pickle``."""
    parser.add_argument("model", metavar="MODEL", type=existing_file)
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow reading a pickle (joblib) model file. Unpickling runs any "
        "code the file holds, so pass this only for files you made or trust; "
        "a .sksparse file (sksparse.io.save) runs no code and needs no flag",
    )
