"""The Pruning callback on plain skorch nets and on sksparse estimators."""

import copy
import inspect
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EarlyStopping
from torch import nn

from sksparse import SparseMLPClassifier
from sksparse.nn import SparseMLP
from sksparse.pruning import Gradual, Iterative, MagnitudePruner, Pruning, RandomPruner
from sksparse.pruning._base import prunable_sparsity


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 12)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


class RNNClassifierModule(nn.Module):
    """A plain LSTM followed by a plain linear head: no mask buffers at all."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, X):
        out, _ = self.lstm(X.reshape(len(X), 4, 3))
        return self.head(out[:, -1])


def _zero_where_pruned(module, masks):
    params = dict(module.named_parameters())
    return all(bool((params[n][m == 0] == 0).all()) for n, m in masks.items())


@pytest.fixture(scope="module")
def plain_net(data):
    """A plain nn.Linear module pruned gradually, SGD with momentum and decay."""
    X, y = data
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 2))
    callback = Pruning(MagnitudePruner(0.8), schedule=Gradual(n_steps=3, start=1))
    net = NeuralNetClassifier(
        module,
        optimizer=torch.optim.SGD,
        lr=0.1,
        optimizer__momentum=0.9,
        optimizer__weight_decay=1e-3,
        max_epochs=6,
        batch_size=32,
        train_split=None,
        verbose=0,
        callbacks=[("pruning", callback)],
    )
    return net.fit(X, y), callback


def test_gradual_pruning_follows_the_cubic_schedule(plain_net):
    net, callback = plain_net
    sparsity = net.history[:, "sparsity"]
    expected = [0.0] + Gradual(n_steps=3).targets(0.8) + [0.8]
    assert sparsity == pytest.approx(expected, abs=0.01)
    assert callback.pruned_epochs_ == [1, 2, 3, 4]


def test_pruned_plain_weights_stay_exactly_zero_while_training(plain_net, data):
    net, callback = plain_net
    module = net.module_
    assert set(callback.masks_) == {"0.weight", "2.weight"}
    assert _zero_where_pruned(module, callback.masks_)
    n_zero = sum(int((module[i].weight == 0).sum()) for i in (0, 2))
    assert n_zero == round(0.8 * (12 * 32 + 32 * 2))
    # More training keeps them at zero: masks are re-applied after each step.
    net.partial_fit(*data, epochs=2)
    assert _zero_where_pruned(net.module_, callback.masks_)


def test_trained_pruned_net_pickles_and_deep_copies(plain_net, data):
    net, _ = plain_net
    X, _ = data
    loaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(loaded.predict_proba(X), net.predict_proba(X))
    copy.deepcopy(net)


def test_callback_prunes_recurrent_weights_of_a_plain_lstm(data):
    X, y = data
    torch.manual_seed(0)
    callback = Pruning(MagnitudePruner(0.7, scope="class-uniform"))
    net = NeuralNetClassifier(
        RNNClassifierModule,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=3,
        train_split=None,
        verbose=0,
        callbacks=[callback],
    ).fit(X, y)
    masks = callback.masks_
    assert {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "head.weight"} == set(masks)
    assert _zero_where_pruned(net.module_, masks)
    # class-uniform: 70 % of every gate block of every recurrent matrix.
    for block in masks["lstm.weight_hh_l0"].chunk(4):
        assert float((block == 0).float().mean()) == pytest.approx(0.7, abs=0.02)


def test_callback_on_sksparse_estimator_uses_the_mask_buffers(data):
    X, y = data
    clf = SparseMLPClassifier(
        (16,),
        max_epochs=4,
        lr=0.01,
        random_state=0,
        callbacks=[Pruning(RandomPruner(0.6, random_state=0), schedule=Iterative(2))],
    ).fit(X, y)
    assert clf.sparsity_ == pytest.approx(0.6, abs=0.01)
    assert clf.history_[:, "sparsity"] == pytest.approx([0.3, 0.6, 0.6, 0.6], abs=0.01)
    for layer in clf.module_.masked_layers:
        assert (layer.weight[layer.mask == 0] == 0).all()
    # The estimator's own callback parameter is untouched by fit.
    assert not hasattr(clf.callbacks[0], "masks_")


def test_adam_state_of_pruned_masked_weights_is_cleared(data):
    X, y = data
    torch.manual_seed(0)
    callback = Pruning(MagnitudePruner(0.5), schedule=Iterative(n_steps=2, start=1))
    net = NeuralNetClassifier(
        SparseMLP(12, (8,), 2),
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=3,
        train_split=None,
        verbose=0,
        callbacks=[callback],
    ).fit(X, y)
    # A masked weight gets a zero gradient, so moments cleared at pruning time
    # stay zero: stale momentum can never move a pruned weight again.
    for name, param in net.module_.named_parameters():
        if name in callback.masks_:
            pruned = callback.masks_[name] == 0
            state = net.optimizer_.state[param]
            assert (param[pruned] == 0).all()
            assert (state["exp_avg"][pruned] == 0).all()
            assert (state["exp_avg_sq"][pruned] == 0).all()


def test_every_hook_accepts_kwargs():
    for name, method in inspect.getmembers(Pruning, inspect.isfunction):
        if name.startswith("on_"):
            assert getattr(Callback, name, None) is not None, name
            params = inspect.signature(method).parameters.values()
            assert any(p.kind is p.VAR_KEYWORD for p in params), name


def test_callback_rejects_a_non_pruner(data):
    X, y = data
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(12, 2)),
        max_epochs=1,
        train_split=None,
        callbacks=[Pruning("magnitude")],
    )
    with pytest.raises(TypeError, match="pruner"):
        net.fit(X, y)


# -- schedules that a fit cannot finish ------------------------------------------
def test_gradual_with_one_epoch_reaches_its_target(data):
    """'gradual' with max_epochs=1 ended at sparsity 0.0 without a word."""
    with warnings.catch_warnings():
        # The schedule's warning only: one epoch is short of the training
        # budget's convergence too, which is the estimator's other warning.
        warnings.filterwarnings(
            "error", message="the pruning schedule", category=ConvergenceWarning
        )
        est = SparseMLPClassifier(
            hidden_layer_sizes=(16,),
            sparsity=0.8,
            sparsity_schedule="gradual",
            max_epochs=1,
            random_state=0,
        ).fit(*data)
    assert est.sparsity_ == pytest.approx(0.8, abs=0.01)


@pytest.mark.parametrize(
    "schedule, max_epochs, last, reached",
    [
        (Gradual(n_steps=4), 2, 4, 0.4625),
        ("iterative", 2, 2, 0.5333),
        (Gradual(start=3), 3, 13, None),
    ],
)
def test_schedule_longer_than_max_epochs_warns_at_fit(
    data, schedule, max_epochs, last, reached
):
    est = SparseMLPClassifier(
        hidden_layer_sizes=(16,),
        sparsity=0.8,
        sparsity_schedule=schedule,
        max_epochs=max_epochs,
        random_state=0,
    )
    match = rf"last event is at epoch {last} .*max_epochs={max_epochs}"
    with pytest.warns(ConvergenceWarning, match=match) as record:
        est.fit(*data)
    message = str(record[0].message)
    if reached is None:
        assert "no pruning at all" in message and est.sparsity_ == 0.0
    else:
        # The sparsity the warning announces is the one reached.
        announced = float(message.split("ends at sparsity ")[1].split()[0])
        assert announced == pytest.approx(reached, abs=1e-4)
        assert est.sparsity_ == pytest.approx(announced, abs=0.01)


def test_schedule_that_fits_does_not_warn(data):
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "error", message="the pruning schedule", category=ConvergenceWarning
        )
        est = SparseMLPClassifier(
            hidden_layer_sizes=(16,),
            sparsity=0.8,
            sparsity_schedule="iterative",
            max_epochs=3,
            warm_start=True,
            random_state=0,
        ).fit(*data)
        est.set_params(max_epochs=1).fit(*data)  # the schedule is over: no warning
    assert est.sparsity_ == pytest.approx(0.8, abs=0.01)


def test_early_stopping_cannot_cut_the_schedule_short(data):
    """With lr=0 the valid loss only worsens as pruning goes on: patience 1
    stopped at epoch 1, and load_best brought the dense epoch-0 net back."""
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        SparseMLP(12, (16,), 2),
        criterion=nn.CrossEntropyLoss,
        max_epochs=10,
        lr=0.0,
        verbose=0,
        callbacks=[
            EarlyStopping(patience=1, load_best=True),
            Pruning(MagnitudePruner(0.8), schedule=Gradual(n_steps=4)),
        ],
    ).fit(*data)
    assert net.history[:, "epoch"][-1] >= 5  # counted from epoch 4 on
    assert net.history[-1, "sparsity"] == pytest.approx(0.8, abs=0.01)
    assert prunable_sparsity(net.module_) == pytest.approx(0.8, abs=0.01)


@pytest.mark.parametrize("name", ["Pruning", "SET", "RigL"])
def test_a_module_attribute_the_net_lacks_is_named(data, name):
    """module='typo' ended in an AttributeError from deep inside skorch."""
    import sksparse.pruning as pruning

    callback = (
        pruning.Pruning(MagnitudePruner(0.5), module="modul_")
        if name == "Pruning"
        else getattr(pruning, name)(module="modul_")
    )
    est = SparseMLPClassifier(
        hidden_layer_sizes=(8,), sparsity=0.5, max_epochs=1, callbacks=[callback]
    )
    with pytest.raises(ValueError, match="module='modul_' names no torch module"):
        est.fit(*data)
