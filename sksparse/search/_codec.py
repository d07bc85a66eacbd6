"""A search's state as tagged JSON, and the per-user key that signs it.

:func:`encode` turns a search's state (dicts, lists, tuples, numbers,
strings, numpy arrays and scalars, networkx graphs) into plain JSON values
and :func:`decode` turns them back, equal in type and value. What JSON has
no word for is tagged with a one-key object:

=====================================  =====================================
``{"__tuple__": [...]}``               a tuple
``{"__dict__": [[k, v], ...]}``        a dict whose keys are not all strings
                                       (the genome keys are tuples)
``{"__float__": "nan"}``               nan, inf and -inf (kept out of the
                                       JSON text, which stays standard)
``{"__ndarray__": b64, "dtype",        a numpy array, its bytes in base64
"shape"}``
``{"__scalar__": v, "dtype"}``         a numpy scalar
``{"__bytes__": b64}``                 bytes
``{"__graph__": node-link}``           a networkx graph
``{"__pickle__": b64}``                anything else, pickled
=====================================  =====================================

Decoding runs no code, except for ``__pickle__`` parts: :func:`decode`
unpickles them only when told the text is trusted (the caller has checked
its :func:`sign` signature), and raises :class:`UntrustedPickleError`
otherwise. A search over sksparse's estimators holds no such part (its
params are numbers, strings, tuples and dicts); a ``param_space`` whose
values are, for example, estimator objects needs them.

:func:`sign` is HMAC-SHA256 with :func:`local_key`, 32 random bytes kept in
``$XDG_CONFIG_HOME/sksparse/checkpoint.key`` (``~/.config`` when unset),
readable by its owner only. A SHA-256 alone is no proof of origin: whoever
can write the file can recompute it. The key never leaves the machine, so
only this user's searches can write a checkpoint whose pickled parts are
ever unpickled.
"""

import base64
import contextlib
import hashlib
import hmac
import math
import os
import pickle
import secrets
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "UntrustedPickleError",
    "decode",
    "encode",
    "has_pickle",
    "key_path",
    "local_key",
    "sign",
]

_TAGS = (
    "__tuple__",
    "__dict__",
    "__float__",
    "__ndarray__",
    "__scalar__",
    "__bytes__",
    "__graph__",
    "__pickle__",
)
_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_KEY_BYTES = 32


class UntrustedPickleError(ValueError):
    """A ``__pickle__`` part met while decoding text that is not trusted."""


# -- encoding -------------------------------------------------------------------
def _graph_types():
    import networkx as nx

    return (nx.Graph, nx.DiGraph, nx.MultiGraph, nx.MultiDiGraph)


def _node_link(function, value):
    # networkx 3.4 renamed ``link=`` to ``edges=`` (and warns about the
    # default); sksparse supports networkx >= 3.0.
    try:
        return function(value, edges="edges")
    except TypeError:
        return function(value, link="edges")


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _pickled(obj):
    return {"__pickle__": _b64(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))}


def _plain_key_dict(obj):
    if not all(type(k) is str for k in obj) or any(k in _TAGS for k in obj):
        return False
    # A user's {"__tuple__": ...} or {"__x__": ...} must not read as a tag.
    return not (len(obj) == 1 and next(iter(obj)).startswith("__"))


