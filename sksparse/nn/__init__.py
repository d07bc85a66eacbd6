"""Torch modules for sparse networks: masked layers and sparse architectures.

Nothing here imports scikit-learn or skorch.
"""

from sksparse.nn._masked import MaskedLinear, clear_optimizer_state
from sksparse.nn._mlp import DAGNetwork, SparseMLP

__all__ = ["DAGNetwork", "MaskedLinear", "SparseMLP", "clear_optimizer_state"]
