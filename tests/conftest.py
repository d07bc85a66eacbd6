import os

import pytest
import torch

# Two cores are shared by the whole suite: one torch thread per worker keeps the
# small nets of the tests from oversubscribing them.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _config_home(tmp_path_factory):
    """Checkpoint keys (``sksparse.search._codec.local_key``) go to a throwaway
    folder for the whole session, never the user's home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        yield


def _tensor_elements(obj):
    """Elements of every distinct torch tensor storage reachable from ``obj``."""
    import gc
    import types

    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    seen, storages, stack = set(), {}, [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, skip):
            continue
        seen.add(id(item))
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes() // item.element_size()
        else:
            stack.extend(gc.get_referents(item))
    return sum(storages.values())


@pytest.fixture
def tensor_elements():
    """Counts the tensor elements an object holds (to find dense copies)."""
    return _tensor_elements
