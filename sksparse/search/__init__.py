"""Structure search: a genetic search over sparse networks, predictor-assisted.

:class:`GeneticSearchCV` is a scikit-learn search (``fit``, ``best_params_``,
``cv_results_``, ...) whose individuals are parameter settings, structure
included (:class:`LayerSizes`, :class:`PriorChoice`); a
:class:`PerformancePredictor` ranks untrained offspring from their graph so
only the promising ones are trained. The evolutionary operators are pure
functions in :mod:`sksparse.search._operators`.
"""

from sksparse.search._generation import GenerationRecord
from sksparse.search._genetic import GeneticSearchCV
from sksparse.search._operators import (
    crossover_layers,
    elite_indices,
    mutate_categorical,
    mutate_distribution,
    mutate_layers,
    tournament_select,
    uniform_crossover,
)
from sksparse.search._predictor import (
    PerformancePredictor,
    candidate_graph,
    layered_features,
)
from sksparse.search._space import LayerSizes, ParamSpace, PriorChoice

__all__ = [
    "GenerationRecord",
    "GeneticSearchCV",
    "LayerSizes",
    "ParamSpace",
    "PerformancePredictor",
    "PriorChoice",
    "candidate_graph",
    "crossover_layers",
    "elite_indices",
    "layered_features",
    "mutate_categorical",
    "mutate_distribution",
    "mutate_layers",
    "tournament_select",
    "uniform_crossover",
]
