"""The IDX format (MNIST's), plain or gzipped, read with every field checked.

IDX is parsed here rather than by torchvision's ``read_image_file``:
torchvision's reader opens files with a plain ``open`` (no gzip) and its
datasets expect their own ``<root>/<Name>/raw`` layout, whereas Debian ships the
files gzipped in a flat folder. Reading them directly also keeps torchvision
(seconds to import) out of the offline path.
"""

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from sksparse.datasets._validation import DataFileError

# IDX type codes (http://yann.lecun.com/exdb/mnist/): all multi-byte values are
# big-endian, hence the ">" in the dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate expands at most 1032:1 (zlib's "technical details" page), so a gzip
# file of ``size`` bytes cannot hold more than 1032 * size: a header claiming
# more is refused before anything that large is allocated.
_MAX_DEFLATE_RATIO = 1032


def _read_header(f, path, size, *, gzipped, ndim):
    """Parse and check the header; return ``(dtype, shape)``.

    The header is two zero bytes, the type code, the number of dimensions, then
    one big-endian uint32 per dimension (2051 = ubyte images, 2049 = labels).
    """
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\x00\x00":
        raise DataFileError(
            path,
            f"not an IDX file (magic bytes {magic.hex() or 'none'}, expected "
            "0000 then a type code and the number of dimensions).",
        )
    code, n_dims = magic[2], magic[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataFileError(
            path, f"unknown IDX type code 0x{code:02X} (known: {known})."
        )
    if n_dims != ndim:
        raise DataFileError(
            path, f"holds {n_dims}-dimensional data, expected {ndim} dimensions."
        )
    dims = f.read(4 * n_dims)
    if len(dims) != 4 * n_dims:
        raise DataFileError(path, "truncated in its header.")
    dtype = _IDX_DTYPES[code]
    shape = tuple(int(n) for n in np.frombuffer(dims, dtype=">u4"))
    if 0 in shape:
        raise DataFileError(path, f"holds no data (shape {shape}).")
    n_bytes = math.prod(shape) * dtype.itemsize
    if gzipped:
        if n_bytes > _MAX_DEFLATE_RATIO * size:
            raise DataFileError(
                path,
                f"header claims shape {shape} ({n_bytes} bytes of data), more "
                f"than a gzip file of {size} bytes can hold.",
            )
    else:
        found = size - 4 - 4 * n_dims
        if found < n_bytes:
            raise DataFileError(
                path,
                f"truncated: header claims shape {shape} of {dtype.name} "
                f"({n_bytes} bytes of data), the file holds {found}.",
            )
        if found > n_bytes:
            raise DataFileError(
                path,
                f"has {found - n_bytes} bytes after the data of shape {shape} "
                "its header describes.",
            )
    return dtype, shape


def read_idx(path, *, ndim, max_items=None):
    """Read an IDX file into a numpy array; return it and the full count.

    Parameters
    ----------
    path : path-like
        The file, plain or gzipped (told apart by gzip's magic bytes).
    ndim : int
        Number of dimensions the file must have (3 for images, 1 for labels).
    max_items : int, default=None
        Return only the first entries along the first axis.

    Returns
    -------
    data : ndarray
        Native byte order, writable.
    n_total : int
        The length of the first axis that the file holds.

    Raises
    ------
    DataFileError
        A ``ValueError`` naming the file: a bad magic number or type code, an
        unexpected number of dimensions, a size that differs from what the
        header claims, or a corrupt gzip stream (bad CRC or length, truncated).
    """
    path = Path(path)
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        size = os.fstat(raw.fileno()).st_size
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as f:
            dtype, shape = _read_header(f, path, size, gzipped=gzipped, ndim=ndim)
            n = shape[0] if max_items is None else min(shape[0], int(max_items))
            row_bytes = math.prod(shape[1:]) * dtype.itemsize
            if gzipped:
                # The whole stream is read, even with max_items, so that gzip
                # checks the CRC-32 and length at its end: only then is a bit
                # flip in the compressed data caught.
                data = f.read(shape[0] * row_bytes)
                if len(data) < shape[0] * row_bytes:
                    raise DataFileError(path, f"truncated: expected shape {shape}.")
                if f.read(1):
                    raise DataFileError(
                        path, f"holds more data than the shape {shape} in its header."
                    )
                data = memoryview(data)[: n * row_bytes]
            else:
                data = f.read(n * row_bytes)
                if len(data) < n * row_bytes:  # shrunk since its size was read
                    raise DataFileError(path, f"truncated: expected shape {shape}.")
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataFileError(path, f"corrupt gzip stream ({exc}).") from None
    array = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="))
    return array.reshape((n, *shape[1:])), shape[0]
