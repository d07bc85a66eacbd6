"""skorch callback that prunes a net while it trains, on a schedule."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import HasMethods, validate_parameter_constraints
from skorch.callbacks import Callback, EarlyStopping

from sksparse.pruning._base import (
    apply_masks,
    find_prunable_weights,
    net_module,
    prunable_sparsity,
    reapply_masks,
)
from sksparse.pruning._schedules import check_schedule
from sksparse.utils import net_optimizers

__all__ = ["Pruning"]


class Pruning(Callback):
    """Prune a skorch net's module on a schedule while it trains.

    Works on any ``NeuralNet`` whose module has linear, convolutional, masked
    or recurrent weights (see :class:`MagnitudePruner`). At the start of each
    epoch the schedule names, the pruner brings the module to that epoch's
    cumulative target; the optimizer state of the pruned weights is zeroed.
    Layers with a mask buffer (:class:`~sksparse.nn.MaskedLinear`) keep pruned
    weights at zero through their mask; for plain layers (``nn.Linear``,
    ``nn.Conv2d``, ``nn.LSTM``) the masks are re-applied after every training
    batch, so pruned weights stay exactly zero while the net learns.

    Parameters
    ----------
    pruner : MagnitudePruner, RandomPruner or another pruner
        Decides which weights go; its ``amount`` is the final sparsity.
    schedule : {"one-shot", "iterative", "gradual"}, schedule object or None, \
            default=None
        When to prune and to which targets: None prunes once, at the start of
        the first epoch (:class:`OneShot`); :class:`Gradual` is Zhu & Gupta's
        cubic schedule over epochs.
    module : str, default="module_"
        Attribute of the net holding the module to prune.

    Attributes
    ----------
    masks_ : dict of str to torch.Tensor
        Masks of the last pruning event (empty before the first).
    pruned_epochs_ : list of int
        Epochs at whose start the callback pruned.

    Notes
    -----
    The epoch is read from the net's history (``len(net.history) - 1``, as
    skorch's ``LRScheduler`` does), so a schedule continues across
    ``partial_fit`` calls. Each epoch's sparsity is recorded in the history
    under ``"sparsity"``.

    A schedule whose last event lies beyond the epochs a fit runs
    (``max_epochs``) would end short of its target: training starts with a
    :class:`~sklearn.exceptions.ConvergenceWarning` naming both and the
    sparsity it will reach. Until the last event, the net's
    :class:`skorch.callbacks.EarlyStopping` callbacks are held at their
    start (no misses, no best weights): early stopping counts only from the
    fully pruned network on, so it can neither stop the schedule nor, with
    ``load_best=True``, restore a denser network.

    Examples
    --------
    >>> import numpy as np
    >>> from skorch import NeuralNetClassifier
    >>> from torch import nn
    >>> from sksparse.pruning import Gradual, MagnitudePruner, Pruning
    >>> X = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> y = (X[:, 0] > 0).astype("int64")
    >>> module = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> net = NeuralNetClassifier(
    ...     module, max_epochs=5, train_split=None, verbose=0,
    ...     callbacks=[Pruning(MagnitudePruner(0.8), schedule=Gradual(n_steps=3))],
    ... ).fit(X, y)
    >>> [round(s, 2) for s in net.history[:, "sparsity"]]
    [0.0, 0.56, 0.77, 0.8, 0.8]
    """

    # ``schedule`` is left to ``check_schedule``, which names what it takes.
    _parameter_constraints = {
        "pruner": [HasMethods(["compute_masks"])],
        "module": [str],
    }

    def __init__(self, pruner, schedule=None, module="module_"):
        self.pruner = pruner
        self.schedule = schedule
        self.module = module

    def initialize(self):
        # skorch callbacks are not scikit-learn estimators, but their
        # parameters are checked by the same constraints and messages.
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        self.schedule_ = check_schedule(self.schedule)
        self.masks_ = {}
        self.plain_masks_ = {}
        self.pruned_epochs_ = []
        return self

    def _module(self, net):
        return net_module(net, self.module)

    def on_train_begin(self, net, **kwargs):
        events = self.schedule_.epochs(self.pruner.amount)
        targets = self.schedule_.targets(self.pruner.amount)
        done = len(net.history)  # epochs of earlier partial_fit calls
        end = done + net.max_epochs
        if events and done <= events[-1] >= end:
            reached = [t for e, t in zip(events, targets) if e < end]
            where = f"sparsity {reached[-1]}" if reached else "no pruning at all"
            warnings.warn(
                f"the pruning schedule's last event is at epoch {events[-1]} "
                f"(0-based), but this fit trains epochs {done} to {end - 1} "
                f"(max_epochs={net.max_epochs}): it ends at {where} instead "
                f"of {self.pruner.amount}. Set max_epochs to at least "
                f"{events[-1] + 1 - done} or use a shorter schedule.",
                ConvergenceWarning,
                stacklevel=2,
            )

    def _hold_early_stopping(self, net, epoch):
        events = self.schedule_.epochs(self.pruner.amount)
        if not events or epoch > events[-1]:
            return
        for _, callback in getattr(net, "callbacks_", ()):
            if isinstance(callback, EarlyStopping):
                # As EarlyStopping.on_train_begin leaves them.
                callback.misses_ = 0
                callback.dynamic_threshold_ = (
                    np.inf if callback.lower_is_better else -np.inf
                )
                callback.best_model_weights_ = None

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1
        self._hold_early_stopping(net, epoch)
        target = self.schedule_.sparsity_at(epoch, self.pruner.amount)
        module = self._module(net)
        if target is not None:
            masks = self.pruner.compute_masks(module, target)
            apply_masks(module, masks, net_optimizers(net))
            plain = {
                pw.name
                for pw in find_prunable_weights(module)
                if pw.mask_buffer is None
            }
            self.masks_ = masks
            self.plain_masks_ = {n: m for n, m in masks.items() if n in plain}
            self.pruned_epochs_.append(epoch)
        # Recorded now too: a callback that ends training in on_epoch_end
        # (EarlyStopping) may do so before ours runs.
        net.history.record("sparsity", prunable_sparsity(module))

    def on_batch_end(self, net, training=False, **kwargs):
        # Plain layers have no mask in their forward pass: the optimizer step
        # (momentum, weight decay) may move a pruned weight, so zero it again.
        if training and self.plain_masks_:
            reapply_masks(self._module(net), self.plain_masks_)

    def on_epoch_end(self, net, **kwargs):
        net.history.record("sparsity", prunable_sparsity(self._module(net)))
