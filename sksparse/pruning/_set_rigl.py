"""SET and RigL: the two rules for which connections regrow.

They differ only in ``_grow_scores`` (random for SET, the dense gradient's
magnitude for RigL) and their defaults; the schedule, the drop, the optimizer
state and the masks are :class:`~sksparse.pruning._dynamic.BaseDynamicSparsity`.
"""

import torch

from sksparse.pruning._dynamic import BaseDynamicSparsity

__all__ = ["RigL", "SET"]

_SHARED_DOC = """
    Parameters
    ----------
    drop_fraction : float, default=0.3
        Fraction of each layer's active connections dropped (and as many
        regrown) at an update (SET's ζ, RigL's α).
    update_every : int{every}, default={every_default}
        Optimizer steps between updates (RigL's ΔT).
    end_fraction : float, default={end_default}
        Updates stop after this fraction of the training steps
        (``max_epochs`` times the batches of an epoch).
    decay : {{"constant", "cosine"}}, default="{decay_default}"
        How the drop fraction decays over training: not at all (SET) or
        RigL's cosine annealing to zero at ``end_fraction``.
    sparsity : float, default=None
        ``None`` rewires the module's sparse layers as they are (the masks of
        an sksparse estimator with ``sparsity > 0``; the exact zeros of a
        plain ``nn.Linear``). A float draws new random masks with this overall
        sparsity at the start of training, per ``init``, for every linear
        layer not excluded.
    init : {{"erdos_renyi", "uniform"}}, default="erdos_renyi"
        Per-layer densities of the drawn masks:
        :func:`erdos_renyi_densities` (Mocanu et al.), or the same in every
        layer.
    rescale : bool, default=True
        When masks are drawn, scale each kept weight by
        ``sqrt(n_in / kept fan-in)``, so that a freshly initialised neuron
        keeps the activation variance of a dense one (Evci et al. 2020).
        ``False`` for weights that are already trained.
    exclude : sequence of str, default=None
        Names of linear layers (as in ``module.named_modules()``) left alone.
    random_state : int, RandomState or None, default=None
        Seeds the drawn masks and random choices.
    module : str, default="module_"
        Attribute of the net holding the module.

    Attributes
    ----------
    targets_ : list
        The rewired layers.
    step_ : int
        Optimizer steps seen in this fit.
    total_steps_ : int
        ``max_epochs`` times the steps of an epoch (estimated at the start,
        counted after the first epoch).
    updates_ : list of dict
        ``step``, ``fraction`` and connections ``regrown`` of every update.
    n_connections_ : dict of str to int
        Active connections per layer, constant throughout.

    Notes
    -----
    The schedule spans one ``fit`` (or ``partial_fit``) call; a
    ``partial_fit`` on the same module keeps the structure reached and starts
    a new schedule, while ``fit`` re-initialises the module and starts over.
    Works on linear layers: :class:`~sksparse.nn.MaskedLinear` (its mask is
    changed in place with ``set_mask``) and plain ``nn.Linear`` (the callback
    keeps the mask and zeros the removed weights after every optimizer step).
    The optimizer state (momentum, Adam moments) of dropped and regrown
    weights is cleared. The history gets ``sparsity`` and ``regrown`` per
    epoch.
"""


