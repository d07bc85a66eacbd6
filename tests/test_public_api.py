"""The public names are a contract: none is dropped, each imports, each is documented.

Code moves between private modules (re-housing); what users import must not.
``PUBLIC`` lists, per public module, the names users may rely on. A name may be
added to an ``__all__`` (the docs test below then requires it documented); one
in ``PUBLIC`` may only be removed by editing this table, on purpose, with a
deprecation.
"""

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))

from api_reference import public_modules, public_names  # noqa: E402

PUBLIC = {
    "sksparse": [
        "GeneticSearchCV",
        "GraphFeatures",
        "GraphPriorRNNClassifier",
        "PrunedEstimator",
        "SparseCNNClassifier",
        "SparseFeatureSelector",
        "SparseMLPClassifier",
        "SparseMLPRegressor",
        "StructuralRegressor",
        "__version__",
        "compression_report",
    ],
    "sksparse.cli": ["build_parser", "main"],
    "sksparse.datasets": [
        "SYMBOLS",
        "decode_sequences",
        "encode_sequences",
        "is_embedded_reber",
        "is_reber",
        "load_cifar10",
        "load_digits",
        "load_fashion_mnist",
        "load_mnist",
        "make_embedded_reber",
        "make_reber",
        "make_reber_classification",
        "reber_next_symbols",
    ],
    "sksparse.estimators": [
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
    ],
    "sksparse.experiments": [
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
    ],
    "sksparse.graphs": [
        "FEATURE_NAMES",
        "PRIORS",
        "interleaved_order",
        "make_prior",
        "network_to_graph",
        "prior_masks",
        "structural_features",
        "to_layered_dag",
    ],
    "sksparse.io": ["load", "save"],
    "sksparse.metrics": [
        "compression_report",
        "kendall_tau_score",
        "kendall_tau_scorer",
        "spearman_score",
        "spearman_scorer",
    ],
    "sksparse.nn": [
        "BlockLinear",
        "CompactConv2d",
        "CompactLinear",
        "CompressedConvNetwork",
        "CompressedNetwork",
        "DAGNetwork",
        "MaskedConv2d",
        "MaskedGRU",
        "MaskedLSTM",
        "MaskedLinear",
        "MaskedRNN",
        "NMLinear",
        "SparseCNN",
        "SparseMLP",
        "clear_optimizer_state",
        "compress",
        "expand_channel_mask",
        "tile_gates",
    ],
    "sksparse.plotting": [
        "plot_accuracy_vs_compression",
        "plot_masks",
        "plot_predicted_vs_true",
        "plot_search_progress",
        "plot_sensitivity_curve",
        "plot_structure",
    ],
    "sksparse.pruning": [
        "BasePruner",
        "Gradual",
        "Iterative",
        "MagnitudePruner",
        "OneShot",
        "PrunableWeight",
        "Pruning",
        "RandomPruner",
        "RigL",
        "SET",
        "apply_masks",
        "cubic_sparsity",
        "erdos_renyi_densities",
        "find_prunable_weights",
        "magnitude_masks",
        "prunable_sparsity",
        "pruning_path",
        "random_masks",
        "select_masks",
        "sensitivity_curve",
        "weight_classes",
    ],
    "sksparse.search": [
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
    ],
    "sksparse.utils": ["find_module", "find_net", "net_optimizers"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_no_public_name_is_dropped(module):
    exported = set(importlib.import_module(module).__all__)
    dropped = sorted(set(PUBLIC[module]) - exported)
    assert not dropped, f"{module}.__all__ lost {dropped}"


def test_no_public_module_is_dropped():
    # A new public sub-package is checked below (importable, documented) and
    # joins the table when its names are settled.
    dropped = sorted(set(PUBLIC) - set(public_modules()))
    assert not dropped, f"public modules gone: {dropped}"


@pytest.mark.parametrize("module", public_modules())
def test_every_name_in_all_is_importable(module):
    mod = importlib.import_module(module)
    names = mod.__all__
    assert len(names) == len(set(names)), f"{module}.__all__ repeats a name"
    missing = [name for name in names if not hasattr(mod, name)]
    assert not missing, f"{module}.__all__ names what it does not define: {missing}"
    # dir() is what tab completion shows; the top level answers it lazily.
    assert set(names) <= set(dir(mod))


def test_top_level_names_are_their_sub_packages_objects():
    import sksparse

    for name in PUBLIC["sksparse"]:
        if name.startswith("__"):
            continue
        obj = getattr(sksparse, name)
        home = importlib.import_module(obj.__module__.rsplit("._", 1)[0])
        assert getattr(home, name) is obj, name


def test_every_public_name_is_in_the_api_reference():
    documented = set()
    for module, _, _, names in public_names():
        mod = importlib.import_module(module)
        for name, kind in names:
            obj = getattr(mod, name)
            documented.add(("data", module, name) if kind == "data" else id(obj))
    for module in public_modules():
        mod = importlib.import_module(module)
        for name in mod.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(mod, name)
            key = id(obj)
            if key not in documented:
                key = ("data", module, name)
            assert key in documented, f"{module}.{name} is not in docs/api.rst"
