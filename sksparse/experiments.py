"""The experiments behind the ``sksparse`` command, as plain functions.

Each experiment is a generator that yields one result row (a flat ``dict``) as
soon as that run has finished, so a caller can write it to disk at once and an
interrupted experiment keeps every finished row (:class:`ResultsWriter` does
the writing). The command line (:mod:`sksparse.cli`) only parses arguments,
calls these functions and prints; the same experiments run from Python:

>>> from sksparse.experiments import load_dataset, sparsity_sweep
>>> X, y, X_test, y_test = load_dataset("digits", n_samples=300)
>>> rows = list(sparsity_sweep(X, y, X_test, y_test, methods=["dense", "uniform"],
...                            sparsities=[0.9], hidden_layer_sizes=(32,),
...                            max_epochs=5, lr=1e-2, random_state=0))
>>> [(row["method"], row["target_sparsity"]) for row in rows]
[('dense', 0.0), ('uniform', 0.9)]
"""

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS",
    "PRUNING_METHODS",
    "REGRESSORS",
    "SPARSE_TRAINING_METHODS",
    "MissingFeatureError",
    "ResultsWriter",
    "export_graph",
    "format_table",
    "genetic_search",
    "layer_summary",
    "load_dataset",
    "load_model",
    "make_sweep_estimator",
    "model_report",
    "network_module",
    "predict_from_structure",
    "reber_population",
    "sparsity_sweep",
    "sweep_methods",
]

#: Data set names :func:`load_dataset` knows; anything else is a file path.
DATASETS = ("digits", "fashion-mnist", "mnist")
#: Pruning methods of :func:`sparsity_sweep`: magnitude scopes and the baseline.
PRUNING_METHODS = ("class-blinded", "class-uniform", "class-distributed", "random")
#: Sparse-training methods of :func:`sparsity_sweep` (sparse during learning).
SPARSE_TRAINING_METHODS = ("set", "rigl")
#: Regressors :func:`predict_from_structure` can put behind the features.
REGRESSORS = ("forest", "linear", "bayesian-ridge", "gradient-boosting", "svr")

_TARGET_COLUMNS = ("target", "label", "y", "class")


class MissingFeatureError(ImportError):
    """An experiment needs a part of sksparse this installation does not have."""


def _require(module, name):
    """``module.name``, or a :class:`MissingFeatureError` that names it."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise MissingFeatureError(
            f"this experiment requires {module}.{name}, which this installation "
            "of sksparse does not provide."
        ) from None


# -- data ---------------------------------------------------------------------
def load_dataset(data, *, n_samples=None, root=None, random_state=0, test_size=0.25):
    """Load a classification data set by name or from a file, split for testing.

    Parameters
    ----------
    data : str or path-like
        ``"digits"`` (bundled with scikit-learn), ``"fashion-mnist"`` or
        ``"mnist"`` (read through :mod:`sksparse.datasets`), or the path of a
        file:

        - ``.npz``: arrays ``X_train``, ``y_train``, ``X_test``, ``y_test``
          (``X`` of any shape; each sample is flattened);
        - ``.csv``: a header row, then one sample per row of numbers. The
          target is the column named ``target``, ``label``, ``y`` or
          ``class`` (the first found), else the last column. A column named
          ``split`` with values ``train``/``test`` assigns the rows; without
          one, a stratified ``test_size`` share is held out.
    n_samples : int, default=None
        Keep only the first ``n_samples`` training samples and a
        proportional number of test samples; None keeps all.
    root : str, default=None
        Folder of the MNIST/Fashion-MNIST files (see
        :func:`sksparse.datasets.load_fashion_mnist`).
    random_state : int, default=0
        Seeds the digits and CSV splits.
    test_size : float, default=0.25
        Share held out when a data set comes without a split.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
        ``X`` float32 of shape ``(n, n_features)``.

    Raises
    ------
    FileNotFoundError
        If a path does not exist or the image files are missing.
    ValueError
        If a file lacks an array or column, or ``n_samples`` is invalid.

    Examples
    --------
    >>> from sksparse.experiments import load_dataset
    >>> X, y, X_test, y_test = load_dataset("digits", n_samples=100)
    >>> X.shape, X_test.shape
    ((100, 64), (33, 64))
    """
    from sksparse import datasets

    if n_samples is not None and (
        isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1
    ):
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}.")
    name = str(data)
    if name == "digits":
        split = datasets.load_digits(
            random_state=random_state, n_samples=n_samples, test_size=test_size
        )
    elif name == "fashion-mnist":
        split = datasets.load_fashion_mnist(root, n_samples=n_samples)
    elif name == "mnist":
        split = datasets.load_mnist(root, n_samples=n_samples)
    else:
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(
                f"data {name!r} is neither one of {', '.join(DATASETS)} nor a file."
            )
        if path.suffix.lower() == ".npz":
            split = _load_npz(path)
        elif path.suffix.lower() == ".csv":
            split = _load_csv(path, random_state=random_state, test_size=test_size)
        else:
            raise ValueError(
                f"data file {name!r} must be a .npz or a .csv file, "
                f"got {path.suffix or 'no extension'}."
            )
        split = _subsample(split, n_samples)
    X_train, y_train, X_test, y_test = split
    X_train = np.asarray(X_train, dtype=np.float32).reshape(len(X_train), -1)
    X_test = np.asarray(X_test, dtype=np.float32).reshape(len(X_test), -1)
    return X_train, np.asarray(y_train), X_test, np.asarray(y_test)


def _load_npz(path):
    keys = ("X_train", "y_train", "X_test", "y_test")
    with np.load(path, allow_pickle=False) as archive:
        missing = [k for k in keys if k not in archive.files]
        if missing:
            raise ValueError(
                f"{path} lacks the arrays {', '.join(missing)}; a .npz data file "
                f"holds {', '.join(keys)}."
            )
        return tuple(archive[k] for k in keys)


def _as_labels(values):
    """Integer labels where every value is an integer, else the strings."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except ValueError:
        return np.asarray(values)
    if np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return np.asarray(values)


