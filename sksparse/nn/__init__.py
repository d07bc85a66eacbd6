"""Torch modules for sparse networks: masked layers and sparse architectures.

Nothing here imports scikit-learn or skorch.
"""

from sksparse.nn._compact import CompactLinear, CompressedNetwork, compress
from sksparse.nn._masked import MaskedLinear, clear_optimizer_state
from sksparse.nn._mlp import DAGNetwork, SparseMLP
from sksparse.nn._recurrent import MaskedGRU, MaskedLSTM, MaskedRNN, tile_gates

__all__ = [
    "CompactLinear",
    "CompressedNetwork",
    "DAGNetwork",
    "MaskedGRU",
    "MaskedLSTM",
    "MaskedLinear",
    "MaskedRNN",
    "SparseMLP",
    "clear_optimizer_state",
    "compress",
    "tile_gates",
]
