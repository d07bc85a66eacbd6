"""The shared estimator template: prediction, files, divergence, validation."""

import io
import pickle
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score

from sksparse import (
    GraphPriorRNNClassifier,
    PrunedEstimator,
    SparseCNNClassifier,
    SparseMLPClassifier,
    SparseMLPRegressor,
)
from sksparse.estimators._inference import MIN_ROWS, predict_module
from sksparse.nn import SparseMLP, compress
from sksparse.pruning import MagnitudePruner


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0)[:300], y[:300]


@pytest.fixture(scope="module")
def mlp(digits):
    X, y = digits
    return SparseMLPClassifier((32,), sparsity=0.5, max_epochs=3, random_state=0).fit(
        X, y
    )


@pytest.fixture(scope="module")
def cnn(digits):
    X, y = digits
    return SparseCNNClassifier(
        channels=(4,), hidden_layer_sizes=(16,), max_epochs=2, random_state=0
    ).fit(X, y)


@pytest.fixture(scope="module")
def pruned(digits):
    X, y = digits
    inner = SparseMLPClassifier((32,), max_epochs=2, random_state=0)
    return PrunedEstimator(inner, MagnitudePruner(0.5), retrain_epochs=1).fit(X, y)


def _n_elements(obj):
    """Tensor and array elements reachable in an unpickled object's attributes."""
    seen, total, stack = set(), 0, [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, torch.Tensor):
            total += item.numel()
        elif isinstance(item, torch.nn.Module):
            stack.extend(item.state_dict(keep_vars=True).values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.extend(vars(item).values())
    return total


# -- prediction ----------
@pytest.mark.parametrize("name", ["mlp", "cnn", "pruned"])
def test_predict_proba_is_thread_safe(name, request, digits):
    model = request.getfixturevalue(name)
    X = digits[0][:64]
    expected = model.predict_proba(X)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: model.predict_proba(X), range(48)))
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_prediction_runs_in_float32_without_functional_call(mlp, digits, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("functional_call must not be used to predict")

    monkeypatch.setattr(torch.func, "functional_call", refuse)
    X = digits[0][:20]
    logits = mlp.decision_function(X)
    assert logits.dtype == np.float32
    with torch.inference_mode():
        direct = mlp.module_(torch.as_tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(logits, direct, rtol=1e-5, atol=1e-6)
    assert all(p.dtype == torch.float32 for p in mlp.module_.parameters())
    assert not mlp.module_.training


def test_small_batches_match_large_ones_bit_for_bit(mlp, digits):
    X = digits[0][:50]
    full = mlp.decision_function(X)
    for n in range(1, MIN_ROWS + 2):
        np.testing.assert_array_equal(mlp.decision_function(X[:n]), full[:n])


@pytest.mark.parametrize("layout", ["csr", "dense"])
def test_compressed_small_batches_match_large_ones_bit_for_bit(digits, layout):
    # An all-CSR network is not padded (its kernels' order does not depend
    # on the batch, one row included); dense layers pad to MIN_ROWS.
    X, y = digits
    clf = SparseMLPClassifier((48, 32), sparsity=0.9, max_epochs=1, random_state=0)
    small = clf.fit(X, y).compress(layout=layout)
    full = small.decision_function(X[:300])
    for n in (*range(1, MIN_ROWS + 2), 31, 299):
        np.testing.assert_array_equal(small.decision_function(X[:n]), full[:n])
    rows = X[::-1][:40]
    np.testing.assert_array_equal(small.decision_function(rows), full[::-1][:40])


@pytest.mark.parametrize("threshold", [0.0, 0.15, 1.0])
def test_mixed_compressed_network_rows_do_not_depend_on_the_batch(threshold):
    # Layers of densities 0.05, 0.3 and 1: with dense_threshold 0.15 the first
    # is CSR and the others dense (MKL), which alone are padded.
    gen = torch.Generator().manual_seed(0)
    sizes = [40, 64, 32, 5]
    masks = [
        torch.rand(n_out, n_in, generator=gen) < density
        for n_in, n_out, density in zip(sizes[:-1], sizes[1:], (0.05, 0.3, 1.0))
    ]
    net = compress(
        SparseMLP(40, (64, 32), 5, masks=masks).eval(), dense_threshold=threshold
    )
    X = torch.randn(300, 40, generator=gen).numpy()
    full = predict_module(net, X)
    for n in (*range(1, 18), 31):
        np.testing.assert_array_equal(predict_module(net, X[:n]), full[:n])
        np.testing.assert_array_equal(predict_module(net, X[-n:]), full[-n:])


def test_fast_input_check_gives_validate_datas_answers(mlp, digits):
    X = digits[0][:20]
    np.testing.assert_array_equal(mlp.predict(X), mlp.predict(X.tolist()))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mlp.predict(bad)
    with pytest.raises(ValueError, match="features"):
        mlp.predict(X[:, :-1])


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("compressed", [False, True])
def test_nan_and_inf_are_refused_in_any_prediction_block(digits, value, compressed):
    # The check runs block by block inside predict_module: a bad value in a
    # late block, or in a feature the compressed net never reads, still fails.
    X, y = digits
    clf = SparseMLPClassifier((8,), sparsity=0.9, max_epochs=2, random_state=0)
    clf.fit(X, y)
    unread = 0
    if compressed:
        clf = clf.compress(layout="csr")
        read = clf.module_.input_features.numpy()
        unread = np.setdiff1d(np.arange(X.shape[1]), read)[0]
    big = np.tile(X, (3, 1))[:700]  # blocks 0:256, 256:512, 512:700 compressed
    for row, col in [(650, 3), (10, unread), (699, X.shape[1] - 1)]:
        bad = big.copy()
        bad[row, col] = value
        for method in (clf.predict, clf.predict_proba, clf.decision_function):
            with pytest.raises(ValueError, match="NaN|infinity"):
                method(bad)
        with pytest.raises(ValueError, match="NaN|infinity"):
            clf.predict(bad.astype(np.float32))


def test_predictions_across_blocks_are_each_samples_own(digits):
    X, y = digits
    clf = SparseMLPClassifier((32,), sparsity=0.9, max_epochs=2, random_state=0)
    small = clf.fit(X, y).compress(layout="csr")
    assert small.module_.predict_block_rows == 256
    big = np.tile(X, (3, 1))[:700].astype(np.float32)
    proba = small.predict_proba(big)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert proba.flags.f_contiguous and proba.dtype == np.float64  # as documented
    np.testing.assert_array_equal(proba[::50], small.predict_proba(big[::50]))
    np.testing.assert_array_equal(proba[600:], small.predict_proba(big[600:]))
    np.testing.assert_array_equal(proba[255:258], small.predict_proba(big[255:258]))
    log = small.predict_log_proba(big)
    np.testing.assert_allclose(np.exp(log), proba, rtol=1e-12)
    np.testing.assert_array_equal(log[::50], small.predict_log_proba(big[::50]))
    np.testing.assert_allclose(proba, clf.predict_proba(big), atol=1e-6)


@pytest.mark.parametrize(
    "n, rows, expected",
    [
        (0, 256, [0, 0]),
        (1, 256, [0, 1]),
        (256, 256, [0, 256]),
        (300, 256, [0, 300]),
        (384, 256, [0, 256, 384]),
        (700, 256, [0, 256, 512, 700]),
        (10000, 4096, [0, 4096, 10000]),
        (12000, 4096, [0, 4096, 8192, 12000]),
        (9000, 4096, [0, 4096, 9000]),
    ],
)
def test_chunk_bounds_join_a_short_remainder_to_the_last_chunk(n, rows, expected):
    from sksparse.nn._compressed import chunk_bounds

    assert chunk_bounds(n, rows) == expected


def test_float64_when_the_user_converts_the_module(digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), max_epochs=1, random_state=0).fit(X, y)
    clf.module_.double()
    assert clf.decision_function(X[:5]).dtype == np.float64


# -- files ----------
def test_file_holds_the_weights_once_and_no_optimizer_state(digits):
    X, y = digits
    clf = SparseMLPClassifier((64,), max_epochs=2, random_state=0).fit(X, y)
    n_weights = sum(p.numel() for p in clf.module_.parameters())
    n_masks = sum(b.numel() for b in clf.module_.buffers())
    loaded = pickle.loads(pickle.dumps(clf))
    assert isinstance(loaded.net_.module, torch.nn.Module)
    assert loaded.net_.module is loaded.net_.module_
    assert not loaded.net_.optimizer_.state
    assert _n_elements(loaded) == n_weights + n_masks
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_warm_start_keeps_optimizer_state_through_joblib(digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), max_epochs=2, warm_start=True, random_state=0)
    clf.fit(X, y)
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    assert loaded.net_.optimizer_.state
    loaded.fit(X, y)
    clf.fit(X, y)
    assert len(loaded.history_) == 4
    np.testing.assert_allclose(
        loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5, atol=1e-6
    )


