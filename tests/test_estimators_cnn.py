"""SparseCNNClassifier: a sparse conv net for images, searchable by structure."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from scipy.stats import uniform
from sklearn.base import clone

from sksparse import GeneticSearchCV, SparseCNNClassifier
from sksparse.datasets import load_cifar10, load_digits
from sksparse.estimators._cnn import infer_input_shape
from sksparse.graphs import network_to_graph
from sksparse.nn import MaskedConv2d, SparseCNN


@pytest.fixture(scope="module")
def digits():
    X, y, X_test, y_test = load_digits()
    return X, y, X_test, y_test


@pytest.fixture(scope="module")
def cnn_fit(digits):
    X, y, _, _ = digits
    return SparseCNNClassifier(
        channels=(8, 16),
        hidden_layer_sizes=(32,),
        sparsity=0.5,
        prior="watts_strogatz",
        max_epochs=10,
        lr=1e-2,
        batch_size=64,
        random_state=0,
    ).fit(X, y)


def test_fits_digits_as_images(cnn_fit, digits):
    _, _, X_test, y_test = digits
    assert cnn_fit.input_shape_ == (1, 8, 8)
    assert isinstance(cnn_fit.module_, SparseCNN)
    assert cnn_fit.score(X_test, y_test) > 0.85
    proba = cnn_fit.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    assert cnn_fit.decision_function(X_test).shape == (len(X_test), 10)


def test_structure_is_sparse_where_documented(cnn_fit):
    convs = [m for m in cnn_fit.module_.modules() if isinstance(m, MaskedConv2d)]
    # The first convolution reads the one grey channel: kept dense.
    assert convs[0].density == 1.0
    assert convs[1].density == pytest.approx(0.5, abs=0.01)
    # Channel masks: a connection between channels is kept or removed whole.
    assert bool((convs[1].mask.flatten(2).std(2) == 0).all())
    head = cnn_fit.module_.head.masked_layers
    assert all(layer.density == pytest.approx(0.5, abs=0.01) for layer in head)
    assert [m.shape for m in cnn_fit.masks_] == [
        (8, 1, 3, 3),
        (16, 8, 3, 3),
        (32, 64),
        (10, 32),
    ]
    assert 0.3 < cnn_fit.sparsity_ < 0.5
    for layer in cnn_fit.module_.masked_layers:  # trained, still zero
        assert bool((layer.weight[layer.mask == 0] == 0).all())


def test_structure_reads_as_a_graph_of_channels_and_neurons(cnn_fit):
    graph = network_to_graph(cnn_fit)
    convs = cnn_fit.module_.masked_layers[:2]
    n_channel_edges = sum(int(c.channel_mask.sum()) for c in convs)
    # The head's first layer reads the flattened channels: one edge per
    # (neuron, channel) pair that any of the channel's positions feeds.
    first, *rest = cnn_fit.module_.head.masked_layers
    n_channels = convs[-1].out_channels
    mask = (first.mask * (first.weight != 0)).reshape(
        first.out_features, n_channels, -1
    )
    head_edges = int(mask.any(-1).sum()) + sum(layer.n_nonzero for layer in rest)
    assert graph.number_of_edges() == n_channel_edges + head_edges


def test_image_shaped_input_equals_flat_input(cnn_fit, digits):
    _, _, X_test, _ = digits
    images = X_test.reshape(-1, 1, 8, 8)
    np.testing.assert_allclose(
        cnn_fit.predict_proba(images), cnn_fit.predict_proba(X_test), rtol=1e-5
    )
    np.testing.assert_array_equal(
        cnn_fit.predict(X_test.reshape(-1, 8, 8)), cnn_fit.predict(X_test)
    )


def test_same_random_state_same_model_and_globals_untouched(digits):
    X, y, X_test, _ = digits
    params = dict(channels=(4,), hidden_layer_sizes=(), max_epochs=1, random_state=3)
    state = torch.random.get_rng_state()
    a = SparseCNNClassifier(sparsity=0.3, **params).fit(X[:200], y[:200])
    assert torch.equal(state, torch.random.get_rng_state())
    b = clone(a).fit(X[:200], y[:200])
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_pickle_and_joblib_round_trip(cnn_fit, digits, tmp_path):
    _, _, X_test, _ = digits
    restored = pickle.loads(pickle.dumps(cnn_fit))
    np.testing.assert_array_equal(restored.predict(X_test), cnn_fit.predict(X_test))
    joblib.dump(cnn_fit, tmp_path / "cnn.joblib")
    loaded = joblib.load(tmp_path / "cnn.joblib")
    np.testing.assert_array_equal(loaded.predict(X_test), cnn_fit.predict(X_test))


@pytest.mark.parametrize(
    "n_features, shape",
    [(64, (1, 8, 8)), (784, (1, 28, 28)), (3072, (3, 32, 32)), (10, (1, 1, 10))],
)
def test_infer_input_shape(n_features, shape):
    assert infer_input_shape(n_features) == shape


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(input_shape=(1, 4, 4)), ValueError, "input_shape"),
        (dict(channels=()), ValueError, "channels"),
        (dict(channels=(4, 0)), ValueError, "channels"),
        (dict(kernel_size=0), ValueError, "kernel_size"),
        (dict(sparsity=1.0), ValueError, "sparsity"),
        (dict(mapping="other"), ValueError, "mapping"),
        (dict(prior_params=3), TypeError, "prior_params"),
    ],
)
def test_invalid_parameters_raise_naming_them(digits, params, error, match):
    X, y, _, _ = digits
    with pytest.raises(error, match=match):
        SparseCNNClassifier(max_epochs=0, **params).fit(X[:50], y[:50])


def test_warm_start_continues_training(digits):
    X, y, _, _ = digits
    clf = SparseCNNClassifier(
        channels=(4,), hidden_layer_sizes=(), max_epochs=1, warm_start=True
    )
    clf.fit(X[:100], y[:100])
    module = clf.module_
    clf.fit(X[:100], y[:100])
    assert clf.module_ is module and len(clf.history_) == 2


def test_reads_cifar_format_images(tmp_path):
    """Tiny CIFAR-10 pickles, loaded through load_cifar10: 3 x 32 x 32 inputs."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batch = {
            "batch_label": name,
            "labels": [(i + j) % 10 for j in range(4)],
            "data": rng.integers(0, 256, size=(4, 3072), dtype=np.uint8),
            "filenames": [f"{name}_{j}.png" for j in range(4)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{k}" for k in range(10)]}, f, protocol=2)
    X, y, X_test, _ = load_cifar10(tmp_path)
    clf = SparseCNNClassifier(
        channels=(4, 8), hidden_layer_sizes=(16,), sparsity=0.5, max_epochs=1
    ).fit(X, y)
    assert clf.input_shape_ == (3, 32, 32) and clf.n_features_in_ == 3072
    assert clf.predict(X_test).shape == (len(X_test),)
    # The first convolution reads 3 colour channels, still dense.
    assert clf.module_.masked_layers[0].density == 1.0


def test_genetic_search_over_convolutional_structures(digits):
    X, y, _, _ = digits
    search = GeneticSearchCV(
        SparseCNNClassifier(
            hidden_layer_sizes=(16,), max_epochs=1, lr=1e-2, random_state=0
        ),
        {"channels": [(4,), (4, 8), (8, 8)], "sparsity": uniform(0.2, 0.6)},
        population_size=4,
        generations=2,
        predictor="auto",
        screen_ratio=0.5,
        cv=2,
        random_state=0,
    ).fit(X[:200], y[:200])
    results = search.cv_results_
    assert results["screened"].any() and (~results["trained"]).any()
    assert search.best_params_["channels"] in [(4,), (4, 8), (8, 8)]


def test_compressed_cnn_predicts_the_same_and_holds_one_copy(
    cnn_fit, digits, tensor_elements
):
    from sksparse.nn import CompressedConvNetwork

    X_test = digits[2]
    small = cnn_fit.compress()
    assert isinstance(small.module_, CompressedConvNetwork)
    assert isinstance(cnn_fit.module_, SparseCNN)  # the original is kept
    np.testing.assert_allclose(
        small.predict_proba(X_test), cnn_fit.predict_proba(X_test), atol=1e-6
    )
    buffer = io.BytesIO()
    joblib.dump(small, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    np.testing.assert_allclose(
        loaded.predict_proba(X_test), cnn_fit.predict_proba(X_test), atol=1e-6
    )
    # Every tensor element of the reloaded estimator is one of its compact
    # network's buffers: no masked network, mask, optimizer state or copy.
    held = sum(b.numel() for b in loaded.module_.buffers())
    assert tensor_elements(loaded) == held
    layers = loaded.module_.compact_layers
    weights = sum(layer.n_stored + layer.bias.numel() for layer in layers)
    assert weights <= sum(p.numel() for p in cnn_fit.module_.parameters())
    assert not any(isinstance(m, MaskedConv2d) for m in loaded.module_.modules())
