"""Never lose a user's file; faults give one line, exit 2, and leave the previous pack whole.

Data loss: evallib replaces only a folder its manifest proves it built, and never
writes outside ``--out``. Faults: workers end with their parent, a second build
waits for the output lock, ``SOURCE_DATE_EPOCH`` makes builds byte-identical, files
are 0644 under umask 022, a full disk or a read-only ``--out`` is one line, a closed
stdout pipe is no traceback.

The packs are the tiny ones of ``test_batch.py`` (no statistics).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evallib import batch
from evallib.batch import cache
from evallib.cli import describe_oserror
from evallib.cli import main as cli_main
from evallib.exceptions import ParameterError
from test_batch import write_pack, write_tiny_notebook

EVALLIB = [sys.executable, "-m", "evallib.cli"]


@pytest.fixture(autouse=True)
def frozen_source(tmp_path_factory, monkeypatch):
    """The cache key hashes evallib's source; freeze it (other work edits the tree meanwhile)."""
    root = tmp_path_factory.getbasetemp() / "frozen-evallib"
    if not root.exists():
        shutil.copytree(cache.source_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "source_root", lambda: root)
    return root


def one_line_error(capsys, command: str) -> str:
    """The one error line on stderr (progress lines ``[k/n] ...`` of work done before may precede it)."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if not ln.startswith("[")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"evallib {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fake_previous_build(pack: Path, out: Path) -> None:
    """A previous good build of ``pack`` in ``out`` whose keys match (served from the cache)."""
    from evallib.config import load_pack

    pack_doc, params = load_pack(pack)
    analyses = []
    for p in params:
        job = batch.make_job(p, pack.parent)
        (out / job.id).mkdir(parents=True)
        (out / job.id / f"{job.id}.html").write_text(f"page of {job.id}")
        analyses.append({"id": job.id, "status": "ok", "key": job.key, "outputs": [f"{job.id}.html"],
                         "duration": 1.0})
    (out / "index.html").write_text("old index")
    (out / "manifest.json").write_text(json.dumps({"schema": batch.MANIFEST_SCHEMA, "analyses": analyses}))


# ------------------------------------------------------------------ data loss
def test_batch_into_an_ordinary_folder_is_refused_and_nothing_is_touched(tmp_path, capsys):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    mine = tmp_path / "myfolder"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    (mine / "data.csv").write_text("a,b\n1,2\n")
    before = sorted(os.listdir(tmp_path))
    assert cli_main(["batch", str(pack), "--out", str(mine)]) == 2
    line = one_line_error(capsys, "batch")
    assert line == (f"evallib batch: error: --out {mine}: the folder exists and is not an evallib output "
                    f"(no evallib manifest.json; it holds data.csv, notes.txt); evallib replaces only folders "
                    f"it built: choose a new or empty folder")
    assert snapshot(mine) == {"notes.txt": b"my notes", "data.csv": b"a,b\n1,2\n"}
    assert sorted(os.listdir(tmp_path)) == before           # no lock file, no build folder


def test_run_into_the_working_folder_is_refused(tmp_path, capsys, monkeypatch):
    write_tiny_notebook(tmp_path / "tiny.ipynb")
    (tmp_path / "data.csv").write_text("period,org_code,metric,value\n2020-01,A,m1,1\n")
    (tmp_path / "pack.yaml").write_text("data: data.csv\nmetric: m1\nunits: [A]\nnotebook: tiny.ipynb\n"
                                        "interruptions: [{name: c, date: 2020-09}]\n")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert cli_main(["run", "pack.yaml", "--out", "."]) == 2
    line = one_line_error(capsys, "run")
    assert line.startswith(f"evallib run: error: --out {tmp_path}: the folder exists and is not an evallib output")
    assert snapshot(tmp_path) == before


def test_out_naming_a_regular_file_is_refused_and_the_file_kept(tmp_path, capsys):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    f = tmp_path / "outfile"
    f.write_text("precious")
    assert cli_main(["batch", str(pack), "--out", str(f)]) == 2
    assert one_line_error(capsys, "batch") == (f"evallib batch: error: --out {f}: is a file, not a folder; "
                                               f"evallib never replaces a file: choose a new folder name")
    assert f.read_text() == "precious"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".evallib")]


def test_a_pack_folder_holding_a_users_file_is_refused(tmp_path, capsys):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    out = tmp_path / "out"
    fake_previous_build(pack, out)
    (out / "board-notes.docx").write_text("mine")
    (out / "m1" / "comments.txt").write_text("mine too")
    before = snapshot(out)
    assert cli_main(["batch", str(pack), "--out", str(out)]) == 2
    assert one_line_error(capsys, "batch") == (
        f"evallib batch: error: --out {out}: holds files its manifest does not list (board-notes.docx, "
        f"m1/comments.txt); a rebuild would delete them: move them out of the folder or choose another folder")
    assert snapshot(out) == before


def test_an_evallib_pack_and_an_empty_folder_may_be_replaced(tmp_path):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    out = tmp_path / "out"
    fake_previous_build(pack, out)
    assert batch.check_out(out)["analyses"][0]["id"] == "m1"
    (tmp_path / "empty").mkdir()
    assert batch.check_out(tmp_path / "empty") is None
    assert batch.check_out(tmp_path / "new") is None


@pytest.mark.parametrize("aid", ["..", ".", "manifest.json", "index.html", "a/b", "../up", "x y", ""])
def test_analysis_ids_that_are_not_plain_names_are_refused_before_anything_runs(tmp_path, capsys, aid):
    pack = write_pack(tmp_path / "p", [f"{{metric: m1, title: First, id: {json.dumps(aid)}}}"])
    assert cli_main(["batch", str(pack), "--out", str(tmp_path / "p" / "out")]) == 2
    line = one_line_error(capsys, "batch")
    assert line.endswith(f"analyses[0].id: value {aid!r}: use letters, digits, _ and - only (the id names a "
                         f"folder and files of the pack)"), line
    assert sorted(os.listdir(tmp_path)) == ["p"] and not (tmp_path / "p" / "out").exists()


def test_a_params_file_id_that_walks_out_is_refused_by_the_schema(tmp_path):
    from evallib.config import params_from_dict

    with pytest.raises(ParameterError, match=r"id: value '\.\./x': use letters, digits, _ and - only"):
        params_from_dict({"data": str(tmp_path / "d.csv"), "metric": "m1", "units": ["A"], "id": "../x",
                          "interruptions": [{"name": "c", "date": "2020-09"}]})


def test_proc_as_out_is_one_line(tmp_path, capsys):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    assert cli_main(["batch", str(pack), "--out", "/proc/evallib-out"]) == 2
    line = one_line_error(capsys, "batch")
    assert line.startswith("evallib batch: error: /proc/") and "no such file or folder" in line, line


# ------------------------------------------------------------------ OSError -> one line
@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "no space left on the device: free some space or choose another --out; nothing was replaced"),
    (errno.EDQUOT, "disk quota exceeded"),
    (errno.EROFS, "is on a read-only file system: choose a writable location"),
    (errno.EACCES, "permission denied"),
    (errno.ELOOP, "is a symbolic link loop"),
    (errno.EIO, "input/output error"),
])
def test_oserror_families_map_to_one_line(code, words):
    line = describe_oserror(OSError(code, os.strerror(code), "/data/out"))
    assert line.startswith(f"/data/out: {words}") and "\n" not in line


def test_simulated_disk_full_while_publishing_is_one_line_and_the_old_pack_survives(tmp_path, capsys, monkeypatch):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    out = tmp_path / "out"
    fake_previous_build(pack, out)
    before = snapshot(out)
    from evallib.batch import build

    def full(path, text, encoding="utf-8"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(build, "atomic_write_text", full)
    assert cli_main(["batch", str(pack), "--out", str(out)]) == 2
    assert one_line_error(capsys, "batch") == (
        f"evallib batch: error: {out}: no space left on the device: free some space or choose another --out; "
        f"nothing was replaced (the previous output is as it was)")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".evallib-build"))== []


def _mount_tmpfs(where: Path, opts: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_real_full_disk_during_a_build_is_one_line_and_the_old_pack_survives(tmp_path):
    """A 2 MB tmpfs: the first build fits; then the disk is filled and a forced rebuild runs out of space."""
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "size=2m"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount permission); "
                    "the simulated ENOSPC test covers the same path")
    try:
        pack = write_pack(tmp_path / "p", ["{metric: m1, title: First}"])
        out = mnt / "out"
        r = subprocess.run([*EVALLIB, "batch", str(pack), "--out", str(out), "--workers", "1"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        before = snapshot(out)
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o644)   # fill the disk, then free 8 KB
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        os.truncate(mnt / "filler", max(0, os.path.getsize(mnt / "filler") - 8192))
        r = subprocess.run([*EVALLIB, "batch", str(pack), "--out", str(out), "--workers", "1", "--force"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.splitlines()
        assert lines[-1] == (f"evallib batch: error: {out}: no space left on the device: free some space or "
                             f"choose another --out; nothing was replaced (the previous output is as it was)")
        assert "Traceback" not in r.stderr
        assert snapshot(out) == before
        assert not [p for p in os.listdir(mnt) if p.startswith(".evallib-build")]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_read_only_out_is_one_line(tmp_path):
    mnt = tmp_path / "ro"
    if not _mount_tmpfs(mnt, "size=1m,ro"):
        pytest.skip("cannot mount a read-only tmpfs here (needs root and mount permission)")
    try:
        pack = write_pack(tmp_path / "p", ["{metric: m1, title: First}"])
        r = subprocess.run([*EVALLIB, "batch", str(pack), "--out", str(mnt / "out")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        assert r.stderr.splitlines() == [f"evallib batch: error: {mnt}/out: is on a read-only "
                                         f"file system: choose a writable location"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_fit_json_into_a_closed_pipe_is_no_traceback(tmp_path):
    import numpy as np

    months = [f"{y}-{m:02d}" for y in range(2017, 2023) for m in range(1, 13)]
    rng = np.random.default_rng(1)
    rows = "\n".join(f"{p},A,m1,{100 + k + rng.normal():.3f}" for k, p in enumerate(months))
    (tmp_path / "d.csv").write_text("period,org_code,metric,value\n" + rows + "\n")
    (tmp_path / "p.yaml").write_text("data: d.csv\nmetric: m1\nunits: [A]\nseasonality: none\nmodel: ols-hac\n"
                                     "interruptions: [{name: c, date: 2020-09}]\n")
    cmd = " ".join(EVALLIB) + f" fit {tmp_path / 'p.yaml'} --json | head -c0"
    r = subprocess.run(["bash", "-c", cmd + "; echo \"rc=${PIPESTATUS[0]}\" >&2"], capture_output=True, text=True,
                       timeout=300)
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert lines == ["evallib fit: error: the output pipe was closed before everything was written "
                     "(the reader, e.g. head, stopped early)", "rc=2"], r.stderr


# ------------------------------------------------------------------ lock
def test_a_second_build_waits_for_the_lock_then_builds_a_whole_pack(tmp_path):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    out = tmp_path / "out"
    with batch.OutputLock(out):
        proc = subprocess.Popen([*EVALLIB, "batch", str(pack), "--out", str(out), "--workers", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stderr.readline().rstrip("\n")
        assert first == f"waiting for the lock on {out} held by another build (pid {os.getpid()})"
        time.sleep(1.0)
        assert proc.poll() is None and not out.exists()     # it really waits
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    m = json.loads((out / "manifest.json").read_text())
    assert m["summary"]["ok"] == 1 and (out / "m1" / "m1.html").is_file() and (out / "index.html").is_file()


# ------------------------------------------------------------------ reproducible builds and modes
@pytest.mark.slow
def test_two_forced_builds_with_source_date_epoch_are_byte_identical_and_0644(tmp_path, monkeypatch):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}", "{metric: m2, title: Second}",
                                 "{metric: broken, title: Broken}"])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    old = os.umask(0o022)
    try:
        a = batch.build_pack(pack, tmp_path / "a", workers=2, force=True)
        b = batch.build_pack(pack, tmp_path / "b", workers=2, force=True)
    finally:
        os.umask(old)
    sa, sb = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    assert sorted(sa) == sorted(sb) and len(sa) >= 13
    differ = [k for k in sa if sa[k] != sb[k]]
    assert differ == []
    m = a.manifest
    assert m["built_at"] == "2023-11-14T22:13:20Z" and m["duration"] is None
    assert {(x["built_at"], x["duration"], x["run_duration"], x["worker"]) for x in m["analyses"]} == \
        {("2023-11-14T22:13:20Z", None, None, None)}
    assert "14 November 2023" in (tmp_path / "a" / "m1" / "m1.html").read_text()
    nb = json.loads((tmp_path / "a" / "m1" / "m1.ipynb").read_text())
    assert nb["metadata"]["papermill"]["output_path"] == "m1.ipynb"
    assert nb["metadata"]["papermill"]["start_time"] == "2023-11-14T22:13:20+00:00"
    for p in (tmp_path / "a").rglob("*"):
        assert (p.stat().st_mode & 0o777) == (0o755 if p.is_dir() else 0o644), p
    assert b.exit_code == 1


def test_atomic_writes_get_ordinary_permissions_and_leave_nothing_on_failure(tmp_path, monkeypatch):
    from evallib.data.table import write_table
    from evallib.fsutil import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.txt", "hello")
        import pandas as pd
        write_table(pd.DataFrame({"period": ["2020-01"], "org_code": ["A"], "metric": ["m"], "value": [1.0]}),
                    tmp_path / "t.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "t.csv").stat().st_mode & 0o777 == 0o644

    def boom(*a):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "x.txt", "new")
    assert (tmp_path / "x.txt").read_text() == "hello"
    assert sorted(os.listdir(tmp_path)) == ["t.csv", "x.txt"]


def test_bad_source_date_epoch_is_one_line(tmp_path, capsys, monkeypatch):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    out = tmp_path / "out"
    fake_previous_build(pack, out)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert cli_main(["batch", str(pack), "--out", str(out)]) == 2
    assert one_line_error(capsys, "batch") == (
        "evallib batch: error: SOURCE_DATE_EPOCH: value 'yesterday': expected whole seconds since 1970-01-01 UTC "
        "(e.g. `git log -1 --format=%ct`), or unset it")


# ------------------------------------------------------------------ workers end with their parent
def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_a_build_ends_its_workers_and_keeps_the_old_pack(tmp_path, sig):
    pack = write_pack(tmp_path, ["{metric: m1, title: First slow}", "{metric: m2, title: Second slow}"])
    out = tmp_path / "out"
    fake_previous_build(write_pack(tmp_path / "old", ["{metric: m1, title: Old}"]), out)
    before = snapshot(out)
    proc = subprocess.Popen([*EVALLIB, "batch", str(pack), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            started = [b for b in tmp_path.glob(".evallib-build-out-*") for j in ("m1", "m2")
                       if (b / j / "params.yaml").exists()]
            if len(started) == 2:
                break
            time.sleep(0.2)
        assert len(started) == 2, "the two slow analyses never started"
        family = _children(proc.pid)
        assert len(family) >= 2                 # two pool workers (and the resource tracker)
        proc.send_signal(sig)
        proc.wait(30)
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(p) for p in family):
            time.sleep(0.2)
        assert [p for p in family if _alive(p)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _children(proc.pid):
            os.kill(p, signal.SIGKILL)
    assert snapshot(out) == before
    err = proc.stderr.read().decode()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and err.splitlines()[-1] == "evallib batch: terminated (SIGTERM)", err
        assert not list(tmp_path.glob(".evallib-build-out-*"))     # cleaned up on the way out
    assert "Traceback" not in err


def test_the_data_file_error_does_not_echo_what_the_file_holds(tmp_path, capsys):
    (tmp_path / "secret.csv").write_text("root:x:0:0:hunter2:/root:/bin/bash\nalice:x:1000\n")
    (tmp_path / "p.yaml").write_text("data: secret.csv\nmetric: m1\nunits: [A]\n"
                                     "interruptions: [{name: c, date: 2020-09}]\n")
    assert cli_main(["fit", str(tmp_path / "p.yaml")]) == 2
    line = one_line_error(capsys, "fit")
    assert str(tmp_path / "secret.csv") in line and "period, org_code, metric, value" in line
    assert "hunter2" not in line and "root:x" not in line and "alice" not in line


def test_a_user_file_where_the_lock_goes_is_not_overwritten(tmp_path, capsys):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    (tmp_path / ".evallib-lock-out").write_text("a hidden file of the user's that is not a lock\n")
    assert cli_main(["batch", str(pack), "--out", str(tmp_path / "out")]) == 2
    assert one_line_error(capsys, "batch").startswith(
        f"evallib batch: error: {tmp_path}/.evallib-lock-out: exists and is not an evallib lock file")
    assert (tmp_path / ".evallib-lock-out").read_text().startswith("a hidden file")
    assert not (tmp_path / "out").exists()
