"""One generation of a genetic search: breed, screen, train, record.

:class:`Generation` holds what stays fixed over a whole ``fit`` (the search,
its parameter space, the data and splits, the scorers, the joblib pool and
the random generator), so each step takes only the search state it changes.
"""

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning

from sksparse.search._operators import elite_indices, tournament_select
from sksparse.search._predictor import candidate_graph
from sksparse.search._space import ParamSpace
from sksparse.search._workers import (
    _failure_summary,
    _fit_and_score_checked,
    _probe_fit,
)

__all__ = ["Generation", "GenerationRecord"]


@dataclass(frozen=True)
class GenerationRecord:
    """What ``GeneticSearchCV(on_generation=...)`` is told after a generation.

    Attributes
    ----------
    index : int
        The generation that finished, 0 for the random initial one.
    population : tuple of int
        Rows of ``cv_results`` in the population the next generation breeds
        from.
    scores : tuple of float
        Fitness of each member of ``population`` (its mean cross-validated
        score, or its predicted score if it was not trained).
    best_score : float
        Best fitness of a trained individual so far (NaN if none).
    cv_results : dict of numpy arrays
        ``cv_results_`` of every individual evaluated so far, as the search
        will report it; a fresh copy for each record.
    """

    index: int
    population: tuple
    scores: tuple
    best_score: float
    cv_results: dict

    @classmethod
    def from_state(cls, state, cv_results):
        """The record of the generation ``state`` has just finished."""
        rows = state["rows"]
        trained = [r["fitness"] for r in rows if r["trained"]]
        finite = [f for f in trained if np.isfinite(f)]
        return cls(
            index=state["generation"] - 1,
            population=tuple(int(m["row"]) for m in state["population"]),
            scores=tuple(float(m["fitness"]) for m in state["population"]),
            best_score=float(max(finite)) if finite else np.nan,
            cv_results=cv_results,
        )


@dataclass
class Generation:
    """The fixed context of a search's generations; ``run(state)`` runs one.

    ``state`` is the checkpointed dict (``generation``, ``rows``,
    ``population``, ``graphs``, ``curves``, ``rng_state``); every step
    updates it in place.
    """

    search: Any
    space: ParamSpace
    X: Any
    y: Any
    splits: list
    scorers: Any
    fit_params: dict
    metric: str
    parallel: Parallel
    probe_scorer: Any
    rng: np.random.Generator

    def fitness_of(self, out_rows):
        scores = []
        for out in out_rows:
            ts = out["test_scores"]
            scores.append(ts[self.metric] if isinstance(ts, dict) else ts)
        scores = np.asarray(scores, dtype=np.float64)
        return float(np.mean(scores)) if scores.size else np.nan

    def graph(self, genome, state, key):
        """The candidate's untrained structure, cached by genome key."""
        graphs = state["graphs"]
        if key not in graphs:
            estimator = clone(self.search.estimator).set_params(
                **clone(self.space.to_params(genome), safe=False)
            )
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    graph = candidate_graph(estimator, self.X, self.y)
            except Exception as exc:  # noqa: BLE001 - a broken candidate
                if self.search.error_score == "raise":
                    raise
                params = self.space.to_params(genome)
                warnings.warn(
                    f"could not build the structure of {params!r} "
                    f"for the predictor ({type(exc).__name__}: {exc}); it is ranked "
                    "last.",
                    FitFailedWarning,
                    stacklevel=3,
                )
                graph = None
            if graph is not None:
                graph.graph["params"] = self.space.to_params(genome)
                graph.graph["genome_features"] = self.space.encode(genome)
            graphs[key] = graph
        return graphs[key]

    def probe_epochs(self):
        """Epochs of the learning-curve probe the predictor asks for (0: none)."""
        if self.search.predictor is None:
            return 0
        n_epochs = (
            getattr(self.search._make_predictor(), "learning_curve_epochs", 0) or 0
        )
        has_epochs = any(
            name.rsplit("__", 1)[-1] == "max_epochs"
            for name in self.search.estimator.get_params(deep=True)
        )
        return int(n_epochs) if has_epochs else 0

    def annotate(self, items, state):
        """Graphs of ``items`` (genome, key), with learning curves if asked for.

        Probes run through joblib like the fits; each probed candidate's
        epochs are recorded in ``state["curves"]``.
        """
        graphs = [self.graph(g, state, k) for g, k in items]
        n_epochs = self.probe_epochs()
        if not n_epochs:
            return graphs
        curves = state.setdefault("curves", {})
        todo = {}
        for (genome, key), graph in zip(items, graphs):
            if graph is not None and key not in curves:
                todo.setdefault(key, genome)
        train, test = self.splits[0]
        results = (
            self.parallel(
                delayed(_probe_fit)(
                    self.search.estimator,
                    self.X,
                    self.y,
                    train,
                    test,
                    self.space.to_params(genome),
                    n_epochs,
                    self.probe_scorer,
                )
                for genome in todo.values()
            )
            if todo
            else []
        )
        for key, result in zip(todo, results):
            curves[key] = result
            state["graphs"][key].graph["learning_curve"] = [
                result["score"],
                *result["losses"],
            ]
        return graphs

    def fit_predictor(self, state):
        rows = [
            r
            for r in state["rows"]
            if r["trained"]
            and np.isfinite(r["fitness"])
            and state["graphs"].get(r["key"]) is not None
        ]
        warmup = self.search.predictor_warmup or self.search.population_size
        if self.search.predictor is None or len(rows) < max(2, warmup):
            return None
        predictor = self.search._make_predictor()
        seed = int(self.rng.integers(np.iinfo(np.int32).max))
        seeded = {
            name: seed
            for name, value in predictor.get_params(deep=True).items()
            if name.rsplit("__", 1)[-1] == "random_state" and value is None
        }
        predictor.set_params(**seeded)
        graphs = [state["graphs"][r["key"]] for r in rows]
        predictor.fit(graphs, [r["fitness"] for r in rows])
        return predictor

    def predict(self, predictor, graphs):
        known = [i for i, g in enumerate(graphs) if g is not None]
        predicted = np.full(len(graphs), np.nan)
        if known:
            predicted[known] = predictor.predict([graphs[i] for i in known])
        return predicted

    def breed(self, state):
        """Offspring genomes and their parents' rows, new ones first-class."""
        population = state["population"]
        rows = state["rows"]
        fitness = [member["fitness"] for member in population]
        n_children = self.search.population_size - min(
            self.search.elitism, len(population)
        )
        seen = {r["key"]: i for i, r in enumerate(rows)}
        children, child_keys = [], set()
        while len(children) < n_children:
            i, j = tournament_select(fitness, 2, self.search.tournament_size, self.rng)
            a, b = rows[population[i]["row"]], rows[population[j]["row"]]
            if self.rng.random() < self.search.crossover_rate:
                pair = self.space.crossover(a["genome"], b["genome"], self.rng)
                parents = [(population[i]["row"], population[j]["row"])] * 2
            else:
                pair = (dict(a["genome"]), dict(b["genome"]))
                parents = [(population[i]["row"],), (population[j]["row"],)]
            for genome, parent_rows in zip(pair, parents):
                if len(children) == n_children:
                    break
                genome = self.space.mutate(
                    genome, self.rng, rate=self.search.mutation_rate
                )
                for _ in range(10):
                    key = self.space.key(genome)
                    if key not in seen and key not in child_keys:
                        break
                    genome = self.space.mutate(
                        genome, self.rng, rate=self.search.mutation_rate, force=True
                    )
                key = self.space.key(genome)
                child_keys.add(key)
                children.append(
                    {
                        "genome": genome,
                        "key": key,
                        "parents": tuple(sorted(set(parent_rows))),
                        "existing": seen.get(key),
                    }
                )
        return children

    def evaluate(self, candidates, *, first):
        """Cross-validate ``candidates``; returns one list of outs per candidate."""
        if not candidates:
            return []
        base = clone(self.search.estimator)
        n_splits = len(self.splits)
        out = self.parallel(
            delayed(_fit_and_score_checked)(
                clone(base),
                self.X,
                self.y,
                scorer=self.scorers,
                train=train,
                test=test,
                parameters=self.space.to_params(genome),
                fit_params=self.fit_params,
                score_params=None,
                return_train_score=self.search.return_train_score,
                return_n_test_samples=True,
                return_times=True,
                return_parameters=False,
                error_score=self.search.error_score,
                verbose=max(0, self.search.verbose - 1),
                split_progress=(split_idx, n_splits),
                candidate_progress=(cand_idx, len(candidates)),
            )
            for cand_idx, genome in enumerate(candidates)
            for split_idx, (train, test) in enumerate(self.splits)
        )
        failures = [o["fit_error"] for o in out if o["fit_error"] is not None]
        if failures and len(failures) == len(out) and first:
            # As scikit-learn's searches: when every fit of the initial
            # population fails the estimator is misconfigured; say why now.
            raise ValueError(
                f"All the {len(out)} fits of the initial population failed. "
                "It is very likely that your model is misconfigured; set "
                f"error_score='raise' to debug.\n{_failure_summary(failures)}"
            )
        if failures:
            warnings.warn(
                f"{len(failures)} of {len(out)} fits failed; their scores are set "
                f"to error_score={self.search.error_score!r} and the search goes on.\n"
                f"{_failure_summary(failures)}",
                FitFailedWarning,
                stacklevel=3,
            )
        return [out[i * n_splits : (i + 1) * n_splits] for i in range(len(candidates))]

    def run(self, state):
        """Run one generation, updating ``state`` in place."""
        generation = state["generation"]
        rows = state["rows"]
        predictor = None
        if generation == 0:
            children, keys = [], set()
            for _ in range(self.search.population_size):
                genome = self.space.sample(self.rng)
                for _ in range(10):
                    if self.space.key(genome) not in keys:
                        break
                    genome = self.space.sample(self.rng)
                keys.add(self.space.key(genome))
                children.append(
                    {
                        "genome": genome,
                        "key": self.space.key(genome),
                        "parents": (),
                        "existing": None,
                    }
                )
            elites = []
        else:
            predictor = self.fit_predictor(state)
            if predictor is not None:  # refresh the fitness of predicted members
                for member in state["population"]:
                    row = rows[member["row"]]
                    if not row["trained"]:
                        graph = state["graphs"].get(row["key"])
                        member["fitness"] = float(self.predict(predictor, [graph])[0])
            trained = [
                k
                for k, m in enumerate(state["population"])
                if rows[m["row"]]["trained"]
            ]
            order = elite_indices(
                [state["population"][k]["fitness"] for k in trained],
                self.search.elitism,
            )
            elites = [dict(state["population"][trained[k]]) for k in order]
            children = self.breed(state)

        new = [c for c in children if c["existing"] is None]
        predicted = np.full(len(new), np.nan)
        to_train = list(range(len(new)))
        if predictor is not None and new:
            graphs = self.annotate([(c["genome"], c["key"]) for c in new], state)
            predicted = self.predict(predictor, graphs)
            n_train = max(1, math.ceil(self.search.screen_ratio * len(new)))
            ranking = np.argsort(-np.nan_to_num(predicted, nan=-np.inf), kind="stable")
            to_train = sorted(ranking[:n_train].tolist())
        outs = self.evaluate(
            [new[i]["genome"] for i in to_train],
            first=generation == 0,
        )
        outs = dict(zip(to_train, outs))

        population = elites
        for i, child in enumerate(new):
            out = outs.get(i)
            fitness = self.fitness_of(out) if out is not None else float(predicted[i])
            row = {
                "genome": child["genome"],
                "key": child["key"],
                "params": self.space.to_params(child["genome"]),
                "generation": generation,
                "parents": child["parents"],
                "screened": predictor is not None,
                "trained": out is not None,
                "predicted_score": float(predicted[i]),
                "out": out,
                "fitness": fitness,
            }
            rows.append(row)
            child["existing"] = len(rows) - 1
        for child in children:
            population.append(
                {
                    "row": child["existing"],
                    "fitness": rows[child["existing"]]["fitness"],
                }
            )
        state["population"] = population
        if (
            self.search.predictor is not None
        ):  # the predictor learns from every trained row
            self.annotate([(new[i]["genome"], new[i]["key"]) for i in to_train], state)
        if self.search.verbose > 0:
            best = max(
                (
                    r["fitness"]
                    for r in rows
                    if r["trained"] and np.isfinite(r["fitness"])
                ),
                default=np.nan,
            )
            print(
                f"[GeneticSearchCV] generation {generation}: trained {len(to_train)}"
                f", predicted {len(new) - len(to_train)}, best so far {best:.4f}"
            )
