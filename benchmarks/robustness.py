"""Bad parameter values against every public estimator, pruner, schedule and callback.

Every parameter each public class declares in ``_parameter_constraints`` is
set, one at a time, to five bad values (a wrong type, nan, inf, -1 and an
unknown string), and the object is then used as a user would: an estimator
is fitted (and, if that succeeds, predicts), a pruner prunes a small
network, a schedule gives its targets, a callback trains a small MLP. Each
probe ends in one of:

``clear``
    ``ValueError`` or ``TypeError`` whose message names the parameter;
``unnamed``
    ``ValueError`` or ``TypeError`` whose message does not name it;
``other``
    any other exception (a deep traceback for the user);
``accepted``
    no error, although the declared constraints refuse the value (a gap);
``valid``
    no error, and the declared constraints allow the value (``-1`` for a
    ``verbose``, ``"no_such_value"`` for a ``module`` attribute name is
    refused later, ...): listed, not counted as a gap;
``non-finite``
    no error, but the predictions hold nan or inf (silently wrong).

Then, for the reliability page's other rows:

- **files**: a saved model (``sksparse.io``, and a joblib pickle for
  comparison) and a search checkpoint with 16 bytes zeroed at each of 35
  evenly spread offsets: how many still load, and how many of those predict
  differently (or resume);
- **forgery**: checkpoints carrying a pickled payload with the checksum
  recomputed (unsigned, zero, another key's and a bare SHA-256 signature):
  how many ran their payload;
- **faults**: a child process rewriting a checkpoint in a loop, killed with
  SIGKILL at 20 moments: how many left a checkpoint that does not read;
- **concurrency**: ``predict_proba`` of one fitted MLP from 16 threads, 48
  calls: how many differ from the single-threaded answer.

Data are tiny and ``max_epochs=1``, so the run takes a few minutes on one
core. Writes ``benchmarks/results/robustness.{json,md,png}`` (the figure:
probe outcomes per class; ``--replot`` redraws it from the JSON file)::

    nice -n 15 python benchmarks/robustness.py
"""

import base64
import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import networkx as nx
import numpy as np
import torch
from sklearn.utils._param_validation import make_constraint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    machine,
    markdown_table,
    pyplot,
    save_figure,
    write_json,
)

BAD = {
    "wrong type": object(),
    "nan": float("nan"),
    "inf": float("inf"),
    "negative": -1,
    "unknown string": "no_such_value",
}
TIMEOUT_S = 60


# -- tiny data ------------------------------------------------------------------
def _tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


def _images():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 1, 6, 6)).astype(np.float32)
    return X, (X[:, 0, :3].mean(axis=(1, 2)) > 0).astype(np.int64)


def _sequences():
    rng = np.random.default_rng(0)
    X = rng.integers(1, 5, size=(32, 6))
    return X, (X[:, 0] > 2).astype(np.int64)


def _graphs():
    graphs = [
        nx.gnp_random_graph(8, 0.2 + 0.05 * i, seed=i, directed=True) for i in range(10)
    ]
    return graphs, np.linspace(0.0, 1.0, len(graphs))


def _mlp(**params):
    from sksparse import SparseMLPClassifier

    base = dict(hidden_layer_sizes=(8,), max_epochs=1, batch_size=16, random_state=0)
    return SparseMLPClassifier(**{**base, **params})


