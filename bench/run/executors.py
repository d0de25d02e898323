"""Executors: where ``rcbench run`` trains its jobs, one training job at a time per worker.

An executor runs a picklable function (the harness's
:func:`bench.run.jobs.run_training_job`) on a list of items (training jobs) and
yields each item's result *as it finishes*, in completion order. It never
writes a file: the calling process stays the only writer of ``results.jsonl``
and ``errors.jsonl``, and writes each job's records as soon as its result
arrives, so an interrupted run loses no finished cell.

``local`` (the default, :class:`InProcessExecutor` or :class:`ProcessPoolExecutor`)
    Worker processes on this machine (``spawn`` start method: torch's thread
    pools do not survive a fork), each with ``threads`` torch threads. The
    number of workers is ``--workers`` if given, else (CPU cores) // threads,
    1 on CUDA; never more than the pending jobs. With one worker the jobs run
    in the calling process, one after another, with no pool (an exception
    keeps its original traceback for a debugger).
``ray`` (:class:`RayExecutor`; the optional extra ``ray``: ``pip install -e '.[ray]'`` in the checkout)
    Each job is a Ray task (``num_cpus=threads``, ``num_gpus=1`` on CUDA),
    on an existing cluster (``--address``) or on a local Ray instance that the
    run starts with ``workers * threads`` CPUs and shuts down at the end.

Errors: a job whose function raises stops the run. No new job starts, the jobs
already running finish (their results are still yielded, so their cells are
kept), then :class:`WorkerError` is raised with the failed item's index and the
error's type, message and traceback text (from whichever process ran it).
Failures that concern only a cell (a diverged or out-of-memory training) are
not errors here: the job function returns them as data.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import multiprocessing
import os
import signal
import sys
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from bench.core.options import OptionError

EXECUTORS = ("local", "ray")
"""Names accepted by ``rcbench run --executor``."""

RAY_INSTALL_HINT = "pip install -e '.[ray]' in the rcbench checkout (the extra ray of rank-coding-bench)"

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class RemoteFailure:
    """An exception raised by a job, as plain (picklable) data."""

    error_type: str
    message: str
    traceback: str

    @classmethod
    def from_exception(cls, error: BaseException) -> RemoteFailure:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return cls(type(error).__name__, str(error), text)


class WorkerError(RuntimeError):
    """A job raised an exception that is not a failed cell; the executor stopped.

    Attributes:
        index: the failed item's position in the sequence given to :meth:`Executor.map_unordered`.
        failure: the error's type, message and traceback text.
    """

    def __init__(self, index: int, failure: RemoteFailure) -> None:
        super().__init__(f"{failure.error_type}: {failure.message}")
        self.index = index
        self.failure = failure


def call_guarded(function: Callable[[T], R], item: T) -> tuple[R | None, RemoteFailure | None]:
    """``(function(item), None)``, or ``(None, failure)`` if it raised: what a worker sends back."""
    try:
        return function(item), None
    except Exception as error:  # noqa: BLE001  (sent back as data; the parent stops the run)
        return None, RemoteFailure.from_exception(error)


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Executor(ABC):
    """Runs jobs and yields their results as they finish; a context manager that frees its workers."""

    name: str = ""
    workers: int = 1
    in_process: bool = False
    """True when the jobs run in the calling process (it can pass them unpicklable things)."""
    same_machine: bool = True
    """True when the jobs run on this machine (their provenance can be measured here, once)."""

    @abstractmethod
    def map_unordered(self, function: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index, function(items[index]))`` for every item, in completion order.

        ``function`` must be picklable (a top-level function or a ``functools.partial`` of one) for
        executors with worker processes. If a call raises, no new item starts, the running ones
        finish and are yielded, then :class:`WorkerError` is raised.
        """

    def describe(self) -> str:
        """One line for the progress output."""
        return self.name

    def close(self) -> None:
        """Free the workers (the executor cannot be used afterwards)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class InProcessExecutor(Executor):
    """The jobs one after another in the calling process (``--workers 1``)."""

    name = "local"
    workers = 1
    in_process = True

    def describe(self) -> str:
        return "local, in this process (1 worker)"

    def map_unordered(self, function: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        for index, item in enumerate(items):
            try:
                result = function(item)
            except Exception as error:  # noqa: BLE001
                raise WorkerError(index, RemoteFailure.from_exception(error)) from error
            yield index, result


def set_threads(threads: int) -> None:
    """Give this (worker) process ``threads`` CPU threads (:func:`rc.threads.set_cpu_threads`)."""
    from rc.threads import set_cpu_threads

    set_cpu_threads(threads)


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this worker when the process that started it dies (a killed
    run leaves no orphan training); elsewhere nothing."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _init_pool_worker(threads: int, parent: int) -> None:
    _die_with_parent(parent)
    set_threads(threads)


class ProcessPoolExecutor(Executor):
    """``workers`` worker processes (``spawn``), each with ``threads`` torch threads.

    The processes start with the first job and serve every :meth:`map_unordered`
    call until :meth:`close`. At most ``workers`` jobs are in flight: the next
    one is submitted when one finishes, so after an error no queued job starts.
    """

    name = "local"

    def __init__(self, workers: int, threads: int, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.threads = threads
        self.start_method = start_method
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"local, {self.workers} worker processes x {self.threads} torch thread(s) ({self.start_method})"

    def map_unordered(self, function: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context(self.start_method),
                initializer=_init_pool_worker, initargs=(self.threads, os.getpid()))
        pool = self._pool
        guarded = functools.partial(call_guarded, function)
        pending = iter(enumerate(items))
        running: dict[concurrent.futures.Future, int] = {}
        failed: WorkerError | None = None
        finished = False
        try:
            def submit_next() -> None:
                for index, item in pending:
                    running[pool.submit(guarded, item)] = index
                    return

            for _ in range(self.workers):
                submit_next()
            while running:
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                results = []
                for future in sorted(done, key=running.__getitem__):
                    index = running.pop(future)
                    try:
                        result, failure = future.result()
                    except BaseException as error:  # noqa: BLE001  (a worker died: BrokenProcessPool, ...)
                        result, failure = None, RemoteFailure.from_exception(error)
                    if failure is not None:
                        failed = failed or WorkerError(index, failure)
                    else:
                        results.append((index, result))
                for index, result in results:  # the batch's failures are known before anything new starts
                    yield index, result
                    if failed is None:
                        submit_next()
            finished = True
        finally:
            if not finished:  # interrupted (Ctrl-C, an error while writing): stop the workers now
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
                self.close()
        if failed is not None:
            raise failed

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _ray_job(function: Callable[[T], R], item: T, threads: int) -> tuple[R | None, RemoteFailure | None]:
    """The body of a Ray task: set the threads, run the job, send back its result or its failure."""
    set_threads(threads)
    return call_guarded(function, item)


def import_ray() -> Any:
    """The ``ray`` module, or :class:`~bench.core.options.OptionError` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise OptionError(f"--executor ray needs Ray, which is not installed here ({error}); "
                          f"install it with: {RAY_INSTALL_HINT}") from None
    return ray


