"""Checks the estimators share: seeds, optimizers, devices, float32's range."""

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = [
    "OPTIMIZERS",
    "check_device",
    "check_float32_range",
    "resolve_optimizer",
    "seed_from",
]

_FLOAT32_MAX = float(np.finfo(np.float32).max)

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def seed_from(random_state):
    """Draw a 31-bit integer seed from anything ``check_random_state`` takes."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def resolve_optimizer(optimizer):
    """The optimizer class of a name or class (validated by the constraints)."""
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer]
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    raise TypeError(
        "optimizer must be a name or a torch.optim.Optimizer class, "
        f"got {optimizer!r}."
    )


def check_device(device):
    """The device as a string; refuse CUDA where there is none."""
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device {device!r} is not a torch device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was asked for, but CUDA is not available "
            "on this machine; use device='cpu'."
        )
    return str(device)


def check_float32_range(array, name):
    """Refuse values finite in float64 that the float32 cast would make inf."""
    array = np.asarray(array)
    if array.dtype.kind == "f" and array.size:
        finite = array[np.isfinite(array)]
        if finite.size and np.abs(finite).max() > _FLOAT32_MAX:
            raise ValueError(
                f"{name} holds values beyond float32's range (|value| > "
                f"{_FLOAT32_MAX:.3g}), which the network's float32 arithmetic "
                f"would turn into inf; scale {name} first."
            )
