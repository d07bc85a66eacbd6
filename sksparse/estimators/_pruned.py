"""``PrunedEstimator``: fit, prune and re-train as one scikit-learn estimator."""

import contextlib
import copy
from numbers import Integral

from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet

from sksparse.pruning import MagnitudePruner
from sksparse.pruning._base import (
    apply_masks,
    find_prunable_weights,
    prunable_sparsity,
    reapply_masks,
)
from sksparse.pruning._schedules import check_schedule
from sksparse.utils import net_optimizers

__all__ = ["PrunedEstimator"]


def _estimator_has(attr):
    """Delegate a method if the (fitted) wrapped estimator has it."""

    def check(self):
        estimator = getattr(self, "estimator_", self.estimator)
        return hasattr(estimator, attr)

    return check


@contextlib.contextmanager
def _keep_pruned_at_zero(net, module, masks):
    """Re-apply ``masks`` after every optimizer step, for layers with no buffer.

    The hooks are removed on exit, so the model stays picklable.
    """
    if not masks:
        yield
        return
    handles = [
        opt.register_step_post_hook(
            lambda *args, **kwargs: reapply_masks(module, masks)
        )
        for opt in net_optimizers(net)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class PrunedEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit an estimator, prune its network, re-train it: one estimator.

    The meta-estimator clones and fits ``estimator``, prunes the fitted
    network with ``pruner`` at every event of ``schedule`` (cumulative
    targets up to ``pruner.amount``) and re-trains it for ``retrain_epochs``
    after each event, with the optimizer state of pruned weights cleared. It
    is a classifier or a regressor as ``estimator`` is, so it composes with
    ``Pipeline``, ``GridSearchCV`` (grid keys such as
    ``prunedestimator__pruner__amount``) and ``joblib``; a reloaded model
    keeps every pruned weight exactly zero.

    Parameters
    ----------
    estimator : estimator
        A sksparse estimator holding a skorch net as ``net_`` (such as
        :class:`SparseMLPClassifier`), or a skorch ``NeuralNet``. It is
        cloned; re-training continues its net (``warm_start``).
    pruner : MagnitudePruner, RandomPruner or None, default=None
        Which weights go; ``pruner.amount`` is the final sparsity. None means
        ``MagnitudePruner(amount=0.5, scope="class-blinded")``. It is cloned.
    retrain_epochs : int, default=5
        Epochs of re-training after each pruning event; 0 prunes only.
    schedule : {"one-shot", "iterative", "gradual"}, schedule object or None, \
            default=None
        Pruning events: None (:class:`~sksparse.pruning.OneShot`) prunes once;
        :class:`~sksparse.pruning.Iterative` in ``n_steps`` equal steps;
        :class:`~sksparse.pruning.Gradual` on Zhu & Gupta's cubic schedule.
    prefit : bool, default=False
        Whether ``estimator`` is already fitted: then ``fit`` prunes and
        re-trains a deep copy of it instead of fitting a clone (as
        scikit-learn's ``SelectFromModel(prefit=True)``), which lets several
        pruning runs share one dense training.

    Attributes
    ----------
    estimator_ : estimator
        The fitted, pruned and re-trained clone of ``estimator``.
    pruner_ : pruner
        The fitted clone of ``pruner`` (its ``thresholds_``, ``n_pruned_``).
    masks_ : dict of str to ndarray of bool
        Keep-mask of every pruned weight, by parameter name.
    sparsity_ : float
        Fraction of the network's prunable weights that are zero.
    history_ : skorch.History
        The net's training history: the first fit, then the re-training
        epochs (with the sparsity recorded under ``"sparsity"``).
    classes_ : ndarray of shape (n_classes,)
        For classifiers.
    n_features_in_ : int

    See Also
    --------
    sksparse.pruning.MagnitudePruner, sksparse.pruning.Pruning

    Examples
    --------
    >>> from sksparse import PrunedEstimator, SparseMLPClassifier
    >>> from sksparse.datasets import load_digits
    >>> from sksparse.pruning import MagnitudePruner
    >>> X, y, X_test, y_test = load_digits()
    >>> clf = SparseMLPClassifier((64,), max_epochs=15, lr=1e-2, random_state=0)
    >>> pruned = PrunedEstimator(clf, MagnitudePruner(amount=0.8), retrain_epochs=3)
    >>> pruned.fit(X, y).score(X_test, y_test) > 0.9
    True
    >>> round(pruned.sparsity_, 2)
    0.8
    """

    def __init__(
        self, estimator, pruner=None, *, retrain_epochs=5, schedule=None, prefit=False
    ):
        self.estimator = estimator
        self.pruner = pruner
        self.retrain_epochs = retrain_epochs
        self.schedule = schedule
        self.prefit = prefit

    _parameter_constraints = {
        "estimator": [HasMethods("fit")],
        "pruner": [None, HasMethods("compute_masks")],
        "retrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "schedule": [
            None,
            StrOptions({"one-shot", "iterative", "gradual"}),
            HasMethods("targets"),
        ],
        "prefit": ["boolean"],
    }

    def _check_prefit(self):
        """A prefit estimator must be fitted, as ``SelectFromModel`` says."""
        try:
            check_is_fitted(self.estimator)
        except NotFittedError as exc:
            raise NotFittedError(
                "When `prefit=True`, `estimator` is expected to be a fitted "
                "estimator; cloning (as cross-validation and searches do) "
                "drops its fit. Use prefit=False there, so each fold fits it."
            ) from exc

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit ``estimator``, then prune and re-train it on the schedule.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        schedule = check_schedule(self.schedule)
        pruner = MagnitudePruner() if self.pruner is None else clone(self.pruner)
        if self.prefit:
            self._check_prefit()
            estimator = copy.deepcopy(self.estimator)
        else:
            estimator = clone(self.estimator).fit(X, y)
        net = estimator if isinstance(estimator, NeuralNet) else estimator.net_
        module = net.module_

        masks = {}
        for target in schedule.targets(pruner.amount):
            masks = pruner.compute_masks(module, target)
            apply_masks(module, masks, net_optimizers(net))
            if self.retrain_epochs:
                plain = {
                    pw.name
                    for pw in find_prunable_weights(module)
                    if pw.mask_buffer is None
                }
                plain_masks = {n: m for n, m in masks.items() if n in plain}
                with _keep_pruned_at_zero(net, module, plain_masks):
                    self._retrain(estimator, net, X, y)
                net.history.record("sparsity", prunable_sparsity(module))

        self.estimator_ = estimator
        self.pruner_ = pruner
        self.masks_ = {
            n: m.detach().cpu().numpy().astype(bool) for n, m in masks.items()
        }
        self.sparsity_ = prunable_sparsity(module)
        if hasattr(estimator, "n_features_in_"):
            self.n_features_in_ = estimator.n_features_in_
        elif hasattr(X, "shape") and len(X.shape) > 1:
            self.n_features_in_ = X.shape[1]
        if hasattr(estimator, "feature_names_in_"):
            self.feature_names_in_ = estimator.feature_names_in_
        return self

    def _retrain(self, estimator, net, X, y):
        if isinstance(estimator, NeuralNet):
            net.partial_fit(X, y, epochs=self.retrain_epochs)
            return
        # A sksparse estimator re-trains through its own warm start, so its
        # validation, label encoding and seeding apply unchanged.
        params = estimator.get_params(deep=False)
        if "warm_start" not in params or "max_epochs" not in params:
            raise TypeError(
                f"estimator {type(estimator).__name__} cannot be re-trained: it needs "
                "a warm_start parameter (sksparse estimators) or must be a skorch "
                "NeuralNet."
            )
        estimator.set_params(warm_start=True, max_epochs=self.retrain_epochs)
        try:
            estimator.fit(X, y)
        finally:
            estimator.set_params(
                warm_start=params["warm_start"], max_epochs=params["max_epochs"]
            )
            net.max_epochs = params["max_epochs"]

    # -- fitted views -------------------------------------------------------
    @property
    def net_(self):
        """The fitted skorch net."""
        check_is_fitted(self, "estimator_")
        if isinstance(self.estimator_, NeuralNet):
            return self.estimator_
        return self.estimator_.net_

    @property
    def module_(self):
        """The pruned torch module."""
        return self.net_.module_

    @property
    def history_(self):
        return self.net_.history

    @property
    def classes_(self):
        check_is_fitted(self, "estimator_")
        return self.estimator_.classes_

    # -- delegated methods --------------------------------------------------
    def predict(self, X):
        """Predict with the pruned, re-trained estimator."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the pruned, re-trained estimator."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y):
        """The wrapped estimator's score (accuracy, or R²) after pruning."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.score(X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Classifier or regressor as the wrapped estimator is (scikit-learn's
        # meta-estimators delegate their tags the same way).
        try:
            sub = get_tags(self.estimator)
        except (AttributeError, TypeError):
            return tags
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = sub.classifier_tags
        tags.regressor_tags = sub.regressor_tags
        tags.target_tags = sub.target_tags
        tags.input_tags = sub.input_tags
        tags.non_deterministic = sub.non_deterministic
        return tags