# -- what each class is, and how it is used ---------------------------------------
def _subjects():
    from sklearn.tree import DecisionTreeClassifier

    import sksparse
    from sksparse import pruning

    tab, img, seq, gra = _tabular(), _images(), _sequences(), _graphs()

    def fit_predict(make, data):
        def use(obj):
            obj.fit(*data)
            return obj.predict(data[0])

        return make, use

    def transform(make, data):
        def use(obj):
            return obj.fit(data[0]).transform(data[0])

        return make, use

    def via_mlp(make, **mlp):
        def use(obj):
            est = _mlp(callbacks=[obj], **mlp).fit(*tab)
            return est.predict(tab[0])

        return make, use

    def pruner(make):
        def use(obj):
            module = sksparse.nn.SparseMLP(6, (8,), 2)
            obj.prune(module)
            return torch.cat(
                [p.detach().flatten() for p in module.parameters()]
            ).numpy()

        return make, use

    def schedule(make):
        def use(obj):
            return np.asarray(obj.targets(0.8) + obj.epochs(0.8), dtype=float)

        return make, use

    def pruning_callback():
        # ``schedule`` goes through the callback: its epochs meet a real fit.
        def use(obj):
            est = _mlp(callbacks=[obj], max_epochs=2).fit(*tab)
            return est.predict(tab[0])

        return lambda: pruning.Pruning(pruning.MagnitudePruner(0.5)), use

    tree = DecisionTreeClassifier(random_state=0)
    return {
        "SparseMLPClassifier": fit_predict(_mlp, tab),
        "SparseMLPRegressor": fit_predict(
            lambda: sksparse.SparseMLPRegressor(
                hidden_layer_sizes=(8,), max_epochs=1, batch_size=16, random_state=0
            ),
            (tab[0], tab[0][:, 0]),
        ),
        "SparseCNNClassifier": fit_predict(
            lambda: sksparse.SparseCNNClassifier(
                channels=(2,), hidden_layer_sizes=(8,), max_epochs=1, random_state=0
            ),
            img,
        ),
        "GraphPriorRNNClassifier": fit_predict(
            lambda: sksparse.GraphPriorRNNClassifier(
                hidden_size=4, max_epochs=1, random_state=0
            ),
            seq,
        ),
        "PrunedEstimator": fit_predict(
            lambda: sksparse.PrunedEstimator(_mlp(), retrain_epochs=1), tab
        ),
        "SparseFeatureSelector": transform(
            lambda: sksparse.SparseFeatureSelector(_mlp(sparsity=0.5)), tab
        ),
        "GeneticSearchCV": fit_predict(
            lambda: sksparse.GeneticSearchCV(
                tree,
                {"max_depth": [1, 2, 3]},
                population_size=2,
                generations=1,
                cv=2,
                random_state=0,
            ),
            tab,
        ),
        "GraphFeatures": transform(lambda: sksparse.GraphFeatures(), gra),
        "StructuralRegressor": fit_predict(
            lambda: sksparse.StructuralRegressor(random_state=0), gra
        ),
        "MagnitudePruner": pruner(pruning.MagnitudePruner),
        "RandomPruner": pruner(lambda: pruning.RandomPruner(random_state=0)),
        "OneShot": schedule(pruning.OneShot),
        "Iterative": schedule(pruning.Iterative),
        "Gradual": schedule(pruning.Gradual),
        "Pruning": pruning_callback(),
        "SET": via_mlp(lambda: pruning.SET(update_every=1), sparsity=0.5),
        "RigL": via_mlp(lambda: pruning.RigL(update_every=1), sparsity=0.5),
    }


# -- one probe ------------------------------------------------------------------
class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def _declared_valid(constraints, value):
    try:
        return any(make_constraint(c).is_satisfied_by(value) for c in constraints)
    except Exception:  # noqa: BLE001 - a constraint that cannot judge the value
        return False


def _names(message, param):
    return re.search(rf"(?<![\w]){re.escape(param)}(?![\w])", message) is not None


