"""``evallib run`` and ``evallib batch``: notebook jobs, executors, cache, manifest.

One *job* is one analysis: a notebook from ``notebooks/`` executed with papermill
against one resolved params document, then rendered to a self-contained HTML page.

How a build goes (``build_pack``):

1. **Plan.** The pack YAML is validated (``evallib.config.load_pack``); each analysis
   becomes a :class:`Job` with a cache key = sha256 of (notebook bytes, resolved
   params, data-file sha256, evallib version).
2. **Cache.** The previous pack in ``--out`` *is* the cache: an analysis whose key
   equals the key recorded as ``ok`` in the old ``manifest.json`` (and whose files
   are still there) is hard-linked into the new build without starting a kernel or
   importing pandas/matplotlib. Failed analyses are never cached. ``--force`` runs
   everything.
3. **Execute.** The misses run on an executor from :data:`EXECUTORS`: a process pool
   (``spawn`` context, one long-lived worker per core, heavy imports paid once per
   worker) or a Dask ``distributed.Client`` (``--scheduler tcp://HOST:PORT``; the
   workers must see the same file system). Inside a worker each notebook runs
   in-process with papermill's Python API on the ``evallib-inprocess`` engine (an
   IPython shell in the worker, fresh namespace per notebook) or, with
   ``EVALLIB_ENGINE=nbclient``, on a real Jupyter kernel (IPC transport). Jobs in
   one process are serialised by a lock (papermill changes ``cwd``, which is not
   thread-safe).
4. **Isolate failures.** A failing notebook still leaves its executed notebook and
   an error page; the manifest records the error; the exit code is 1.
5. **Publish atomically.** Everything is built in a temporary folder beside
   ``--out`` and swapped in with two renames (old aside, new in), then the old one
   is deleted. An interrupted build leaves the previous pack untouched; leftover
   temporary folders are removed by the next build.

Layout of a pack::

    OUT/index.html  OUT/manifest.json
    OUT/<id>/<id>.html  <id>.ipynb  results.json  summary.json  params.yaml
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import evallib
from evallib.exceptions import ParameterError, PublishError

logger = logging.getLogger(__name__)

MANIFEST_SCHEMA = "evallib.manifest/1"
DEFAULT_NOTEBOOK = "its_outcome"
ENGINE_INPROCESS = "evallib-inprocess"
#: papermill engine used by the workers; ``EVALLIB_ENGINE=nbclient`` uses a real kernel
DEFAULT_ENGINE = os.environ.get("EVALLIB_ENGINE", ENGINE_INPROCESS)
_BUILD_PREFIX = ".evallib-build-"
_OLD_PREFIX = ".evallib-old-"


# ------------------------------------------------------------------ notebooks
def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` folder, beside the ``evallib`` package.

    Edge case: a non-editable install has no such folder; the error says how to fix it.
    """
    d = Path(evallib.__file__).resolve().parents[1] / "notebooks"
    if not d.is_dir():
        raise ParameterError(
            f"notebooks folder {d} not found: evallib reads its notebooks from the repository "
            f"checkout; install it with `pip install -e .` from the repository root")
    return d


def resolve_notebook(name: str | None, base_dir: Path | None = None) -> Path:
    """A notebook by name (``its_outcome``) from :func:`notebooks_dir`, or a path.

    A value ending in ``.ipynb`` is a path, relative to ``base_dir`` (the params file's
    folder) when not absolute.
    """
    name = name or DEFAULT_NOTEBOOK
    if name.endswith(".ipynb"):
        p = Path(name).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = (base_dir / p).resolve()
        if not p.is_file():
            raise ParameterError(f"notebook: value {name!r}: file {p} not found")
        return p
    d = notebooks_dir()
    p = d / f"{name}.ipynb"
    if not p.is_file():
        have = sorted(x.stem for x in d.glob("*.ipynb"))
        raise ParameterError(f"notebook: value {name!r} is not in {d} (available: {', '.join(have) or 'none'})")
    return p


