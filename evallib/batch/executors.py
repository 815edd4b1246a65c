"""Executors: where the jobs of a build run.

Each executor runs :func:`evallib.batch.worker.run_job` over ``(job, job_dir)`` items
and yields ``(job, record)`` as each job finishes.

- :class:`InlineExecutor`: one after another in this process (``evallib run``).
- :class:`ProcessExecutor`: a ``spawn`` process pool, one long-lived worker per
  core; each worker imports the heavy modules once and watches its parent
  (:func:`~evallib.batch.worker.start_parent_watchdog`).
- :class:`DaskExecutor`: a Dask ``distributed`` cluster (``--scheduler
  tcp://HOST:PORT``); the workers must see the same file system.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Iterator

from evallib.batch.worker import pool_worker_init, run_job, warm_worker
from evallib.exceptions import ParameterError

logger = logging.getLogger(__name__)


class Executor:
    """Runs ``run_job`` over jobs; yields ``(job, record)`` as each one finishes."""

    name = "base"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        self.workers = workers
        self.scheduler = scheduler

    def describe(self) -> str:
        return self.name

    def run(self, items: list[tuple[dict, str]]) -> Iterator[tuple[dict, dict]]:
        raise NotImplementedError


def failed_record(job: dict, exc: BaseException, t0: float) -> dict:
    return {"id": job["id"], "status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500],
            "duration": round(time.perf_counter() - t0, 3), "outputs": [], "worker": None}


class InlineExecutor(Executor):
    """Runs jobs one after another in this process (``evallib run``, debugging)."""

    name = "inline"

    def run(self, items):
        warm_worker()
        for job, jdir in items:
            yield job, run_job(job, jdir)


class ProcessExecutor(Executor):
    """A process pool (``spawn``: no inherited locks or kernels), one worker per core.

    Edge case: a notebook that kills its worker (``os._exit``, a crash in C code)
    breaks the whole pool. The jobs caught in the broken pool are then re-run one at
    a time, each in a fresh one-worker pool, so only the culprit fails ("the worker
    process died").

    When the build is interrupted (Ctrl-C, ``SIGTERM``, an error in the parent) the
    pending jobs are cancelled and the pool's worker processes are terminated; if
    the parent is killed outright, the workers' watchdogs end them.
    """

    name = "process"

    def describe(self) -> str:
        return f"process pool ({self.workers} worker{'' if self.workers == 1 else 's'})"

    def _pool(self, n: int):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                                   initializer=pool_worker_init)

    def _run_pool(self, items, n: int, t0: float, broken: list):
        import multiprocessing as mp
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        before = {p.pid for p in mp.active_children()}
        with self._pool(n) as pool:
            futs = {pool.submit(run_job, job, jdir): (job, jdir) for job, jdir in items}
            try:
                for fut in as_completed(futs):
                    job, jdir = futs[fut]
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        broken.append((job, jdir))
                        continue
                    yield job, (failed_record(job, exc, t0) if exc else fut.result())
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                for proc in mp.active_children():     # this pool's workers: started after `before`
                    if proc.pid not in before:
                        proc.terminate()
                raise

    def run(self, items):
        t0 = time.perf_counter()
        broken: list = []
        yield from self._run_pool(items, self.workers, t0, broken)
        for job, jdir in broken:
            logger.warning("%s: the worker pool broke while it ran; re-running it alone", job["id"])
            again: list = []
            yield from self._run_pool([(job, jdir)], 1, t0, again)
            if again:
                yield job, failed_record(job, RuntimeError("the worker process died while running "
                                                           "this notebook (os._exit or a crash)"), t0)


class DaskExecutor(Executor):
    """Jobs on a Dask ``distributed`` cluster at ``scheduler`` (``tcp://HOST:PORT``).

    Workers must see the build folder and the data at the same paths (one machine or
    a shared file system).
    """

    name = "dask"
    connect_timeout = 10  # seconds to reach the scheduler

    def describe(self) -> str:
        return f"dask ({self.scheduler})"

    def run(self, items):
        try:
            from distributed import Client, as_completed
        except ImportError as exc:  # pragma: no cover - distributed is a pinned dependency
            raise ParameterError(f"--scheduler {self.scheduler}: dask.distributed is not installed ({exc})") from None
        t0 = time.perf_counter()
        try:
            client = Client(self.scheduler, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ParameterError(f"--scheduler {self.scheduler}: cannot connect to the Dask scheduler "
                                 f"({exc}); start one with `dask scheduler` or drop --scheduler") from None
        try:
            with client.as_current():
                futs = {client.submit(run_job, job, jdir, pure=False,
                                      key=f"evallib-{job['id']}-{job['key'][:12]}-{os.getpid()}"): job
                        for job, jdir in items}
                for fut in as_completed(list(futs)):
                    job = futs[fut]
                    if fut.status == "error":
                        yield job, failed_record(job, fut.exception(), t0)
                    else:
                        yield job, fut.result()
        finally:
            client.close()


#: executor registry (name -> class), in the papermill-engines style
EXECUTORS: dict[str, type[Executor]] = {"inline": InlineExecutor, "process": ProcessExecutor,
                                        "dask": DaskExecutor}


def make_executor(workers: int | None, scheduler: str | None, n_jobs: int) -> Executor:
    if scheduler:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise ParameterError(f"--scheduler: value {scheduler!r}: expected an address such as tcp://127.0.0.1:8786")
        return EXECUTORS["dask"](workers, scheduler)
    if workers is not None and workers < 1:
        raise ParameterError(f"--workers: value {workers}: must be 1 or more")
    n = max(1, min(workers or os.cpu_count() or 1, n_jobs))
    return EXECUTORS["process"](n)


__all__ = ["Executor", "InlineExecutor", "ProcessExecutor", "DaskExecutor", "EXECUTORS", "make_executor",
           "failed_record"]
