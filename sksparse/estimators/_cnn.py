"""A small sparse convolutional network as a scikit-learn classifier."""

import math
from numbers import Integral

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval
from torch import nn

from sksparse.estimators._base import (
    CLASS_WEIGHT_CONSTRAINT,
    BaseSparseNet,
)
from sksparse.estimators._classifier import SparseClassifierMixin
from sksparse.estimators._mlp import (
    PRIOR_CONSTRAINTS,
    check_prior_params,
    check_X_array,
)
from sksparse.estimators._training import SparseNetClassifier
from sksparse.graphs import prior_masks
from sksparse.nn import SparseCNN

__all__ = ["SparseCNNClassifier"]


def infer_input_shape(n_features):
    """Guess ``(channels, height, width)`` of flattened square images.

    ``s * s`` features are one grey ``s x s`` image, ``3 * s * s`` an RGB
    one (the two cannot coincide: 3 is not a square); anything else is read
    as a ``1 x n`` strip.
    """
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (1, side, side)
    if n_features % 3 == 0:
        side = math.isqrt(n_features // 3)
        if 3 * side * side == n_features:
            return (3, side, side)
    return (1, 1, n_features)


def _int_tuple(value, name, *, allow_empty=False):
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        value = tuple(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a sequence of ints, got {type(value).__name__}."
        ) from None
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty.")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
            raise ValueError(f"{name} must hold positive ints, got {value!r}.")
    return value


class SparseCNNClassifier(SparseClassifierMixin, ClassifierMixin, BaseSparseNet):
    """Small convolutional classifier with sparse, prior-drawn connections.

    ``len(channels)`` blocks of masked 3x3 convolution, activation and 2x2
    max-pooling, then a sparse MLP head (:class:`~sksparse.nn.SparseCNN`).
    Connections between channels (a whole kernel) and between the head's
    neurons are drawn from a random-graph prior as for
    :class:`SparseMLPClassifier`, so a structure search
    (:class:`~sksparse.GeneticSearchCV`) can search convolutional structures
    for images.

    Parameters
    ----------
    channels : tuple of int, default=(16, 32)
        Output channels of each convolution.
    hidden_layer_sizes : tuple of int, default=(64,)
        Widths of the head's hidden layers (may be empty).
    kernel_size : int, default=3
        Side of the square kernels (odd sizes keep the maps' size).
    input_shape : tuple of int or None, default=None
        ``(channels, height, width)`` of one image. ``None`` infers it from
        the number of features (``s*s``: grey, ``3*s*s``: RGB, else a strip
        ``1 x n``) or from image-shaped ``X`` of shape ``(n, C, H, W)``.
    sparsity : float, default=0.0
        Fraction of connections removed before training: channel-to-channel
        connections of every convolution after the first, and neuron
        connections of every head layer. The first convolution, reading the
        image's 1-3 channels, stays dense: removing one of its few channel
        connections would remove whole filters.
    prior : str, callable or None, default=None
        Random-graph prior of the masks (see :func:`sksparse.graphs.prior_masks`).
    prior_params : dict, default=None
    mapping : {"neuron", "relational"}, default="neuron"
    activation : str, default="relu"
    max_epochs : int, default=200
        The training budget; training stops earlier once it converged
        (``tol``, ``n_iter_no_change``; see :class:`SparseMLPClassifier`).
    lr : float, default=1e-3
    batch_size : int or "auto", default="auto"
        ``"auto"`` is ``min(200, n_samples)``.
    optimizer : str or class, default="adam"
    momentum : float, default=0.9
        Used by SGD only.
    weight_decay : float, default=0.0
    tol : float, default=1e-4
    n_iter_no_change : int, default=10
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified) and stop when its
        accuracy stops improving, keeping the best epoch's weights.
    validation_fraction : float, default=0.1
    device : str, default="cpu"
        ``"cuda"`` trains on a GPU where one exists.
    random_state : int, RandomState or None, default=None
        Seeds the structure, initial weights and batch order.
    verbose : int, default=0
    callbacks : list of skorch callbacks, default=None
    warm_start : bool, default=False
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss (see :class:`SparseMLPClassifier`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    n_iter_ : int
        Epochs the network has trained.
    input_shape_ : tuple of int
        The ``(C, H, W)`` the network reads.
    net_ : skorch.NeuralNetClassifier
    module_ : sksparse.nn.SparseCNN
    history_ : skorch.History
    masks_ : list of ndarray
        Masks of the convolutions (weight-shaped), then of the head.
    sparsity_ : float

    See Also
    --------
    SparseMLPClassifier, sksparse.nn.MaskedConv2d

    Examples
    --------
    >>> from sksparse import SparseCNNClassifier
    >>> from sksparse.datasets import load_digits
    >>> X, y, X_test, y_test = load_digits()
    >>> clf = SparseCNNClassifier(channels=(8, 16), hidden_layer_sizes=(32,),
    ...                           sparsity=0.5, max_epochs=10, lr=1e-2,
    ...                           batch_size=64, random_state=0).fit(X, y)
    >>> clf.input_shape_
    (1, 8, 8)
    >>> clf.score(X_test, y_test) > 0.85
    True
    """

    _parameter_constraints = {
        **BaseSparseNet._parameter_constraints,
        **PRIOR_CONSTRAINTS,
        "channels": ["array-like", Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "input_shape": ["array-like", None],
        "activation": [str, type],
        **CLASS_WEIGHT_CONSTRAINT,
    }
    _criterion = nn.CrossEntropyLoss
    _net_class = SparseNetClassifier

    def __init__(
        self,
        channels=(16, 32),
        hidden_layer_sizes=(64,),
        *,
        kernel_size=3,
        input_shape=None,
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
    ):
        self.channels = channels
        self.hidden_layer_sizes = hidden_layer_sizes
        self.kernel_size = kernel_size
        self.input_shape = input_shape
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
        self.class_weight = class_weight

    # -- checks -----------------------------------------------------------------
    def _check_params(self):
        check_prior_params(self)
        self._structure_sizes()

    def _structure_sizes(self):
        channels = _int_tuple(self.channels, "channels")
        hidden = _int_tuple(
            self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True
        )
        return channels, hidden

    def _check_X(self, X, *, reset, finite=True):
        X, image_shape = self._resolve_input_shape(X)
        X = check_X_array(self, X, reset=reset, finite=finite)
        if reset:
            self.input_shape_ = self._input_shape(self.n_features_in_, image_shape)
        elif image_shape is not None and tuple(image_shape) != self.input_shape_:
            raise ValueError(
                f"X holds images of shape {tuple(image_shape)}, but "
                f"{type(self).__name__} was fitted on {self.input_shape_}."
            )
        return X

    def _resolve_input_shape(self, X):
        """Flatten image-shaped ``X`` and decide the image shape."""
        X = np.asarray(X) if not hasattr(X, "shape") else X
        image_shape = None
        if getattr(X, "ndim", 2) in (3, 4):
            image_shape = tuple(X.shape[1:]) if X.ndim == 4 else (1, *X.shape[1:])
            X = np.asarray(X).reshape(len(X), -1)
        return X, image_shape

    def _input_shape(self, n_features, image_shape):
        if self.input_shape is not None:
            shape = _int_tuple(self.input_shape, "input_shape")
            if len(shape) != 3 or math.prod(shape) != n_features:
                raise ValueError(
                    "input_shape must be (channels, height, width) with "
                    f"C * H * W == n_features ({n_features}), got {self.input_shape!r}."
                )
            return shape
        if image_shape is not None:
            return image_shape
        return infer_input_shape(n_features)

    # -- building ---------------------------------------------------------------
    def _masks(self, sizes, seed):
        if self.sparsity == 0 or len(sizes) < 2:
            return None
        masks = prior_masks(
            sizes,
            1.0 - self.sparsity,
            prior=self.prior,
            prior_params=self.prior_params,
            mapping=self.mapping,
            random_state=seed,
        )
        return [torch.as_tensor(np.asarray(m, dtype=np.float32)) for m in masks]

    def _build_module(self, seed):
        channels, hidden = self._structure_sizes()
        input_shape, n_outputs = self.input_shape_, len(self.classes_)
        rng = np.random.default_rng(seed)
        conv_seed, head_seed, torch_seed = (int(s) for s in rng.integers(2**31, size=3))
        conv_masks = [None] * len(channels)
        channel_masks = self._masks(list(channels), conv_seed)
        if channel_masks is not None:
            conv_masks[1:] = channel_masks
        n_flat = SparseCNN.n_flat_features(input_shape, channels)
        head_masks = self._masks([n_flat, *hidden, n_outputs], head_seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            return SparseCNN(
                input_shape,
                channels,
                hidden,
                n_outputs,
                kernel_size=self.kernel_size,
                conv_masks=conv_masks,
                head_masks=head_masks,
                activation=self.activation,
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags
