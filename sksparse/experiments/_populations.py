"""Populations of graph-prior RNNs on the Reber grammar, and predicting their
scores from their structure alone."""

import json
import time

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from sklearn import ensemble, linear_model, svm
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from sksparse.datasets import make_reber_classification
from sksparse.estimators import GraphPriorRNNClassifier, StructuralRegressor
from sksparse.graphs import network_to_graph

__all__ = ["REGRESSORS", "predict_from_structure", "reber_population"]

#: Regressors :func:`predict_from_structure` can put behind the features.
REGRESSORS = ("forest", "linear", "bayesian-ridge", "gradient-boosting", "svr")


def _prior_params(prior, rng):
    """Random parameters for a prior, so that a population varies in structure."""
    if prior in ("watts_strogatz", "newman_watts_strogatz", "powerlaw_cluster"):
        return {"p": round(float(rng.uniform(0.0, 1.0)), 3)}
    return {}


def _train_rnn(params, strings, y, strings_test, y_test, row):
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
    """
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(["all"] * len(scores) if groups is None else groups)
    _make_regressor(regressor, random_state)  # validate the name early

    def oof(index):
        model = StructuralRegressor(
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
