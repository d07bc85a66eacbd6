"""``SparseFeatureSelector``: a sparse network's first layer as a feature selector.

A pruned (or prior-drawn, or SET/RigL-trained) network reads only the input
features some kept connection of a live neuron reads; the others cannot
change its predictions. The selector exposes that set through scikit-learn's
``SelectorMixin``, so ``transform`` drops the unread features and
``get_feature_names_out`` names the kept ones, as ``SelectFromModel`` does
for a model's importances.
"""

import copy

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_selection import SelectorMixin
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import _check_feature_names, check_is_fitted

from sksparse.nn._stages import input_support
from sksparse.utils import find_module

__all__ = ["SparseFeatureSelector"]


def estimator_support(estimator):
    """Boolean support of a fitted model: its ``get_support`` or its module's."""
    if callable(getattr(estimator, "get_support", None)):
        return np.asarray(estimator.get_support(), dtype=bool)
    try:
        module = find_module(estimator)
        return input_support(module).cpu().numpy()
    except TypeError as exc:
        raise TypeError(
            "estimator must be a feed-forward sparse network (SparseMLPClassifier, "
            "SparseMLPRegressor, a PrunedEstimator or a skorch net over one), "
            f"got {type(estimator).__name__}: {exc}"
        ) from None


class SparseFeatureSelector(SelectorMixin, MetaEstimatorMixin, BaseEstimator):
    """Select the input features a fitted sparse network reads.

    ``fit`` fits a clone of ``estimator`` (or, with ``prefit=True``, takes a
    copy of the fitted one); the support is every input feature a kept
    connection of a neuron that reaches the output reads, which is what
    :func:`sksparse.nn.compress` keeps. ``transform`` drops the other
    columns, so a sparse network chooses the features of a cheaper model
    downstream: ``Pipeline([("select", SparseFeatureSelector(mlp)),
    ("model", LogisticRegression())])``.

    How many features survive is set by the network's sparsity: a first
    layer pruned by magnitude keeps the weights of the features that matter
    (``PrunedEstimator(mlp, MagnitudePruner(0.95, scope="class-uniform"))``),
    a prior-drawn one those its graph happens to connect.

    Parameters
    ----------
    estimator : estimator
        A sksparse MLP estimator, a :class:`~sksparse.PrunedEstimator` over
        one, or any fitted model whose network :func:`sksparse.nn.compress`
        reads (a skorch net over a ``SparseMLP``). It is cloned.
    prefit : bool, default=False
        Whether ``estimator`` is already fitted: ``fit`` then copies it
        instead of fitting a clone, and ``transform`` works before ``fit``
        (as ``SelectFromModel(prefit=True)``).

    Attributes
    ----------
    estimator_ : estimator
        The fitted estimator the support is read from.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When ``X`` had string column names.

    See Also
    --------
    sksparse.SparseMLPClassifier.get_support : The support of one network.
    sklearn.feature_selection.SelectFromModel : Selection by importances.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sksparse import PrunedEstimator, SparseMLPClassifier
    >>> from sksparse.estimators import SparseFeatureSelector
    >>> from sksparse.pruning import MagnitudePruner
    >>> X, y = make_classification(300, n_features=20, n_informative=3,
    ...                            n_redundant=0, shuffle=False, random_state=0)
    >>> mlp = SparseMLPClassifier((16,), max_epochs=40, lr=1e-2, random_state=0)
    >>> pruned = PrunedEstimator(mlp, MagnitudePruner(0.97), retrain_epochs=10)
    >>> selector = SparseFeatureSelector(pruned).fit(X, y)
    >>> X_small = selector.transform(X)
    >>> X_small.shape[1] < X.shape[1]
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods("fit")],
        "prefit": ["boolean"],
    }

    def __init__(self, estimator, *, prefit=False):
        self.estimator = estimator
        self.prefit = prefit

    def _check_prefit(self):
        try:
            check_is_fitted(self.estimator)
        except NotFittedError as exc:
            raise NotFittedError(
                "When `prefit=True`, `estimator` is expected to be a fitted "
                "estimator; cloning (as cross-validation and searches do) drops "
                "its fit. Use prefit=False there, so each fold fits it."
            ) from exc

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the network (or copy the prefit one) and read its support.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets the network learns (required unless ``prefit``).

        Returns
        -------
        self
        """
        if self.prefit:
            self._check_prefit()
            self.estimator_ = copy.deepcopy(self.estimator)
        else:
            self.estimator_ = clone(self.estimator).fit(X, y)
        # Read once here, so a model that cannot give one fails in fit.
        estimator_support(self.estimator_)
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        else:
            _check_feature_names(self, X, reset=True)
        return self

    def _get_support_mask(self):
        estimator = getattr(self, "estimator_", None)
        if estimator is None:
            if not self.prefit:
                check_is_fitted(self, "estimator_")
            self._check_prefit()
            estimator = self.estimator
        return estimator_support(estimator)

    @property
    def n_features_in_(self):
        """Number of features seen during ``fit``."""
        try:
            check_is_fitted(self, "estimator_")
        except NotFittedError as exc:
            raise AttributeError(
                f"{type(self).__name__} object has no n_features_in_ attribute."
            ) from exc
        return self.estimator_.n_features_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        sub = get_tags(self.estimator)
        tags.input_tags.allow_nan = sub.input_tags.allow_nan
        tags.input_tags.sparse = sub.input_tags.sparse
        tags.target_tags.required = not self.prefit
        tags.non_deterministic = sub.non_deterministic
        return tags