def _load_csv(path, *, random_state, test_size):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ValueError(f"{path} needs a header row and at least one sample.")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if r]
    if any(len(r) != len(header) for r in body):
        raise ValueError(f"{path}: every row must have {len(header)} columns.")
    lower = [h.lower() for h in header]
    target = next((lower.index(c) for c in _TARGET_COLUMNS if c in lower), None)
    split_col = lower.index("split") if "split" in lower else None
    if target is None:
        target = max(i for i in range(len(header)) if i != split_col)
    features = [i for i in range(len(header)) if i not in (target, split_col)]
    if not features:
        raise ValueError(f"{path} has no feature column.")
    columns = np.asarray(body, dtype=object)
    try:
        X = columns[:, features].astype(np.float32)
    except ValueError:
        raise ValueError(
            f"{path}: feature columns must hold numbers "
            f"({', '.join(header[i] for i in features)})."
        ) from None
    y = _as_labels([v.strip() for v in columns[:, target]])
    if split_col is None:
        from sklearn.model_selection import train_test_split

        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=random_state, stratify=y
        )
        return X_train, y_train, X_test, y_test
    split = np.char.lower(columns[:, split_col].astype(str))
    unknown = sorted(set(split) - {"train", "test"})
    if unknown:
        raise ValueError(
            f"{path}: the split column holds 'train' or 'test', got {unknown[0]!r}."
        )
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise ValueError(f"{path}: the split column needs train and test rows.")
    return X[train], y[train], X[test], y[test]


def _subsample(split, n_samples):
    if n_samples is None:
        return split
    X_train, y_train, X_test, y_test = split
    n_test = max(1, round(len(X_test) * min(n_samples, len(X_train)) / len(X_train)))
    return X_train[:n_samples], y_train[:n_samples], X_test[:n_test], y_test[:n_test]


# -- results on disk ----------------------------------------------------------
def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _write_atomic(path, text):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class ResultsWriter:
    """Write result rows to ``<out>/<name>.json`` and ``.csv`` as they arrive.

    Both files are rewritten (atomically, through a temporary file) after
    every row, so an interrupted experiment leaves complete, readable files
    holding every finished row.

    Parameters
    ----------
    out : str or path-like
        Folder to write into; created if missing.
    name : str
        File name without extension.
    meta : dict, default=None
        Written beside the rows in the JSON file (``{"meta": ..., "rows":
        [...]}``): the settings of the experiment.

    Attributes
    ----------
    rows : list of dict
        The rows added so far.
    json_path, csv_path : pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from sksparse.experiments import ResultsWriter
    >>> with tempfile.TemporaryDirectory() as out:
    ...     writer = ResultsWriter(out, "runs", meta={"seed": 0})
    ...     writer.add({"method": "dense", "accuracy": 0.97})
    ...     print(writer.csv_path.read_text().strip())
    method,accuracy
    dense,0.97
    """

    def __init__(self, out, name, meta=None):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.json_path = self.out / f"{name}.json"
        self.csv_path = self.out / f"{name}.csv"
        self.meta = meta or {}
        self.rows = []

    def add(self, row):
        """Append ``row`` and rewrite both files."""
        self.rows.append(dict(row))
        self.flush()

    def flush(self):
        """Write every row so far."""
        payload = {"meta": _jsonable(self.meta), "rows": _jsonable(self.rows)}
        _write_atomic(self.json_path, json.dumps(payload, indent=2) + "\n")
        columns = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        tmp = self.csv_path.with_name(f".{self.csv_path.name}.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: _csv_value(v) for k, v in row.items()})
        os.replace(tmp, self.csv_path)


def _csv_value(value):
    value = _jsonable(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else value


def format_table(rows, columns=None, *, floatfmt=".3f"):
    """Rows of dicts as a plain-text table, for a terminal.

    Parameters
    ----------
    rows : list of dict
    columns : list of str, default=None
        Columns to show, in order; None shows every key of the first row.
    floatfmt : str, default=".3f"

    Returns
    -------
    str

    Examples
    --------
    >>> from sksparse.experiments import format_table
    >>> print(format_table([{"method": "dense", "accuracy": 0.97512}]))
    method  accuracy
    ------  --------
    dense      0.975
    """
    if not rows:
        return "(no results)"
    columns = list(columns or rows[0])

    def cell(value):
        if isinstance(value, (float, np.floating)):
            return "nan" if not math.isfinite(value) else format(value, floatfmt)
        return "" if value is None else str(value)

    body = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]
    numeric = [
        all(
            isinstance(row.get(c), (int, float, np.number))
            and not isinstance(row.get(c), bool)
            for row in rows
            if row.get(c) is not None
        )
        for c in columns
    ]

    def line(cells):
        return "  ".join(
            s.rjust(w) if num else s.ljust(w)
            for s, w, num in zip(cells, widths, numeric)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(r) for r in body)])


