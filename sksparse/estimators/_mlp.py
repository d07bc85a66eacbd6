"""Sparse multi-layer perceptrons as scikit-learn classifiers and regressors.

A little over 600 lines: a quarter of it is the parameter documentation the
two public estimators carry; the code they share sits in ``BaseSparseMLP``.
"""

from numbers import Integral, Real

import networkx as nx
import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch import nn

from sksparse.estimators._base import (
    CLASS_WEIGHT_CONSTRAINT,
    BaseSparseNet,
)
from sksparse.estimators._classifier import SparseClassifierMixin
from sksparse.estimators._training import SparseNetClassifier, SparseNetRegressor
from sksparse.estimators._validation import check_device, check_float32_range
from sksparse.graphs import PRIORS, prior_masks, to_layered_dag
from sksparse.nn import CSRMLP, DAGNetwork, SparseMLP
from sksparse.nn._stages import input_support
from sksparse.pruning import Gradual, MagnitudePruner, OneShot, Pruning
from sksparse.pruning._dynamic import BaseDynamicSparsity

__all__ = ["SparseMLPClassifier", "SparseMLPRegressor"]

MAPPINGS = ("neuron", "relational")
#: How the MLPs train: masked dense layers, or CSR over the kept connections.
BACKENDS = ("masked", "csr")

#: Constraints of the structure parameters the MLP, CNN and RNN share.
PRIOR_CONSTRAINTS = {
    "sparsity": [Interval(Real, 0, 1, closed="left")],
    "prior": [None, StrOptions(set(PRIORS)), nx.Graph, callable],
    "prior_params": [dict, None],
    "mapping": [StrOptions(set(MAPPINGS))],
}


def check_prior_params(estimator):
    """``prior_params`` configure a prior: refuse them without one."""
    if estimator.prior is None and estimator.prior_params:
        raise ValueError(
            "prior_params were given with prior=None; name a prior "
            "(e.g. prior='watts_strogatz') or drop prior_params."
        )


def check_X_array(estimator, X, *, reset, finite=True):
    """``X`` as float32 after checking it fits float32's range.

    ``finite=False`` (prediction only): a plain float array of the fitted
    width comes back without its NaN/inf check, which ``predict_module``
    (``check_finite=True``) then makes block by block, just before each
    block goes through the network. A separate pass over a large ``X`` read
    it from memory twice: at 10,000x784 the check took 1.8 ms of a 95 %
    LeNet-300-100's 16.2 ms ``predict_proba``, and 13.2 ms with the check per
    block against 13.6 for the module alone. Anything else is checked here.
    """
    if not reset and _plain_float_array(estimator, X, finite=finite):
        # What validate_data would accept and return unchanged, checked in a
        # few microseconds: validate_data took ~180 us, at batch 1 twice
        # the compressed LeNet's forward pass.
        if X.dtype != np.float32:
            check_float32_range(X, "X")
            X = X.astype(np.float32)
        return X
    X = validate_data(estimator, X, reset=reset, dtype=[np.float32, np.float64])
    if X.dtype != np.float32:
        check_float32_range(X, "X")
        X = X.astype(np.float32)
    return X


