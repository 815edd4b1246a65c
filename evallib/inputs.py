"""Opening input files safely: one place for the checks and the one-line messages.

Every file evallib *reads* on a user's behalf (params and pack YAML, the tidy
table, its ``.meta.json`` sidecar) goes through :func:`read_input`, which

- opens the path without blocking (a FIFO named as ``data:`` must not hang the run)
  and accepts only a **regular file**: a folder, a device (``/dev/zero``), a FIFO
  or a socket is refused with a message saying what was expected;
- refuses a file larger than a bound (``max_bytes``) before reading it, and never
  reads more than the bound even when the size the file system reports is wrong
  (``/proc`` files say 0 bytes);
- turns each ``OSError`` family (not found, permission denied, symlink loop, a
  path component that is not a folder, a name too long, an I/O error) into the
  caller's :class:`~evallib.exceptions.EvalError` subclass, with one line that
  names the file, what it was meant to be, the problem and the fix.

The bounds are deliberately generous (a tidy table of 5 million rows is about
400 MB of CSV) and can be raised with environment variables:

=============================  =========  ========================================
variable                       default    bounds
=============================  =========  ========================================
``EVALLIB_MAX_PARAMS_BYTES``   1 MiB      a params or pack YAML file
``EVALLIB_MAX_YAML_NODES``     200,000    YAML nodes after expanding aliases
``EVALLIB_MAX_TABLE_BYTES``    512 MiB    a tidy-table file (CSV or Parquet)
``EVALLIB_MAX_TABLE_ROWS``     5,000,000  rows of a tidy table
=============================  =========  ========================================

:func:`os_error_message` is the shared mapping from an ``OSError`` to words; it is
also usable by code that writes files.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from evallib.exceptions import EvalError

MiB = 1 << 20

_DEFAULTS = {
    "EVALLIB_MAX_PARAMS_BYTES": 1 * MiB,
    "EVALLIB_MAX_YAML_NODES": 200_000,
    "EVALLIB_MAX_TABLE_BYTES": 512 * MiB,
    "EVALLIB_MAX_TABLE_ROWS": 5_000_000,
    "EVALLIB_MAX_IMPORT_BYTES": 2048 * MiB,     # one NHS England file or workbook given to evallib import
}
MAX_META_BYTES = 64 * 1024  # a .meta.json sidecar is a few lines


def limit(name: str) -> int:
    """The bound ``name`` (a key of the table above), from the environment or the default.

    A value that is not a positive whole number is ignored (the default applies), so a
    typo in the environment cannot switch a bound off.
    """
    raw = os.environ.get(name, "")
    try:
        v = int(raw.replace("_", ""))
    except ValueError:
        return _DEFAULTS[name]
    return v if v > 0 else _DEFAULTS[name]


def human_bytes(n: int) -> str:
    """``1048576`` -> ``'1 MiB'``; ``1536`` -> ``'1.5 KiB'``; ``12`` -> ``'12 bytes'``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v == int(v) or v >= 100 else f"{v:.1f} {unit}"
    return f"{n} byte" + ("" if n == 1 else "s")


_OS_WORDS = {  # each reads after "<path>: <what> "
    errno.ENOENT: "not found",
    errno.EACCES: "cannot be opened: permission denied (check its permissions and owner)",
    errno.EPERM: "cannot be opened: operation not permitted (check its permissions and owner)",
    errno.ELOOP: "is a symbolic link loop (a link that points, directly or through others, to itself): "
                 "fix or remove the link",
    errno.ENOTDIR: "cannot be reached: a part of its path is a file, not a folder; check the path",
    errno.ENAMETOOLONG: "has a name too long for the file system: use a shorter path",
    errno.EISDIR: "is a folder, not a file",
    errno.EIO: "cannot be read: input/output error (a failing disk or network share); copy it somewhere "
               "local and try again",
    errno.ENXIO: "is a device or socket with nothing behind it, not a file",
    errno.ENOSPC: "cannot be written: no space left on the device; free some space and try again",
    errno.EROFS: "cannot be written: the file system is read-only; choose a writable location",
    errno.EDQUOT: "cannot be written: disk quota exceeded; free some space and try again",
    errno.EMFILE: "cannot be opened: too many files are open in this process",
    errno.EBUSY: "is busy: try again later",
}


