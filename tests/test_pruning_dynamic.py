"""SET and RigL: constant sparsity, drop the weakest, regrow at zero."""

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch import nn

from sksparse import SparseMLPClassifier
from sksparse.nn import MaskedLinear, SparseMLP
from sksparse.pruning import SET, RigL, erdos_renyi_densities

CALLBACKS = [SET, RigL]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(192, 20)).astype(np.float32)
    y = (X[:, :4].sum(axis=1) > 0).astype(np.int64)
    return X, y


def _skorch_net(module, callback, **kwargs):
    params = dict(
        max_epochs=3,
        lr=0.05,
        batch_size=32,
        train_split=None,
        verbose=0,
        optimizer=torch.optim.Adam,
    )
    params.update(kwargs)
    return NeuralNetClassifier(
        module, criterion=nn.CrossEntropyLoss, callbacks=[callback], **params
    )


def _dynamic(net):
    """The SET/RigL callback of a fitted net (skorch puts its defaults first)."""
    (cb,) = [cb for _, cb in net.callbacks_ if isinstance(cb, (SET, RigL))]
    return cb


def _masked_mlp(seed=0, density=0.3):
    gen = torch.Generator().manual_seed(seed)
    masks = [
        (torch.rand(32, 20, generator=gen) < density).float(),
        (torch.rand(2, 32, generator=gen) < 0.8).float(),
    ]
    torch.manual_seed(seed)
    return SparseMLP(20, (32,), 2, masks=masks)


def test_erdos_renyi_densities_keep_the_overall_density():
    shapes = [(300, 784), (100, 300), (10, 100)]
    for density in (0.01, 0.1, 0.5):
        densities = erdos_renyi_densities(shapes, density)
        kept = sum(d * a * b for d, (a, b) in zip(densities, shapes))
        assert kept == pytest.approx(density * sum(a * b for a, b in shapes))
        assert all(0 < d <= 1 for d in densities)
        # Smaller layers are denser (Mocanu et al.'s ε (n_in + n_out) / n_in n_out)
        assert densities[0] <= densities[1] <= densities[2]
    assert erdos_renyi_densities(shapes, 1.0) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("Dynamic", CALLBACKS)
def test_hooks_accept_arbitrary_kwargs(Dynamic, data):
    X, y = data
    net = _skorch_net(_masked_mlp(), Dynamic(update_every=1), max_epochs=1)
    net.initialize()
    cb = _dynamic(net)
    cb.on_train_begin(net, X=X, y=y, extra=1)
    cb.on_epoch_begin(net, extra=1)
    cb.on_batch_begin(net, batch=None, training=False, extra=1)
    cb.on_batch_end(net, batch=None, training=False, extra=1)
    cb.on_train_end(net, X=X, y=y, extra=1)


@pytest.mark.parametrize("Dynamic", CALLBACKS)
def test_sparsity_is_constant_and_connections_are_rewired(Dynamic, data):
    X, y = data
    module = _masked_mlp()
    before = [layer.mask.clone() for layer in module.masked_layers]
    cb = Dynamic(drop_fraction=0.3, update_every=2, random_state=0)
    net = _skorch_net(module, cb).fit(X, y)
    cb = _dynamic(net)
    after = [layer.mask for layer in net.module_.masked_layers]
    for old, new, layer in zip(before, after, net.module_.masked_layers):
        assert int(new.sum()) == int(old.sum())  # constant per layer
        assert bool((layer.weight[new == 0] == 0).all())
    assert not torch.equal(before[0], after[0])  # connections moved
    assert len(set(net.history[:, "sparsity"])) == 1
    assert sum(net.history[:, "regrown"]) == sum(u["regrown"] for u in cb.updates_)
    assert sum(u["regrown"] for u in cb.updates_) > 0
    assert cb.step_ == 3 * 6 == cb.total_steps_


