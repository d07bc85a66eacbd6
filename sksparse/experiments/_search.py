"""The genetic structure search of the command line, one generation at a time."""

import json
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import loguniform, uniform

from sksparse.estimators import SparseMLPClassifier, StructuralRegressor
from sksparse.search import GeneticSearchCV, LayerSizes, PriorChoice

__all__ = ["genetic_search"]


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