class RayExecutor(Executor):
    """Each job a Ray task, on the cluster at ``address`` or on a local Ray instance started here.

    Args:
        workers: jobs in flight at once; for a local instance also its size (``workers * threads``
            CPUs). None with an address: the cluster's CPUs (GPUs on CUDA) divided by the job's share.
        threads: torch threads of each job, and the CPUs each Ray task asks for.
        address: a Ray cluster's address (``ray.init(address=...)``), or None for a local instance.
        gpus: GPUs each task asks for (1 on CUDA, else 0).
    """

    name = "ray"
    same_machine = False  # a cluster's nodes may differ: each job's process measures its own provenance

    def __init__(self, workers: int | None, threads: int, address: str | None = None, gpus: int = 0) -> None:
        self.ray = import_ray()
        self.threads = threads
        self.address = address
        self.gpus = gpus
        self._started_here = False
        if self.ray.is_initialized():  # the caller's own Ray session: use it, leave it running
            pass
        elif address is not None:
            self.ray.init(address=address)
        else:
            if workers is None:
                raise ValueError("a local Ray instance needs a number of workers")
            self.ray.init(num_cpus=workers * threads, include_dashboard=False)
            self._started_here = True
        if workers is None:
            resources = self.ray.cluster_resources()
            share = (resources.get("GPU", 0), gpus) if gpus else (resources.get("CPU", 1), threads)
            workers = max(1, int(share[0] // share[1]))
        self.workers = workers

    def describe(self) -> str:
        where = f"cluster at {self.address}" if self.address else ("a local instance" if self._started_here
                                                                   else "the running Ray session")
        return (f"ray, {where}, up to {self.workers} jobs at once x {self.threads} torch thread(s)"
                + (f", {self.gpus} GPU each" if self.gpus else ""))

    def map_unordered(self, function: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        ray = self.ray
        task = ray.remote(_ray_job).options(num_cpus=self.threads, num_gpus=self.gpus)
        shipped = ray.put(function)  # the job function and its context, sent once
        pending = iter(enumerate(items))
        running: dict[Any, int] = {}
        failed: WorkerError | None = None
        finished = False
        try:
            def submit_next() -> None:
                for index, item in pending:
                    running[task.remote(shipped, item, self.threads)] = index
                    return

            for _ in range(self.workers):
                submit_next()
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    index = running.pop(ref)
                    try:
                        result, failure = ray.get(ref)
                    except Exception as error:  # noqa: BLE001  (a Ray system error: worker died, ...)
                        result, failure = None, RemoteFailure.from_exception(error)
                    if failure is not None:
                        failed = failed or WorkerError(index, failure)
                        continue
                    yield index, result
                    if failed is None:
                        submit_next()
            finished = True
        finally:
            if not finished:
                for ref in running:
                    ray.cancel(ref, force=True)
        if failed is not None:
            raise failed

    def close(self) -> None:
        if self._started_here:
            self.ray.shutdown()
            self._started_here = False


@dataclass(frozen=True)
class ExecutorSettings:
    """What ``rcbench run --executor/--workers/--address/--threads`` asked for.

    Attributes:
        kind: ``local`` or ``ray`` (:data:`EXECUTORS`).
        workers: worker processes or jobs in flight; None picks (see :meth:`local_workers`).
        address: a Ray cluster to join (``ray`` only).
        threads: torch threads per worker; None: this process's current count.
    """

    kind: str = "local"
    workers: int | None = None
    address: str | None = None
    threads: int | None = None

    def check(self) -> None:
        """Raise :class:`~bench.core.options.OptionError` for nonsense (before anything is trained)."""
        if self.kind not in EXECUTORS:
            raise OptionError(f"unknown executor {self.kind!r}; known executors: {', '.join(EXECUTORS)}")
        if self.workers is not None and self.workers < 1:
            raise OptionError(f"--workers must be >= 1, got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise OptionError(f"--threads must be >= 1, got {self.threads}")
        if self.address is not None and self.kind != "ray":
            raise OptionError("--address names a Ray cluster; it needs --executor ray")
        if self.kind == "ray":
            import_ray()

    def worker_threads(self) -> int:
        """Torch threads of each worker."""
        if self.threads is not None:
            return self.threads
        import torch

        return torch.get_num_threads()

    def local_workers(self, jobs: int, device_type: str) -> int:
        """Workers of the ``local`` executor: ``workers`` if given, else 1 on CUDA, else
        CPU cores // threads; at least 1 and at most ``jobs``."""
        if self.workers is not None:
            workers = self.workers
        elif device_type == "cuda":
            workers = 1
        else:
            workers = available_cpus() // self.worker_threads()
        return max(1, min(workers, jobs))

    def create(self, jobs: int, device_type: str) -> Executor:
        """The executor for ``jobs`` pending training jobs on a device of type ``device_type``."""
        self.check()
        threads = self.worker_threads()
        if self.kind == "ray":
            workers = self.workers
            if workers is None and self.address is None:
                workers = self.local_workers(jobs, device_type)
            return RayExecutor(workers, threads, self.address, gpus=1 if device_type == "cuda" else 0)
        workers = self.local_workers(jobs, device_type)
        if workers == 1:
            return InProcessExecutor()
        return ProcessPoolExecutor(workers, threads)
