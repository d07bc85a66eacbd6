"""sksparse.plotting: each plot draws what its data says and returns its Axes."""

import subprocess
import sys
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

from sksparse.graphs import network_to_graph  # noqa: E402
from sksparse.nn import SparseMLP  # noqa: E402
from sksparse.plotting import (  # noqa: E402
    plot_accuracy_vs_compression,
    plot_masks,
    plot_predicted_vs_true,
    plot_search_progress,
    plot_structure,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_importing_plotting_does_not_import_matplotlib():
    code = "import sys, sksparse.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# -- accuracy against compression ----------------------------------------------
SWEEP = [
    {"method": "dense", "sparsity": 0.0, "accuracy": 0.97},
    {"method": "class-blinded", "sparsity": 0.9, "accuracy": 0.95},
    {"method": "class-blinded", "sparsity": 0.5, "accuracy": 0.97},
    {"method": "random", "sparsity": 0.5, "accuracy": 0.90},
    {"method": "random", "sparsity": 0.9, "accuracy": 0.60},
]


@pytest.mark.parametrize(
    "as_input",
    [
        list,
        lambda rows: {k: [r[k] for r in rows] for k in rows[0]},
        lambda rows: pytest.importorskip("pandas").DataFrame(rows),
    ],
    ids=["rows", "columns", "dataframe"],
)
def test_accuracy_vs_compression_one_line_per_method(as_input):
    ax = plot_accuracy_vs_compression(as_input(SWEEP))
    assert isinstance(ax, Axes)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"class-blinded", "random", "dense (0.970)"}
    # Compression in percent, sorted; the dense network is the baseline.
    np.testing.assert_allclose(lines["class-blinded"].get_xdata(), [50, 90])
    np.testing.assert_allclose(lines["random"].get_ydata(), [0.90, 0.60])
    np.testing.assert_allclose(lines["dense (0.970)"].get_ydata(), [0.97, 0.97])
    assert "compression" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == [
        "class-blinded",
        "random",
    ]


def test_accuracy_vs_compression_averages_seeds_with_error_bars():
    rows = [
        {"method": "set", "sparsity": 0.9, "accuracy": a, "seed": s}
        for s, a in enumerate([0.8, 0.9])
    ]
    _, ax = plt.subplots()
    assert plot_accuracy_vs_compression(rows, ax=ax) is ax
    (line,) = [x for x in ax.get_lines() if not x.get_label().startswith("_")]
    np.testing.assert_allclose(line.get_ydata(), [0.85])
    assert ax.containers, "the spread of the seeds is drawn as error bars"


def test_accuracy_vs_compression_rejects_missing_columns():
    with pytest.raises(ValueError, match="'accuracy'"):
        plot_accuracy_vs_compression([{"method": "dense", "sparsity": 0.0}])
    with pytest.raises(ValueError, match="empty"):
        plot_accuracy_vs_compression([])


# -- structure ------------------------------------------------------------------
def small_net():
    """4 inputs, 3 hidden, 2 outputs; hidden neuron 2 has no inputs (dead)."""
    hidden = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0]])
    output = torch.tensor([[1, 0, 1], [1, 1, 0]])
    return SparseMLP(4, (3,), 2, masks=[hidden, output])


