"""Random pruning: the baseline every pruning method must beat."""

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions

from sksparse.pruning._base import BasePruner
from sksparse.pruning._functional import random_masks

__all__ = ["RandomPruner"]


class RandomPruner(BasePruner):
    """Prune live weights of any torch module uniformly at random.

    Finds weights, counts targets and honours ``exclude``,
    ``prune_output_layer`` and ``min_density`` as :class:`MagnitudePruner`
    does; only the choice of weights differs.

    Parameters
    ----------
    amount : float or int, default=0.5
        Target sparsity: a fraction in ``[0, 1]`` or a count of weights
        (cumulative: weights already pruned count and are never revived).
    scope : {"class-blinded", "class-uniform"}, default="class-blinded"
        Draw over all classes together, or prune the same fraction of every
        class.
    classes : {"auto", "tensor"}, dict or callable, default="auto"
        Grouping of weights into classes (see :class:`MagnitudePruner`).
    exclude : list of str or callable, default=None
        Weights left alone.
    prune_output_layer : bool, default=True
        Whether the last prunable weight is pruned.
    min_density : float, default=0.0
        Per-class floor on the fraction of weights kept.
    random_state : int, RandomState instance or None, default=None
        With an int, every call ranks the weights the same way, so pruning
        to 0.5 then 0.8 removes the same weights as pruning to 0.8 at once.

    Attributes
    ----------
    weight_classes_ : list of str
    n_weights_ : int
    n_pruned_ : int
    sparsity_ : float

    See Also
    --------
    MagnitudePruner

    Examples
    --------
    >>> from torch import nn
    >>> from sksparse.pruning import RandomPruner
    >>> net = nn.Sequential(nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 2))
    >>> pruner = RandomPruner(0.75, random_state=0)
    >>> _ = pruner.prune(net)
    >>> pruner.n_pruned_, pruner.n_weights_
    (165, 220)
    """

    _parameter_constraints = {
        **BasePruner._parameter_constraints,
        "scope": [StrOptions({"class-blinded", "class-uniform"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        amount=0.5,
        *,
        scope="class-blinded",
        classes="auto",
        exclude=None,
        prune_output_layer=True,
        min_density=0.0,
        random_state=None,
    ):
        self.amount = amount
        self.scope = scope
        self.classes = classes
        self.exclude = exclude
        self.prune_output_layer = prune_output_layer
        self.min_density = min_density
        self.random_state = random_state

    def _class_masks(self, weights, amount, keep):
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        generator = torch.Generator().manual_seed(int(seed))
        masks = random_masks(
            weights,
            amount,
            scope=self.scope,
            keep=keep,
            min_density=self.min_density,
            generator=generator,
        )
        return masks, None
