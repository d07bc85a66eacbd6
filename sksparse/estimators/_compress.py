"""compress_net: a fitted skorch net (or estimator) with its compact module."""

import copy

import torch
from sklearn.exceptions import NotFittedError


def compress_net(net, **compress_params):
    """A copy of a fitted skorch net that predicts with the compact network.

    The copy's ``module_`` is :func:`sksparse.nn.compress`'s compact network
    of the net's module (a :class:`~sksparse.nn.CompressedNetwork`, or a
    :class:`~sksparse.nn.CompressedConvNetwork` for convolutional chains),
    so ``predict`` and ``predict_proba`` give the same answers and
    ``joblib.dump`` writes no masked network and no optimizer. The module
    may be any that :func:`sksparse.nn.compress` reads: sksparse's
    architectures, ``nn.Sequential``, or a user's module that ``torch.fx``
    traces to a chain of Linear/Conv2d layers and activations. The copy is
    for prediction; keep ``net`` to train further.

    Parameters
    ----------
    net : skorch.NeuralNet
        Fitted (initialised).
    **compress_params
        ``layout``, ``backend``, ``dense_threshold``, ``input_shape`` of
        :func:`sksparse.nn.compress`.

    Returns
    -------
    skorch.NeuralNet
        A fitted copy on the CPU (``device="cpu"``, where the compact
        kernels run); ``net`` is unchanged.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from skorch import NeuralNetClassifier
    >>> from sksparse.estimators import compress_net
    >>> X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = NeuralNetClassifier(
    ...     nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
    ...     max_epochs=1, train_split=None, criterion=nn.CrossEntropyLoss,
    ...     verbose=0,
    ... ).fit(X, y)
    >>> small = compress_net(net)
    >>> np.allclose(small.predict_proba(X), net.predict_proba(X), atol=1e-6)
    True
    """
    from sksparse.nn import compress

    module = getattr(net, "__dict__", {}).get("module_")
    if not isinstance(module, torch.nn.Module):
        raise NotFittedError(
            f"This {type(net).__name__} is not initialized yet; fit it before "
            "compress_net."
        )
    compact = compress(module, **compress_params).eval()
    # Copy everything but the masked module and its optimizers, so the copy
    # never holds (nor pickles) the dense network.
    optimizers = [f"{name}_" for name in getattr(net, "_optimizers", None) or []]
    skip = {"module_", "optimizer_", "criterion_", "module", *optimizers}
    saved = {k: net.__dict__.pop(k) for k in skip if k in net.__dict__}
    if "device" in net.__dict__:
        saved["device"] = net.__dict__["device"]
        net.__dict__["device"] = "cpu"  # skorch's unpickling checks the device
    try:
        new_net = copy.deepcopy(net)
    finally:
        net.__dict__.update(saved)
    new_net.module_ = compact
    new_net.module = type(compact)
    # The compact network lives on the CPU (its kernels are numba's and
    # torch's CPU ones): a net trained on a GPU predicts there afterwards.
    new_net.device = "cpu"
    for name in skip - {"module_", "criterion_", "module"}:
        if name in saved:
            setattr(new_net, name, None)
    if "criterion_" in saved:
        new_net.criterion_ = copy.deepcopy(saved["criterion_"])
    return new_net
