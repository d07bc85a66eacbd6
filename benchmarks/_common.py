"""Helpers shared by the benchmark scripts.

Where a run went (:func:`machine`, :func:`machine_info`, :func:`cpu_name`,
:func:`command`), its files (:func:`write_json`, :func:`write_csv`,
:func:`markdown_table`, :func:`pyplot`, :func:`save_figure`), Fashion-MNIST/MNIST
as the official sets (:func:`load_raw_images`) or split into train, validation
and test (:func:`load_images`), the LeNet-300-100 estimator (:func:`lenet`,
:func:`cached_lenet`), per-epoch CPU and wall seconds (:class:`EpochClock`) and
mean ± sd over seeds (:func:`mean_sd`). The experiments themselves live in
:mod:`sksparse.experiments`; a benchmark parses its arguments, calls them and
writes through these.
"""

import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """A short, honest description of where a benchmark ran."""
    import torch

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git": _git_head(),
    }


def _git_head():
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_json(name, payload):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- what the drivers over LeNet-300-100 share ---------------------------------
#: LeNet-300-100 (LeCun et al. 1998): the hidden layers of the MLP the paper
#: benchmarks on MNIST and Fashion-MNIST (784-300-100-10).
LENET_300_100 = (300, 100)


def machine_info():
    """Where a run went, with the load average (the machine is shared).

    The key set the pruning and lottery results have always had; the newer
    drivers write :func:`machine` instead, which also records the command.
    """
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if "model name" in ln)
    except (OSError, StopIteration):
        pass
    return dict(
        platform=platform.platform(),
        cpu=cpu,
        cpu_count=os.cpu_count(),
        load_average=os.getloadavg() if hasattr(os, "getloadavg") else None,
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        torch=torch.__version__,
    )


def command(script, argv=None):
    """The command line that made a result, as ``python benchmarks/<script>``."""
    return f"python benchmarks/{script} " + " ".join(
        sys.argv[1:] if argv is None else argv
    )


def config(args):
    """Parsed arguments as a JSON-ready dict (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def write_csv(path, rows, fieldnames=None):
    """``rows`` as a CSV file with a header: ``fieldnames``, or the first row's keys."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=list(rows[0]) if fieldnames is None else fieldnames
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


def mean_sd(values):
    """Mean and sample standard deviation (0.0 for a single value)."""
    values = [float(v) for v in values]
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def load_raw_images(dataset="fashion-mnist", root=None):
    """Fashion-MNIST or MNIST as the official training and test sets.

    For drivers that split the training images themselves; exits with a hint
    when the files are missing.

    Returns
    -------
    X, y, X_test, y_test : ndarray
    """
    from sksparse.datasets import load_fashion_mnist, load_mnist

    loader = load_fashion_mnist if dataset == "fashion-mnist" else load_mnist
    try:
        return loader(root)
    except (FileNotFoundError, OSError) as exc:
        sys.exit(
            f"{dataset} files not found ({exc}). Install Debian's "
            "dataset-fashion-mnist (`make data`) or pass --root."
        )


def load_images(dataset="fashion-mnist", root=None, *, n_train, n_val, n_test=None):
    """Fashion-MNIST or MNIST as train / validation / test arrays.

    Training and validation images are disjoint slices of one fixed
    permutation (seed 0) of the 60,000 training images, so a validation
    score never sees test data; ``n_test`` keeps a fixed random subset
    (seed 1) of the test images, None all of them. Exits with a hint when
    the files are missing.

    Returns
    -------
    X, y, X_val, y_val, X_test, y_test : ndarray
    """
    X, y, X_test, y_test = load_raw_images(dataset, root)
    order = np.random.default_rng(0).permutation(len(X))
    train, val = order[:n_train], order[n_train : n_train + n_val]
    if n_test is not None:
        test = np.random.default_rng(1).permutation(len(X_test))[:n_test]
        X_test, y_test = X_test[test], y_test[test]
    return X[train], y[train], X[val], y[val], X_test, y_test


def lenet(seed, *, epochs, lr, batch_size, **params):
    """A :class:`~sksparse.SparseMLPClassifier` shaped as LeNet-300-100."""
    from sksparse import SparseMLPClassifier

    return SparseMLPClassifier(
        LENET_300_100,
        max_epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        random_state=seed,
        **params,
    )


class EpochClock:
    """skorch callback: CPU (``cpu_s``) and wall (``wall_s``) seconds of every epoch.

    With one torch thread, process CPU time is the work done, whatever else
    the machine is running; the wall clock beside it measures the neighbours too.
    """

    def initialize(self):
        return self

    def on_epoch_begin(self, net, **kwargs):
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        net.history.record("cpu_s", time.process_time() - self._cpu)
        net.history.record("wall_s", time.perf_counter() - self._wall)

    def __getattr__(self, name):  # every other skorch hook is a no-op
        if name.startswith("on_") or name in ("get_params", "set_params"):
            return lambda *args, **kwargs: {} if name == "get_params" else None
        raise AttributeError(name)


def save_figure(fig, path, dpi=120):
    """Lay out and write a matplotlib figure, then free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: Where dense LeNets are cached between benchmark runs (pruning, structured).
DENSE_CACHE = (
    Path(os.environ.get("SKSPARSE_DATA", "~/sksparse_data")).expanduser()
    / "bench_cache"
)


def cached_lenet(cache, dataset, seed, X, y, *, n_train, epochs, lr, batch_size):
    """The seed's dense LeNet-300-100 fitted on ``X, y``, trained once per key.

    The file name holds every setting that changes the fit, so benchmarks
    with the same settings share one network (and a changed setting trains
    a new one rather than reading a stale one).
    """
    import joblib

    key = f"{dataset}-n{n_train}-e{epochs}-lr{lr}-b{batch_size}"
    path = Path(cache) / f"dense-{key}-seed{seed}.joblib"
    if path.exists():
        return joblib.load(path)
    clf = lenet(seed, epochs=epochs, lr=lr, batch_size=batch_size).fit(X, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(clf, path)
    return clf
