"""Shared machinery of the sksparse estimators that hold a skorch net.

Estimators *hold* a fitted skorch ``NeuralNet`` as ``net_`` rather than
subclassing one (DESIGN.md): that keeps ``__init__`` to stored parameters and
``fit`` in charge of validation, which is what scikit-learn's estimator
checks demand and what skorch's own ``NeuralNetClassifier`` fails.
"""

import copy
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

__all__ = ["BaseSparseNet", "OPTIMIZERS", "seed_from"]

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


# Adam(fused=True) runs on the CPU from torch 2.4 on (CUDA before that).
_FUSED_ADAM_ON_CPU = tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 4)


def seed_from(random_state):
    """Draw a 31-bit integer seed from anything ``check_random_state`` takes."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def check_fraction(value, name, *, low=0.0, high=1.0, high_inclusive=False):
    """Raise a ValueError naming ``name`` unless low <= value < (or <=) high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}.")
    ok = low <= value <= high if high_inclusive else low <= value < high
    if not ok or not np.isfinite(value):
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}.")


def check_positive_int(value, name, *, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


def resolve_optimizer(optimizer):
    if isinstance(optimizer, str):
        if optimizer.lower() not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)} or a "
                f"torch.optim.Optimizer class, got {optimizer!r}."
            )
        return OPTIMIZERS[optimizer.lower()]
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    raise TypeError(
        "optimizer must be a name or a torch.optim.Optimizer class, "
        f"got {type(optimizer).__name__}."
    )


def check_device(device):
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str such as 'cpu' or 'cuda', got {device!r}."
        )
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device {device!r} is not a torch device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was asked for, but CUDA is not available "
            "on this machine; use device='cpu'."
        )
    return str(device)


