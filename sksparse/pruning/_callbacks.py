"""skorch callback that prunes a net while it trains, on a schedule."""

from sklearn.utils._param_validation import HasMethods, validate_parameter_constraints
from skorch.callbacks import Callback

from sksparse.pruning._base import (
    apply_masks,
    find_prunable_weights,
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
        return getattr(net, self.module)

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1
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

    def on_batch_end(self, net, training=False, **kwargs):
        # Plain layers have no mask in their forward pass: the optimizer step
        # (momentum, weight decay) may move a pruned weight, so zero it again.
        if training and self.plain_masks_:
            reapply_masks(self._module(net), self.plain_masks_)

    def on_epoch_end(self, net, **kwargs):
        net.history.record("sparsity", prunable_sparsity(self._module(net)))