# -- sparse MLPs: priors, pruning, sparse training ----------------------------
def sweep_methods():
    """Every method name :func:`sparsity_sweep` accepts, by kind.

    Returns
    -------
    dict of str to tuple of str
        ``"dense"``, ``"prior"`` (``"uniform"`` and the random-graph priors of
        :data:`sksparse.graphs.PRIORS`), ``"pruning"`` (magnitude scopes and
        ``"random"``) and ``"sparse-training"`` (SET, RigL).
    """
    from sksparse.graphs import PRIORS

    priors = ("uniform", *(p for p in PRIORS if p != "complete"))
    return {
        "dense": ("dense",),
        "prior": priors,
        "pruning": PRUNING_METHODS,
        "sparse-training": SPARSE_TRAINING_METHODS,
    }


def _method_kind(method):
    for kind, names in sweep_methods().items():
        if method in names:
            return kind
    known = [m for names in sweep_methods().values() for m in names]
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(known)}.")


def make_sweep_estimator(
    method,
    sparsity,
    *,
    hidden_layer_sizes=(128, 64),
    max_epochs=20,
    retrain_epochs=5,
    schedule=None,
    lr=5e-3,
    batch_size=128,
    random_state=0,
    device="cpu",
    verbose=0,
    dense=None,
):
    """The estimator :func:`sparsity_sweep` fits for one method and sparsity.

    Parameters
    ----------
    method : str
        ``"dense"``; a prior (``"uniform"``, ``"erdos_renyi"``,
        ``"watts_strogatz"``, ``"barabasi_albert"``, ...): a
        :class:`~sksparse.SparseMLPClassifier` sparse from the start; a
        pruning method (``"class-blinded"``, ``"class-uniform"``,
        ``"class-distributed"``, ``"random"``): a
        :class:`~sksparse.PrunedEstimator` around a dense one, re-trained for
        ``retrain_epochs``; or ``"set"``/``"rigl"``: a sparse classifier that
        drops and regrows connections while it learns.
    sparsity : float
        Fraction of the weights removed, in ``[0, 1)``.
    hidden_layer_sizes, max_epochs, lr, batch_size, random_state, device
        As for :class:`~sksparse.SparseMLPClassifier`.
    retrain_epochs : int, default=5
    schedule : {"one-shot", "iterative", "gradual"} or None, default=None
        Pruning schedule of :class:`~sksparse.PrunedEstimator`.
    verbose : int, default=0
        With ``verbose > 0`` the net prints skorch's epoch table and shows
        skorch's ``ProgressBar`` over each epoch's batches.
    dense : fitted SparseMLPClassifier, default=None
        For a pruning method: the dense network to prune, already trained
        (``PrunedEstimator(..., prefit=True)``), so that several pruning runs
        share one dense training.

    Returns
    -------
    estimator
        Not fitted.
    """
    from sksparse import PrunedEstimator, SparseMLPClassifier

    kind = _method_kind(method)
    callbacks = None
    if verbose:
        from skorch.callbacks import ProgressBar

        callbacks = [("progress", ProgressBar())]
    params = dict(
        hidden_layer_sizes=tuple(hidden_layer_sizes),
        max_epochs=max_epochs,
        lr=lr,
        batch_size=batch_size,
        random_state=random_state,
        device=device,
        verbose=verbose,
        callbacks=callbacks,
    )
    if kind == "dense":
        return SparseMLPClassifier(**params)
    if kind == "prior":
        prior = None if method == "uniform" else method
        return SparseMLPClassifier(sparsity=sparsity, prior=prior, **params)
    if kind == "sparse-training":
        callback_class = _require(
            "sksparse.pruning", {"set": "SET", "rigl": "RigL"}[method]
        )
        callback = callback_class(0.3, update_every="epoch", random_state=random_state)
        params["callbacks"] = [*(callbacks or []), (method, callback)]
        return SparseMLPClassifier(sparsity=sparsity, prior="erdos_renyi", **params)
    from sksparse.pruning import MagnitudePruner, RandomPruner

    if method == "random":
        pruner = RandomPruner(sparsity, random_state=random_state)
    else:
        pruner = MagnitudePruner(sparsity, scope=method)
    return PrunedEstimator(
        SparseMLPClassifier(**params) if dense is None else dense,
        pruner,
        retrain_epochs=retrain_epochs,
        schedule=schedule,
        prefit=dense is not None,
    )


