import os

import torch

# Two cores are shared by the whole suite: one torch thread per worker keeps the
# small nets of the tests from oversubscribing them.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
