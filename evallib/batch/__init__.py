"""``evallib run`` and ``evallib batch``: notebook jobs, executors, cache, publishing.

One *job* is one analysis: a notebook from ``notebooks/`` executed with papermill
against one resolved params document, then rendered to a self-contained HTML page.

Modules, one concern each:

======================  ==============================================================
``jobs``                :class:`Job` (plain, picklable), :func:`make_job`, notebook lookup
``cache``               content hashes, :func:`cache_key` (notebook, params, data, version
                        and a hash of evallib's own source and templates), the manifest
``engine``              the ``evallib-inprocess`` papermill engine (registered through the
                        ``papermill.engine`` entry point) and the IPC kernel manager
``worker``              what runs in a worker: :func:`run_job`, warm-up, BLAS caps, the
                        parent-death watchdog, machine-fault detection
``executors``           inline, process pool and Dask executors (:data:`EXECUTORS`)
``publishing``          the output-folder rule, the output lock, the atomic swap
``build``               :func:`build_pack` and :func:`run_analysis`
``commands``            the CLI handlers
======================  ==============================================================

How a build goes (:func:`build_pack`):

1. **Plan.** The pack YAML is validated (:func:`evallib.config.load_pack`); each
   analysis becomes a :class:`Job` with its cache key.
2. **Check and lock.** ``--out`` must be new, empty, or a folder evallib built (its
   manifest lists everything in it); anything else is refused before anything is
   written. A lock beside ``--out`` makes a second build into it wait.
3. **Cache.** The previous pack in ``--out`` *is* the cache: an analysis whose key
   equals the key recorded as ``ok`` is hard-linked into the new build without
   starting a worker. ``--force`` runs everything.
4. **Execute.** The misses run on an executor: a ``spawn`` process pool (one
   long-lived worker per core) or a Dask cluster (``--scheduler``). Inside a worker
   each notebook runs in-process on the ``evallib-inprocess`` engine or, with
   ``EVALLIB_ENGINE=nbclient``, on a real Jupyter kernel.
5. **Isolate failures.** A failing notebook still leaves its executed notebook and
   an error page; the manifest records the error; the exit code is 1. A machine
   fault (disk full, read-only file system) stops the build instead: one line,
   exit 2, previous pack untouched.
6. **Publish atomically.** Everything is built in a temporary folder beside
   ``--out`` and swapped in with two renames.

``SOURCE_DATE_EPOCH`` makes builds reproducible (timestamps from it, no durations or
worker ids in the published files).

Layout of a pack::

    OUT/index.html  OUT/manifest.json
    OUT/<id>/<id>.html  <id>.ipynb  results.json  summary.json  params.yaml
"""
from __future__ import annotations

from evallib.batch.build import BuildResult, build_pack, progress_line, run_analysis
from evallib.batch.cache import (MANIFEST_SCHEMA, cache_key, canonical_json, file_sha256, read_manifest,
                                 source_files, source_sha256)
from evallib.batch.commands import batch_command, run_command
from evallib.batch.executors import (EXECUTORS, DaskExecutor, Executor, InlineExecutor, ProcessExecutor,
                                     make_executor)
from evallib.batch.jobs import (DEFAULT_ENGINE, DEFAULT_NOTEBOOK, ENGINE_INPROCESS, Job, make_job, notebooks_dir,
                                resolve_notebook)
from evallib.batch.publishing import OutputLock, check_out, clean_stale, publish
from evallib.batch.worker import THREAD_ENV, limit_blas_threads, run_job, warm_worker

__all__ = ["Job", "make_job", "run_job", "build_pack", "run_analysis", "publish", "cache_key",
           "file_sha256", "notebooks_dir", "resolve_notebook", "EXECUTORS", "Executor",
           "InlineExecutor", "ProcessExecutor", "DaskExecutor", "run_command", "batch_command",
           "BuildResult", "MANIFEST_SCHEMA", "ENGINE_INPROCESS", "DEFAULT_ENGINE", "DEFAULT_NOTEBOOK",
           "make_executor", "check_out", "clean_stale", "OutputLock", "read_manifest", "source_sha256",
           "source_files", "canonical_json", "progress_line", "THREAD_ENV", "limit_blas_threads", "warm_worker"]