def _fit_and_test(estimator, X, y, X_test, y_test, row, model_path):
    """Fit, test and (optionally) save one estimator; runs in joblib workers."""
    start = time.perf_counter()
    estimator.fit(X, y)
    seconds = time.perf_counter() - start
    row = dict(row)
    row["sparsity"] = float(estimator.sparsity_)
    row["accuracy"] = float(estimator.score(X_test, y_test))
    row["train_accuracy"] = float(estimator.score(X, y))
    row["fit_seconds"] = round(seconds, 3)
    if model_path is not None:
        import joblib

        Path(model_path).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(estimator, model_path)
        row["model"] = str(model_path)
    return row


def sparsity_sweep(
    X,
    y,
    X_test,
    y_test,
    *,
    methods=("dense", "uniform", "class-blinded"),
    sparsities=(0.5, 0.8, 0.9),
    hidden_layer_sizes=(128, 64),
    max_epochs=20,
    retrain_epochs=5,
    schedule=None,
    lr=5e-3,
    batch_size=128,
    random_state=0,
    device="cpu",
    n_jobs=None,
    verbose=0,
    save_dir=None,
):
    """Train sparse MLPs by several methods at several sparsities; yield results.

    ``"dense"`` runs once (sparsity 0); every other method runs once per
    sparsity. The dense network is trained once and every pruning run
    prunes and re-trains a copy of it (the ``"dense"`` row, if asked for, is
    that network); all runs share ``random_state``.

    Parameters
    ----------
    X, y, X_test, y_test : array-like
        Training and test data.
    methods : list of str, default=("dense", "uniform", "class-blinded")
        See :func:`make_sweep_estimator` and :func:`sweep_methods`.
    sparsities : list of float, default=(0.5, 0.8, 0.9)
    hidden_layer_sizes, max_epochs, retrain_epochs, schedule, lr, batch_size, \
random_state, device, verbose
        See :func:`make_sweep_estimator`.
    n_jobs : int, default=None
        Runs in parallel through joblib (after the dense training); rows
        still arrive in order.
    save_dir : str or path-like, default=None
        Save every fitted estimator there with ``joblib.dump`` as
        ``<method>-<sparsity>.joblib``; its path is the row's ``model``.

    Yields
    ------
    row : dict
        ``method``, ``kind`` (dense, prior, pruning, sparse-training),
        ``target_sparsity``, ``sparsity`` (measured), ``accuracy`` (test),
        ``train_accuracy``, ``fit_seconds`` (for a pruning run, pruning and
        re-training only) and, with ``save_dir``, ``model``.
    """
    from joblib import Parallel, delayed

    for value in sparsities:
        if not 0 <= value < 1:
            raise ValueError(f"sparsities must lie in [0, 1), got {value!r}.")
    settings = []
    for method in dict.fromkeys(methods):
        kind = _method_kind(method)
        for sparsity in [0.0] if kind == "dense" else sparsities:
            settings.append((method, kind, float(sparsity)))
    if not settings:
        raise ValueError("methods must name at least one method.")
    common = dict(
        hidden_layer_sizes=hidden_layer_sizes,
        max_epochs=max_epochs,
        retrain_epochs=retrain_epochs,
        schedule=schedule,
        lr=lr,
        batch_size=batch_size,
        random_state=random_state,
        device=device,
        verbose=verbose,
    )

    def model_path(method, sparsity):
        if save_dir is None:
            return None
        return Path(save_dir) / f"{method}-{sparsity:g}.joblib"

    dense = None
    if any(kind in ("dense", "pruning") for _, kind, _ in settings):
        # Trained first, here: the pruning runs below all start from it.
        row = {"method": "dense", "kind": "dense", "target_sparsity": 0.0}
        path = model_path("dense", 0.0) if "dense" in methods else None
        dense = make_sweep_estimator("dense", 0.0, **common)
        row = _fit_and_test(dense, X, y, X_test, y_test, row, path)
        if "dense" in methods:
            yield row

    def jobs():
        for method, kind, sparsity in settings:
            if kind == "dense":
                continue
            estimator = make_sweep_estimator(
                method, sparsity, dense=dense if kind == "pruning" else None, **common
            )
            row = {"method": method, "kind": kind, "target_sparsity": sparsity}
            yield delayed(_fit_and_test)(
                estimator, X, y, X_test, y_test, row, model_path(method, sparsity)
            )

    yield from Parallel(n_jobs=n_jobs, return_as="generator")(jobs())


