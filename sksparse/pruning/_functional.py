"""Pruning masks as pure functions of tensors (no modules, no scikit-learn).

Every function here takes the weights of the *classes* to prune, flattened to
one 1-D tensor per class, and returns one 1-D keep-mask per class. A class is
a group of weights with the same role (See et al. 2016): one layer's weight
matrix, or one gate's input or recurrent matrix in an RNN. Writing masks back
into modules is :mod:`sksparse.pruning._base`'s job.

Targets are cumulative and counted against the dense size: a
weight already pruned (mask 0, or exactly zero) counts as pruned and is never
revived, so pruning to 0.8 and then to 0.9 ends at 0.9.
"""

import math
import numbers
import warnings

import torch

__all__ = [
    "SCOPES",
    "check_amount",
    "magnitude_masks",
    "n_to_prune",
    "random_masks",
    "select_masks",
]

SCOPES = ("class-blinded", "class-uniform", "class-distributed")

# Score of a weight that is already pruned: below every magnitude, so it is the
# first chosen, whatever the target.
_PRUNED = float("-inf")
# Score of a weight protected by the ``min_density`` floor: never chosen.
_PROTECTED = float("inf")


def check_amount(amount, n_weights, name="amount"):
    """Validate ``amount`` (float fraction or int count) against ``n_weights``.

    Parameters
    ----------
    amount : float or int
        A float in ``[0, 1]`` is a fraction, an int in ``[0, n_weights]`` a
        count (torch's ``_compute_nparams_toprune`` convention).
    n_weights : int
        Number of prunable weights.
    name : str, default="amount"
        Parameter name quoted in the error messages.

    Raises
    ------
    TypeError
        If ``amount`` is neither an int nor a float (``bool`` included).
    ValueError
        If a fraction is outside ``[0, 1]`` or a count outside
        ``[0, n_weights]``.
    """
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(
            f"{name} must be a float in [0, 1] (a fraction) or an int (a count), "
            f"got {type(amount).__name__}: {amount!r}."
        )
    if isinstance(amount, numbers.Integral):
        if not 0 <= amount <= n_weights:
            raise ValueError(
                f"{name}={amount!r} is an int, a count of weights: it must be in "
                f"[0, {n_weights}], the number of prunable weights."
            )
    elif not (math.isfinite(amount) and 0.0 <= amount <= 1.0):
        raise ValueError(
            f"{name}={amount!r} is a float, a fraction: it must be in [0, 1]."
        )


def n_to_prune(amount, n_weights):
    """Number of weights ``amount`` means out of ``n_weights``.

    An int is a count, a float a fraction rounded to the nearest count
    (as ``torch.nn.utils.prune`` does).

    Examples
    --------
    >>> n_to_prune(0.8, 1000), n_to_prune(5, 1000)
    (800, 5)
    """
    check_amount(amount, n_weights)
    if isinstance(amount, numbers.Integral):
        return int(amount)
    return round(amount * n_weights)


def _keep_masks(scores, keep):
    if keep is None:
        return [torch.ones_like(s, dtype=torch.bool) for s in scores]
    if len(keep) != len(scores):
        raise ValueError(
            f"keep must hold one mask per class ({len(scores)}), got {len(keep)}."
        )
    out = []
    for s, k in zip(scores, keep):
        k = torch.as_tensor(k, device=s.device).reshape(-1).bool()
        if k.numel() != s.numel():
            raise ValueError("every keep mask must have its class's number of weights.")
        out.append(k)
    return out


def _floors(keep, min_density):
    """How many live weights each class must keep (``min_density`` floor)."""
    if isinstance(min_density, bool) or not isinstance(min_density, numbers.Real):
        raise TypeError(f"min_density must be a float, got {min_density!r}.")
    if not 0.0 <= min_density <= 1.0:
        raise ValueError(f"min_density must be in [0, 1], got {min_density!r}.")
    # A floor never revives a weight: it is capped at what is still alive.
    return [min(math.ceil(min_density * k.numel()), int(k.sum())) for k in keep]


def _prepare(score, keep, floor):
    """Scores with pruned weights at -inf and the ``floor`` best at +inf."""
    score = score.detach().reshape(-1).to(torch.float64).clone()
    score[~keep] = _PRUNED
    if floor > 0:
        score[torch.topk(score, floor, largest=True).indices] = _PROTECTED
    return score


def _bottom_k(score, k):
    """Keep-mask that removes the ``k`` lowest scores (``torch.topk``'s choice)."""
    mask = torch.ones_like(score, dtype=torch.bool)
    if k > 0:
        mask[torch.topk(score, k, largest=False).indices] = False
    return mask


