"""Predict a network's performance from its structure alone.

The last row of Stier, Darji & Granitzer's (2021) table: features of a
network's graph (no weights, no data) are regressed onto the accuracy the
network reaches, and the regressor is scored on held-out networks (R²) and
for ranking (Kendall τ, Spearman ρ), as a search would use it.
"""

import networkx as nx
import numpy as np
from joblib import Parallel, delayed
from sklearn.base import (
    BaseEstimator,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import HasMethods, Integral, Real, StrOptions
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from sksparse.graphs import FEATURE_NAMES, network_to_graph
from sksparse.graphs._features import _feature_rows

__all__ = [
    "GraphFeatures",
    "StructuralRegressor",
]


def _is_structure(obj):
    """Whether ``obj`` is a graph or something a graph can be read from."""
    return isinstance(obj, nx.Graph) or any(
        hasattr(obj, name) for name in ("to_graph", "module_", "modules")
    )


def _is_structure_collection(X):
    """Whether ``X`` holds graphs (or networks), rather than numbers."""
    if isinstance(X, nx.Graph):
        raise TypeError("X must be a list of graphs; wrap a single graph in a list.")
    if isinstance(X, np.ndarray):
        return X.dtype == object and X.ndim == 1 and len(X) and _is_structure(X[0])
    if isinstance(X, (list, tuple)) and len(X):
        return _is_structure(X[0])
    return False


def _as_graph(obj):
    if isinstance(obj, nx.Graph):
        return obj
    if not _is_structure(obj):
        raise TypeError(
            "X must hold networkx graphs, fitted sksparse estimators or torch "
            f"modules, got {type(obj).__name__}."
        )
    return network_to_graph(obj)


class GraphFeatures(TransformerMixin, BaseEstimator):
    """Turn networks into their structural features.

    Parameters
    ----------
    features : "default" or list of str, default="default"
        Which of :data:`sksparse.graphs.FEATURE_NAMES` to compute, in that
        order; ``"default"`` for all.
    fill_value : float or None, default=0.0
        Replaces features that are undefined for a graph (networkx gives
        ``nan``, e.g. the degree assortativity of a graph whose degrees are
        all equal: no correlation). ``None`` keeps ``nan``.
    n_jobs : int or None, default=None
        Graphs featurised in parallel through joblib (``-1``: all cores).

    Attributes
    ----------
    feature_names_ : ndarray of str
        The features computed for graph input.
    n_features_in_ : int
        Columns of ``X`` in ``fit`` when ``X`` was an array of precomputed
        features; not set for graphs.
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X`` in ``fit``.

    See Also
    --------
    sksparse.graphs.structural_features : The features of one graph.
    StructuralRegressor : Regresses performance onto these features.

    Notes
    -----
    ``X`` is a list of networks: ``networkx`` graphs, fitted sksparse
    estimators, or torch modules (read with
    :func:`~sksparse.graphs.network_to_graph`). A 2-D numeric array is taken
    as features computed before (by this transformer's ``transform``) and
    passed through, validated: computing features once and cross-validating
    many regressors on them is the fast path, and it is what scikit-learn's
    estimator checks exercise.

    Examples
    --------
    >>> import networkx as nx
    >>> from sksparse import GraphFeatures
    >>> graphs = [nx.path_graph(4, create_using=nx.DiGraph), nx.complete_graph(3)]
    >>> gf = GraphFeatures(features=["number_of_edges", "diameter"])
    >>> gf.fit_transform(graphs)
    array([[3., 3.],
           [6., 1.]])
    >>> gf.get_feature_names_out().tolist()
    ['number_of_edges', 'diameter']
    """

    _parameter_constraints = {
        "features": [StrOptions({"default"}), list, tuple],
        "fill_value": [Real, None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, features="default", *, fill_value=0.0, n_jobs=None):
        self.features = features
        self.fill_value = fill_value
        self.n_jobs = n_jobs

    def _check_features(self):
        """The feature names asked for, each checked against FEATURE_NAMES."""
        if isinstance(self.features, str):  # "default", as the constraints say
            return np.array(FEATURE_NAMES, dtype=object)
        names = list(self.features)
        unknown = [n for n in names if n not in FEATURE_NAMES]
        if unknown or not names:
            raise ValueError(
                f"Unknown features {unknown}; choose among {list(FEATURE_NAMES)}."
                if unknown
                else "features must name at least one feature."
            )
        return np.array(names, dtype=object)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and, for a feature array, its width.

        Parameters
        ----------
        X : list of networkx.Graph, fitted estimators or modules, or array-like \
of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self.feature_names_ = self._check_features()
        if _is_structure_collection(X):
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
        else:
            validate_data(self, X, dtype=np.float64)
        return self

    def transform(self, X):
        """Compute the features of every network (or pass feature rows through).

        Parameters
        ----------
        X : list of networkx.Graph, fitted estimators or modules, or array-like \
of shape (n_samples, n_features)

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out), float64
        """
        check_is_fitted(self, "feature_names_")
        if not _is_structure_collection(X):
            return validate_data(self, X, dtype=np.float64, reset=False)
        if hasattr(self, "n_features_in_") and self.n_features_in_ != len(
            self.feature_names_
        ):
            raise ValueError(
                f"X holds graphs, which give {len(self.feature_names_)} features, "
                f"but {type(self).__name__} was fitted on {self.n_features_in_}."
            )
        # Networks are read here, so that workers receive graphs only.
        graphs = [_as_graph(obj) for obj in X]
        names = list(self.feature_names_)
        if self.n_jobs in (None, 1) or len(graphs) < 2:
            rows = _feature_rows(graphs, names)
        else:
            # A few dozen chunks: each task amortises its transfer, and the
            # workers still share the load evenly.
            chunks = np.array_split(np.arange(len(graphs)), min(len(graphs), 64))
            parts = Parallel(n_jobs=self.n_jobs)(
                delayed(_feature_rows)([graphs[i] for i in chunk], names)
                for chunk in chunks
            )
            rows = [row for part in parts for row in part]
        features = np.asarray(rows, dtype=np.float64).reshape(len(graphs), len(names))
        if self.fill_value is not None:
            features[np.isnan(features)] = self.fill_value
        return features

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str, default=None
            For feature-array input only: the input column names.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "feature_names_")
        if not hasattr(self, "n_features_in_"):
            return np.asarray(self.feature_names_, dtype=object)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if len(input_features) != self.n_features_in_:
                raise ValueError(
                    f"input_features should have length {self.n_features_in_}, "
                    f"got {len(input_features)}."
                )
            if hasattr(self, "feature_names_in_") and not np.array_equal(
                input_features, self.feature_names_in_
            ):
                raise ValueError("input_features is not equal to feature_names_in_.")
            return input_features
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class StructuralRegressor(RegressorMixin, BaseEstimator):
    """Predict a network's performance from its graph: features, scaler, regressor.

    Parameters
    ----------
    regressor : scikit-learn regressor, default=None
        Fitted (a clone) on the scaled structural features; ``None`` for a
        ``RandomForestRegressor(random_state=random_state, n_jobs=n_jobs)``.
    features : "default" or list of str, default="default"
        The structural features, as :class:`GraphFeatures` takes them.
    n_jobs : int or None, default=None
        Parallel featurisation (and the default forest's trees).
    random_state : int, RandomState or None, default=None
        Seeds the default random forest.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted ``GraphFeatures -> StandardScaler -> regressor`` pipeline.
    regressor_ : estimator
        Its fitted regressor.
    feature_names_ : ndarray of str
        The regressor's input features.
    n_features_in_ : int
        For a feature-array ``X`` only (see :class:`GraphFeatures`).

    See Also
    --------
    GraphFeatures, kendall_tau_scorer, spearman_scorer

    Notes
    -----
    ``score`` is R², as for every scikit-learn regressor. A search that only
    ranks candidates cares about order, not values: pass
    ``scoring=kendall_tau_scorer`` or ``spearman_scorer`` to
    ``cross_validate``.

    References
    ----------
    J. Stier, H. Darji and M. Granitzer, "Experiments on Properties of Hidden
    Structures of Sparse Neural Networks", arXiv:2107.12917, 2021 (R² up to
    0.81 for RNNs on the Reber grammar).

    Examples
    --------
    >>> import networkx as nx
    >>> from sksparse import StructuralRegressor
    >>> graphs = [nx.gnp_random_graph(20, p, seed=s, directed=True)
    ...           for s, p in enumerate([0.1, 0.2, 0.3, 0.4] * 10)]
    >>> score = [g.number_of_edges() / 100 for g in graphs]  # a toy target
    >>> reg = StructuralRegressor(random_state=0).fit(graphs[:30], score[:30])
    >>> reg.score(graphs[30:], score[30:]) > 0.9
    True
    """

    def __init__(
        self, regressor=None, features="default", *, n_jobs=None, random_state=None
    ):
        self.regressor = regressor
        self.features = features
        self.n_jobs = n_jobs
        self.random_state = random_state

    _parameter_constraints = {
        "regressor": [HasMethods(["fit", "predict"]), None],
        "features": [StrOptions({"default"}), list, tuple],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def _make_pipeline(self):
        regressor = self.regressor
        if regressor is None:
            regressor = RandomForestRegressor(
                random_state=self.random_state, n_jobs=self.n_jobs
            )
        else:
            regressor = clone(regressor)
        return Pipeline(
            [
                ("features", GraphFeatures(self.features, n_jobs=self.n_jobs)),
                ("scaler", StandardScaler()),
                ("regressor", regressor),
            ]
        )

    # Not nested-skipping: the user's regressor validates its own parameters.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Featurise the networks in ``X`` and fit the regressor to ``y``.

        Parameters
        ----------
        X : list of networkx.Graph, fitted estimators or modules, or array-like \
of shape (n_samples, n_features) of precomputed features
        y : array-like of shape (n_samples,)
            The networks' performance (accuracy, loss, ...).

        Returns
        -------
        self
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        if _is_structure_collection(X):
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
            y = np.asarray(y, dtype=np.float64)
        else:
            X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
            y = column_or_1d(y, warn=True)
        self.pipeline_ = self._make_pipeline().fit(X, y)
        self.regressor_ = self.pipeline_.named_steps["regressor"]
        self.feature_names_ = self.pipeline_.named_steps["features"].feature_names_
        return self

    def predict(self, X):
        """Predicted performance of each network in ``X``.

        Parameters
        ----------
        X : list of networkx.Graph, fitted estimators or modules, or array-like \
of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "pipeline_")
        if not _is_structure_collection(X):
            X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.pipeline_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
