"""The pruning path and per-layer sensitivity: one fit, then prune and score.

Here, not in :mod:`sksparse.pruning`, because each point is a
:class:`PrunedEstimator` over the one fitted network (``prefit=True``, as
:func:`sksparse.experiments.sparsity_sweep` prunes its dense run), and the
estimators sit above the pruning floor; :mod:`sksparse.pruning` re-exports
both functions lazily.
"""

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing
from skorch import NeuralNet

from sksparse.estimators._pruned import PrunedEstimator
from sksparse.pruning import MagnitudePruner, find_prunable_weights

__all__ = ["pruning_path", "sensitivity_curve"]


def _check_amounts(amounts):
    values = np.asarray(amounts, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"amounts must be a non-empty 1-D sequence of floats, got {amounts!r}."
        )
    if not ((values >= 0) & (values < 1)).all():
        raise ValueError(f"amounts must lie in [0, 1), got {values.tolist()}.")
    if (np.diff(values) <= 0).any():
        raise ValueError(f"amounts must be increasing, got {values.tolist()}.")
    return values


def fit_once(estimator, X, y, pruner, scoring, validation_data):
    fitted = clone(estimator).fit(X, y)
    pruner = MagnitudePruner() if pruner is None else pruner
    if not callable(getattr(pruner, "compute_masks", None)):
        raise TypeError(
            "pruner must have compute_masks(module, amount) (MagnitudePruner, "
            f"RandomPruner), got {type(pruner).__name__}."
        )
    scorer = check_scoring(fitted, scoring=scoring)
    if validation_data is None:
        X_score, y_score = X, y
    else:
        X_score, y_score = validation_data
    return fitted, pruner, scorer, X_score, y_score


def _prune_copy(fitted, pruner, X, y, retrain_epochs):
    """Prune (and re-train) a copy of ``fitted``; ``fitted`` is unchanged."""
    return PrunedEstimator(
        fitted, pruner, retrain_epochs=retrain_epochs, prefit=True
    ).fit(X, y)


def pruning_path(
    estimator,
    X,
    y,
    amounts,
    *,
    pruner=None,
    retrain_epochs=0,
    scoring=None,
    validation_data=None,
    return_sparsity=False,
):
    """Score a network pruned to each of ``amounts``, from one fit.

    Like scikit-learn's ``lasso_path``: ``estimator`` is fitted once, then a
    copy of the fitted network is pruned to every amount (and re-trained for
    ``retrain_epochs``) and scored. What
    :func:`sksparse.experiments.sparsity_sweep` does for its pruning methods,
    for any estimator.

    Parameters
    ----------
    estimator : estimator
        A sksparse estimator (``SparseMLPClassifier``, ...) or a skorch
        ``NeuralNet``; cloned and fitted once on ``(X, y)``.
    X, y : array-like
        Training data.
    amounts : sequence of float
        Increasing sparsities in ``[0, 1)``; 0 scores the fitted network.
    pruner : MagnitudePruner, RandomPruner or None, default=None
        Which weights go (its ``amount`` is replaced by each of ``amounts``);
        None means ``MagnitudePruner(scope="class-blinded")``.
    retrain_epochs : int, default=0
        Epochs of re-training after pruning, per amount.
    scoring : str, callable or None, default=None
        A scikit-learn scorer; None uses the estimator's ``score``.
    validation_data : tuple (X_val, y_val), default=None
        Data the scores are computed on; None scores the training data.
    return_sparsity : bool, default=False
        Also return the sparsity each pruned network reached.

    Returns
    -------
    amounts : ndarray of shape (n_amounts,)
    scores : ndarray of shape (n_amounts,)
    sparsities : ndarray of shape (n_amounts,)
        Only with ``return_sparsity=True``.

    See Also
    --------
    sensitivity_curve : The same, one layer at a time.
    sksparse.PrunedEstimator : One point of the path as an estimator.

    Examples
    --------
    >>> from sksparse import SparseMLPClassifier
    >>> from sksparse.datasets import load_digits
    >>> from sksparse.pruning import pruning_path
    >>> X, y, X_test, y_test = load_digits()
    >>> clf = SparseMLPClassifier((32,), max_epochs=10, lr=1e-2, random_state=0)
    >>> amounts, scores = pruning_path(
    ...     clf, X, y, [0.0, 0.5, 0.99], validation_data=(X_test, y_test))
    >>> bool(scores[0] > 0.9 and scores[-1] < scores[0])
    True
    """
    amounts = _check_amounts(amounts)
    fitted, pruner, scorer, X_score, y_score = fit_once(
        estimator, X, y, pruner, scoring, validation_data
    )
    scores, sparsities = [], []
    for amount in amounts:
        step = clone(pruner).set_params(amount=float(amount))
        pruned = _prune_copy(fitted, step, X, y, retrain_epochs)
        scores.append(scorer(pruned, X_score, y_score))
        sparsities.append(pruned.sparsity_)
    scores = np.asarray(scores, dtype=float)
    if return_sparsity:
        return amounts, scores, np.asarray(sparsities, dtype=float)
    return amounts, scores


