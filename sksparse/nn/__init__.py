"""Torch modules for sparse networks: masked layers and sparse architectures.

Nothing here imports scikit-learn or skorch.
"""

from sksparse.nn._compact import (
    CompactConv2d,
    CompactLinear,
    CompressedConvNetwork,
    CompressedNetwork,
    compress,
)
from sksparse.nn._conv import MaskedConv2d, SparseCNN, expand_channel_mask
from sksparse.nn._layered_recurrent import LayeredRecurrentNet
from sksparse.nn._masked import MaskedLinear, clear_optimizer_state
from sksparse.nn._mlp import DAGNetwork, SparseMLP
from sksparse.nn._recurrent import MaskedGRU, MaskedLSTM, MaskedRNN, tile_gates
from sksparse.nn._sequence import RecurrentSequenceNet
from sksparse.nn._sparse_train import CSRMLP, CSRLinear
from sksparse.nn._structured import BlockLinear, NMLinear

__all__ = [
    "BlockLinear",
    "CSRLinear",
    "CSRMLP",
    "CompactConv2d",
    "CompactLinear",
    "CompressedConvNetwork",
    "CompressedNetwork",
    "DAGNetwork",
    "LayeredRecurrentNet",
    "MaskedConv2d",
    "MaskedGRU",
    "MaskedLSTM",
    "MaskedLinear",
    "MaskedRNN",
    "NMLinear",
    "RecurrentSequenceNet",
    "SparseCNN",
    "SparseMLP",
    "clear_optimizer_state",
    "compress",
    "expand_channel_mask",
    "tile_gates",
]
