"""Finding the network inside whatever a user holds.

Users hand the plotting, reporting, search and experiment code a fitted
sksparse estimator, a skorch net, a ``Pipeline``, a search (``GridSearchCV``,
``GeneticSearchCV``), a meta-estimator (``PrunedEstimator``) or a bare torch
module. These functions walk that nesting by duck typing (attributes, not
classes), so this floor needs neither scikit-learn nor skorch.
"""

import re

__all__ = ["find_module", "find_net", "mask_of", "net_optimizers", "sparsity"]

#: Deepest nesting walked: a search over a pipeline over a pruned estimator
#: over an estimator is 4; more means a cycle or a structure we do not know.
_MAX_DEPTH = 8


def _inner(model):
    """One level down: last pipeline step, best or inner estimator (or None)."""
    attrs = getattr(model, "__dict__", {})
    if attrs.get("best_estimator_") is not None:
        return attrs["best_estimator_"]
    steps = attrs.get("steps")
    if steps:
        return steps[-1][1]
    if attrs.get("estimator_") is not None:
        return attrs["estimator_"]
    return None


def find_net(model):
    """The innermost fitted object that holds a network, or None.

    That is an object with a fitted ``net_`` (a sksparse estimator) or a
    fitted ``module_`` (a skorch net, or an estimator made by ``compress()``).

    Parameters
    ----------
    model : object
        A fitted estimator, skorch net, pipeline, search or meta-estimator.

    Returns
    -------
    object or None

    Examples
    --------
    >>> from sksparse.utils import find_net
    >>> find_net(object()) is None
    True
    """
    for _ in range(_MAX_DEPTH):
        if model is None:
            return None
        attrs = getattr(model, "__dict__", {})
        if attrs.get("net_") is not None or attrs.get("module_") is not None:
            return model
        model = _inner(model)
    return None


def find_module(model):
    """The torch module inside a fitted model.

    Parameters
    ----------
    model : estimator, search, pipeline, skorch net or torch.nn.Module
        A search is read through its ``best_estimator_``, a pipeline through
        its last step, a meta-estimator through its ``estimator_``.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    TypeError
        If no fitted network is found.
    """
    from torch import nn

    if isinstance(model, nn.Module):
        return model
    holder = find_net(model)
    module = getattr(holder, "__dict__", {}).get("module_")
    if module is None and holder is not None:
        module = getattr(getattr(holder, "net_", None), "module_", None)
    if not isinstance(module, nn.Module):
        hint = " (is it fitted?)" if hasattr(model, "get_params") else ""
        raise TypeError(
            f"found no fitted network in a {type(model).__name__}{hint}: expected a "
            "fitted sksparse estimator, a search, a pipeline, a skorch net or a "
            "torch module."
        )
    return module


def net_optimizers(net):
    """The initialised optimizers of a skorch net (``optimizer_`` and any others).

    skorch lists the names of a net's optimizers in ``net._optimizers`` (set
    at initialisation); a net that was never initialised has none.
    """
    names = getattr(net, "_optimizers", None) or ["optimizer"]
    found = [getattr(net, f"{name}_", None) for name in names]
    return [opt for opt in found if opt is not None]


_RECURRENT_WEIGHT = re.compile(r"^weight_(ih|hh)(_l\d+)?(_reverse)?$")


def mask_of(module, attr):
    """The mask buffer ``module`` keeps for its weight ``attr``, or None.

    ``weight`` pairs with ``mask`` (``sksparse.nn.MaskedLinear`` & co.); a
    recurrent ``weight_ih_l0`` with ``ih_mask_l0`` (``sksparse.nn.MaskedLSTM``),
    ``mask_ih_l0`` or ``weight_ih_l0_mask``. Only a buffer of the weight's own
    shape counts.
    """
    import torch

    if attr == "weight":
        candidates = ("mask",)
    else:
        kind, _, rest = attr.removeprefix("weight_").partition("_")
        candidates = (
            f"{kind}_mask_{rest}" if rest else f"{kind}_mask",
            attr.replace("weight", "mask", 1),
            f"{attr}_mask",
        )
    weight = getattr(module, attr)
    for candidate in candidates:
        buffer = module._buffers.get(candidate)
        if isinstance(buffer, torch.Tensor) and buffer.shape == weight.shape:
            return buffer
    return None


def sparsity(module):
    """Fraction of a network's connections that are pruned: the project's *sparsity*.

    Counted over the weight matrices pruners act on: those of linear and
    convolution layers, of masked layers, the recurrent ``weight_ih``/
    ``weight_hh`` matrices, and the stored weights of compact layers
    (``sksparse.nn.compress``: ``nnz`` over ``out_features * in_features``).
    A weight with a mask counts what its mask removes, any other what is
    exactly zero. Embeddings, norms and biases do not count. ``0.0`` for a
    module without such weights.

    A compressed network (``sksparse.nn.compress``) answers for the network it
    was made from (its ``source_stats``): the neurons it removed were part of
    that network's connections, so a compressed estimator reports the same
    sparsity as the one it came from.
    """
    import torch
    from torch import nn

    stats = getattr(module, "source_stats", None)
    if isinstance(stats, dict) and stats.get("flops"):
        return 1.0 - stats["flops_nz"] / stats["flops"]

    plain_types = (nn.Linear, nn.modules.conv._ConvNd)
    total = pruned = 0
    for sub in module.modules():
        if not any(True for _ in sub.parameters(recurse=False)) and hasattr(
            sub, "nnz"
        ):  # a compact layer: its weights are buffers, some in CSR form
            size = int(getattr(sub, "out_features", 0)) * int(
                getattr(sub, "in_features", 0)
            )
            if size and not hasattr(sub, "layers"):
                total += size
                pruned += size - int(sub.nnz)
            continue
        for attr, weight in sub.named_parameters(recurse=False):
            if weight.ndim < 2:
                continue
            mask = mask_of(sub, attr)
            plain = attr == "weight" and isinstance(sub, plain_types)
            if mask is None and not plain and not _RECURRENT_WEIGHT.match(attr):
                continue
            kept = mask if isinstance(mask, torch.Tensor) else weight.detach() != 0
            total += weight.numel()
            pruned += weight.numel() - int(kept.count_nonzero())
    return pruned / total if total else 0.0
