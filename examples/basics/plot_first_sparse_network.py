"""
Your first sparse network
=========================

A :class:`~sksparse.SparseMLPClassifier` is a scikit-learn classifier whose
layers keep only a fraction of their connections. Here 80 % of every layer's
weights are removed before training, and a Watts–Strogatz small-world graph
decides which remain. We fit it on scikit-learn's 8×8 digits, then look at
its structure two ways: as a layered graph and as one mask image per layer.
"""

# %%
# Fit it like any scikit-learn estimator
# --------------------------------------
from sksparse import SparseMLPClassifier
from sksparse.datasets import load_digits
from sksparse.plotting import plot_masks, plot_structure

X, y, X_test, y_test = load_digits()
clf = SparseMLPClassifier(
    hidden_layer_sizes=(32,),
    sparsity=0.8,
    prior="watts_strogatz",
    max_epochs=30,
    lr=1e-2,
    random_state=0,
)
clf.fit(X, y)
print(f"test accuracy {clf.score(X_test, y_test):.3f}, sparsity {clf.sparsity_:.2f}")

# %%
# The fitted estimator keeps the skorch net it trained (``net_``), the torch
# module (``module_``) and the masks (``masks_``), one boolean array of each
# layer's weight shape:
for mask in clf.masks_:
    print(mask.shape, f"{mask.mean():.0%} of the connections kept")

# %%
# The structure as a graph
# ------------------------
# :func:`~sksparse.plotting.plot_structure` draws neurons as dots, one column
# per layer, and every kept connection as a line. A neuron left without inputs
# or without outputs — an input pixel no connection reads, a hidden unit that
# no longer matters — would be drawn hollow; this prior leaves none.
ax = plot_structure(clf)

# %%
# The structure as masks
# ----------------------
# For networks too large to draw neuron by neuron,
# :func:`~sksparse.plotting.plot_masks` shows each layer's mask: one row per
# output neuron, one column per input, black where a connection is kept. The
# banded pattern is the Watts–Strogatz ring lattice, shortcuts scattered
# around it.
axes = plot_masks(clf)

# %%
# The same network, saved
# -----------------------
# The masks are persistent buffers of the network's layers, so a saved and
# reloaded model keeps them, and the ``sksparse`` command can read it::
#
#     import joblib
#     joblib.dump(clf, "model.joblib")
#
# .. code-block:: bash
#
#     sksparse report model.joblib --trust-pickle
#     sksparse graph model.joblib --trust-pickle -o model.graphml