def _midpoint(score, mask, keep):
    """A threshold between the highest newly pruned and lowest kept live score."""
    newly = score[keep & ~mask]
    kept = score[mask]
    if newly.numel() == 0:
        return 0.0
    high = float(newly.max())
    if kept.numel() == 0 or not math.isfinite(float(kept.min())):
        return high
    return (high + float(kept.min())) / 2.0


def select_masks(scores, amount, *, scope="class-blinded", keep=None, min_density=0.0):
    """Remove the lowest-scoring weights, globally or class by class.

    Parameters
    ----------
    scores : sequence of torch.Tensor
        One tensor of scores per class (flattened); low scores are pruned first.
    amount : float or int
        Target sparsity, counted against the dense size of all classes
        together: a fraction, or a count of weights.
    scope : {"class-blinded", "class-uniform"}, default="class-blinded"
        ``"class-blinded"`` ranks all classes together (one threshold);
        ``"class-uniform"`` prunes the same fraction of every class (an int
        ``amount`` is turned into the fraction ``amount / n_weights``).
    keep : sequence of torch.Tensor, default=None
        Current keep-masks (1 alive, 0 pruned). Pruned weights count towards
        the target and stay pruned. ``None``: all alive.
    min_density : float, default=0.0
        Every class keeps at least ``ceil(min_density * size)`` weights (when
        that many are alive), against layer collapse. Where the floors make
        the target unreachable, as many weights as allowed are pruned and a
        warning says so.

    Returns
    -------
    masks : list of torch.Tensor of dtype bool
        One flat keep-mask per class.
    thresholds : list of float
        Per class, a score between the highest pruned and the lowest kept
        live score: the weights pruned by this call score below it.
    """
    if scope not in ("class-blinded", "class-uniform"):
        raise ValueError(
            f"scope must be 'class-blinded' or 'class-uniform', got {scope!r}."
        )
    scores = list(scores)
    keep = _keep_masks(scores, keep)
    sizes = [s.numel() for s in scores]
    n_total = sum(sizes)
    n_prune = n_to_prune(amount, n_total)
    floors = _floors(keep, min_density)
    prepared = [_prepare(s, k, f) for s, k, f in zip(scores, keep, floors)]

    if scope == "class-blinded":
        allowed = n_total - sum(floors)
        if n_prune > allowed:
            _warn_floor(n_prune, allowed, n_total)
            n_prune = allowed
        flat = torch.cat(prepared) if prepared else torch.zeros(0)
        flat_mask = _bottom_k(flat, n_prune)
        masks = list(torch.split(flat_mask, sizes))
    else:
        fraction = n_prune / n_total if n_total else 0.0
        masks = []
        for score, size, floor in zip(prepared, sizes, floors):
            k = round(fraction * size)
            if k > size - floor:
                _warn_floor(k, size - floor, size)
                k = size - floor
            masks.append(_bottom_k(score, k))
    # Never revive: a weight pruned before stays pruned, whatever the target.
    masks = [m & k for m, k in zip(masks, keep)]
    if scope == "class-blinded":
        flat_keep = torch.cat(keep) if keep else torch.zeros(0, dtype=torch.bool)
        threshold = _midpoint(flat, torch.cat(masks), flat_keep) if masks else 0.0
        thresholds = [threshold] * len(masks)
    else:
        thresholds = [_midpoint(s, m, k) for s, m, k in zip(prepared, masks, keep)]
    return masks, thresholds


def _warn_floor(wanted, allowed, size):
    warnings.warn(
        f"min_density allows pruning only {allowed} of {size} weights, "
        f"{wanted} were asked for: the target sparsity is not reached.",
        UserWarning,
        stacklevel=4,
    )


