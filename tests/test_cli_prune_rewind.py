"""``sksparse prune --rewind``: lottery tickets from the shell."""

import json

import pytest

from sksparse import SparseMLPClassifier
from sksparse.cli import main
from sksparse.datasets import load_digits
from sksparse.experiments import make_sweep_estimator

TINY = ["--n-samples", "150", "--hidden", "8", "--epochs", "2", "--lr", "0.02"]


@pytest.mark.parametrize("rewind, recorded", [("init", "init"), ("1", 1)])
def test_prune_with_rewinding(rewind, recorded, tmp_path):
    argv = ["prune", *TINY, "--method", "class-uniform", "--retrain-epochs", "1"]
    argv += ["--amount", "0.5", "--rewind", rewind, "--no-baseline"]
    assert main([*argv, "--out", str(tmp_path), "-q"]) == 0
    payload = json.loads((tmp_path / "pruning.json").read_text())
    assert payload["meta"]["rewind"] == recorded
    assert payload["rows"][0]["sparsity"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--rewind", "last"], ["--rewind", "init, reinit"]),
        (["--rewind", "-1"], ["--rewind", "K >= 0"]),
        (["--rewind", "5", "--epochs", "2"], ["--rewind 5", "--epochs is 2"]),
    ],
)
def test_bad_rewinds_are_refused_before_any_work(extra, words, tmp_path, capsys):
    assert main(["prune", *extra, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert all(word in err for word in words)
    assert not (tmp_path / "o").exists()


def test_sweep_estimator_rewinds_from_its_own_fit_except_for_reinit():
    X, y, _, _ = load_digits()
    dense = SparseMLPClassifier((8,), max_epochs=1, random_state=0).fit(X, y)
    for rewind in ("init", 2):
        est = make_sweep_estimator("class-blinded", 0.8, dense=dense, rewind=rewind)
        # The weights to rewind to are taken during the run's own fit.
        assert not est.prefit and est.rewind == rewind
        assert est.estimator is not dense and not hasattr(est.estimator, "net_")
    est = make_sweep_estimator("random", 0.8, dense=dense, rewind="reinit")
    assert est.prefit and est.estimator is dense and est.rewind == "reinit"
