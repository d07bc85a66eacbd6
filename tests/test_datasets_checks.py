"""Regression tests: loaders refuse files that do not hold what they promise."""

import gzip
import pickle

import numpy as np
import pytest

from sksparse.datasets import load_cifar10, load_mnist
from sksparse.datasets._idx import read_idx
from sksparse.datasets._validation import DataFileError

IDX_NAMES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array, code=0x08, dtype=">u1"):
    array = np.asarray(array)
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(dtype).tobytes()


def write_set(folder, *, gz=False, **override):
    rng = np.random.default_rng(0)
    arrays = {
        "X_train": idx_bytes(rng.integers(0, 256, (6, 28, 28))),
        "y_train": idx_bytes(np.arange(6) % 10),
        "X_test": idx_bytes(rng.integers(0, 256, (3, 28, 28))),
        "y_test": idx_bytes(np.arange(3)),
    }
    arrays.update(override)
    for key, data in arrays.items():
        name = IDX_NAMES[key] + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return folder


def test_every_bit_flip_in_a_gzip_member_is_caught_or_harmless(tmp_path):
    # Regression: 60 of 61 bit flips that gzip rejects loaded changed pixels.
    data = idx_bytes(np.arange(20) % 10)
    packed = gzip.compress(data, mtime=0)
    path = tmp_path / "labels.gz"
    caught = 0
    for i in range(len(packed)):
        for bit in range(8):
            flipped = bytearray(packed)
            flipped[i] ^= 1 << bit
            path.write_bytes(bytes(flipped))
            try:
                y, _ = read_idx(path, ndim=1)
            except DataFileError as exc:
                assert str(path) in str(exc)
                caught += 1
                continue
            # Only the header fields gzip does not protect (mtime, flags, OS).
            np.testing.assert_array_equal(y, np.arange(20) % 10)
    assert caught > 0.8 * 8 * len(packed)


def test_corrupt_gzip_member_names_the_file(tmp_path):
    write_set(tmp_path, gz=True)
    path = tmp_path / (IDX_NAMES["X_train"] + ".gz")
    packed = bytearray(path.read_bytes())
    packed[-6] ^= 0x01  # the CRC-32, checked only at the end of the stream
    path.write_bytes(bytes(packed))
    with pytest.raises(DataFileError, match="corrupt gzip stream") as excinfo:
        load_mnist(tmp_path, n_samples=1)  # even when only 1 image is kept
    assert str(path) in str(excinfo.value)
    path.write_bytes(bytes(packed[: len(packed) // 2]))
    with pytest.raises(ValueError, match="corrupt gzip stream"):
        load_mnist(tmp_path)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x08\x03\x00\x00" + bytes(8), "not an IDX file"),
        (b"\x00\x00\x07\x01" + bytes(8), "unknown IDX type code 0x07"),
        (idx_bytes(np.zeros((6, 28))), "expected 3 dimensions"),
        (b"\x00\x00\x08\x03" + bytes(5), "truncated in its header"),
        (idx_bytes(np.zeros((6, 28, 28))) + b"\x00", "1 bytes after the data"),
        (idx_bytes(np.zeros((0, 28, 28))), "holds no data"),
    ],
)
def test_bad_idx_headers_are_refused(tmp_path, data, message):
    write_set(tmp_path, X_train=data)
    with pytest.raises(DataFileError, match=message):
        load_mnist(tmp_path)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_huge_claimed_size_is_refused_before_allocating(tmp_path, gz):
    header = b"\x00\x00\x08\x03" + (2**32 - 1).to_bytes(4, "big") * 3
    write_set(tmp_path, gz=gz, X_train=header + bytes(100))
    with pytest.raises(DataFileError, match="truncated|can hold"):
        load_mnist(tmp_path)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"y_train": idx_bytes([0, 1, 2, 200, 4, 5])}, r"0\.\.9, found 200"),
        ({"y_train": idx_bytes([0, 1, 255, 3, 4, 5])}, r"0\.\.9, found 255"),
        (
            {"y_train": idx_bytes([0, 1, -5, 3, 4, 5], code=0x09, dtype=">i1")},
            r"0\.\.9, found -5",
        ),
        ({"y_test": idx_bytes([0, 1])}, "holds 3 images but"),
        (
            {"X_test": idx_bytes(np.full((3, 28, 28), 1000), 0x0C, ">i4")},
            r"0\.\.255, found 1000",
        ),
        (
            {"X_test": idx_bytes(np.full((3, 28, 28), 0.5), 0x0D, ">f4")},
            "float images are not read",
        ),
        ({"X_test": idx_bytes(np.zeros((3, 32, 32)))}, "must be 28x28"),
    ],
)
def test_labels_counts_and_pixels_are_checked(tmp_path, override, message):
    write_set(tmp_path, **override)
    with pytest.raises(DataFileError, match=message):
        load_mnist(tmp_path)


def test_integer_idx_images_scale_like_uint8(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (3, 28, 28))
    write_set(tmp_path, X_test=idx_bytes(pixels))
    as_uint8 = load_mnist(tmp_path)[2]
    write_set(tmp_path, X_test=idx_bytes(pixels, 0x0B, ">i2"))
    np.testing.assert_array_equal(load_mnist(tmp_path)[2], as_uint8)


def write_cifar(root, *, data=None, labels=None, extra=None):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 3]}
        if name == "data_batch_2":
            batch.update(
                {k: v for k, v in (("data", data), ("labels", labels)) if v is not None}
            )
            if extra is not None:
                batch["extra"] = extra
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return folder / "data_batch_2"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"labels": [0, 1, 2]}, "holds 4 images but 3 labels"),
        ({"data": np.full((4, 3072), 1000, np.int64)}, r"0\.\.255, found 1000"),
        ({"data": np.zeros((4, 3072), np.float32)}, "float images"),
        ({"labels": [0, 1, 2, 10]}, r"0\.\.9, found 10"),
        ({"data": np.zeros((4, 100), np.uint8)}, r"shape \(n, 3072\)"),
        (
            {"extra": print},
            r"__builtin__\.print, which",
        ),  # a global beyond numpy arrays
    ],
)
def test_bad_cifar_batches_are_refused(tmp_path, kwargs, message):
    path = write_cifar(tmp_path, **kwargs)
    with pytest.raises(DataFileError, match=message) as excinfo:
        load_cifar10(tmp_path)
    assert str(path) in str(excinfo.value)


def test_truncated_cifar_batch_is_refused(tmp_path):
    path = write_cifar(tmp_path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataFileError, match="not a readable CIFAR-10 batch"):
        load_cifar10(tmp_path)
