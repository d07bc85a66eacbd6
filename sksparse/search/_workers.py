"""The work :class:`~sksparse.search.GeneticSearchCV` sends to joblib workers.

Top-level functions, so that every joblib backend (processes included) can
pickle them: one individual's cross-validation fit (scikit-learn's
``_fit_and_score``, failing a fit whose loss diverged) and the short
learning-curve probe the predictor may ask for.
"""

import math
import warnings
from collections import Counter

import numpy as np
from sklearn.base import clone
from sklearn.model_selection._validation import _fit_and_score
from sklearn.utils import _safe_indexing

__all__ = []


def _histories(estimator, depth=0):
    """skorch histories of the nets inside a fitted estimator."""
    if depth > 6 or estimator is None:
        return
    attrs = getattr(estimator, "__dict__", {})
    net = attrs.get("net_")
    if net is not None and hasattr(net, "history"):
        yield net.history
    elif hasattr(estimator, "history") and "module_" in attrs:
        yield estimator.history  # a bare skorch net
    steps = getattr(estimator, "steps", None)
    if steps:
        yield from _histories(steps[-1][1], depth + 1)
    for attr in ("estimator_", "best_estimator_"):
        if attrs.get(attr) is not None:
            yield from _histories(attrs[attr], depth + 1)


def _training_record(estimator):
    """Epochs trained and whether any training loss was non-finite."""
    n_epochs, diverged, found = 0, False, False
    for history in _histories(estimator):
        found = True
        n_epochs += len(history)
        for row in history:
            loss = row.get("train_loss")
            if loss is not None and not math.isfinite(float(loss)):
                diverged = True
    return (n_epochs if found else np.nan), diverged


def _failure_summary(errors):
    """Distinct fit errors with their counts, as scikit-learn reports them."""
    counts = Counter(errors)
    return "\n".join(
        f"{'-' * 80}\n{n} fits failed with the following error:\n{error}"
        for error, n in counts.items()
    )


def _error_like(scores, error_score):
    if isinstance(scores, dict):
        return {name: error_score for name in scores}
    return error_score


def _fit_and_score_checked(estimator, X, y, *, error_score, **kwargs):
    """``_fit_and_score`` that also fails an individual whose loss diverged.

    A NaN or infinite training loss makes the scores meaningless (the argmax
    of NaN logits is class 0): such a fit is recorded as failed and scores
    ``error_score``, like one that raised.
    """
    result = _fit_and_score(
        estimator, X, y, error_score=error_score, return_estimator=True, **kwargs
    )
    fitted = result.pop("estimator", None)
    n_epochs, diverged = _training_record(fitted)
    result["n_epochs"] = n_epochs
    if diverged and result["fit_error"] is None:
        message = (
            "FloatingPointError: training diverged (non-finite training loss) "
            f"with parameters {kwargs.get('parameters')!r}"
        )
        if error_score == "raise":
            raise FloatingPointError(message)
        result["fit_error"] = message
        result["test_scores"] = _error_like(result["test_scores"], error_score)
        if "train_scores" in result:
            result["train_scores"] = _error_like(result["train_scores"], error_score)
    return result


def _probe_fit(estimator, X, y, train, test, parameters, n_epochs, scorer):
    """Train ``n_epochs`` epochs on one split: the first epochs' learning curve.

    Returns the training loss of each epoch, the validation score after them
    and the epochs spent; NaNs where the fit fails or diverges.
    """
    est = clone(estimator).set_params(**clone(parameters, safe=False))
    est.set_params(
        **{
            name: n_epochs
            for name in est.get_params(deep=True)
            if name.rsplit("__", 1)[-1] == "max_epochs"
        }
    )
    losses, score = [], np.nan
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(_safe_indexing(X, train), _safe_indexing(y, train))
            score = float(scorer(est, _safe_indexing(X, test), _safe_indexing(y, test)))
        losses = [
            float(row.get("train_loss", np.nan))
            for history in _histories(est)
            for row in history
        ]
    except Exception:  # noqa: BLE001 - a failing candidate has no curve
        pass
    spent, _ = _training_record(est)
    losses = (losses + [np.nan] * n_epochs)[:n_epochs]
    return {
        "losses": losses,
        "score": score,
        "n_epochs": int(spent) if np.isfinite(spent) else n_epochs,
    }
