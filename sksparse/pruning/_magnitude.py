"""Magnitude pruning: class-blinded, class-uniform, class-distributed, sensitivity."""

import torch
from sklearn.utils._param_validation import StrOptions

from sksparse.pruning._allocation import check_sensitivity, sensitivity_allocation
from sksparse.pruning._base import BasePruner, find_prunable_weights
from sksparse.pruning._functional import (
    SCOPES,
    _floors,
    check_amount,
    magnitude_masks,
    n_to_prune,
    select_masks,
)
from sksparse.pruning._patterns import block_masks, check_pattern, nm_mask

__all__ = ["MagnitudePruner"]


class MagnitudePruner(BasePruner):
    """Prune the smallest-magnitude weights of any torch module.

    Acts on the ``weight`` of every ``nn.Linear``, ``nn.Conv*`` and masked
    layer and on recurrent ``weight_ih*``/``weight_hh*`` matrices; biases are
    never pruned. Targets are cumulative and counted against the dense size:
    weights already pruned (mask 0 or exactly zero) count towards ``amount``
    and are never revived, so pruning to 0.8 and then 0.9 ends at 0.9.

    Parameters
    ----------
    amount : float or int, default=0.5
        Target sparsity: a float in ``[0, 1]`` is the fraction of prunable
        weights that are zero afterwards, an int the number of them.
    scope : {"class-blinded", "class-uniform", "class-distributed", \
            "sensitivity"}, default="class-blinded"
        ``"class-blinded"``: one magnitude threshold over all classes (same
        masks as ``torch.nn.utils.prune.global_unstructured`` with
        ``L1Unstructured``). ``"class-uniform"``: the same fraction pruned in
        every class (as per-layer ``l1_unstructured``). ``"class-distributed"``:
        weights with ``|w| < λ·σ_c`` are pruned in class ``c``, ``λ`` chosen so
        that the total is ``amount``. ``"sensitivity"``: each class pruned as
        far as its curve in ``sensitivity`` allows for the global target: the
        weights go where they cost the least measured score per weight (the
        sum of the classes' drops, read off their curves, is minimal), then
        by magnitude within the class.
    classes : {"auto", "tensor"}, dict or callable, default="auto"
        Grouping of weights into classes. ``"auto"``: one class per weight
        tensor, and one per gate of a recurrent matrix (a gate's input or
        recurrent matrix, in PyTorch's gate order). ``"tensor"``: one class per
        tensor. A dict ``{parameter name: label}`` or a callable
        ``(name, module) -> label`` merges tensors with the same label.
    exclude : list of str or callable, default=None
        Parameter names (``"fc1.weight"``) or sub-module names (``"fc1"``)
        left alone, or a callable ``(name, module) -> bool``.
    prune_output_layer : bool, default=True
        Whether the last prunable weight (the output layer of a feed-forward
        net) is pruned. True follows See et al. (2016), who prune every
        layer, and ``global_unstructured`` over all layers.
    min_density : float, default=0.0
        Every class keeps at least this fraction of its weights (when that
        many are alive), against layer collapse at high sparsity. With a floor
        that makes ``amount`` unreachable, a warning says so.
    sensitivity : tuple (layers, scores, amounts), default=None
        With ``scope="sensitivity"``: what
        :func:`~sksparse.pruning.sensitivity_curve` returned (``layers``,
        ``scores``) and the ``amounts`` it was given. Every class pruned must
        be one of its layers (``classes="auto"`` names a feed-forward net's
        classes by parameter name, as the curve does).
    pattern : None, "N:M" or tuple (r, c), default=None
        Structure of the masks, per weight tensor (read as ``(out, in)``, a
        convolution's as ``(out, in * kh * kw)``). None: any weight may go.
        ``"N:M"`` (``"2:4"`` is torch.ao's semi-structured layout): in every
        row, the ``N`` largest of each ``M`` consecutive input weights are
        kept, so the sparsity is ``1 - N/M`` whatever ``amount`` says.
        ``(r, c)``: whole ``r x c`` blocks go, weakest L2 norm first, until
        ``amount`` is pruned (``scope`` ranks the blocks of all layers
        together or prunes each layer to ``amount``). Patterns take the
        scopes ``"class-blinded"`` and ``"class-uniform"`` and no
        ``min_density``. :func:`sksparse.nn.compress` stores such layers
        as blocks or as N:M values and indices where that measures faster.

    Attributes
    ----------
    weight_classes_ : list of str
        Names of the classes of the last :meth:`compute_masks` call.
    thresholds_ : dict of str to float
        Per class, the magnitude threshold of the last call: the weights it
        pruned lie below it, those kept above. For ``"class-distributed"`` it
        is ``λ·σ_c``, proportional to the class's standard deviation.
    n_weights_ : int
        Number of prunable weights.
    n_pruned_ : int
        Number of them pruned after the last call.
    sparsity_ : float
        ``n_pruned_ / n_weights_``.
    sensitivity_amounts_ : dict of str to float
        With ``scope="sensitivity"``: the fraction of each class pruned by
        the last call.
    sensitivity_drops_ : dict of str to float
        With ``scope="sensitivity"``: the drop each class's curve gives at
        its amount (the allocation minimises their sum).

    See Also
    --------
    RandomPruner : The baseline: remove weights at random.
    Pruning : skorch callback that prunes on a schedule while a net trains.
    sksparse.PrunedEstimator : Fit, prune and re-train as one estimator.

    Notes
    -----
    Class-distributed pruning (See et al. 2016, §3.2) removes ``|w| < λ·σ_c``
    with ``σ_c`` the standard deviation of class ``c``'s weights as they
    stand (pruned weights being zero). Ranking weights by ``|w| / σ_c`` and
    removing the lowest ``k`` is the same rule with ``λ`` between the
    ``k``-th and ``(k+1)``-th value, so the target is met exactly.

    References
    ----------
    A. See, M.-T. Luong and C. D. Manning, "Compression of Neural Machine
    Translation Models via Pruning", CoNLL 2016.

    Examples
    --------
    >>> from torch import nn
    >>> from sksparse.pruning import MagnitudePruner
    >>> net = nn.Sequential(nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 2))
    >>> pruner = MagnitudePruner(amount=0.8)
    >>> masks = pruner.prune(net)
    >>> sorted(masks)
    ['0.weight', '2.weight']
    >>> pruner.sparsity_
    0.8

    Targets are cumulative: pruning to 0.9 next ends at 0.9, not 0.98.

    >>> _ = MagnitudePruner(0.9).prune(net)
    >>> int((net[0].weight == 0).sum() + (net[2].weight == 0).sum())
    198
    """

    _parameter_constraints = {
        **BasePruner._parameter_constraints,
        "scope": [StrOptions({*SCOPES, "sensitivity"})],
        "sensitivity": [None, tuple, list],
        "pattern": [None, str, tuple, list],
    }

    def __init__(
        self,
        amount=0.5,
        *,
        scope="class-blinded",
        classes="auto",
        exclude=None,
        prune_output_layer=True,
        min_density=0.0,
        sensitivity=None,
        pattern=None,
    ):
        self.amount = amount
        self.scope = scope
        self.classes = classes
        self.exclude = exclude
        self.prune_output_layer = prune_output_layer
        self.min_density = min_density
        self.sensitivity = sensitivity
        self.pattern = pattern

    def compute_masks(self, module, amount=None):
        # The base's docstring (set below the class): a pattern changes how
        # the masks are drawn, not what the method takes or returns.
        pattern = check_pattern(self.pattern)
        if pattern is None:
            return super().compute_masks(module, amount)
        self._validate_params()
        if self.scope not in ("class-blinded", "class-uniform"):
            raise ValueError(
                f"pattern={self.pattern!r} takes scope 'class-blinded' or "
                f"'class-uniform', got scope={self.scope!r}."
            )
        if self.min_density:
            raise ValueError(
                f"pattern={self.pattern!r} keeps whole groups or blocks: set "
                f"min_density=0, got {self.min_density!r}."
            )
        prunable = find_prunable_weights(
            module, exclude=self.exclude, prune_output_layer=self.prune_output_layer
        )
        weights = [pw.weight.detach() for pw in prunable]
        keeps = [pw.keep() for pw in prunable]
        n_weights = sum(w.numel() for w in weights)
        amount = self.amount if amount is None else amount
        check_amount(amount, n_weights)
        kind, a, b = pattern
        if kind == "nm":
            flat = [nm_mask(w, k, a, b) for w, k in zip(weights, keeps)]
        elif self.scope == "class-blinded":
            count = n_to_prune(amount, n_weights)
            flat = block_masks(weights, keeps, count, a, b)
        else:
            fraction = n_to_prune(amount, n_weights) / n_weights
            counts = [round(fraction * w.numel()) for w in weights]
            flat = block_masks(weights, keeps, counts, a, b, scope="class-uniform")
        masks = [m.to(w.dtype) for m, w in zip(flat, weights)]
        self.weight_classes_ = [pw.name for pw in prunable]
        self.thresholds_ = None
        self.n_weights_ = n_weights
        self.n_pruned_ = int(sum((m == 0).sum() for m in masks))
        self.sparsity_ = self.n_pruned_ / n_weights
        return {pw.name: m for pw, m in zip(prunable, masks)}

    def _class_masks(self, weights, amount, keep):
        if self.scope == "sensitivity":
            return self._sensitivity_masks(weights, amount, keep)
        if self.sensitivity is not None:
            raise ValueError(
                "sensitivity is used with scope='sensitivity' only, got "
                f"scope={self.scope!r}; drop sensitivity or set the scope."
            )
        return magnitude_masks(
            weights, amount, scope=self.scope, keep=keep, min_density=self.min_density
        )

    def _sensitivity_masks(self, weights, amount, keep):
        if self.sensitivity is None:
            raise ValueError(
                "scope='sensitivity' needs sensitivity=(layers, scores, amounts), "
                "the curve of sksparse.pruning.sensitivity_curve and its amounts."
            )
        check_sensitivity(self.sensitivity)
        names = self.weight_classes_
        # Already pruned (mask 0 or exactly zero) counts and is never revived.
        alive = [
            (w.reshape(-1) != 0) & k.reshape(-1).bool() for w, k in zip(weights, keep)
        ]
        sizes = [w.numel() for w in weights]
        floors = _floors(alive, self.min_density)
        counts, drops = sensitivity_allocation(
            self.sensitivity,
            names,
            sizes,
            n_to_prune(amount, sum(sizes)),
            pruned=[n - int(a.sum()) for n, a in zip(sizes, alive)],
            caps=[n - f for n, f in zip(sizes, floors)],
        )
        masks, thresholds = [], []
        for w, a, count in zip(weights, alive, counts):
            scores = w.reshape(-1).abs().to(torch.float64)
            (mask,), (threshold,) = select_masks([scores], count, keep=[a])
            masks.append(mask.reshape(w.shape))
            thresholds.append(threshold)
        self.sensitivity_amounts_ = {
            n: c / size for n, c, size in zip(names, counts, sizes)
        }
        self.sensitivity_drops_ = dict(zip(names, drops))
        return masks, thresholds


MagnitudePruner.compute_masks.__doc__ = BasePruner.compute_masks.__doc__
