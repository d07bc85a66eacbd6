"""``PrunedEstimator``: fit, prune and re-train as one scikit-learn estimator."""

import contextlib
import copy
import warnings
from numbers import Integral

import torch
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback

from sksparse.estimators._validation import seed_from
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


class _RewindSnapshot(Callback):
    """Copy a net's parameters at the start of training or after ``epoch`` epochs.

    A callback, so the snapshot is taken inside the estimator's one fit: a fit
    split in two (k epochs, then a warm start) would re-seed the shuffling.
    """

    def __init__(self, epoch):
        self.epoch = epoch
        self.weights = None

    def _take(self, net):
        self.weights = {
            name: p.detach().cpu().clone() for name, p in net.module_.named_parameters()
        }

    def on_train_begin(self, net, **kwargs):
        if self.epoch == 0 and self.weights is None:
            self._take(net)

    def on_epoch_end(self, net, **kwargs):
        if self.epoch > 0 and len(net.history) == self.epoch:
            self._take(net)


_SNAPSHOT = "_sksparse_rewind"


def _is_snapshot(callback):
    return (
        isinstance(callback, tuple) and len(callback) == 2 and callback[0] == _SNAPSHOT
    )


def _fit_with_snapshot(estimator, X, y, epoch):
    """Fit ``estimator`` and return its parameters at ``epoch`` (0: at init).

    The snapshot callback is added to a copy of the estimator's callbacks and
    removed from the fitted net afterwards, so the fitted estimator's
    parameters and pickle are those of a plain fit.
    """
    original = estimator.get_params(deep=False).get("callbacks", "missing")
    if original == "missing":
        raise TypeError(
            f"rewind needs an estimator with a callbacks parameter (sksparse "
            f"estimators, skorch nets), got {type(estimator).__name__}."
        )
    snapshot = _RewindSnapshot(epoch)
    estimator.set_params(callbacks=[*(original or []), (_SNAPSHOT, snapshot)])
    estimator.fit(X, y)
    net = estimator if isinstance(estimator, NeuralNet) else estimator.net_
    # The callbacks of sksparse estimators are deep-copied into the net.
    taken = dict(net.callbacks_)[_SNAPSHOT].weights
    net.callbacks_ = [(n, cb) for n, cb in net.callbacks_ if n != _SNAPSHOT]
    # Plain attribute writes: skorch's set_params(callbacks=...) would
    # re-initialise the fitted net's callbacks. A user's callbacks may be bare
    # instances, which skorch names itself: only the (name, callback) pair
    # added here is dropped.
    net.callbacks = [cb for cb in net.callbacks if not _is_snapshot(cb)]
    estimator.callbacks = original
    if taken is None:
        raise ValueError(
            f"rewind={epoch} asks for the weights after {epoch} epochs, but the "
            f"estimator trained only {len(net.history)} epochs; lower rewind or "
            "raise max_epochs."
        )
    return taken


@torch.no_grad()
def _rewind(net, weights, masks):
    """Reset the kept weights to ``weights``; pruned ones stay exactly zero.

    Every parameter (biases too, as in Frankle & Carbin's reset) is copied;
    a prunable weight is copied through its keep-mask (``masks``, else its
    mask buffer). The optimizer state is cleared: moments from the end of
    training would push the rewound ticket along the old trajectory, where
    the papers re-train it as from the rewind point.
    """
    module = net.module_
    buffers = {pw.name: pw.mask_buffer for pw in find_prunable_weights(module)}
    for name, param in module.named_parameters():
        stored = weights[name].to(device=param.device, dtype=param.dtype)
        keep = masks.get(name)
        if keep is None and buffers.get(name) is not None:
            keep = buffers[name]
        if keep is not None:
            keep = keep.to(param.device) != 0
            stored = torch.where(keep, stored, torch.zeros_like(stored))
        param.copy_(stored)
    for optimizer in net_optimizers(net):
        optimizer.state.clear()


