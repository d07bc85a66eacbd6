"""``sksparse sensitivity``: checked arguments, one row per layer and amount, a plot."""

import json

import pytest

from sksparse.cli import main

TINY = ["--n-samples", "150", "--hidden", "8", "--epochs", "3", "--lr", "0.02"]


def test_sensitivity_writes_a_row_per_layer_and_amount(tmp_path, capsys):
    argv = ["sensitivity", *TINY, "--amount", "0", "0.5", "0.99"]
    assert main([*argv, "--out", str(tmp_path), "-q"]) == 0
    payload = json.loads((tmp_path / "sensitivity.json").read_text())
    rows = payload["rows"]
    assert [(r["layer"], r["amount"]) for r in rows] == [
        (layer, amount)
        for layer in ("layers.0.weight", "layers.2.weight")
        for amount in (0.0, 0.5, 0.99)
    ]
    by_layer = {}
    for row in rows:
        by_layer.setdefault(row["layer"], []).append(row["score"])
    # Amount 0 scores the one fitted network: the same for every layer.
    assert len({scores[0] for scores in by_layer.values()}) == 1
    # 99 % of the output layer gone costs more than half of it.
    assert by_layer["layers.2.weight"][2] < by_layer["layers.2.weight"][1]
    assert payload["meta"]["amount"] == [0.0, 0.5, 0.99]
    header = (tmp_path / "sensitivity.csv").read_text().splitlines()[0]
    assert header == "layer,amount,score"
    assert (tmp_path / "sensitivity.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "layers.0.weight" in out and "wrote" in out


def test_sensitivity_of_chosen_layers_without_a_plot(tmp_path):
    argv = ["sensitivity", *TINY, "--amount", "0.9", "--layer", "1", "--no-plot"]
    argv += ["--pruner", "random", "--retrain-epochs", "1"]
    assert main([*argv, "--out", str(tmp_path), "-q"]) == 0
    rows = json.loads((tmp_path / "sensitivity.json").read_text())["rows"]
    assert [(r["layer"], r["amount"]) for r in rows] == [("layers.2.weight", 0.9)]
    assert not (tmp_path / "sensitivity.png").exists()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--amount", "0.9", "0.5"], ["--amount must be increasing"]),
        (["--amount", "1.0"], ["--amount", "[0, 1)"]),
        (["--layer", "2"], ["--layer 2", "2 layers, 0 to 1"]),
        (["--layer", "0", "0"], ["--layer names a layer twice"]),
        (["--pruner", "taylor"], ["--pruner", "invalid choice"]),
    ],
)
def test_bad_arguments_are_refused_before_any_work(extra, words, tmp_path, capsys):
    argv = ["sensitivity", "--hidden", "8", *extra, "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err
    # Nothing was fitted or written.
    assert not (tmp_path / "o").exists()
