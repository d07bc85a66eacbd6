"""The ``sksparse`` command, driven as a user drives it, on tiny data.

Each subprocess pays for importing torch (seconds on a loaded machine), so
the subprocess tests are few and share their runs through module-scoped
fixtures; the other subcommands and error paths run in-process through
``main(argv)``, which is the same code behind the same parser.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import networkx as nx
import numpy as np
import pytest
import torch

from sksparse.cli import main
from sksparse.datasets import load_digits

TINY_MLP = ["--hidden", "8", "--batch-size", "64", "-q"]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop("PYTHONWARNINGS", None)
    return env


def run_cli(*args, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "sksparse", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def read_rows(path):
    payload = json.loads(path.read_text())
    return payload["rows"]


def csv_rows(path):
    lines = path.read_text().strip().splitlines()
    return lines[0].split(","), lines[1:]


# -- subprocess: the real command -----------------------------------------------
class Background:
    """``python -m sksparse ARGS`` started at once, its result awaited later.

    The subprocesses spend most of their time importing torch: started when
    the module's tests begin, they run while the in-process tests do.
    ``interrupt_when`` (a callable) is polled from a thread; once it is true,
    the process gets SIGINT, as a user's Ctrl-C.
    """

    def __init__(self, *args, interrupt_when=None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sksparse", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        self.interrupted = False
        self.watcher = None
        if interrupt_when is not None:
            self.watcher = threading.Thread(
                target=self._watch, args=(interrupt_when,), daemon=True
            )
            self.watcher.start()

    def _watch(self, condition):
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and self.process.poll() is None:
            if condition():
                self.process.send_signal(signal.SIGINT)
                self.interrupted = True
                return
            time.sleep(0.05)

    def result(self, timeout=300):
        stdout, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stdout, stderr

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


N_AMOUNTS = 9


@pytest.fixture(scope="module", autouse=True)
def background(tmp_path_factory):
    demo_out = tmp_path_factory.mktemp("demo")
    prune_out = tmp_path_factory.mktemp("prune")
    csv_path = prune_out / "pruning.csv"

    def two_runs_finished():
        return csv_path.exists() and len(csv_path.read_text().splitlines()) >= 3

    runs = {
        "demo": (
            Background(
                "demo", "--n-samples", 150, "--epochs", 2, "--sparsities", 0.9,
                "--hidden", 8, "--out", demo_out,
            ),
            demo_out,
        ),
        # Stopped with Ctrl-C (SIGINT) once two of its runs have finished.
        "prune": (
            Background(
                "prune", "--n-samples", 200, "--epochs", 10, "--retrain-epochs", 10,
                "--amount", *[round(0.1 * k, 1) for k in range(1, N_AMOUNTS + 1)],
                "--save-models", "--out", prune_out, "--seed", 1, "--device", "cpu",
                "--n-jobs", 1, *TINY_MLP,
                interrupt_when=two_runs_finished,
            ),
            prune_out,
        ),
    }  # fmt: skip
    yield runs
    for process, _ in runs.values():
        process.kill()


def test_bad_argument_is_one_line_exit_2_without_traceback():
    result = run_cli("prune", "--amount", "1.5")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--amount" in lines[0] and "Traceback" not in result.stderr


# -- in-process: the same parser and code ----------------------------------------
def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("demo", "prune", "rnn-structure", "search", "report", "graph"):
        assert command in text


@pytest.mark.parametrize("command", ["demo", "prune", "rnn-structure", "search"])
def test_seed_device_and_n_jobs_everywhere(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--seed", "--device", "--n-jobs", "--out"):
        assert option in text


@pytest.mark.parametrize(
    "argv, words",
    [
        (["prune", "--method", "magnitude"], ["--method", "invalid choice"]),
        (["prune", "--hidden", "a,b"], ["--hidden", "300,100"]),
        (["prune", "--epochs", "0"], ["--epochs", ">= 1"]),
        (["demo", "--device", "gpu"], ["--device", "cuda"]),
        (["search", "--screen-ratio", "0"], ["--screen-ratio"]),
        # An existing file as MODEL, so that the missing -o is the error.
        (["graph", __file__], ["-o/--output", "required"]),
        (["rnn-structure", "--cells", "transformer"], ["--cells"]),
    ],
)
def test_argument_errors_name_the_argument(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err


def test_missing_files_and_bad_models_are_one_line_errors(tmp_path, capsys):
    assert main(["prune", "--data", str(tmp_path / "none.npz"), "-q"]) == 2
    assert "neither one of digits" in capsys.readouterr().err
    not_a_model = tmp_path / "model.joblib"
    not_a_model.write_text("hello")
    assert main(["report", str(not_a_model), "--trust-pickle"]) == 2
    err = capsys.readouterr().err
    assert "not a model saved with joblib.dump" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["graph", str(tmp_path / "nope.joblib"), "-o", "g.graphml"]) == 2
    assert "nope.joblib': no such file" in capsys.readouterr().err


def test_progress_bar_on_a_terminal_only(tmp_path, capsys, monkeypatch):
    argv = ["prune", "--n-samples", "60", "--epochs", "1", "--retrain-epochs", "1"]
    argv += ["--amount", "0.5", "--hidden", "4", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "%|" not in capsys.readouterr().err  # a pipe or a log: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "prune:" in err and "100%|" in err and "2/2" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_one_line_error(capsys):
    assert main(["demo", "--device", "cuda", "--n-samples", "50", "-q"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "CUDA is not available" in err


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """digits as the two file formats ``--data PATH`` reads."""
    folder = tmp_path_factory.mktemp("data")
    X, y, X_test, y_test = load_digits(n_samples=120)
    np.savez(folder / "digits.npz", X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    header = ",".join([f"p{i}" for i in range(X.shape[1])] + ["label", "split"])
    lines = [header]
    for data, labels, split in ((X, y, "train"), (X_test, y_test, "test")):
        for x, label in zip(data, labels):
            lines.append(",".join([*(f"{v:g}" for v in x), str(label), split]))
    (folder / "digits.csv").write_text("\n".join(lines) + "\n")
    return folder, len(X_test)


@pytest.mark.parametrize("name", ["digits.npz", "digits.csv"])
def test_prune_reads_npz_and_csv_files(name, digits_files, tmp_path, capsys):
    folder, n_test = digits_files
    argv = ["prune", "--data", str(folder / name), "--method", "class-uniform"]
    argv += ["--amount", "0.5", "--epochs", "1", "--retrain-epochs", "1"]
    assert main([*argv, "--out", str(tmp_path), *TINY_MLP]) == 0
    rows = read_rows(tmp_path / "pruning.json")
    assert [row["method"] for row in rows] == ["dense", "class-uniform"]
    assert rows[1]["sparsity"] == pytest.approx(0.5, abs=0.01)
    meta = json.loads((tmp_path / "pruning.json").read_text())["meta"]
    assert meta["data"].endswith(name) and meta["amount"] == [0.5]


def test_rnn_structure_trains_a_population_and_predicts(tmp_path, capsys):
    pytest.importorskip("sksparse.estimators._structure")
    argv = ["rnn-structure", "--cells", "gru", "rnn", "--n-networks", "4"]
    argv += ["--hidden-sizes", "3", "4", "--n-samples", "60", "--max-length", "10"]
    argv += ["--epochs", "1", "--no-early-stopping", "--cv", "2"]
    argv += ["--out", str(tmp_path), "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = read_rows(tmp_path / "networks.json")
    assert [row["cell"] for row in rows] == ["gru"] * 4 + ["rnn"] * 4
    assert {row["prior"] for row in rows} == {
        "erdos_renyi",
        "watts_strogatz",
        "barabasi_albert",
    }
    assert all(np.isfinite(row["predicted_accuracy"]) for row in rows)
    assert {row["hidden_size"] for row in rows} <= {3, 4}
    metrics = read_rows(tmp_path / "prediction.json")
    assert [m["group"] for m in metrics] == ["gru", "rnn", "all"]
    assert "predicted from structure alone" in out
    for png in ("structure.png", "predicted_vs_true.png"):
        assert (tmp_path / png).exists()


def test_search_writes_generations_and_resumes(tmp_path, capsys):
    argv = ["search", "--n-samples", "120", "--population-size", "3"]
    argv += ["--cv", "2", "--epochs", "1", "--max-units", "8", "--max-layers", "1"]
    argv += ["--predictor", "structural", "--out", str(tmp_path), "-q"]
    assert main([*argv, "--generations", "1"]) == 0
    first = read_rows(tmp_path / "individuals.json")
    assert {row["generation"] for row in first} == {0} and len(first) == 3
    assert (tmp_path / "best_model.joblib").exists()
    assert (tmp_path / "search_progress.png").exists()
    capsys.readouterr()
    # The same command with more generations resumes from the checkpoint.
    assert main([*argv, "--generations", "2"]) == 0
    rows = read_rows(tmp_path / "individuals.json")
    assert [row["generation"] for row in rows[:3]] == [0, 0, 0]
    assert rows[:3] == first
    assert {row["generation"] for row in rows[3:]} == {1}
    # The predictor screened the second generation: one trained, one predicted.
    assert sorted(row["trained"] for row in rows[3:]) == [False, True]
    assert "best:" in capsys.readouterr().out
    # Other settings do not resume a checkpoint they did not write.
    assert main([*argv, "--generations", "2", "--population-size", "4"]) == 2
    assert "--restart" in capsys.readouterr().err


# -- the background runs, awaited last ------------------------------------------
@pytest.fixture(scope="module")
def demo_run(background):
    process, out = background["demo"]
    return process.result(), out


def test_demo_writes_json_csv_png_and_prints_a_table(demo_run):
    (code, stdout, stderr), out = demo_run
    assert code == 0, stderr
    rows = read_rows(out / "results.json")
    methods = [row["method"] for row in rows]
    assert methods == [
        "dense",
        "uniform",
        "watts_strogatz",
        "barabasi_albert",
        "class-blinded",
    ]
    assert all(0 <= row["accuracy"] <= 1 for row in rows)
    assert [round(row["sparsity"], 2) for row in rows[1:]] == [0.9] * 4
    header, lines = csv_rows(out / "results.csv")
    assert {"method", "sparsity", "accuracy", "fit_seconds"} <= set(header)
    assert len(lines) == 5
    assert (out / "accuracy_vs_compression.png").stat().st_size > 10_000
    # The summary table at the end, then where the files are.
    assert "method" in stdout and "accuracy" in stdout
    assert "barabasi_albert" in stdout
    assert f"wrote {out / 'results.csv'}" in stdout
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def interrupted_prune(background):
    process, out = background["prune"]
    code, stdout, stderr = process.result()
    assert process.interrupted, "the run ended before it could be interrupted"
    return code, stdout, stderr, out, N_AMOUNTS + 1


def test_ctrl_c_keeps_finished_results_and_exits_130(interrupted_prune):
    code, stdout, stderr, out, n_runs = interrupted_prune
    assert code == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    rows = read_rows(out / "pruning.json")
    assert 2 <= len(rows) < n_runs
    # Every row kept is a finished run: the network was tested and saved.
    for row in rows:
        assert set(row) >= {"method", "sparsity", "accuracy", "model"}
        assert os.path.exists(row["model"])
    assert rows[0]["method"] == "dense"
    _, lines = csv_rows(out / "pruning.csv")
    assert len(lines) == len(rows)
    assert (out / "accuracy_vs_compression.png").exists()
    assert "dense" in stdout  # the summary table of what finished


@pytest.fixture(scope="module")
def pruned_model(interrupted_prune):
    out = interrupted_prune[3]
    return read_rows(out / "pruning.json")[1]["model"]


def test_report_prints_compression_and_structure(pruned_model, tmp_path, capsys):
    argv = ["report", pruned_model, "--trust-pickle", "--data", "digits"]
    argv += ["--n-samples", "100"]
    assert main([*argv, "--out", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["model"] == "PrunedEstimator"
    assert [layer["size"] for layer in report["layers"]] == [8 * 64, 10 * 8]
    assert 0 < report["layers"][0]["sparsity"] < 1
    compression = report["compression"]
    assert compression["size"] > compression["size_nz"]
    assert compression["measured_speedup"] > 0  # timed on the test samples
    assert 0 <= report["test_accuracy"] <= 1
    assert report["structure"]["number_of_nodes"] == 64 + 8 + 10
    for word in ("compression_ratio", "theoretical_speedup", "number_of_edges"):
        assert word in out
    header, lines = csv_rows(tmp_path / "layers.csv")
    assert header[:2] == ["layer", "shape"] and len(lines) == 2
    assert (tmp_path / "structure.png").exists()


def test_graph_exports_the_kept_connections(pruned_model, tmp_path, capsys):
    from sksparse.experiments import load_model
    from sksparse.graphs import network_to_graph

    path = tmp_path / "net.graphml"
    assert main(["graph", pruned_model, "-o", str(path), "--trust-pickle"]) == 0
    assert "neurons" in capsys.readouterr().out
    written = nx.read_graphml(path)
    expected = network_to_graph(load_model(pruned_model))
    assert written.number_of_nodes() == expected.number_of_nodes()
    assert written.number_of_edges() == expected.number_of_edges()
    assert main(["graph", pruned_model, "-o", str(tmp_path / "net.png")]) == 2
    assert ".graphml" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_report_and_graph_read_a_compressed_model(kind, tmp_path, capsys):
    import joblib

    from sksparse import SparseCNNClassifier, SparseMLPClassifier
    from sksparse.graphs import network_to_graph

    X, y, _, _ = load_digits()
    if kind == "mlp":
        model = SparseMLPClassifier((16,), sparsity=0.8, max_epochs=1, random_state=0)
    else:
        model = SparseCNNClassifier(
            channels=(4, 8),
            hidden_layer_sizes=(16,),
            sparsity=0.8,
            max_epochs=1,
            random_state=0,
        )
    small = model.fit(X[:300], y[:300]).compress()
    path = tmp_path / "small.joblib"
    joblib.dump(small, path)
    argv = ["report", str(path), "--trust-pickle", "--out", str(tmp_path / "r")]
    assert main([*argv, "--data", "digits", "--n-samples", "100", "-q"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    compression = report["compression"]
    assert "error" not in compression
    assert compression["size_nz"] < compression["size"]
    rows = report["layers"]
    assert len(rows) == len(
        small.module_.compact_layers if kind == "cnn" else small.module_.layers
    )
    assert all(row["size_nz"] <= row["size"] for row in rows)
    assert (tmp_path / "r" / "structure.png").exists()
    graph_file = tmp_path / "small.graphml"
    assert main(["graph", str(path), "-o", str(graph_file), "--trust-pickle"]) == 0
    written = nx.read_graphml(graph_file)
    expected = network_to_graph(small)
    assert written.number_of_edges() == expected.number_of_edges() > 0
    assert report["structure"]["number_of_edges"] == expected.number_of_edges()


@pytest.mark.parametrize("plain", [False, True])
def test_demo_draws_priors_with_their_floor_unless_asked_not_to(
    plain, monkeypatch, tmp_path
):
    import sksparse.experiments
    from sksparse.cli.demo import PRIOR_PARAMS

    seen = {}

    def fake_sweep(*args, **kwargs):
        seen.update(kwargs)
        return iter(())

    monkeypatch.setattr(sksparse.experiments, "sparsity_sweep", fake_sweep)
    argv = ["demo", "--n-samples", "50", "-q", "--out", str(tmp_path)]
    main(argv + ["--plain-priors"] * plain)
    assert seen["prior_params"] == (None if plain else PRIOR_PARAMS)
    assert "watts_strogatz" in seen["methods"]
