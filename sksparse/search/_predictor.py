"""Performance prediction for the genetic search: structure -> expected score.

:class:`~sksparse.search.GeneticSearchCV` builds every candidate's network
*without training it* (:func:`candidate_graph`), reads it as a graph, and
asks a predictor fitted on the candidates trained so far which of the new ones
are worth training (Stier, Darji & Granitzer 2021, the performance prediction
inside their architecture search).

A predictor is any scikit-learn regressor whose ``fit`` and ``predict`` take a
list of ``networkx`` graphs, such as
:class:`~sksparse.estimators.StructuralRegressor` (structure only, as in the
paper). The search annotates each graph with the candidate's hyper-parameters
(``graph.graph["params"]`` and their numeric encoding
``graph.graph["genome_features"]``); :class:`PerformancePredictor`, the default,
uses both the structure and that encoding.
"""

import math

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

from sksparse.utils import find_net

__all__ = ["PerformancePredictor", "candidate_graph", "layered_features"]

# Estimator parameters that count training epochs: set to 0 to build a
# candidate's network without training it.
_EPOCH_PARAMS = ("max_epochs", "retrain_epochs")


def _probe_indices(y, n_extra=32):
    """A few rows holding every class of ``y`` (all rows' classes matter)."""
    if y is None:
        return np.arange(n_extra)
    y = np.asarray(y)
    n = len(y)
    if y.ndim == 1 and y.dtype.kind in "OUSbiu":
        _, first = np.unique(y, return_index=True)
        return np.unique(np.concatenate([first, np.arange(min(n, n_extra))]))
    return np.arange(min(n, n_extra))


def _network_to_graph():
    try:
        from sksparse.graphs import network_to_graph
    except ImportError:  # exported by the graphs package once it is complete
        from sksparse.graphs._network import network_to_graph
    return network_to_graph


def candidate_graph(estimator, X, y=None):
    """Build an estimator's network without training it and read its graph.

    Every parameter named ``max_epochs`` or ``retrain_epochs`` (nested ones
    too, e.g. ``estimator__max_epochs``) is set to 0 on a clone, which is
    fitted on a few rows holding every class, so the structure (prior, masks,
    pruning) is drawn exactly as a real fit would draw it, at almost no cost.

    Parameters
    ----------
    estimator : estimator
        A sksparse estimator, or a pipeline or meta-estimator around one.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), default=None

    Returns
    -------
    graph : networkx.DiGraph
        As :func:`sksparse.graphs.network_to_graph` reads it.

    Raises
    ------
    ValueError
        If no network can be found in the fitted clone.
    """
    est = clone(estimator)
    zero = {
        name: 0
        for name in est.get_params(deep=True)
        if name.rsplit("__", 1)[-1] in _EPOCH_PARAMS
    }
    est.set_params(**zero)
    rows = _probe_indices(y)
    rows = rows[rows < _num_samples(X)]
    X_probe = _safe_indexing(X, rows)
    if y is None:
        est.fit(X_probe)
    else:
        est.fit(X_probe, _safe_indexing(y, rows))
    net = find_net(est)
    if net is None:
        raise ValueError(
            f"cannot read a network structure from {type(estimator).__name__}: "
            "the predictor needs an estimator (or pipeline ending in one) with a "
            "fitted module_, such as SparseMLPClassifier."
        )
    return _network_to_graph()(net)


