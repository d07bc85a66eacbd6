"""
Compressing a sparse network for fast inference
===============================================

A masked network stores and multiplies its zeros: 95 % sparse, it is as
large and as slow as the dense one. :func:`sksparse.nn.compress` removes the
neurons that lost all their inputs or outputs and stores sparse layers in CSR
form, so that size and time follow the non-zeros.

We train a sparse MLP with SET (sparse from start to end), compress it,
check that it predicts the same, and measure how its speed-up grows with
sparsity, next to the ideal ``1 / density``.
"""

# %%
# Train sparse from the start with SET
# ------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import torch

from sksparse import SparseMLPClassifier, compression_report
from sksparse.datasets import load_digits
from sksparse.nn import SparseMLP
from sksparse.pruning import SET

torch.set_num_threads(1)
X, y, X_test, y_test = load_digits()
clf = SparseMLPClassifier(
    (256, 256),
    sparsity=0.95,
    max_epochs=30,
    lr=1e-2,
    random_state=0,
    callbacks=[("set", SET(drop_fraction=0.3, update_every=20, random_state=0))],
).fit(X, y)
print(f"accuracy {clf.score(X_test, y_test):.3f} at sparsity {clf.sparsity_:.3f}")

# %%
# Compress: same predictions, a fraction of the size
# --------------------------------------------------
small = clf.compress()
assert (small.predict(X_test) == clf.predict(X_test)).all()
report = compression_report(clf, X_test)
for key in (
    "size",
    "size_nz",
    "compression_ratio",
    "flops",
    "flops_nz",
    "theoretical_speedup",
    "removed_neurons",
    "removed_features",
    "bytes",
    "bytes_compressed",
    "measured_speedup",
):
    value = report[key]
    print(
        f"{key:>20s}: {value:.2f}"
        if isinstance(value, float)
        else f"{key:>20s}: {value}"
    )

# %%
# Speed-up against sparsity
# -------------------------
# A wider network, 784-1000-1000-10, random masks, a batch of 256 samples:
# the measured speed-up of the compressed form over the masked one, beside
# the theoretical ``flops / flops_nz``.
rng = np.random.default_rng(0)
X_batch = rng.normal(size=(256, 784)).astype(np.float32)
sparsities = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99]
measured, theoretical = [], []
for sparsity in sparsities:
    gen = torch.Generator().manual_seed(0)
    sizes = [784, 1000, 1000, 10]
    masks = [
        (torch.rand(n_out, n_in, generator=gen) >= sparsity).float()
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]
    net = SparseMLP(784, (1000, 1000), 10, masks=masks)
    r = compression_report(net, X_batch, n_repeats=5)
    measured.append(r["measured_speedup"])
    theoretical.append(r["theoretical_speedup"])
    print(f"sparsity {sparsity:.2f}: x{r['measured_speedup']:.1f} measured")

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(sparsities, theoretical, "k--", label="ideal 1 / density")
ax.plot(sparsities, measured, "o-", label="compressed / masked, batch 256")
ax.axhline(1.0, color="grey", lw=0.8)
ax.set_yscale("log")
ax.set_xlabel("sparsity")
ax.set_ylabel("speed-up")
ax.legend()
fig.tight_layout()
plt.show()