# ------------------------------------------------------------------ hashing
_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (memoised per path, size and mtime within a process)."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _SHA_MEMO[memo] = h.hexdigest()
    return _SHA_MEMO[memo]


def _sha_text(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cache_key(notebook_sha: str, params: dict, data_sha: str, version: str) -> str:
    """The cache key of a job: notebook content, resolved params, data hash, evallib version."""
    return _sha_text(canonical_json({"notebook": notebook_sha, "params": params,
                                     "data": data_sha, "evallib": version}))


def _data_is_synthetic(data: Path) -> bool:
    meta = data.with_name(data.stem + ".meta.json")
    if not meta.is_file():
        return False
    try:
        return bool(json.loads(meta.read_text(encoding="utf-8")).get("synthetic", False))
    except json.JSONDecodeError:
        return False


# ------------------------------------------------------------------ jobs
@dataclass
class Job:
    """One analysis to execute; plain data so it pickles to any worker."""

    id: str
    title: str
    metric: str
    notebook: str             # absolute path of the source notebook
    params: dict              # resolved params (JSON-safe; data is an absolute path)
    data: str
    notebook_sha256: str
    data_sha256: str
    params_sha256: str
    key: str
    synthetic: bool = False
    engine: str = field(default_factory=lambda: DEFAULT_ENGINE)

    @property
    def inputs(self) -> dict:
        return {"notebook": Path(self.notebook).name, "notebook_sha256": self.notebook_sha256,
                "params_sha256": self.params_sha256, "data": self.data,
                "data_sha256": self.data_sha256, "evallib_version": evallib.__version__}


def make_job(params, base_dir: Path | None = None, notebook: str | None = None) -> Job:
    """A :class:`Job` from validated :class:`~evallib.config.Params`."""
    nb = resolve_notebook(notebook or params.notebook, base_dir)
    data = Path(params.data)
    if not data.is_file():
        raise ParameterError(f"data: value {str(data)!r}: file not found (run `evallib demo-data` "
                             f"for the demo table, or fix the path in the params file)")
    pdict = params.to_yaml_dict()
    pdict["id"] = params.analysis_id
    nb_sha, data_sha = file_sha256(nb), file_sha256(data)
    return Job(id=params.analysis_id, title=params.display_title, metric=params.metric,
               notebook=str(nb), params=pdict, data=str(data), notebook_sha256=nb_sha,
               data_sha256=data_sha, params_sha256=_sha_text(canonical_json(pdict)),
               key=cache_key(nb_sha, pdict, data_sha, evallib.__version__),
               synthetic=_data_is_synthetic(data))


# ------------------------------------------------------------------ in-process engine
_SHELL = None
_SHELL_RC: dict = {}
_JOB_LOCK = threading.Lock()


def _get_shell():
    """One IPython shell per process, with the inline matplotlib backend.

    Each notebook gets a fresh user namespace (``reset``), closed figures, the
    matplotlib rcParams saved after set-up and restored warning filters.
    """
    global _SHELL
    if _SHELL is None:
        from IPython.core.interactiveshell import InteractiveShell

        class CapturingShell(InteractiveShell):
            last_error: dict | None = None

            def enable_gui(self, gui=None):  # inline figures need no GUI event loop
                return None

            def _showtraceback(self, etype, evalue, stb):  # noqa: D401 - IPython hook
                self.last_error = {"output_type": "error", "ename": etype.__name__,
                                   "evalue": str(evalue), "traceback": list(stb)}

        import matplotlib
        matplotlib.use("Agg")
        main = sys.modules.get("__main__")
        try:
            _SHELL = CapturingShell.instance(colors="nocolor")
            _SHELL.enable_matplotlib("inline")
        finally:  # IPython installs its user module as __main__, which breaks later spawns
            if main is not None:
                sys.modules["__main__"] = main
        _SHELL_RC.update(matplotlib.rcParams.copy())
    return _SHELL


def _run_in_shell(shell, source: str) -> list:
    """Execute one cell; return nbformat outputs (streams first, then rich outputs)."""
    import nbformat
    from IPython.utils.capture import capture_output

    shell.last_error = None
    with capture_output(stdout=True, stderr=True, display=True) as cap:
        result = shell.run_cell(source, store_history=True, silent=False)
    outputs = []
    if cap.stdout:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=cap.stdout))
    if cap.stderr:
        outputs.append(nbformat.v4.new_output("stream", name="stderr", text=cap.stderr))
    for out in cap.outputs:
        data = {k: v for k, v in out.data.items()}
        outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=out.metadata or {}))
    if not result.success:
        err = shell.last_error
        if err is None:
            exc = result.error_in_exec or result.error_before_exec
            err = {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc),
                   "traceback": [f"{type(exc).__name__}: {exc}"]}
        outputs.append(nbformat.v4.new_output("error", ename=err["ename"], evalue=err["evalue"],
                                              traceback=err["traceback"]))
    return outputs


