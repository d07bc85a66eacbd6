"""Rank-correlation scores and scorers: how well a predictor orders networks.

A structure predictor is judged by whether it ranks networks as their true
accuracies do (a search keeps the best-ranked), so Kendall's τ and Spearman's ρ
sit beside R².
"""

from scipy import stats
from sklearn.metrics import make_scorer

__all__ = [
    "kendall_tau_score",
    "kendall_tau_scorer",
    "spearman_score",
    "spearman_scorer",
]


def kendall_tau_score(y_true, y_pred):
    """Kendall's τ-b between true and predicted values (scipy's ``kendalltau``).

    ``nan`` where it is undefined (either side constant), as scipy returns.
    """
    return float(stats.kendalltau(y_true, y_pred).statistic)


def spearman_score(y_true, y_pred):
    """Spearman's rank correlation ρ between true and predicted values."""
    return float(stats.spearmanr(y_true, y_pred).statistic)


#: Scorer for ``cross_validate``/``GridSearchCV``: Kendall's τ (greater is better).
kendall_tau_scorer = make_scorer(kendall_tau_score)
#: Scorer for ``cross_validate``/``GridSearchCV``: Spearman's ρ (greater is better).
spearman_scorer = make_scorer(spearman_score)
