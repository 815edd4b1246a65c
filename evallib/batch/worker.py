"""What runs inside a worker: process set-up, the parent-death watchdog and one job.

:func:`run_job` executes one notebook with papermill into a job folder and renders
its page. It never raises for a failing notebook: the record says ``failed`` and the
folder still holds the executed notebook and an error page. The one exception is a
fault of the machine rather than of the analysis (disk full, quota, read-only file
system): the record then carries ``fatal`` and the build stops (see
:func:`fatal_oserror`), since every later page would fail the same way.

Pool workers also run :func:`start_parent_watchdog`: a worker whose parent is
gone (``SIGKILL``, a crash) exits within half a second instead of running on,
orphaned, with hundreds of megabytes.
"""
from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from pathlib import Path

from evallib.batch.jobs import DEFAULT_ENGINE, ENGINE_INPROCESS
from evallib.exceptions import PublishError
from evallib.fsutil import atomic_write_text, source_date_epoch, utc_now

logger = logging.getLogger(__name__)

#: BLAS/OpenMP thread caps for worker processes: N workers x M BLAS threads on N cores
#: oversubscribe badly (measured here: a controlled fit took 14x longer with 2 threads
#: per process than with 1 while another process was busy). Set only if the user
#: has not set them.
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS")

#: errno values that are faults of the machine, not of one analysis: the build stops
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}

_JOB_LOCK = threading.Lock()
_WATCHDOG: threading.Thread | None = None


def limit_blas_threads() -> None:
    """Cap BLAS threads at 1 in this process; effective only before numpy is imported."""
    if "numpy" in sys.modules:
        logger.debug("numpy already imported: BLAS thread caps set now may not apply")
    for var in THREAD_ENV:
        os.environ.setdefault(var, "1")


def warm_worker() -> None:
    """Import papermill, nbconvert and IPython once per process (and check the engine).

    The analysis modules (pandas, statsmodels, matplotlib) are imported by the first
    notebook a worker runs and stay imported for the next ones; importing them here
    would not be faster and would slow down packs that do not need them.
    """
    limit_blas_threads()
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    import papermill  # noqa: F401  (loads the evallib-inprocess engine through its entry point)

    from evallib.batch.engine import check_engine, get_shell
    from evallib.report import render  # noqa: F401  (nbconvert is imported lazily by the first page)

    check_engine(DEFAULT_ENGINE)
    if DEFAULT_ENGINE == ENGINE_INPROCESS:
        get_shell()


def start_parent_watchdog(interval: float = 0.5) -> None:
    """Exit this process (code 1) as soon as its parent process is gone.

    The parent's death re-parents the worker (``os.getppid()`` changes), whatever
    killed it: ``SIGKILL`` leaves no chance to clean up, so the workers do it
    themselves. Started once per process, as a daemon thread.
    """
    global _WATCHDOG
    if _WATCHDOG is not None:
        return
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    _WATCHDOG = threading.Thread(target=watch, name="evallib-parent-watchdog", daemon=True)
    _WATCHDOG.start()


def pool_worker_init() -> None:
    """Initializer of a pool worker: the watchdog first, then :func:`warm_worker`."""
    start_parent_watchdog()
    warm_worker()


def fatal_oserror(exc: BaseException | None = None, ename: str | None = None,
                  evalue: str | None = None) -> dict | None:
    """``{"errno", "strerror", "filename"}`` when an error is a machine fault (:data:`FATAL_ERRNOS`).

    Works on an exception raised here, or on the ``ename``/``evalue`` of an error
    raised inside a notebook cell (``[Errno 28] No space left on device: 'x'``).
    """
    if isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS:
        return {"errno": exc.errno, "strerror": exc.strerror or os.strerror(exc.errno),
                "filename": None if exc.filename is None else str(exc.filename)}
    if ename and evalue and ename.endswith("Error"):
        for code in FATAL_ERRNOS:
            if evalue.startswith(f"[Errno {code}]"):
                rest = evalue.split(":", 1)
                name = rest[1].strip().strip("'\"") if len(rest) == 2 else None
                return {"errno": code, "strerror": os.strerror(code), "filename": name}
    return None


def normalise_notebook(nb, jid: str) -> None:
    """Make the executed notebook independent of the build folder and of chance (the ids
    of the cells papermill adds), and of the clock when ``SOURCE_DATE_EPOCH`` is
    set (papermill's and nbclient's timing metadata)."""
    errors = 0
    for cell in nb.cells:   # papermill gives the cells it adds random ids
        tags = cell.get("metadata", {}).get("tags", [])
        if "id" not in cell:
            continue
        if "injected-parameters" in tags:
            cell["id"] = "injected-parameters"
        elif "papermill-error-cell-tag" in tags:
            errors += 1
            cell["id"] = f"papermill-error-cell-{errors}"
    md = nb.metadata.get("papermill")
    if md is not None:
        if md.get("input_path"):
            md["input_path"] = Path(str(md["input_path"])).name
        md["output_path"] = f"{jid}.ipynb"
    epoch = source_date_epoch()
    if epoch is None:
        return
    stamp = utc_now().isoformat()
    blocks = [md] if md is not None else []
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        if "papermill" in cell.get("metadata", {}):
            blocks.append(cell.metadata["papermill"])
    for b in blocks:
        for k in ("start_time", "end_time"):
            if b.get(k) is not None:
                b[k] = stamp
        if "duration" in b:
            b["duration"] = None


