"""The estimator template every sksparse network estimator follows.

Estimators *hold* a fitted skorch ``NeuralNet`` as ``net_`` rather than
subclassing one: that keeps ``__init__`` to stored parameters and ``fit`` in
charge of validation, which is what scikit-learn's estimator checks demand and
what skorch's own ``NeuralNetClassifier`` fails.

The contract, after scikit-learn's ``BaseMultilayerPerceptron``:

* parameters are declared in ``_parameter_constraints`` and validated by
  :func:`sklearn.base._fit_context` when ``fit`` starts;
* ``_check_X(X, reset=..., finite=True)`` turns ``X`` into what the module
  reads (an array, or a dict of arrays passed as keyword arguments; with
  ``finite=False`` it may leave the NaN/inf check to prediction's blocks) and
  ``_check_y(y, reset=...)`` encodes ``y``; any other data-dependent check is a
  ``_check_*`` method;
* ``_build_module(seed)`` builds the torch module from the fitted attributes
  those checks set (``n_features_in_``, ``classes_``, ``input_size_``, ...);
* ``_net_kwargs(seed)`` returns the keyword arguments of the skorch net
  (``_net_class``); subclasses extend the base's dict;
* :meth:`BaseSparseNet.fit` runs these in order and trains the net;
  ``SparseClassifierMixin`` (``_classifier``) holds label encoding, the warm-start class
  check and the one prediction path of every classifier.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
)
from skorch.callbacks import EpochScoring
from skorch.dataset import ValidSplit

from sksparse.estimators._compress import compress_net
from sksparse.estimators._inference import predict_module
from sksparse.estimators._training import (
    _ARRAY_KEY,
    CONVERGENCE,
    SAMPLE_WEIGHT_KEY,
    Convergence,
    _mask_digest,
    _masked,
    _same,
    _state_loaded,
    _without_state,
)
from sksparse.estimators._validation import (
    OPTIMIZERS,
    check_device,
    resolve_optimizer,
    seed_from,
)
from sksparse.utils import net_optimizers, sparsity

__all__ = [
    "BaseSparseNet",
    "OPTIMIZERS",
    "predict_module",
    "seed_from",
]


# Adam(fused=True) runs on the CPU from torch 2.4 on (CUDA before that).
_FUSED_ADAM_ON_CPU = tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 4)


#: Constraints shared by every network estimator (scikit-learn's idiom).
COMMON_CONSTRAINTS = {
    "max_epochs": [Interval(Integral, 0, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    # closed="neither" with no upper bound also refuses inf (and nan).
    "lr": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "optimizer": [StrOptions(set(OPTIMIZERS)), type],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "callbacks": [list, tuple, None],
    "warm_start": ["boolean"],
}

#: Parameters that change how a net trains, not what it is: everything else
#: is structural, and a warm start refuses to continue when it changed.
TRAINING_PARAMS = frozenset(COMMON_CONSTRAINTS) | {
    "backend",
    "sparsity_schedule",
    "class_weight",
}

#: ``class_weight`` of the classifiers, as scikit-learn's linear models take it.
CLASS_WEIGHT_CONSTRAINT = {"class_weight": [dict, StrOptions({"balanced"}), None]}


#: sklearn's MLP batch size for ``batch_size="auto"``: ``min(200, n_samples)``.
AUTO_BATCH_SIZE = 200


class BaseSparseNet(BaseEstimator):
    """Base of the estimators that build a torch module and fit it with skorch.

    See the module's docstring for the contract subclasses follow. Not a
    public estimator.
    """

    _parameter_constraints = dict(COMMON_CONSTRAINTS)
    _criterion = None
    _net_class = None

    # -- hooks --------------------------------------------------------------
    def _check_X(self, X, *, reset, finite=True):
        raise NotImplementedError

    def _check_y(self, y, *, reset):
        raise NotImplementedError

    def _build_module(self, seed):
        raise NotImplementedError

    def _check_params(self):
        """Cross-parameter checks no single constraint can state."""

    def _net_kwargs(self, seed):
        """Keyword arguments of the skorch net; subclasses extend the dict."""
        optimizer = resolve_optimizer(self.optimizer)
        callbacks = self._callbacks()
        kwargs = {
            "criterion": self._criterion,
            # Per-sample losses: WeightedLossMixin takes their (weighted) mean.
            "criterion__reduction": "none",
            "optimizer": optimizer,
            "lr": self.lr,
            "max_epochs": self.max_epochs,
            # "auto" is resolved against the data's size in fit.
            "batch_size": self.batch_size if self.batch_size != "auto" else 1,
            "train_split": self._train_split(seed),
            "iterator_train__shuffle": True,
            "callbacks": callbacks,
            "device": check_device(self.device),
            "verbose": self.verbose,
            "optimizer__weight_decay": self.weight_decay,
        }
        if self.early_stopping and not is_classifier(self):
            # skorch's classifiers score accuracy on the validation split
            # (valid_acc); regressors get R², as scikit-learn's MLP scores.
            callbacks.append(
                (
                    "valid_r2",
                    EpochScoring("r2", lower_is_better=False, name="valid_r2"),
                )
            )
        callbacks.append((CONVERGENCE, self._convergence()))
        if optimizer is torch.optim.SGD:
            kwargs["optimizer__momentum"] = self.momentum
        if optimizer in (torch.optim.Adam, torch.optim.AdamW) and _FUSED_ADAM_ON_CPU:
            # One fused kernel per parameter instead of a dozen element-wise
            # ops. Measured on LeNet-300-100 at 90 % sparsity: 7.2 -> 3.6 ms
            # per step, because the unfused update's sqrt is slow on the zeros
            # that masked weights leave in Adam's state (benchmarks/training.py).
            kwargs["optimizer__fused"] = True
        return kwargs

    def _train_split(self, seed):
        """The validation split early stopping scores on, or None."""
        if not self.early_stopping:
            return None
        return ValidSplit(
            self.validation_fraction, stratified=is_classifier(self), random_state=seed
        )

    def _convergence(self):
        monitor = "train_loss"
        if self.early_stopping:
            monitor = "valid_acc" if is_classifier(self) else "valid_r2"
        return Convergence(
            monitor,
            lower_is_better=not self.early_stopping,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            restore_best=self.early_stopping,
        )

    def _callbacks(self):
        # skorch initialises callbacks in place: work on a copy, so that the
        # estimator's parameters are unchanged by fit (scikit-learn's contract).
        callbacks = copy.deepcopy(list(self.callbacks or []))
        if not self.early_stopping:
            for item in callbacks:
                callback = item[1] if isinstance(item, tuple) else item
                monitor = getattr(callback, "monitor", None)
                if isinstance(monitor, str) and monitor.startswith("valid"):
                    raise ValueError(
                        f"callback {type(callback).__name__} monitors {monitor!r}, "
                        "which needs a validation split: set early_stopping=True "
                        "(validation_fraction of the data is held out and scored "
                        "every epoch)."
                    )
        return callbacks

    # -- fit ----------------------------------------------------------------
    def _structure(self):
        return {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k not in TRAINING_PARAMS
        }

    def _check_structure_unchanged(self, what):
        fitted = getattr(self, "_fitted_structure", None)
        if fitted is None:
            return
        now = self._structure()
        changed = sorted(k for k in now if k in fitted and not _same(now[k], fitted[k]))
        if changed:
            raise ValueError(
                f"{what} continues the fitted network, but {changed} changed since "
                "it was built; set warm_start=False and call fit to build and "
                "train a new network."
            )

    def _check_warm_start(self):
        """Whether this fit continues the fitted net (refusing a changed one)."""
        if not (self.warm_start and hasattr(self, "net_")):
            return False
        self._check_structure_unchanged("warm_start=True")
        return True

    def _check_data(self, X, y, sample_weight, *, reset, partial=False):
        """Checked inputs, encoded targets and sample weights (or None).

        ``partial``: a ``partial_fit`` call, whose classes were set from its
        ``classes`` argument and whose batch may hold any subset of them.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        inputs = self._check_X(X, reset=reset)
        y = self._check_y(y, reset=reset and not (partial and is_classifier(self)))
        n = (
            len(next(iter(inputs.values())))
            if isinstance(inputs, dict)
            else len(inputs)
        )
        if n != len(y):
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"[{n}, {len(y)}]"
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, y, dtype=np.float64, ensure_non_negative=True
            )
        sample_weight = self._weigh_classes(y, sample_weight, partial=partial)
        return inputs, y, sample_weight

    def _weigh_classes(self, y, sample_weight, *, partial):
        """Sample weights times class weights (classifiers' ``class_weight``)."""
        return sample_weight

    @staticmethod
    def _with_weights(inputs, sample_weight):
        """The inputs the net reads: weights travel beside ``X`` in a dict."""
        if sample_weight is None:
            return inputs
        sample_weight = np.asarray(sample_weight, dtype=np.float32)
        if isinstance(inputs, dict):
            return {**inputs, SAMPLE_WEIGHT_KEY: sample_weight}
        return {_ARRAY_KEY: inputs, SAMPLE_WEIGHT_KEY: sample_weight}

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return max(1, min(AUTO_BATCH_SIZE, n_samples))
        return self.batch_size

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Build the network from the data's shape and train it on ``(X, y)``.

        Training runs for at most ``max_epochs`` epochs and stops earlier once
        the training loss (with ``early_stopping=True``: the validation
        score) has not improved by ``tol`` for ``n_iter_no_change`` epochs in
        a row, as scikit-learn's MLP stops; a ``ConvergenceWarning`` says when
        the budget ran out first.

        Parameters
        ----------
        X : array-like
            Training inputs (see the estimator's docstring for the shapes).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss (a weighted mean over each
            batch); None weighs every sample 1.

        Returns
        -------
        self
        """
        self._check_params()
        warm = self._check_warm_start()
        inputs, y, sample_weight = self._check_data(X, y, sample_weight, reset=not warm)
        seed = seed_from(self.random_state)
        if warm:
            self._drop_stale_optimizer_state()
            self._update_training_params(seed)
        else:
            self._build_net(seed)
        self.net_.batch_size = self._batch_size(len(y))
        return self._fit_net(
            self._with_weights(inputs, sample_weight), y, seed, warm=warm
        )

    def _build_net(self, seed):
        module = self._build_module(seed)
        self.net_ = self._net_class(module=module, **self._net_kwargs(seed))
        self._fitted_structure = self._structure()

    def _partial_fit(self, X, y, sample_weight):
        """One epoch over ``(X, y)``, building the net on the first call."""
        first = not hasattr(self, "net_")
        if first:
            self._check_params()
        else:
            self._check_structure_unchanged("partial_fit")
        inputs, y, sample_weight = self._check_data(
            X, y, sample_weight, reset=first, partial=True
        )
        seed = seed_from(self.random_state)
        if first:
            self._build_net(seed)
            self.net_.initialize()
        else:
            self._drop_stale_optimizer_state()
            self._update_training_params(seed)
        self.net_.batch_size = self._batch_size(len(y))
        return self._fit_net(
            self._with_weights(inputs, sample_weight),
            y,
            seed,
            warm=True,
            epochs=1,
            built=first,
        )

    def _update_training_params(self, seed=None):
        """Carry changed training parameters into the net a warm start continues.

        Set on the net and its optimizer's parameter groups in place: skorch's
        ``set_params(lr=...)`` would re-initialise the optimizer and drop the
        state that a warm start is there to keep. ``seed`` (a new fit) also
        renews the validation split.
        """
        net = self.net_
        net.max_epochs = self.max_epochs
        net.verbose = self.verbose
        net.lr = self.lr
        if seed is not None:
            net.train_split = self._train_split(seed)
        for group in net.optimizer_.param_groups:
            group["lr"] = self.lr
            group["weight_decay"] = self.weight_decay
            if "momentum" in group:
                group["momentum"] = self.momentum
        callbacks = dict(net.callbacks_)
        if CONVERGENCE in callbacks:
            fresh = self._convergence()
            for name in ("monitor", "lower_is_better", "tol", "n_iter_no_change"):
                setattr(callbacks[CONVERGENCE], name, getattr(fresh, name))
            callbacks[CONVERGENCE].restore_best = fresh.restore_best

    def _fit_net(self, X, y, seed, *, warm, epochs=None, built=None):
        """Train ``net_`` with torch's global RNG forked and seeded.

        ``fork_rng`` restores the caller's global torch state afterwards, so
        library code never leaves global random state changed while data
        shuffling, dropout and initialisation are all reproducible.
        ``epochs=1`` is ``partial_fit``: one epoch over all the data, no
        validation split and no convergence test, as in scikit-learn.
        """
        net = self.net_
        convergence = dict(getattr(net, "callbacks_", None) or []).get(CONVERGENCE)
        partial = epochs is not None
        before = len(net.history) if warm else 0
        train_split = net.train_split
        if partial:
            net.train_split = None
        if convergence is not None:
            convergence.enabled = not partial
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._train_net(X, y, warm=warm, epochs=epochs)
        finally:
            net.train_split = train_split
            if convergence is not None:
                convergence.enabled = True
        if not warm if built is None else built:  # a net built for this call
            self.net_.module_.register_load_state_dict_post_hook(_state_loaded)
        self._fitted_masks = _mask_digest(self.net_.module_)
        self._check_finite()
        self.n_iter_ = len(net.history)
        # A fresh net creates its callbacks in fit: look the callback up again.
        convergence = dict(net.callbacks_).get(CONVERGENCE)
        if (
            not partial
            and convergence is not None
            and not convergence.converged_
            and self.max_epochs > 0
            # A user's callback (skorch's EarlyStopping) may have stopped it.
            and len(net.history) - before >= self.max_epochs
        ):
            what = "validation score" if self.early_stopping else "training loss"
            warnings.warn(
                f"{type(self).__name__}: max_epochs ({self.max_epochs}) reached and "
                f"the {what} has not converged yet (it still improved by more "
                f"than tol={self.tol} within the last {self.n_iter_no_change} "
                "epochs); raise max_epochs to train longer.",
                ConvergenceWarning,
                stacklevel=4,  # _fit_net, fit, _fit_context's wrapper, the caller
            )
        # Prediction never switches modes after this (thread safety).
        net.module_.eval()
        return self

    def _drop_stale_optimizer_state(self):
        """Clear the optimizer's state if weights or masks changed since ``fit``.

        Adam's moments (SGD's momentum) belong to the weights they were
        gathered on: after ``module_.load_state_dict(...)`` or new masks
        (``set_mask``, ``apply_masks``) a warm start stepped them anyway and
        moved masked weights off zero (by 1.6e-3 in one epoch of Adam on a
        16-unit MLP). The load is flagged by :func:`_state_loaded`, a mask
        change by the masks' digest.
        """
        module = self.net_.module_
        loaded = module.__dict__.pop("_sksparse_state_loaded", False)
        if loaded or _mask_digest(module) != getattr(self, "_fitted_masks", None):
            for optimizer in net_optimizers(self.net_):
                optimizer.state.clear()

    def _train_net(self, X, y, *, warm, epochs=None):
        """Run skorch's training loop (a hook: the MLPs' CSR backend wraps it).

        ``epochs``: that many epochs instead of ``max_epochs`` (partial_fit).
        """
        if epochs is not None:
            self.net_.partial_fit(X, y, epochs=epochs)
        elif warm:
            self.net_.partial_fit(X, y)
        else:
            self.net_.fit(X, y)

    def _check_finite(self):
        """Raise as scikit-learn's MLP does when training diverged."""
        losses = [
            row.get("train_loss") for row in self.net_.history if "train_loss" in row
        ]
        finite = all(np.isfinite(loss) for loss in losses if loss is not None)
        finite = finite and all(
            bool(torch.isfinite(p).all()) for p in self.net_.module_.parameters()
        )
        if not finite:
            raise ValueError(
                "Solver produced non-finite parameter weights or loss. The input "
                "data may contain large values and need to be preprocessed, or "
                "lr may be too large."
            )

    def _expected_failed_checks(self):
        """scikit-learn estimator checks this estimator cannot pass, with why."""
        return {
            "check_sample_weight_equivalence_on_dense_data": (
                "float32 training: integer weights give the loss and gradient "
                "of repeated rows, but summed in another order, so predictions "
                "agree to about 1e-6 (tests/test_estimators_training.py), not "
                "to the check's rtol of 1e-7"
            ),
        }

    def _forward(self, X):
        """The network's outputs on ``X``, as float numpy (module dtype)."""
        net = self.__dict__.get("net_")
        if net is None:
            check_is_fitted(self, "net_")
        # The NaN/inf check may be left to predict_module, block by block.
        inputs = self._check_X(X, reset=False, finite=False)
        # net.module_, not the module_ property: its check_is_fitted costs
        # microseconds that count at batch 1.
        return predict_module(net.module_, inputs, device=net.device, check_finite=True)

    # -- fitted views -------------------------------------------------------
    @property
    def module_(self):
        """The fitted torch module (``net_.module_``)."""
        check_is_fitted(self, "net_")
        return self.net_.module_

    @property
    def history_(self):
        """skorch's training history of the last fit."""
        check_is_fitted(self, "net_")
        return self.net_.history

    @property
    def masks_(self):
        """Boolean numpy masks of the masked layers, input to output."""
        check_is_fitted(self, "net_")
        return [
            m.mask.detach().cpu().numpy().astype(bool) for m in _masked(self.module_)
        ]

    @property
    def sparsity_(self):
        """Fraction of prunable weights that are zero."""
        check_is_fitted(self, "net_")
        return sparsity(self.module_)

    def to_graph(self, **kwargs):
        """The fitted network as a ``networkx.DiGraph`` (see ``network_to_graph``)."""
        from sksparse.graphs import network_to_graph

        check_is_fitted(self, "net_")
        return network_to_graph(self.module_, **kwargs)

    def compress(self, **compress_params):
        """A copy of the fitted estimator that predicts with the compact network.

        The copy's ``module_`` is :func:`sksparse.nn.compress`'s
        ``CompressedNetwork`` (dead neurons removed, sparse layers in CSR), or
        for a convolutional network a ``CompressedConvNetwork`` (masks folded
        into dense kernels, dead channels removed), so its ``predict`` gives
        the same answers, and ``joblib.dump`` writes a
        file that grows with the non-zeros: the copy holds no masked network
        and no optimizer. It is for prediction: keep this estimator to train
        further or to read its masks and graph.

        Parameters
        ----------
        **compress_params
            ``layout``, ``backend``, ``dense_threshold``, ``input_shape`` of
            :func:`sksparse.nn.compress`.

        Returns
        -------
        estimator
            A fitted copy; this estimator is unchanged.
        """
        check_is_fitted(self, "net_")
        new_net = compress_net(self.net_, **compress_params)
        estimator = copy.copy(self)
        estimator.__dict__ = {
            k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "net_"
        }
        estimator.net_ = new_net
        estimator.warm_start = False
        return estimator

    def __getstate__(self):
        # A copy: on Python >= 3.11 object.__getstate__ returns the instance's
        # own __dict__, and replacing net_ in it would swap the original's net
        # (deepcopy or pickle would change the estimator copied).
        state = dict(super().__getstate__())
        net = state.get("net_")
        if net is None:
            return state
        net = copy.copy(net)
        net.__dict__ = dict(net.__dict__)
        # skorch keeps the module instance it was given as ``net.module``
        # beside ``net.module_`` and pickles them apart: the file would hold
        # the weights twice. The class stands in; __setstate__ restores it.
        if isinstance(net.__dict__.get("module"), torch.nn.Module):
            net.__dict__["module"] = type(net.__dict__["module"])
        if not self.warm_start:
            # Adam's moments double a file's size and serve only to continue
            # training exactly; they are kept when warm_start=True asks for it.
            for name in getattr(net, "_optimizers", None) or ["optimizer"]:
                opt = net.__dict__.get(f"{name}_")
                if opt is not None and opt.state:
                    net.__dict__[f"{name}_"] = _without_state(opt)
        state["net_"] = net
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        net = self.__dict__.get("net_")
        module = getattr(net, "__dict__", {}).get("module_")
        if module is not None and isinstance(net.module, type):
            net.module = module