def _num_samples(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _stats(values):
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [values.mean(), values.std(), values.min(), values.max()]


_LAYERED_NAMES = [
    "n_nodes",
    "n_edges",
    "density",
    "n_layers",
    "log_n_edges",
    *(f"width_{s}" for s in ("mean", "std", "min", "max")),
    *(f"in_degree_{s}" for s in ("mean", "std", "min", "max")),
    *(f"out_degree_{s}" for s in ("mean", "std", "min", "max")),
    *(f"layer_density_{s}" for s in ("mean", "std", "min", "max")),
    "dead_fraction",
    "skip_fraction",
]


def layered_features(graph):
    """Cheap structural features of a layered network graph.

    Computed in one pass over nodes and edges (no path searches), so that a
    search can score thousands of candidates: node, edge and layer counts,
    layer widths, in/out-degree statistics of the non-input neurons, density
    of each pair of consecutive layers, the fraction of hidden neurons without
    an input or an output ("dead"), and the fraction of edges that skip a
    layer.

    Parameters
    ----------
    graph : networkx.DiGraph
        Nodes carry a ``layer`` attribute, as
        :func:`sksparse.graphs.network_to_graph` writes them.

    Returns
    -------
    features : dict of str to float
    """
    layer = {node: int(data.get("layer", 0)) for node, data in graph.nodes(data=True)}
    n_nodes, n_edges = graph.number_of_nodes(), graph.number_of_edges()
    depth = max(layer.values(), default=0)
    widths = np.bincount(list(layer.values()), minlength=depth + 1)
    in_deg = np.array([d for n, d in graph.in_degree() if layer[n] > 0])
    out_deg = np.array([d for n, d in graph.out_degree() if layer[n] < depth])
    pair_edges = np.zeros(depth + 1)
    skips = 0
    for u, v in graph.edges():
        if layer[v] == layer[u] + 1:
            pair_edges[layer[u]] += 1
        else:
            skips += 1
    pair_density = [
        pair_edges[i] / max(1, widths[i] * widths[i + 1]) for i in range(depth)
    ]
    hidden = [n for n in graph if 0 < layer[n] < depth]
    dead = sum(1 for n in hidden if graph.in_degree(n) == 0 or graph.out_degree(n) == 0)
    values = [
        n_nodes,
        n_edges,
        n_edges / max(1, n_nodes * (n_nodes - 1)),
        depth,
        math.log1p(n_edges),
        *_stats(widths),
        *_stats(in_deg),
        *_stats(out_deg),
        *_stats(pair_density),
        dead / max(1, len(hidden)),
        skips / max(1, n_edges),
    ]
    return dict(zip(_LAYERED_NAMES, (float(v) for v in values)))


class PerformancePredictor(RegressorMixin, BaseEstimator):
    """Predict a candidate network's score from its graph and hyper-parameters.

    The default predictor of :class:`~sksparse.search.GeneticSearchCV`
    (``predictor="auto"``). Its input is a list of graphs, as for
    :class:`~sksparse.estimators.StructuralRegressor`; features are the
    graph's structural features, plus, where the search annotated the graph,
    the numeric encoding of the candidate's hyper-parameters
    (``graph.graph["genome_features"]``), which structure alone cannot see
    (a learning rate, say), and cheap signals from the first epoch(s) of
    training (``graph.graph["learning_curve"]``).

    Parameters
    ----------
    regressor : regressor, default=None
        Fitted on the standardised features. ``None`` uses a
        ``RandomForestRegressor(n_estimators=200, min_samples_leaf=2)``.
    features : "layered", "graph" or list of str, default="layered"
        ``"layered"``: :func:`layered_features`, one pass over the graph.
        ``"graph"`` (or a list of names): the structural features of
        :class:`~sksparse.estimators.GraphFeatures`, as
        :class:`~sksparse.estimators.StructuralRegressor` uses them
        (clustering, path lengths, spectral radius, ...). Those cost about
        5 s for one 784-128-10 network at 90 % sparsity against 20 ms for
        ``"layered"`` (measured on this project's CI machine), which decides
        whether a search can afford to screen hundreds of candidates.
    use_params : bool, default=True
        Append ``graph.graph["genome_features"]`` when present.
    learning_curve_epochs : int, default=1
        Ask the search to train each candidate this many epochs on its first
        cv split (a *probe*, counted in ``cv_results_["n_epochs"]``) and use
        the validation score after them and each epoch's training loss as
        features (``graph.graph["learning_curve"]``). ``0`` uses structure
        and hyper-parameters alone. Ignored for estimators without a
        ``max_epochs`` parameter.
    random_state : int or None, default=None
        Seeds the default regressor; the search sets it from its own stream.

    Attributes
    ----------
    regressor_ : regressor
        The fitted regressor.
    n_features_ : int
        Number of features per graph.

    Examples
    --------
    >>> import networkx as nx
    >>> from sksparse.search import PerformancePredictor
    >>> graphs = [nx.complete_graph(n, create_using=nx.DiGraph) for n in (3, 4, 5)]
    >>> pred = PerformancePredictor(random_state=0).fit(graphs, [0.1, 0.2, 0.3])
    >>> pred.predict(graphs).shape
    (3,)
    """

    def __init__(
        self,
        regressor=None,
        *,
        features="layered",
        use_params=True,
        learning_curve_epochs=1,
        random_state=None,
    ):
        self.regressor = regressor
        self.features = features
        self.use_params = use_params
        self.learning_curve_epochs = learning_curve_epochs
        self.random_state = random_state

    def _transform(self, graphs):
        graphs = list(graphs)
        if isinstance(self.features, str) and self.features == "layered":
            structure = [list(layered_features(g).values()) for g in graphs]
        else:
            from sksparse.estimators import GraphFeatures

            names = "default" if self.features == "graph" else self.features
            structure = GraphFeatures(names).fit_transform(graphs).tolist()
        rows = []
        n_curve = 1 + self.learning_curve_epochs if self.learning_curve_epochs else 0
        for graph, row in zip(graphs, structure):
            extra = graph.graph.get("genome_features") if self.use_params else None
            if extra is not None:
                row = row + [float(v) for v in np.ravel(extra)]
            if n_curve:
                # Validation score after the probe, then each epoch's loss;
                # NaN (a probe that failed) and absent curves become 0 below.
                curve = list(graph.graph.get("learning_curve") or [])
                row = row + (curve + [np.nan] * n_curve)[:n_curve]
            rows.append(row)
        X = np.asarray(rows, dtype=np.float64)
        return np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)

    def fit(self, X, y):
        """Fit on a list of graphs and their scores.

        Parameters
        ----------
        X : list of networkx.DiGraph
        y : array-like of shape (n_graphs,)

        Returns
        -------
        self
        """
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        features = self._transform(X)
        y = np.asarray(y, dtype=np.float64)
        if len(features) != len(y):
            raise ValueError(f"got {len(features)} graphs but {len(y)} scores.")
        regressor = (
            RandomForestRegressor(
                n_estimators=200, min_samples_leaf=2, random_state=self.random_state
            )
            if self.regressor is None
            else clone(self.regressor)
        )
        self.regressor_ = make_pipeline(StandardScaler(), regressor).fit(features, y)
        self.n_features_ = features.shape[1]
        return self

    def predict(self, X):
        """Predicted scores of a list of graphs."""
        check_is_fitted(self, "regressor_")
        features = self._transform(X)
        if features.shape[1] != self.n_features_:
            raise ValueError(
                f"graphs give {features.shape[1]} features, the predictor was "
                f"fitted on {self.n_features_}."
            )
        return self.regressor_.predict(features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags
