"""Genetic search over sparse structures and hyper-parameters, with prediction.

:class:`GeneticSearchCV` evolves a population of parameter settings by
tournament selection, crossover and mutation (the pure functions of
:mod:`sksparse.search._operators`), cross-validating each new individual with
scikit-learn's ``_fit_and_score`` through joblib. A performance predictor can
rank each generation's offspring from their untrained structure so that only
the most promising are trained (Stier, Darji & Granitzer 2021). The state is
checkpointed atomically after every generation.
"""

import contextlib
import copy
import os
import time
from numbers import Integral, Real

import numpy as np
from joblib import Parallel
from sklearn.base import _fit_context, clone, is_classifier
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection import check_cv
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_method_params, indexable

from sksparse.search._checkpoint import (
    checkpoint_lock,
    read_checkpoint,
    search_fingerprint,
    write_checkpoint,
)
from sksparse.search._generation import Generation, GenerationRecord
from sksparse.search._predictor import PerformancePredictor
from sksparse.search._results import cv_results
from sksparse.search._space import ParamSpace
from sksparse.search._workers import (
    _failure_summary,
)

__all__ = ["GeneticSearchCV"]


class GeneticSearchCV(BaseSearchCV):
    """Genetic search over structures and hyper-parameters, predictor-assisted.

    A population of parameter settings (individuals) evolves over
    ``generations``: each generation keeps the ``elitism`` best trained
    individuals, fills the rest with offspring of tournament-selected parents
    (crossover with probability ``crossover_rate``, then each gene mutated
    with probability ``mutation_rate``) and cross-validates the new ones. The
    fitness of an individual is its mean cross-validated score.

    With a ``predictor``, once ``predictor_warmup`` individuals have been
    trained, every generation's offspring are built without training, read as
    graphs and ranked by the predictor; only the best ``screen_ratio`` of
    them are trained, the others enter the population with their predicted
    score as fitness. The predictor is re-fitted on all trained individuals
    at the start of each generation, and predicted fitness is refreshed with
    it.

    Fits run through joblib (``n_jobs``), so a
    ``joblib.parallel_config(backend="dask")`` block runs them on a Dask
    cluster. With ``checkpoint`` set, the search's whole state is written
    atomically after every generation and a later ``fit`` with the same
    settings and data resumes from it.

    Parameters
    ----------
    estimator : estimator object
        Cloned for every fit; a sksparse estimator (or a pipeline or
        meta-estimator around one) when a predictor is used.
    param_space : dict
        ``{parameter name: gene}``: a list of choices, a scipy.stats frozen
        distribution (``uniform``, ``loguniform``, ``randint``, ...),
        :class:`~sksparse.search.LayerSizes` or
        :class:`~sksparse.search.PriorChoice` (which sets ``<name>`` and
        ``<name>_params``). See :class:`~sksparse.search.ParamSpace`.
    population_size : int, default=10
    generations : int, default=5
        Number of generations, the random initial one included. A fit that
        resumes a finished search's checkpoint with a larger value continues
        it.
    mutation_rate : float, default=0.2
        Probability that each gene of an offspring mutates.
    crossover_rate : float, default=0.5
        Probability that two selected parents are recombined (otherwise both
        are copied, then mutated).
    tournament_size : int, default=3
    elitism : int, default=1
        Number of the best trained individuals copied unchanged into the next
        generation (not re-evaluated). Must be below ``population_size``.
    predictor : None, "auto" or regressor, default=None
        ``None``: every individual is trained. ``"auto"``: a
        :class:`~sksparse.search.PerformancePredictor` (structural features of
        the untrained graph, the encoded hyper-parameters and a one-epoch
        learning-curve probe). A regressor: fitted on the candidates' graphs
        and scores, e.g. :class:`~sksparse.estimators.StructuralRegressor`
        (structure only, as in the paper). A predictor with a
        ``learning_curve_epochs`` attribute > 0 gets each candidate's probe
        (that many epochs on the first cv split) in
        ``graph.graph["learning_curve"]``.
    predictor_warmup : int, default=None
        Number of successfully trained individuals before the predictor
        screens; ``None`` means ``population_size`` (the initial generation).
    screen_ratio : float, default=0.5
        Fraction (in (0, 1]) of each generation's offspring that the predictor
        lets through to training; at least one is always trained.
    scoring : str, callable, list, tuple or dict, default=None
        As for :class:`~sklearn.model_selection.GridSearchCV`. With several
        metrics, ``refit`` names the one the search evolves for.
    cv : int, cross-validation generator or iterable, default=3
        The splits are drawn once: every individual sees the same folds.
    n_jobs : int, default=None
        Fits in parallel through joblib.
    refit : bool or str, default=True
        Refit the best individual on the whole data as ``best_estimator_``.
    error_score : "raise" or float, default=np.nan
        Score of a fit that raised or whose training loss became NaN or
        infinite; a ``FitFailedWarning`` is issued and the search goes on.
    checkpoint : str or path-like, default=None
        File to write the search's state to after every generation, and to
        resume from. A checkpoint that is corrupted or was written by a search
        with other settings, data or cv raises a ``ValueError``.
    on_generation : callable, default=None
        Called after every generation (once its checkpoint is written) with
        a :class:`~sksparse.search.GenerationRecord`: the generation's
        ``index``, its ``population`` (rows of ``cv_results``), their
        ``scores``, the ``best_score`` so far and the ``cv_results`` so far.
        A driver logs, plots or saves from it without re-entering ``fit``.
        If it returns ``True`` the search stops after that generation (a
        budget reached, say) and goes on to refit; a later ``fit`` with the
        same checkpoint resumes from there. An exception it raises ends
        ``fit`` with the checkpoint intact. Not part of the checkpoint's
        fingerprint: it does not change the results.
    random_state : int, RandomState instance or None, default=None
        Seeds the search's ``numpy.random.Generator`` (sampling, selection,
        crossover, mutation, predictor seeds). The estimator's own
        ``random_state`` seeds its training: fix both for a reproducible run.
    verbose : int, default=0
        Print one line per generation when > 0; passed to the fits when > 1.
    pre_dispatch : int or str, default="2*n_jobs"
        As for joblib.
    return_train_score : bool, default=False

    Attributes
    ----------
    cv_results_ : dict of numpy arrays
        One row per individual evaluated (trained or predicted), loadable into
        a ``pandas.DataFrame``: the usual ``params``, ``param_<name>``,
        ``split<k>_test_score``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``, ``mean_fit_time``, ... and
        ``generation`` (int), ``parents`` (tuple of row indices),
        ``screened`` (the predictor ranked it), ``trained`` (it was
        cross-validated), ``predicted_score`` (NaN where none was made) and
        ``n_epochs`` (epochs trained over all folds). Rows that were not
        trained have NaN test scores and rank last.
    best_estimator_ : estimator
    best_score_ : float
    best_params_ : dict
    best_index_ : int
    scorer_ : callable or dict
    n_splits_ : int
    refit_time_ : float
    multimetric_ : bool
    population_ : list of int
        Rows of ``cv_results_`` in the final population.
    predictor_ : regressor or None
        The predictor as last fitted.

    See Also
    --------
    sklearn.model_selection.RandomizedSearchCV, ParamSpace, PerformancePredictor

    Notes
    -----
    Offspring that duplicate an individual already evaluated are mutated
    again (at most 10 times); one that stays a duplicate re-uses the earlier
    row instead of training again.

    References
    ----------
    J. Stier, H. Darji, M. Granitzer. Experiments on Properties of Hidden
    Structures of Sparse Neural Networks. arXiv:2107.12917, 2021.

    Examples
    --------
    >>> from scipy.stats import loguniform, uniform
    >>> from sksparse import GeneticSearchCV, SparseMLPClassifier
    >>> from sksparse.datasets import load_digits
    >>> from sksparse.search import LayerSizes
    >>> X, y, X_test, y_test = load_digits()
    >>> search = GeneticSearchCV(
    ...     SparseMLPClassifier(max_epochs=10, batch_size=64, random_state=0),
    ...     {"hidden_layer_sizes": LayerSizes(1, 2, 16, 64),
    ...      "sparsity": uniform(0.5, 0.4), "lr": loguniform(3e-3, 3e-2)},
    ...     population_size=4, generations=2, cv=2, random_state=0,
    ... ).fit(X, y)
    >>> int(search.cv_results_["generation"].max())
    1
    >>> search.score(X_test, y_test) > 0.85
    True
    """

    _parameter_constraints = {
        **BaseSearchCV._parameter_constraints,
        "param_space": [dict],
        "population_size": [Interval(Integral, 2, None, closed="left")],
        "generations": [Interval(Integral, 1, None, closed="left")],
        "mutation_rate": [Interval(Real, 0, 1, closed="both")],
        "crossover_rate": [Interval(Real, 0, 1, closed="both")],
        "tournament_size": [Interval(Integral, 1, None, closed="left")],
        "elitism": [Interval(Integral, 0, None, closed="left")],
        "predictor": [None, StrOptions({"auto"}), HasMethods(["fit", "predict"])],
        "predictor_warmup": [None, Interval(Integral, 2, None, closed="left")],
        "screen_ratio": [Interval(Real, 0, 1, closed="right")],
        "checkpoint": [None, str, os.PathLike],
        "on_generation": [None, callable],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        param_space,
        *,
        population_size=10,
        generations=5,
        mutation_rate=0.2,
        crossover_rate=0.5,
        tournament_size=3,
        elitism=1,
        predictor=None,
        predictor_warmup=None,
        screen_ratio=0.5,
        scoring=None,
        cv=3,
        n_jobs=None,
        refit=True,
        error_score=np.nan,
        checkpoint=None,
        on_generation=None,
        random_state=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        return_train_score=False,
    ):
        super().__init__(
            estimator=estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.param_space = param_space
        self.population_size = population_size
        self.generations = generations
        self.mutation_rate = mutation_rate
        self.crossover_rate = crossover_rate
        self.tournament_size = tournament_size
        self.elitism = elitism
        self.predictor = predictor
        self.predictor_warmup = predictor_warmup
        self.screen_ratio = screen_ratio
        self.checkpoint = checkpoint
        self.on_generation = on_generation
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The search accepts the data its estimator accepts (BaseSearchCV
        # forwards only some input tags).
        inner = get_tags(self.estimator)
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.target_tags = copy.deepcopy(inner.target_tags)
        return tags

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        # The generations are scheduled by fit itself: a predictor screens
        # candidates that are never trained and a checkpoint restores rows
        # that are not re-evaluated, neither of which evaluate_candidates can
        # express.
        raise NotImplementedError("GeneticSearchCV schedules its fits in fit.")

    # -- set-up ---------------------------------------------------------------
    def _make_predictor(self):
        if self.predictor is None:
            return None
        if isinstance(self.predictor, str):  # "auto"
            return PerformancePredictor()
        return clone(self.predictor)

    def _initial_state(self):
        seed = self.random_state
        if isinstance(seed, np.random.RandomState):
            seed = int(seed.randint(np.iinfo(np.int32).max))
        elif seed is not None:
            seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
        rng = np.random.default_rng(seed)
        return {
            "generation": 0,
            "rng_state": rng.bit_generator.state,
            "rows": [],
            "population": [],
            "graphs": {},
        }

    # -- fit ---------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **params):
        """Evolve the population, then refit the best individual.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        **params : dict
            Passed to the estimator's ``fit``; ``groups`` goes to the cv
            splitter.

        Returns
        -------
        self
        """
        if self.elitism >= self.population_size:
            raise ValueError(
                f"elitism must be below population_size ({self.population_size}),"
                f" got {self.elitism}."
            )
        space = ParamSpace(self.param_space)
        scorers, metric = self._get_scorers()
        self.multimetric_ = isinstance(scorers, _MultimetricScorer)
        if self.multimetric_ and not isinstance(self.refit, str):
            raise ValueError(
                "with several metrics in scoring, refit must name the one "
                f"GeneticSearchCV evolves for, got refit={self.refit!r}."
            )
        if y is None and get_tags(self.estimator).target_tags.required:
            raise ValueError(
                f"{type(self.estimator).__name__} requires y to be passed, but the "
                "target y is None."
            )
        X, y = indexable(X, y)
        fit_params = _check_method_params(X, params=params)
        groups = fit_params.pop("groups", None)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(cv.split(X, y, groups))
        self.n_splits_ = len(splits)

        fingerprint = search_fingerprint(self, X, y, splits)
        # Before any training: a checkpoint that cannot be written, or that
        # another search is writing, fails now rather than a generation later.
        lock = (
            contextlib.nullcontext()
            if self.checkpoint is None
            else checkpoint_lock(self.checkpoint)
        )
        with lock:
            if self.checkpoint is not None and os.path.exists(self.checkpoint):
                state = read_checkpoint(self.checkpoint, fingerprint)
            else:
                state = self._initial_state()
            rng = np.random.default_rng()
            rng.bit_generator.state = state["rng_state"]

            with Parallel(
                n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch
            ) as parallel:
                generation = Generation(
                    search=self,
                    space=space,
                    X=X,
                    y=y,
                    splits=splits,
                    scorers=scorers,
                    fit_params=fit_params,
                    metric=metric,
                    parallel=parallel,
                    probe_scorer=scorers._scorers[metric]
                    if self.multimetric_
                    else scorers,
                    rng=rng,
                )
                while state["generation"] < self.generations:
                    generation.run(state)
                    state["generation"] += 1
                    state["rng_state"] = rng.bit_generator.state
                    if self.checkpoint is not None:
                        write_checkpoint(self.checkpoint, state, fingerprint)
                    if self.on_generation is not None:
                        results = cv_results(
                            self,
                            state["rows"],
                            self.n_splits_,
                            splits,
                            state.get("curves", {}),
                        )
                        record = GenerationRecord.from_state(state, results)
                        if self.on_generation(record) is True:
                            break

        rows = state["rows"]
        trained = [r for r in rows if r["trained"]]
        errors = [o["fit_error"] for r in trained for o in r["out"]]
        if all(e is not None for e in errors):
            raise ValueError(
                f"All the {len(errors)} fits of the {len(trained)} trained "
                "individuals failed; set error_score='raise' to debug.\n"
                f"{_failure_summary(errors)}"
            )
        results = cv_results(
            self, rows, self.n_splits_, splits, state.get("curves", {})
        )
        self.cv_results_ = results
        self.population_ = [m["row"] for m in state["population"]]
        # Fitted after the last checkpoint, so a resumed search draws the same.
        self.predictor_ = generation.fit_predictor(state)

        if self.refit or not self.multimetric_:
            self.best_index_ = int(self._select_best_index(self.refit, metric, results))
            if not callable(self.refit):
                self.best_score_ = float(
                    results[f"mean_test_{metric}"][self.best_index_]
                )
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(
                **clone(self.best_params_, safe=False)
            )
            start = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **fit_params)
            else:
                self.best_estimator_.fit(X, **fit_params)
            self.refit_time_ = time.time() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = scorers._scorers if self.multimetric_ else scorers
        return self
