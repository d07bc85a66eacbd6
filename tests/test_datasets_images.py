"""Tests for sksparse.datasets' image loaders, on tiny files in the real formats."""

import gzip
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from sksparse.datasets import (
    _images,
    load_cifar10,
    load_digits,
    load_fashion_mnist,
    load_mnist,
)

IDX_NAMES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
N_TRAIN, N_TEST = 20, 10


def write_idx(path, array, *, gz=False):
    """Write ``array`` (uint8) as an IDX file: magic, big-endian dims, data."""
    array = np.asarray(array, dtype=np.uint8)
    magic = bytes([0, 0, 0x08, array.ndim])
    # 2051 for 3-d ubyte images, 2049 for 1-d ubyte labels, as in MNIST.
    assert int.from_bytes(magic, "big") == 2048 + array.ndim
    header = magic + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


@pytest.fixture(scope="module")
def idx_arrays():
    rng = np.random.default_rng(0)
    return {
        "X_train": rng.integers(0, 256, size=(N_TRAIN, 28, 28), dtype=np.uint8),
        "y_train": np.arange(N_TRAIN) % 10,
        "X_test": rng.integers(0, 256, size=(N_TEST, 28, 28), dtype=np.uint8),
        "y_test": np.arange(N_TEST)[::-1] % 10,
    }


def write_idx_set(folder, arrays, *, gz):
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_NAMES.items():
        write_idx(folder / (name + (".gz" if gz else "")), arrays[key], gz=gz)