def test_set_with_an_sksparse_estimator(data):
    X, y = data
    clf = SparseMLPClassifier(
        (32,),
        sparsity=0.9,
        max_epochs=3,
        lr=1e-2,
        batch_size=32,
        random_state=0,
        callbacks=[("set", SET(0.3, update_every=3, random_state=0))],
    )
    static = SparseMLPClassifier(
        (32,), sparsity=0.9, max_epochs=3, lr=1e-2, batch_size=32, random_state=0
    )
    clf.fit(X, y)
    static.fit(X, y)
    assert clf.sparsity_ == pytest.approx(static.sparsity_)
    changed = [(a != b).sum() for a, b in zip(clf.masks_, static.masks_, strict=True)]
    assert sum(changed) > 0
    # The estimator's own callback object is left untouched by fit.
    assert not hasattr(clf.callbacks[0][1], "step_")


@pytest.mark.parametrize("Dynamic", CALLBACKS)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_plain_linear_layers_keep_their_zeros_after_every_step(
    Dynamic, optimizer, data
):
    X, y = data
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 2))
    cb = Dynamic(update_every=2, sparsity=0.8, random_state=0)
    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    extra = {"optimizer__momentum": 0.9} if optimizer == "sgd" else {}
    net = _skorch_net(module, cb, optimizer=opt, **extra)
    seen = []

    class Check(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training:  # runs after the dynamic callback, every step
                targets = _dynamic(net).targets_
                seen.append(
                    [
                        (
                            bool((t.weight[~t.plain_mask] == 0).all()),
                            int(t.plain_mask.sum()),
                        )
                        for t in targets
                    ]
                )

    net.callbacks = [cb, Check()]
    net.fit(X, y)
    assert len(seen) == 18
    assert all(zero for step in seen for zero, _ in step)
    assert len({tuple(n for _, n in step) for step in seen}) == 1  # constant
    n_total = 20 * 32 + 32 * 2
    assert sum(n for _, n in seen[0]) == round(0.2 * n_total)
    assert net.history[-1, "sparsity"] == pytest.approx(0.8, abs=1 / n_total)
    assert sum(u["regrown"] for u in _dynamic(net).updates_) > 0


def test_regrown_weights_start_at_zero_and_their_optimizer_state_is_cleared(data):
    X, y = data
    module = _masked_mlp()
    cb = SET(drop_fraction=0.5, update_every=1000, random_state=0)
    net = _skorch_net(module, cb, max_epochs=1).fit(X, y)
    cb = _dynamic(net)
    layer = net.module_.masked_layers[0]
    old_mask = layer.mask.clone().bool()
    state = net.optimizer_.state[layer.weight]
    assert state["exp_avg"][old_mask].abs().sum() > 0
    cb._update(net, 0.5)
    new_mask = layer.mask.bool()
    grown = new_mask & ~old_mask
    dropped = old_mask & ~new_mask
    assert grown.sum() > 0 and grown.sum() == dropped.sum()
    assert bool((layer.weight[grown] == 0).all())
    assert bool((layer.weight[dropped] == 0).all())
    for key in ("exp_avg", "exp_avg_sq"):
        assert bool((state[key][grown | dropped] == 0).all())
        assert state[key][old_mask & new_mask].abs().sum() > 0


def test_drop_removes_the_smallest_magnitudes():
    layer = MaskedLinear(4, 1, mask=torch.tensor([[1, 1, 1, 0]]))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.1, -5.0, 2.0, 0.0]]))
    module = nn.Sequential(layer)
    cb = SET(drop_fraction=0.34, update_every=1000, random_state=0)
    net = _skorch_net(module, cb, max_epochs=0)
    net.initialize()
    cb = _dynamic(net)
    cb.on_train_begin(net, X=np.zeros((4, 4), np.float32))
    cb._update(net, 0.34)
    mask = layer.mask[0].tolist()
    assert mask[1] == 1 and mask[2] == 1  # the two largest stay
    assert sum(mask) == 3
    if mask[0] == 0:  # 0.1 went; one of the free positions came back at zero
        assert mask[3] == 1 and layer.weight[0, 3] == 0


