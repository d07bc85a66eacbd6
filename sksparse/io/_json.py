"""Parameters and fitted attributes as JSON, with tuples and arrays tagged.

JSON has no tuple and no array, and scikit-learn's parameters hold both
(``hidden_layer_sizes=(64,)``, ``classes_``): a tuple is written as
``{"__tuple__": [...]}`` and an array as ``{"__ndarray__": [...], "dtype":
...}`` so a loaded estimator's ``get_params()`` equals the saved one's. The
decoder builds nothing but these two from the tags: arrays only of the numeric,
boolean and string dtypes in :data:`_DTYPES` (or objects that are all
strings), never ``dtype=object`` of arbitrary values.
"""

import math
from numbers import Integral, Real

import numpy as np

__all__ = ["decode", "encode"]

_TUPLE = "__tuple__"
_ARRAY = "__ndarray__"
#: A dict whose keys are not all strings (``class_weight={0: 2.0}``), as
#: ``[key, value]`` pairs; keys decode to None, bools, numbers, str or tuples.
_ITEMS = "__items__"

#: Array dtype kinds the format stores: bool, ints, floats, unicode strings.
_DTYPES = set("biufU")


def encode(value, name):
    """``value`` as JSON-ready data; TypeError naming ``name`` if it is not one."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (Integral, np.integer)):
        return int(value)
    if isinstance(value, (Real, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise TypeError(f"{name} is {value}, which JSON cannot represent.")
        return value
    if isinstance(value, tuple):
        return {_TUPLE: [encode(v, name) for v in value]}
    if isinstance(value, list):
        return [encode(v, name) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return {
                _ITEMS: [
                    [encode(k, f"{name} key"), encode(v, f"{name}[{k!r}]")]
                    for k, v in value.items()
                ]
            }
        # "__object__" tags a nested estimator in sksparse.io's parameters.
        if set(value) & {_TUPLE, _ARRAY, _ITEMS, "__object__"}:
            raise TypeError(f"{name} uses a key reserved by the format.")
        return {k: encode(v, f"{name}[{k!r}]") for k, v in value.items()}
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind == "O" and all(isinstance(v, str) for v in value.ravel()):
            dtype = "object"
        elif kind in _DTYPES:
            dtype = value.dtype.str
        else:
            raise TypeError(f"{name} is an array of dtype {value.dtype}.")
        items = [encode(v, name) for v in value.ravel().tolist()]
        return {_ARRAY: items, "dtype": dtype, "shape": list(value.shape)}
    raise TypeError(
        f"{name} holds a {type(value).__name__}, which the safe format cannot "
        "store (it takes None, bool, numbers, str, and lists, tuples, dicts "
        "and arrays of these); save this estimator with joblib instead."
    )


def decode(data):
    """The value :func:`encode` wrote; ValueError on a malformed tag."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if _TUPLE in data:
        if set(data) != {_TUPLE} or not isinstance(data[_TUPLE], list):
            raise ValueError("malformed tuple in the model file.")
        return tuple(decode(v) for v in data[_TUPLE])
    if _ARRAY in data:
        return _decode_array(data)
    if _ITEMS in data:
        items = data[_ITEMS]
        if set(data) != {_ITEMS} or not all(
            isinstance(p, list) and len(p) == 2 for p in items
        ):
            raise ValueError("malformed dict in the model file.")
        pairs = [(decode(k), decode(v)) for k, v in items]
        if not all(_is_key(k) for k, _ in pairs):
            raise ValueError("a dict key in the model file is not a scalar.")
        return dict(pairs)
    return {k: decode(v) for k, v in data.items()}


def _is_key(key):
    if isinstance(key, tuple):
        return all(_is_key(k) for k in key)
    return key is None or isinstance(key, (bool, int, float, str))


def _decode_array(data):
    if set(data) != {_ARRAY, "dtype", "shape"}:
        raise ValueError("malformed array in the model file.")
    dtype, shape, items = data["dtype"], data["shape"], data[_ARRAY]
    if dtype == "object":
        if not all(isinstance(v, str) for v in items):
            raise ValueError("an object array in the model file holds non-strings.")
        array = np.empty(len(items), dtype=object)
        array[:] = items
    else:
        try:
            dtype = np.dtype(dtype) if isinstance(dtype, str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in _DTYPES:
            raise ValueError(f"array dtype {data['dtype']!r} is not allowed.")
        array = np.asarray(items, dtype=dtype)
    return array.reshape(tuple(int(n) for n in shape))
