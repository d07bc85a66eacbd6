"""Sparse multi-layer perceptrons as scikit-learn classifiers and regressors."""

import networkx as nx
import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetClassifier, NeuralNetRegressor
from torch import nn

from sksparse.estimators._base import (
    BaseSparseNet,
    check_fraction,
    check_positive_int,
    predict_module,
    seed_from,
)
from sksparse.graphs import prior_masks, to_layered_dag
from sksparse.nn import DAGNetwork, SparseMLP
from sksparse.pruning import Gradual, MagnitudePruner, Pruning
from sksparse.pruning._schedules import check_schedule

__all__ = ["SparseMLPClassifier", "SparseMLPRegressor"]

MAPPINGS = ("neuron", "relational")


class BaseSparseMLP(BaseSparseNet):
    """Sparse MLP logic shared by the classifier and the regressor."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        sparsity=0.0,
        prior=None,
        prior_params=None,
        mapping="neuron",
        activation="relu",
        max_epochs=10,
        lr=1e-3,
        batch_size=128,
        optimizer="adam",
        momentum=0.9,
        weight_decay=0.0,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
        sparsity_schedule=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.sparsity = sparsity
        self.prior = prior
        self.prior_params = prior_params
        self.mapping = mapping
        self.activation = activation
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.sparsity_schedule = sparsity_schedule

    # -- validation ---------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise TypeError(
                "hidden_layer_sizes must be a sequence of ints, "
                f"got {type(self.hidden_layer_sizes).__name__}."
            ) from None
        for size in sizes:
            check_positive_int(size, "hidden_layer_sizes")
        return sizes

    def _validate_structure(self):
        check_fraction(self.sparsity, "sparsity")
        if self.sparsity_schedule is not None:
            check_schedule(self.sparsity_schedule, "sparsity_schedule")
            if self.prior is not None:
                raise ValueError(
                    "prior must be None with a sparsity_schedule: the network "
                    "starts dense and magnitude pruning finds its structure."
                )
        if self.mapping not in MAPPINGS:
            raise ValueError(
                f"mapping must be one of {MAPPINGS}, got {self.mapping!r}."
            )
        if self.prior_params is not None and not isinstance(self.prior_params, dict):
            raise TypeError(
                "prior_params must be a dict of the prior's parameters, "
                f"got {type(self.prior_params).__name__}."
            )
        if isinstance(self.prior, nx.Graph) and self.mapping == "neuron":
            if self.sparsity != 0:
                raise ValueError(
                    "sparsity must be 0 when prior is a graph with mapping='neuron': "
                    "the graph's edges are the network's connections."
                )

    def _callbacks(self):
        callbacks = super()._callbacks()
        if self.sparsity_schedule is not None and self.sparsity > 0:
            # Zhu & Gupta (2017): prune by magnitude during training, reaching
            # the final sparsity halfway and fine-tuning for the rest.
            schedule = self.sparsity_schedule
            if schedule == "gradual":
                schedule = Gradual(n_steps=max(1, self.max_epochs // 2))
            pruning = Pruning(MagnitudePruner(self.sparsity), schedule=schedule)
            callbacks.append(("sparsity_schedule", pruning))
        return callbacks

    # -- building -----------------------------------------------------------
    def _build_module(self, n_features, n_outputs, seed):
        hidden = self._hidden_sizes()
        if isinstance(self.prior, nx.Graph) and self.mapping == "neuron":
            # The graph *is* the hidden structure: its nodes are the neurons.
            graph = self.prior
            if not graph.is_directed():
                widths = hidden if sum(hidden) == graph.number_of_nodes() else None
                n_layers = None if widths else min(len(hidden), graph.number_of_nodes())
                graph = to_layered_dag(
                    graph, widths=widths, n_layers=n_layers, random_state=seed
                )
            return DAGNetwork(graph, n_features, n_outputs, activation=self.activation)
        sizes = [n_features, *hidden, n_outputs]
        masks = None
        if self.sparsity > 0 and self.sparsity_schedule is None:
            masks = prior_masks(
                sizes,
                1.0 - self.sparsity,
                prior=self.prior,
                prior_params=self.prior_params,
                mapping=self.mapping,
                random_state=seed,
            )
            masks = [torch.as_tensor(np.asarray(m, dtype=np.float32)) for m in masks]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return SparseMLP(
                n_features, hidden, n_outputs, masks=masks, activation=self.activation
            )

    def _fit(self, X, y, n_outputs):
        device = self._validate_common()
        self._validate_structure()
        warm = self.warm_start and hasattr(self, "net_")
        seed = seed_from(self.random_state)
        if not warm:
            module = self._build_module(self.n_features_in_, n_outputs, seed)
            self.net_ = self._make_net(module, device)
            self.net_.initialize()
        return self._fit_net(X, y, seed, warm=warm)

    def _predict_raw(self, X):
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return predict_module(self.module_, X, device=self.net_.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


class SparseMLPClassifier(ClassifierMixin, BaseSparseMLP):
    """Multi-layer perceptron classifier with a sparse, prior-drawn structure.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer.
    sparsity : float, default=0.0
        Fraction of every layer's weights that are removed before training
        (``0 <= sparsity < 1``); ``density = 1 - sparsity``.
    prior : str, networkx.Graph, callable or None, default=None
        Which connections exist. ``None`` draws a uniform random mask; a name
        (``"erdos_renyi"``, ``"watts_strogatz"``, ``"barabasi_albert"``,
        ``"random_regular"``, ...) draws a random graph per layer through
        :func:`sksparse.graphs.make_prior`; a callable ``(n_nodes, rng)``
        returns a graph. A graph with ``mapping="neuron"`` is used as the
        hidden structure itself (its nodes are the hidden neurons; a
        :class:`~sksparse.nn.DAGNetwork` is built).
    prior_params : dict, default=None
        Parameters of the prior's generator, e.g. ``{"k": 4, "p": 0.1}``.
    mapping : {"neuron", "relational"}, default="neuron"
        How a graph becomes masks: nodes are neurons, or nodes are neuron
        groups and each layer gets a block mask (You et al. 2020). See
        :func:`sksparse.graphs.prior_masks`.
    activation : {"relu", "tanh", "logistic", "gelu", "identity"}, default="relu"
    max_epochs : int, default=10
    lr : float, default=1e-3
    batch_size : int, default=128
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or class, default="adam"
        A name or a ``torch.optim.Optimizer`` class.
    momentum : float, default=0.9
        Used by SGD only.
    weight_decay : float, default=0.0
    device : str, default="cpu"
    random_state : int, RandomState or None, default=None
        Seeds the structure, the initial weights and the batch order; the same
        value gives the same fitted weights and predictions.
    verbose : int, default=0
        skorch's verbosity.
    callbacks : list of skorch callbacks or (name, callback), default=None
        Passed to the skorch net, e.g. ``[Pruning(MagnitudePruner(0.8))]``.
    warm_start : bool, default=False
        Continue training the fitted net on the next ``fit``.
    sparsity_schedule : {"gradual", "iterative", "one-shot"}, schedule or None, \
            default=None
        ``None``: the network is sparse from the start (``sparsity`` of a
        prior-drawn structure). Otherwise it starts dense and a
        :class:`~sksparse.pruning.Pruning` callback prunes it by magnitude
        (class-blinded) during training, to ``sparsity`` at the end of the
        schedule (``prior`` must then be None). ``"gradual"`` is Zhu & Gupta's
        cubic schedule reaching ``sparsity`` at epoch ``max_epochs // 2``
        (:class:`~sksparse.pruning.Gradual`); a schedule object
        (``Gradual(n_steps=5, start=2)``, ``Iterative``, ``OneShot``) is used
        as it is. Sparse training that keeps the sparsity constant is
        :class:`~sksparse.pruning.SET` or :class:`~sksparse.pruning.RigL`
        in ``callbacks``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    net_ : skorch.NeuralNetClassifier
        The fitted skorch net; skorch users find everything here.
    module_ : torch.nn.Module
    history_ : skorch.History
    masks_ : list of ndarray
    sparsity_ : float
        Fraction of the network's weights that are zero.

    See Also
    --------
    SparseMLPRegressor, sksparse.PrunedEstimator

    Examples
    --------
    >>> from sksparse import SparseMLPClassifier
    >>> from sksparse.datasets import load_digits
    >>> X, y, X_test, y_test = load_digits()
    >>> clf = SparseMLPClassifier((64,), sparsity=0.8, prior="watts_strogatz",
    ...                           max_epochs=20, lr=1e-2, random_state=0)
    >>> clf.fit(X, y).score(X_test, y_test) > 0.9
    True
    >>> round(clf.sparsity_, 2)
    0.8
    """

    _criterion = nn.CrossEntropyLoss
    _net_class = NeuralNetClassifier

    def fit(self, X, y):
        """Draw the structure, then train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        warm = self.warm_start and hasattr(self, "net_")
        X, y = validate_data(self, X, y, dtype=np.float32, reset=not warm)
        check_classification_targets(y)
        if warm:
            if not np.isin(y, self.classes_).all():
                raise ValueError("y has classes unseen in the first fit (warm_start).")
        else:
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    "SparseMLPClassifier needs samples of at least 2 classes in y, "
                    f"got 1 class: {self.classes_[0]!r}."
                )
        y_encoded = LabelEncoder().fit(self.classes_).transform(y).astype(np.int64)
        return self._fit(X, y_encoded, len(self.classes_))

    def predict_proba(self, X):
        """Class probabilities (softmax of the network's outputs)."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities."""
        # float64 softmax, so probabilities of confident predictions stay
        # distinct and agree in rank with decision_function.
        logits = torch.as_tensor(self._predict_raw(X), dtype=torch.float64)
        return torch.log_softmax(logits, dim=1).numpy()

    def decision_function(self, X):
        """The network's raw outputs (logits); for two classes, their difference.

        As scikit-learn's convention asks, a binary problem gets one score per
        sample, positive for ``classes_[1]``.
        """
        raw = self._predict_raw(X).astype(np.float64)
        if raw.shape[1] == 2:
            return raw[:, 1] - raw[:, 0]
        return raw

    def predict(self, X):
        raw = self._predict_raw(X)
        return self.classes_[np.argmax(raw, axis=1)]