class _CurrentStderrHandler(logging.Handler):
    """Log records to whatever ``sys.stderr`` is at emit time (the cell's captured stream)."""

    def emit(self, record):
        try:
            sys.stderr.write(self.format(record) + "\n")
        except (OSError, ValueError):
            self.handleError(record)


def _engine_class():
    from papermill.engines import Engine

    class InProcessEngine(Engine):
        """Papermill engine running cells in this process's IPython shell (no kernel start)."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            import warnings

            import matplotlib
            import matplotlib.pyplot as plt

            shell = _get_shell()
            saved_main = sys.modules.get("__main__")
            root = logging.getLogger()
            saved_handlers, saved_level = root.handlers[:], root.level
            handler = _CurrentStderrHandler(logging.WARNING)
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            root.handlers = [handler]
            root.setLevel(logging.WARNING)
            shell.reset(new_session=True)
            shell.execution_count = 1
            plt.close("all")
            matplotlib.rcParams.update(_SHELL_RC)
            saved_filters = warnings.filters[:]
            try:
                for index, cell in enumerate(nb_man.nb.cells):
                    nb_man.cell_start(cell, index)
                    try:
                        if cell.cell_type != "code":
                            continue
                        count = shell.execution_count
                        cell.outputs = _run_in_shell(shell, cell.source)
                        cell.execution_count = count
                        if any(o.output_type == "error" for o in cell.outputs):
                            nb_man.cell_exception(cell, cell_index=index)
                            break
                    finally:
                        nb_man.cell_complete(cell, cell_index=index)
                nb_man.nb.metadata["language_info"] = {"name": "python",
                                                       "version": sys.version.split()[0]}
            finally:
                if saved_main is not None:
                    sys.modules["__main__"] = saved_main
                root.handlers = saved_handlers
                root.setLevel(saved_level)
                warnings.filters[:] = saved_filters
                plt.close("all")
                shell.reset(new_session=True)
            return nb_man.nb

    return InProcessEngine


_IPC_KM = None


def _ipc_kernel_manager():
    """An ``AsyncKernelManager`` whose kernels talk over IPC sockets, not TCP.

    ipykernel 7 warns about unencrypted TCP; local kernels do not need it. The socket
    paths derive from the (unique, per-kernel) connection file, so parallel workers
    never share them.
    """
    global _IPC_KM
    if _IPC_KM is None:
        from jupyter_client.manager import AsyncKernelManager

        class IPCKernelManager(AsyncKernelManager):
            def __init__(self, **kwargs):
                kwargs.setdefault("transport", "ipc")
                super().__init__(**kwargs)

        _IPC_KM = IPCKernelManager
    return _IPC_KM


def _register_engine() -> None:
    from papermill.engines import papermill_engines

    if ENGINE_INPROCESS not in papermill_engines._engines:
        papermill_engines.register(ENGINE_INPROCESS, _engine_class())


#: BLAS/OpenMP thread caps for worker processes: N workers x M BLAS threads on N cores
#: oversubscribe badly (measured here: a controlled fit took 14x longer with 2 threads
#: per process than with 1 while another process was busy). Set only if the user
#: has not set them.
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")


def limit_blas_threads() -> None:
    """Cap BLAS threads at 1 in this process; effective only before numpy is imported."""
    if "numpy" in sys.modules:
        logger.debug("numpy already imported: BLAS thread caps set now may not apply")
    for var in THREAD_ENV:
        os.environ.setdefault(var, "1")


def warm_worker() -> None:
    """Pool initializer: import papermill, nbconvert and IPython once per worker process.

    The analysis modules (pandas, statsmodels, matplotlib) are imported by the first
    notebook a worker runs and stay imported for the next ones; importing them here
    would not be faster and would slow down packs that do not need them.
    """
    limit_blas_threads()
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    import papermill  # noqa: F401

    from evallib.report import render  # noqa: F401  (nbconvert is imported lazily by the first page)
    _register_engine()
    if DEFAULT_ENGINE == ENGINE_INPROCESS:
        _get_shell()


# ------------------------------------------------------------------ one job
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run_job(job: dict, job_dir: str) -> dict:
    """Execute one job into ``job_dir`` and render its page. Runs inside a worker.

    Never raises for a failing notebook: the returned record has ``status`` ``failed``
    and an ``error`` summary, and ``job_dir`` still holds the executed notebook and an
    error page. A page refused by a publish check (e.g. an NHS-number-like string)
    is replaced by a refusal page and the executed notebook and JSON files are
    deleted, so nothing disclosive reaches the pack. Unexpected errors (a bug, a dead kernel) are recorded the same way,
    with the traceback in the log.
    """
    with _JOB_LOCK:
        return _run_job_locked(job, Path(job_dir))


def _run_job_locked(job: dict, jdir: Path) -> dict:
    import yaml

    t0 = time.perf_counter()
    jid = job["id"]
    jdir.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(jdir / "params.yaml", yaml.safe_dump(job["params"], sort_keys=False))
    nb_out = jdir / f"{jid}.ipynb"
    page = jdir / f"{jid}.html"
    error = None
    nb = None
    try:
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError

        _register_engine()
        engine = job.get("engine") or DEFAULT_ENGINE
        extra = {"kernel_manager_class": _ipc_kernel_manager()} if engine != ENGINE_INPROCESS else {}
        try:
            nb = pm.execute_notebook(job["notebook"], str(nb_out),
                                     parameters={"params_path": "params.yaml"},
                                     engine_name=engine, kernel_name="python3", cwd=str(jdir),
                                     progress_bar=False, request_save_on_cell_execute=False,
                                     **extra)
        except PapermillExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"[:500]
            import nbformat
            nb = nbformat.read(str(nb_out), as_version=4)
        if error is None and not any((jdir / f).is_file() for f in ("results.json", "summary.json")):
            error = "the notebook wrote neither results.json nor summary.json"
        from evallib.report.render import render_page

        try:
            html = render_page(nb, title=job["title"], synthetic=job.get("synthetic", False),
                               error=error, suppress_below=job["params"].get("suppress_below", 5),
                               back_href=job.get("back_href"))
            _atomic_write_text(page, html)
        except PublishError as exc:
            # nothing from this run may reach the pack: the executed notebook and the JSON
            # files hold the same outputs as the refused page
            error = f"publish check: {exc}"
            for f in (nb_out, jdir / "results.json", jdir / "summary.json"):
                if f.exists():
                    f.unlink()
            from evallib.report.render import refusal_page
            _atomic_write_text(page, refusal_page(job["title"], str(exc)))
    except Exception as exc:  # noqa: BLE001 - recorded in the manifest and the error page, not swallowed
        logger.exception("analysis %s failed outside the notebook", jid)
        error = f"{type(exc).__name__}: {exc}"[:500]
        if not page.exists():
            from html import escape
            _atomic_write_text(page, f"<!DOCTYPE html><meta charset='utf-8'><title>{escape(job['title'])}"
                                     f"</title><h1>{escape(job['title'])}</h1><p>This analysis failed: "
                                     f"{escape(error)}</p>")
    outputs = sorted(p.name for p in jdir.iterdir() if p.is_file() and not p.name.startswith("."))
    return {"id": jid, "status": "failed" if error else "ok", "error": error,
            "duration": round(time.perf_counter() - t0, 3), "outputs": outputs,
            "worker": f"{os.uname().nodename}:{os.getpid()}"}


# ------------------------------------------------------------------ executors
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


def _failed_record(job: dict, exc: BaseException, t0: float) -> dict:
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
    """

    name = "process"

    def describe(self) -> str:
        return f"process pool ({self.workers} workers)"

    def _pool(self, n: int):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                                   initializer=warm_worker)

    def _run_pool(self, items, n: int, t0: float, broken: list):
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        with self._pool(n) as pool:
            futs = {pool.submit(run_job, job, jdir): (job, jdir) for job, jdir in items}
            try:
                for fut in as_completed(futs):
                    job, jdir = futs[fut]
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        broken.append((job, jdir))
                        continue
                    yield job, (_failed_record(job, exc, t0) if exc else fut.result())
            except BaseException:
                for f in futs:
                    f.cancel()
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
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
                yield job, {**_failed_record(job, RuntimeError("the worker process died while running "
                                                                "this notebook (os._exit or a crash)"), t0)}


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
                        yield job, _failed_record(job, fut.exception(), t0)
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


