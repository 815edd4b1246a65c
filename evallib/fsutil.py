"""File-system helpers shared by every writer in evallib: atomic writes and build time.

One atomic-write helper for the whole project (:func:`atomic_write_bytes` and
:func:`atomic_write_text`): the data goes to a temporary file in the target's own
folder, is flushed to disk, given the permissions an ordinary ``open()`` would give
(``0666`` less the umask, so ``0644`` under umask ``022``; ``mkstemp`` alone gives
``0600``), then renamed over the target. A reader sees the old file or the new one,
never half of either; on any failure the temporary file is removed and the target is
untouched.

:func:`source_date_epoch` and :func:`utc_now` honour ``SOURCE_DATE_EPOCH`` (the
reproducible-builds convention, https://reproducible-builds.org/specs/source-date-epoch/):
when it is set, every timestamp evallib writes into a published file comes from it,
so two builds of the same inputs are byte-identical.
"""
from __future__ import annotations

import datetime as _dt
import os
import tempfile
import threading
from pathlib import Path

from evallib.exceptions import ParameterError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode an ordinary ``open(path, "w")`` gives a new file: ``0666`` less the umask."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` gives a new folder: ``0777`` less the umask."""
    return 0o777 & ~current_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    The parent folder is created when missing. Raises ``OSError`` (for instance
    ``ENOSPC`` on a full disk) with the target left as it was.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return p


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` for text (UTF-8 by default, newlines as given)."""
    return atomic_write_bytes(path, text.encode(encoding))


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` as whole seconds since 1970-01-01 UTC, or ``None`` when unset.

    An unset or empty variable means "use the clock". Anything other than a
    non-negative whole number is a :class:`~evallib.exceptions.ParameterError` (the
    specification says to fail rather than guess).
    """
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ParameterError(f"SOURCE_DATE_EPOCH: value {raw!r}: expected whole seconds since "
                             f"1970-01-01 UTC (e.g. `git log -1 --format=%ct`), or unset it")
    return int(raw)


def utc_now() -> _dt.datetime:
    """Now in UTC (whole seconds), or ``SOURCE_DATE_EPOCH`` when it is set."""
    epoch = source_date_epoch()
    if epoch is not None:
        return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def utc_stamp() -> str:
    """:func:`utc_now` as ``YYYY-MM-DDTHH:MM:SSZ`` (the manifest's ``built_at``)."""
    return utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["atomic_write_bytes", "atomic_write_text", "current_umask", "file_mode", "dir_mode",
           "source_date_epoch", "utc_now", "utc_stamp"]
