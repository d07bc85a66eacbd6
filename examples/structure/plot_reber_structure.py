"""
==========================================================
Predicting an LSTM's accuracy from its graph alone (Reber)
==========================================================

Draw the hidden structure of small LSTMs from random-graph priors of
different families and sparsities, train each on the embedded Reber grammar,
read each trained network as a graph, and let a
:class:`~sksparse.StructuralRegressor` predict a network's test accuracy from
its structural features, never seeing weights or data. Cross-validated
predictions are plotted against the true accuracies.

The task is the classic one of Hochreiter & Schmidhuber (1997): after each
symbol of an embedded Reber string, predict the set of symbols the grammar
allows next. This is a handful of networks for a demo;
``benchmarks/rnn_structure.py`` runs the experiment of Stier, Darji &
Granitzer (2021) with 100 networks per cell type, on this task and on
grammatical-or-not classification with :class:`~sksparse.GraphPriorRNNClassifier`.
"""

# %%
# Embedded Reber strings and their next-symbol targets
# ----------------------------------------------------
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import torch
from sklearn.model_selection import KFold, cross_val_predict

from sksparse import GraphFeatures, StructuralRegressor
from sksparse.datasets import encode_sequences, make_embedded_reber, reber_next_symbols
from sksparse.graphs import make_prior, prior_masks
from sksparse.nn import MaskedLSTM

torch.set_num_threads(1)
strings = make_embedded_reber(500, max_length=16, random_state=0)
X, lengths = encode_sequences(strings, one_hot=True)  # (strings, steps, 7 symbols)
targets = np.zeros_like(X)
for i, string in enumerate(strings):
    targets[i, : len(string)] = reber_next_symbols(string, embedded=True)
X, targets, lengths = map(torch.as_tensor, (X, targets, lengths))
steps = torch.arange(X.shape[1])[None, :] < lengths[:, None]  # real steps
train, test = slice(0, 300), slice(300, None)
print(strings[0], "->", targets[0, 0].tolist())

# %%
# Priors become masks
# -------------------
# The hidden-to-hidden mask is the prior graph over the hidden units (each
# unit also keeps its own recurrence); the input-to-hidden mask comes from
# the same prior family through :func:`~sksparse.graphs.prior_masks`.
# ``MaskedLSTM`` tiles each over its four gates ``[i; f; g; o]``.
HIDDEN = 12


def draw_lstm(prior, density, seed):
    graph = make_prior(prior, HIDDEN, density=density, random_state=seed)
    hh = nx.to_numpy_array(graph, weight=None) + np.eye(HIDDEN)
    (ih,) = prior_masks([7, HIDDEN], density, prior=prior, random_state=seed)
    torch.manual_seed(seed)
    return MaskedLSTM(7, HIDDEN, ih_masks=[torch.as_tensor(ih)], hh_masks=[hh > 0])


# %%
# Train a population
# ------------------
def fit_and_score(lstm, epochs=12):
    head = torch.nn.Linear(HIDDEN, 7)
    params = [*lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=0.02)
    for _ in range(epochs):
        for batch in torch.randperm(300).split(32):
            logits = head(lstm(X[train][batch])[0])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, targets[train][batch], reduction="none"
            ).mean(-1)
            mask = steps[train][batch]
            loss = loss[mask].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        right = ((head(lstm(X[test])[0]) > 0) == (targets[test] > 0.5)).all(-1)
    return float(right[steps[test]].float().mean())  # fraction of steps right


priors = ["watts_strogatz", "barabasi_albert", "erdos_renyi"]
sparsities = [0.1, 0.5, 0.7, 0.85, 0.95]
networks, accuracy = [], []
for seed, (prior, sparsity) in enumerate((p, s) for p in priors for s in sparsities):
    lstm = draw_lstm(prior, 1 - sparsity, seed)
    accuracy.append(fit_and_score(lstm))
    networks.append(lstm)
    print(f"{prior:16s} sparsity {sparsity:.2f}: step accuracy {accuracy[-1]:.3f}")
accuracy = np.array(accuracy)

# %%
# Structure -> accuracy, cross-validated
# --------------------------------------
# :class:`~sksparse.GraphFeatures` reads each LSTM's graph (input symbols and
# hidden units, recurrent edges and self-loops included) and computes
# networkx-named features; the regressor sees nothing else.
features = GraphFeatures().fit_transform(networks)
predicted = cross_val_predict(
    StructuralRegressor(random_state=0),
    features,
    accuracy,
    cv=KFold(5, shuffle=True, random_state=0),
)
r2 = 1 - ((predicted - accuracy) ** 2).sum() / ((accuracy - accuracy.mean()) ** 2).sum()
print(f"cross-validated R² of {len(networks)} networks: {r2:.2f}")

fig, ax = plt.subplots(figsize=(4.8, 4.5))
ax.scatter(accuracy, predicted)
low, high = accuracy.min() - 0.02, accuracy.max() + 0.02
ax.plot([low, high], [low, high], "k--", lw=1)
ax.set_xlabel("true next-symbol accuracy")
ax.set_ylabel("predicted from the graph alone")
ax.set_title(f"Graph-prior LSTMs on embedded Reber\n(cross-validated R² {r2:.2f})")
fig.tight_layout()
plt.show()
