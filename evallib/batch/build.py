"""Builds: ``evallib batch`` (:func:`build_pack`) and ``evallib run`` (:func:`run_analysis`).

A pack build plans the jobs, checks ``--out`` (:func:`~evallib.batch.publishing.check_out`),
takes the output lock, serves what it can from the cache, runs the rest on an
executor, writes the index and the manifest into a temporary folder and swaps it in.

With ``SOURCE_DATE_EPOCH`` set, every timestamp in the published files comes from it
and the manifest leaves out what depends on the run (durations and worker ids are
``null``), so two builds of the same inputs are byte-identical.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import evallib
from evallib.batch import executors, national
from evallib.batch.cache import (MANIFEST_SCHEMA, canonical_json, cached_entry, file_sha256, read_manifest, sha_text,
                                 source_sha256)
from evallib.batch.jobs import Job, make_job
from evallib.batch.publishing import (PDF_NAME, OutputLock, check_out, clean_stale, copy_tree, link_or_copy,
                                      make_build_dir, prepare_out, publish)
from evallib.exceptions import EvalError
from evallib.fsutil import atomic_write_text, source_date_epoch, utc_stamp

logger = logging.getLogger(__name__)


@dataclass
class BuildResult:
    out: Path
    manifest: dict
    exit_code: int
    elapsed: float = 0.0          # seconds (also when the manifest leaves durations out)
    records: list = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def _left(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def progress_line(k: int, n: int, rec: dict, left: float | None = None) -> str:
    """``[k/n] id state (duration)``, then the estimated time left when ``left`` is given (the
    analyses still to run, at the rate the finished ones ran over the workers), then any error."""
    if rec.get("cache_hit"):
        state = "cached"
    else:
        state = "ok" if rec["status"] == "ok" else "FAILED"
    line = f"[{k}/{n}] {rec['id']} {state} ({rec['duration'] or 0.0:.1f} s)"
    if left is not None and k < n:
        line += f", about {_left(left)} left"
    if rec["status"] != "ok" and rec.get("error"):
        line += f": {rec['error']}"
    return line


def _raise_fatal(rec: dict, out: Path) -> None:
    """A machine fault in a worker (disk full, read-only): stop the build with that OSError."""
    f = rec.get("fatal")
    if f:
        raise OSError(f["errno"], f["strerror"], str(out))


def _timing(value, reproducible: bool):
    return None if reproducible else value


def _ensure_error_page(jdir: Path, job: dict, rec: dict) -> None:
    """A worker that died leaves no page: write a minimal error page so the index link works."""
    page = jdir / f"{job['id']}.html"
    if page.exists():
        return
    from evallib.report.render import refusal_page

    jdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(page, refusal_page(job["title"], rec.get("error") or "the worker stopped", withheld=False))
    rec["outputs"] = sorted(set(rec.get("outputs", [])) | {page.name})


@contextmanager
def _scratch(out: Path):
    """A fresh build folder beside ``out``, removed if the build fails (an OSError is reported
    against ``out``, where the user looks)."""
    build = make_build_dir(out)
    try:
        yield build
    except OSError as exc:
        shutil.rmtree(build, ignore_errors=True)
        raise _relocate_oserror(exc, build, out) from None
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def _relocate_oserror(exc: OSError, build: Path, out: Path) -> OSError:
    """An OSError on a file of the temporary build folder is reported against ``out``."""
    name = "" if exc.filename is None else str(exc.filename)
    if name.startswith(str(build)) or exc.filename is None:
        new = OSError(exc.errno, exc.strerror, str(out))
        new.__cause__ = exc
        return new
    return exc


def build_pack(pack_path: str | Path, out: str | Path | None = None, workers: int | None = None,
               scheduler: str | None = None, force: bool = False,
               progress: Callable[[str], None] | None = None) -> BuildResult:
    """Build the board pack of ``pack_path`` into ``out``.

    Returns the manifest and the exit code (0 all ok, 1 at least one analysis failed).
    Invalid params, or an ``out`` evallib may not replace, raise
    :class:`~evallib.exceptions.ParameterError` before anything runs or is written; a
    fault (disk full) raises ``OSError``; the previous pack is never touched unless
    the new one is complete.
    """
    from evallib.config import load_pack

    t_start = time.perf_counter()
    say = progress or (lambda s: None)
    pack_path = Path(pack_path)
    out = (Path(out) if out is not None else Path("out") / pack_path.stem).resolve()
    nat = national.NationalBuild(None if force else read_manifest(out))
    pack, params_list = load_pack(pack_path, expand=nat.expand)
    base = pack_path.resolve().parent
    if pack.national is not None:
        jobs = nat.make_jobs(pack, params_list, base)
    else:
        src = source_sha256()                   # once for the pack, not once a job
        jobs = [make_job(p, base, source_sha=src) for p in params_list]
    pack_sha = file_sha256(pack_path)
    reproducible = source_date_epoch() is not None

    prepare_out(out)
    with OutputLock(out, say):
        clean_stale(out.parent, out.name)
        previous = check_out(out)          # again: another build may have published meanwhile
        old = None if force else previous
        old_entries = {e.get("id"): e for e in (old or {}).get("analyses", []) if isinstance(e, dict)}
        # longest first (durations of the previous build) balances the workers better
        last_run = {e.get("id"): e.get("run_duration") or 0.0
                    for e in (previous or {}).get("analyses", []) if isinstance(e, dict)}
        with _scratch(out) as build:
            manifest, n_failed = _build_into(build, out, pack, pack_path, pack_sha, jobs, old, old_entries, nat,
                                             last_run, force, workers, scheduler, say, reproducible, t_start)
            publish(build, out)
    return BuildResult(out=out, manifest=manifest, exit_code=1 if n_failed else 0,
                       elapsed=time.perf_counter() - t_start)


def _build_into(build, out, pack, pack_path, pack_sha, jobs: list[Job], old, old_entries, nat, last_run, force,
                workers, scheduler, say, reproducible, t_start):
    records: dict[str, dict] = {}
    n = len(jobs)
    done = 0
    misses = []
    for job in jobs:
        prev, why = (None, "--force") if force else cached_entry(job, old_entries.get(job.id), out)
        if prev is not None:
            t0 = time.perf_counter()
            copy_tree(out / job.id, build / job.id, names=list(prev["outputs"]))
            rec = {"id": job.id, "status": "ok", "error": None, "outputs": prev["outputs"],
                   "duration": round(time.perf_counter() - t0, 3), "cache_hit": True,
                   "run_duration": prev.get("run_duration", prev.get("duration")),
                   "built_at": prev.get("built_at"), "worker": prev.get("worker"),
                   "worker_peak_rss_mb": prev.get("worker_peak_rss_mb")}
            records[job.id] = rec
            done += 1
            say(progress_line(done, n, rec))
        else:
            logger.info("%s: cache miss (%s)", job.id, why)
            misses.append(job)
    executor = None
    if misses:
        executor = executors.make_executor(workers, scheduler, len(misses))
        logger.info("running %d of %d analyses on %s", len(misses), n, executor.describe())
        misses.sort(key=lambda j: -last_run.get(j.id, float("inf")))
        items = [({**asdict(j), "back_href": "../index.html"}, str(build / j.id)) for j in misses]
        t_run, n_run = time.perf_counter(), 0
        for jd, rec in executor.run(items):
            n_run += 1
            _raise_fatal(rec, out)
            _ensure_error_page(build / jd["id"], jd, rec)
            rec["cache_hit"] = False
            rec["run_duration"] = rec["duration"]
            rec["built_at"] = utc_stamp()
            records[jd["id"]] = rec
            done += 1
            say(progress_line(done, n, rec, left=(time.perf_counter() - t_run) / n_run * (len(misses) - n_run)))
    analyses = []
    pack_names = nat.names() if pack.national is not None else {}
    for job in jobs:
        rec = records[job.id]
        extra = {} if job.kind == "analysis" else {"kind": job.kind, "collaborative": job.collaborative,
                                                    "collaborative_name": pack_names.get(job.collaborative),
                                                    "formation": job.formation}
        analyses.append({"id": job.id, "title": job.title, "metric": job.metric, **extra,
                         "status": rec["status"], "cache_hit": rec["cache_hit"],
                         "duration": _timing(rec["duration"], reproducible),
                         "run_duration": _timing(rec.get("run_duration"), reproducible),
                         "built_at": rec.get("built_at"), "key": job.key, "inputs": job.inputs,
                         "outputs": rec["outputs"],
                         "page": f"{job.id}/{job.id}.html", "error": rec["error"],
                         "worker": _timing(rec.get("worker"), reproducible),
                         "worker_peak_rss_mb": _timing(rec.get("worker_peak_rss_mb"), reproducible)})
    synthetic = any(j.synthetic for j in jobs)
    n_failed = sum(a["status"] != "ok" for a in analyses)
    manifest = {"schema": MANIFEST_SCHEMA,
                "pack": {"title": pack.title, "description": pack.description,
                         "path": str(pack_path.resolve()), "sha256": pack_sha},
                "evallib_version": evallib.__version__, "synthetic": synthetic,
                "executor": executor.describe() if executor else "none (all cached)",
                "built_at": utc_stamp(),
                "summary": {"total": n, "ok": n - n_failed, "failed": n_failed,
                            "cached": sum(a["cache_hit"] for a in analyses)},
                "analyses": analyses}
    if pack.national is not None:
        manifest["national"] = {"measures": list(pack.national.measures),
                                "collaboratives": sorted({j.collaborative for j in jobs if j.collaborative}),
                                "event_time": bool(pack.national.event_time), "cache": nat.cache}
    index_key = sha_text(canonical_json({"pack": pack.model_dump(mode="json"),
                                         "analyses": [(a["id"], a["key"], a["status"], a["error"])
                                                      for a in analyses],
                                         "version": evallib.__version__,
                                         "source": source_sha256()}))
    manifest["index_key"] = index_key
    if old and old.get("index_key") == index_key and (out / "index.html").is_file():
        link_or_copy(out / "index.html", build / "index.html")
        if (out / PDF_NAME).is_file():
            link_or_copy(out / PDF_NAME, build / PDF_NAME)
    elif pack.national is not None:
        # a national pack's index: per measure the collaboratives' effects (caterpillar) and the
        # event-time page, and one sortable table of every collaborative x measure
        from evallib.report.national import write_national_index
        write_national_index(build, manifest)
    else:
        from evallib.report.index import write_index
        write_index(build, manifest)
    if not (build / PDF_NAME).is_file():
        # the A4 PDF board pack (cover, index, one section per measure, appendix), typeset from the
        # built pack; it reads manifest.json, so that is written first (and again with the duration)
        from evallib.report.pdf import build_pdf
        atomic_write_text(build / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        try:
            build_pdf(build, build / PDF_NAME)
            manifest["pdf"] = {"status": "ok", "file": PDF_NAME}
        except EvalError as exc:   # the HTML pack is still whole: say so, never sink the build
            logger.warning("the PDF board pack was not written: %s", exc)
            say(f"warning: the PDF board pack was not written: {exc}")
            manifest["pdf"] = {"status": "failed", "error": str(exc)}
    else:
        manifest["pdf"] = {"status": "ok", "file": PDF_NAME}
    manifest["duration"] = _timing(round(time.perf_counter() - t_start, 3), reproducible)
    atomic_write_text(build / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest, n_failed


def run_analysis(params_path: str | Path, out: str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> BuildResult:
    """``evallib run``: one analysis, executed in this process, published atomically to ``out``.

    ``out`` receives ``<id>.ipynb``, ``<id>.html``, ``results.json``, ``summary.json``,
    ``params.yaml`` and a ``manifest.json`` (``"kind": "run"``) that lets the next run
    prove the folder is evallib's and replace it.
    """
    from evallib.config import load_params

    t_start = time.perf_counter()
    p = Path(params_path)
    params = load_params(p)
    job = make_job(params, p.resolve().parent)
    out = (Path(out) if out is not None else Path("out") / p.stem).resolve()
    reproducible = source_date_epoch() is not None
    say = progress or (lambda s: None)
    prepare_out(out)
    with OutputLock(out, say):
        clean_stale(out.parent, out.name)
        check_out(out)
        with _scratch(out) as build:
            for _, rec in executors.InlineExecutor().run([(asdict(job), str(build))]):
                _raise_fatal(rec, out)
                rec["cache_hit"] = False
                say(progress_line(1, 1, rec))
            entry = {**rec, "key": job.key, "inputs": job.inputs, "page": f"{job.id}.html",
                     "built_at": utc_stamp(), "duration": _timing(rec["duration"], reproducible),
                     "worker": _timing(rec.get("worker"), reproducible)}
            manifest = {"schema": MANIFEST_SCHEMA, "kind": "run", "evallib_version": evallib.__version__,
                        "built_at": utc_stamp(), "analyses": [entry]}
            atomic_write_text(build / "manifest.json", json.dumps(manifest, indent=2) + "\n")
            publish(build, out)
    return BuildResult(out=out, manifest=manifest, exit_code=0 if rec["status"] == "ok" else 1,
                       elapsed=time.perf_counter() - t_start)


__all__ = ["BuildResult", "build_pack", "run_analysis", "progress_line"]