def probe(make, use, param, value, constraints):
    obj = make()
    start = time.perf_counter()
    signal.alarm(TIMEOUT_S)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            obj.set_params(**{param: value})
            out = use(obj)
    except _Timeout:
        outcome, message = "other", f"no answer in {TIMEOUT_S} s"
    except (ValueError, TypeError) as exc:
        message = f"{type(exc).__name__}: {exc}"
        outcome = "clear" if _names(str(exc), param) else "unnamed"
    except Exception as exc:  # noqa: BLE001 - what the probe is for
        outcome, message = "other", f"{type(exc).__name__}: {exc}"
    else:
        message = ""
        values = np.asarray(out)
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            outcome = "non-finite"
        elif _declared_valid(constraints, value):
            outcome = "valid"
        else:
            outcome = "accepted"
    finally:
        signal.alarm(0)
    return (
        outcome,
        message.splitlines()[0][:200] if message else "",
        time.perf_counter() - start,
    )


# -- files, forgery, faults, concurrency ------------------------------------------
N_DAMAGE, N_KILLS = 35, 20


def _damaged(path, out, k):
    """``path`` with 16 bytes zeroed at the k-th of N_DAMAGE spread offsets."""
    raw = bytearray(path.read_bytes())
    at = int(k * (len(raw) - 16) / (N_DAMAGE - 1))
    raw[at : at + 16] = bytes(16)
    out.write_bytes(bytes(raw))
    return out


def _probe_files(folder):
    import joblib

    import sksparse.io

    X, y = _tabular()
    est = _mlp(sparsity=0.5, prior="watts_strogatz", max_epochs=3).fit(X, y)
    expected = est.predict_proba(X)
    result = {}
    for name, suffix, save, load in [
        ("sksparse.io", ".sksparse", sksparse.io.save, sksparse.io.load),
        ("joblib", ".joblib", lambda e, p: joblib.dump(e, p), joblib.load),
    ]:
        path = folder / f"model{suffix}"
        save(est, path)
        loaded = differ = 0
        for k in range(N_DAMAGE):
            bad = _damaged(path, folder / f"bad{suffix}", k)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    copy = load(bad)
                out = copy.predict_proba(X)
            except Exception:  # noqa: BLE001 - refused, whatever the error
                continue
            loaded += 1
            differ += not np.array_equal(out, expected)
        result[name] = {
            "damaged": N_DAMAGE,
            "loaded": loaded,
            "predict_differently": differ,
        }
    return result


def _probe_checkpoints(folder):
    from sksparse.search._checkpoint import read_checkpoint, write_checkpoint
    from sksparse.search._codec import sign

    fingerprint = {"data": "abc"}
    state = {"generation": 2, "rows": [{"key": (("lr", 0.1),), "fitness": 0.5}] * 20}
    path = folder / "search.json"
    write_checkpoint(path, state, fingerprint)
    read_back = 0
    for k in range(N_DAMAGE):
        bad = _damaged(path, folder / "bad.json", k)
        try:
            read_checkpoint(bad, fingerprint)
            read_back += 1
        except ValueError:
            pass
    flag = folder / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(flag), "w"))

    signatures = {
        "unsigned": lambda text: None,
        "zeros": lambda text: "0" * 64,
        "other key": lambda text: sign(text, bytes(32)),
        "sha256": lambda text: hashlib.sha256(text.encode()).hexdigest(),
    }
    ran = 0
    for forge in signatures.values():
        write_checkpoint(path, state, fingerprint)
        envelope = json.loads(path.read_text())
        inner = json.loads(envelope["state"])
        inner["payload"] = {
            "__pickle__": base64.b64encode(pickle.dumps(Payload())).decode()
        }
        text = json.dumps(inner)
        envelope.update(
            state=text,
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            signature=forge(text),
        )
        path.write_text(json.dumps(envelope))
        with contextlib.suppress(ValueError):
            read_checkpoint(path, fingerprint)
        ran += flag.exists()
        with contextlib.suppress(FileNotFoundError):
            flag.unlink()
    old = folder / "old.pkl"
    old.write_bytes(pickle.dumps({"version": 1, "state": pickle.dumps(Payload())}))
    with contextlib.suppress(ValueError):
        read_checkpoint(old, fingerprint)
    return {
        "damaged": N_DAMAGE,
        "read_back": read_back,
        "forged": len(signatures),
        "forged_ran": ran,
        "old_pickle_ran": flag.exists(),
    }


