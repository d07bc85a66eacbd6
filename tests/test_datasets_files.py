"""sksparse.datasets._files: .npz and .csv data files, read and checked."""

import numpy as np
import pytest

from sksparse.datasets._files import load_dataset, read_csv, read_npz
from sksparse.datasets._validation import DataFileError


def write_npz(path, **override):
    rng = np.random.default_rng(0)
    arrays = {
        "X_train": rng.random((20, 2, 3)),
        "y_train": rng.integers(0, 3, 20),
        "X_test": rng.random((5, 2, 3)),
        "y_test": rng.integers(0, 3, 5),
    }
    arrays.update(override)
    np.savez(path, **arrays)
    return path, arrays


def test_npz_is_read_flattened_and_subsampled(tmp_path):
    path, arrays = write_npz(tmp_path / "d.npz")
    X, y, X_test, y_test = load_dataset(path, n_samples=10)
    assert X.shape == (10, 6) and X.dtype == np.float32 and X_test.shape[0] == 2
    np.testing.assert_array_equal(y, arrays["y_train"][:10])


def test_bad_npz_files_raise_one_line_errors_naming_them(tmp_path):
    path, _ = write_npz(tmp_path / "d.npz")
    good = path.read_bytes()
    cases = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "bad CRC": good.replace(b"\x00" * 8, b"\x01" * 8, 1),
    }
    for case, data in cases.items():
        path.write_bytes(data)
        with pytest.raises(DataFileError) as excinfo:
            read_npz(path)
        message = str(excinfo.value)
        assert message.startswith(str(path)) and "\n" not in message, case
    write_npz(path, y_test=np.zeros(4))
    with pytest.raises(DataFileError, match="same number"):
        read_npz(path)
    write_npz(path, X_test=np.full((5, 2), 1e39))
    with pytest.raises(DataFileError, match="float32"):
        read_npz(path)


def test_csv_with_byte_order_mark_finds_its_label_column(tmp_path):
    # Regression: a UTF-8 BOM hid the header's first name, "label".
    path = tmp_path / "d.csv"
    rows = [f"{i % 2},{i}" for i in range(40)]
    path.write_text("\n".join(["label,x", *rows]), encoding="utf-8-sig")
    X, y, X_test, y_test = read_csv(path, test_size=0.25)
    assert X.shape == (30, 1) and sorted(np.bincount(y_test)) == [5, 5]
    np.testing.assert_array_equal(X[:, 0] % 2, y)  # x, not the label, is X


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("x,y\n" + "1" * 200_000 + ",0\n", "not a readable CSV"),
        ("x,y\nnan,0\n1,1\n", "NaN, inf"),
        ("x,y\na,1\n", "must hold numbers"),
        ("x,y,split\n1,0,valid\n", "'train' or 'test'"),
    ],
)
def test_bad_csv_files_raise_errors_naming_them(tmp_path, text, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DataFileError, match=message) as excinfo:
        load_dataset(path)
    assert str(excinfo.value).startswith(str(path))