def assert_matches(loaded, arrays, *, n_train=N_TRAIN, n_test=N_TEST):
    X_train, y_train, X_test, y_test = loaded
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.shape == (n_train, 784) and X_test.shape == (n_test, 784)
    expected = arrays["X_train"][:n_train].reshape(n_train, -1) / 255.0
    np.testing.assert_allclose(X_train, expected, rtol=1e-6)
    np.testing.assert_allclose(
        X_test, arrays["X_test"][:n_test].reshape(n_test, -1) / 255.0, rtol=1e-6
    )
    np.testing.assert_array_equal(y_train, arrays["y_train"][:n_train])
    np.testing.assert_array_equal(y_test, arrays["y_test"][:n_test])


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    """Hide a system-wide Fashion-MNIST so that only the test's files count."""
    monkeypatch.setattr(_images, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("SKSPARSE_DATA", str(tmp_path / "home"))


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_reads_flat_folder(tmp_path, idx_arrays, gz):
    write_idx_set(tmp_path, idx_arrays, gz=gz)
    assert_matches(load_mnist(tmp_path), idx_arrays)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_loaders_read_torchvision_layout(tmp_path, idx_arrays, no_debian, gz):
    write_idx_set(tmp_path / "MNIST" / "raw", idx_arrays, gz=gz)
    write_idx_set(tmp_path / "FashionMNIST" / "raw", idx_arrays, gz=gz)
    assert_matches(load_mnist(str(tmp_path)), idx_arrays)
    assert_matches(load_fashion_mnist(tmp_path), idx_arrays)


def test_load_mnist_unflattened_shape(tmp_path, idx_arrays):
    write_idx_set(tmp_path, idx_arrays, gz=True)
    X_train, _, X_test, _ = load_mnist(tmp_path, flatten=False)
    assert X_train.shape == (N_TRAIN, 1, 28, 28)
    assert X_test.shape == (N_TEST, 1, 28, 28)
    np.testing.assert_allclose(X_train[:, 0], idx_arrays["X_train"] / 255.0, rtol=1e-6)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_n_samples_takes_first_train_and_proportional_test(tmp_path, idx_arrays, gz):
    write_idx_set(tmp_path, idx_arrays, gz=gz)
    loaded = load_mnist(tmp_path, n_samples=6)
    assert_matches(loaded, idx_arrays, n_train=6, n_test=3)  # 6 * 10 / 20
    assert_matches(load_mnist(tmp_path, n_samples=1000), idx_arrays)


def test_fashion_mnist_without_root_reads_debian_folder(
    tmp_path, idx_arrays, monkeypatch
):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    write_idx_set(debian, idx_arrays, gz=True)  # Debian ships them gzipped
    monkeypatch.setattr(_images, "DEBIAN_FASHION_MNIST_DIR", str(debian))
    monkeypatch.setenv("SKSPARSE_DATA", str(tmp_path / "empty-home"))
    assert_matches(load_fashion_mnist(), idx_arrays)


@pytest.mark.parametrize("incomplete", [False, True], ids=["empty", "incomplete"])
def test_given_root_never_falls_back_to_debian_folder(
    tmp_path, idx_arrays, monkeypatch, incomplete
):
    # Regression: a wrong or incomplete root silently read the system copy.
    debian = tmp_path / "debian"
    write_idx_set(debian, idx_arrays, gz=True)
    monkeypatch.setattr(_images, "DEBIAN_FASHION_MNIST_DIR", str(debian))
    root = tmp_path / "root"
    root.mkdir()
    if incomplete:
        write_idx_set(root, idx_arrays, gz=False)
        (root / IDX_NAMES["X_test"]).unlink()
    with pytest.raises(FileNotFoundError) as excinfo:
        load_fashion_mnist(root)
    message = str(excinfo.value)
    assert f"root={str(root)!r}" in message and "\n" not in message
    lacks = message.split(f"{root} lacks ")[1].split(";")[0]
    if incomplete:
        assert lacks == "t10k-images-idx3-ubyte[.gz]"
    else:
        assert all(name in lacks for name in IDX_NAMES.values())
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_fashion_mnist(tmp_path / "typo")


def test_root_given_wins_over_debian_folder(tmp_path, idx_arrays, monkeypatch):
    debian, root = tmp_path / "debian", tmp_path / "root"
    write_idx_set(debian, {**idx_arrays, "y_train": idx_arrays["y_train"] * 0}, gz=True)
    write_idx_set(root, idx_arrays, gz=False)
    monkeypatch.setattr(_images, "DEBIAN_FASHION_MNIST_DIR", str(debian))
    assert_matches(load_fashion_mnist(root), idx_arrays)


def test_root_none_reads_sksparse_data(tmp_path, idx_arrays, no_debian, monkeypatch):
    write_idx_set(tmp_path / "home" / "MNIST" / "raw", idx_arrays, gz=True)
    assert_matches(load_mnist(), idx_arrays)


def test_missing_fashion_mnist_error_says_where_and_how(tmp_path, no_debian):
    with pytest.raises(FileNotFoundError) as excinfo:
        load_fashion_mnist(tmp_path / "nowhere")
    message = str(excinfo.value)
    assert "Fashion-MNIST" in message
    assert str(tmp_path / "nowhere") in message
    assert str(tmp_path / "none") in message  # root=None would read it
    assert str(Path("nowhere") / "FashionMNIST" / "raw") in message
    for name in IDX_NAMES.values():
        assert name in message
    assert "download=True" in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_missing_mnist_error_does_not_mention_debian(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST was not found") as excinfo:
        load_mnist(tmp_path)
    assert "download=True" in str(excinfo.value)
    assert "apt-get" not in str(excinfo.value)


def test_incomplete_folder_is_not_found(tmp_path, idx_arrays):
    write_idx_set(tmp_path, idx_arrays, gz=False)
    (tmp_path / IDX_NAMES["y_test"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_corrupt_idx_file_raises_value_error(tmp_path, idx_arrays):
    write_idx_set(tmp_path, idx_arrays, gz=False)
    (tmp_path / IDX_NAMES["X_train"]).write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_mnist(tmp_path)
    write_idx_set(tmp_path, idx_arrays, gz=False)
    path = tmp_path / IDX_NAMES["X_test"]
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, True, "10"])
def test_bad_n_samples_raises(tmp_path, idx_arrays, n_samples):
    write_idx_set(tmp_path, idx_arrays, gz=False)
    with pytest.raises(ValueError, match="n_samples"):
        load_mnist(tmp_path, n_samples=n_samples)


def fake_torchvision(monkeypatch, classes):
    """Stand in for torchvision (no network in tests, and it is slow to import)."""
    datasets = types.ModuleType("torchvision.datasets")
    for name, cls in classes.items():
        setattr(datasets, name, cls)
    torchvision = types.ModuleType("torchvision")
    torchvision.datasets = datasets
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)


def test_download_goes_through_torchvision(tmp_path, idx_arrays, monkeypatch):
    calls = []

    class FakeMNIST:
        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            write_idx_set(Path(root) / "MNIST" / "raw", idx_arrays, gz=False)

    fake_torchvision(monkeypatch, {"MNIST": FakeMNIST})
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path)  # download=False never calls torchvision
    assert calls == []
    assert_matches(load_mnist(tmp_path, download=True), idx_arrays)
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]


