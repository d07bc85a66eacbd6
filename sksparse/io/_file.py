"""The file: one safetensors file whose metadata holds the model's JSON.

safetensors (Hugging Face's format) stores tensors as a JSON header and raw
bytes, and reading it builds nothing but tensors; its header's
``__metadata__`` (a str-to-str map) carries this format's one JSON document
under :data:`KEY`. The content hash covers that document (less the hash) and
every tensor's name, dtype, shape and bytes, so an edit to either is caught.
"""

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

__all__ = [
    "FORMAT",
    "KEY",
    "content_hash",
    "is_model_file",
    "pack_masks",
    "read_file",
    "unpack_masks",
    "write_file",
]

#: The metadata key of the JSON document, and the format's name and version.
KEY = "sksparse"
FORMAT = "sksparse-model/1"

# safetensors refuses headers over 100 MB; a sniff reads no more than that.
_MAX_HEADER = 100_000_000

# Dtypes a packed mask may be restored to: a lookup, never getattr(torch, ...).
_MASK_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "bool": torch.bool,
    "uint8": torch.uint8,
}


def _canonical(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def content_hash(document, header, data):
    """sha256 of the document (less its hash), the tensors' entries and bytes."""
    digest = hashlib.sha256()
    rest = {k: v for k, v in document.items() if k != "sha256"}
    digest.update(_canonical(rest).encode())
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    digest.update(_canonical(entries).encode())
    digest.update(data)
    return digest.hexdigest()


def _split(raw, path):
    """``(header, data)`` of safetensors bytes; ValueError naming ``path``."""
    if len(raw) < 8:
        raise ValueError(f"{str(path)!r} is not a sksparse model file (too short).")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > min(_MAX_HEADER, len(raw) - 8):
        raise ValueError(f"{str(path)!r} is not a sksparse model file (bad header).")
    try:
        header = json.loads(raw[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{str(path)!r} is not a sksparse model file.") from None
    if not isinstance(header, dict):
        raise ValueError(f"{str(path)!r} is not a sksparse model file.")
    return header, raw[8 + n :]


def is_model_file(path):
    """Whether ``path`` is a file in this format (read its header only)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return False
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER:
                return False
            header = json.loads(f.read(n))
    except (OSError, ValueError):
        return False
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return isinstance(meta, dict) and KEY in meta


def write_file(path, document, tensors):
    """Write the file atomically (a temporary file beside it, then os.replace)."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    # The hash needs the tensors' header entries and bytes, which do not
    # depend on the metadata: serialise once without it to compute them.
    header, data = _split(safetensors.torch.save(tensors), path)
    document = {**document, "sha256": content_hash(document, header, data)}
    raw = safetensors.torch.save(tensors, metadata={KEY: _canonical(document)})
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_file(path):
    """``(document, tensors)`` of a model file, its hash checked.

    Raises
    ------
    ValueError
        If the file is not in this format or its hash does not match.
    """
    raw = Path(path).read_bytes()
    header, data = _split(raw, path)
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or KEY not in meta:
        raise ValueError(f"{str(path)!r} is not a sksparse model file.")
    try:
        document = json.loads(meta[KEY])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} holds malformed JSON: {exc}.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a {FORMAT} file.")
    if document.get("sha256") != content_hash(document, header, data):
        raise ValueError(
            f"{str(path)!r} does not match its content hash: the file was changed "
            "or damaged after it was saved."
        )
    return document, safetensors.torch.load(raw)


def pack_masks(state):
    """``(tensors, packed)``: 0/1 ``mask`` buffers bit-packed (8 per byte)."""
    tensors, packed = {}, {}
    for name, tensor in state.items():
        dtype = str(tensor.dtype).removeprefix("torch.")
        is_mask = name.rsplit(".", 1)[-1] == "mask" and dtype in _MASK_DTYPES
        if is_mask and bool(((tensor == 0) | (tensor == 1)).all()):
            bits = np.packbits((tensor != 0).cpu().numpy().ravel())
            tensors[name] = torch.from_numpy(bits)
            packed[name] = {"shape": list(tensor.shape), "dtype": dtype}
        else:
            tensors[name] = tensor
    return tensors, packed


def unpack_masks(tensors, packed):
    """The state dict :func:`pack_masks` packed; ValueError if malformed."""
    state = dict(tensors)
    for name, info in packed.items():
        if name not in state or info.get("dtype") not in _MASK_DTYPES:
            raise ValueError(f"malformed packed mask {name!r} in the model file.")
        shape = tuple(int(n) for n in info["shape"])
        count = int(np.prod(shape))
        bits = np.unpackbits(state[name].numpy(), count=count).reshape(shape)
        state[name] = torch.from_numpy(bits).to(_MASK_DTYPES[info["dtype"]])
    return state
