"""sksparse.experiments: data files, results on disk, reading saved networks."""

import json

import networkx as nx
import numpy as np
import pytest
import torch

from sksparse.experiments import (
    MissingFeatureError,
    ResultsWriter,
    export_graph,
    format_table,
    layer_summary,
    load_dataset,
    load_model,
    make_sweep_estimator,
    network_module,
    sweep_methods,
)
from sksparse.graphs import network_to_graph
from sksparse.nn import SparseMLP


def write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header), *(",".join(r) for r in rows)]))
    return path


# -- data files -----------------------------------------------------------------
def test_npz_file_is_read_and_flattened(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "X_train": rng.random((20, 2, 3)),
        "y_train": rng.integers(0, 3, 20),
        "X_test": rng.random((5, 2, 3)),
        "y_test": rng.integers(0, 3, 5),
    }
    np.savez(tmp_path / "d.npz", **arrays)
    X, y, X_test, y_test = load_dataset(tmp_path / "d.npz", n_samples=10)
    assert X.shape == (10, 6) and X.dtype == np.float32
    assert X_test.shape[0] == 2  # proportionally fewer test samples
    np.testing.assert_array_equal(y, arrays["y_train"][:10])
    del arrays["y_test"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="lacks the arrays y_test"):
        load_dataset(tmp_path / "bad.npz")


def test_csv_target_column_by_name_and_split_column(tmp_path):
    rows = [["1", "a", "2", "train"], ["3", "b", "4", "test"], ["5", "a", "6", "train"]]
    path = write_csv(tmp_path / "d.csv", ["x1", "label", "x2", "split"], rows)
    X, y, X_test, y_test = load_dataset(path)
    np.testing.assert_array_equal(X, [[1, 2], [5, 6]])
    assert y.tolist() == ["a", "a"] and y_test.tolist() == ["b"]
    np.testing.assert_array_equal(X_test, [[3, 4]])


def test_csv_without_split_holds_out_a_stratified_share(tmp_path):
    rows = [[str(i), str(i % 2)] for i in range(40)]
    path = write_csv(tmp_path / "d.csv", ["x", "anything"], rows)
    X, y, X_test, y_test = load_dataset(path, test_size=0.25)
    assert len(X) == 30 and len(X_test) == 10
    assert y.dtype == np.int64  # integer labels are read as ints
    assert sorted(np.bincount(y_test)) == [5, 5]


@pytest.mark.parametrize(
    "header, rows, message",
    [
        (["x", "y"], [["a", "1"]], "must hold numbers"),
        (["x", "y", "split"], [["1", "0", "valid"]], "'train' or 'test'"),
        (["x", "y"], [["1", "0", "2"]], "every row must have 2 columns"),
    ],
)
def test_bad_csv_files_raise_clear_errors(tmp_path, header, rows, message):
    path = write_csv(tmp_path / "d.csv", header, rows)
    with pytest.raises(ValueError, match=message):
        load_dataset(path)


