"""The experiments behind the ``sksparse`` command, as plain functions.

Each experiment is a generator that yields one result row (a flat ``dict``) as
soon as that run has finished, so a caller can write it to disk at once and an
interrupted experiment keeps every finished row (:class:`ResultsWriter` does
the writing). The command line (:mod:`sksparse.cli`) and the paper-scale
drivers in ``benchmarks/`` only parse arguments, call these functions and
print; the same experiments run from Python:

>>> from sksparse.experiments import load_dataset, sparsity_sweep
>>> X, y, X_test, y_test = load_dataset("digits", n_samples=300)
>>> rows = list(sparsity_sweep(X, y, X_test, y_test, methods=["dense", "uniform"],
...                            sparsities=[0.9], hidden_layer_sizes=(32,),
...                            max_epochs=5, lr=1e-2, random_state=0))
>>> [(row["method"], row["target_sparsity"]) for row in rows]
[('dense', 0.0), ('uniform', 0.9)]

The modules: :mod:`~sksparse.experiments._data` (data sets by name or file),
:mod:`~sksparse.experiments._results` (result files and tables),
:mod:`~sksparse.experiments._sweeps` (sparsity sweeps of MLPs),
:mod:`~sksparse.experiments._populations` (Reber-grammar RNN populations and
structural prediction), :mod:`~sksparse.experiments._search` (the genetic
search driver) and :mod:`~sksparse.experiments._models` (reading saved models).
"""


class MissingFeatureError(ImportError):
    """An experiment needs a part of sksparse this installation does not have.

    Every part is now imported plainly, so an installation that lacks one
    fails at import; the class stays because callers catch it.
    """


from sksparse.experiments._data import DATASETS, load_dataset  # noqa: E402
from sksparse.experiments._models import (  # noqa: E402
    export_graph,
    layer_summary,
    load_model,
    model_report,
    network_module,
)
from sksparse.experiments._populations import (  # noqa: E402
    REGRESSORS,
    predict_from_structure,
    reber_population,
)
from sksparse.experiments._results import ResultsWriter, format_table  # noqa: E402
from sksparse.experiments._search import genetic_search  # noqa: E402
from sksparse.experiments._sweeps import (  # noqa: E402
    PRUNING_METHODS,
    SPARSE_TRAINING_METHODS,
    make_sweep_estimator,
    sparsity_sweep,
    sweep_methods,
)

__all__ = [
    "DATASETS",
    "PRUNING_METHODS",
    "REGRESSORS",
    "SPARSE_TRAINING_METHODS",
    "MissingFeatureError",
    "ResultsWriter",
    "export_graph",
    "format_table",
    "genetic_search",
    "layer_summary",
    "load_dataset",
    "load_model",
    "make_sweep_estimator",
    "model_report",
    "network_module",
    "predict_from_structure",
    "reber_population",
    "sparsity_sweep",
    "sweep_methods",
]

# ``doctest.testmod(sksparse.experiments)`` looks only at objects defined in
# this module; listing the re-exported ones here runs their examples too.
__test__ = {
    name: obj
    for name, obj in list(globals().items())
    if name in __all__ and callable(obj) and obj is not MissingFeatureError
}
