"""Sparsity during learning: the machinery SET and RigL share (``_set_rigl``).

Both keep every layer's number of connections constant while the net
learns: every ``update_every`` optimizer steps they drop the active weights
of smallest magnitude and regrow as many connections, at random (SET,
Mocanu et al. 2018) or where the dense gradient is largest (RigL, Evci et
al. 2020). Regrown weights start at zero and the optimizer state of every
changed connection is cleared, so no stale momentum moves them.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from skorch.callbacks import Callback
from torch import nn

from sksparse.nn import clear_optimizer_state
from sksparse.nn._masked import zero_removed_
from sksparse.pruning._base import clear_param_state, net_module
from sksparse.utils import net_optimizers

__all__ = ["BaseDynamicSparsity", "erdos_renyi_densities"]

DECAYS = ("constant", "cosine")
INITS = ("erdos_renyi", "uniform")


def erdos_renyi_densities(shapes, density):
    """Per-layer densities of Mocanu et al.'s Erdős–Rényi sparse initialisation.

    Layer ``l`` of shape ``(n_out, n_in)`` gets density
    ``ε (n_in + n_out) / (n_in n_out)``, with ``ε`` chosen so that the
    network keeps ``density`` of all its weights; a layer that would exceed 1
    is kept dense and ``ε`` is solved again for the others (Evci et al.'s
    ERK does the same).

    Parameters
    ----------
    shapes : sequence of (int, int)
        Weight shapes ``(n_out, n_in)``.
    density : float
        Fraction of all weights kept, in ``(0, 1]``.

    Returns
    -------
    list of float

    Examples
    --------
    >>> [round(d, 3) for d in erdos_renyi_densities([(300, 784), (10, 300)], 0.1)]
    [0.089, 1.0]
    """
    sizes = np.array([n_out * n_in for n_out, n_in in shapes], dtype=float)
    raw = np.array([(n_out + n_in) / (n_out * n_in) for n_out, n_in in shapes])
    dense = np.zeros(len(shapes), dtype=bool)
    budget = density * sizes.sum()
    while True:
        free = ~dense
        if not free.any():
            return [1.0] * len(shapes)
        eps = (budget - sizes[dense].sum()) / (raw[free] * sizes[free]).sum()
        out = np.where(dense, 1.0, eps * raw)
        if (out <= 1.0).all():
            return [float(d) for d in out]
        dense |= out > 1.0


def _random_mask(shape, n_keep, generator):
    flat = torch.zeros(shape[0] * shape[1], dtype=torch.bool)
    flat[torch.randperm(flat.numel(), generator=generator)[:n_keep]] = True
    return flat.view(shape)


class _Target:
    """One linear layer the callback rewires, with or without a mask buffer."""

    def __init__(self, name, layer):
        self.name = name
        self.layer = layer
        self.plain_mask = None  # for nn.Linear: the callback keeps the mask
        self.grad = None

    @property
    def weight(self):
        return self.layer.weight

    @property
    def has_buffer(self):
        return isinstance(getattr(self.layer, "mask", None), torch.Tensor)

    def mask(self):
        if self.has_buffer:
            return self.layer.mask != 0
        return self.plain_mask

    @torch.no_grad()
    def set_mask(self, mask):
        if self.has_buffer:
            self.layer.set_mask(mask.to(self.layer.mask.dtype))
        else:
            self.plain_mask = mask.to(self.weight.device)
            zero_removed_(self.weight, self.plain_mask)


class BaseDynamicSparsity(Callback):
    """Shared drop-and-regrow machinery of :class:`SET` and :class:`RigL`.

    Subclasses implement ``_grow_scores(target, candidates)``. Not public.
    """

    _needs_gradient = False

    _parameter_constraints = {
        "drop_fraction": [Interval(Real, 0, 1, closed="right")],
        "update_every": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"epoch"}),
        ],
        "end_fraction": [Interval(Real, 0, 1, closed="right")],
        "decay": [StrOptions(set(DECAYS))],
        "sparsity": [Interval(Real, 0, 1, closed="left"), None],
        "init": [StrOptions(set(INITS))],
        "rescale": ["boolean"],
        "exclude": [str, list, tuple, set, frozenset, None],
        "random_state": ["random_state"],
        "module": [str],
    }

    def __init__(
        self,
        drop_fraction=0.3,
        update_every=100,
        *,
        end_fraction=1.0,
        decay="constant",
        sparsity=None,
        init="erdos_renyi",
        rescale=True,
        exclude=None,
        random_state=None,
        module="module_",
    ):
        self.drop_fraction = drop_fraction
        self.update_every = update_every
        self.end_fraction = end_fraction
        self.decay = decay
        self.sparsity = sparsity
        self.init = init
        self.rescale = rescale
        self.exclude = exclude
        self.random_state = random_state
        self.module = module

    # -- validation -------------------------------------------------------------
    def _validate(self):
        # skorch callbacks are not scikit-learn estimators, but their
        # parameters are checked by the same constraints and messages.
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        if self.update_every == "epoch" and self._needs_gradient:
            raise ValueError(
                f"{type(self).__name__} needs a gradient: update_every must "
                "be a number of optimizer steps, not 'epoch'."
            )
        if not isinstance(self.exclude, (str, type(None))) and not all(
            isinstance(name, str) for name in self.exclude
        ):
            raise TypeError(
                "exclude must hold layer names (str), got "
                f"{[type(n).__name__ for n in self.exclude]}."
            )

    def initialize(self):
        self._validate()
        self._hooks = []
        self._masks_left = None
        return self

    # -- set-up -------------------------------------------------------------------
    def _find_targets(self, module):
        exclude = self.exclude or ()
        exclude = {exclude} if isinstance(exclude, str) else set(exclude)
        linear = [n for n, sub in module.named_modules() if isinstance(sub, nn.Linear)]
        unknown = sorted(exclude - set(linear))
        if unknown:
            # A typo would otherwise rewire the layer the user meant to keep.
            raise ValueError(
                f"exclude names {unknown} match no linear layer of the module; "
                f"its linear layers are {linear}."
            )
        return [
            _Target(name, module.get_submodule(name))
            for name in linear
            if name not in exclude
        ]

    def _draw_masks(self, targets):
        shapes = [tuple(t.weight.shape) for t in targets]
        density = 1.0 - self.sparsity
        if self.init == "uniform":
            densities = [density] * len(shapes)
        else:
            densities = erdos_renyi_densities(shapes, density)
        for target, shape, d in zip(targets, shapes, densities):
            n_keep = max(1, round(d * shape[0] * shape[1]))
            target.set_mask(_random_mask(shape, n_keep, self.rng_))
            if self.rescale:
                # Evci et al. 2020: scale the init to the sparse fan-in, so a
                # neuron keeping 30 of 784 inputs is not 5x too quiet.
                with torch.no_grad():
                    kept = target.mask().sum(dim=1, keepdim=True).clamp(min=1)
                    target.weight.mul_(torch.sqrt(shape[1] / kept))

    def _steps_per_epoch(self, net, X, y):
        try:
            dataset, _ = net.get_split_datasets(X, y)
            n = len(dataset)
        except Exception:  # noqa: BLE001 - an estimate is enough here
            n = len(X) if X is not None and hasattr(X, "__len__") else 1
        batch_size = getattr(net, "iterator_train__batch_size", net.batch_size)
        if batch_size is None or batch_size <= 0:
            return 1
        return max(1, math.ceil(n / batch_size))

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if not hasattr(self, "_hooks"):
            self.initialize()
        self._validate()  # set_params may have changed them since
        module = net_module(net, self.module)
        if self._rebind(module):
            # partial_fit (or warm start) on the module this callback left,
            # or a copy or unpickled version of it: keep the rewired
            # structure (and the random stream), start a new schedule.
            self._start_schedule(net, X, y)
            return
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self.rng_ = torch.Generator().manual_seed(int(seed))
        targets = self._find_targets(module)
        if self.sparsity is not None:
            self._draw_masks(targets)
        else:
            for target in targets:
                if not target.has_buffer:
                    target.plain_mask = target.weight.detach() != 0
        # Only sparse layers are rewired: in a dense one, every connection
        # dropped would be the only candidate to regrow, at zero.
        targets = [t for t in targets if not bool(t.mask().all())]
        if not targets:
            raise ValueError(
                f"{type(self).__name__} found no sparse linear layer in the "
                "module: give it masked layers (sksparse.nn.MaskedLinear, an "
                "estimator with sparsity > 0) or pass sparsity=."
            )
        for optimizer in net_optimizers(net):
            for target in targets:
                clear_param_state(optimizer, target.weight, target.mask())
        self.targets_ = targets
        self.n_connections_ = {t.name: int(t.mask().sum()) for t in targets}
        self._start_schedule(net, X, y)

    def _rebind(self, module):
        """Find the layers this callback left in ``module`` by name; True if found.

        Layers are known by their names in ``module.named_modules()``, never
        by ``id()``: skorch pickles the module apart from its callbacks, so a
        copied or unpickled net holds other layer objects (with other ids)
        than the callback's. A layer counts as the one left when its name
        resolves to a linear layer of the same shape whose mask is the one
        the callback left (for a plain ``nn.Linear``: zero outside it); a
        re-initialised module fails this and starts over.
        """
        left = getattr(self, "_masks_left", None)
        if not left or not getattr(self, "targets_", None):
            return False
        layers = {}
        for target in self.targets_:
            try:
                layer = module.get_submodule(target.name)
            except AttributeError:
                return False
            if not isinstance(layer, nn.Linear):
                return False
            mask = left[target.name].to(layer.weight.device)
            if tuple(layer.weight.shape) != tuple(mask.shape):
                return False
            buffer = getattr(layer, "mask", None)
            if isinstance(buffer, torch.Tensor):
                same = torch.equal(buffer != 0, mask)
            else:
                same = not bool(layer.weight.detach()[~mask].any())
            if not same:
                return False
            layers[target.name] = (layer, mask)
        for target in self.targets_:
            target.layer, mask = layers[target.name]
            if not target.has_buffer:
                target.plain_mask = mask
            target.grad = None
        return True

    def _start_schedule(self, net, X, y):
        self.step_ = 0
        self.steps_per_epoch_ = self._steps_per_epoch(net, X, y)
        self.total_steps_ = self.steps_per_epoch_ * net.max_epochs
        self.updates_ = []
        self._regrown_in_epoch = 0
        self._epoch_steps = 0

    # -- schedule ---------------------------------------------------------------
    def _total(self):
        if self.update_every == "epoch":
            return self.total_steps_ // self.steps_per_epoch_
        return self.total_steps_

    def fraction_at(self, t):
        """Drop fraction of an update at step (or epoch) ``t``; 0 once ended.

        ``cosine``: ``drop_fraction / 2 * (1 + cos(pi t / T_end))`` with
        ``T_end = end_fraction * total`` (Evci et al. 2020, eq. 1).
        """
        t_end = self.end_fraction * self._total()
        if t >= t_end:
            return 0.0
        if self.decay == "cosine":
            return self.drop_fraction / 2 * (1 + math.cos(math.pi * t / t_end))
        return self.drop_fraction

    def _is_update_step(self, step):
        every = self.update_every
        return every != "epoch" and step % every == 0 and self.fraction_at(step) > 0

    # -- hooks --------------------------------------------------------------------
    def on_batch_begin(self, net, training=False, **kwargs):
        if training and self._needs_gradient and self._is_update_step(self.step_ + 1):
            for target in self.targets_:
                self._hooks.append(
                    target.layer.register_forward_hook(self._grad_hook(target))
                )

    @staticmethod
    def _grad_hook(target):
        target.grad = None

        def hook(layer, inputs, output):
            if not output.requires_grad:
                return
            x = inputs[0].detach()

            def accumulate(grad_out):
                # dL/dW of the effective (masked) weight, dense: g^T x.
                g = grad_out.reshape(-1, grad_out.shape[-1])
                dense = g.T @ x.reshape(-1, x.shape[-1])
                target.grad = dense if target.grad is None else target.grad + dense

            output.register_hook(accumulate)

        return hook

    def _remove_hooks(self):
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self._remove_hooks()
        # Plain layers have no mask in their forward pass: the optimizer step
        # moved their removed weights, so zero them again.
        with torch.no_grad():
            for target in self.targets_:
                if not target.has_buffer:
                    zero_removed_(target.weight, target.plain_mask)
        self.step_ += 1
        self._epoch_steps += 1
        if self._is_update_step(self.step_):
            self._update(net, self.fraction_at(self.step_))

    def on_epoch_end(self, net, **kwargs):
        if self._epoch_steps and len(net.history) == 1:
            # The real count of the first epoch replaces the estimate.
            self.steps_per_epoch_ = self._epoch_steps
            self.total_steps_ = self._epoch_steps * net.max_epochs
        epoch = len(net.history)
        if self.update_every == "epoch" and epoch < net.max_epochs:
            fraction = self.fraction_at(epoch)
            if fraction > 0:
                self._update(net, fraction)
        n_total = sum(t.weight.numel() for t in self.targets_)
        n_kept = sum(int(t.mask().sum()) for t in self.targets_)
        net.history.record("sparsity", 1.0 - n_kept / n_total)
        net.history.record("regrown", self._regrown_in_epoch)
        self._regrown_in_epoch = 0
        self._epoch_steps = 0

    def on_train_end(self, net, **kwargs):
        self._remove_hooks()
        # What the next partial_fit (maybe of a copy) recognises its layers by.
        self._masks_left = {t.name: t.mask().detach().cpu() for t in self.targets_}

    # -- drop and regrow --------------------------------------------------------
    @torch.no_grad()
    def _update(self, net, fraction):
        optimizers = net_optimizers(net)
        n_changed = 0
        for target in self.targets_:
            mask = target.mask()
            weight = target.weight.detach()
            n_active = int(mask.sum())
            k = min(round(fraction * n_active), n_active)
            if k == 0:
                continue
            # Drop: the k active weights of smallest magnitude.
            magnitude = torch.where(mask, weight.abs(), torch.inf).flatten()
            dropped = torch.topk(magnitude, k, largest=False).indices
            kept = mask.flatten().clone()
            kept[dropped] = False
            # Regrow k among the inactive ones (just-dropped included, as in
            # the RigL reference code: such a weight restarts at zero).
            scores = self._grow_scores(target, ~kept.view_as(mask)).flatten()
            scores = torch.where(kept, -torch.inf, scores)
            grown = torch.topk(scores, k).indices
            new_mask = kept.clone()
            new_mask[grown] = True
            new_mask = new_mask.view_as(mask)
            target.weight.view(-1)[grown] = 0.0  # regrown weights start at zero
            target.set_mask(new_mask)
            survivors = mask & new_mask
            for optimizer in optimizers:
                if target.has_buffer:
                    clear_optimizer_state(optimizer, target.layer)
                clear_param_state(optimizer, target.weight, survivors)
            changed = int((new_mask & ~mask).sum())
            n_changed += changed
            target.grad = None
        self._regrown_in_epoch += n_changed
        self.updates_.append(
            {"step": self.step_, "fraction": fraction, "regrown": n_changed}
        )

    def _grow_scores(self, target, candidates):
        raise NotImplementedError
