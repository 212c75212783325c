"""Test-suite settings."""

import torch as th

# The test networks are small: one thread is as fast as two on an idle CI machine, and far faster on a shared one,
# where two threads per process oversubscribe the cores.
th.set_num_threads(1)
