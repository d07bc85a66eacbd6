"""GraphPriorRNNClassifier: sequences in, graph-prior recurrent structure out."""

import joblib
import networkx as nx
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sksparse import GraphFeatures, GraphPriorRNNClassifier
from sksparse.datasets import encode_sequences, make_reber_classification
from sksparse.graphs import network_to_graph, recurrent_prior_masks

FAST = dict(hidden_size=8, max_epochs=2, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def reber():
    strings, y = make_reber_classification(700, max_length=12, random_state=0)
    return strings[:500], y[:500], strings[500:], y[500:]


@pytest.fixture(scope="module")
def clf_fit(reber):
    strings, y, _, _ = reber
    clf = GraphPriorRNNClassifier(
        "lstm",
        12,
        prior="watts_strogatz",
        sparsity=0.6,
        max_epochs=20,
        batch_size=32,
        random_state=0,
    )
    return clf.fit(strings, y)


def test_learns_the_reber_grammar_from_strings(clf_fit, reber):
    _, _, test, y_test = reber
    assert clf_fit.score(test, y_test) > 0.85
    assert clf_fit.input_type_ == "tokens"
    assert "".join(clf_fit.vocabulary_) == "BEPSTVX"
    assert not hasattr(clf_fit, "n_features_in_")  # lists have no fixed width
    proba = clf_fit.predict_proba(test[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(clf_fit.classes_, [0, 1])


def test_structure_is_sparse_tiled_and_stays_zero_after_training(clf_fit):
    assert clf_fit.sparsity_ == pytest.approx(0.6, abs=0.1)
    ih, hh = clf_fit.masks_
    assert ih.shape == (4 * 12, 7) and hh.shape == (4 * 12, 12)
    blocks = hh.reshape(4, 12, 12)
    assert all(np.array_equal(blocks[0], block) for block in blocks[1:])
    assert np.all(np.diag(blocks[0]))  # every unit keeps its own recurrence
    for weight, mask in clf_fit.module_.rnn.masked_parameters():
        assert torch.all(weight[mask == 0] == 0)


def test_graph_has_symbols_units_and_classes(clf_fit):
    graph = clf_fit.to_graph()
    kinds = [kind for _, kind in graph.nodes(data="kind")]
    assert kinds.count("input") == 7
    assert kinds.count("hidden") == 12
    assert kinds.count("output") == 2
    recurrent = sum(1 for *_, k in graph.edges(data="kind") if k == "recurrent")
    assert recurrent == int(clf_fit.masks_[1][:12].sum())
    features = GraphFeatures().fit_transform([clf_fit])
    assert features.shape == (1, len(GraphFeatures().fit([clf_fit]).feature_names_))


def test_padded_array_and_list_of_token_lists_give_the_same_network(reber):
    strings, y, test, _ = reber
    padded, lengths = encode_sequences(strings)
    as_lists = [row[:n].tolist() for row, n in zip(padded, lengths)]
    a = GraphPriorRNNClassifier(prior="erdos_renyi", sparsity=0.5, **FAST)
    b = clone(a)
    a.fit(padded, y)
    b.fit(as_lists, y)
    assert a.n_features_in_ == padded.shape[1]
    np.testing.assert_array_equal(a.vocabulary_, np.arange(1, 8))
    test_padded, test_lengths = encode_sequences(test)
    test_lists = [row[:n].tolist() for row, n in zip(test_padded, test_lengths)]
    np.testing.assert_allclose(
        a.predict_proba(test_lists), b.predict_proba(test_lists), rtol=1e-6
    )
    # Padding is read as the end of a sequence, not as a symbol.
    np.testing.assert_allclose(
        a.predict_proba(np.pad(test_padded, ((0, 0), (0, padded.shape[1] - 12)))),
        a.predict_proba(test_lists),
        rtol=1e-5,
    )


def test_arrays_of_another_width_are_refused_with_a_hint(reber):
    strings, y, _, _ = reber
    padded, _ = encode_sequences(strings)
    clf = GraphPriorRNNClassifier(**FAST).fit(padded, y)
    with pytest.raises(ValueError, match="expecting 12 features.*list of sequences"):
        clf.predict(padded[:, :8])
    longer = ["BT" + "S" * 20 + "XSE"]
    assert clf.predict([[1, 2] + [3] * 20 + [4, 3, 7], [1, 7]]).shape == (2,)
    with pytest.raises(ValueError, match="not seen in fit"):
        clf.predict(longer)  # characters, but the vocabulary holds ints


def test_unknown_tokens_are_named():
    X = [[1, 2, 3], [2, 3], [1, 1, 2, 3]]
    clf = GraphPriorRNNClassifier(**FAST).fit(X, [0, 1, 0])
    with pytest.raises(ValueError, match=r"not seen in fit: \[9\]"):
        clf.predict([[1, 9]])


def test_value_sequences_in_3d_arrays_and_ragged_lists():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 3)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    clf = GraphPriorRNNClassifier(**FAST).fit(X, y)
    assert clf.input_type_ == "values" and clf.input_size_ == 3
    ragged = [rng.normal(size=(n, 3)) for n in (2, 7, 4)]
    assert clf.predict(ragged).shape == (3,)
    with pytest.raises(ValueError, match="4 features per step.*fitted with 3"):
        clf.predict(rng.normal(size=(2, 5, 4)))
    scalars = GraphPriorRNNClassifier(**FAST).fit([[0.5, 1.0], [0.1, 0.2, 0.3]], [0, 1])
    assert scalars.input_size_ == 1


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_every_cell_trains_with_every_prior_kind(cell, reber):
    strings, y, _, _ = reber
    for prior in [None, "barabasi_albert", nx.cycle_graph(8)]:
        clf = GraphPriorRNNClassifier(cell, prior=prior, sparsity=0.5, **FAST)
        clf.fit(strings[:100], y[:100])
        assert len(clf.history_) == 2
        n_gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
        assert clf.masks_[1].shape == (n_gates * 8, 8)


def test_early_stopping_holds_out_a_validation_split(reber):
    strings, y, _, _ = reber
    clf = GraphPriorRNNClassifier(
        early_stopping=True,
        n_iter_no_change=2,
        max_epochs=60,
        lr=0.05,
        **{k: v for k, v in FAST.items() if k != "max_epochs"},
    ).fit(strings, y)
    history = clf.history_
    assert "valid_loss" in history[0]
    assert len(history) < 60
    # scikit-learn's rule on the validation accuracy: the last
    # n_iter_no_change + 1 epochs did not beat the best before them by tol.
    scores = history[:, "valid_acc"]
    assert max(scores[-3:]) < max(scores[:-3]) + clf.tol


def test_same_random_state_same_network_and_global_rng_untouched(reber):
    strings, y, test, _ = reber
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = GraphPriorRNNClassifier(prior="watts_strogatz", sparsity=0.7, **FAST)
    a.fit(strings[:200], y[:200])
    assert torch.equal(torch.rand(3), expected)
    b = clone(a).fit(strings[:200], y[:200])
    for pa, pb in zip(a.module_.state_dict().values(), b.module_.state_dict().values()):
        assert torch.equal(pa, pb)
    np.testing.assert_array_equal(a.predict_proba(test), b.predict_proba(test))


def test_grid_search_and_joblib_round_trip(reber, tmp_path):
    strings, y, test, _ = reber
    search = GridSearchCV(
        GraphPriorRNNClassifier(prior="erdos_renyi", **FAST),
        {"sparsity": [0.3, 0.8], "cell": ["gru", "rnn"]},
        cv=2,
    ).fit(strings[:200], y[:200])
    best = search.best_estimator_
    path = tmp_path / "rnn.joblib"
    joblib.dump(best, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(test), best.predict_proba(test))
    for weight, mask in loaded.module_.rnn.masked_parameters():
        assert torch.all(weight[mask == 0] == 0)


def test_warm_start_continues_training(reber):
    strings, y, _, _ = reber
    clf = GraphPriorRNNClassifier(warm_start=True, **FAST).fit(strings[:100], y[:100])
    module = clf.module_
    clf.fit(strings[:100], y[:100])
    assert clf.module_ is module
    assert len(clf.history_) == 4


def test_recurrent_prior_masks_keep_the_diagonal_and_the_density():
    ih, hh = recurrent_prior_masks(
        7, 20, 2, 0.3, prior="watts_strogatz", random_state=0
    )
    assert [m.shape for m in ih] == [(20, 7), (20, 20)]
    for mask in hh:
        assert mask.shape == (20, 20)
        assert np.all(np.diag(mask))
        np.testing.assert_array_equal(mask, mask.T)  # an undirected prior
        assert mask.mean() == pytest.approx(0.3, abs=0.06)
    assert ih[0].sum() == round(0.3 * 140)
    again = recurrent_prior_masks(7, 20, 2, 0.3, prior="watts_strogatz", random_state=0)
    assert all(np.array_equal(a, b) for a, b in zip(hh, again[1]))


def test_a_directed_graph_prior_sets_the_recurrence_direction():
    graph = nx.DiGraph([(0, 1), (1, 2)])
    _, (hh,) = recurrent_prior_masks(3, 3, 1, 0.5, prior=graph, random_state=0)
    expected = np.eye(3, dtype=bool)
    expected[1, 0] = expected[2, 1] = True  # mask[i, j]: unit j feeds unit i
    np.testing.assert_array_equal(hh, expected)


def test_dense_without_sparsity():
    clf = GraphPriorRNNClassifier(prior="watts_strogatz", **FAST)
    clf.fit([[1, 2], [2, 1, 1]], [0, 1])
    assert clf.sparsity_ == 0.0


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"cell": "transformer"}, ValueError, "'cell' parameter"),
        ({"hidden_size": 0}, ValueError, "hidden_size"),
        ({"sparsity": 1.0}, ValueError, "sparsity"),
        ({"input_type": "bytes"}, ValueError, "input_type"),
        ({"prior_params": [1]}, TypeError, "prior_params"),
        ({"prior": 3}, TypeError, "'prior' parameter"),
        ({"early_stopping": "yes"}, TypeError, "early_stopping"),
        ({"prior": "no_such_graph", "sparsity": 0.5}, ValueError, "no_such_graph"),
    ],
)
def test_invalid_parameters_are_named_in_fit(params, error, match):
    clf = GraphPriorRNNClassifier(**{**FAST, **params})
    with pytest.raises(error, match=match):
        clf.fit([[1, 2], [2, 1, 1]], [0, 1])


