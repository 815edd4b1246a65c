"""``evallib batch`` / ``evallib run``: failure isolation, cache, --force, atomic publish, Dask.

The notebooks here are tiny ones written into ``tmp_path`` (no statistics), so that
the tests exercise the runner, not the ITS engine: each reads the resolved
``params.yaml`` the runner writes beside it, fails on purpose when the metric is
``broken``, sleeps when the title says ``slow``, and writes results.json and
summary.json.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from evallib import batch
from evallib.batch import cache
from evallib.cli import main as cli_main
from evallib.exceptions import ParameterError

TINY_CODE = '''import json, time, yaml
from IPython.display import Markdown, display
p = yaml.safe_load(open(params_path))
if p["metric"] == "broken":
    raise ValueError("planted failure in " + p["id"])
if "slow" in p["title"]:
    time.sleep(60)
if p["metric"] == "crash":
    import os
    os._exit(3)
if p["metric"] == "check_fresh" and "leaked_value" in dir():
    raise RuntimeError("namespace leaked between notebooks")
leaked_value = p["metric"]
if p["metric"] == "leaky":
    print("Patient 943 476 5919 waited 60 weeks")
json.dump({"schema": "evallib.results/1", "metric": p["metric"]}, open("results.json", "w"))
json.dump({"label": p["title"], "unit": "patients", "improvement": "decrease", "sentence": "It fell.",
           "headline": {"absolute": -120.0, "absolute_lower": -200.0, "absolute_upper": -40.0,
                        "relative": -0.1, "relative_lower": -0.16, "relative_upper": -0.03}},
          open("summary.json", "w"))
display(Markdown("## Findings\\n\\nThe measure " + p["metric"] + " fell."))'''


def write_tiny_notebook(path: Path) -> Path:
    params = nbformat.v4.new_code_cell('params_path: str = "params.yaml"  # resolved params')
    params.metadata["tags"] = ["parameters"]
    plot = nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
                                     "ax.plot([1, 3, 2])\nplt.show()")
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(TINY_CODE), plot])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def write_pack(folder: Path, analyses: list[str], name: str = "pack.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "tiny.ipynb").exists():
        write_tiny_notebook(folder / "tiny.ipynb")
    (folder / "data.csv").write_text("period,org_code,metric,value\n2020-01,A,m1,1\n")
    body = "\n".join(f"  - {a}" for a in analyses)
    (folder / name).write_text(f"""title: Tiny pack
notebook: tiny.ipynb
defaults:
  data: data.csv
  units: [A]
  seasonality: none
  interruptions: [{{name: collaborative, date: 2020-09}}]
analyses:
{body}
""")
    return folder / name


@pytest.fixture(scope="module", autouse=True)
def frozen_source(tmp_path_factory):
    """A snapshot of evallib's source for the cache key (``cache.source_root``).

    The cache key hashes every file under ``evallib/``; other work editing the tree
    while these tests run would (rightly) turn expected cache hits into misses.
    """
    root = tmp_path_factory.mktemp("src") / "evallib"
    shutil.copytree(cache.source_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cache, "source_root", lambda: root)
        yield root


OK2_BROKEN = ["{metric: m1, title: First}", "{metric: m2, title: Second}", "{metric: broken, title: Broken}"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build of a 3-analysis pack with one broken analysis (shared by several tests)."""
    d = tmp_path_factory.mktemp("pack")
    pack = write_pack(d, OK2_BROKEN)
    lines: list[str] = []
    res = batch.build_pack(pack, d / "out", workers=2, progress=lines.append)
    return d, pack, res, lines


@pytest.mark.slow
def test_broken_analysis_exit_1_manifest_entry_and_rest_built(built):
    d, _, res, _ = built
    out = d / "out"
    assert res.exit_code == 1
    m = json.loads((out / "manifest.json").read_text())
    status = {a["id"]: a["status"] for a in m["analyses"]}
    assert status == {"m1": "ok", "m2": "ok", "broken": "failed"}
    broken = next(a for a in m["analyses"] if a["id"] == "broken")
    assert broken["error"] == "ValueError: planted failure in broken"
    assert m["summary"] == {"total": 3, "ok": 2, "failed": 1, "cached": 0}
    for aid in ("m1", "m2"):
        assert {"m1.html", "m1.ipynb", "params.yaml", "results.json", "summary.json"} <= \
               set(os.listdir(out / "m1"))
    # the failing notebook still leaves its executed notebook and an error page
    assert (out / "broken" / "broken.ipynb").is_file()
    page = (out / "broken" / "broken.html").read_text()
    assert "This analysis did not complete: ValueError: planted failure in broken" in page
    index = (out / "index.html").read_text()
    assert "This analysis failed: ValueError: planted failure in broken" in index
    assert 'href="broken/broken.html"' in index


