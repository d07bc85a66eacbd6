"""Helpers the other sub-packages share.

This floor sits below ``sksparse.nn`` and ``sksparse.graphs``: it imports
numpy only at import time (torch lazily, inside the functions that need it)
and never scikit-learn or skorch, so every floor may use it.
"""

from sksparse.utils._models import (
    find_module,
    find_net,
    mask_of,
    net_optimizers,
    sparsity,
)
from sksparse.utils._validation import (
    check_density,
    check_generator,
    check_int,
    draw_seed,
    spawn_generators,
)

__all__ = [
    "check_density",
    "check_generator",
    "check_int",
    "draw_seed",
    "find_module",
    "find_net",
    "mask_of",
    "net_optimizers",
    "sparsity",
    "spawn_generators",
]