_WRITER = """
import sys
from sksparse.search._checkpoint import write_checkpoint
state = {"rows": [{"key": ("x", i), "fitness": i / 7} for i in range(4000)]}
print("ready", flush=True)
i = 0
while True:
    state["generation"] = i
    write_checkpoint(sys.argv[1], state, {"data": "abc"})
    i += 1
"""


def _probe_kills(folder):
    from sksparse.search._checkpoint import read_checkpoint

    rng = np.random.default_rng(0)
    path = folder / "killed.json"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    unreadable = 0
    generations = []
    for _ in range(N_KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        child.stdout.readline()
        time.sleep(0.05 + float(rng.uniform(0, 0.3)))
        child.kill()
        child.wait()
        child.stdout.close()
        if not path.exists():
            continue
        try:
            generations.append(read_checkpoint(path, {"data": "abc"})["generation"])
        except ValueError:
            unreadable += 1
    return {"kills": N_KILLS, "unreadable": unreadable, "generations": generations}


def _probe_threads():
    X, y = _tabular()
    est = _mlp(max_epochs=3).fit(X, y)
    expected = est.predict_proba(X)
    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda _: est.predict_proba(X), range(48)))
    return {
        "threads": 16,
        "calls": len(outs),
        "differ": sum(not np.array_equal(o, expected) for o in outs),
    }


OUTCOMES = ["clear", "unnamed", "other", "accepted", "non-finite", "valid"]


def plot(per_class, path):
    """Probe outcomes per class, stacked: anything but clear or valid is a gap."""
    plt = pyplot()
    names = list(per_class)
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(names) + 1.4))
    colors = dict(zip(OUTCOMES, ["C2", "C1", "C3", "C4", "C5", "C7"]))
    left = [0] * len(names)
    for outcome in OUTCOMES:
        counts = [per_class[n][outcome] for n in names]
        ax.barh(names, counts, left=left, color=colors[outcome], label=outcome)
        left = [a + b for a, b in zip(left, counts)]
    ax.invert_yaxis()
    ax.set_xlabel("probes (parameters x 5 bad values)")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    ax.set_title("Bad parameter values: how each class answers")
    save_figure(fig, path)


