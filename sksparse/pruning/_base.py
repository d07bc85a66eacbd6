"""The prunable weights of any torch module, and the pruners' common base.

A pruner finds the weights it may prune by their role, not by the module's
class: the ``weight`` of every ``nn.Linear``, ``nn.Conv*`` and masked layer
(a module with a ``mask`` buffer of the weight's shape), and the recurrent
matrices ``weight_ih*``/``weight_hh*`` of ``nn.RNN``/``nn.GRU``/``nn.LSTM``
(and their cells). Biases are never pruned.

Masks are written in place: into the layer's mask buffer where it has one
(``set_mask``), else by zeroing the weight. Never through
``torch.nn.utils.prune`` (its modules cannot be deep-copied, change
their state-dict keys and compound repeated prunes).
"""

import numbers

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from sksparse.nn._masked import zero_removed_
from sksparse.pruning._functional import SCOPES, check_amount
from sksparse.utils import mask_of, sparsity
from sksparse.utils._models import _RECURRENT_WEIGHT as _RECURRENT

__all__ = [
    "BasePruner",
    "PrunableWeight",
    "apply_masks",
    "clear_param_state",
    "find_prunable_weights",
    "prunable_sparsity",
    "reapply_masks",
    "weight_classes",
]

# PyTorch stacks gates as row blocks in this order (nn.LSTM / nn.GRU docs).
_GATES = {3: ("r", "z", "n"), 4: ("i", "f", "g", "o")}
_PRUNABLE_TYPES = (nn.Linear, nn.modules.conv._ConvNd)


class PrunableWeight:
    """A weight a pruner may prune: where it lives and how it splits in gates.

    Parameters
    ----------
    name : str
        Qualified parameter name, as in ``module.named_parameters()``.
    module : torch.nn.Module
        The sub-module that owns the parameter.
    attr : str
        The parameter's attribute name on ``module`` (``"weight"``,
        ``"weight_hh_l0"``, ...).
    n_gates : int
        Number of gate blocks stacked along the rows (1, 3 for GRU, 4 for
        LSTM).
    """

    __slots__ = ("name", "module", "attr", "n_gates")

    def __init__(self, name, module, attr, n_gates=1):
        self.name = name
        self.module = module
        self.attr = attr
        self.n_gates = n_gates

    @property
    def weight(self):
        return getattr(self.module, self.attr)

    @property
    def mask_buffer(self):
        """The module's mask buffer for this weight, or None."""
        return mask_of(self.module, self.attr)

    def keep(self):
        """Current keep-mask (bool): alive in the mask buffer and non-zero."""
        weight = self.weight.detach()
        keep = weight != 0
        buffer = self.mask_buffer
        if buffer is not None:
            keep &= buffer.to(weight.device) != 0
        return keep

    @property
    def gate_names(self):
        return _GATES.get(self.n_gates, tuple(str(i) for i in range(self.n_gates)))

    def __repr__(self):
        return f"PrunableWeight({self.name!r}, shape={tuple(self.weight.shape)})"


def _n_gates(module, weight):
    hidden = getattr(module, "hidden_size", None)
    if isinstance(hidden, numbers.Integral) and hidden > 0:
        n, rest = divmod(weight.shape[0], hidden)
        if rest == 0 and n in (1, 3, 4):
            return n
    return 1


def _is_excluded(name, module_name, module, exclude):
    if exclude is None:
        return False
    if callable(exclude):
        return bool(exclude(name, module))
    return any(
        name == e or module_name == e or name.startswith(f"{e}.") for e in exclude
    )


