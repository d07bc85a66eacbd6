"""
==================================================
Comparing pruning methods: accuracy vs compression
==================================================

Train a small network on the digits once, then prune it with each magnitude
scheme of See et al. (2016) -- class-blinded, class-uniform, class-distributed --
and at random, to growing compression, re-training briefly after pruning.
Class-blinded pruning (one magnitude threshold over all layers) keeps accuracy
best; random pruning is the baseline every method must beat.

The full experiment on Fashion-MNIST is ``benchmarks/pruning.py``.
"""

# %%
# Train the dense network once
# ----------------------------
# ``PrunedEstimator(..., prefit=True)`` prunes a copy of an already fitted
# estimator, so every pruning run below starts from the same dense network.
import matplotlib.pyplot as plt

from sksparse import PrunedEstimator, SparseMLPClassifier
from sksparse.datasets import load_digits
from sksparse.pruning import MagnitudePruner, RandomPruner

X, y, X_test, y_test = load_digits()
dense = SparseMLPClassifier((64,), max_epochs=20, lr=1e-2, random_state=0).fit(X, y)
dense_accuracy = dense.score(X_test, y_test)
print(f"dense accuracy: {dense_accuracy:.3f}")

# %%
# Prune to growing compression, re-train two epochs
# -------------------------------------------------
compressions = [0.5, 0.8, 0.9, 0.95]
pruners = {
    "class-blinded": lambda amount: MagnitudePruner(amount, scope="class-blinded"),
    "class-uniform": lambda amount: MagnitudePruner(amount, scope="class-uniform"),
    "class-distributed": lambda amount: MagnitudePruner(
        amount, scope="class-distributed"
    ),
    "random": lambda amount: RandomPruner(amount, random_state=0),
}
accuracy = {}
for name, make_pruner in pruners.items():
    accuracy[name] = [
        PrunedEstimator(dense, make_pruner(amount), retrain_epochs=2, prefit=True)
        .fit(X, y)
        .score(X_test, y_test)
        for amount in compressions
    ]
    print(name, [f"{a:.3f}" for a in accuracy[name]])

# %%
# Accuracy against compression
# ----------------------------
fig, ax = plt.subplots(figsize=(6, 4))
ax.axhline(dense_accuracy, color="k", ls=":", label="dense")
for name, values in accuracy.items():
    ax.plot([100 * c for c in compressions], values, marker="o", label=name)
ax.set_xlabel("compression (% of weights removed)")
ax.set_ylabel("test accuracy")
ax.set_title("Pruning a 64-64-10 network on digits")
ax.legend()
plt.show()
