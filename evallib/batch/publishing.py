"""Publishing: the output-folder rule, the output lock and the atomic swap.

**The output-folder rule.** evallib replaces only a folder it can prove it built:
``--out`` may be a path that does not exist, an empty folder, or a folder whose
``manifest.json`` is an evallib manifest and which holds nothing the manifest does
not list. Anything else (a regular file, an ordinary folder such as the working
folder, a pack folder into which someone saved their own notes) is refused before
anything is written (:func:`check_out`), with a one-line reason.

**The lock.** A build holds an exclusive ``flock`` on ``.evallib-lock-<name>``
beside ``--out`` from before it reads the cache until the new pack is in place
(:class:`OutputLock`). A second build into the same folder waits for it, saying so
in one line, then builds against the pack the first one published; both packs are
whole.

**The swap.** Everything is built in a temporary folder beside ``--out`` and swapped
in with two renames (old aside, new in), then the old one is deleted
(:func:`publish`). An interrupted build leaves the previous pack untouched;
leftover temporary folders are removed by the next build (:func:`clean_stale`).
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Callable

from evallib.batch.cache import read_manifest
from evallib.exceptions import ParameterError
from evallib.fsutil import dir_mode

logger = logging.getLogger(__name__)

BUILD_PREFIX = ".evallib-build-"
OLD_PREFIX = ".evallib-old-"
LOCK_PREFIX = ".evallib-lock-"


# ------------------------------------------------------------------ the output-folder rule
def manifest_files(manifest: dict) -> set[str]:
    """The relative paths a manifest says its folder holds (besides ``manifest.json``)."""
    files: set[str] = set()
    if manifest.get("kind") == "run":               # evallib run: one analysis, flat
        for a in manifest.get("analyses", []):
            files.update(str(f) for f in a.get("outputs", []))
        return files
    files.add("index.html")
    files.add(PDF_NAME)
    for a in manifest.get("analyses", []):
        aid = str(a.get("id", ""))
        files.update(f"{aid}/{f}" for f in a.get("outputs", []))
    return files


#: the PDF board pack written beside index.html (evallib.report.pdf)
PDF_NAME = "board_pack.pdf"


def check_out(out: Path, flag: str = "--out") -> dict | None:
    """Refuse an ``out`` evallib may not replace; return its manifest (``None``: nothing there).

    Raises :class:`~evallib.exceptions.ParameterError` (one line: the path, what it
    is, what to do) for a file, a non-pack folder, or a pack folder holding files
    its manifest does not list.
    """
    out = Path(out)
    if out.parent == out:
        raise ParameterError(f"{flag} {out}: a file-system root cannot be an output folder; name a new folder")
    if out.is_symlink() and not out.exists():
        raise ParameterError(f"{flag} {out}: is a broken symbolic link; remove it or choose another folder")
    if not out.exists():
        return None
    if not out.is_dir():
        raise ParameterError(f"{flag} {out}: is a file, not a folder; evallib never replaces a file: "
                             f"choose a new folder name")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return None
    manifest = read_manifest(out)
    if manifest is None:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise ParameterError(f"{flag} {out}: the folder exists and is not an evallib output (no evallib "
                             f"manifest.json; it holds {shown}); evallib replaces only folders it built: "
                             f"choose a new or empty folder")
    listed = manifest_files(manifest) | {"manifest.json"}
    dirs = {str(Path(f).parent) for f in listed} - {"."}
    extra: list[str] = []
    unlisted_dirs: list[str] = []
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if any(rel.startswith(d + "/") for d in unlisted_dirs):
            continue
        if p.is_dir() and not p.is_symlink():
            if rel not in dirs:
                unlisted_dirs.append(rel)
                extra.append(rel + "/")
        elif rel not in listed:
            extra.append(rel)
    if extra:
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        raise ParameterError(f"{flag} {out}: holds files its manifest does not list ({shown}); a rebuild "
                             f"would delete them: move them out of the folder or choose another folder")
    return manifest


# ------------------------------------------------------------------ the lock
class OutputLock:
    """An exclusive lock on the output folder ``out`` (a ``flock`` on a file beside it).

    Used as a context manager. When another build holds the lock, ``say`` is called
    once with a one-line message and the lock is awaited. The lock file stays (a
    hidden, empty-ish file); removing it would race with the next build.
    """

    def __init__(self, out: Path, say: Callable[[str], None] | None = None):
        self.out = Path(out)
        self.path = self.out.parent / f"{LOCK_PREFIX}{self.out.name}"
        self.say = say or (lambda s: None)
        self.fd: int | None = None

    def __enter__(self) -> "OutputLock":
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:          # reported against the output folder the user named
            raise OSError(exc.errno, exc.strerror, str(self.out)) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 32:   # not a lock file of ours: never truncate it
            os.close(fd)
            raise ParameterError(f"{self.path}: exists and is not an evallib lock file (a pid or nothing); "
                                 f"evallib would overwrite it: move it away or choose another --out")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                who = f" (pid {holder})" if holder.isdigit() else ""
                self.say(f"waiting for the lock on {self.out} held by another build{who}")
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


# ------------------------------------------------------------------ copying and swapping
def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_tree(src: Path, dst: Path, names: list[str] | None = None) -> None:
    """Hard-link (or copy) the files ``names`` (default: all) of ``src`` into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.is_file() and (names is None or p.name in names):
            link_or_copy(p, dst / p.name)


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(parent: Path, name: str) -> None:
    """Remove build/old folders left by interrupted builds whose process is gone.

    Edge case: a crash between the two renames of :func:`publish` leaves no ``name``
    but an ``.evallib-old-name-*`` folder: the newest one is renamed back first, so the
    last good pack is never deleted. Called with the output lock held.
    """
    out = parent / name
    olds = sorted(parent.glob(f"{OLD_PREFIX}{name}-*"), key=lambda p: p.stat().st_mtime)
    if not out.exists() and olds:
        logger.warning("%s was missing after an interrupted publish: restoring it from %s", out, olds[-1].name)
        os.rename(olds[-1], out)
    for p in parent.glob(f"{BUILD_PREFIX}{name}-*"):
        pid = p.name.rsplit("-", 2)[-2] if p.name.count("-") >= 2 else ""
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        shutil.rmtree(p, ignore_errors=True)
    for p in parent.glob(f"{OLD_PREFIX}{name}-*"):
        shutil.rmtree(p, ignore_errors=True)