def test_compressed_estimator_holds_only_the_compact_module(digits):
    X, y = digits
    clf = SparseMLPClassifier((64,), sparsity=0.9, max_epochs=2, random_state=0)
    clf.fit(X, y)
    # layout="csr": the default times each layer and may keep a tiny one dense.
    small = clf.compress(layout="csr")
    np.testing.assert_array_equal(small.predict(X), clf.predict(X))
    loaded = pickle.loads(pickle.dumps(small))
    dense = sum(p.numel() for p in clf.module_.parameters())
    assert _n_elements(loaded) < 0.5 * dense
    assert loaded.net_.module_ is loaded.net_.module
    np.testing.assert_allclose(
        loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-4, atol=1e-6
    )


def test_early_stopping_rnn_pickles():
    X = [[1, 2, 3], [3, 2, 1]] * 20
    y = [0, 1] * 20
    clf = GraphPriorRNNClassifier(
        "gru", 4, early_stopping=True, max_epochs=2, random_state=0
    ).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


# -- divergence and ranges ----------
def test_diverging_regressor_raises():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)) * 1e30
    y = rng.normal(size=64)
    with pytest.raises(ValueError, match="non-finite"):
        SparseMLPRegressor((8,), max_epochs=2, random_state=0).fit(X, y)


