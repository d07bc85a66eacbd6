"""Compact pickles: masks as bits, CSR indices narrow, the same tensors on load."""

import collections
import copy
import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from skorch import NeuralNet

from sksparse import GraphPriorRNNClassifier, SparseMLPClassifier
from sksparse.nn import CompactLinear, MaskedLinear, MaskedLSTM, compress
from sksparse.nn._packing import pack_mask


class _ByteCounter(pickle.Pickler):
    """A pickler that counts the bytes of the tensors and arrays it writes."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.nbytes = collections.Counter()

    def reducer_override(self, obj):
        if isinstance(obj, NeuralNet):
            # skorch pickles its modules and optimizers into a bytes blob of
            # their own: count what that blob holds.
            prefixes = tuple(obj.cuda_dependent_attributes_)
            inner = {k: v for k, v in vars(obj).items() if k.startswith(prefixes)}
            self.nbytes.update(_stored_bytes(inner))
        elif isinstance(obj, torch.TypedStorage):
            self.nbytes["torch"] += obj._untyped_storage.nbytes()
        elif isinstance(obj, torch.UntypedStorage):
            self.nbytes["torch"] += obj.nbytes()
        elif isinstance(obj, np.ndarray):
            self.nbytes[obj.dtype.name] += obj.nbytes
        return NotImplemented


def _stored_bytes(obj):
    pickler = _ByteCounter(io.BytesIO())
    pickler.dump(obj)
    return pickler.nbytes


def _joblib_round_trip(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    size = buffer.tell()
    buffer.seek(0)
    return joblib.load(buffer), size


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 784)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    return X, y


def _fit(data, sparsity, **params):
    return SparseMLPClassifier(
        (300, 100), sparsity=sparsity, max_epochs=1, random_state=0, **params
    ).fit(*data)


def _weight_bytes(clf):
    return sum(p.numel() * p.element_size() for p in clf.module_.parameters())


def test_a_mask_is_stored_as_bits_and_loads_as_the_same_float_buffer():
    torch.manual_seed(0)
    layer = MaskedLinear(70, 30, mask=torch.rand(30, 70) < 0.2)
    stored = _stored_bytes(layer)
    # The weights and biases in float32; the mask as 2,100 bits (263 bytes).
    assert stored["torch"] == 4 * (70 * 30 + 30)
    assert stored["uint8"] == (70 * 30 + 7) // 8
    for other in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        assert other.mask.dtype == torch.float32
        torch.testing.assert_close(other.mask, layer.mask, rtol=0, atol=0)
        x = torch.randn(5, 70)
        torch.testing.assert_close(other(x), layer(x), rtol=0, atol=0)
    # The layer pickled keeps its own float buffer.
    assert layer.mask.dtype == torch.float32


def test_a_mask_that_is_not_zero_one_is_stored_as_it_is():
    soft = torch.tensor([[0.5, 1.0], [0.0, 1.0]])
    assert pack_mask(soft) is soft
    hard = (torch.rand(30, 30) < 0.5).double()
    loaded = pickle.loads(pickle.dumps(pack_mask(hard)))
    assert loaded.dtype == torch.float64
    torch.testing.assert_close(loaded, hard, rtol=0, atol=0)


def test_recurrent_masks_are_stored_as_bits():
    torch.manual_seed(0)
    lstm = MaskedLSTM(10, 16, ih_masks=torch.rand(64, 10) < 0.5)
    stored = _stored_bytes(lstm)
    n_masks = 64 * 10 + 64 * 16
    assert stored["uint8"] == n_masks // 8
    n_params = sum(p.numel() for p in lstm.parameters())
    assert stored["torch"] == 4 * n_params < 4 * (n_params + n_masks)
    loaded = pickle.loads(pickle.dumps(lstm))
    for name in ("ih_mask_l0", "hh_mask_l0"):
        torch.testing.assert_close(getattr(loaded, name), getattr(lstm, name))
    x = torch.randn(2, 3, 10)
    torch.testing.assert_close(loaded(x)[0], lstm(x)[0], rtol=0, atol=0)


def test_rnn_estimator_reloads_and_predicts_the_same():
    X = [[1, 2, 3], [3, 2, 1]] * 20
    y = [0, 1] * 20
    clf = GraphPriorRNNClassifier("lstm", 4, max_epochs=2, random_state=0).fit(X, y)
    loaded, _ = _joblib_round_trip(clf)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_dense_estimator_file_is_its_weights_and_bits(data):
    clf = _fit(data, 0.0)
    weights = _weight_bytes(clf)
    n_mask = sum(m.size for m in clf.masks_)
    stored = _stored_bytes(clf)
    # Every weight once in float32, every mask entry once as a bit, no
    # optimizer state (warm_start=False).
    assert stored["torch"] == weights
    assert stored["uint8"] == sum((m.size + 7) // 8 for m in clf.masks_)
    assert stored["uint8"] < n_mask / 7
    loaded, size = _joblib_round_trip(clf)
    assert size <= 1.3 * weights
    np.testing.assert_array_equal(
        loaded.predict_proba(data[0]), clf.predict_proba(data[0])
    )
    for a, b in zip(loaded.masks_, clf.masks_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sparsity, fraction", [(0.95, 0.08), (0.99, 0.02)])
@pytest.mark.parametrize("layout", ["csr", "dense"])
def test_compressed_estimator_file_is_a_small_fraction_of_the_dense_one(
    data, sparsity, fraction, layout
):
    _, dense_size = _joblib_round_trip(_fit(data, 0.0))
    clf = _fit(data, sparsity)
    # layout="dense" too: a layer kept dense for speed is still stored by
    # its non-zeros, so the file does not depend on the timed layout.
    small = clf.compress(layout=layout)
    loaded, size = _joblib_round_trip(small)
    assert size <= fraction * dense_size
    for layer, original in zip(loaded.module_.layers, small.module_.layers):
        assert layer.layout == original.layout == layout
        for name, buffer in original.named_buffers():
            restored = getattr(layer, name)
            assert restored.dtype == buffer.dtype
            torch.testing.assert_close(restored, buffer, rtol=0, atol=0)
    X = data[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), small.predict_proba(X))
    np.testing.assert_allclose(
        loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-4, atol=1e-6
    )


def test_csr_indices_are_stored_narrow_and_load_as_int32():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(40, 300, generator=gen)
    weight *= torch.rand(40, 300, generator=gen) < 0.1
    layer = CompactLinear(weight, torch.zeros(40), layout="csr")
    stored = _stored_bytes(layer)
    nnz = layer.nnz
    assert stored["uint16"] == 2 * nnz  # column indices
    # Values, bias and the 41 row offsets (too few to be worth packing).
    assert stored["torch"] == 4 * (nnz + 40 + 41)
    loaded = pickle.loads(pickle.dumps(layer))
    assert loaded.col_indices.dtype == loaded.crow_indices.dtype == torch.int32
    torch.testing.assert_close(loaded.dense_weight(), weight, rtol=0, atol=0)


def test_small_or_dense_tensors_are_stored_as_they_are():
    # A dense matrix, and tensors so small that packing would add more
    # pickle framing than it saves.
    weight = torch.randn(40, 50)
    layer = CompactLinear(weight, torch.zeros(40), layout="dense")
    assert _stored_bytes(layer)["torch"] == 4 * (40 * 50 + 40)
    tiny = MaskedLinear(4, 3, mask=torch.eye(3, 4))
    assert _stored_bytes(tiny)["torch"] == 4 * (12 + 3 + 12)
    assert len(pickle.dumps(tiny)) <= len(pickle.dumps(torch.nn.Linear(4, 3))) + 400


def test_warm_start_after_reload_continues_from_the_loaded_weights(data):
    X, y = data
    clf = _fit(data, 0.9)
    loaded, _ = _joblib_round_trip(clf)
    # warm_start=False kept no optimizer state: a warm start after loading
    # trains on from the weights with a fresh one, and the masks hold.
    assert not loaded.net_.optimizer_.state
    before = [p.detach().clone() for p in loaded.module_.parameters()]
    loaded.set_params(warm_start=True).fit(X, y)
    assert len(loaded.history_) == 2
    after = list(loaded.module_.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    for layer, mask in zip(loaded.module_.masked_layers, clf.masks_):
        assert not layer.weight[torch.from_numpy(~mask)].any()
    assert loaded.sparsity_ == pytest.approx(clf.sparsity_)


def test_compress_of_a_network_keeps_dense_file_for_dense_weights():
    net = compress(torch.nn.Linear(20, 5), layout="dense")
    assert _stored_bytes(net)["torch"] == 4 * (20 * 5 + 5)
