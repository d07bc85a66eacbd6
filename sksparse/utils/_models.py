"""Finding the network inside whatever a user holds.

Users hand the plotting, reporting, search and experiment code a fitted
sksparse estimator, a skorch net, a ``Pipeline``, a search (``GridSearchCV``,
``GeneticSearchCV``), a meta-estimator (``PrunedEstimator``) or a bare torch
module. These functions walk that nesting by duck typing (attributes, not
classes), so this floor needs neither scikit-learn nor skorch.
"""

__all__ = ["find_module", "find_net", "net_optimizers"]

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