def _reinit_seed(estimator):
    """Base seed of the fresh initialisations of ``rewind="reinit"``.

    Drawn from a copy of the wrapped estimator's ``random_state`` (so the
    estimator's own draws are left alone): an int gives the same fresh
    weights at every fit; an estimator without one (a skorch net) draws anew.
    """
    random_state = estimator.get_params(deep=False).get("random_state")
    return seed_from(copy.deepcopy(random_state))


def _fresh_weights(template, seed):
    """Parameters of a freshly initialised copy of ``template``, seeded.

    Every sub-module's own ``reset_parameters`` runs on a deep copy, under a
    forked global RNG, so the draw comes from the distribution the network
    was initialised from (a masked layer's scale follows the masks it had
    before pruning, not the pruned ones) and the caller's RNG is untouched.
    """
    fresh = copy.deepcopy(template)
    covered = {
        id(p)
        for sub in fresh.modules()
        if callable(getattr(sub, "reset_parameters", None))
        for p in sub.parameters()
    }
    missing = [n for n, p in fresh.named_parameters() if id(p) not in covered]
    if missing:
        # Left alone, these would keep their trained values: no control.
        raise TypeError(
            "rewind='reinit' draws fresh parameters through each module's "
            f"reset_parameters, but {missing} belong to modules without one; "
            "give those modules a reset_parameters method or use rewind='init'."
        )
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for sub in fresh.modules():
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()
    return {name: p.detach().cpu().clone() for name, p in fresh.named_parameters()}


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
    rewind : None, "init", "reinit" or int, default=None
        Lottery-ticket rewinding (Frankle & Carbin 2019; Frankle et al.
        2020): after each pruning event the kept weights (and every other
        parameter) are reset to their values at initialisation (``"init"``,
        or ``0``) or after ``rewind`` epochs of the first fit, the optimizer
        state is cleared, and the net is re-trained for ``retrain_epochs``
        (for a ticket, as long as the first fit trained after the rewind
        point). These need ``prefit=False``: the weights to rewind to are
        taken during the fit. ``"reinit"`` is the papers' control: the same
        masks, but the parameters are drawn afresh at every event from a new
        initialisation of the network (each module's ``reset_parameters``,
        seeded from the estimator's ``random_state`` and the event's index,
        so a fit is reproducible; a parameter outside every module with a
        ``reset_parameters`` is a ``TypeError``); it works with
        ``prefit=True`` too. None
        keeps the trained weights (fine-tuning). The other control, a random
        mask at the same per-layer density, is
        ``RandomPruner(scope="class-uniform")`` against
        ``MagnitudePruner(scope="class-uniform")``: both prune the same
        number of weights from every layer.

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
    rewind_weights_ : dict of str to torch.Tensor or None
        With ``rewind``: every parameter of the network at the rewind point
        (on the CPU), by name; the kept weights are reset to these. With
        ``"reinit"``: the fresh initialisation of the last pruning event.
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
        self,
        estimator,
        pruner=None,
        *,
        retrain_epochs=5,
        schedule=None,
        prefit=False,
        rewind=None,
    ):
        self.estimator = estimator
        self.pruner = pruner
        self.retrain_epochs = retrain_epochs
        self.schedule = schedule
        self.prefit = prefit
        self.rewind = rewind

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
        "rewind": [
            None,
            StrOptions({"init", "reinit"}),
            Interval(Integral, 0, None, closed="left"),
        ],
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
        if isinstance(self.rewind, bool):
            raise TypeError(
                "rewind must be None, 'init', 'reinit' or an int >= 0, got "
                f"{self.rewind!r}."
            )
        reinit = self.rewind == "reinit"
        rewind_epoch = None if reinit else 0 if self.rewind == "init" else self.rewind
        rewind_weights = None
        if reinit:
            # Before any fit: the estimator's own seed draws stay as without.
            reinit_seed = _reinit_seed(self.estimator)
        if self.prefit:
            if rewind_epoch is not None:
                raise ValueError(
                    f"rewind={self.rewind!r} needs the weights of the first fit, "
                    "which a prefit estimator does not have; use prefit=False."
                )
            self._check_prefit()
            estimator = copy.deepcopy(self.estimator)
        elif rewind_epoch is not None:
            estimator = clone(self.estimator)
            rewind_weights = _fit_with_snapshot(estimator, X, y, rewind_epoch)
        else:
            estimator = clone(self.estimator).fit(X, y)
        net = estimator if isinstance(estimator, NeuralNet) else estimator.net_
        module = net.module_

        # The network before pruning: "reinit" draws fresh weights from it.
        template = copy.deepcopy(module) if reinit else None
        masks = {}
        for step, target in enumerate(schedule.targets(pruner.amount)):
            masks = pruner.compute_masks(module, target)
            apply_masks(module, masks, net_optimizers(net))
            if reinit:
                # A new draw at every event: one fixed draw would become the
                # ticket of its own initialisation after the second event.
                seed = (reinit_seed + 1 + step) % (2**31)
                rewind_weights = _fresh_weights(template, seed)
            if rewind_weights is not None:
                _rewind(net, rewind_weights, masks)
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
        self.rewind_weights_ = rewind_weights
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
            with warnings.catch_warnings():
                # retrain_epochs is a fixed fine-tuning budget, not one that
                # should have converged: its end is no convergence failure.
                warnings.simplefilter("ignore", ConvergenceWarning)
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

    def compress(self, **compress_params):
        """A copy that predicts with the compact network of the pruned estimator.

        Delegates to the fitted estimator's ``compress()`` (or, for a skorch
        net, :func:`~sksparse.estimators.compress_net`): the copy's
        ``estimator_`` predicts what this one predicts, from the compact
        network, and holds neither the masked network nor its optimizer.
        The copy keeps ``pruner_``, ``sparsity_`` and ``history_``; its
        ``masks_`` is empty and ``rewind_weights_`` None (both are dense
        copies of the network: read them on this estimator). With
        ``prefit=True`` its ``estimator`` parameter is an unfitted clone of
        the fitted estimator passed in, which holds the dense network. A
        skorch net given a module *instance* keeps that (untrained) instance
        as its parameter, which ``clone`` needs; give it the module class to
        keep the file free of it.

        Parameters
        ----------
        **compress_params
            ``layout``, ``backend``, ``dense_threshold``, ``input_shape`` of
            :func:`sksparse.nn.compress`.

        Returns
        -------
        PrunedEstimator
            A fitted copy; this estimator is unchanged.
        """
        from sksparse.estimators._compress import compress_net

        check_is_fitted(self, "estimator_")
        if isinstance(self.estimator_, NeuralNet):
            inner = compress_net(self.estimator_, **compress_params)
        elif hasattr(self.estimator_, "compress"):
            inner = self.estimator_.compress(**compress_params)
        else:
            raise TypeError(
                f"{type(self.estimator_).__name__} has no compress method; "
                "PrunedEstimator.compress needs a sksparse estimator or a skorch "
                "NeuralNet."
            )
        skip = {"estimator_", "masks_", "rewind_weights_"}
        if self.prefit:
            skip.add("estimator")
        compressed = copy.copy(self)
        compressed.__dict__ = {
            k: copy.deepcopy(v) for k, v in self.__dict__.items() if k not in skip
        }
        if self.prefit:
            compressed.estimator = clone(self.estimator)
        compressed.estimator_ = inner
        compressed.masks_ = {}
        compressed.rewind_weights_ = None
        return compressed

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

    @available_if(_estimator_has("get_support"))
    def get_support(self, indices=False):
        """The input features the pruned network reads (see the estimator's)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.get_support(indices=indices)

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
