"""The genetic structure search of the command line, one generation at a time."""

import json
import queue
import tempfile
import threading
from pathlib import Path

import numpy as np
from scipy.stats import loguniform, uniform

from sksparse.estimators import SparseMLPClassifier, StructuralRegressor
from sksparse.search import GeneticSearchCV, LayerSizes, PriorChoice

__all__ = ["genetic_search"]


def _search_rows(results, generation):
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

    One :class:`~sksparse.GeneticSearchCV` fit; its ``on_generation`` hook
    hands each finished generation's rows out as they come.

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
        The search; with the last generation's rows it is fitted and
        refitted (``cv_results_``, ``best_estimator_``), before that it is
        still running.
    """
    if generations < 1 or population_size < 2:
        raise ValueError(
            "generations must be >= 1 and population_size >= 2, got "
            f"{generations} and {population_size}."
        )
    space = {
        "hidden_layer_sizes": LayerSizes(1, max_layers, min(8, max_units), max_units),
        "sparsity": uniform(0.5, 0.45),
        "prior": PriorChoice(
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
        predictor = StructuralRegressor(random_state=random_state)
    estimator = SparseMLPClassifier(
        max_epochs=max_epochs, random_state=random_state, device=device
    )
    search = GeneticSearchCV(
        estimator,
        space,
        population_size=population_size,
        generations=generations,
        predictor=predictor,
        screen_ratio=screen_ratio,
        cv=cv,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=verbose,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(checkpoint) if checkpoint else Path(tmp) / "search.json"
        search.set_params(checkpoint=str(path))
        yield from _by_generation(search, X, y, generations)


def _by_generation(search, X, y, generations):
    """Fit ``search`` once, yielding each generation's rows as it finishes.

    The fit runs in a thread whose ``on_generation`` hook hands every
    generation's results to this generator; the last generation is yielded
    once ``fit`` has returned (refitted). Generations a resumed checkpoint
    already holds are yielded first. A caller that stops early (Ctrl-C, or
    ``close()``) does not wait: the thread is a daemon, and the hook stops the
    search at its next generation's end, after the checkpoint is written.
    """
    records = queue.Queue()
    stop = threading.Event()

    def hook(record):
        if stop.is_set():
            raise _Stopped
        records.put(("generation", record.cv_results))

    def work():
        try:
            search.set_params(on_generation=hook).fit(X, y)
            outcome = ("done", search.cv_results_)
        except _Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - re-raised by the reader
            outcome = ("error", exc)
        finally:  # the search the caller keeps holds no closure (it pickles)
            search.set_params(on_generation=None)
        records.put(outcome)

    threading.Thread(target=work, name="genetic_search", daemon=True).start()
    done = 0  # generations yielded so far
    try:
        while True:
            kind, results = _get(records)
            if kind == "error":
                raise results
            last = generations if kind == "done" else generations - 1
            available = int(np.max(results["generation"], initial=-1)) + 1
            while done < min(available, last):
                yield _search_rows(results, done), search
                done += 1
            if kind == "done":
                return
    finally:
        stop.set()


class _Stopped(Exception):
    """Raised by the hook to end a fit whose reader has gone."""


def _get(records):
    # A timed wait, so that Ctrl-C reaches the main thread promptly.
    while True:
        try:
            return records.get(timeout=0.2)
        except queue.Empty:
            continue
