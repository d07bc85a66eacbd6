"""sksparse: sparse neural networks as first-class scikit-learn estimators.

The estimators are imported lazily (PEP 562), so that ``import sksparse.nn`` and
``import sksparse.graphs`` stay free of scikit-learn and skorch: those floors
sit below the estimators (see the developer guide's architecture page).
"""

import importlib

# The one version source: pyproject.toml reads it (`dynamic = ["version"]`).
__version__ = "0.1.0.dev0"

_LAZY = {
    "GraphFeatures": "sksparse.estimators",
    "GeneticSearchCV": "sksparse.search",
    "GraphPriorRNNClassifier": "sksparse.estimators",
    "PrunedEstimator": "sksparse.estimators",
    "SparseCNNClassifier": "sksparse.estimators",
    "SparseFeatureSelector": "sksparse.estimators",
    "SparseMLPClassifier": "sksparse.estimators",
    "SparseMLPRegressor": "sksparse.estimators",
    "StructuralRegressor": "sksparse.estimators",
    "compression_report": "sksparse.metrics",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sksparse' has no attribute {name!r}")


def __dir__():
    return __all__
