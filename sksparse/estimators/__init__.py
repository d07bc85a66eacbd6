"""scikit-learn estimators for sparse networks (re-exported at top level)."""

from sksparse.estimators._cnn import SparseCNNClassifier
from sksparse.estimators._compress import compress_net
from sksparse.estimators._mlp import SparseMLPClassifier, SparseMLPRegressor
from sksparse.estimators._pruned import PrunedEstimator
from sksparse.estimators._rnn import GraphPriorRNNClassifier
from sksparse.estimators._selector import SparseFeatureSelector
from sksparse.estimators._structure import GraphFeatures, StructuralRegressor

# Re-exported from sksparse.metrics, their home, where users found them first.
from sksparse.metrics import (
    compression_report,
    kendall_tau_score,
    kendall_tau_scorer,
    spearman_score,
    spearman_scorer,
)

__all__ = [
    "GraphFeatures",
    "GraphPriorRNNClassifier",
    "PrunedEstimator",
    "SparseCNNClassifier",
    "SparseFeatureSelector",
    "SparseMLPClassifier",
    "SparseMLPRegressor",
    "StructuralRegressor",
    "compress_net",
    "compression_report",
    "kendall_tau_score",
    "kendall_tau_scorer",
    "spearman_score",
    "spearman_scorer",
]