def test_rigl_regrows_where_the_dense_gradient_is_largest():
    # Only feature 0 carries signal, so dL/dW is non-zero in column 0 alone:
    # RigL must regrow there, while SET spreads at random.
    rng = np.random.default_rng(0)
    X = np.zeros((64, 8), np.float32)
    X[:, 0] = rng.normal(size=64)
    y = (X[:, 0] > 0).astype(np.int64)
    mask = torch.zeros(16, 8)
    mask[:, 1:5] = 1  # no connection reads feature 0
    torch.manual_seed(0)
    module = nn.Sequential(MaskedLinear(8, 16, mask=mask), nn.ReLU(), nn.Linear(16, 2))
    with torch.no_grad():
        module[0].bias.fill_(1.0)  # every hidden unit active: no zero gradient
    cb = RigL(0.25, 1, end_fraction=1.0, decay="constant", exclude=["2"])
    # Two steps: the update comes after the first (none at the last step).
    net = _skorch_net(module, cb, max_epochs=2, batch_size=64, lr=1e-3).fit(X, y)
    new = net.module_[0].mask
    assert int(new.sum()) == 64
    assert int(new[:, 0].sum()) == 16  # all 16 regrown connections read feature 0
    assert _dynamic(net).updates_[0]["regrown"] == 16


def test_rigl_drop_fraction_decays_by_a_cosine_and_stops_at_end_fraction(data):
    X, y = data
    cb = RigL(drop_fraction=0.4, update_every=2, end_fraction=0.5, random_state=0)
    net = _skorch_net(_masked_mlp(), cb, max_epochs=4).fit(X, y)
    cb = _dynamic(net)
    assert cb.total_steps_ == 24
    assert cb.fraction_at(0) == pytest.approx(0.4)
    assert cb.fraction_at(6) == pytest.approx(0.2)
    assert cb.fraction_at(12) == 0.0
    steps = [u["step"] for u in cb.updates_]
    assert steps == [2, 4, 6, 8, 10]
    fractions = [u["fraction"] for u in cb.updates_]
    assert fractions == sorted(fractions, reverse=True)


def test_set_can_update_once_per_epoch_like_mocanu(data):
    X, y = data
    cb = SET(update_every="epoch", random_state=0)
    net = _skorch_net(_masked_mlp(), cb, max_epochs=3).fit(X, y)
    assert len(_dynamic(net).updates_) == 2  # after epochs 1 and 2
    with pytest.raises(ValueError, match="gradient"):
        _skorch_net(_masked_mlp(), RigL(update_every="epoch")).initialize()


def test_steps_are_counted_with_a_validation_split(data):
    X, y = data
    cb = SET(update_every=2, random_state=0)
    net = _skorch_net(_masked_mlp(), cb, max_epochs=2, train_split=ValidSplit(4)).fit(
        X, y
    )
    cb = _dynamic(net)
    assert cb.steps_per_epoch_ == 5  # 144 training samples in batches of 32
    assert cb.step_ == 10


def test_same_random_state_gives_same_masks(data):
    X, y = data
    masks = []
    for _ in range(2):
        torch.manual_seed(0)
        module = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 2))
        net = _skorch_net(module, SET(update_every=2, sparsity=0.7, random_state=3))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net.fit(X, y)
        masks.append(_dynamic(net).targets_[0].plain_mask.clone())
    assert torch.equal(masks[0], masks[1])


def test_exclude_leaves_a_layer_alone(data):
    X, y = data
    module = _masked_mlp()
    out_mask = module.masked_layers[1].mask.clone()
    cb = SET(update_every=1, exclude=["layers.2"], random_state=0)
    net = _skorch_net(module, cb).fit(X, y)
    assert torch.equal(net.module_.masked_layers[1].mask, out_mask)
    assert [t.name for t in _dynamic(net).targets_] == ["layers.0"]


def test_dense_module_without_sparsity_is_refused(data):
    X, y = data
    module = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="no sparse linear layer"):
        _skorch_net(module, SET()).fit(X, y)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"drop_fraction": 0.0}, ValueError, "drop_fraction"),
        ({"drop_fraction": "a lot"}, TypeError, "drop_fraction"),
        ({"update_every": 0}, ValueError, "update_every"),
        ({"update_every": 2.5}, TypeError, "update_every"),
        ({"end_fraction": 1.5}, ValueError, "end_fraction"),
        ({"decay": "linear"}, ValueError, "decay"),
        ({"init": "normal"}, ValueError, "init"),
        ({"sparsity": 1.0}, ValueError, "sparsity"),
    ],
)
@pytest.mark.parametrize("Dynamic", CALLBACKS)
def test_invalid_parameters_are_refused_at_initialize(Dynamic, params, error, match):
    with pytest.raises(error, match=match):
        Dynamic(**params).initialize()