def os_error_message(exc: OSError, path: str | Path | None = None, what: str = "file") -> str:
    """One line for an ``OSError``: ``"<path>: <what> <problem>"``.

    ``what`` says what the file was meant to be (``"params file"``, ``"data file"``).
    Unknown errnos fall back to the system's own words (``strerror``).
    """
    where = str(path) if path is not None else (exc.filename or "?")
    words = _OS_WORDS.get(exc.errno or -1)
    if words is None:
        words = f"cannot be used ({exc.strerror or type(exc).__name__})"
    return f"{where}: {what} {words}"


def _kind(mode: int) -> str | None:
    """None for a regular file, else what the path is, in words."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_input(path: str | Path, *, what: str, error: type[EvalError], max_bytes: int,
               limit_name: str | None = None, not_found: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them, or ``error``.

    - ``what``: what the file is meant to be, used in every message (``"data file"``);
    - ``limit_name``: the environment variable that raises the bound (named in the
      too-large message);
    - ``not_found``: the whole message text after ``"<path>: "`` for a missing file
      (default ``"<what> not found"``).

    Raises ``error`` (a DataError or ParameterError class) with one line; never an
    ``OSError``.
    """
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise error(f"{p}: {not_found or what + ' not found'}") from None
    except OSError as exc:
        raise error(os_error_message(exc, p, what)) from None
    except ValueError:  # "embedded null byte"
        raise error(f"{str(p)!r}: the {what} path contains a NUL character (\\0): write the file name "
                    f"without it") from None
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind is not None:
            raise error(f"{p}: {what} is {kind}, not a regular file: name a file")
        if st.st_size > max_bytes:
            raise error(_too_large(p, what, st.st_size, max_bytes, limit_name))
        try:  # regular files ignore O_NONBLOCK, but clear it to be plain
            os.set_blocking(fd, True)
        except OSError:
            pass
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise error(_too_large(p, what, None, max_bytes, limit_name))
        return b"".join(chunks)
    except OSError as exc:
        raise error(os_error_message(exc, p, what)) from None
    finally:
        os.close(fd)


def _too_large(p: Path, what: str, size: int | None, max_bytes: int, limit_name: str | None) -> str:
    have = f"is {human_bytes(size)}" if size is not None else "is larger than that"
    raise_it = f" (set {limit_name} to raise the bound)" if limit_name else ""
    return (f"{p}: {what} {have}; the bound is {human_bytes(max_bytes)}{raise_it}: check that it is the "
            f"file you meant")


def decode_utf8(raw: bytes, path: str | Path, *, what: str, error: type[EvalError], resave: str) -> str:
    """UTF-8 text of ``raw`` (a byte-order mark is dropped), or ``error`` naming the byte and line.

    ``resave`` is the fix, e.g. ``"re-save the file as UTF-8 CSV (a byte-order mark is fine)"``.
    A UTF-16 byte-order mark is recognised and named.
    """
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise error(f"{path}: {what} is UTF-16 text, not UTF-8; {resave}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise error(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); {resave}") from None


def check_notebook(path: str | Path, value: str | None = None) -> Path:
    """``path`` when it is a readable Jupyter notebook (nbformat 4 JSON), else a ParameterError.

    ``value`` is what the params said (``notebook: value 'x.ipynb'`` leads the message
    when given). Checked before a job runs, so a broken notebook is one line and exit 2
    rather than a failed analysis with a page of nbformat traceback.
    """
    import json

    from evallib.exceptions import ParameterError

    p = Path(path)
    lead = f"notebook: value {value!r}: {p}" if value is not None else str(p)
    raw = read_input(p, what="notebook", error=ParameterError, max_bytes=64 * MiB)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{lead}: notebook is not UTF-8 text (byte 0x{raw[exc.start]:02x}); a notebook is "
                             f"the .ipynb JSON file Jupyter saves: save it again from JupyterLab") from None
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{lead}: notebook is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                             f"a notebook is the .ipynb JSON file Jupyter saves: save it again from JupyterLab "
                             f"or name another notebook") from None
    except RecursionError:
        raise ParameterError(f"{lead}: notebook is not a Jupyter notebook (JSON nested too deeply)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list) or \
            not isinstance(doc.get("nbformat"), int) or isinstance(doc.get("nbformat"), bool):
        raise ParameterError(f"{lead}: notebook is JSON but not a Jupyter notebook (it needs \"cells\" and "
                             f"\"nbformat\"): save it again from JupyterLab or name another notebook")
    if doc["nbformat"] < 4:
        raise ParameterError(f"{lead}: notebook has nbformat {doc['nbformat']}; evallib runs nbformat 4 notebooks: "
                             f"open it in JupyterLab and save it again")
    return p
