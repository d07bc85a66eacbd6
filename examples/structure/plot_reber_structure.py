"""
==========================================================
Predicting an RNN's accuracy from its graph alone (Reber)
==========================================================

Draw the hidden structure of small LSTMs from random-graph priors of
different families and sparsities, train each on the embedded Reber grammar
(grammatical strings against ungrammatical ones), read each trained network
as a graph, and let a :class:`~sksparse.StructuralRegressor` predict a
network's test accuracy from its structural features, never seeing weights or
data. Cross-validated predictions are plotted against the true accuracies.

This is a handful of networks for a demo; ``benchmarks/rnn_structure.py``
runs the experiment of Stier, Darji & Granitzer (2021) with 100 networks per
cell type.
"""

# %%
# The task: embedded Reber strings, grammatical or not
# -----------------------------------------------------
# Half of the ungrammatical strings close with the wrong one of ``T``/``P``:
# telling them apart needs a memory of the second symbol.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import KFold, cross_val_predict

from sksparse import GraphFeatures, GraphPriorRNNClassifier, StructuralRegressor
from sksparse.datasets import make_reber_classification

strings, y = make_reber_classification(
    1100, embedded=True, max_length=16, random_state=0
)
X_train, y_train, X_test, y_test = strings[:800], y[:800], strings[800:], y[800:]
print(X_train[:3], y_train[:3])

# %%
# A population of graph-prior LSTMs
# ---------------------------------
# Priors from three families, each at several sparsities. The estimator
# draws the hidden-to-hidden mask from the prior graph and the
# input-to-hidden mask from a prior mapping, tiled over the LSTM's gates.
# Embedded Reber has a long plateau before an LSTM starts to learn it; how
# soon a network leaves it within 25 epochs depends on its structure.
priors = ["watts_strogatz", "barabasi_albert", "erdos_renyi"]
sparsities = [0.1, 0.4, 0.7, 0.9]
networks, accuracy = [], []
for i, (prior, sparsity) in enumerate((p, s) for p in priors for s in sparsities):
    clf = GraphPriorRNNClassifier(
        "lstm",
        hidden_size=12,
        prior=prior,
        sparsity=sparsity,
        max_epochs=25,
        lr=0.03,
        batch_size=64,
        random_state=i,
    ).fit(X_train, y_train)
    networks.append(clf)
    accuracy.append(clf.score(X_test, y_test))
    print(f"{prior:16s} sparsity {sparsity:.2f}: test accuracy {accuracy[-1]:.3f}")
accuracy = np.array(accuracy)

# %%
# Structure -> accuracy, cross-validated
# --------------------------------------
# :class:`~sksparse.GraphFeatures` reads each fitted estimator's graph
# (inputs, hidden units with their recurrent edges, outputs) and computes
# networkx-named features; the regressor sees nothing else.
features = GraphFeatures().fit_transform(networks)
cv = KFold(4, shuffle=True, random_state=0)
predicted = cross_val_predict(
    StructuralRegressor(random_state=0), features, accuracy, cv=cv
)

fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(accuracy, predicted)
low, high = accuracy.min() - 0.02, accuracy.max() + 0.02
ax.plot([low, high], [low, high], "k--", lw=1)
ax.set_xlabel("true test accuracy")
ax.set_ylabel("predicted from the graph alone")
r2 = 1 - ((predicted - accuracy) ** 2).sum() / ((accuracy - accuracy.mean()) ** 2).sum()
ax.set_title(f"Graph-prior LSTMs on embedded Reber (CV R² {r2:.2f})")
fig.tight_layout()
plt.show()
