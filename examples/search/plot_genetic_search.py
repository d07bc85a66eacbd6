"""
Genetic search over sparse structures, with a performance predictor
===================================================================

:class:`~sksparse.GeneticSearchCV` is a scikit-learn search whose individuals
are whole sparse networks: how many hidden layers and how wide, how sparse,
which random-graph prior draws their connections, and the learning rate. A
population evolves by tournament selection, crossover and mutation.

With ``predictor="auto"``, each generation's offspring are first built
*without training*, read as graphs, probed for one epoch, and ranked by a
regressor fitted on the individuals trained so far; only the most promising
half is trained (Stier, Darji & Granitzer 2021). We run the search on the
8×8 digits and look at what it did.
"""

# %%
# The search space: a genome with structure and hyper-parameters
# --------------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import loguniform, uniform

from sksparse import GeneticSearchCV, SparseMLPClassifier
from sksparse.datasets import load_digits
from sksparse.search import LayerSizes, PriorChoice

X, y, X_test, y_test = load_digits()

param_space = {
    # 1 or 2 hidden layers of 8 to 64 neurons; mutation adds, removes or
    # resizes a layer, crossover cuts and splices the two parents' layers.
    "hidden_layer_sizes": LayerSizes(
        min_layers=1, max_layers=2, min_units=8, max_units=64
    ),
    "sparsity": uniform(0.5, 0.45),  # 50 % to 95 % of the weights removed
    # A prior and its parameters are one gene: it sets prior and prior_params.
    "prior": PriorChoice(
        {None: {}, "watts_strogatz": {"p": uniform(0, 1)}, "barabasi_albert": {}}
    ),
    "lr": loguniform(1e-3, 5e-2),
}

search = GeneticSearchCV(
    SparseMLPClassifier(max_epochs=6, batch_size=64, random_state=0),
    param_space,
    population_size=8,
    generations=4,
    predictor="auto",
    screen_ratio=0.5,
    cv=2,
    random_state=0,
)
search.fit(X, y)
print(f"best cv accuracy {search.best_score_:.3f} with {search.best_params_}")
print(f"test accuracy of the refitted best: {search.score(X_test, y_test):.3f}")

# %%
# One row per individual
# ----------------------
# ``cv_results_`` loads into a DataFrame like any scikit-learn search's, with
# the generation of each individual, its parents' rows, whether the predictor
# screened it and whether it was trained. Individuals the predictor kept from
# training have no measured score, only a predicted one.
results = pd.DataFrame(search.cv_results_)
columns = [
    "generation",
    "parents",
    "trained",
    "predicted_score",
    "mean_test_score",
    "n_epochs",
]
print(results[columns].round(3).to_string())

# %%
# What the search spent and what it found
# ---------------------------------------
# Left: every individual's cv accuracy by generation (hollow markers: the
# predictor's estimate for those it did not train). Right: the best accuracy
# so far against the epochs spent, probes included.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
trained = results.trained.to_numpy()
jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(results))
ax1.scatter(
    results.generation[trained] + jitter[trained],
    results.mean_test_score[trained],
    label="trained",
)
ax1.scatter(
    results.generation[~trained] + jitter[~trained],
    results.predicted_score[~trained],
    facecolors="none",
    edgecolors="tab:red",
    label="predicted, not trained",
)
ax1.set_xlabel("generation")
ax1.set_ylabel("cv accuracy")
ax1.legend()

epochs = results.n_epochs.cumsum()
best = results.mean_test_score.where(trained).cummax()
ax2.step(epochs, best, where="post")
ax2.set_xlabel("epochs spent")
ax2.set_ylabel("best cv accuracy so far")
fig.tight_layout()
plt.show()

# %%
# The structure the search chose
# ------------------------------
# The refitted best network is an ordinary fitted estimator: its graph, its
# masks, its sparsity.
best_net = search.best_estimator_
graph = best_net.to_graph()
print(
    f"{graph.number_of_nodes()} neurons, {graph.number_of_edges()} connections, "
    f"sparsity {best_net.sparsity_:.2f}"
)
