"""Training pieces of the estimator template: weights, convergence, optimizer state.

The skorch net classes that read per-sample weights, the callback that stops a
fit the way scikit-learn's MLP does (and never inside a pruning schedule),
and the bookkeeping that drops optimizer state made stale by loaded weights
or new masks.
"""

import copy
import hashlib
from numbers import Real

import numpy as np
import torch
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback
from skorch.utils import to_tensor

#: Key of the per-sample weights in the dict of inputs the skorch net reads;
#: :class:`WeightedLossMixin` takes them out before the module's forward.
SAMPLE_WEIGHT_KEY = "sample_weight"


#: Key an array ``X`` takes when it travels in a dict beside its weights.
_ARRAY_KEY = "X"


#: Name of the callback that stops training on convergence.
CONVERGENCE = "sksparse_convergence"


class WeightedLossMixin:
    """A skorch net whose loss is the weighted mean of per-sample losses.

    Sample weights travel with the inputs, under :data:`SAMPLE_WEIGHT_KEY`
    in a dict, so skorch's batching, shuffling and validation split keep
    them aligned with their rows; :meth:`infer` takes them out before the
    module's forward. The criterion must be built with ``reduction="none"``.
    A batch's loss is ``sum(w * loss) / sum(w)``, as scikit-learn's MLP
    averages (``np.average`` with the weights): integer weights train as
    repeated rows do, and scaling every weight changes nothing.
    """

    def infer(self, x, **fit_params):
        if isinstance(x, dict) and (SAMPLE_WEIGHT_KEY in x or _ARRAY_KEY in x):
            x = {k: v for k, v in x.items() if k != SAMPLE_WEIGHT_KEY}
            if set(x) == {_ARRAY_KEY} and not fit_params:
                x = x[_ARRAY_KEY]
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if loss.ndim == 0:  # a criterion the user set with its own reduction
            return loss
        loss = loss.reshape(len(loss), -1).mean(dim=1)
        weights = X.get(SAMPLE_WEIGHT_KEY) if isinstance(X, dict) else None
        if weights is None:
            return loss.mean()
        weights = to_tensor(weights, device=loss.device).to(loss.dtype)
        # A batch whose rows all weigh zero contributes no gradient.
        return (loss * weights).sum() / weights.sum().clamp_min(1e-12)


class SparseNetClassifier(WeightedLossMixin, NeuralNetClassifier):
    """skorch's ``NeuralNetClassifier`` with sample weights (``net_``)."""


class SparseNetRegressor(WeightedLossMixin, NeuralNetRegressor):
    """skorch's ``NeuralNetRegressor`` with sample weights (``net_``)."""


def _pruning_events_end(net):
    """The last epoch (0-based, of the net's history) at which a callback prunes.

    Read from every callback with a pruning ``schedule_`` and ``pruner``
    (:class:`sksparse.pruning.Pruning`); -1 when there is none.
    """
    last = -1
    for _, callback in getattr(net, "callbacks_", []):
        schedule = getattr(callback, "schedule_", None)
        pruner = getattr(callback, "pruner", None)
        if schedule is None or not callable(getattr(schedule, "epochs", None)):
            continue
        amount = getattr(pruner, "amount", 1.0)
        epochs = schedule.epochs(amount if isinstance(amount, Real) else 1.0)
        if epochs:
            last = max(last, max(epochs))
    return last


class Convergence(Callback):
    """Stop training when a monitored score stops improving, as sklearn's MLP does.

    After scikit-learn's ``_fit_stochastic``: an epoch improves when the
    training loss falls below the best so far by more than ``tol`` (or, with
    ``lower_is_better=False``, the validation score rises above it by more
    than ``tol``); training stops after ``n_iter_no_change`` epochs in a row
    without improvement. Epochs before a pruning schedule's last event are
    not counted, so stopping never cuts a schedule short, and the best
    weights are taken from epochs with the final masks only.

    Parameters
    ----------
    monitor : str
        The history key: ``"train_loss"``, ``"valid_acc"``, ``"valid_r2"``.
    lower_is_better : bool
    tol : float
    n_iter_no_change : int
    restore_best : bool
        Load the best epoch's weights at the end of training (early
        stopping's behaviour in scikit-learn).

    Attributes
    ----------
    converged_ : bool
        Whether the last training run stopped on convergence.
    """

    def __init__(
        self,
        monitor="train_loss",
        *,
        lower_is_better=True,
        tol=1e-4,
        n_iter_no_change=10,
        restore_best=False,
    ):
        self.monitor = monitor
        self.lower_is_better = lower_is_better
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.restore_best = restore_best
        self.enabled = True

    def on_train_begin(self, net, **kwargs):
        self.converged_ = False
        self.best_ = None
        self.best_state_ = None
        self.no_improvement_ = 0
        self.hold_until_ = _pruning_events_end(net)

    def on_epoch_end(self, net, **kwargs):
        if not self.enabled:
            return
        epoch = len(net.history) - 1
        score = net.history[-1].get(self.monitor)
        if score is None:
            return
        score = float(score) if self.lower_is_better else -float(score)
        if epoch <= self.hold_until_ or self.best_ is None:
            # Before the schedule's last pruning the network still changes
            # its structure: its scores are no baseline for the final one.
            self.best_, self.no_improvement_ = score, 0
            self._snapshot(net)
            return
        if score > self.best_ - self.tol:
            self.no_improvement_ += 1
        else:
            self.no_improvement_ = 0
        if score < self.best_:
            self.best_ = score
            self._snapshot(net)
        if self.no_improvement_ > self.n_iter_no_change:
            self.converged_ = True
            raise KeyboardInterrupt  # skorch's way to end the fit loop

    def _snapshot(self, net):
        if self.restore_best:
            self.best_state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        if self.enabled and self.restore_best and self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        self.best_state_ = None  # a fitted net does not keep a second copy


def _state_loaded(module, incompatible_keys):
    """``load_state_dict`` post-hook of a fitted module.

    Masked weights are set to exactly zero (a select, so a NaN loaded at a
    masked position goes too) and the module is flagged, so that the next
    warm start clears the optimizer state gathered on the old weights. A
    module-level function: the hook is pickled with the module.
    """
    with torch.no_grad():
        for layer in _masked(module):
            weight = getattr(layer, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.shape == layer.mask.shape:
                weight.masked_fill_(layer.mask == 0, 0.0)
    module.__dict__["_sksparse_state_loaded"] = True


def _mask_digest(module):
    """A digest of every mask of ``module`` (None when it has none)."""
    layers = _masked(module)
    if not layers:
        return None
    digest = hashlib.blake2b(digest_size=16)
    for layer in layers:
        keep = (layer.mask != 0).cpu().numpy()
        digest.update(repr(keep.shape).encode())
        digest.update(np.packbits(keep).tobytes())
    return digest.hexdigest()


def _without_state(optimizer):
    """A copy of ``optimizer`` over the same parameters, with no state."""
    fresh = copy.copy(optimizer)
    fresh.__dict__ = dict(optimizer.__dict__)
    from collections import defaultdict

    fresh.state = defaultdict(dict)
    return fresh


def _same(a, b):
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else np.array_equal(a, b)
    except (TypeError, ValueError):
        return a is b


def _masked(module):
    return [
        m
        for m in module.modules()
        if isinstance(getattr(m, "mask", None), torch.Tensor)
    ]
