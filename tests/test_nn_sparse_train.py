"""CSR training: the same forward and gradients as the masked network."""

import copy
import pickle

import pytest
import torch
from torch import nn

from sksparse.nn import CSRMLP, CSRLinear, SparseMLP


@pytest.fixture
def masked():
    torch.manual_seed(0)
    masks = [torch.rand(16, 12) < 0.3, torch.rand(8, 16) < 0.2, None]
    return SparseMLP(12, (16, 8), 3, masks=masks)


def _grads(model, x, y):
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()


@pytest.mark.parametrize("use_numba", [True, False])
def test_forward_and_gradients_equal_the_masked_network(masked, use_numba, monkeypatch):
    if not use_numba:
        monkeypatch.setattr("sksparse.nn._sparse_train.numba_available", lambda: False)
    sparse = CSRMLP.from_masked(masked)
    x, y = torch.randn(7, 12, requires_grad=True), torch.randint(0, 3, (7,))
    x2 = x.detach().clone().requires_grad_(True)
    torch.testing.assert_close(sparse(x), masked(x), atol=1e-6, rtol=1e-5)
    _grads(masked, x, y)
    _grads(sparse, x2, y)
    torch.testing.assert_close(x2.grad, x.grad, atol=1e-6, rtol=1e-5)
    for linear, layer in zip(masked.masked_layers, sparse.layers):
        if isinstance(layer, CSRLinear):
            keep = layer.mask()
            assert torch.equal(keep, linear.mask.bool())
            torch.testing.assert_close(layer.values.grad, linear.weight.grad[keep])
        else:  # an all-ones mask trains as a dense layer
            torch.testing.assert_close(layer.weight.grad, linear.weight.grad)
        torch.testing.assert_close(layer.bias.grad, linear.bias.grad)


def test_training_never_revives_a_removed_connection(masked):
    sparse = CSRMLP.from_masked(masked)
    opt = torch.optim.Adam(sparse.parameters(), lr=0.1)
    x, y = torch.randn(32, 12), torch.randint(0, 3, (32,))
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(sparse(x), y).backward()
        opt.step()
    sparse.write_to(masked)
    for linear in masked.masked_layers:
        assert not bool(linear.weight[~linear.mask.bool()].any())
    torch.testing.assert_close(masked(x), sparse(x), atol=1e-5, rtol=1e-5)


def test_optimizer_sees_only_the_kept_weights(masked):
    sparse = CSRMLP.from_masked(masked)
    first = sparse.layers[0]
    assert first.values.numel() == int(masked.masked_layers[0].mask.sum())
    assert first.nnz == first.values.numel()
    assert 0 < first.density < 1


def test_copies_and_pickles_keep_the_structure(masked):
    sparse = CSRMLP.from_masked(masked)
    x = torch.randn(4, 12)
    for twin in (copy.deepcopy(sparse), pickle.loads(pickle.dumps(sparse))):
        torch.testing.assert_close(twin(x), sparse(x))


def test_dropout_and_activation_are_carried_over():
    net = SparseMLP(5, (6,), 2, activation="tanh", dropout=0.5)
    sparse = CSRMLP.from_masked(net)
    assert isinstance(sparse.activation, nn.Tanh)
    assert sparse.dropout.p == 0.5


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        CSRLinear(torch.ones(2, 2), torch.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="same shape"):
        CSRLinear(torch.ones(2, 2), torch.ones(3, 2))
    with pytest.raises(TypeError, match="SparseMLP"):
        CSRMLP.from_masked(nn.Linear(2, 2))
    layer = CSRLinear(torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="feature-major input with 3 rows"):
        layer(torch.ones(2, 2))
    with pytest.raises(ValueError, match="linear layers"):
        CSRMLP.from_masked(SparseMLP(3, (2,), 2)).write_to(SparseMLP(3, (2, 2), 2))