def test_empty_sequence_and_single_class_are_refused():
    with pytest.raises(ValueError, match="empty sequence"):
        GraphPriorRNNClassifier(**FAST).fit([[1, 2], []], [0, 1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        GraphPriorRNNClassifier(**FAST).fit([[1, 2], [1]], [0, 0])


# -- mapping="layered": the paper's layered-DAG mapping ----------------------


@pytest.mark.parametrize("cell", ["rnn", "rnn_relu", "gru", "lstm"])
def test_layered_mapping_reads_back_the_dag(cell, reber):
    strings, y, _, _ = reber
    graph = nx.watts_strogatz_graph(18, 4, 1.0, seed=3)
    clf = GraphPriorRNNClassifier(
        cell, prior=graph, num_layers=3, mapping="layered", **{**FAST, "max_epochs": 1}
    ).fit(strings, y)
    dag = nx.DiGraph([tuple(e) for e in clf.structure_["edges"]])
    assert sorted(n for layer in clf.structure_["layers"] for n in layer) == sorted(
        graph.nodes
    )
    read = network_to_graph(clf)
    name = {n: d["name"] for n, d in read.nodes(data=True) if d["kind"] == "hidden"}
    edges = {
        (name[u], name[v])
        for u, v, kind in read.edges(data="kind")
        if kind == "feedforward" and u in name and v in name
    }
    assert edges == set(dag.edges)
    assert len(clf.module_.layers) == 3
    assert clf.predict(strings[:5]).shape == (5,)


def test_layered_mapping_draws_a_named_prior_and_a_dag_keeps_its_layers(reber):
    strings, y, _, _ = reber
    clf = GraphPriorRNNClassifier(
        "gru",
        prior="barabasi_albert",
        prior_params={"m": 2},
        num_layers=2,
        mapping="layered",
        **{**FAST, "hidden_size": 10, "max_epochs": 1},
    ).fit(strings, y)
    assert sum(clf.structure_["widths"]) == 10
    again = clone(clf).fit(strings, y)
    assert again.structure_["edges"] == clf.structure_["edges"]
    dag = nx.DiGraph([(0, 1), (1, 2), (0, 2), (2, 3)])
    clf = GraphPriorRNNClassifier(
        "lstm", prior=dag, mapping="layered", **{**FAST, "max_epochs": 1}
    ).fit(strings, y)
    assert clf.structure_["widths"] == [1, 1, 1, 1]
    assert clf.structure_["sources"][2] == [0, 1]


def test_layered_mapping_saves_and_loads_without_pickle(reber, tmp_path):
    from sksparse.io import load, save

    strings, y, _, _ = reber
    clf = GraphPriorRNNClassifier(
        "lstm", prior="watts_strogatz", num_layers=3, mapping="layered", **FAST
    ).fit(strings, y)
    save(clf, tmp_path / "m.sksparse")
    loaded = load(tmp_path / "m.sksparse")
    assert loaded.structure_["edges"] == clf.structure_["edges"]
    assert np.array_equal(loaded.predict_proba(strings), clf.predict_proba(strings))


def test_layered_mapping_needs_a_prior_and_no_sparsity(reber):
    strings, y, _, _ = reber
    with pytest.raises(ValueError, match="prior"):
        GraphPriorRNNClassifier(mapping="layered", **FAST).fit(strings, y)
    with pytest.raises(ValueError, match="sparsity"):
        GraphPriorRNNClassifier(
            prior="erdos_renyi", sparsity=0.5, mapping="layered", **FAST
        ).fit(strings, y)
    with pytest.raises(ValueError, match="acyclic"):
        GraphPriorRNNClassifier(
            prior=nx.DiGraph([(0, 1), (1, 0)]), mapping="layered", **FAST
        ).fit(strings, y)
    with pytest.raises(ValueError, match="mapping"):
        GraphPriorRNNClassifier(mapping="neuron", **FAST).fit(strings, y)


@pytest.mark.parametrize(
    "padding_value, X, match",
    [
        (float("nan"), np.ones((8, 4)), "padding_value"),
        (object(), np.ones((8, 4), dtype=np.int64), "padding_value"),
        ("<pad>", np.ones((8, 4), dtype=np.int64), "can never equal a token"),
        (0, np.full((8, 4), "a"), "can never equal a token"),
    ],
    ids=["nan", "object", "str-for-ints", "int-for-strings"],
)
def test_a_padding_value_that_can_match_nothing_is_refused(padding_value, X, match):
    """Such a value padded nothing, without a word (benchmarks/robustness.py)."""
    clf = GraphPriorRNNClassifier(
        hidden_size=4, max_epochs=1, padding_value=padding_value, random_state=0
    )
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, np.arange(8) % 2)