class SparseMLPRegressor(RegressorMixin, BaseSparseMLP):
    """Multi-layer perceptron regressor with a sparse, prior-drawn structure.

    Parameters are those of :class:`SparseMLPClassifier`; the loss is the
    mean squared error and ``y`` may have several columns.

    Attributes
    ----------
    n_features_in_ : int
    n_outputs_ : int
    net_ : skorch.NeuralNetRegressor
    module_ : torch.nn.Module
    history_ : skorch.History
    masks_ : list of ndarray
    sparsity_ : float

    Examples
    --------
    >>> import numpy as np
    >>> from sksparse import SparseMLPRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> y = X @ np.arange(5.0)
    >>> reg = SparseMLPRegressor((32,), sparsity=0.5, max_epochs=60, lr=1e-2,
    ...                          random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """

    _criterion = nn.MSELoss
    _net_class = NeuralNetRegressor

    def fit(self, X, y):
        """Draw the structure, then train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        warm = self.warm_start and hasattr(self, "net_")
        X, y = validate_data(
            self,
            X,
            y,
            dtype=np.float32,
            multi_output=True,
            y_numeric=True,
            reset=not warm,
        )
        y = np.asarray(y, dtype=np.float32)
        self._y_1d = y.ndim == 1
        y = y.reshape(len(y), -1)
        if warm and y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} outputs, the fitted net has {self.n_outputs_}."
            )
        self.n_outputs_ = y.shape[1]
        return self._fit(X, y, self.n_outputs_)

    def predict(self, X):
        out = self._predict_raw(X).astype(np.float64)
        return out.ravel() if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
