"""Sparse MLPs by prior, pruning and sparse training, swept over sparsities."""

import time
from pathlib import Path

import joblib
from joblib import Parallel, delayed
from skorch.callbacks import ProgressBar

from sksparse.estimators import PrunedEstimator, SparseMLPClassifier
from sksparse.graphs import PRIORS
from sksparse.pruning import SET, MagnitudePruner, RandomPruner, RigL
from sksparse.utils._files import atomic_write

__all__ = [
    "PRUNING_METHODS",
    "SPARSE_TRAINING_METHODS",
    "make_sweep_estimator",
    "sparsity_sweep",
    "sweep_methods",
]

#: Pruning methods of :func:`sparsity_sweep`: magnitude scopes and the baseline.
PRUNING_METHODS = ("class-blinded", "class-uniform", "class-distributed", "random")
#: Sparse-training methods of :func:`sparsity_sweep` (sparse during learning).
SPARSE_TRAINING_METHODS = ("set", "rigl")


def sweep_methods():
    """Every method name :func:`sparsity_sweep` accepts, by kind.

    Returns
    -------
    dict of str to tuple of str
        ``"dense"``, ``"prior"`` (``"uniform"`` and the random-graph priors of
        :data:`sksparse.graphs.PRIORS`), ``"pruning"`` (magnitude scopes and
        ``"random"``) and ``"sparse-training"`` (SET, RigL).
    """
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
    prior_params=None,
    pattern=None,
    rewind=None,
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
    prior_params : dict, default=None
        ``prior_params`` of a graph prior's classifier, e.g.
        ``{"min_in_degree": 3}`` (:func:`sksparse.graphs.prior_masks`); not
        used by the other methods (``"uniform"`` included).
    pattern : None, "N:M" or tuple (r, c), default=None
        For ``"class-blinded"`` and ``"class-uniform"``: the structure of
        the masks (``MagnitudePruner(pattern=...)``); refused for the other
        pruning methods.
    rewind : None, "init", "reinit" or int, default=None
        For a pruning method: :class:`~sksparse.PrunedEstimator`'s
        lottery-ticket reset. ``"init"`` and an int need the weights of the
        first fit, so that run fits its own dense network (the same one, from
        the same ``random_state``) instead of pruning ``dense``; ``"reinit"``
        prunes ``dense`` as without.

    Returns
    -------
    estimator
        Not fitted.
    """
    kind = _method_kind(method)
    callbacks = None
    if verbose:
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
        if method == "uniform":
            return SparseMLPClassifier(sparsity=sparsity, **params)
        return SparseMLPClassifier(
            sparsity=sparsity, prior=method, prior_params=prior_params, **params
        )
    if kind == "sparse-training":
        callback_class = {"set": SET, "rigl": RigL}[method]
        callback = callback_class(0.3, update_every="epoch", random_state=random_state)
        params["callbacks"] = [*(callbacks or []), (method, callback)]
        return SparseMLPClassifier(sparsity=sparsity, prior="erdos_renyi", **params)
    if pattern is not None and method not in ("class-blinded", "class-uniform"):
        raise ValueError(
            f"pattern={pattern!r} works with the class-blinded and class-uniform "
            f"methods, got method={method!r}."
        )
    if method == "random":
        pruner = RandomPruner(sparsity, random_state=random_state)
    else:
        pruner = MagnitudePruner(sparsity, scope=method, pattern=pattern)
    if rewind not in (None, "reinit"):
        dense = None  # the rewind point is taken during the run's own fit
    return PrunedEstimator(
        SparseMLPClassifier(**params) if dense is None else dense,
        pruner,
        retrain_epochs=retrain_epochs,
        schedule=schedule,
        prefit=dense is not None,
        rewind=rewind,
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
        Path(model_path).parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a full disk or a kill leaves no truncated model file.
        with atomic_write(model_path, "wb") as file:
            joblib.dump(estimator, file)
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
    prior_params=None,
    pattern=None,
    rewind=None,
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
random_state, device, verbose, prior_params, pattern, rewind
        See :func:`make_sweep_estimator` (``pattern`` applies to the
        class-blinded and class-uniform runs, ``rewind`` to every pruning
        run).
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
                method,
                sparsity,
                dense=dense if kind == "pruning" else None,
                prior_params=prior_params if kind == "prior" else None,
                pattern=pattern if kind == "pruning" else None,
                rewind=rewind if kind == "pruning" else None,
                **common,
            )
            row = {"method": method, "kind": kind, "target_sparsity": sparsity}
            yield delayed(_fit_and_test)(
                estimator, X, y, X_test, y_test, row, model_path(method, sparsity)
            )

    yield from Parallel(n_jobs=n_jobs, return_as="generator")(jobs())
