"""CPU threads of everything that computes: torch's, and the BLAS that the compiled training kernels call."""

from __future__ import annotations

import torch

from rc import compiled


def set_cpu_threads(threads: int) -> None:
    """Give torch ``threads`` CPU threads, and as many to the BLAS library that numba's ``np.dot`` calls in
    :mod:`rc.training_kernels` (scipy's, limited with ``threadpoolctl``) when numba is installed: a run
    with ``--threads 1`` then computes on one core whichever training step path it takes.

    Raises ``ValueError`` for fewer than one thread.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if not compiled.NUMBA_AVAILABLE:
        return
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS numba calls, so that the limit reaches it)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
