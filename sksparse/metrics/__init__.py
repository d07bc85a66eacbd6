"""Scores and reports: rank correlations of predictors, compression of networks.

scikit-learn keeps its scorers in ``sklearn.metrics``; sksparse keeps its own
here, below the estimators, which re-export them.
"""

from sksparse.metrics._compression import compression_report
from sksparse.metrics._ranking import (
    kendall_tau_score,
    kendall_tau_scorer,
    spearman_score,
    spearman_scorer,
)

__all__ = [
    "compression_report",
    "kendall_tau_score",
    "kendall_tau_scorer",
    "spearman_score",
    "spearman_scorer",
]