# ------------------------------------------------------------------ publishing
def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.is_file():
            _link_or_copy(p, dst / p.name)


def _clean_stale(parent: Path, name: str) -> None:
    """Remove build/old folders left by interrupted builds whose process is gone.

    Edge case: a crash between the two renames of :func:`publish` leaves no ``name``
    but an ``.evallib-old-name-*`` folder: the newest one is renamed back first, so the
    last good pack is never deleted.
    """
    out = parent / name
    olds = sorted(parent.glob(f"{_OLD_PREFIX}{name}-*"), key=lambda p: p.stat().st_mtime)
    if not out.exists() and olds:
        logger.warning("%s was missing after an interrupted publish: restoring it from %s", out, olds[-1].name)
        os.rename(olds[-1], out)
    for p in parent.glob(f"{_BUILD_PREFIX}{name}-*"):
        pid = p.name.rsplit("-", 2)[-2] if p.name.count("-") >= 2 else ""
        if pid.isdigit() and _pid_alive(int(pid)):
            continue
        shutil.rmtree(p, ignore_errors=True)
    for p in parent.glob(f"{_OLD_PREFIX}{name}-*"):
        shutil.rmtree(p, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(build: Path, out: Path) -> None:
    """Swap ``build`` in as ``out``: rename the old pack aside, rename the new in, delete the old."""
    mode = 0o777 & ~_umask()
    for d in [build, *[p for p in build.rglob("*") if p.is_dir()]]:
        os.chmod(d, mode)
    old = None
    if out.exists():
        old = out.parent / f"{_OLD_PREFIX}{out.name}-{os.getpid()}-{int(time.time() * 1000)}"
        os.rename(out, old)
    try:
        os.rename(build, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read_manifest(out: Path) -> dict | None:
    p = out / "manifest.json"
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        logger.warning("%s is not valid JSON: ignoring the cache", p)
        return None
    return doc if doc.get("schema") == MANIFEST_SCHEMA else None


# ------------------------------------------------------------------ the build
@dataclass
class BuildResult:
    out: Path
    manifest: dict
    exit_code: int

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def _progress_line(k: int, n: int, rec: dict) -> str:
    if rec.get("cache_hit"):
        state = "cached"
    else:
        state = "ok" if rec["status"] == "ok" else "FAILED"
    line = f"[{k}/{n}] {rec['id']} {state} ({rec['duration']:.1f} s)"
    if rec["status"] != "ok" and rec.get("error"):
        line += f": {rec['error']}"
    return line


def build_pack(pack_path: str | Path, out: str | Path | None = None, workers: int | None = None,
               scheduler: str | None = None, force: bool = False,
               progress: Callable[[str], None] | None = None) -> BuildResult:
    """Build the board pack of ``pack_path`` into ``out`` (see the module docstring).

    Returns the manifest and the exit code (0 all ok, 1 at least one analysis failed).
    Invalid params raise :class:`~evallib.exceptions.ParameterError` before anything
    runs; the previous pack is never touched unless the new one is complete.
    """
    from evallib.config import load_pack

    t_start = time.perf_counter()
    pack_path = Path(pack_path)
    pack, params_list = load_pack(pack_path)
    out = Path(out) if out is not None else Path("out") / pack_path.stem
    out = out.resolve()
    base = pack_path.resolve().parent
    jobs = [make_job(p, base) for p in params_list]
    pack_sha = file_sha256(pack_path)

    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out.parent, out.name)
    previous = _read_manifest(out)
    old = None if force else previous
    old_entries = {e["id"]: e for e in (old or {}).get("analyses", [])}
    # longest first (durations of the previous build) balances the workers better
    last_run = {e["id"]: e.get("run_duration") or 0.0 for e in (previous or {}).get("analyses", [])}
    build = Path(tempfile.mkdtemp(prefix=f"{_BUILD_PREFIX}{out.name}-{os.getpid()}-", dir=out.parent))
    say = progress or (lambda s: None)
    records: dict[str, dict] = {}
    n = len(jobs)
    done = 0
    try:
        misses = []
        for job in jobs:
            prev = old_entries.get(job.id)
            src = out / job.id
            if (prev and prev.get("status") == "ok" and prev.get("key") == job.key
                    and all((src / f).is_file() for f in prev.get("outputs", []))):
                t0 = time.perf_counter()
                _copy_tree(src, build / job.id)
                rec = {"id": job.id, "status": "ok", "error": None, "outputs": prev["outputs"],
                       "duration": round(time.perf_counter() - t0, 3), "cache_hit": True,
                       "run_duration": prev.get("run_duration", prev.get("duration")),
                       "built_at": prev.get("built_at"), "worker": prev.get("worker")}
                records[job.id] = rec
                done += 1
                say(_progress_line(done, n, rec))
            else:
                if force:
                    why = "--force"
                elif not prev:
                    why = "not in the previous pack"
                elif prev.get("status") != "ok":
                    why = "failed last time"
                elif prev.get("key") != job.key:
                    why = "inputs changed"
                else:
                    why = "outputs missing from the previous pack"
                logger.info("%s: cache miss (%s)", job.id, why)
                misses.append(job)
        executor = None
        if misses:
            executor = make_executor(workers, scheduler, len(misses))
            logger.info("running %d of %d analyses on %s", len(misses), n, executor.describe())
            misses.sort(key=lambda j: -last_run.get(j.id, float("inf")))
            items = [({**asdict(j), "back_href": "../index.html"}, str(build / j.id)) for j in misses]
            for jd, rec in executor.run(items):
                _ensure_error_page(build / jd["id"], jd, rec)
                rec["cache_hit"] = False
                rec["run_duration"] = rec["duration"]
                rec["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                records[jd["id"]] = rec
                done += 1
                say(_progress_line(done, n, rec))
        analyses = []
        for job in jobs:
            rec = records[job.id]
            analyses.append({"id": job.id, "title": job.title, "metric": job.metric,
                             "status": rec["status"], "cache_hit": rec["cache_hit"],
                             "duration": rec["duration"], "run_duration": rec.get("run_duration"),
                             "built_at": rec.get("built_at"), "key": job.key, "inputs": job.inputs,
                             "outputs": rec["outputs"],
                             "page": f"{job.id}/{job.id}.html", "error": rec["error"],
                             "worker": rec.get("worker")})
        synthetic = any(j.synthetic for j in jobs)
        n_failed = sum(a["status"] != "ok" for a in analyses)
        manifest = {"schema": MANIFEST_SCHEMA,
                    "pack": {"title": pack.title, "description": pack.description,
                             "path": str(pack_path.resolve()), "sha256": pack_sha},
                    "evallib_version": evallib.__version__, "synthetic": synthetic,
                    "executor": executor.describe() if executor else "none (all cached)",
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "summary": {"total": n, "ok": n - n_failed, "failed": n_failed,
                                "cached": sum(a["cache_hit"] for a in analyses)},
                    "analyses": analyses}
        index_key = _sha_text(canonical_json({"pack": pack.model_dump(mode="json"),
                                              "analyses": [(a["id"], a["key"], a["status"], a["error"])
                                                           for a in analyses],
                                              "version": evallib.__version__,
                                              "templates": _templates_sha()}))
        manifest["index_key"] = index_key
        if old and old.get("index_key") == index_key and (out / "index.html").is_file():
            _link_or_copy(out / "index.html", build / "index.html")
        else:
            from evallib.report.index import write_index
            write_index(build, manifest)
        manifest["duration"] = round(time.perf_counter() - t_start, 3)
        _atomic_write_text(build / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        publish(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return BuildResult(out=out, manifest=manifest, exit_code=1 if n_failed else 0)


def _ensure_error_page(jdir: Path, job: dict, rec: dict) -> None:
    """A worker that died leaves no page: write a minimal error page so the index link works."""
    page = jdir / f"{job['id']}.html"
    if page.exists():
        return
    from evallib.report.render import refusal_page

    jdir.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(page, refusal_page(job["title"], rec.get("error") or "the worker stopped",
                                          withheld=False))
    rec["outputs"] = sorted(set(rec.get("outputs", [])) | {page.name})


def _templates_sha() -> str:
    d = Path(__file__).parent / "report"
    h = hashlib.sha256()
    for p in sorted(list(d.glob("templates/*")) + list(d.glob("*.py")) +
                    [Path(__file__).parent / "plots" / "pack.py"]):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def run_analysis(params_path: str | Path, out: str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> BuildResult:
    """``evallib run``: one analysis, executed in this process, published atomically to ``out``.

    ``out`` receives ``<id>.ipynb``, ``<id>.html``, ``results.json``, ``summary.json``
    and ``params.yaml``.
    """
    from evallib.config import load_params

    p = Path(params_path)
    params = load_params(p)
    job = make_job(params, p.resolve().parent)
    out = (Path(out) if out is not None else Path("out") / p.stem).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out.parent, out.name)
    build = Path(tempfile.mkdtemp(prefix=f"{_BUILD_PREFIX}{out.name}-{os.getpid()}-", dir=out.parent))
    try:
        items = [(asdict(job), str(build))]
        for _, rec in InlineExecutor().run(items):
            rec["cache_hit"] = False
            (progress or (lambda s: None))(_progress_line(1, 1, rec))
        publish(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    manifest = {"schema": MANIFEST_SCHEMA, "analyses": [{**rec, "key": job.key, "inputs": job.inputs,
                                                         "page": f"{job.id}.html"}]}
    return BuildResult(out=out, manifest=manifest, exit_code=0 if rec["status"] == "ok" else 1)


# ------------------------------------------------------------------ CLI handlers
def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run_command(args) -> int:
    """``evallib run PARAMS.yaml [--out DIR]``."""
    limit_blas_threads()
    res = run_analysis(args.params, args.out, progress=_stderr)
    rec = res.manifest["analyses"][0]
    sys.stdout.write(f"{res.out / rec['page']}\n")
    return res.exit_code


def batch_command(args) -> int:
    """``evallib batch PACK.yaml [--out DIR] [--workers N] [--scheduler ADDR] [--force]``."""
    res = build_pack(args.pack, args.out, workers=args.workers, scheduler=args.scheduler,
                     force=args.force, progress=_stderr)
    s = res.manifest["summary"]
    _stderr(f"{s['ok']} ok ({s['cached']} from cache), {s['failed']} failed, "
            f"{res.manifest['duration']:.1f} s")
    sys.stdout.write(f"{res.index}\n")
    return res.exit_code


__all__ = ["Job", "make_job", "run_job", "build_pack", "run_analysis", "publish", "cache_key",
           "file_sha256", "notebooks_dir", "resolve_notebook", "EXECUTORS", "Executor",
           "InlineExecutor", "ProcessExecutor", "DaskExecutor", "run_command", "batch_command"]