def _plain_float_array(estimator, X, *, finite=True):
    """Whether ``X`` is a 2-D float ndarray of the fitted width, finite unless
    ``finite=False`` (then the caller checks).

    Such an ``X`` is what ``validate_data(reset=False)`` passes through as it
    is; anything else (lists, frames, sparse matrices, wrong widths, NaN)
    goes through ``validate_data`` for its conversions and its errors.
    """
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and X.shape[0] > 0
        and X.shape[1] == getattr(estimator, "n_features_in_", None)
        and not hasattr(estimator, "feature_names_in_")
        and (not finite or bool(np.isfinite(X).all()))
    )


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
        max_epochs=200,
        lr=1e-3,
        batch_size="auto",
        optimizer="adam",
        momentum=0.9,
        weight_decay=0.0,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
        sparsity_schedule=None,
        backend="masked",
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
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.sparsity_schedule = sparsity_schedule
        self.backend = backend

    _parameter_constraints = {
        **BaseSparseNet._parameter_constraints,
        **PRIOR_CONSTRAINTS,
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [str, type],
        "sparsity_schedule": [
            None,
            StrOptions({"gradual", "iterative", "one-shot"}),
            HasMethods("targets"),
        ],
        "backend": [StrOptions(set(BACKENDS))],
    }

    # -- checks -------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
                raise ValueError(
                    "hidden_layer_sizes must hold positive ints, got "
                    f"{self.hidden_layer_sizes!r}."
                )
        return sizes

    def _check_params(self):
        self._hidden_sizes()
        check_prior_params(self)
        if self.sparsity_schedule is not None and self.prior is not None:
            raise ValueError(
                "prior must be None with a sparsity_schedule: the network "
                "starts dense and magnitude pruning finds its structure."
            )
        if isinstance(self.prior, nx.Graph) and self.mapping == "neuron":
            if self.sparsity != 0:
                raise ValueError(
                    "sparsity must be 0 when prior is a graph with mapping='neuron': "
                    "the graph's edges are the network's connections."
                )
        if self.backend == "csr":
            self._check_csr_backend()

    def _check_csr_backend(self):
        """Refuse what the CSR backend cannot train, before any work starts."""
        if self.sparsity_schedule is not None:
            raise ValueError(
                "backend='csr' trains a fixed structure; sparsity_schedule prunes "
                "the masked network during training and needs backend='masked'."
            )
        for callback in self.callbacks or []:
            callback = callback[1] if isinstance(callback, tuple) else callback
            if isinstance(callback, Pruning | BaseDynamicSparsity):
                raise ValueError(
                    f"backend='csr' trains a fixed structure; the "
                    f"{type(callback).__name__} callback changes masks during "
                    "training and needs backend='masked'."
                )
        if isinstance(self.prior, nx.Graph) and self.mapping == "neuron":
            raise ValueError(
                "backend='csr' trains layered networks; a graph prior with "
                "mapping='neuron' builds a DAGNetwork: use backend='masked'."
            )
        if check_device(self.device) != "cpu":
            raise ValueError(
                f"backend='csr' runs on the CPU, got device={self.device!r}; "
                "use backend='masked' on other devices."
            )

    def _train_net(self, X, y, *, warm, epochs=None):
        if self.backend != "csr":
            return super()._train_net(X, y, warm=warm, epochs=epochs)
        # skorch trains a CSRMLP twin of the masked network for this fit: the
        # optimizer sees only the kept weights and the backward pass computes
        # their gradients alone. The weights are written back into the masked
        # network afterwards (also when training fails), which everything
        # else reads; the optimizer starts afresh on each fit.
        net = self.net_
        if not warm:
            net.initialize()
        masked = net.module_
        net.module_ = CSRMLP.from_masked(masked)
        net.initialize_optimizer()
        self._update_training_params()
        try:
            if epochs is None:
                net.partial_fit(X, y)
            else:
                net.partial_fit(X, y, epochs=epochs)
        finally:
            net.module_.write_to(masked)
            net.module_ = masked
            net.initialize_optimizer()
            self._update_training_params()

    def _check_X(self, X, *, reset, finite=True):
        return check_X_array(self, X, reset=reset, finite=finite)

    def _callbacks(self):
        callbacks = super()._callbacks()
        if self.sparsity_schedule is not None and self.sparsity > 0:
            # Zhu & Gupta (2017): prune by magnitude during training, reaching
            # the final sparsity halfway and fine-tuning for the rest.
            schedule = self.sparsity_schedule
            if schedule == "gradual":
                # Gradual(n) prunes at epochs 0..n: one epoch leaves room for
                # the final event only, at epoch max_epochs // 2 == 0.
                schedule = (
                    Gradual(n_steps=self.max_epochs // 2)
                    if self.max_epochs >= 2
                    else OneShot()
                )
            pruning = Pruning(MagnitudePruner(self.sparsity), schedule=schedule)
            callbacks.append(("sparsity_schedule", pruning))
        return callbacks

    # -- building -----------------------------------------------------------
    def _build_module(self, seed):
        hidden = self._hidden_sizes()
        n_features, n_outputs = self.n_features_in_, self._n_network_outputs()
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
            # ``min_in_degree`` and ``uniform_output`` travel in prior_params:
            # they shape the masks drawn from the prior, not its graph.
            params = dict(self.prior_params or {})
            min_in_degree = params.pop("min_in_degree", 0)
            uniform_output = params.pop("uniform_output", False)
            masks = prior_masks(
                sizes,
                1.0 - self.sparsity,
                prior=self.prior,
                prior_params=params,
                mapping=self.mapping,
                min_in_degree=min_in_degree,
                uniform_output=uniform_output,
                random_state=seed,
            )
            masks = [torch.as_tensor(np.asarray(m, dtype=np.float32)) for m in masks]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return SparseMLP(
                n_features, hidden, n_outputs, masks=masks, activation=self.activation
            )

    # -- fitted views -------------------------------------------------------
    def get_support(self, indices=False):
        """The input features the fitted network reads, as a selector's support.

        A feature is supported when a kept connection of a neuron that
        reaches the output reads it (for a :class:`~sksparse.nn.SparseMLP`,
        a kept first-layer weight of a live neuron). Those are the features
        :meth:`compress` keeps, and a compressed copy answers the same.
        :class:`~sksparse.estimators.SparseFeatureSelector` drops the others.

        Parameters
        ----------
        indices : bool, default=False
            Return the indices of the supported features instead of a mask.

        Returns
        -------
        ndarray
            Boolean mask of shape ``(n_features_in_,)``, or the indices of
            its True entries.
        """
        check_is_fitted(self, "net_")
        support = input_support(self.module_).cpu().numpy()
        return np.flatnonzero(support) if indices else support

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


class SparseMLPClassifier(SparseClassifierMixin, ClassifierMixin, BaseSparseMLP):
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
        ``"min_in_degree": k`` gives every neuron at least ``k`` inputs at
        the same sparsity, ``"uniform_output": True`` draws the output layer
        uniformly (see :func:`sksparse.graphs.prior_masks`).
    mapping : {"neuron", "relational"}, default="neuron"
        How a graph becomes masks: nodes are neurons, or nodes are neuron
        groups and each layer gets a block mask (You et al. 2020). See
        :func:`sksparse.graphs.prior_masks`.
    activation : {"relu", "tanh", "logistic", "gelu", "identity"}, default="relu"
    max_epochs : int, default=200
        The training budget: at most this many epochs (scikit-learn's MLP
        ``max_iter``). Training stops earlier once it converged (``tol``,
        ``n_iter_no_change``); a ``ConvergenceWarning`` says when the budget
        ran out first.
    lr : float, default=1e-3
    batch_size : int or "auto", default="auto"
        Samples per step; ``"auto"`` is ``min(200, n_samples)``, as in
        scikit-learn's MLP.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or class, default="adam"
        A name or a ``torch.optim.Optimizer`` class.
    momentum : float, default=0.9
        Used by SGD only.
    weight_decay : float, default=0.0
    tol : float, default=1e-4
        An epoch improves when the training loss falls by more than ``tol``
        below the best so far (with ``early_stopping``: the validation score
        rises by more than ``tol``).
    n_iter_no_change : int, default=10
        Training stops after more than ``n_iter_no_change`` epochs in a row
        without improvement. Epochs up to a sparsity schedule's last pruning
        step are not counted: stopping never cuts a schedule short.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for
        classifiers), score it every epoch (accuracy, or R² for regressors)
        and stop when the score stops improving, keeping the best epoch's
        weights. The split also gives skorch callbacks that monitor
        ``valid_loss`` (``EarlyStopping``, ``Checkpoint``) what they read.
    validation_fraction : float, default=0.1
        Fraction of the training data held out with ``early_stopping``.
    device : str, default="cpu"
    random_state : int, RandomState or None, default=None
        Seeds the structure, the initial weights and the batch order; the same
        value gives the same fitted weights and predictions.
    verbose : int, default=0
        skorch's verbosity.
    callbacks : list of skorch callbacks or (name, callback), default=None
        Passed to the skorch net, e.g. ``[Pruning(MagnitudePruner(0.8))]``.
    warm_start : bool, default=False
        Continue training the fitted net on the next ``fit``. It also decides
        what a pickle (``joblib.dump``) holds: with ``True`` the optimizer's
        state (Adam's moments, twice the weights' size) as well, so a loaded
        estimator continues training exactly as this one would; with
        ``False`` the weights and bit-packed masks only, and a loaded
        estimator set to ``warm_start=True`` continues from its weights with
        a fresh optimizer state.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, multiplying ``sample_weight``:
        ``{label: weight}`` (absent classes weigh 1), or ``"balanced"``
        (``n_samples / (n_classes * np.bincount(y))``, scikit-learn's
        ``compute_class_weight``).
    sparsity_schedule : {"gradual", "iterative", "one-shot"}, schedule or None, \
            default=None
        ``None``: the network is sparse from the start (``sparsity`` of a
        prior-drawn structure). Otherwise it starts dense and a
        :class:`~sksparse.pruning.Pruning` callback prunes it by magnitude
        (class-blinded) during training, to ``sparsity`` at the end of the
        schedule (``prior`` must then be None). ``"gradual"`` is Zhu & Gupta's
        cubic schedule reaching ``sparsity`` at epoch ``max_epochs // 2``
        (:class:`~sksparse.pruning.Gradual`; one-shot with ``max_epochs=1``);
        a schedule object (``Gradual(n_steps=5, start=2)``, ``Iterative``,
        ``OneShot``) is used as it is, and one that ends after ``max_epochs``
        warns at ``fit`` with the sparsity it will reach. Early stopping
        counts only from the schedule's last event on. Sparse training that
        keeps the sparsity constant is :class:`~sksparse.pruning.SET` or
        :class:`~sksparse.pruning.RigL` in ``callbacks``.
    backend : {"masked", "csr"}, default="masked"
        How the network trains. ``"masked"``: dense layers whose removed
        weights are held at zero (every feature works: pruning schedules,
        SET, RigL, any device). ``"csr"``: for each fit the network is
        trained as a :class:`~sksparse.nn.CSRMLP` over its kept connections
        only (CSR forward and backward, gradients and optimizer state for the
        non-zeros), then written back, so prediction, ``compress`` and the
        masks are those of the masked network. A step then costs about the
        density times a dense one. It needs a fixed structure on the CPU: a
        ``sparsity_schedule``, pruning or SET/RigL callbacks, a graph prior
        with ``mapping="neuron"`` or a GPU raise a ``ValueError`` at
        ``fit``; the optimizer starts afresh on each fit (also on a warm
        start).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    n_iter_ : int
        Epochs the network has trained (all fits of a warm start, all
        ``partial_fit`` calls).
    net_ : skorch.NeuralNetClassifier
        The fitted skorch net (a subclass that weighs samples); skorch users
        find everything here.
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
    >>> clf = SparseMLPClassifier(sparsity=0.8, prior="watts_strogatz",
    ...                           random_state=0)
    >>> clf.fit(X, y).score(X_test, y_test) > 0.9
    True
    >>> round(clf.sparsity_, 2)
    0.8
    """

    _criterion = nn.CrossEntropyLoss
    _net_class = SparseNetClassifier
    _parameter_constraints = {
        **BaseSparseMLP._parameter_constraints,
        **CLASS_WEIGHT_CONSTRAINT,
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        sparsity=0.0,
        prior=None,
        prior_params=None,
        mapping="neuron",
        activation="relu",
        max_epochs=200,
        lr=1e-3,
        batch_size="auto",
        optimizer="adam",
        momentum=0.9,
        weight_decay=0.0,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
        class_weight=None,
        sparsity_schedule=None,
        backend="masked",
    ):
        super().__init__(
            hidden_layer_sizes,
            sparsity=sparsity,
            prior=prior,
            prior_params=prior_params,
            mapping=mapping,
            activation=activation,
            max_epochs=max_epochs,
            lr=lr,
            batch_size=batch_size,
            optimizer=optimizer,
            momentum=momentum,
            weight_decay=weight_decay,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            device=device,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            warm_start=warm_start,
            sparsity_schedule=sparsity_schedule,
            backend=backend,
        )
        self.class_weight = class_weight

    def _n_network_outputs(self):
        return len(self.classes_)


class SparseMLPRegressor(RegressorMixin, BaseSparseMLP):
    """Multi-layer perceptron regressor with a sparse, prior-drawn structure.

    Parameters are those of :class:`SparseMLPClassifier`; the loss is the
    mean squared error and ``y`` may have several columns.

    Attributes
    ----------
    n_features_in_ : int
    n_outputs_ : int
    n_iter_ : int
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
    _net_class = SparseNetRegressor

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch over ``(X, y)``, building the network on the first call.

        Later calls continue the same network, its masks and any pruning
        schedule (whose epochs count the calls); no validation split and no
        convergence test apply, as in scikit-learn.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._partial_fit(X, y, sample_weight)

    def _check_y(self, y, *, reset):
        y = check_array(
            y, ensure_2d=False, dtype=[np.float64, np.float32], input_name="y"
        )
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}.")
        check_float32_range(y, "y")
        y = y.astype(np.float32)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if reset:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = n_outputs
        elif n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} outputs, the fitted net has {self.n_outputs_}."
            )
        return y.reshape(len(y), -1)

    def _n_network_outputs(self):
        return self.n_outputs_

    def predict(self, X):
        """Predicted targets, shaped as ``y`` was in ``fit``."""
        # The net computes in float32; scikit-learn's regressors return
        # float64 (its checks demand it), a cast of the outputs only.
        out = self._forward(X).astype(np.float64)
        return out.ravel() if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
