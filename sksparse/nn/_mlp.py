"""Feed-forward sparse networks: a layered MLP and a general DAG network."""

import numbers

import networkx as nx
import torch
from torch import nn

from sksparse.nn._masked import MaskedLinear

__all__ = ["SparseMLP", "DAGNetwork", "get_activation"]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def get_activation(activation):
    """Return a fresh activation module from a name or a module class."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}."
            )
        return ACTIVATIONS[activation]()
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation()
    raise TypeError(
        "activation must be a name or a torch.nn.Module class, "
        f"got {type(activation).__name__}."
    )


class SparseMLP(nn.Module):
    """A multi-layer perceptron built from :class:`MaskedLinear` layers.

    Parameters
    ----------
    n_features : int
        Number of input features.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer.
    n_outputs : int
        Number of outputs (classes or regression targets).
    masks : sequence of array-like, default=None
        One mask per layer (``len(hidden_layer_sizes) + 1``), each of the
        layer's weight shape ``(out, in)``. ``None`` gives a dense network;
        ``None`` for one entry leaves that layer dense.
    activation : str or nn.Module class, default="relu"
        Hidden activation.
    bias : bool, default=True
        Whether layers learn biases.
    dropout : float, default=0.0
        Dropout applied after each hidden activation.

    Examples
    --------
    >>> import torch
    >>> from sksparse.nn import SparseMLP
    >>> net = SparseMLP(4, (8,), 3)
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_features,
        hidden_layer_sizes,
        n_outputs,
        masks=None,
        activation="relu",
        bias=True,
        dropout=0.0,
    ):
        super().__init__()
        # int(2.5) would silently build a width-2 layer: ask for integers.
        sizes = [n_features, *hidden_layer_sizes, n_outputs]
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, numbers.Integral):
                raise TypeError(
                    "n_features, hidden_layer_sizes and n_outputs must be "
                    f"integers, got {size!r} in {sizes}."
                )
        sizes = [int(n) for n in sizes]
        if min(sizes) < 1:
            raise ValueError(f"layer sizes must be positive integers, got {sizes}.")
        n_layers = len(sizes) - 1
        if masks is None:
            masks = [None] * n_layers
        if len(masks) != n_layers:
            raise ValueError(
                f"masks must hold one mask per layer ({n_layers}), got {len(masks)}."
            )
        self.layer_sizes = sizes
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(MaskedLinear(n_in, n_out, bias=bias, mask=masks[i]))
            if i < n_layers - 1:
                layers.append(get_activation(activation))
                if dropout:
                    layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    @property
    def masked_layers(self):
        """The :class:`MaskedLinear` layers, input to output."""
        return [m for m in self.layers if isinstance(m, MaskedLinear)]

    def forward(self, X):
        return self.layers(X)


class DAGNetwork(nn.Module):
    """A feed-forward network whose hidden neurons are the nodes of a DAG.

    Every node of ``graph`` is a hidden neuron and every edge a connection.
    Neurons are grouped by layer (the node attribute ``layer`` if all nodes
    have one, else their topological generation), and each layer is computed
    by one :class:`MaskedLinear` reading the input and *all* earlier layers,
    so skip connections across layers cost nothing extra. The forward pass
    runs one matrix product per layer, not one per neuron as in deepstruct's
    ``MaskedDeepDAN``.

    Input features feed every source neuron (no predecessors); every sink
    neuron (no successors) feeds the output layer.

    Parameters
    ----------
    graph : networkx.DiGraph
        A directed acyclic graph; see :func:`sksparse.graphs.to_layered_dag`
        to make one from an undirected prior.
    n_features : int
        Number of input features.
    n_outputs : int
        Number of outputs.
    activation : str or nn.Module class, default="relu"

    Attributes
    ----------
    layer_nodes : list of list
        The graph's nodes in each layer, in the order of the layer's units.

    Examples
    --------
    >>> import networkx as nx, torch
    >>> from sksparse.nn import DAGNetwork
    >>> dag = nx.DiGraph([(0, 2), (1, 2), (0, 3), (2, 3)])
    >>> net = DAGNetwork(dag, n_features=5, n_outputs=2)
    >>> net(torch.zeros(4, 5)).shape
    torch.Size([4, 2])
    """

    def __init__(self, graph, n_features, n_outputs, activation="relu"):
        super().__init__()
        if not isinstance(graph, nx.DiGraph) or not nx.is_directed_acyclic_graph(graph):
            raise ValueError(
                "graph must be a networkx.DiGraph without cycles (a DAG); "
                "use sksparse.graphs.to_layered_dag to orient an undirected prior."
            )
        if graph.number_of_nodes() == 0:
            raise ValueError("graph must have at least one node.")
        layer_nodes = _layers_of(graph)
        self.n_features = int(n_features)
        self.n_outputs = int(n_outputs)
        self.layer_nodes = layer_nodes
        # Column of each earlier unit in the running activation matrix
        # [x, h_0, h_1, ...]; inputs occupy the first n_features columns.
        column = {}
        offset = self.n_features
        layers = []
        for nodes in layer_nodes:
            n_in = offset
            mask = torch.zeros(len(nodes), n_in)
            for row, node in enumerate(nodes):
                preds = list(graph.predecessors(node))
                if not preds:
                    mask[row, : self.n_features] = 1.0
                for pred in preds:
                    mask[row, column[pred]] = 1.0
            layers.append(MaskedLinear(n_in, len(nodes), mask=mask))
            for row, node in enumerate(nodes):
                column[node] = offset + row
            offset += len(nodes)
        out_mask = torch.zeros(self.n_outputs, offset)
        for node in graph.nodes:
            if graph.out_degree(node) == 0:
                out_mask[:, column[node]] = 1.0
        self.hidden = nn.ModuleList(layers)
        self.output = MaskedLinear(offset, self.n_outputs, mask=out_mask)
        self.activation = get_activation(activation)

    @property
    def masked_layers(self):
        """The :class:`MaskedLinear` layers, input to output."""
        return [*self.hidden, self.output]

    def forward(self, X):
        h = X
        for layer in self.hidden:
            h = torch.cat([h, self.activation(layer(h))], dim=1)
        return self.output(h)


def _layers_of(graph):
    """Group a DAG's nodes into layers, each layer after all its inputs."""
    layers = nx.get_node_attributes(graph, "layer")
    if len(layers) == graph.number_of_nodes():
        groups = {}
        for node, layer in layers.items():
            groups.setdefault(layer, []).append(node)
        # Keep the order to_layered_dag gave each layer (its "index" attribute)
        # so that neuron j of a layer is unit j of its MaskedLinear.
        index = nx.get_node_attributes(graph, "index")
        ordered = [
            sorted(groups[k], key=lambda n: (index.get(n, 0), str(n)))
            for k in sorted(groups)
        ]
        rank = {n: i for i, nodes in enumerate(ordered) for n in nodes}
        if all(rank[u] < rank[v] for u, v in graph.edges):
            return ordered
        raise ValueError(
            "graph's 'layer' node attribute must increase along every edge."
        )
    return [sorted(g, key=str) for g in nx.topological_generations(graph)]
