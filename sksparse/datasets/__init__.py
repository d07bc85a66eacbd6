"""Data sets: image loaders and Reber-grammar generators.

Loaders (``load_*``) read files and download only when asked (``download=True``);
generators (``make_*``) draw data from a ``random_state``. Importing this package
pulls in numpy only: scikit-learn is imported inside :func:`load_digits` and
torchvision only to download.
"""

from sksparse.datasets._images import (
    load_cifar10,
    load_digits,
    load_fashion_mnist,
    load_mnist,
)
from sksparse.datasets._reber import (
    SYMBOLS,
    is_embedded_reber,
    is_reber,
    reber_next_symbols,
)
from sksparse.datasets._reber_generate import (
    make_embedded_reber,
    make_reber,
    make_reber_classification,
)
from sksparse.datasets._sequences import decode_sequences, encode_sequences

__all__ = [
    "SYMBOLS",
    "decode_sequences",
    "encode_sequences",
    "is_embedded_reber",
    "is_reber",
    "load_cifar10",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "make_embedded_reber",
    "make_reber",
    "make_reber_classification",
    "reber_next_symbols",
]