def run_job(job: dict, job_dir: str) -> dict:
    """Execute one job into ``job_dir`` and render its page. Runs inside a worker.

    Never raises for a failing notebook: the returned record has ``status`` ``failed``
    and an ``error`` summary, and ``job_dir`` still holds the executed notebook and an
    error page. A page refused by a publish check (e.g. an NHS-number-like string) is
    replaced by a refusal page and the executed notebook and JSON files are deleted,
    so nothing disclosive reaches the pack. Unexpected errors (a bug, a dead kernel)
    are recorded the same way, with the traceback in the log. Jobs in one process
    are serialised by a lock (papermill changes ``cwd``, which is not thread-safe).
    """
    with _JOB_LOCK:
        return _run_job_locked(job, Path(job_dir))


def _peak_rss_mb() -> float | None:
    """This worker process's peak resident memory so far, in MB (Linux and macOS)."""
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
    except (ImportError, OSError, ValueError):
        return None


def _page_date() -> str:
    return utc_now().strftime("%d %B %Y")


def _run_job_locked(job: dict, jdir: Path) -> dict:
    t0 = time.perf_counter()
    jid = job["id"]
    nb_out = jdir / f"{jid}.ipynb"
    page = jdir / f"{jid}.html"
    error = None
    fatal = None
    try:
        import yaml

        jdir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(jdir / "params.yaml", yaml.safe_dump(job["params"], sort_keys=False))
        import nbformat
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError

        from evallib.batch.engine import check_engine, ipc_kernel_manager

        from evallib.report.pdf import FIGURE_TWINS_ENV

        engine = job.get("engine") or DEFAULT_ENGINE
        check_engine(engine)
        extra = {"kernel_manager_class": ipc_kernel_manager()} if engine != ENGINE_INPROCESS else {}
        # the pages the PDF board pack prints get each chart's vector twin beside them (a national
        # pack's brief collaborative pages are not printed: they keep only their PNGs)
        twins = job["params"].get("depth", "full") == "full" or job.get("kind") == "event_time"
        saved_twins = os.environ.pop(FIGURE_TWINS_ENV, None)
        if twins:
            os.environ[FIGURE_TWINS_ENV] = str(jdir)
        try:
            nb = pm.execute_notebook(job["notebook"], str(nb_out),
                                     parameters={"params_path": "params.yaml"},
                                     engine_name=engine, kernel_name="python3", cwd=str(jdir),
                                     progress_bar=False, request_save_on_cell_execute=False,
                                     **extra)
        except PapermillExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"[:500]
            fatal = fatal_oserror(ename=exc.ename, evalue=exc.evalue)
            nb = nbformat.read(str(nb_out), as_version=4)
        finally:
            os.environ.pop(FIGURE_TWINS_ENV, None)
            if saved_twins is not None:
                os.environ[FIGURE_TWINS_ENV] = saved_twins
        normalise_notebook(nb, jid)
        atomic_write_text(nb_out, nbformat.writes(nb))
        if error is None and not any((jdir / f).is_file() for f in ("results.json", "summary.json")):
            error = "the notebook wrote neither results.json nor summary.json"
        from evallib.report.render import render_page

        try:
            html = render_page(nb, title=job["title"], synthetic=job.get("synthetic", False),
                               error=error, suppress_below=job["params"].get("suppress_below", 5),
                               back_href=job.get("back_href"), built_at=_page_date())
            atomic_write_text(page, html)
        except PublishError as exc:
            # nothing from this run may reach the pack: the executed notebook and the JSON
            # files hold the same outputs as the refused page
            error = f"publish check: {exc}"
            for f in (nb_out, jdir / "results.json", jdir / "summary.json"):
                if f.exists():
                    f.unlink()
            from evallib.report.render import refusal_page
            atomic_write_text(page, refusal_page(job["title"], str(exc)))
    except Exception as exc:  # noqa: BLE001 - recorded in the manifest and the error page, not swallowed
        fatal = fatal or fatal_oserror(exc)
        if fatal is None:
            logger.exception("analysis %s failed outside the notebook", jid)
        error = f"{type(exc).__name__}: {exc}"[:500]
        if fatal is None and not page.exists():
            from html import escape
            atomic_write_text(page, f"<!DOCTYPE html><meta charset='utf-8'><title>{escape(job['title'])}"
                                    f"</title><h1>{escape(job['title'])}</h1><p>This analysis failed: "
                                    f"{escape(error)}</p>")
    try:
        outputs = sorted(p.name for p in jdir.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        outputs = []
    rec = {"id": jid, "status": "failed" if error else "ok", "error": error,
           "duration": round(time.perf_counter() - t0, 3), "outputs": outputs,
           "worker": f"{os.uname().nodename}:{os.getpid()}", "worker_peak_rss_mb": _peak_rss_mb()}
    if fatal:
        rec["fatal"] = fatal
    return rec


__all__ = ["run_job", "warm_worker", "pool_worker_init", "start_parent_watchdog", "limit_blas_threads",
           "THREAD_ENV", "FATAL_ERRNOS", "fatal_oserror", "normalise_notebook"]