# -- graph-prior RNNs on the Reber grammar and structural prediction ----------
def _prior_params(prior, rng):
    """Random parameters for a prior, so that a population varies in structure."""
    if prior in ("watts_strogatz", "newman_watts_strogatz", "powerlaw_cluster"):
        return {"p": round(float(rng.uniform(0.0, 1.0)), 3)}
    return {}


def _train_rnn(params, strings, y, strings_test, y_test, row):
    from sksparse import GraphPriorRNNClassifier
    from sksparse.graphs import network_to_graph

    start = time.perf_counter()
    clf = GraphPriorRNNClassifier(**params).fit(strings, y)
    row = dict(row)
    row["sparsity"] = float(clf.sparsity_)
    row["accuracy"] = float(clf.score(strings_test, y_test))
    row["fit_seconds"] = round(time.perf_counter() - start, 3)
    graph = network_to_graph(clf)
    row["n_nodes"] = graph.number_of_nodes()
    row["n_edges"] = graph.number_of_edges()
    return row, graph


def reber_population(
    *,
    cells=("rnn", "gru", "lstm"),
    priors=("erdos_renyi", "watts_strogatz", "barabasi_albert"),
    n_networks=20,
    hidden_sizes=(6, 10, 16),
    sparsity=(0.1, 0.9),
    embedded=False,
    n_samples=1200,
    max_length=20,
    max_epochs=30,
    lr=2e-2,
    early_stopping=True,
    random_state=0,
    device="cpu",
    n_jobs=None,
    verbose=0,
):
    """Train a population of graph-prior RNNs on the Reber grammar; yield each.

    Every network classifies strings as grammatical or not
    (:func:`sksparse.datasets.make_reber_classification`, one data set for
    the whole population, two thirds for training and one third for
    testing). Networks differ in their prior (cycled through ``priors``),
    its parameters (a random rewiring probability where the prior has one),
    their width (drawn from ``hidden_sizes``), their sparsity (uniform in
    the ``sparsity`` range) and their seed.

    Parameters
    ----------
    cells : list of {"rnn", "gru", "lstm"}, default=("rnn", "gru", "lstm")
    priors : list of str, default=("erdos_renyi", "watts_strogatz", \
"barabasi_albert")
        Prior names of :data:`sksparse.graphs.PRIORS`, or ``"uniform"``.
    n_networks : int, default=20
        Networks per cell type.
    hidden_sizes : int or list of int, default=(6, 10, 16)
        Widths the networks' hidden layers are drawn from.
    sparsity : (float, float), default=(0.1, 0.9)
        Range the networks' sparsities are drawn from.
    embedded : bool, default=False
        Use the embedded Reber grammar (long-range memory).
    n_samples : int, default=1200
        Strings generated (train and test together).
    max_length : int, default=20
        Longest string.
    max_epochs, lr, early_stopping, device
        As for :class:`~sksparse.GraphPriorRNNClassifier`; early stopping
        holds out a tenth of the training strings.
    random_state : int, default=0
        Seeds the data and the population.
    n_jobs : int, default=None
        Networks trained in parallel through joblib.
    verbose : int, default=0

    Yields
    ------
    row : dict
        ``cell``, ``prior``, ``prior_params``, ``hidden_size``,
        ``target_sparsity``, ``sparsity``, ``seed``, ``accuracy`` (test),
        ``fit_seconds``, ``n_nodes``, ``n_edges``.
    graph : networkx.DiGraph
        The trained network's structure (:func:`sksparse.graphs.network_to_graph`).
    """
    from joblib import Parallel, delayed

    from sksparse.datasets import make_reber_classification

    low, high = sparsity
    if not 0 <= low <= high < 1:
        raise ValueError(f"sparsity must be a range within [0, 1), got {sparsity!r}.")
    if n_networks < 1:
        raise ValueError(f"n_networks must be >= 1, got {n_networks!r}.")
    widths = [hidden_sizes] if isinstance(hidden_sizes, int) else list(hidden_sizes)
    if not widths or min(widths) < 1:
        raise ValueError(f"hidden_sizes must be ints >= 1, got {hidden_sizes!r}.")
    rng = np.random.default_rng(random_state)
    strings, y = make_reber_classification(
        n_samples,
        embedded=embedded,
        max_length=max_length,
        random_state=int(rng.integers(2**31 - 1)),
    )
    n_train = (2 * len(strings)) // 3
    train = strings[:n_train], y[:n_train]
    test = strings[n_train:], y[n_train:]

    def jobs():
        for cell in cells:
            for i in range(n_networks):
                prior = priors[i % len(priors)]
                prior_params = _prior_params(prior, rng)
                width = int(widths[int(rng.integers(len(widths)))])
                target = round(float(rng.uniform(low, high)), 3)
                seed = int(rng.integers(2**31 - 1))
                params = dict(
                    cell=cell,
                    hidden_size=width,
                    prior=None if prior == "uniform" else prior,
                    prior_params=prior_params or None,
                    sparsity=target,
                    max_epochs=max_epochs,
                    lr=lr,
                    early_stopping=early_stopping,
                    random_state=seed,
                    device=device,
                    verbose=verbose,
                )
                row = {
                    "cell": cell,
                    "prior": prior,
                    "prior_params": json.dumps(prior_params, sort_keys=True),
                    "hidden_size": width,
                    "target_sparsity": target,
                    "seed": seed,
                }
                yield delayed(_train_rnn)(params, *train, *test, row)

    yield from Parallel(n_jobs=n_jobs, return_as="generator")(jobs())