class SET(BaseDynamicSparsity):
    """Sparse Evolutionary Training: drop the weakest, regrow at random.

    Every ``update_every`` steps each sparse layer loses the fraction
    ``drop_fraction`` of its active connections with the smallest
    magnitude, and gains as many at random inactive positions, with weight
    zero; sparsity stays constant. Mocanu et al. start from an Erdős–Rényi
    sparse prior (``sparsity=..., init="erdos_renyi"``, or an sksparse
    estimator's prior) and update after every epoch (``update_every="epoch"``).
    {shared}
    See Also
    --------
    RigL : regrows where the gradient is largest.

    References
    ----------
    D. C. Mocanu, E. Mocanu, P. Stone, P. H. Nguyen, M. Gibescu and
    A. Liotta, "Scalable training of artificial neural networks with adaptive
    sparse connectivity inspired by network science", Nature Communications
    9, 2383 (2018).

    Examples
    --------
    >>> from sksparse import SparseMLPClassifier
    >>> from sksparse.datasets import load_digits
    >>> from sksparse.pruning import SET
    >>> X, y, X_test, y_test = load_digits()
    >>> clf = SparseMLPClassifier((64,), sparsity=0.9, max_epochs=10, lr=1e-2,
    ...     batch_size=128, random_state=0,
    ...     callbacks=[("set", SET(0.3, update_every=10, random_state=0))])
    >>> clf.fit(X, y).score(X_test, y_test) > 0.8
    True
    >>> round(clf.sparsity_, 2)
    0.9
    """

    def _grow_scores(self, target, candidates):
        return torch.rand(candidates.shape, generator=self.rng_).to(
            target.weight.device
        )


class RigL(BaseDynamicSparsity):
    """Rigging the Lottery: drop the weakest, regrow where the gradient is largest.

    Every ``update_every`` steps each sparse layer loses a fraction of its
    active connections with the smallest magnitude and gains as many
    inactive ones with the largest dense-gradient magnitude ``|dL/dW|``,
    with weight zero. The fraction decays from ``drop_fraction`` to zero by a
    cosine, and updates stop at ``end_fraction`` of training. The dense
    gradient comes from the update step's own batch, through a temporary hook
    on each layer's output (``g^T x``), with no extra forward pass.
    {shared}
    See Also
    --------
    SET : regrows at random.

    References
    ----------
    U. Evci, T. Gale, J. Menick, P. S. Castro and E. Elsen, "Rigging the
    Lottery: Making All Tickets Winners", ICML 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skorch import NeuralNetClassifier
    >>> from torch import nn
    >>> from sksparse.pruning import RigL
    >>> X = np.random.default_rng(0).normal(size=(256, 20)).astype("float32")
    >>> y = (X[:, :3].sum(axis=1) > 0).astype("int64")
    >>> module = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
    >>> net = NeuralNetClassifier(module, max_epochs=5, lr=0.1, train_split=None,
    ...     verbose=0, callbacks=[RigL(update_every=4, sparsity=0.8,
    ...                                random_state=0)]).fit(X, y)
    >>> [round(s, 2) for s in net.history[:, "sparsity"]]
    [0.8, 0.8, 0.8, 0.8, 0.8]
    """

    _needs_gradient = True

    def __init__(
        self,
        drop_fraction=0.3,
        update_every=100,
        *,
        end_fraction=0.75,
        decay="cosine",
        sparsity=None,
        init="erdos_renyi",
        rescale=True,
        exclude=None,
        random_state=None,
        module="module_",
    ):
        super().__init__(
            drop_fraction,
            update_every,
            end_fraction=end_fraction,
            decay=decay,
            sparsity=sparsity,
            init=init,
            rescale=rescale,
            exclude=exclude,
            random_state=random_state,
            module=module,
        )

    def _grow_scores(self, target, candidates):
        grad = target.grad
        if grad is None:  # no gradient seen (e.g. the layer was not used)
            grad = torch.zeros_like(target.weight)
        score = grad.abs().to(torch.float64)
        # Ties (zero gradients) are broken at random, below any real gap.
        scale = float(score.max()) or 1.0
        jitter = torch.rand(score.shape, generator=self.rng_, dtype=torch.float64)
        return score + 1e-9 * scale * jitter.to(score.device)


SET.__doc__ = SET.__doc__.format(
    shared=_SHARED_DOC.format(
        every=' or "epoch"',
        every_default=100,
        end_default=1.0,
        decay_default="constant",
    )
)
RigL.__doc__ = RigL.__doc__.format(
    shared=_SHARED_DOC.format(
        every="", every_default=100, end_default=0.75, decay_default="cosine"
    )
)