def test_diverging_classifier_raises(digits):
    X, y = digits
    with pytest.raises(ValueError, match="non-finite"):
        SparseMLPClassifier((16,), lr=1e30, max_epochs=2, random_state=0).fit(
            X * 1e20, y
        )


@pytest.mark.parametrize("where", ["X", "y"])
def test_values_beyond_float32_are_refused(where):
    X = np.ones((10, 3))
    y = np.arange(10.0)
    if where == "X":
        X[0, 0] = 1e39
    else:
        y[0] = 1e39
    with pytest.raises(ValueError, match=f"{where} holds values beyond float32"):
        SparseMLPRegressor((4,), max_epochs=1).fit(X, y)


# -- structure and shapes ----------
@pytest.mark.parametrize(
    "change", [{"sparsity": 0.5}, {"hidden_layer_sizes": (8,)}, {"prior": "complete"}]
)
def test_warm_start_refuses_a_changed_structure(change, digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), max_epochs=1, warm_start=True, random_state=0)
    clf.fit(X, y).set_params(**change)
    with pytest.raises(ValueError, match=next(iter(change))):
        clf.fit(X, y)


def test_warm_start_accepts_a_changed_training_parameter(digits):
    X, y = digits
    clf = SparseMLPClassifier((16,), max_epochs=1, warm_start=True, random_state=0)
    clf.fit(X, y).set_params(lr=1e-2, max_epochs=2)
    assert len(clf.fit(X, y).history_) == 3


def test_cnn_refuses_images_of_another_shape():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4, 4))
    y = np.arange(20) % 2
    clf = SparseCNNClassifier(channels=(2,), hidden_layer_sizes=(), max_epochs=1)
    clf.fit(X, y)
    with pytest.raises(ValueError, match=r"\(1, 2, 8\).*\(1, 4, 4\)"):
        clf.predict(rng.normal(size=(3, 2, 8)))


# -- validation ----------
@pytest.mark.parametrize(
    "params, match",
    [
        ({"prior": "nonexistent"}, "prior"),
        ({"prior": 123}, "prior"),
        ({"prior_params": {"p": 0.1}}, "prior_params"),
        ({"warm_start": "yes"}, "warm_start"),
        ({"verbose": "loud"}, "verbose"),
        ({"momentum": 5}, "momentum"),
        ({"momentum": float("nan")}, "momentum"),
        ({"lr": float("inf")}, "lr"),
        ({"weight_decay": float("inf")}, "weight_decay"),
    ],
)
@pytest.mark.parametrize(
    "estimator", [SparseMLPClassifier, SparseCNNClassifier, GraphPriorRNNClassifier]
)
def test_bad_parameters_are_refused_at_fit(estimator, params, match):
    X = np.random.default_rng(0).normal(size=(16, 4))
    y = np.arange(16) % 2
    with pytest.raises(ValueError, match=match):
        estimator(max_epochs=1, **params).fit(X, y)


def test_prefit_inside_cross_validation_names_prefit(digits):
    X, y = digits
    fitted = SparseMLPClassifier((8,), max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(NotFittedError, match="prefit"):
        cross_val_score(
            PrunedEstimator(fitted, prefit=True), X, y, cv=2, error_score="raise"
        )
