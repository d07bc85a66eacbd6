"""Pruning: pruners, schedules and a skorch callback.

Pure functions on tensors (:func:`magnitude_masks`, :func:`random_masks`)
compute masks; pruners (scikit-learn ``BaseEstimator``\\ s, so grids reach
their parameters) find the weights of any torch module and write the masks in
place; :class:`Pruning` prunes on a schedule while a skorch net trains.
"""

import importlib

from sksparse.pruning._base import (
    BasePruner,
    PrunableWeight,
    apply_masks,
    find_prunable_weights,
    prunable_sparsity,
    weight_classes,
)
from sksparse.pruning._callbacks import Pruning
from sksparse.pruning._dynamic import erdos_renyi_densities
from sksparse.pruning._functional import magnitude_masks, random_masks, select_masks
from sksparse.pruning._magnitude import MagnitudePruner
from sksparse.pruning._random import RandomPruner
from sksparse.pruning._schedules import Gradual, Iterative, OneShot, cubic_sparsity
from sksparse.pruning._set_rigl import SET, RigL

__all__ = [
    "BasePruner",
    "Gradual",
    "Iterative",
    "MagnitudePruner",
    "OneShot",
    "PrunableWeight",
    "Pruning",
    "RandomPruner",
    "RigL",
    "SET",
    "apply_masks",
    "cubic_sparsity",
    "erdos_renyi_densities",
    "find_prunable_weights",
    "magnitude_masks",
    "prunable_sparsity",
    "pruning_path",
    "random_masks",
    "select_masks",
    "sensitivity_curve",
    "weight_classes",
]

# Lazy (PEP 562): the path and the sensitivity curve fit estimators, which
# import this package; an eager import here would be circular.
_LAZY = {
    "pruning_path": "sksparse.estimators._path",
    "sensitivity_curve": "sksparse.estimators._path",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sksparse.pruning' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