@pytest.mark.slow
def test_manifest_records_inputs_hashes_outputs_and_durations(built):
    d, _, res, _ = built
    a = next(a for a in res.manifest["analyses"] if a["id"] == "m1")
    assert a["cache_hit"] is False and a["duration"] > 0
    assert set(a["inputs"]) == {"notebook", "notebook_sha256", "params_sha256", "data", "data_sha256",
                                "evallib_version", "evallib_source_sha256"}
    assert re.fullmatch(r"[0-9a-f]{64}", a["inputs"]["evallib_source_sha256"])
    assert a["inputs"]["data_sha256"] == batch.file_sha256(d / "data.csv")
    assert re.fullmatch(r"[0-9a-f]{64}", a["key"])
    assert "m1.html" in a["outputs"] and "results.json" in a["outputs"]


@pytest.mark.slow
def test_progress_lines_count_and_flag_failures(built):
    _, _, _, lines = built
    assert len(lines) == 3
    assert [int(re.match(r"\[(\d)/3\]", ln).group(1)) for ln in lines] == [1, 2, 3]
    left = r"(, about \d+ s left)?"     # the time left, on every line but the last
    assert any(re.fullmatch(r"\[\d/3\] m1 ok \(\d+\.\d s\)" + left, ln) for ln in lines)
    assert any(re.fullmatch(r"\[\d/3\] broken FAILED \(\d+\.\d s\)" + left + ": ValueError: planted failure in broken",
                            ln) for ln in lines)
    assert re.fullmatch(r"\[3/3\] \S+ (ok|FAILED) \(\d+\.\d s\)(: .*)?", lines[-1])
    assert any(", about " in ln and " left" in ln for ln in lines[:-1])


