"""Jobs: one analysis of a pack (or of ``evallib run``) as plain, picklable data.

A :class:`Job` carries the source notebook, the resolved params, the data file and
the hashes that make its cache key (:func:`evallib.batch.cache.cache_key`). Making a
job is cheap: no pandas, no papermill.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import evallib
from evallib.batch.cache import cache_key, canonical_json, file_sha256, sha_text, source_sha256
from evallib.exceptions import ParameterError
from evallib.inputs import check_notebook

DEFAULT_NOTEBOOK = "its_outcome"
ENGINE_INPROCESS = "evallib-inprocess"
#: papermill engine used by the workers; ``EVALLIB_ENGINE=nbclient`` uses a real kernel
DEFAULT_ENGINE = os.environ.get("EVALLIB_ENGINE", ENGINE_INPROCESS)
#: an analysis id names a folder and files of the pack: a plain name, nothing that walks
#: out of the output folder (``..``) or collides with the pack's own files
PLAIN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


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
        return check_notebook(p, name)  # nbformat 4 JSON, else one line (not a failed job)
    d = notebooks_dir()
    p = d / f"{name}.ipynb"
    if not p.is_file():
        have = sorted(x.stem for x in d.glob("*.ipynb"))
        raise ParameterError(f"notebook: value {name!r} is not in {d} (available: {', '.join(have) or 'none'})")
    return p


def data_is_synthetic(data: Path) -> bool:
    """True when the table's sidecar ``<stem>.meta.json`` says ``{"synthetic": true}``."""
    import json

    meta = data.with_name(data.stem + ".meta.json")
    if not meta.is_file():
        return False
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return bool(doc.get("synthetic", False)) if isinstance(doc, dict) else False


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
    source_sha256: str = ""   # evallib's own source files and templates (cache.source_sha256)
    kind: str = "analysis"    # national packs: "collaborative" or "event_time" (evallib/batch/national.py)
    collaborative: str | None = None
    formation: str | None = None
    data_key: str = ""        # what the cache key hashes for the data: the file, or the slice it reads

    @property
    def inputs(self) -> dict:
        return {"notebook": Path(self.notebook).name, "notebook_sha256": self.notebook_sha256,
                "params_sha256": self.params_sha256, "data": self.data,
                "data_sha256": self.data_sha256, "evallib_version": evallib.__version__,
                "evallib_source_sha256": self.source_sha256}


def make_job(params, base_dir: Path | None = None, notebook: str | None = None,
             data_key: str | None = None, kind: str = "analysis", source_sha: str | None = None) -> Job:
    """A :class:`Job` from validated :class:`~evallib.config.Params`.

    ``data_key``: the hash the cache key uses for the data instead of the whole file's (a national
    pack's collaborative analyses hash the rows they read: evallib/batch/national.py)."""
    aid = params.analysis_id
    if not PLAIN_NAME.match(aid):
        raise ParameterError(f"id: value {aid!r}: an analysis id names a folder of the pack; use letters, "
                             f"digits, _ and - only (set `id:` when the metric name has other characters)")
    nb = resolve_notebook(notebook or params.notebook, base_dir)
    data = Path(params.data)
    if not data.is_file():
        what = "is a folder, not a file" if data.is_dir() else "file not found"
        raise ParameterError(f"data: value {str(data)!r}: {what} (run `evallib demo-data` "
                             f"for the demo table, or fix the path in the params file)")
    pdict = params.to_yaml_dict()
    pdict["id"] = aid
    nb_sha, data_sha = file_sha256(nb), file_sha256(data)
    src_sha = source_sha or source_sha256()   # a pack computes it once for all its jobs
    keyed = dict(pdict)
    if params.memberships is not None and Path(params.memberships).is_file():
        # the membership table is an input too: editing a joining date rebuilds what it affects
        keyed["memberships_sha256"] = file_sha256(Path(params.memberships))
    formation = None
    if params.collaborative is not None:
        formation = next((i.date for i in params.interruptions if i.name == "collaborative"), None)
    return Job(id=aid, title=params.display_title, metric=params.metric,
               notebook=str(nb), params=pdict, data=str(data), notebook_sha256=nb_sha,
               data_sha256=data_sha, params_sha256=sha_text(canonical_json(pdict)),
               key=cache_key(nb_sha, keyed, data_key or data_sha, evallib.__version__, src_sha),
               synthetic=data_is_synthetic(data), source_sha256=src_sha, kind=kind,
               collaborative=params.collaborative, formation=formation, data_key=data_key or data_sha)


__all__ = ["Job", "make_job", "notebooks_dir", "resolve_notebook", "data_is_synthetic",
           "DEFAULT_NOTEBOOK", "ENGINE_INPROCESS", "DEFAULT_ENGINE", "PLAIN_NAME"]
