"""Saving and loading estimators in a format that runs no code on load.

``joblib.dump`` files are pickles, and unpickling runs whatever code a file
holds. :func:`save` writes one safetensors file (suffix ``.sksparse`` by
convention) holding JSON and tensors only; :func:`load` rebuilds the estimator
from it, refusing classes that are not sksparse's own estimators and files
whose content does not match their hash.
"""

from sksparse.io._persist import load, save

__all__ = ["load", "save"]