@pytest.mark.slow
def test_second_run_hits_cache_then_force_reruns_everything(built, capsys):
    d, pack, first, _ = built
    out = d / "out"
    t0 = time.perf_counter()
    assert cli_main(["batch", str(pack), "--out", str(out), "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out.resolve() / "index.html")
    assert "[1/3] m1 cached (0.0 s)" in captured.err.splitlines()
    assert captured.err.splitlines()[-1].startswith("2 ok (2 from cache), 1 failed, ")
    second = json.loads((out / "manifest.json").read_text())
    hits = {a["id"]: a["cache_hit"] for a in second["analyses"]}
    assert hits == {"m1": True, "m2": True, "broken": False}      # failures are never cached
    m1_first = next(a for a in first.manifest["analyses"] if a["id"] == "m1")
    m1_second = next(a for a in second["analyses"] if a["id"] == "m1")
    assert m1_second["key"] == m1_first["key"] and m1_second["run_duration"] == m1_first["run_duration"]
    assert (out / "m1" / "m1.html").is_file()
    forced = batch.build_pack(pack, out, workers=2, force=True)
    assert [a["cache_hit"] for a in forced.manifest["analyses"]] == [False, False, False]
    assert time.perf_counter() - t0 < 120


@pytest.mark.slow
def test_changed_data_misses_the_cache(tmp_path):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    batch.build_pack(pack, tmp_path / "out", workers=1)
    (tmp_path / "data.csv").write_text("period,org_code,metric,value\n2020-01,A,m1,2\n")
    again = batch.build_pack(pack, tmp_path / "out", workers=1)
    assert again.manifest["analyses"][0]["cache_hit"] is False


def test_cache_key_depends_on_every_input():
    base = batch.cache_key("nb", {"a": 1}, "data", "0.1.0", "src")
    assert base == batch.cache_key("nb", {"a": 1}, "data", "0.1.0", "src")
    assert len({base, batch.cache_key("nb2", {"a": 1}, "data", "0.1.0", "src"),
                batch.cache_key("nb", {"a": 2}, "data", "0.1.0", "src"),
                batch.cache_key("nb", {"a": 1}, "data2", "0.1.0", "src"),
                batch.cache_key("nb", {"a": 1}, "data", "0.1.1", "src"),
                batch.cache_key("nb", {"a": 1}, "data", "0.1.0", "src2")}) == 6


def test_all_cached_rebuild_starts_no_workers_and_reuses_the_index(tmp_path, monkeypatch):
    """A no-change rebuild: every analysis from the cache, index copied, no executor made."""
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    out = tmp_path / "out"
    # fake a previous good build whose key matches (no notebook run needed)
    from evallib.config import load_pack

    job = batch.make_job(load_pack(pack)[1][0], tmp_path)
    (out / "m1").mkdir(parents=True)
    for f in ("m1.html", "results.json"):
        (out / "m1" / f).write_text("x")
    (out / "index.html").write_text("old index")
    first = {"schema": batch.MANIFEST_SCHEMA, "index_key": "stale",
             "analyses": [{"id": "m1", "status": "ok", "key": job.key, "outputs": ["m1.html", "results.json"],
                           "duration": 3.0}]}
    (out / "manifest.json").write_text(json.dumps(first))

    def no_executor(*a, **k):
        raise AssertionError("no executor should be made when everything is cached")

    monkeypatch.setattr(batch.executors, "make_executor", no_executor)
    res = batch.build_pack(pack, out)
    assert res.exit_code == 0 and res.manifest["executor"] == "none (all cached)"
    assert res.manifest["analyses"][0]["cache_hit"] is True
    # the index depended on nothing that changed, except the stale key: it was rebuilt once ...
    assert "old index" not in (out / "index.html").read_text()
    # ... and a second no-change rebuild reuses it byte for byte
    before = (out / "index.html").read_bytes()
    batch.build_pack(pack, out)
    assert (out / "index.html").read_bytes() == before


@pytest.mark.slow
def test_interrupted_build_keeps_the_old_pack(tmp_path):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    out = tmp_path / "out"
    assert batch.build_pack(pack, out, workers=1).exit_code == 0
    old_index = (out / "index.html").read_bytes()
    old_manifest = (out / "manifest.json").read_bytes()
    write_pack(tmp_path, ["{metric: m1, title: First slow}"])          # new key, and it sleeps
    proc = subprocess.Popen([sys.executable, "-m", "evallib.cli", "batch", str(pack), "--out", str(out),
                             "--workers", "1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        started = False
        while time.time() < deadline and not started:
            started = any((b / "m1" / "params.yaml").exists() for b in tmp_path.glob(".evallib-build-out-*"))
            time.sleep(0.2)
        assert started, "the build never started the slow analysis"
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert (out / "index.html").read_bytes() == old_index
    assert (out / "manifest.json").read_bytes() == old_manifest
    assert "First" in (out / "m1" / "m1.html").read_text()
    assert list(tmp_path.glob(".evallib-build-out-*"))           # the crash left its temp folder ...
    write_pack(tmp_path, ["{metric: m1, title: First again}"])
    assert batch.build_pack(pack, out, workers=1).exit_code == 0
    assert not list(tmp_path.glob(".evallib-build-out-*"))       # ... which the next build removed
    assert not list(tmp_path.glob(".evallib-old-out-*"))


@pytest.mark.slow
def test_worker_killed_by_a_notebook_fails_only_that_analysis(tmp_path):
    pack = write_pack(tmp_path, ["{metric: m1, title: First}", "{metric: crash, title: Crash}",
                                 "{metric: m2, title: Second}"])
    res = batch.build_pack(pack, tmp_path / "out", workers=2)
    status = {a["id"]: (a["status"], a["error"]) for a in res.manifest["analyses"]}
    assert status["m1"] == ("ok", None) and status["m2"] == ("ok", None)
    assert status["crash"] == ("failed", "RuntimeError: the worker process died while running this "
                                         "notebook (os._exit or a crash)")
    assert "worker process died" in (tmp_path / "out" / "crash" / "crash.html").read_text()
    assert res.exit_code == 1


def test_page_with_an_nhs_number_is_withheld_with_its_notebook(tmp_path):
    pack = write_pack(tmp_path, ["{metric: leaky, title: Leaky}"])
    from evallib.config import load_pack

    job = batch.make_job(load_pack(pack)[1][0], tmp_path)
    rec = batch.run_job({**job.__dict__, "engine": batch.ENGINE_INPROCESS}, str(tmp_path / "job"))
    assert rec["status"] == "failed"
    assert rec["error"].startswith("publish check: Leaky: 1 string(s) that look like an NHS number")
    assert rec["outputs"] == ["leaky.html", "params.yaml"]
    page = (tmp_path / "job" / "leaky.html").read_text()
    assert "withheld by a publish check" in page and "5919" not in page


def test_in_process_engine_gives_each_notebook_a_fresh_namespace(tmp_path):
    """Two notebooks in one worker: the second must not see the first one's variables."""
    pack = write_pack(tmp_path, ["{metric: m1, title: First}", "{metric: check_fresh, title: Fresh}"])
    from evallib.config import load_pack

    jobs = [batch.make_job(p, tmp_path) for p in load_pack(pack)[1]]
    items = [({**j.__dict__, "engine": batch.ENGINE_INPROCESS}, str(tmp_path / j.id)) for j in jobs]
    recs = {job["id"]: rec for job, rec in batch.InlineExecutor().run(items)}
    assert recs["m1"]["status"] == "ok"
    assert recs["check_fresh"]["status"] == "ok", recs["check_fresh"]["error"]


@pytest.mark.slow
def test_dask_local_cluster_runs_the_same_jobs(tmp_path):
    distributed = pytest.importorskip("distributed")
    pack = write_pack(tmp_path, ["{metric: m1, title: First}", "{metric: broken, title: Broken}"])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        res = batch.build_pack(pack, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert res.manifest["executor"].startswith("dask (tcp://127.0.0.1:")
    assert {a["id"]: a["status"] for a in res.manifest["analyses"]} == {"m1": "ok", "broken": "failed"}
    assert res.exit_code == 1
    assert (tmp_path / "out" / "m1" / "m1.html").is_file()


def test_crash_between_publish_renames_restores_the_old_pack(tmp_path):
    """publish() renames old aside, then new in: a crash in between leaves only the old copy."""
    old = tmp_path / ".evallib-old-out-99999-1"
    old.mkdir()
    (old / "index.html").write_text("last good pack")
    (tmp_path / ".evallib-build-out-99999-abc").mkdir()         # the half-built new pack
    batch.clean_stale(tmp_path, "out")
    assert (tmp_path / "out" / "index.html").read_text() == "last good pack"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_publish_swaps_in_the_new_pack_and_removes_the_old(tmp_path):
    out, build = tmp_path / "out", tmp_path / "build"
    out.mkdir()
    (out / "index.html").write_text("old")
    build.mkdir()
    (build / "index.html").write_text("new")
    batch.publish(build, out)
    assert (out / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_bad_scheduler_address_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"--scheduler: value 'localhost:8786': expected an address"):
        batch.make_executor(None, "localhost:8786", 1)


def test_unreachable_scheduler_is_a_parameter_error(tmp_path, monkeypatch):
    monkeypatch.setattr(batch.DaskExecutor, "connect_timeout", 1)
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    with pytest.raises(ParameterError, match="cannot connect to the Dask scheduler"):
        batch.build_pack(pack, tmp_path / "out", scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".evallib-build-*"))


def test_unknown_notebook_names_the_available_ones(tmp_path):
    with pytest.raises(ParameterError, match=r"notebook: value 'nope' is not in .*available: .*its_outcome"):
        batch.resolve_notebook("nope")


def test_notebooks_dir_is_beside_the_package():
    import evallib

    assert batch.notebooks_dir() == Path(evallib.__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
def test_run_command_writes_page_results_and_notebook(tmp_path, capsys):
    write_tiny_notebook(tmp_path / "tiny.ipynb")
    (tmp_path / "data.csv").write_text("period,org_code,metric,value\n2020-01,A,m1,1\n")
    (tmp_path / "one.yaml").write_text("data: data.csv\nmetric: m1\ntitle: One\nunits: [A]\n"
                                       "notebook: tiny.ipynb\ninterruptions: [{name: c, date: 2020-09}]\n")
    code = cli_main(["run", str(tmp_path / "one.yaml"), "--out", str(tmp_path / "o")])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "o" / "m1.html")
    assert {"m1.html", "m1.ipynb", "results.json", "summary.json", "params.yaml"} <= set(os.listdir(tmp_path / "o"))
    html = (tmp_path / "o" / "m1.html").read_text()
    assert "The measure m1 fell." in html and "data:image/png;base64," in html


@pytest.mark.slow
def test_real_kernel_engine_gives_the_same_outputs(tmp_path):
    """The nbclient engine (a real ipykernel, IPC transport) runs the same job."""
    pack = write_pack(tmp_path, ["{metric: m1, title: First}"])
    from evallib.config import load_pack

    job = batch.make_job(load_pack(pack)[1][0], tmp_path)
    spec = {**job.__dict__, "engine": "nbclient"}
    rec = batch.run_job(spec, str(tmp_path / "job"))
    assert rec["status"] == "ok", rec["error"]
    assert json.loads((tmp_path / "job" / "results.json").read_text())["metric"] == "m1"
    assert "The measure m1 fell." in (tmp_path / "job" / "m1.html").read_text()


def test_pack_with_an_invalid_analysis_is_exit_2_before_anything_runs(tmp_path, capsys):
    pack = write_pack(tmp_path, ["{metric: m1, title: First, seasonality: weekly}"])
    assert cli_main(["batch", str(pack), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "analyses[0].seasonality: value 'weekly'" in err
    assert not (tmp_path / "out").exists()


def test_source_hash_covers_code_templates_and_data_but_not_bytecode(tmp_path):
    root = tmp_path / "evallib"
    shutil.copytree(cache.source_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    base = cache.source_sha256(root)
    names = {p.relative_to(root).as_posix() for p in cache.source_files(root)}
    assert {"batch/cache.py", "report/templates/page.html.j2", "data/nhs/ods_successors.csv"} <= names
    (root / "__pycache__").mkdir(exist_ok=True)
    (root / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / ".controlled.py.swp").write_bytes(b"\0")
    assert cache.source_sha256(root) == base
    seen = {base}
    for rel, extra in (("its/controlled.py", "\n# a comment\n"), ("report/templates/page.html.j2", " "),
                       ("data/nhs/ods_successors.csv", "\n")):
        with open(root / rel, "a") as fh:
            fh.write(extra)
        seen.add(cache.source_sha256(root))
    assert len(seen) == 4


@pytest.mark.slow
def test_editing_evallib_source_rebuilds_and_an_unchanged_rebuild_is_all_cache(tmp_path, monkeypatch):
    """The cache key covers evallib itself: a comment added to a copy of the package misses the cache."""
    root = tmp_path / "src" / "evallib"
    shutil.copytree(cache.source_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "source_root", lambda: root)
    pack = write_pack(tmp_path, ["{metric: m1, title: First}", "{metric: m2, title: Second}"])
    out = tmp_path / "out"
    first = batch.build_pack(pack, out, workers=1)
    assert first.exit_code == 0
    t0 = time.perf_counter()
    again = batch.build_pack(pack, out, workers=1)
    took = time.perf_counter() - t0
    assert [a["cache_hit"] for a in again.manifest["analyses"]] == [True, True]
    assert again.manifest["executor"] == "none (all cached)" and took < 2.0, took
    with open(root / "its" / "controlled.py", "a") as fh:
        fh.write("\n# only a comment\n")
    edited = batch.build_pack(pack, out, workers=1)
    assert [a["cache_hit"] for a in edited.manifest["analyses"]] == [False, False]
    assert edited.manifest["index_key"] != again.manifest["index_key"]
    keys = {a["id"]: a["key"] for a in again.manifest["analyses"]}
    assert all(a["key"] != keys[a["id"]] for a in edited.manifest["analyses"])


def test_in_process_engine_is_registered_through_the_papermill_entry_point():
    from importlib.metadata import entry_points

    from papermill.engines import papermill_engines

    from evallib.batch.engine import InProcessEngine

    (ep,) = [e for e in entry_points(group="papermill.engine") if e.name == batch.ENGINE_INPROCESS]
    assert ep.value == "evallib.batch.engine:InProcessEngine"
    assert papermill_engines.get_engine(batch.ENGINE_INPROCESS) is InProcessEngine
    # no private registries: papermill's engine table, the pool's process table
    src = "".join(p.read_text() for p in sorted(Path(batch.__file__).parent.glob("*.py")))
    assert "._engines" not in src and "_processes" not in src
