"""Sequence classification with recurrent networks whose structure a graph prior draws.

Stier, Darji & Granitzer (2021) were the first to draw the hidden structure
of vanilla RNN, GRU and LSTM cells from random graphs of network theory; this
is their experiment as a scikit-learn classifier on skorch.
"""

from numbers import Integral, Real

import networkx as nx
import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from sksparse.estimators._base import (
    CLASS_WEIGHT_CONSTRAINT,
    BaseSparseNet,
)
from sksparse.estimators._classifier import SparseClassifierMixin
from sksparse.estimators._mlp import check_prior_params
from sksparse.estimators._training import SparseNetClassifier
from sksparse.estimators._validation import check_float32_range
from sksparse.graphs import (
    PRIORS,
    layered_recurrent_masks,
    make_prior,
    recurrent_prior_masks,
)
from sksparse.nn import LayeredRecurrentNet, RecurrentSequenceNet
from sksparse.nn._sequence import CELLS

__all__ = ["GraphPriorRNNClassifier"]

INPUT_TYPES = ("auto", "tokens", "values")
RECURRENT_MAPPINGS = ("hidden", "layered")


def _is_sequence_list(X):
    """Whether ``X`` is a list of strings or of sequences of unequal lengths.

    Such a list has no fixed width, unlike an array (or a list of equal-length
    sequences, which scikit-learn reads as a 2-D array): its sequences may be
    longer in ``predict`` than in ``fit``.
    """
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    if any(isinstance(s, str) for s in X):
        return True
    lengths = {len(s) if hasattr(s, "__len__") else None for s in X}
    return len(lengths) > 1 and None not in lengths