def test_unknown_data_names_and_formats(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither one of digits"):
        load_dataset("cifar-100")
    (tmp_path / "d.txt").write_text("1,2")
    with pytest.raises(ValueError, match=r"\.npz or a \.csv"):
        load_dataset(tmp_path / "d.txt")
    with pytest.raises(ValueError, match="n_samples"):
        load_dataset("digits", n_samples=0)


# -- results on disk ------------------------------------------------------------
def test_results_writer_rewrites_both_files_after_every_row(tmp_path):
    writer = ResultsWriter(tmp_path / "new", "runs", meta={"seed": 3})
    writer.add({"method": "dense", "accuracy": np.float32(0.5), "shape": (2, 3)})
    writer.add({"method": "random", "accuracy": float("nan"), "extra": 1})
    payload = json.loads(writer.json_path.read_text())
    assert payload["meta"] == {"seed": 3}
    assert payload["rows"][1] == {"method": "random", "accuracy": None, "extra": 1}
    lines = writer.csv_path.read_text().splitlines()
    assert lines == [
        "method,accuracy,shape,extra",
        'dense,0.5,"[2, 3]",',
        "random,,,1",
    ]
    assert not list(tmp_path.glob("new/.*.tmp"))


def test_format_table_aligns_numbers_right():
    text = format_table(
        [{"name": "a", "value": 1.23456}, {"name": "bbb", "value": 10.0}],
        floatfmt=".2f",
    )
    assert text.splitlines() == [
        "name  value",
        "----  -----",
        "a      1.23",
        "bbb   10.00",
    ]
    assert format_table([]) == "(no results)"


# -- methods ---------------------------------------------------------------------
def test_sweep_methods_build_the_documented_estimators():
    from sksparse import PrunedEstimator, SparseMLPClassifier

    methods = sweep_methods()
    assert methods["pruning"] == (
        "class-blinded",
        "class-uniform",
        "class-distributed",
        "random",
    )
    assert {"uniform", "watts_strogatz", "barabasi_albert"} <= set(methods["prior"])
    pruned = make_sweep_estimator("class-uniform", 0.7, retrain_epochs=2)
    assert isinstance(pruned, PrunedEstimator)
    assert pruned.pruner.scope == "class-uniform" and pruned.pruner.amount == 0.7
    prior = make_sweep_estimator("watts_strogatz", 0.9, hidden_layer_sizes=[4])
    assert isinstance(prior, SparseMLPClassifier)
    assert (prior.prior, prior.sparsity, prior.hidden_layer_sizes) == (
        "watts_strogatz",
        0.9,
        (4,),
    )
    assert make_sweep_estimator("uniform", 0.5).prior is None
    with pytest.raises(ValueError, match="unknown method 'magnitude'"):
        make_sweep_estimator("magnitude", 0.5)


def test_public_names_stay_importable_from_the_package():
    import sksparse.experiments as experiments

    assert issubclass(MissingFeatureError, ImportError)
    for name in experiments.__all__:
        assert getattr(experiments, name) is not None, name


# -- reading networks -------------------------------------------------------------
@pytest.fixture
def net():
    masks = [torch.eye(4), torch.ones(2, 4)]
    return SparseMLP(4, (4,), 2, masks=masks)


def test_network_module_unwraps_searches_pipelines_and_estimators(net):
    from sklearn.pipeline import Pipeline

    holder = type("Fitted", (), {})()
    holder.module_ = net  # fitted attributes live on the instance
    search = type("Search", (), {})()
    search.best_estimator_ = Pipeline([("m", holder)])
    assert network_module(search) is net
    with pytest.raises(TypeError, match="found no fitted network"):
        network_module(object())


def test_layer_summary_counts_kept_weights(net):
    rows = layer_summary(net)
    assert [(r["shape"], r["size_nz"]) for r in rows] == [("4x4", 4), ("2x4", 8)]
    assert rows[0]["sparsity"] == 0.75


@pytest.mark.parametrize("suffix", [".graphml", ".gexf", ".gml", ".edgelist"])
def test_export_graph_writes_files_networkx_reads_back(net, tmp_path, suffix):
    path = tmp_path / "sub" / f"net{suffix}"
    graph = export_graph(net, path, weights=True)
    reader = {
        ".graphml": nx.read_graphml,
        ".gexf": nx.read_gexf,
        ".gml": nx.read_gml,
        ".edgelist": lambda p: nx.read_edgelist(p, create_using=nx.DiGraph),
    }[suffix]
    back = reader(path)
    assert back.number_of_edges() == graph.number_of_edges() == 16 + 8 - 12
    if suffix != ".edgelist":
        assert back.number_of_nodes() == network_to_graph(net).number_of_nodes()
    with pytest.raises(ValueError, match="must end in"):
        export_graph(net, tmp_path / "net.png")


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_model(tmp_path / "none.joblib")
    (tmp_path / "x.joblib").write_bytes(b"\x00\x01 not a pickle")
    with pytest.raises(ValueError, match="not a model saved with joblib.dump"):
        load_model(tmp_path / "x.joblib")


# -- the search driver ------------------------------------------------------------
def test_genetic_search_yields_each_generation_then_resumes(tmp_path):
    from sksparse.experiments import genetic_search

    X, y, _, _ = load_dataset("digits", n_samples=120)
    settings = dict(
        population_size=2,
        generations=2,
        cv=2,
        max_layers=1,
        max_units=8,
        max_epochs=1,
        checkpoint=tmp_path / "search.pkl",
    )
    first = list(genetic_search(X, y, **settings))
    assert [rows[0]["generation"] for rows, _ in first] == [0, 1]
    search = first[-1][1]
    assert hasattr(search, "best_estimator_") and search.on_generation is None
    # A finished checkpoint: every generation is yielded again, none retrained.
    again = list(genetic_search(X, y, **settings))

    def dump(runs):  # NaN (no predicted score) compares equal as text
        return json.dumps([rows for rows, _ in runs], sort_keys=True)

    assert dump(again) == dump(first)


def test_make_sweep_estimator_gives_prior_params_to_graph_priors_only():
    from sksparse.experiments import make_sweep_estimator

    params = {"min_in_degree": 3}
    ws = make_sweep_estimator("watts_strogatz", 0.95, prior_params=params)
    uniform = make_sweep_estimator("uniform", 0.95, prior_params=params)
    pruned = make_sweep_estimator("class-blinded", 0.95, prior_params=params)
    assert ws.prior_params == params
    assert uniform.prior is None and uniform.prior_params is None
    assert pruned.estimator.prior_params is None
