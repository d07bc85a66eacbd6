"""Block (BSR) and N:M compact layers, and compress() finding them."""

import pickle

import pytest
import torch
from torch import nn

from sksparse.nn import BlockLinear, NMLinear, SparseMLP, compress
from sksparse.nn._structured import find_blocks, find_nm
from sksparse.pruning import MagnitudePruner

pytest.importorskip("numba")


def pruned_linear(pattern, amount=0.9, shape=(30, 50)):
    torch.manual_seed(0)
    layer = nn.Linear(shape[1], shape[0])
    MagnitudePruner(amount, pattern=pattern).prune(layer)
    return layer.weight.detach(), layer.bias.detach()


def reference(weight, bias, x):
    return torch.nn.functional.linear(x, weight, bias)


@pytest.mark.parametrize("blocks", [(4, 4), (8, 8), (1, 4), (4, 1), (2, 8)])
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_block_layer_computes_the_dense_product(blocks, backend):
    weight, bias = pruned_linear(blocks)
    if backend == "torch" and blocks[0] != blocks[1]:
        with pytest.raises(ValueError, match="square blocks"):
            BlockLinear(weight, bias, blocks, backend)
        return
    layer = BlockLinear(weight, bias, blocks, backend)
    assert torch.equal(layer.dense_weight(), weight)
    assert layer.nnz == int(torch.count_nonzero(weight))
    for n in (1, 5, 64):
        x = torch.randn(n, weight.shape[1])
        torch.testing.assert_close(layer(x), reference(weight, bias, x))
        torch.testing.assert_close(
            layer(x, relu=True), reference(weight, bias, x).relu()
        )
    # Only whole blocks are stored: one column index per block.
    r, c = blocks
    assert layer.values.shape[1:] == (r, c)
    assert layer.col_indices.numel() == layer.values.shape[0]


@pytest.mark.parametrize("pattern", ["2:4", "1:10", "3:8", "1:7"])
def test_nm_layer_computes_the_dense_product(pattern):
    weight, bias = pruned_linear(pattern)
    n, m = (int(v) for v in pattern.split(":"))
    found = find_nm(weight)
    assert found is not None and found[0] / found[1] <= n / m
    layer = NMLinear(weight, bias, n, m)
    assert torch.equal(layer.dense_weight(), weight)
    assert layer.offsets.dtype == torch.uint8
    assert layer.values.shape == (weight.shape[0], -(-weight.shape[1] // m) * n)
    for size in (1, 9, 64):
        x = torch.randn(size, weight.shape[1])
        torch.testing.assert_close(
            layer(x, relu=True), reference(weight, bias, x).relu()
        )


def test_nm_layer_refuses_groups_fuller_than_n():
    weight, bias = pruned_linear("2:4")
    with pytest.raises(ValueError, match="more than 1 non-zeros in a group of 4"):
        NMLinear(weight, bias, 1, 4)


def test_structures_are_found_only_where_they_are():
    assert find_blocks(pruned_linear((8, 8))[0]) == (8, 8)
    assert find_blocks(pruned_linear((4, 1))[0]) in ((4, 1), (8, 1))
    assert find_nm(pruned_linear("1:10")[0]) == (1, 10)
    unstructured = pruned_linear(None)[0]
    assert find_blocks(unstructured) is None and find_nm(unstructured) is None
    assert find_blocks(torch.zeros(4, 4)) is None and find_nm(torch.zeros(4, 4)) is None


def _net(pattern):
    torch.manual_seed(0)
    net = SparseMLP(64, (32, 16), 10)
    MagnitudePruner(0.75, pattern=pattern).prune(net)
    return net.eval()


@pytest.mark.parametrize(
    "pattern, layout, kind", [((4, 4), "bsr", BlockLinear), ("1:4", "nm", NMLinear)]
)
def test_compress_stores_a_pruned_pattern_in_its_form(pattern, layout, kind):
    net = _net(pattern)
    small = compress(net, layout=layout)
    assert all(isinstance(layer, kind) for layer in small.layers)
    x = torch.randn(20, 64)
    torch.testing.assert_close(small(x), net(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(small(x[:1]), net(x[:1]), atol=1e-5, rtol=1e-5)
    again = pickle.loads(pickle.dumps(small))
    torch.testing.assert_close(again(x), small(x))
    # "auto" times the form beside dense and CSR and answers the same.
    auto = compress(net)
    torch.testing.assert_close(auto(x), net(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "pattern, layout", [((4, 4), "bsr"), ("1:4", "nm"), ("1:4", "auto")]
)
def test_structured_layers_run_padded_as_predict_proba_runs_them(pattern, layout):
    # compress(layout="auto") times whole networks this way, structured
    # forms among the candidates; each sample's outputs stay its own.
    from sksparse.nn._csr import PREDICT_PAD_ROWS

    net = _net(pattern)
    small = compress(net, layout=layout)
    x = torch.randn(20, 64)
    batch = small(x, pad_rows=PREDICT_PAD_ROWS)
    torch.testing.assert_close(batch, net(x), atol=1e-5, rtol=1e-5)
    for i in (0, 7):
        assert torch.equal(
            small(x[i : i + 1], pad_rows=PREDICT_PAD_ROWS), batch[i : i + 1]
        )
    assert torch.equal(small(x[:3], pad_rows=PREDICT_PAD_ROWS), batch[:3])


def test_compress_refuses_a_form_a_layer_lacks():
    with pytest.raises(ValueError, match="no block structure"):
        compress(_net(None), layout="bsr")
    with pytest.raises(ValueError, match="no N:M groups"):
        compress(_net(None), layout="nm")