class GraphPriorRNNClassifier(SparseClassifierMixin, ClassifierMixin, BaseSparseNet):
    """Recurrent sequence classifier whose hidden structure a random graph draws.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn", "rnn_relu"}, default="lstm"
        The recurrent cell: :class:`~sksparse.nn.MaskedLSTM`,
        :class:`~sksparse.nn.MaskedGRU` or :class:`~sksparse.nn.MaskedRNN`
        (``"rnn"`` with tanh, ``"rnn_relu"`` with ReLU).
    hidden_size : int, default=32
        Units per recurrent layer; with ``mapping="layered"``, the number of
        nodes of a drawn prior (all layers together; a graph prior brings its
        own).
    prior : str, networkx.Graph, callable or None, default=None
        Which connections exist (see :func:`recurrent_prior_masks`): a name
        of :data:`sksparse.graphs.PRIORS` (``"erdos_renyi"``,
        ``"watts_strogatz"``, ``"barabasi_albert"``, ...), a callable as
        :func:`~sksparse.graphs.make_prior` takes, a graph over the hidden
        units, or ``None`` for uniform random masks.
    prior_params : dict, default=None
        The prior's parameters, e.g. ``{"p": 0.2}`` for Watts–Strogatz.
    sparsity : float, default=0.0
        Fraction of the input-to-hidden and hidden-to-hidden connections
        removed before training (``0 <= sparsity < 1``). With 0 the network is
        dense, unless ``prior`` is a graph.
    num_layers : int, default=1
        Stacked recurrent layers; with ``mapping="layered"``, the number of
        DAG layers an undirected prior is cut into (a directed acyclic graph
        prior brings its own layers, its topological generations).
    mapping : {"hidden", "layered"}, default="hidden"
        How the prior becomes the network. ``"hidden"``: every layer's
        hidden-to-hidden mask is the graph over its ``hidden_size`` units
        (:func:`recurrent_prior_masks`). ``"layered"``: the paper's mapping
        (:func:`sksparse.graphs.layered_recurrent_masks`): the graph made a
        layered DAG, each DAG layer a recurrent layer of its nodes, each edge
        an input-to-hidden connection tiled over the gates, edges that skip
        layers connections between non-adjacent layers
        (:class:`~sksparse.nn.LayeredRecurrentNet`); it needs a ``prior`` and
        ``sparsity=0`` (the graph alone decides the structure).
    input_type : {"auto", "tokens", "values"}, default="auto"
        ``"tokens"``: each element of a sequence is a symbol, one-hot encoded
        over the vocabulary seen in ``fit`` (``vocabulary_``).
        ``"values"``: each element is a number (2-D ``X``) or a feature vector
        (3-D ``X``). ``"auto"``: tokens for integers and strings, values for
        floats.
    padding_value : scalar or None, default=0
        In 2-D token arrays, trailing entries equal to it are padding (as
        :func:`sksparse.datasets.encode_sequences` pads); ``None`` for none.
    max_epochs : int, default=200
        The training budget; training stops earlier once the training loss
        (with ``early_stopping``: the validation accuracy) has not improved
        by ``tol`` for more than ``n_iter_no_change`` epochs.
    lr : float, default=1e-2
    batch_size : int or "auto", default=64
        ``"auto"`` is ``min(200, n_samples)``.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, \
default="adam"
    momentum : float, default=0.9
        Used by SGD only.
    weight_decay : float, default=0.0
    tol : float, default=1e-4
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified) and
        stop when its accuracy has not improved by ``tol`` for more than
        ``n_iter_no_change`` epochs, restoring the best epoch's weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    device : str, default="cpu"
    random_state : int, RandomState or None, default=None
        Seeds the structure, the initial weights, the validation split and
        the batch order.
    verbose : int, default=0
    callbacks : list of skorch callbacks or (name, callback), default=None
    warm_start : bool, default=False
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss (see
        :class:`~sksparse.SparseMLPClassifier`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
        Epochs the network has trained.
    n_features_in_ : int
        Padded sequence length of ``X`` in ``fit``, when ``X`` was an array
        (scikit-learn's convention: arrays of another width are refused).
        Not set when ``X`` was a list of sequences, whose lengths are free.
    input_type_ : {"tokens", "values"}
    vocabulary_ : ndarray
        The tokens seen in ``fit``, in the order of the one-hot columns
        (``input_type_ == "tokens"`` only).
    input_size_ : int
        Features per step the network reads.
    net_ : skorch.NeuralNetClassifier
    module_ : RecurrentSequenceNet or LayeredRecurrentNet
    structure_ : dict
        ``mapping="layered"`` only, what the network was built from:
        ``"widths"`` (units per layer), ``"sources"`` (the earlier layers
        each layer reads), ``"ih_masks"`` (unit-level input masks),
        ``"layers"`` (the graph node of every unit, layer by layer) and
        ``"edges"`` (the layered DAG's edges, as node pairs).
    history_ : skorch.History
    masks_ : list of ndarray of bool
        Gate-tiled ``[ih_l0, hh_l0, ih_l1, ...]``.
    sparsity_ : float
        Fraction of the recurrent weights (input-to-hidden and
        hidden-to-hidden, every gate) that are zero; the dense read-out is not
        counted.

    See Also
    --------
    sksparse.StructuralRegressor : Predicts a network's score from its graph.

    Notes
    -----
    ``X`` may be a 2-D array of padded token sequences (padded at the end),
    a 2-D or 3-D float array of value sequences, or a list of strings or of
    sequences of different lengths. An array (or a list of equal-length
    sequences, which scikit-learn reads as one) has a fixed width, checked in
    ``predict`` as scikit-learn checks a feature count; a list of strings or
    of unequal sequences has none, and is the way to predict on sequences
    longer than those seen in ``fit``.

    References
    ----------
    J. Stier, H. Darji and M. Granitzer, "Experiments on Properties of Hidden
    Structures of Sparse Neural Networks", arXiv:2107.12917, 2021.

    Examples
    --------
    >>> from sksparse import GraphPriorRNNClassifier
    >>> from sksparse.datasets import make_reber_classification
    >>> strings, y = make_reber_classification(800, max_length=12, random_state=0)
    >>> clf = GraphPriorRNNClassifier("gru", 16, prior="watts_strogatz",
    ...                               sparsity=0.5, max_epochs=20, batch_size=32,
    ...                               random_state=0)
    >>> clf.fit(strings[:600], y[:600]).score(strings[600:], y[600:]) > 0.9
    True
    >>> "".join(clf.vocabulary_), round(clf.sparsity_, 1)
    ('BEPSTVX', 0.5)
    """

    _parameter_constraints = {
        **BaseSparseNet._parameter_constraints,
        "cell": [StrOptions(set(CELLS))],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "prior": [None, StrOptions(set(PRIORS)), nx.Graph, callable],
        "prior_params": [dict, None],
        "sparsity": [Interval(Real, 0, 1, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "mapping": [StrOptions(set(RECURRENT_MAPPINGS))],
        "input_type": [StrOptions(set(INPUT_TYPES))],
        # A finite number or a string token: nan matches no entry, and an
        # object never equals a token, so either would pad nothing silently.
        "padding_value": [Interval(Real, None, None, closed="neither"), str, None],
        **CLASS_WEIGHT_CONSTRAINT,
    }
    _criterion = nn.CrossEntropyLoss
    _net_class = SparseNetClassifier

    def __init__(
        self,
        cell="lstm",
        hidden_size=32,
        *,
        prior=None,
        prior_params=None,
        sparsity=0.0,
        num_layers=1,
        mapping="hidden",
        input_type="auto",
        padding_value=0,
        max_epochs=200,
        lr=1e-2,
        batch_size=64,
        optimizer="adam",
        momentum=0.9,
        weight_decay=0.0,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
        class_weight=None,
    ):
        self.cell = cell
        self.hidden_size = hidden_size
        self.prior = prior
        self.prior_params = prior_params
        self.sparsity = sparsity
        self.num_layers = num_layers
        self.mapping = mapping
        self.input_type = input_type
        self.padding_value = padding_value
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.class_weight = class_weight

    # -- checks -------------------------------------------------------------
    def _check_params(self):
        check_prior_params(self)
        if self.mapping == "layered":
            if self.prior is None:
                raise ValueError(
                    "mapping='layered' builds the network from a graph: give a "
                    "prior (e.g. prior='watts_strogatz' or a networkx graph)."
                )
            if self.sparsity != 0:
                raise ValueError(
                    "sparsity must be 0 with mapping='layered': the graph's "
                    f"edges alone decide the connections, got {self.sparsity!r}."
                )
            if isinstance(self.prior, nx.DiGraph) and not nx.is_directed_acyclic_graph(
                self.prior
            ):
                raise ValueError(
                    "prior must be acyclic when it is a directed graph with "
                    "mapping='layered'; pass an undirected graph to have it layered."
                )

    def _check_X(self, X, *, reset, finite=True):
        # Always checked (validate_data): sequences are encoded here anyway.
        values, lengths = self._sequences(X, reset=reset)
        return {"X": values, "lengths": lengths}

    # -- sequences ----------------------------------------------------------
    def _sequences(self, X, *, reset):
        """Encode ``X`` as float32 ``(n, steps, input_size)`` and its lengths."""
        if _is_sequence_list(X):
            if reset:  # sequence lists have no fixed width to check later
                for attr in ("n_features_in_", "feature_names_in_"):
                    self.__dict__.pop(attr, None)
            return self._encode_list(X, reset=reset)
        strings = isinstance(X, np.ndarray) and X.dtype.kind in "US"
        try:
            X = validate_data(
                self,
                X,
                reset=reset,
                dtype=None if strings else "numeric",
                allow_nd=True,
            )
        except ValueError as exc:
            if not str(exc).startswith("X has"):
                raise
            raise ValueError(
                f"{exc} An array's columns are its sequences' steps: pad them to "
                "the width seen in fit, or pass a list of sequences, whose "
                "lengths are free."
            ) from None
        if X.ndim > 3:
            raise ValueError(f"X must be 2-D or 3-D, got {X.ndim} dimensions.")
        if reset:
            self.input_type_ = self._resolve_input_type(X.dtype, X.ndim)
        if self.input_type_ == "values":
            if X.dtype.kind not in "biuf":
                raise ValueError(
                    f"input_type='values' needs numbers, got X of dtype {X.dtype}."
                )
            values = X[..., None] if X.ndim == 2 else X
            lengths = np.full(len(X), X.shape[1], dtype=np.int64)
            return self._check_values(values, reset=reset), lengths
        if X.ndim != 2:
            raise ValueError(
                "token sequences must be a 2-D array (samples, steps), got "
                f"{X.ndim} dimensions; use input_type='values' for feature vectors."
            )
        if self.padding_value is None:
            padding = np.zeros(X.shape, dtype=bool)
        else:
            if isinstance(self.padding_value, str) != (X.dtype.kind in "US"):
                raise ValueError(
                    f"padding_value={self.padding_value!r} can never equal a "
                    f"token of X (dtype {X.dtype}); pass a padding value of the "
                    "tokens' kind, or None for no padding."
                )
            padding = X == self.padding_value
        lengths = X.shape[1] - np.argmax(~padding[:, ::-1], axis=1)
        lengths[padding.all(axis=1)] = 0
        return self._encode_tokens(X, padding, reset=reset), lengths.astype(np.int64)

    def _resolve_input_type(self, dtype, ndim):
        if self.input_type != "auto":
            return self.input_type
        return "tokens" if dtype.kind in "biuUS" and ndim == 2 else "values"

    def _check_values(self, values, *, reset):
        check_float32_range(values, "X")
        values = np.asarray(values, dtype=np.float32)
        if reset:
            self.input_size_ = values.shape[2]
        elif values.shape[2] != self.input_size_:
            raise ValueError(
                f"X has {values.shape[2]} features per step, but "
                f"{type(self).__name__} was fitted with {self.input_size_}."
            )
        return values

    def _encode_tokens(self, tokens, padding, *, reset):
        """One-hot rows of the vocabulary; padding becomes an all-zero row."""
        if reset:
            vocabulary = np.unique(tokens[~padding])
            if vocabulary.size == 0:
                raise ValueError("X holds no tokens: every entry is padding.")
            self.vocabulary_ = vocabulary
            self.input_size_ = len(vocabulary)
        vocabulary = self.vocabulary_
        index = np.zeros(tokens.shape, dtype=np.int64)
        real = tokens[~padding]
        try:
            position = np.searchsorted(vocabulary, real)
            known = vocabulary[np.minimum(position, len(vocabulary) - 1)] == real
        except (TypeError, np.exceptions.DTypePromotionError):
            position, known = (
                np.zeros(real.shape, dtype=np.int64),
                np.zeros(real.shape, dtype=bool),
            )
        if not np.all(known):
            unknown = np.unique(real[~known])[:5].tolist()
            raise ValueError(
                f"X holds tokens not seen in fit: {unknown}; the vocabulary is "
                f"{vocabulary.tolist()}."
            )
        index[~padding] = position + 1
        one_hot = np.eye(len(vocabulary) + 1, dtype=np.float32)[index]
        return one_hot[..., 1:]

    def _encode_list(self, X, *, reset):
        sequences = [np.asarray(list(s) if isinstance(s, str) else s) for s in X]
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        if lengths.min() == 0:
            raise ValueError("X holds an empty sequence; every sequence needs a step.")
        width = int(lengths.max())
        flat = np.concatenate([s.reshape(len(s), -1) for s in sequences])
        if flat.dtype.kind == "O":
            raise ValueError("sequences must hold numbers or str, not objects.")
        if reset:
            self.input_type_ = self._resolve_input_type(flat.dtype, 2)
        steps = np.arange(width) < lengths[:, None]  # (n, width)
        if self.input_type_ == "tokens":
            if flat.shape[1] != 1:
                raise ValueError(
                    "token sequences must hold one symbol per step, got vectors."
                )
            tokens = np.zeros((len(X), width), dtype=flat.dtype)
            tokens[steps] = flat[:, 0]
            return self._encode_tokens(tokens, ~steps, reset=reset), lengths
        if flat.dtype.kind not in "biuf":
            raise ValueError(f"input_type='values' needs numbers, got {flat.dtype}.")
        values = np.zeros((len(X), width, flat.shape[1]), dtype=np.float32)
        values[steps] = flat
        if not np.isfinite(values).all():
            raise ValueError("Input X contains NaN or infinity.")
        return self._check_values(values, reset=reset), lengths

    # -- building -----------------------------------------------------------
    def _layered_structure(self, seed):
        rng = np.random.default_rng(seed)
        if isinstance(self.prior, nx.Graph):
            graph = self.prior
        else:
            graph = make_prior(
                self.prior,
                self.hidden_size,
                random_state=rng,
                **dict(self.prior_params or {}),
            )
        directed = graph.is_directed()
        if not directed and self.num_layers > graph.number_of_nodes():
            raise ValueError(
                f"num_layers={self.num_layers} exceeds the prior's "
                f"{graph.number_of_nodes()} nodes (mapping='layered')."
            )
        drawn = layered_recurrent_masks(
            graph,
            self.input_size_,
            n_layers=None if directed else self.num_layers,
            random_state=None if directed else rng,
        )
        dag = drawn["dag"]
        layers = [[None] * w for w in drawn["widths"]]
        for node, data in dag.nodes(data=True):
            layers[data["layer"]][data["index"]] = node
        # Plain data, not the networkx DAG: sksparse.io stores it as it is.
        return {
            "widths": drawn["widths"],
            "sources": [list(reads) for reads in drawn["sources"]],
            "ih_masks": drawn["ih_masks"],
            "layers": layers,
            "edges": [list(edge) for edge in dag.edges],
        }

    def _build_layered(self, seed, n_classes):
        # A loaded estimator (sksparse.io.load) has structure_ but no net_ yet:
        # its network is rebuilt from the stored structure, not redrawn.
        if "structure_" not in self.__dict__ or "net_" in self.__dict__:
            self.structure_ = self._layered_structure(seed)
        structure = self.structure_
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return LayeredRecurrentNet(
                self.cell,
                self.input_size_,
                structure["widths"],
                n_classes,
                sources=structure["sources"],
                ih_masks=[torch.as_tensor(m) for m in structure["ih_masks"]],
                node_names=structure["layers"],
            )

    def _build_module(self, seed):
        n_classes = len(self.classes_)
        if self.mapping == "layered":
            return self._build_layered(seed, n_classes)
        ih_masks = hh_masks = None
        if self.sparsity > 0 or isinstance(self.prior, nx.Graph):
            ih_masks, hh_masks = recurrent_prior_masks(
                self.input_size_,
                self.hidden_size,
                self.num_layers,
                1.0 - self.sparsity,
                prior=self.prior,
                prior_params=self.prior_params,
                random_state=seed,
            )
            if self.sparsity == 0:  # a graph prior shapes the recurrence only
                ih_masks = None
            ih_masks = (
                None if ih_masks is None else [torch.as_tensor(m) for m in ih_masks]
            )
            hh_masks = [torch.as_tensor(m) for m in hh_masks]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return RecurrentSequenceNet(
                self.cell,
                self.input_size_,
                self.hidden_size,
                n_classes,
                self.num_layers,
                ih_masks=ih_masks,
                hh_masks=hh_masks,
            )

    # -- fitted views -----------------------------------------------------------
    @property
    def masks_(self):
        """Gate-tiled boolean masks ``[ih_l0, hh_l0, ih_l1, ...]``."""
        check_is_fitted(self, "net_")
        return [
            m.detach().cpu().numpy().astype(bool)
            for _, m in self._recurrent().masked_parameters()
        ]

    def _recurrent(self):
        return getattr(self.module_, "rnn", self.module_)

    @property
    def sparsity_(self):
        """Fraction of the recurrent weights that are zero."""
        check_is_fitted(self, "net_")
        return self._recurrent().sparsity

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags
