"""
Sparse from a prior, or pruned after training?
==============================================

Sparsity can be reached before training — a random graph (a *prior*) decides
which connections exist — or after it, by pruning the smallest weights of a
trained dense network and re-training. This example compares the two on
scikit-learn's digits at several sparsities, with the same function the
``sksparse demo`` and ``sksparse prune`` commands run:
:func:`sksparse.experiments.sparsity_sweep`.
"""

# %%
# Train every method at every sparsity
# ------------------------------------
# ``"uniform"`` draws uniform random masks, ``"watts_strogatz"`` a
# small-world graph prior; ``"class-blinded"`` is magnitude pruning
# with one threshold over all layers, re-trained for 5 epochs; ``"dense"`` is
# the unpruned network every pruned one starts from.
from sksparse.datasets import load_digits
from sksparse.experiments import format_table, sparsity_sweep
from sksparse.plotting import plot_accuracy_vs_compression

X, y, X_test, y_test = load_digits()
rows = list(
    sparsity_sweep(
        X,
        y,
        X_test,
        y_test,
        methods=["dense", "uniform", "watts_strogatz", "class-blinded"],
        sparsities=[0.5, 0.8, 0.9, 0.95],
        hidden_layer_sizes=(64,),
        max_epochs=15,
        retrain_epochs=5,
        lr=1e-2,
        random_state=0,
    )
)
print(format_table(rows, ["method", "sparsity", "accuracy", "fit_seconds"]))

# %%
# Accuracy against compression
# ----------------------------
# Compression is the fraction of weights removed. Pruning a trained network
# keeps the connections that mattered to it and loses little up to about
# 90 %; a prior fixes the connections blindly, before any data is seen, and
# falls off earlier.
ax = plot_accuracy_vs_compression(rows)
ax.set_title("64 hidden units on digits")