def test_structure_draws_every_kept_connection_and_every_neuron():
    net = small_net()
    graph = network_to_graph(net)
    ax = plot_structure(net)
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == graph.number_of_edges() == 9
    dots = [c for c in ax.collections if c.get_offsets().shape[1:] == (2,)]
    dots = [c for c in dots if not isinstance(c, LineCollection)]
    assert sum(len(c.get_offsets()) for c in dots) == graph.number_of_nodes() == 9
    assert ax.get_title() == "9 neurons, 9 connections"
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["input\n4", "hidden 1\n3", "output\n2"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "dead (no input or output)" in legend


def test_structure_places_layers_left_to_right():
    ax = plot_structure(small_net())
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    for (x0, _), (x1, _) in lines.get_segments():
        assert x1 == x0 + 1  # every connection goes one layer to the right


def test_structure_draws_recurrent_connections_as_arcs():
    graph = nx.DiGraph()
    for i in range(2):
        graph.add_node(i, layer=0, index=i, kind="input")
    for i in range(3):
        graph.add_node(2 + i, layer=1, index=i, kind="hidden")
    graph.add_node(5, layer=2, index=0, kind="output")
    graph.add_edges_from([(0, 2), (1, 3), (1, 4), (2, 5), (3, 5), (4, 5)])
    graph.add_edges_from([(2, 3), (3, 4), (4, 2), (3, 3)])  # one self-loop
    ax = plot_structure(graph)
    (arcs,) = [c for c in ax.collections if c.get_gid() == "recurrent"]
    assert isinstance(arcs, PathCollection)
    assert len(arcs.get_paths()) == 3  # self-loops are left out
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "recurrent" in legend
    ax = plot_structure(graph, show_recurrent=False)
    assert not [c for c in ax.collections if c.get_gid() == "recurrent"]


def test_structure_of_a_large_network_is_drawn_as_masks():
    net = SparseMLP(400, (100,), 10)
    axes = plot_structure(net, max_neurons=300)
    assert isinstance(axes, np.ndarray) and len(axes) == 2
    assert isinstance(plot_structure(net, max_neurons=1000), Axes)
    with pytest.raises(ValueError, match="kind"):
        plot_structure(net, kind="pixels")


def test_masks_show_each_layer_kept_connections():
    net = small_net()
    axes = plot_masks(net)
    assert len(axes) == 2
    for ax, mask in zip(axes, [net.layers[0].mask, net.layers[-1].mask]):
        (image,) = ax.get_images()
        np.testing.assert_array_equal(image.get_array(), mask.numpy())
    assert axes[0].get_title() == "layers.0.weight\n4 → 3, 41.7 % kept"
    with pytest.raises(ValueError, match="axes must hold 2"):
        plot_masks(net, axes=[axes[0]])
    _, ax = plt.subplots()
    (drawn,) = plot_masks(net, layers=["layers.2.weight"], axes=ax)
    assert drawn is ax and ax.get_title().startswith("layers.2.weight")
    assert len(plot_masks(net, layers=[-1, 0])) == 2
    with pytest.raises(ValueError, match="no weight 'fc1'"):
        plot_masks(net, layers=["fc1"])


@pytest.fixture(scope="module")
def fitted_models():
    """A fitted estimator, the same inside a pipeline and a pruned estimator."""
    from sklearn.pipeline import make_pipeline

    from sksparse import PrunedEstimator, SparseMLPClassifier
    from sksparse.pruning import MagnitudePruner

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = SparseMLPClassifier((5,), max_epochs=1, random_state=0).fit(X, y)
    pruned = PrunedEstimator(
        SparseMLPClassifier((5,), max_epochs=1, random_state=0),
        pruner=MagnitudePruner(amount=0.5),
        retrain_epochs=0,
    ).fit(X, y)
    return {
        "estimator": clf,
        "pipeline": make_pipeline(clf).fit(X, y),
        "pruned": pruned,
    }


@pytest.mark.parametrize("kind", ["estimator", "pipeline", "pruned"])
def test_plots_read_the_network_inside_any_fitted_model(fitted_models, kind):
    model = fitted_models[kind]
    axes = plot_masks(model)
    assert [ax.get_title().splitlines()[0] for ax in axes] == [
        "layers.0.weight",
        "layers.2.weight",
    ]
    assert plot_structure(model).get_title().startswith("13 neurons")


def test_plots_of_an_unfitted_estimator_say_so():
    from sksparse import SparseMLPClassifier

    with pytest.raises(TypeError, match="is it fitted"):
        plot_masks(SparseMLPClassifier())


# -- prediction and search ------------------------------------------------------
def test_predicted_vs_true_has_diagonal_and_r2_per_group():
    true = np.array([0.5, 0.6, 0.7, 0.8, 0.6, 0.9])
    pred = np.array([0.55, 0.6, 0.65, 0.8, 0.7, 0.85])
    ax = plot_predicted_vs_true(true, pred, groups=["lstm"] * 3 + ["gru"] * 3)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("lstm (R² = ") and legend[1].startswith("gru")
    (diagonal,) = ax.get_lines()
    np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())
    assert ax.get_title().endswith("(n = 6)")
    with pytest.raises(ValueError, match="same length"):
        plot_predicted_vs_true(true, pred[:3])


def test_search_progress_best_and_median_per_generation():
    search = SimpleNamespace(
        cv_results_={
            "generation": np.array([0, 0, 0, 1, 1, 1]),
            "mean_test_score": np.array([0.5, 0.7, 0.6, 0.8, np.nan, 0.6]),
            "trained": np.array([True, True, True, True, False, True]),
            "params": [{}] * 6,
        }
    )
    ax = plot_search_progress(search)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["best"].get_ydata(), [0.7, 0.8])
    np.testing.assert_allclose(lines["median"].get_ydata(), [0.6, 0.7])
    np.testing.assert_allclose(lines["best so far"].get_ydata(), [0.7, 0.8])
    np.testing.assert_array_equal(ax.get_xticks(), [0, 1])
    (dots,) = ax.collections
    assert len(dots.get_offsets()) == 5  # the predicted individual is not drawn


def test_sensitivity_curve_draws_one_line_per_layer():
    from sksparse.plotting import plot_sensitivity_curve

    layers = ["layers.0.weight", "layers.2.weight"]
    scores = np.array([[0.9, 0.85, 0.6], [0.9, 0.5, 0.1]])
    ax = plot_sensitivity_curve((layers, scores), [0.0, 0.5, 0.9])
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == layers
    np.testing.assert_allclose(lines[1].get_xdata(), [0, 50, 90])
    np.testing.assert_allclose(lines[1].get_ydata(), scores[1])
    # The rows the command line writes draw the same lines.
    rows = [
        {"layer": layer, "amount": a, "score": s}
        for layer, row in zip(layers, scores)
        for a, s in zip([0.0, 0.5, 0.9], row)
    ]
    again = plot_sensitivity_curve(rows)
    for a, b in zip(again.get_lines(), lines):
        np.testing.assert_allclose(a.get_ydata(), b.get_ydata())
    # A cross-validated curve (one column per fold) draws the folds' mean.
    folds = np.stack([scores - 0.01, scores + 0.01], axis=-1)
    mean = plot_sensitivity_curve((layers, folds), [0.0, 0.5, 0.9])
    np.testing.assert_allclose(mean.get_lines()[1].get_ydata(), scores[1])
    with pytest.raises(ValueError, match="amounts must be given"):
        plot_sensitivity_curve((layers, scores))
    with pytest.raises(ValueError, match="shape"):
        plot_sensitivity_curve((layers, scores), [0.0, 0.5])