def make_build_dir(out: Path) -> Path:
    """A fresh temporary build folder beside ``out`` (its name carries this pid)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"{BUILD_PREFIX}{out.name}-{os.getpid()}-", dir=out.parent))


def publish(build: Path, out: Path) -> None:
    """Swap ``build`` in as ``out``: rename the old pack aside, rename the new in, delete the old.

    Folders get the mode ``mkdir`` would give them (``mkdtemp`` makes them ``0700``).
    The caller has checked ``out`` with :func:`check_out`.
    """
    mode = dir_mode()
    for d in [build, *[p for p in build.rglob("*") if p.is_dir()]]:
        os.chmod(d, mode)
    old = None
    if out.exists():
        old = out.parent / f"{OLD_PREFIX}{out.name}-{os.getpid()}-{int(time.time() * 1000)}"
        os.rename(out, old)
    try:
        os.rename(build, out)
    except OSError:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def prepare_out(out: Path, flag: str = "--out") -> None:
    """Create ``out``'s parent folder after checking ``out`` (nothing is written if refused)."""
    check_out(out, flag)
    out.parent.mkdir(parents=True, exist_ok=True)


__all__ = ["check_out", "manifest_files", "OutputLock", "publish", "clean_stale", "copy_tree", "link_or_copy",
           "make_build_dir", "prepare_out", "BUILD_PREFIX", "OLD_PREFIX", "LOCK_PREFIX"]