def _make_regressor(name, random_state):
    from sklearn import ensemble, linear_model, svm

    if name == "forest":
        return ensemble.RandomForestRegressor(random_state=random_state)
    if name == "linear":
        return linear_model.LinearRegression()
    if name == "bayesian-ridge":
        return linear_model.BayesianRidge()
    if name == "gradient-boosting":
        return ensemble.GradientBoostingRegressor(random_state=random_state)
    if name == "svr":
        return svm.SVR()
    raise ValueError(f"regressor must be one of {', '.join(REGRESSORS)}, got {name!r}.")


def predict_from_structure(
    graphs,
    scores,
    groups=None,
    *,
    regressor="forest",
    cv=5,
    random_state=0,
    n_jobs=None,
):
    """Cross-validated prediction of networks' scores from their graphs alone.

    A :class:`~sksparse.StructuralRegressor` is cross-validated within each
    group (a cell type, say) and over all networks together; the scores of
    its out-of-fold predictions are reported.

    Parameters
    ----------
    graphs : list of networkx.DiGraph
    scores : array-like of shape (n_networks,)
        What to predict (test accuracy).
    groups : array-like of shape (n_networks,), default=None
        Group of each network; each group is predicted on its own.
    regressor : str, default="forest"
        One of :data:`REGRESSORS`: random forest, linear regression, Bayesian
        ridge, gradient boosting, support-vector regression.
    cv : int, default=5
        Folds (fewer for a group with fewer networks; a group needs 4).
    random_state : int, default=0
    n_jobs : int, default=None

    Returns
    -------
    result : dict
        ``"predicted"``: out-of-fold predictions within each group (NaN where
        a group was too small), and ``"metrics"``: one row per group with
        ``n``, ``r2``, ``kendall_tau`` and ``spearman``, and, with several
        groups, a row ``"all"`` for their predictions pooled.

    Raises
    ------
    MissingFeatureError
        If this installation has no ``StructuralRegressor``.
    """
    from scipy import stats
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict

    structural_regressor = _require("sksparse.estimators", "StructuralRegressor")
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(["all"] * len(scores) if groups is None else groups)
    _make_regressor(regressor, random_state)  # validate the name early

    def oof(index):
        model = structural_regressor(
            _make_regressor(regressor, random_state), n_jobs=n_jobs
        )
        folds = KFold(min(cv, len(index)), shuffle=True, random_state=random_state)
        return cross_val_predict(
            model, [graphs[i] for i in index], scores[index], cv=folds
        )

    def metrics(name, true, pred):
        constant = np.ptp(true) == 0 or np.ptp(pred) == 0
        return {
            "group": name,
            "regressor": regressor,
            "n": len(true),
            "r2": float(r2_score(true, pred)),
            "kendall_tau": np.nan
            if constant
            else float(stats.kendalltau(true, pred)[0]),
            "spearman": np.nan if constant else float(stats.spearmanr(true, pred)[0]),
        }

    predicted = np.full(len(scores), np.nan)
    rows = []
    for name in dict.fromkeys(groups.tolist()):
        index = np.flatnonzero(groups == name)
        if len(index) < 4:
            continue
        predicted[index] = oof(index)
        rows.append(metrics(name, scores[index], predicted[index]))
    done = np.isfinite(predicted)
    if len(rows) > 1:
        rows.append(metrics("all", scores[done], predicted[done]))
    return {"predicted": predicted, "metrics": rows}


# -- genetic structure search -------------------------------------------------
def _search_rows(search, generation):
    results = search.cv_results_
    rows = []
    for i in np.flatnonzero(np.asarray(results["generation"]) == generation):
        params = results["params"][i]
        rows.append(
            {
                "individual": int(i),
                "generation": int(generation),
                "hidden_layer_sizes": "-".join(
                    str(s) for s in params.get("hidden_layer_sizes", ())
                ),
                "sparsity": float(params.get("sparsity", np.nan)),
                "prior": params.get("prior") or "uniform",
                "prior_params": json.dumps(params.get("prior_params") or {}),
                "lr": float(params.get("lr", np.nan)),
                "trained": bool(results["trained"][i]),
                "mean_test_score": float(results["mean_test_score"][i]),
                "std_test_score": float(results["std_test_score"][i]),
                "predicted_score": float(results["predicted_score"][i]),
                "n_epochs": float(results["n_epochs"][i]),
                "parents": " ".join(str(p) for p in results["parents"][i]),
            }
        )
    return rows


