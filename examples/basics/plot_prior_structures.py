"""
What a graph prior looks like
=============================

A *prior* is a random graph that decides, before training, which connections
of a network exist. This example draws the first layer of the same network
(64 inputs, 32 hidden units, 20 % of the connections kept) from four priors
and shows the structure each one gives: uniform random masks, an Erdős–Rényi
graph, a Watts–Strogatz small world and a Barabási–Albert scale-free graph.
Nothing is trained.
"""

# %%
# Draw the masks
# --------------
# :func:`~sksparse.graphs.prior_masks` maps a prior onto the layers of a
# network (``mapping="neuron"``: graph nodes are neurons); a
# :class:`~sksparse.nn.SparseMLP` takes the masks.
import matplotlib.pyplot as plt
import numpy as np
import torch

from sksparse.graphs import prior_masks
from sksparse.nn import SparseMLP
from sksparse.plotting import plot_masks

sizes = [64, 32, 10]
priors = [None, "erdos_renyi", "watts_strogatz", "barabasi_albert"]
networks = {}
for prior in priors:
    masks = prior_masks(sizes, 0.2, prior=prior, random_state=0)
    masks = [torch.as_tensor(m) for m in masks]
    networks[prior or "uniform"] = SparseMLP(64, (32,), 10, masks=masks)

# %%
# One mask per prior
# ------------------
# Rows are the 32 hidden units, columns the 64 inputs, black where a
# connection is kept. The uniform and Erdős–Rényi masks look alike (every
# connection equally likely); Watts–Strogatz keeps a band — each neuron
# connects to its neighbours on a ring — with a few long-range shortcuts;
# Barabási–Albert gives a few hubs very many connections.
fig, axes = plt.subplots(1, 4, figsize=(13, 3.6), layout="constrained")
for ax, (name, net) in zip(axes, networks.items()):
    plot_masks(net, layers=[0], axes=ax)
    ax.set_title(name)

# %%
# Degree distributions
# --------------------
# The same difference in numbers: how many inputs each hidden unit reads.
# A scale-free prior spreads the degrees widely; a small-world prior keeps
# them nearly equal.
fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
bins = np.arange(0, 41, 2)
for name, net in networks.items():
    in_degree = net.layers[0].mask.sum(dim=1).numpy()
    ax.hist(in_degree, bins=bins, histtype="step", linewidth=2, label=name)
ax.set_xlabel("inputs read by a hidden unit (in-degree)")
ax.set_ylabel("hidden units")
ax.legend()
