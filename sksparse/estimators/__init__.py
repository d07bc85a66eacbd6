"""scikit-learn estimators for sparse networks (re-exported at top level)."""

from sksparse.estimators._mlp import SparseMLPClassifier, SparseMLPRegressor
from sksparse.estimators._pruned import PrunedEstimator
from sksparse.estimators._report import compression_report

__all__ = [
    "PrunedEstimator",
    "SparseMLPClassifier",
    "SparseMLPRegressor",
    "compression_report",
]
