"""The build cache: content hashes, the cache key, and the previous pack's manifest.

The previous pack in ``--out`` *is* the cache. An analysis is served from it when
the key recorded as ``ok`` in the old ``manifest.json`` equals the new key and its
files are still there. The key is the sha256 of

- the notebook's bytes,
- the resolved params (canonical JSON),
- the data file's bytes,
- ``evallib.__version__``, and
- :func:`source_sha256`: every file under the ``evallib`` package (code, templates,
  catalogues), so editing any of them, even a comment, rebuilds what it may affect.

Failed analyses are never served from the cache.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MANIFEST_SCHEMA = "evallib.manifest/1"

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


def sha_text(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def source_root() -> Path:
    """The folder of the installed ``evallib`` package (what :func:`source_sha256` hashes)."""
    import evallib

    return Path(evallib.__file__).resolve().parent


def source_files(root: Path | None = None) -> list[Path]:
    """Every file under ``root`` that can change what evallib computes or renders.

    Skipped: ``__pycache__`` folders, compiled ``.pyc`` files and hidden files or
    folders (editor swap files), which are not part of the source.
    """
    root = Path(root) if root is not None else source_root()
    files = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if any(part == "__pycache__" or part.startswith(".") for part in rel):
            continue
        if p.is_file() and p.suffix != ".pyc":
            files.append(p)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


_SOURCE_MEMO: dict[tuple, str] = {}


def source_sha256(root: Path | None = None) -> str:
    """sha256 over the relative path and bytes of every :func:`source_files` file.

    Memoised on the files' paths, sizes and modification times, so the dozen jobs of
    a pack pay for one walk of the package, and an edit is still seen at once.
    """
    root = Path(root) if root is not None else source_root()
    files = source_files(root)
    stats = []
    for p in files:
        st = p.stat()
        stats.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    memo = (str(root), tuple(stats))
    if memo not in _SOURCE_MEMO:
        h = hashlib.sha256()
        for p, (rel, _, _) in zip(files, stats):
            h.update(rel.encode("utf-8") + b"\0")
            h.update(file_sha256(p).encode("ascii"))
        _SOURCE_MEMO[memo] = h.hexdigest()
    return _SOURCE_MEMO[memo]


def cache_key(notebook_sha: str, params: dict, data_sha: str, version: str, source_sha: str) -> str:
    """The cache key of a job: notebook, resolved params, data, evallib version and source."""
    return sha_text(canonical_json({"notebook": notebook_sha, "params": params, "data": data_sha,
                                    "evallib": version, "source": source_sha}))


def read_manifest(out: Path) -> dict | None:
    """The evallib manifest of the folder ``out``, or ``None`` when it has none (or not ours)."""
    p = Path(out) / "manifest.json"
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        logger.warning("%s is not valid JSON: not an evallib manifest", p)
        return None
    if not isinstance(doc, dict) or doc.get("schema") != MANIFEST_SCHEMA:
        return None
    if not isinstance(doc.get("analyses", []), list):
        return None
    return doc


def cached_entry(job, prev: dict | None, out: Path) -> tuple[dict | None, str]:
    """``(previous entry, "")`` when ``job`` can be served from ``out``, else ``(None, why)``."""
    if not prev:
        return None, "not in the previous pack"
    if prev.get("status") != "ok":
        return None, "failed last time"
    if prev.get("key") != job.key:
        return None, "inputs changed (notebook, params, data or evallib itself)"
    src = Path(out) / job.id
    if not all((src / f).is_file() for f in prev.get("outputs", [])):
        return None, "outputs missing from the previous pack"
    return prev, ""


__all__ = ["MANIFEST_SCHEMA", "file_sha256", "sha_text", "canonical_json", "source_root", "source_files",
           "source_sha256", "cache_key", "read_manifest", "cached_entry"]
