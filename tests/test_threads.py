"""rc.threads.set_cpu_threads: torch's threads and the BLAS the compiled training kernels call."""

from __future__ import annotations

import pytest
import torch

from rc import compiled
from rc.threads import set_cpu_threads


def test_fewer_than_one_thread_is_an_error(restore_threads) -> None:
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        set_cpu_threads(0)


@pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="the BLAS limit applies with numba only")
@pytest.mark.parametrize("threads", [1, 2])
def test_torch_and_the_kernels_blas_get_the_same_threads(restore_threads, threads: int) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=None):  # whatever this sets is undone at the end
        set_cpu_threads(threads)
        assert torch.get_num_threads() == threads
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas, "scipy's BLAS (the one numba's np.dot calls) is loaded"
        assert set(blas) == {threads}