def magnitude_masks(
    weights, amount, *, scope="class-blinded", keep=None, min_density=0.0
):
    """Magnitude pruning masks in the three schemes of See et al. (2016).

    Parameters
    ----------
    weights : sequence of torch.Tensor
        One tensor of weights per class (any shape; flattened).
    amount : float or int
        Target sparsity over all classes together: a fraction in ``[0, 1]``
        or a count of weights (cumulative: already pruned weights count).
    scope : {"class-blinded", "class-uniform", "class-distributed"}
        ``"class-blinded"``: one magnitude threshold over all classes.
        ``"class-uniform"``: the same fraction pruned in every class.
        ``"class-distributed"``: weights below ``λ·σ_c`` are pruned in class
        ``c`` (``σ_c`` the standard deviation of its weights), ``λ`` chosen
        so that the total pruned count is the target.
    keep : sequence of torch.Tensor, default=None
        Current keep-masks; ``None`` keeps every non-zero weight alive.
        Exactly zero weights always count as pruned.
    min_density : float, default=0.0
        Per-class floor on the fraction of weights kept.

    Returns
    -------
    masks : list of torch.Tensor of dtype bool
        One keep-mask per class, of the class's shape.
    thresholds : list of float
        Per class, a magnitude threshold: the weights this call pruned lie
        below it, those kept above. For ``"class-distributed"`` it is
        ``λ·σ_c``.

    Notes
    -----
    Class-distributed pruning (See et al. 2016, §3.2) removes ``|w| < λ·σ_c``.
    Ranking every weight by ``|w| / σ_c`` and removing the ``k`` lowest is the
    same rule with ``λ`` set between the ``k``-th and ``(k+1)``-th ranked
    values, so the total pruned count hits the target exactly (up to ties).

    References
    ----------
    A. See, M.-T. Luong and C. D. Manning, "Compression of Neural Machine
    Translation Models via Pruning", CoNLL 2016.

    Examples
    --------
    >>> import torch
    >>> w = [torch.tensor([0.1, -0.5, 2.0]), torch.tensor([[0.3, -0.05]])]
    >>> masks, _ = magnitude_masks(w, 0.4)
    >>> [m.int().tolist() for m in masks]
    [[0, 1, 1], [[1, 0]]]
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}.")
    weights = [torch.as_tensor(w).detach() for w in weights]
    shapes = [w.shape for w in weights]
    alive = [w.reshape(-1) != 0 for w in weights]
    if keep is not None:
        keep = _keep_masks(weights, keep)
        alive = [a & k for a, k in zip(alive, keep)]
    scores = [w.reshape(-1).abs().to(torch.float64) for w in weights]
    sigmas = None
    if scope == "class-distributed":
        # σ_c over the class's weights as they stand (pruned ones are zero).
        sigmas = [
            float(w.reshape(-1).to(torch.float64).std(unbiased=False))
            if w.numel() > 1
            else 0.0
            for w in weights
        ]
        scores = [s / max(sigma, 1e-30) for s, sigma in zip(scores, sigmas)]
        scope_ = "class-blinded"
    else:
        scope_ = scope
    masks, thresholds = select_masks(
        scores, amount, scope=scope_, keep=alive, min_density=min_density
    )
    if sigmas is not None:
        thresholds = [t * sigma for t, sigma in zip(thresholds, sigmas)]
    return [m.reshape(shape) for m, shape in zip(masks, shapes)], thresholds


def random_masks(
    weights,
    amount,
    *,
    scope="class-blinded",
    keep=None,
    min_density=0.0,
    generator=None,
):
    """Random pruning masks: live weights are removed uniformly at random.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        One tensor per class; only shapes and zeros are used.
    amount : float or int
        Target sparsity over all classes together (cumulative).
    scope : {"class-blinded", "class-uniform"}, default="class-blinded"
        Draw over all classes together, or the same fraction in every class.
    keep : sequence of torch.Tensor, default=None
        Current keep-masks; exactly zero weights count as pruned.
    min_density : float, default=0.0
        Per-class floor on the fraction of weights kept.
    generator : torch.Generator, default=None
        Source of randomness. The same seed ranks the weights the same way, so
        pruning to 0.5 and then 0.8 equals pruning to 0.8 at once.

    Returns
    -------
    masks : list of torch.Tensor of dtype bool

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> masks = random_masks([torch.ones(10, 10)], 0.3, generator=g)
    >>> int((~masks[0]).sum())
    30
    """
    if scope not in ("class-blinded", "class-uniform"):
        raise ValueError(
            "scope must be 'class-blinded' or 'class-uniform' for random pruning, "
            f"got {scope!r}."
        )
    weights = [torch.as_tensor(w).detach() for w in weights]
    alive = [w.reshape(-1) != 0 for w in weights]
    if keep is not None:
        keep = _keep_masks(weights, keep)
        alive = [a & k for a, k in zip(alive, keep)]
    scores = [
        torch.rand(w.numel(), generator=generator, dtype=torch.float64).to(w.device)
        for w in weights
    ]
    masks, _ = select_masks(
        scores, amount, scope=scope, keep=alive, min_density=min_density
    )
    return [m.reshape(w.shape) for m, w in zip(masks, weights)]