class BaseSparseNet(BaseEstimator):
    """Base of the estimators that build a torch module and fit it with skorch.

    Subclasses implement ``_build_module(n_features, n_outputs, seed)``,
    ``_prepare_y(y)`` and name the skorch class in ``_net_class``. Not a
    public estimator.
    """

    _criterion = None
    _net_class = None

    def _validate_common(self):
        check_positive_int(self.max_epochs, "max_epochs", allow_zero=True)
        check_positive_int(self.batch_size, "batch_size")
        if isinstance(self.lr, bool) or not isinstance(self.lr, numbers.Real):
            raise TypeError(f"lr must be a float, got {type(self.lr).__name__}.")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}.")
        check_fraction(self.weight_decay, "weight_decay", high=np.inf)
        resolve_optimizer(self.optimizer)
        return check_device(self.device)

    def _optimizer_kwargs(self):
        optimizer = resolve_optimizer(self.optimizer)
        kwargs = {"optimizer__weight_decay": self.weight_decay}
        if optimizer is torch.optim.SGD:
            kwargs["optimizer__momentum"] = self.momentum
        if optimizer in (torch.optim.Adam, torch.optim.AdamW) and _FUSED_ADAM_ON_CPU:
            # One fused kernel per parameter instead of a dozen element-wise
            # ops. Measured on LeNet-300-100 at 90 % sparsity: 7.2 -> 3.6 ms
            # per step, because the unfused update's sqrt is slow on the zeros
            # that masked weights leave in Adam's state (benchmarks/training.py).
            kwargs["optimizer__fused"] = True
        return kwargs

    def _callbacks(self):
        if self.callbacks is None:
            return []
        if not isinstance(self.callbacks, (list, tuple)):
            raise TypeError(
                "callbacks must be a list of skorch callbacks or (name, callback) "
                f"pairs, got {type(self.callbacks).__name__}."
            )
        # skorch initialises callbacks in place: work on a copy, so that the
        # estimator's parameters are unchanged by fit (scikit-learn's contract).
        return copy.deepcopy(list(self.callbacks))

    def _make_net(self, module, device):
        net_class = self._net_class
        return net_class(
            module=module,
            criterion=self._criterion,
            optimizer=resolve_optimizer(self.optimizer),
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            iterator_train__shuffle=True,
            callbacks=self._callbacks(),
            device=device,
            verbose=self.verbose,
            **self._optimizer_kwargs(),
            **self._net_kwargs(),
        )

    def _net_kwargs(self):
        return {}

    def _fit_net(self, X, y, seed, *, warm):
        """Train ``net_`` with torch's global RNG forked and seeded.

        ``fork_rng`` restores the caller's global torch state afterwards, so
        library code never leaves global random state changed (STYLE.md §4)
        while data shuffling, dropout and initialisation are all reproducible.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if warm:
                self.net_.partial_fit(X, y)
            else:
                self.net_.fit(X, y)
        return self

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
        """Fraction of prunable weights that are zero (DESIGN.md's *sparsity*)."""
        check_is_fitted(self, "net_")
        return module_sparsity(self.module_)

    def to_graph(self, **kwargs):
        """The fitted network as a ``networkx.DiGraph`` (see ``network_to_graph``)."""
        from sksparse.graphs import network_to_graph

        check_is_fitted(self, "net_")
        return network_to_graph(self.module_, **kwargs)

    def compress(self, **compress_params):
        """A copy of the fitted estimator that predicts with the compact network.

        The copy's ``module_`` is :func:`sksparse.nn.compress`'s
        ``CompressedNetwork`` (dead neurons removed, sparse layers in CSR), so
        its ``predict`` gives the same answers, and ``joblib.dump`` writes a
        file that grows with the non-zeros. It is for prediction: keep this
        estimator to train further or to read its masks and graph.

        Parameters
        ----------
        **compress_params
            ``layout``, ``backend``, ``dense_threshold`` of
            :func:`sksparse.nn.compress`.

        Returns
        -------
        estimator
            A fitted copy; this estimator is unchanged.
        """
        from sksparse.nn import compress

        check_is_fitted(self, "net_")
        estimator = copy.deepcopy(self)
        estimator.net_.module_ = compress(self.module_, **compress_params)
        # The optimizer holds the masked module's parameters: nothing to train.
        estimator.net_.optimizer_ = None
        return estimator


def predict_module(module, X, *, device="cpu", batch_size=4096):
    """Outputs of ``module`` on ``X`` as a numpy array, in evaluation mode.

    On the CPU the forward pass runs in float64 copies of the parameters: in
    float32 the matrix kernels that BLAS picks for different batch sizes sum
    in different orders, so a sample's output would depend on which other
    samples share its batch (scikit-learn's subset-invariance checks catch
    this). The float32 weights themselves are untouched. On a GPU float32 is
    kept for speed.
    """
    dtype = torch.float64 if torch.device(device).type == "cpu" else torch.float32
    state = {
        k: v.to(dtype) if v.is_floating_point() else v
        for k, v in module.state_dict(keep_vars=False).items()
    }
    was_training = module.training
    module.eval()
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                batch = torch.as_tensor(X[start : start + batch_size], device=device)
                out = torch.func.functional_call(module, state, (batch.to(dtype),))
                outputs.append(out.detach().cpu().numpy())
    finally:
        module.train(was_training)
    if not outputs:
        return np.zeros((0, 0))
    return np.concatenate(outputs)


def _masked(module):
    return [
        m
        for m in module.modules()
        if isinstance(getattr(m, "mask", None), torch.Tensor)
    ]


def module_sparsity(module):
    """Fraction of zero weights over every weight matrix of ``module``.

    Layers with a ``mask`` count their mask; plain layers their exact zeros.
    """
    total = zeros = 0
    for sub in module.modules():
        weight = getattr(sub, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.ndim < 2:
            continue
        if any(True for _ in sub.children()):
            continue
        mask = getattr(sub, "mask", None)
        kept = mask if isinstance(mask, torch.Tensor) else (weight != 0)
        total += weight.numel()
        zeros += weight.numel() - int(kept.count_nonzero())
    return zeros / total if total else 0.0