def genetic_search(
    X,
    y,
    *,
    population_size=8,
    generations=4,
    predictor=None,
    screen_ratio=0.5,
    cv=3,
    max_layers=3,
    max_units=256,
    max_epochs=5,
    checkpoint=None,
    random_state=0,
    device="cpu",
    n_jobs=None,
    verbose=0,
):
    """Genetic structure search over sparse MLPs, one generation at a time.

    A :class:`~sksparse.GeneticSearchCV` is fitted generation by generation.

    The genome is the hidden layer sizes (1 to ``max_layers`` layers of 8 to
    ``max_units`` units), the sparsity (0.5 to 0.95), the prior (uniform,
    Erdős–Rényi, Watts–Strogatz with its rewiring probability,
    Barabási–Albert) and the learning rate (1e-3 to 3e-2, log-uniform). The
    search's state is checkpointed after every generation, so a run that is
    interrupted resumes from its last finished generation when called again
    with the same ``checkpoint``.

    Parameters
    ----------
    X, y : array-like
        Data the individuals are cross-validated on.
    population_size, generations, screen_ratio, cv
        As for :class:`~sksparse.GeneticSearchCV`.
    predictor : None, "auto", "structural" or regressor, default=None
        ``None`` trains every individual; ``"auto"`` screens offspring with
        the search's default performance predictor; ``"structural"`` with a
        :class:`~sksparse.StructuralRegressor` (structure alone, as in the
        paper); a regressor is passed on as it is.
    max_layers, max_units : int
        Bounds of the layer-size genome.
    max_epochs : int, default=5
        Epochs each individual trains.
    checkpoint : str or path-like, default=None
        The search's checkpoint file; a temporary one when None.
    random_state : int, default=0
    device : str, default="cpu"
    n_jobs : int, default=None
        Fits in parallel through joblib.
    verbose : int, default=0

    Yields
    ------
    rows : list of dict
        The individuals that generation evaluated: ``individual``,
        ``generation``, the genome (``hidden_layer_sizes``, ``sparsity``,
        ``prior``, ``prior_params``, ``lr``), ``trained``,
        ``mean_test_score``, ``std_test_score``, ``predicted_score``,
        ``n_epochs``, ``parents``.
    search : GeneticSearchCV
        The search so far; after the last generation refitted, with
        ``best_estimator_``.
    """
    import tempfile

    from scipy.stats import loguniform, uniform

    from sksparse import SparseMLPClassifier

    search_class = _require("sksparse.search", "GeneticSearchCV")
    layer_sizes = _require("sksparse.search", "LayerSizes")
    prior_choice = _require("sksparse.search", "PriorChoice")
    if generations < 1 or population_size < 2:
        raise ValueError(
            "generations must be >= 1 and population_size >= 2, got "
            f"{generations} and {population_size}."
        )
    space = {
        "hidden_layer_sizes": layer_sizes(1, max_layers, min(8, max_units), max_units),
        "sparsity": uniform(0.5, 0.45),
        "prior": prior_choice(
            {
                None: {},
                "erdos_renyi": {},
                "watts_strogatz": {"p": uniform(0.0, 1.0)},
                "barabasi_albert": {},
            }
        ),
        "lr": loguniform(1e-3, 3e-2),
    }
    if predictor == "structural":
        regressor = _require("sksparse.estimators", "StructuralRegressor")
        predictor = regressor(random_state=random_state)
    estimator = SparseMLPClassifier(
        max_epochs=max_epochs, random_state=random_state, device=device
    )
    search = search_class(
        estimator,
        space,
        population_size=population_size,
        generations=1,
        predictor=predictor,
        screen_ratio=screen_ratio,
        cv=cv,
        n_jobs=n_jobs,
        refit=False,
        random_state=random_state,
        verbose=verbose,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(checkpoint) if checkpoint else Path(tmp) / "search.pkl"
        search.set_params(checkpoint=str(path))
        for generation in range(generations):
            last = generation == generations - 1
            search.set_params(generations=generation + 1, refit=last)
            search.fit(X, y)
            yield _search_rows(search, generation), search


# -- reading a saved model ----------------------------------------------------
def load_model(path):
    """Load an estimator saved with ``joblib.dump``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a joblib file.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {str(path)!r}.")
    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure
        raise ValueError(
            f"{str(path)!r} is not a model saved with joblib.dump "
            f"({type(exc).__name__}: {exc})."
        ) from None


def network_module(model):
    """The torch module inside a fitted model.

    Parameters
    ----------
    model : estimator, search, pipeline, skorch net or torch.nn.Module
        A search is read through its ``best_estimator_``, a pipeline through
        its last step.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    TypeError
        If no fitted network is found.
    """
    from torch import nn

    seen = 0
    while not isinstance(model, nn.Module) and seen < 8:
        seen += 1
        if hasattr(model, "best_estimator_"):
            model = model.best_estimator_
        elif hasattr(model, "steps"):
            model = model.steps[-1][1]
        elif isinstance(getattr(model, "__dict__", {}).get("module_"), nn.Module):
            model = model.module_
        else:
            try:
                model = model.module_
            except AttributeError:
                break
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"found no fitted network in a {type(model).__name__}: expected a "
            "fitted sksparse estimator, a search, a pipeline, a skorch net or a "
            "torch module."
        )
    return model


def layer_summary(model):
    """Size and sparsity of every prunable weight of a network.

    Parameters
    ----------
    model : fitted estimator or torch.nn.Module
        See :func:`network_module`.

    Returns
    -------
    list of dict
        One row per weight (:func:`sksparse.pruning.find_prunable_weights`):
        ``layer``, ``shape``, ``size``, ``size_nz``, ``sparsity``.

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import SparseMLP
    >>> from sksparse.experiments import layer_summary
    >>> net = SparseMLP(4, (4,), 2, masks=[torch.eye(4), torch.ones(2, 4)])
    >>> [(r["layer"], r["size"], r["size_nz"]) for r in layer_summary(net)]
    [('layers.0.weight', 16, 4), ('layers.2.weight', 8, 8)]
    """
    from sksparse.pruning import find_prunable_weights

    rows = []
    for weight in find_prunable_weights(network_module(model)):
        size = weight.weight.numel()
        size_nz = int(weight.keep().count_nonzero())
        rows.append(
            {
                "layer": weight.name,
                "shape": "x".join(str(s) for s in weight.weight.shape),
                "size": size,
                "size_nz": size_nz,
                "sparsity": 1 - size_nz / size if size else 0.0,
            }
        )
    return rows


def model_report(model, X=None):
    """Compression report and structure summary of a fitted network.

    Parameters
    ----------
    model : fitted estimator or torch.nn.Module
        See :func:`network_module`.
    X : array-like, default=None
        Samples to time the network and its compressed form on.

    Returns
    -------
    report : dict
        ``"model"`` (its class), ``"layers"`` (:func:`layer_summary`),
        ``"compression"`` (:func:`sksparse.compression_report`, or the
        reason it could not be made under ``"error"``) and ``"structure"``
        (:func:`sksparse.graphs.structural_features` of the network's graph).
    """
    from sksparse.graphs import network_to_graph, structural_features

    module = network_module(model)
    report = {"model": type(model).__name__, "layers": layer_summary(module)}
    try:
        compression_report = _require("sksparse.estimators", "compression_report")
        report["compression"] = compression_report(module, X)
    except (MissingFeatureError, TypeError, ValueError, NotImplementedError) as exc:
        total = sum(r["size"] for r in report["layers"])
        nonzero = sum(r["size_nz"] for r in report["layers"])
        report["compression"] = {
            "size": total,
            "size_nz": nonzero,
            "compression_ratio": total / max(nonzero, 1),
            "error": f"{type(exc).__name__}: {exc}",
        }
    report["structure"] = structural_features(network_to_graph(module))
    return report


def export_graph(model, path, *, weights=False):
    """Write a network's structure to a graph file for Gephi or networkx.

    The format follows the extension: ``.graphml``, ``.gexf``, ``.gml`` or
    ``.edgelist``. Nodes are neurons with attributes ``layer``, ``index`` and
    ``kind``; edges are kept connections (with ``weight`` when asked).

    Parameters
    ----------
    model : fitted estimator or torch.nn.Module
        See :func:`network_module`.
    path : str or path-like
    weights : bool, default=False

    Returns
    -------
    graph : networkx.DiGraph
        The graph written.
    """
    import networkx as nx

    from sksparse.graphs import network_to_graph

    writers = {
        ".graphml": nx.write_graphml,
        ".gexf": nx.write_gexf,
        ".gml": nx.write_gml,
        ".edgelist": lambda g, p: nx.write_edgelist(g, p, data=True),
    }
    path = Path(path)
    writer = writers.get(path.suffix.lower())
    if writer is None:
        raise ValueError(
            f"graph file must end in {', '.join(writers)}; got {path.name!r}."
        )
    graph = network_to_graph(network_module(model), weights=weights)
    # GraphML and GEXF store only scalars: other attribute values become text.
    attributes = [d for _, d in graph.nodes(data=True)]
    attributes += [d for _, _, d in graph.edges(data=True)]
    for data in attributes:
        for key, value in data.items():
            if isinstance(value, np.generic):
                data[key] = value.item()
            elif not isinstance(value, (bool, int, float, str)):
                data[key] = str(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer(graph, str(path))
    return graph