def test_parameters_are_scikit_learn_style():
    cb = RigL(0.5, 10, sparsity=0.9)
    params = cb.get_params()
    assert params["drop_fraction"] == 0.5 and params["update_every"] == 10
    assert params["end_fraction"] == 0.75 and params["decay"] == "cosine"
    assert SET().get_params()["decay"] == "constant"
    assert "Mocanu" in SET.__doc__ and "drop_fraction : float" in RigL.__doc__


def test_sparsity_schedule_prunes_gradually_during_fit(data):
    X, y = data
    clf = SparseMLPClassifier(
        (32,),
        sparsity=0.8,
        sparsity_schedule="gradual",
        max_epochs=4,
        batch_size=32,
        random_state=0,
    ).fit(X, y)
    # Gradual(n_steps=max_epochs // 2): Zhu & Gupta's cubic targets 0, 0.7, 0.8.
    history = [round(s, 2) for s in clf.history_[:, "sparsity"]]
    assert history == [0.0, 0.7, 0.8, 0.8]
    assert clf.sparsity_ == pytest.approx(0.8, abs=0.01)
    assert clf.get_params()["sparsity_schedule"] == "gradual"


def test_sparsity_schedule_takes_a_schedule_object(data):
    from sksparse.pruning import Iterative

    X, y = data
    clf = SparseMLPClassifier(
        (16,),
        sparsity=0.6,
        sparsity_schedule=Iterative(n_steps=2, start=1),
        max_epochs=3,
        random_state=0,
    ).fit(X, y)
    assert [round(s, 2) for s in clf.history_[:, "sparsity"]] == [0.0, 0.3, 0.6]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"sparsity_schedule": "cubic"}, "sparsity_schedule"),
        ({"sparsity_schedule": "gradual", "prior": "erdos_renyi"}, "prior"),
    ],
)
def test_sparsity_schedule_is_validated(params, match, data):
    X, y = data
    with pytest.raises(ValueError, match=match):
        SparseMLPClassifier((8,), sparsity=0.5, max_epochs=1, **params).fit(X, y)


def test_partial_fit_keeps_the_rewired_structure(data):
    X, y = data
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 2))
    net = _skorch_net(module, SET(update_every=2, sparsity=0.7, random_state=0))
    net.fit(X, y)
    cb = _dynamic(net)
    masks = [t.plain_mask.clone() for t in cb.targets_]
    targets, rng = cb.targets_, cb.rng_
    net.partial_fit(X, y)  # no new draw: the structure goes on evolving
    assert cb.targets_ is targets and cb.rng_ is rng
    for target, before in zip(cb.targets_, masks):
        assert int(target.plain_mask.sum()) == int(before.sum())
        assert bool((target.weight[~target.plain_mask] == 0).all())
    assert cb.step_ == 6 * 3
    assert len(net.history) == 6


def test_docstring_examples_run():
    import doctest

    from sksparse.pruning import _dynamic

    result = doctest.testmod(_dynamic)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("rescale", [True, False])
def test_drawn_masks_rescale_the_init_to_the_sparse_fan_in(rescale):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(400, 50), nn.ReLU(), nn.Linear(50, 2))
    before = module[0].weight.detach().clone()
    cb = SET(sparsity=0.9, init="uniform", rescale=rescale, random_state=0)
    net = _skorch_net(module, cb)
    net.initialize()
    _dynamic(net).on_train_begin(net, X=np.zeros((10, 400), np.float32))
    mask = _dynamic(net).targets_[0].plain_mask
    ratio = module[0].weight[mask] / before[mask]
    kept = mask.sum(dim=1, keepdim=True).expand_as(mask)[mask].float()
    expected = torch.sqrt(400 / kept) if rescale else torch.ones_like(kept)
    torch.testing.assert_close(ratio, expected)


@pytest.mark.parametrize("Dynamic", CALLBACKS)
def test_unknown_exclude_names_are_an_error_naming_exclude(Dynamic, data):
    X, y = data
    module = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 2))
    net = _skorch_net(module, Dynamic(sparsity=0.5, exclude=["no_such_layer"]))
    with pytest.raises(ValueError, match="exclude.*no_such_layer"):
        net.fit(X, y)