def test_failed_download_raises_file_not_found(tmp_path, no_debian, monkeypatch):
    class OfflineDataset:
        def __init__(self, root, train=True, download=False):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    fake_torchvision(
        monkeypatch, {"FashionMNIST": OfflineDataset, "CIFAR10": OfflineDataset}
    )
    with pytest.raises(FileNotFoundError, match="download failed") as excinfo:
        load_fashion_mnist(tmp_path, download=True)
    assert "Error downloading" in str(excinfo.value)
    with pytest.raises(FileNotFoundError, match="(?s)CIFAR-10.*download failed"):
        load_cifar10(tmp_path, download=True)


# CIFAR-10 ---------------------------------------------------------------------

CIFAR_PER_BATCH, CIFAR_TEST = 4, 4


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """Tiny CIFAR-10: five training batches of 4 images, a test batch of 4."""
    root = tmp_path_factory.mktemp("cifar")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    arrays = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        data = rng.integers(0, 256, size=(CIFAR_PER_BATCH, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(CIFAR_PER_BATCH)]
        arrays[name] = (data, labels)
        batch = {
            "batch_label": f"batch {i}",
            "labels": labels,
            "data": data,
            "filenames": [f"img_{i}_{j}.png" for j in range(CIFAR_PER_BATCH)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    meta = {"label_names": [f"class{k}" for k in range(10)], "num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return root, arrays


def test_load_cifar10_reads_pickled_batches(cifar_root):
    root, arrays = cifar_root
    X_train, y_train, X_test, y_test = load_cifar10(root)
    assert X_train.shape == (5 * CIFAR_PER_BATCH, 3, 32, 32)
    assert X_test.shape == (CIFAR_TEST, 3, 32, 32)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    train = [arrays[f"data_batch_{i}"] for i in range(1, 6)]
    expected = np.concatenate([d for d, _ in train]).reshape(-1, 3, 32, 32) / 255.0
    np.testing.assert_allclose(X_train, expected, rtol=1e-6)
    np.testing.assert_array_equal(y_train, np.concatenate([lab for _, lab in train]))
    np.testing.assert_allclose(
        X_test, arrays["test_batch"][0].reshape(-1, 3, 32, 32) / 255.0, rtol=1e-6
    )
    np.testing.assert_array_equal(y_test, arrays["test_batch"][1])
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0


def test_load_cifar10_flatten_and_n_samples(cifar_root):
    root, arrays = cifar_root
    X_train, y_train, X_test, y_test = load_cifar10(
        root / "cifar-10-batches-py", flatten=True, n_samples=6
    )
    assert X_train.shape == (6, 3072) and y_train.shape == (6,)
    assert X_test.shape == (1, 3072)  # 6 * 10000 / 50000, rounded, at least 1
    np.testing.assert_allclose(X_train[4], arrays["data_batch_2"][0][0] / 255.0)


def test_missing_cifar10_error_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as excinfo:
        load_cifar10(tmp_path)
    message = str(excinfo.value)
    assert "CIFAR-10" in message
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "data_batch_1" in message and "test_batch" in message
    assert "download=True" in message


# load_digits -------------------------------------------------------------------


def test_load_digits_shapes_dtypes_and_range():
    X_train, y_train, X_test, y_test = load_digits()
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0  # 0..16 divided by 16
    # Stratified: every class in the test set, in about the same proportion.
    np.testing.assert_allclose(
        np.bincount(y_test) / len(y_test),
        np.bincount(y_train) / len(y_train),
        atol=0.01,
    )
    X_img = load_digits(flatten=False)[0]
    assert X_img.shape == (1347, 1, 8, 8)
    np.testing.assert_array_equal(X_img.reshape(len(X_img), -1), X_train)


def test_load_digits_seeded_and_sliced():
    first, again = load_digits(random_state=3), load_digits(random_state=3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], load_digits(random_state=4)[1])
    X_train, y_train, X_test, y_test = load_digits(test_size=0.5, n_samples=100)
    assert X_train.shape == (100, 64) and X_test.shape == (100, 64)


def test_import_pulls_in_neither_sklearn_nor_torchvision():
    code = (
        "import sys, sksparse.datasets; "
        "print(sorted(m for m in ('sklearn', 'torch', 'torchvision') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(
    not Path(_images.DEBIAN_FASHION_MNIST_DIR).is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist_from_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("SKSPARSE_DATA", str(tmp_path))  # nothing there
    X_train, y_train, X_test, y_test = load_fashion_mnist(n_samples=600)
    assert X_train.shape == (600, 784) and X_test.shape == (100, 784)
    assert set(np.unique(y_train)) == set(range(10))
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0