def sensitivity_curve(
    estimator,
    X,
    y,
    amounts,
    layers=None,
    *,
    pruner=None,
    retrain_epochs=0,
    scoring=None,
    validation_data=None,
    cv=None,
):
    """Score the network with only one layer pruned, per layer and amount.

    The shape of scikit-learn's ``validation_curve``: ``estimator`` is fitted
    once; for every layer, a copy has only that layer's weights pruned to
    each amount (a fraction of that layer), is re-trained for
    ``retrain_epochs`` and scored. A layer whose score falls early is
    sensitive; one that keeps its score can be pruned further.

    Parameters
    ----------
    estimator, X, y, amounts, pruner, retrain_epochs, scoring, validation_data
        As for :func:`pruning_path`; the pruner's ``exclude`` is replaced by
        every layer but the one pruned.
    layers : list of str, default=None
        Prunable weights by parameter name (``"layers.0.weight"``); None
        means every prunable weight of the fitted network, input to output.
    cv : int, cross-validation generator, iterable or None, default=None
        None: one fit on ``(X, y)``, scored on ``validation_data``. Otherwise
        scikit-learn's ``cv`` (``check_cv``; stratified for classifiers): one
        fit per training fold, each curve scored on its held-out fold, as
        ``validation_curve`` does; ``validation_data`` must then be None.

    Returns
    -------
    layers : list of str
        The layers, in the rows' order.
    scores : ndarray of shape (n_layers, n_amounts), or (n_layers, n_amounts, \
n_folds) with ``cv``
        ``scores.mean(axis=-1)`` averages the folds (what
        ``MagnitudePruner(scope="sensitivity")`` and
        :func:`~sksparse.plotting.plot_sensitivity_curve` do with them).

    Examples
    --------
    >>> from sksparse import SparseMLPClassifier
    >>> from sksparse.datasets import load_digits
    >>> from sksparse.pruning import sensitivity_curve
    >>> X, y, X_test, y_test = load_digits()
    >>> clf = SparseMLPClassifier((32,), max_epochs=10, lr=1e-2, random_state=0)
    >>> layers, scores = sensitivity_curve(clf, X, y, [0.0, 0.9])
    >>> len(layers), scores.shape
    (2, (2, 2))
    """
    amounts = _check_amounts(amounts)
    if cv is not None:
        return _cv_sensitivity(
            estimator,
            X,
            y,
            amounts,
            layers,
            pruner,
            retrain_epochs,
            scoring,
            validation_data,
            cv,
        )
    fitted, pruner, scorer, X_score, y_score = fit_once(
        estimator, X, y, pruner, scoring, validation_data
    )
    layers = sensitivity_layers(fitted, layers)
    scores = np.empty((len(layers), len(amounts)))
    points = iter_sensitivity(
        fitted, pruner, layers, amounts, X, y, retrain_epochs, scorer, X_score, y_score
    )
    for i, j, score in points:
        scores[i, j] = score
    return list(layers), scores


def _cv_sensitivity(
    estimator,
    X,
    y,
    amounts,
    layers,
    pruner,
    retrain_epochs,
    scoring,
    validation_data,
    cv,
):
    """:func:`sensitivity_curve` once per fold: ``(layers, (L, A, n_folds))``."""
    if validation_data is not None:
        raise ValueError(
            "validation_data and cv were both given: with cv each fold's curve is "
            "scored on its held-out fold; drop one of them."
        )
    X = np.asarray(X) if not hasattr(X, "iloc") else X
    y = np.asarray(y)
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    per_fold, names = [], None
    for train, test in splitter.split(X, y):
        X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
        fold_layers, scores = sensitivity_curve(
            estimator,
            X_train,
            y[train],
            amounts,
            layers,
            pruner=pruner,
            retrain_epochs=retrain_epochs,
            scoring=scoring,
            validation_data=(X_test, y[test]),
        )
        names = fold_layers
        per_fold.append(scores)
    return names, np.stack(per_fold, axis=-1)


def sensitivity_layers(fitted, layers=None):
    """The prunable weights a sensitivity curve covers, checked against ``fitted``."""
    net = fitted if isinstance(fitted, NeuralNet) else fitted.net_
    names = [pw.name for pw in find_prunable_weights(net.module_)]
    if layers is None:
        return names
    if isinstance(layers, str) or not all(isinstance(n, str) for n in layers):
        raise TypeError(f"layers must be a list of parameter names, got {layers!r}.")
    unknown = [n for n in layers if n not in names]
    if unknown or not layers:
        raise ValueError(
            f"layers must name prunable weights of the network, got {unknown or []}; "
            f"its prunable weights are {names}."
        )
    return list(layers)


def iter_sensitivity(
    fitted, pruner, layers, amounts, X, y, retrain_epochs, scorer, X_score, y_score
):
    """Yield ``(i, j, score)``: layer ``i`` alone pruned to ``amounts[j]``.

    One point at a time, so the command line writes each as it comes.
    """
    net = fitted if isinstance(fitted, NeuralNet) else fitted.net_
    names = [pw.name for pw in find_prunable_weights(net.module_)]
    for i, layer in enumerate(layers):
        others = [n for n in names if n != layer] or None
        for j, amount in enumerate(amounts):
            step = clone(pruner).set_params(amount=float(amount), exclude=others)
            pruned = _prune_copy(fitted, step, X, y, retrain_epochs)
            yield i, j, scorer(pruned, X_score, y_score)