def encode(obj):
    """``obj`` as JSON values (dicts with str keys, lists, str, int, float).

    Exact types only: a subclass (a namedtuple, an ``IntEnum``) is pickled
    rather than read back as its base.
    """
    kind = type(obj)
    if obj is None or kind in (bool, int, str):
        return obj
    if kind is float:
        if math.isfinite(obj):
            return obj
        return {
            "__float__": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
        }
    if kind is list:
        return [encode(v) for v in obj]
    if kind is tuple:
        return {"__tuple__": [encode(v) for v in obj]}
    if kind is dict:
        if _plain_key_dict(obj):
            return {k: encode(v) for k, v in obj.items()}
        return {"__dict__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if kind is bytes:
        return {"__bytes__": _b64(obj)}
    if isinstance(obj, np.ndarray) and kind is np.ndarray:
        if obj.dtype.hasobject or obj.dtype.fields is not None:
            return _pickled(obj)
        return {
            "__ndarray__": _b64(np.ascontiguousarray(obj).tobytes()),
            "dtype": obj.dtype.str,
            "shape": list(obj.shape),
        }
    if isinstance(obj, np.generic) and not isinstance(obj, np.object_):
        if obj.dtype.fields is None and obj.dtype.kind in "biufc?":
            value = obj.item()
            if isinstance(value, complex):
                value = [value.real, value.imag]
            return {"__scalar__": encode(value), "dtype": obj.dtype.str}
        return _pickled(obj)
    if kind in _graph_types():
        import networkx as nx

        return {"__graph__": encode(_node_link(nx.node_link_data, obj))}
    return _pickled(obj)


# -- decoding -------------------------------------------------------------------
def _unb64(text, what):
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected base64 text, got {type(text).__name__}.")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"{what}: invalid base64 ({exc}).") from None


def _dtype(text):
    if not isinstance(text, str):
        raise ValueError(f"invalid dtype {text!r}.")
    try:
        dtype = np.dtype(text)
    except TypeError as exc:
        raise ValueError(f"invalid dtype {text!r} ({exc}).") from None
    if dtype.hasobject or dtype.fields is not None:
        raise ValueError(f"refusing dtype {text!r}: only plain dtypes are stored.")
    return dtype


def _decode_tag(tag, obj, trusted):
    value = obj[tag]
    if tag == "__tuple__":
        if type(value) is not list:
            raise ValueError("__tuple__ must hold a list.")
        return tuple(decode(v, trusted=trusted) for v in value)
    if tag == "__dict__":
        if type(value) is not list or not all(
            type(kv) is list and len(kv) == 2 for kv in value
        ):
            raise ValueError("__dict__ must hold a list of [key, value] pairs.")
        return {
            decode(k, trusted=trusted): decode(v, trusted=trusted) for k, v in value
        }
    if tag == "__float__":
        if value not in _FLOATS:
            raise ValueError(f"unknown __float__ {value!r}.")
        return _FLOATS[value]
    if tag == "__bytes__":
        return _unb64(value, "__bytes__")
    if tag == "__ndarray__":
        dtype = _dtype(obj.get("dtype"))
        shape = obj.get("shape")
        if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError(f"invalid __ndarray__ shape {shape!r}.")
        data = _unb64(value, "__ndarray__")
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise ValueError(
                f"__ndarray__ holds {len(data)} bytes, its shape {shape} and "
                f"dtype {dtype} need {math.prod(shape) * dtype.itemsize}."
            )
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if tag == "__scalar__":
        dtype = _dtype(obj.get("dtype"))
        item = decode(value, trusted=trusted)
        if dtype.kind == "c" and type(item) is list and len(item) == 2:
            item = complex(*item)
        return dtype.type(item)
    if tag == "__graph__":
        import networkx as nx

        data = decode(value, trusted=trusted)
        if type(data) is not dict:
            raise ValueError("__graph__ must hold a node-link dict.")
        return _node_link(nx.node_link_graph, data)
    # __pickle__
    if not trusted:
        raise UntrustedPickleError(
            "the state holds a pickled object, and its signature does not "
            "prove that this user wrote it."
        )
    return pickle.loads(_unb64(value, "__pickle__"))


def decode(obj, *, trusted=False):
    """The inverse of :func:`encode`.

    Parameters
    ----------
    obj : JSON value
    trusted : bool, default=False
        Unpickle ``__pickle__`` parts. Pass True only for text whose
        :func:`sign` signature has been checked.

    Raises
    ------
    UntrustedPickleError
        If ``obj`` holds a ``__pickle__`` part and ``trusted`` is False;
        nothing has been unpickled then.
    ValueError
        If ``obj`` holds an unknown tag or a malformed value.
    """
    kind = type(obj)
    if obj is None or kind in (bool, int, str):
        return obj
    if kind is float:
        return obj
    if kind is list:
        return [decode(v, trusted=trusted) for v in obj]
    if kind is dict:
        if len(obj) >= 1:
            first = next(iter(obj))
            if first in _TAGS:
                return _decode_tag(first, obj, trusted)
            if len(obj) == 1 and first.startswith("__") and first.endswith("__"):
                raise ValueError(f"unknown tag {first!r}: refusing an unknown type.")
        return {k: decode(v, trusted=trusted) for k, v in obj.items()}
    raise ValueError(f"not a JSON value: {kind.__name__}.")


def has_pickle(obj):
    """Whether the encoded ``obj`` holds a ``__pickle__`` part."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(item)
        elif type(item) is dict:
            if "__pickle__" in item and len(item) == 1:
                return True
            stack.extend(item.values())
    return False


# -- the per-user key -------------------------------------------------------------
def key_path():
    """Where :func:`local_key` keeps the key."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config"
    )
    return Path(base) / "sksparse" / "checkpoint.key"


def _read_key(path):
    with open(path, "rb") as file:
        key = file.read(_KEY_BYTES + 1)
    if len(key) != _KEY_BYTES:
        raise ValueError(
            f"the checkpoint key {str(path)!r} holds {len(key)} bytes, not "
            f"{_KEY_BYTES}; delete it and a new one is made (checkpoints "
            "signed with the old key then resume only if they hold no pickled "
            "object)."
        )
    return key


def local_key(create=True):
    """This user's 32-byte checkpoint key; None if absent and not ``create``.

    The key is made by :func:`secrets.token_bytes` in a file created by
    :func:`tempfile.mkstemp` (mode 0600) and linked to its name, so that two
    processes creating it at once end with one key, never a torn one.
    """
    path = key_path()
    try:
        return _read_key(path)
    except FileNotFoundError:
        if not create:
            return None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".checkpoint.key.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(secrets.token_bytes(_KEY_BYTES))
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # fails if another process made it first
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return _read_key(path)
    except OSError as exc:
        raise ValueError(
            f"cannot create the checkpoint key {str(path)!r} "
            f"({exc.strerror or exc}); set XDG_CONFIG_HOME to a writable folder."
        ) from None


def sign(text, key):
    """HMAC-SHA256 of ``text`` (str) under ``key``, as hex."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