def find_prunable_weights(module, *, exclude=None, prune_output_layer=True):
    """List the weights of ``module`` that a pruner may prune.

    Parameters
    ----------
    module : torch.nn.Module
    exclude : sequence of str or callable, default=None
        Names of parameters (``"fc1.weight"``) or sub-modules (``"fc1"``) left
        alone, or a callable ``exclude(name, module) -> bool`` called with a
        weight's qualified name and the sub-module that owns it.
    prune_output_layer : bool, default=True
        Whether the last prunable weight (in registration order: the output
        layer of a feed-forward net) may be pruned.

    Returns
    -------
    list of PrunableWeight
        In registration order (that of ``module.named_parameters()``).

    Raises
    ------
    TypeError
        If ``module`` is not a ``torch.nn.Module`` or ``exclude`` has the
        wrong type.
    ValueError
        If an excluded name matches nothing, or nothing is left to prune.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"module must be a torch.nn.Module, got {type(module).__name__}."
        )
    if exclude is not None and not callable(exclude):
        if isinstance(exclude, str):
            exclude = [exclude]
        if not all(isinstance(e, str) for e in exclude):
            raise TypeError(
                "exclude must be a list of parameter or module names, or a callable "
                f"(name, module) -> bool, got {exclude!r}."
            )
    found, seen = [], set()
    for module_name, sub in module.named_modules():
        for attr, param in sub.named_parameters(recurse=False):
            if param.ndim < 2 or id(param) in seen:
                continue
            if attr == "weight" and (
                isinstance(sub, _PRUNABLE_TYPES) or mask_of(sub, attr) is not None
            ):
                n_gates = 1
            elif _RECURRENT.match(attr):
                n_gates = _n_gates(sub, param)
            else:
                continue
            seen.add(id(param))
            name = f"{module_name}.{attr}" if module_name else attr
            found.append((module_name, PrunableWeight(name, sub, attr, n_gates)))
    if not found:
        raise ValueError(
            f"module {type(module).__name__} has no prunable weight: sksparse prunes "
            "the weights of nn.Linear, nn.Conv*, masked layers and the recurrent "
            "weight_ih/weight_hh matrices."
        )
    if exclude is not None and not callable(exclude):
        unused = [
            e
            for e in exclude
            if not any(_is_excluded(pw.name, mn, pw.module, [e]) for mn, pw in found)
        ]
        if unused:
            raise ValueError(
                f"exclude names {unused} match no prunable weight of the module; "
                f"its prunable weights are {[pw.name for _, pw in found]}."
            )
    if not prune_output_layer:
        found = found[:-1]
    kept = [pw for mn, pw in found if not _is_excluded(pw.name, mn, pw.module, exclude)]
    if not kept:
        raise ValueError(
            "module has no weight left to prune once exclude and "
            "prune_output_layer=False are applied."
        )
    return kept


def weight_classes(prunable, classes="auto"):
    """Group prunable weights into classes (See et al. 2016).

    Parameters
    ----------
    prunable : list of PrunableWeight
    classes : {"auto", "tensor"}, dict or callable, default="auto"
        ``"auto"``: one class per weight tensor, and one per gate of a
        recurrent matrix (a gate's input or recurrent matrix). ``"tensor"``:
        one class per weight tensor. A dict maps parameter names to class
        labels, a callable ``classes(name, module) -> label`` returns one;
        tensors with the same label form one class, unmapped tensors a class
        each.

    Returns
    -------
    list of (str, list of (int, int, int))
        Class name and its members: (index into ``prunable``, first row,
        row after the last).
    """
    if not (
        classes in ("auto", "tensor") or isinstance(classes, dict) or callable(classes)
    ):
        raise ValueError(
            "classes must be 'auto', 'tensor', a dict {parameter name: label} or a "
            f"callable (name, module) -> label, got {classes!r}."
        )
    if isinstance(classes, dict):
        unknown = sorted(set(classes) - {pw.name for pw in prunable})
        if unknown:
            raise ValueError(
                f"classes names {unknown} that are no prunable weight; the prunable "
                f"weights are {[pw.name for pw in prunable]}."
            )
    groups = {}
    for index, pw in enumerate(prunable):
        rows = pw.weight.shape[0]
        if classes == "auto" and pw.n_gates > 1:
            block = rows // pw.n_gates
            for g, gate in enumerate(pw.gate_names):
                groups[f"{pw.name}[{gate}]"] = [(index, g * block, (g + 1) * block)]
            continue
        if isinstance(classes, dict):
            label = classes.get(pw.name, pw.name)
        elif callable(classes) and not isinstance(classes, str):
            label = classes(pw.name, pw.module)
        else:
            label = pw.name
        groups.setdefault(str(label), []).append((index, 0, rows))
    return list(groups.items())


def clear_param_state(optimizer, param, mask):
    """Zero the optimizer state (momentum, Adam moments) of pruned entries.

    Stale momentum would otherwise move a pruned weight away from zero.
    """
    state = optimizer.state.get(param)
    if not state:
        return
    for value in state.values():
        if isinstance(value, torch.Tensor) and value.shape == param.shape:
            zero_removed_(value, mask.to(value.device))


def net_module(net, attr):
    """The torch module a callback's ``module`` parameter names on ``net``."""
    module = getattr(net, attr, None)
    if not isinstance(module, nn.Module):
        raise ValueError(
            f"module={attr!r} names no torch module of the {type(net).__name__} "
            f"(found {type(module).__name__}); pass the name of the net's "
            "attribute that holds it, such as 'module_'."
        )
    return module


def _owner(module, name):
    module_name, _, attr = name.rpartition(".")
    return (module.get_submodule(module_name) if module_name else module), attr


@torch.no_grad()
def apply_masks(module, masks, optimizers=()):
    """Write keep-masks into ``module`` in place.

    A layer with a mask buffer gets it replaced in place (``set_mask`` where
    it has one), so optimizers and hooks that refer to the buffer keep
    working; a plain layer gets its pruned weights zeroed,
    which a caller keeps at zero during training (the :class:`Pruning`
    callback re-applies the mask after every optimizer step).

    Parameters
    ----------
    module : torch.nn.Module
    masks : dict of str to torch.Tensor
        Qualified parameter name to 0/1 mask of the weight's shape.
    optimizers : sequence of torch.optim.Optimizer, default=()
        Their state of the pruned weights is zeroed.
    """
    if isinstance(optimizers, torch.optim.Optimizer):
        optimizers = (optimizers,)
    for name, mask in masks.items():
        owner, attr = _owner(module, name)
        weight = getattr(owner, attr)
        mask = torch.as_tensor(mask)
        if tuple(mask.shape) != tuple(weight.shape):
            raise ValueError(
                f"masks[{name!r}] must have the weight's shape "
                f"{tuple(weight.shape)}, got {tuple(mask.shape)}."
            )
        if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
            # A 0.5 entry would scale the weight instead of keeping or removing it.
            raise ValueError(f"masks[{name!r}] must hold only 0 and 1.")
        mask = mask.to(device=weight.device, dtype=weight.dtype)
        buffer = mask_of(owner, attr)
        if attr == "weight" and callable(getattr(owner, "set_mask", None)):
            owner.set_mask(mask)
        elif buffer is not None:
            buffer.copy_(mask.to(buffer.dtype))
        zero_removed_(weight, mask)  # a select: a NaN at a pruned entry -> 0
        for optimizer in optimizers:
            clear_param_state(optimizer, weight, mask)


def prunable_sparsity(module):
    """Fraction of the prunable weights of ``module`` that are zero or masked.

    The project's one definition, :func:`sksparse.utils.sparsity`, under the
    name this sub-package has always exported.
    """
    return sparsity(module)


def reapply_masks(module, masks):
    """Zero again the pruned weights of plain layers (after an optimizer step)."""
    with torch.no_grad():
        for name, mask in masks.items():
            owner, attr = _owner(module, name)
            zero_removed_(getattr(owner, attr), mask)


class BasePruner(BaseEstimator):
    """Base of the pruners: finds weights and classes, writes masks.

    Subclasses implement ``_class_masks(weights, amount, keep)`` returning one
    bool keep-mask per class and per-class thresholds (or None). Not a public
    estimator.
    """

    # scikit-learn's idiom: ``compute_masks`` checks these through the
    # inherited ``_validate_params``; what depends on the module (a count
    # against the number of weights, class names) is checked there too.
    _parameter_constraints = {
        "amount": [
            Interval(numbers.Real, 0, 1, closed="both"),
            Interval(numbers.Integral, 0, None, closed="left"),
        ],
        "scope": [StrOptions(set(SCOPES))],
        "classes": [StrOptions({"auto", "tensor"}), dict, callable],
        "exclude": [None, list, tuple, callable],
        "prune_output_layer": ["boolean"],
        "min_density": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def compute_masks(self, module, amount=None):
        """Masks that bring ``module`` to the target sparsity, without changing it.

        Parameters
        ----------
        module : torch.nn.Module
        amount : float or int, default=None
            Overrides the pruner's ``amount`` (schedules pass their step's
            target here).

        Returns
        -------
        dict of str to torch.Tensor
            Qualified parameter name to a float 0/1 mask of the weight's
            shape. A weight already pruned is 0 in its mask.
        """
        self._validate_params()
        prunable = find_prunable_weights(
            module, exclude=self.exclude, prune_output_layer=self.prune_output_layer
        )
        groups = weight_classes(prunable, self.classes)
        n_weights = sum(pw.weight.numel() for pw in prunable)
        amount = self.amount if amount is None else amount
        check_amount(amount, n_weights)

        weights = [pw.weight.detach() for pw in prunable]
        keeps = [pw.keep() for pw in prunable]

        def gather(tensors, members):
            return torch.cat([tensors[i][a:b].reshape(-1) for i, a, b in members])

        class_weights = [gather(weights, members) for _, members in groups]
        class_keep = [gather(keeps, members) for _, members in groups]
        # Named first: a pruner whose rule depends on the class (a per-layer
        # allocation) reads the names in _class_masks.
        self.weight_classes_ = [name for name, _ in groups]
        class_masks, thresholds = self._class_masks(class_weights, amount, class_keep)

        masks = [torch.ones_like(w) for w in weights]
        for (_, members), flat in zip(groups, class_masks):
            offset = 0
            for i, a, b in members:
                block = masks[i][a:b]
                block.copy_(flat[offset : offset + block.numel()].reshape(block.shape))
                offset += block.numel()

        self.weight_classes_ = [name for name, _ in groups]
        self.thresholds_ = (
            None if thresholds is None else dict(zip(self.weight_classes_, thresholds))
        )
        self.n_weights_ = n_weights
        self.n_pruned_ = int(sum((m == 0).sum() for m in masks))
        self.sparsity_ = self.n_pruned_ / n_weights
        return {pw.name: m for pw, m in zip(prunable, masks)}

    def prune(self, module, amount=None, *, optimizer=None):
        """Prune ``module`` in place to the target sparsity.

        Parameters
        ----------
        module : torch.nn.Module
        amount : float or int, default=None
            Overrides the pruner's ``amount``.
        optimizer : torch.optim.Optimizer or sequence of them, default=None
            Training optimizer(s) whose state of the pruned weights is zeroed.

        Returns
        -------
        dict of str to torch.Tensor
            The masks applied (see :meth:`compute_masks`).
        """
        masks = self.compute_masks(module, amount)
        apply_masks(module, masks, () if optimizer is None else optimizer)
        return masks

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags
