"""Reading a saved model: its network, layers, compression and graph."""

from pathlib import Path

import joblib
import networkx as nx
import numpy as np

from sksparse.graphs import network_to_graph, structural_features
from sksparse.metrics import compression_report
from sksparse.nn import CompressedConvNetwork, CompressedNetwork
from sksparse.pruning import find_prunable_weights
from sksparse.utils import find_module

__all__ = [
    "export_graph",
    "layer_summary",
    "load_model",
    "model_report",
    "network_module",
]


def load_model(path):
    """Load an estimator saved with ``joblib.dump``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a joblib file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {str(path)!r}.")
    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure
        raise ValueError(
            f"{str(path)!r} is not a model saved with joblib.dump "
            f"({type(exc).__name__}: {exc})."
        ) from None


# The experiments' name for the one lookup every floor shares.
network_module = find_module


def layer_summary(model):
    """Size and sparsity of every prunable weight of a network.

    Parameters
    ----------
    model : fitted estimator or torch.nn.Module
        See :func:`network_module`.

    Returns
    -------
    list of dict
        One row per weight (:func:`sksparse.pruning.find_prunable_weights`):
        ``layer``, ``shape``, ``size``, ``size_nz``, ``sparsity``. A
        compressed network (:func:`sksparse.nn.compress`) has one row per
        stored layer, of its kept shape, with its ``layout`` too: ``size_nz``
        counts its non-zero weights whether it is stored dense or as CSR.

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import SparseMLP
    >>> from sksparse.experiments import layer_summary
    >>> net = SparseMLP(4, (4,), 2, masks=[torch.eye(4), torch.ones(2, 4)])
    >>> [(r["layer"], r["size"], r["size_nz"]) for r in layer_summary(net)]
    [('layers.0.weight', 16, 4), ('layers.2.weight', 8, 8)]
    """
    module = network_module(model)
    if isinstance(module, (CompressedNetwork, CompressedConvNetwork)):
        return _compact_rows(module)
    rows = []
    for weight in find_prunable_weights(module):
        size = weight.weight.numel()
        size_nz = int(weight.keep().count_nonzero())
        rows.append(
            {
                "layer": weight.name,
                "shape": "x".join(str(s) for s in weight.weight.shape),
                "size": size,
                "size_nz": size_nz,
                "sparsity": 1 - size_nz / size if size else 0.0,
            }
        )
    return rows


def _compact_rows(module):
    rows = []
    for name, layer in module.named_modules():
        if not hasattr(layer, "n_stored"):
            continue
        if hasattr(layer, "kernel_size"):
            shape = (layer.out_channels, layer.in_channels, *layer.kernel_size)
        else:
            shape = (layer.out_features, layer.in_features)
        size = int(np.prod(shape))
        size_nz = layer.nnz
        rows.append(
            {
                "layer": name,
                "shape": "x".join(str(s) for s in shape),
                "size": size,
                "size_nz": size_nz,
                "sparsity": 1 - size_nz / size if size else 0.0,
                "layout": layer.layout,
            }
        )
    return rows


def model_report(model, X=None):
    """Compression report and structure summary of a fitted network.

    Parameters
    ----------
    model : fitted estimator or torch.nn.Module
        See :func:`network_module`.
    X : array-like, default=None
        Samples to time the network and its compressed form on.

    Returns
    -------
    report : dict
        ``"model"`` (its class), ``"layers"`` (:func:`layer_summary`),
        ``"compression"`` (:func:`sksparse.compression_report`, or the
        reason it could not be made under ``"error"``) and ``"structure"``
        (:func:`sksparse.graphs.structural_features` of the network's graph).
    """
    module = network_module(model)
    report = {"model": type(model).__name__, "layers": layer_summary(module)}
    try:
        report["compression"] = compression_report(module, X)
    except (TypeError, ValueError, NotImplementedError) as exc:
        total = sum(r["size"] for r in report["layers"])
        nonzero = sum(r["size_nz"] for r in report["layers"])
        report["compression"] = {
            "size": total,
            "size_nz": nonzero,
            "compression_ratio": total / max(nonzero, 1),
            "error": f"{type(exc).__name__}: {exc}",
        }
    report["structure"] = structural_features(network_to_graph(module))
    return report


def export_graph(model, path, *, weights=False):
    """Write a network's structure to a graph file for Gephi or networkx.

    The format follows the extension: ``.graphml``, ``.gexf``, ``.gml`` or
    ``.edgelist``. Nodes are neurons with attributes ``layer``, ``index`` and
    ``kind``; edges are kept connections (with ``weight`` when asked).

    Parameters
    ----------
    model : fitted estimator or torch.nn.Module
        See :func:`network_module`.
    path : str or path-like
    weights : bool, default=False

    Returns
    -------
    graph : networkx.DiGraph
        The graph written.
    """
    writers = {
        ".graphml": nx.write_graphml,
        ".gexf": nx.write_gexf,
        ".gml": nx.write_gml,
        ".edgelist": lambda g, p: nx.write_edgelist(g, p, data=True),
    }
    path = Path(path)
    writer = writers.get(path.suffix.lower())
    if writer is None:
        raise ValueError(
            f"graph file must end in {', '.join(writers)}; got {path.name!r}."
        )
    graph = network_to_graph(network_module(model), weights=weights)
    # GraphML and GEXF store only scalars: other attribute values become text.
    attributes = [d for _, d in graph.nodes(data=True)]
    attributes += [d for _, _, d in graph.edges(data=True)]
    for data in attributes:
        for key, value in data.items():
            if isinstance(value, np.generic):
                data[key] = value.item()
            elif not isinstance(value, (bool, int, float, str)):
                data[key] = str(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer(graph, str(path))
    return graph
