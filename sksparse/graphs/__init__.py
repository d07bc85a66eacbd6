"""Random-graph priors, graph-to-network mappings and structural analysis.

Pure functions on graphs and arrays (networkx, numpy, scipy): nothing here
imports scikit-learn or skorch, and torch is imported only by
:func:`network_to_graph`, when it reads a model's data flow.
"""

from sksparse.graphs._features import FEATURE_NAMES, structural_features
from sksparse.graphs._layering import interleaved_order, to_layered_dag
from sksparse.graphs._mapping import prior_masks
from sksparse.graphs._network import network_to_graph
from sksparse.graphs._priors import PRIORS, make_prior
from sksparse.graphs._recurrent import layered_recurrent_masks, recurrent_prior_masks

__all__ = [
    "FEATURE_NAMES",
    "PRIORS",
    "interleaved_order",
    "layered_recurrent_masks",
    "make_prior",
    "network_to_graph",
    "prior_masks",
    "recurrent_prior_masks",
    "structural_features",
    "to_layered_dag",
]
