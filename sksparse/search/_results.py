"""Assembling ``cv_results_`` of a genetic search from its rows."""

import warnings

import numpy as np

from sksparse.search._workers import _error_like

__all__ = ["cv_results"]


def cv_results(search, rows, n_splits, splits, curves):
    """``cv_results_`` of a search from its rows, trained and predicted.

    Predicted rows get NaN test scores (they were never measured) and the
    search's own columns: ``generation``, ``screened``, ``trained``,
    ``predicted_score``, ``n_epochs`` and ``parents``.
    """
    template = next((r["out"][0] for r in rows if r["trained"]), None)
    flat, params = [], []
    for row in rows:
        params.append(row["params"])
        if row["trained"]:
            flat.extend(row["out"])
            continue
        for _, test in splits:  # a predicted row: no measured score
            entry = {
                "fit_error": None,
                "test_scores": _error_like(template["test_scores"], np.nan),
                "n_test_samples": len(test),
                "fit_time": 0.0,
                "score_time": 0.0,
                "n_epochs": 0,
            }
            if search.return_train_score:
                entry["train_scores"] = _error_like(template["test_scores"], np.nan)
            flat.append(entry)
    more = {
        "generation": [r["generation"] for r in rows],
        "screened": [r["screened"] for r in rows],
        "trained": [r["trained"] for r in rows],
        "predicted_score": [r["predicted_score"] for r in rows],
        "n_epochs": [
            (float(np.sum([o["n_epochs"] for o in r["out"]])) if r["trained"] else 0.0)
            + curves.get(r["key"], {}).get("n_epochs", 0)
            for r in rows
        ],
    }
    with warnings.catch_warnings():
        # Predicted rows have NaN test scores by design; real failures
        # were reported by a FitFailedWarning when they happened.
        warnings.filterwarnings("ignore", message="One or more of the")
        results = search._format_results(params, n_splits, flat, more)
    parents = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        parents[i] = row["parents"]
    results["parents"] = parents
    return results
