"""scikit-learn's estimator checks over every public estimator.

Settings come from one table of tiny, fast parameters (imbalanced-learn's
``INIT_PARAMS`` idea); an expected failure must carry its reason in the
estimator's tags, not here.
"""

import pytest
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import (
    _get_check_estimator_ids,
    estimator_checks_generator,
)

import sksparse
from sksparse import SparseMLPClassifier
from sksparse.pruning import MagnitudePruner

# Small nets, but trained enough to pass the checks that demand a good fit
# (check_classifiers_train wants > 83 % accuracy on blobs).
INIT_PARAMS = {
    "SparseMLPClassifier": dict(
        hidden_layer_sizes=(16,),
        sparsity=0.5,
        max_epochs=20,
        lr=0.02,
        batch_size=32,
        random_state=0,
    ),
    "SparseMLPRegressor": dict(
        hidden_layer_sizes=(16,),
        sparsity=0.5,
        max_epochs=40,
        lr=0.02,
        batch_size=32,
        random_state=0,
    ),
}


# PrunedEstimator wraps the classifier above; one short re-training round.
INIT_PARAMS["PrunedEstimator"] = dict(
    estimator=SparseMLPClassifier(**INIT_PARAMS["SparseMLPClassifier"]),
    pruner=MagnitudePruner(amount=0.5),
    retrain_epochs=3,
)


# Sequences: sklearn's 2-D float arrays are read as value sequences, one
# number per step (GraphPriorRNNClassifier's input_type="auto").
INIT_PARAMS["GraphPriorRNNClassifier"] = dict(
    cell="gru",
    hidden_size=8,
    prior="erdos_renyi",
    sparsity=0.5,
    max_epochs=10,
    lr=0.05,
    batch_size=64,
    random_state=0,
)


# Graphs in, performance out; sklearn's numeric arrays are read as precomputed
# structural features (GraphFeatures passes them through).
INIT_PARAMS["GraphFeatures"] = dict()
INIT_PARAMS["StructuralRegressor"] = dict(random_state=0)


# The search's own contract is checked, not its candidates': a decision tree
# keeps the many fits of a search (population x cv, then refit) instant.
INIT_PARAMS["GeneticSearchCV"] = dict(
    estimator=DecisionTreeClassifier(random_state=0),
    param_space={"max_depth": [2, 4, 8], "min_samples_leaf": [1, 2]},
    population_size=3,
    generations=2,
    cv=2,
    random_state=0,
)


# sklearn's 2-D test arrays are read as 1 x n_features "images" (a strip).
INIT_PARAMS["SparseCNNClassifier"] = dict(
    channels=(4,),
    hidden_layer_sizes=(16,),
    sparsity=0.5,
    max_epochs=8,
    lr=0.03,
    batch_size=32,
    random_state=0,
)


# The selector over the classifier above: sklearn's transformer checks.
INIT_PARAMS["SparseFeatureSelector"] = dict(
    estimator=SparseMLPClassifier(**INIT_PARAMS["SparseMLPClassifier"]),
)


# Second settings of an estimator, where a parameter switches to other code.
# mapping="layered": a small graph cut into two recurrent layers with a skip.
EXTRA_INIT_PARAMS = [
    (
        "GraphPriorRNNClassifier",
        dict(
            cell="gru",
            hidden_size=10,
            prior="watts_strogatz",
            prior_params={"k": 4, "p": 1.0},
            num_layers=2,
            mapping="layered",
            max_epochs=10,
            lr=0.05,
            batch_size=64,
            random_state=0,
        ),
    ),
]


# The network estimators again at their defaults, a seed only: the training
# budget they ship with must pass the checks that demand a good fit.
DEFAULT_CHECKED = (
    "SparseMLPClassifier",
    "SparseMLPRegressor",
    "SparseCNNClassifier",
    "GraphPriorRNNClassifier",
)


def _estimators():
    """Every estimator to check, and whether it is at its defaults."""
    for name, params in INIT_PARAMS.items():
        yield getattr(sksparse, name)(**params), False
    for name, params in EXTRA_INIT_PARAMS:
        yield getattr(sksparse, name)(**params), False
    for name in DEFAULT_CHECKED:
        yield getattr(sksparse, name)(random_state=0), True


def _expected_failed_checks(estimator):
    """The checks an estimator declares it cannot pass, each with its reason."""
    return getattr(estimator, "_expected_failed_checks", dict)()


def _check_params():
    """parametrize_with_checks' cases, the heaviest default ones marked slow.

    At their defaults the networks train up to 200 epochs per fit; the
    read-only-memmap repeats of the fit-quality checks (the same data, only
    memory-mapped) then take minutes on two cores. The plain checks run in
    ``make test``; the tuned settings above run the memmap repeats too.
    """
    for estimator, default in _estimators():
        for case in estimator_checks_generator(
            estimator,
            legacy=True,
            expected_failed_checks=_expected_failed_checks(estimator),
            mark="xfail",
        ):
            values, marks = (
                (case.values, list(case.marks))
                if hasattr(case, "values")
                else (case, [])
            )
            check = values[1]
            slow = default and getattr(check, "keywords", {}).get("readonly_memmap")
            if slow:
                marks.append(pytest.mark.slow)
            yield pytest.param(*values, marks=marks)


@pytest.mark.parametrize(
    "estimator, check", list(_check_params()), ids=_get_check_estimator_ids
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked():
    public = {name for name in sksparse.__all__ if name[0].isupper()}
    assert public == set(INIT_PARAMS)