def main():
    if sys.argv[1:] == ["--replot"]:
        payload = json.loads((RESULTS / "robustness.json").read_text())
        plot(payload["per_class"], RESULTS / "robustness.png")
        return
    torch.set_num_threads(1)
    signal.signal(signal.SIGALRM, _alarm)
    subjects = _subjects()
    only = sys.argv[1:]  # class names: a quick look, nothing written
    if only:
        subjects = {k: v for k, v in subjects.items() if k in only}
    rows, started = [], time.perf_counter()
    where = machine()  # here: git reads the repository's HEAD
    home = Path.cwd()
    scratch = tempfile.TemporaryDirectory()
    # Probes write files (a checkpoint named "no_such_value"): not here.
    os.chdir(scratch.name)
    os.environ["XDG_CONFIG_HOME"] = str(Path(scratch.name) / "config")
    for name, (make, use) in subjects.items():
        constraints = type(make())._parameter_constraints
        for param, declared in constraints.items():
            for kind, value in BAD.items():
                outcome, message, seconds = probe(make, use, param, value, declared)
                rows.append(
                    {
                        "class": name,
                        "param": param,
                        "bad": kind,
                        "outcome": outcome,
                        "message": message,
                        "seconds": round(seconds, 3),
                    }
                )
            print(
                f"{name}.{param}: {[r['outcome'] for r in rows[-len(BAD):]]}",
                flush=True,
            )
    outcomes = OUTCOMES
    totals = {o: sum(r["outcome"] == o for r in rows) for o in outcomes}
    per_class = {
        name: {
            o: sum(r["outcome"] == o for r in rows if r["class"] == name)
            for o in outcomes
        }
        for name in subjects
    }
    payload = {
        "machine": where,
        "seconds": round(time.perf_counter() - started, 1),
        "n_classes": len(subjects),
        "n_params": len({(r["class"], r["param"]) for r in rows}),
        "n_probes": len(rows),
        "totals": totals,
        "per_class": per_class,
        "probes": rows,
    }
    if only:
        return
    folder = Path(scratch.name)
    payload["files"] = _probe_files(folder)
    payload["checkpoints"] = _probe_checkpoints(folder)
    payload["kills"] = _probe_kills(folder)
    payload["threads"] = _probe_threads()
    os.chdir(home)
    scratch.cleanup()
    payload["seconds"] = round(time.perf_counter() - started, 1)
    write_json("robustness.json", payload)
    plot(per_class, RESULTS / "robustness.png")

    table = markdown_table(
        ["class", *outcomes],
        [[name, *(counts[o] for o in outcomes)] for name, counts in per_class.items()]
        + [["**all**", *(f"**{totals[o]}**" for o in outcomes)]],
    )
    gaps = [r for r in rows if r["outcome"] not in ("clear", "valid")]
    gap_table = markdown_table(
        ["class", "param", "bad value", "outcome", "message"],
        [
            [
                r["class"],
                r["param"],
                r["bad"],
                r["outcome"],
                r["message"].replace("|", "/"),
            ]
            for r in gaps
        ],
    )
    valid = [r for r in rows if r["outcome"] == "valid"]
    valid_table = markdown_table(
        ["class", "param", "value"], [[r["class"], r["param"], r["bad"]] for r in valid]
    )
    m = payload["machine"]
    f, c, k, t = (payload[key] for key in ("files", "checkpoints", "kills", "threads"))
    files_table = markdown_table(
        ["file", "damaged copies", "loaded", "loaded and predict differently"],
        [
            [name, r["damaged"], r["loaded"], r["predict_differently"]]
            for name, r in f.items()
        ]
        + [["search checkpoint", c["damaged"], c["read_back"], "-"]],
    )
    text = f"""# Bad parameter values (benchmarks/robustness.py)

{payload['n_probes']} probes: {payload['n_params']} parameters of {payload['n_classes']}
public classes, each set to {len(BAD)} bad values ({', '.join(BAD)}), then used
(fitted and predicting, pruning, giving targets, training a small MLP).
{totals['clear']} ended in a ValueError/TypeError naming the parameter,
{totals['unnamed']} in one that does not name it, {totals['other']} in another
exception, {totals['accepted']} were accepted although the declared constraints
refuse them and {totals['non-finite']} predicted nan/inf; {totals['valid']} are
values the constraints allow (listed below).

Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {payload['seconds']} s.
Command: `{m['command']}` (git {m['git']}).

{table}

## Files, forgery, faults, concurrency

16 bytes zeroed at {N_DAMAGE} evenly spread offsets of each file:

{files_table}

Forged checkpoints (pickled payload, checksum recomputed; unsigned, zero,
another key's and a SHA-256 signature): {c['forged_ran']} of {c['forged']} ran
their payload; an old pickled checkpoint with a payload ran it:
{c['old_pickle_ran']}.

A child rewriting a checkpoint in a loop, killed with SIGKILL {k['kills']}
times at random moments: {k['unreadable']} left a checkpoint that does not read
(the others read back generation {min(k['generations'], default='-')} to
{max(k['generations'], default='-')}).

`predict_proba` of one fitted MLP from {t['threads']} threads, {t['calls']}
calls: {t['differ']} differ from the single-threaded answer.

## Every probe that did not end in a clear error

{gap_table if gaps else "None."}

## Values the declared constraints allow

{valid_table if valid else "None."}
"""
    (RESULTS / "robustness.md").write_text(text)
    print(table)


if __name__ == "__main__":
    main()
