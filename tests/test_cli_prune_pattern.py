"""``sksparse prune --pattern``: structured masks from the shell."""

import json

import pytest

from sksparse.cli import main
from sksparse.experiments import make_sweep_estimator

TINY = ["--n-samples", "150", "--hidden", "8", "--epochs", "2", "--lr", "0.02"]


def test_prune_with_blocks_and_n_m(tmp_path):
    argv = ["prune", *TINY, "--method", "class-blinded", "--retrain-epochs", "1"]
    argv += ["--amount", "0.75", "--pattern", "1:4", "--no-baseline"]
    assert main([*argv, "--out", str(tmp_path), "-q"]) == 0
    payload = json.loads((tmp_path / "pruning.json").read_text())
    assert payload["meta"]["pattern"] == "1:4"
    assert payload["rows"][0]["sparsity"] == pytest.approx(0.75, abs=0.01)
    argv[argv.index("1:4")] = "2x4"
    assert main([*argv, "--out", str(tmp_path / "b"), "-q"]) == 0
    meta = json.loads((tmp_path / "b" / "pruning.json").read_text())["meta"]
    assert meta["pattern"] == [2, 4]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--pattern", "4:2"], ["--pattern", "N:M"]),
        (["--pattern", "4xa"], ["--pattern", "RxC"]),
        (["--pattern", "2:4", "--method", "random"], ["--pattern works", "random"]),
    ],
)
def test_bad_patterns_are_refused_before_any_work(extra, words, tmp_path, capsys):
    assert main(["prune", *extra, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert all(word in err for word in words)
    assert not (tmp_path / "o").exists()


def test_sweep_estimator_takes_a_pattern_for_magnitude_methods_only():
    est = make_sweep_estimator("class-uniform", 0.9, pattern=(4, 4))
    assert est.pruner.pattern == (4, 4) and est.pruner.scope == "class-uniform"
    with pytest.raises(ValueError, match="class-blinded and class-uniform"):
        make_sweep_estimator("class-distributed", 0.9, pattern="2:4")
