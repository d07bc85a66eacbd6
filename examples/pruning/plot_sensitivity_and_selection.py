"""
======================================================
Per-layer sensitivity, and the first layer as selector
======================================================

Which layers of a trained network can be pruned furthest? Prune each layer
alone to growing amounts and score it: the sensitivity curve
(:func:`sksparse.pruning.sensitivity_curve`). ``MagnitudePruner(scope=
"sensitivity")`` turns it into per-layer amounts for one global target,
pruning where a weight costs the least measured score.

A pruned first layer also reads only some of the input pixels:
:class:`sksparse.estimators.SparseFeatureSelector` keeps those, so the
network chooses the features of a cheaper model downstream.
"""

# %%
# The sensitivity curve
# ---------------------
# One fit; then each layer alone is pruned by magnitude to each amount and
# scored on held-out images (no re-training).
import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sksparse import PrunedEstimator, SparseFeatureSelector, SparseMLPClassifier
from sksparse.datasets import load_digits
from sksparse.plotting import plot_sensitivity_curve
from sksparse.pruning import MagnitudePruner, sensitivity_curve

X, y, X_test, y_test = load_digits()
X_fit, y_fit, X_val, y_val = X[:1000], y[:1000], X[1000:], y[1000:]
clf = SparseMLPClassifier((64, 32), max_epochs=30, lr=1e-2, random_state=0)
amounts = [0.0, 0.5, 0.8, 0.9, 0.95, 0.98]
layers, scores = sensitivity_curve(
    clf, X_fit, y_fit, amounts, validation_data=(X_val, y_val)
)
ax = plot_sensitivity_curve((layers, scores), amounts)
ax.set_ylabel("validation accuracy")
plt.show()

# %%
# A per-layer allocation from the curve
# -------------------------------------
# Both pruners remove 90 % of the weights; the sensitivity scope decides per
# layer where they go. Each pruned network is re-trained two epochs.
dense = clf.fit(X_fit, y_fit)
sensitivity = MagnitudePruner(
    0.9, scope="sensitivity", sensitivity=(layers, scores, amounts)
)
for name, pruner in [
    ("class-blinded", MagnitudePruner(0.9)),
    ("sensitivity", sensitivity),
]:
    pruned = PrunedEstimator(dense, pruner, retrain_epochs=2, prefit=True)
    pruned.fit(X_fit, y_fit)
    print(f"{name:14s} test accuracy {pruned.score(X_test, y_test):.3f}")
print(
    "sensitivity amounts:",
    {k: round(v, 2) for k, v in pruned.pruner_.sensitivity_amounts_.items()},
)

# %%
# The first layer as a feature selector
# -------------------------------------
# Prune 97 % of the weights; the pixels no kept connection reads are dropped
# before a logistic regression.
selector = SparseFeatureSelector(
    PrunedEstimator(
        SparseMLPClassifier((32,), max_epochs=30, lr=1e-2, random_state=0),
        MagnitudePruner(0.97),
        retrain_epochs=5,
    )
)
model = make_pipeline(selector, LogisticRegression(max_iter=2000)).fit(X, y)
kept = selector.get_support()
print(
    f"{kept.sum()} of {kept.size} pixels kept; test accuracy "
    f"{model.score(X_test, y_test):.3f}"
)

fig, ax = plt.subplots(figsize=(3, 3))
ax.imshow(kept.reshape(8, 8), cmap="gray_r")
ax.set_title("pixels the pruned network reads")
ax.set_xticks([])
ax.set_yticks([])
plt.show()
