"""Test-suite settings."""

import pytest
import torch as th

# The test networks are small: one thread is as fast as two on an idle CI machine, and far faster on a shared one,
# where two threads per process oversubscribe the cores.
th.set_num_threads(1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test starts on one torch thread, whatever an earlier test (e.g. a CLI run with ``--threads``) set."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)
