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
