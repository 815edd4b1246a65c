"""Benchmark: the national demo pack (44 collaboratives x 11 measures + 11 event-time pages), cold.

In one run, on a temporary copy of the national demo data (data/england, written first when missing):

1. **Cold build** with the process pool (``evallib batch --force``, one worker per core): wall time,
   analyses per minute, and the peak resident memory of the worker processes (each analysis
   records its worker's peak; the largest is printed).
2. **Rebuild, nothing changed**: every analysis served from the cache.
3. **Rebuild after one collaborative's figures changed** (c44's rows after it formed, +10%): what
   reran and how long it took (c44's 11 analyses and the 11 event-time pages, which read every row).
4. **The naive alternative**, measured on a sample: for each sampled analysis the ``papermill`` CLI
   (a fresh Python and kernel) and ``jupyter nbconvert --to html``, one after another; extrapolated
   to the whole pack.
5. **Dask** (``--dask``): the same analyses on a ``distributed.LocalCluster`` with several workers,
   addressed with ``--scheduler``; every number in each results.json is compared with the process
   pool's (provenance timestamps aside). ``--dask-subset`` restricts it to two collaboratives and
   the event-time pages (33 analyses) to save time.

Goals (issue 17, 2 cores): cold build of 440+ analyses within 12 minutes; peak memory per worker
under 1.5 GB; rebuild with nothing changed under 5 s.

Usage::

    python benchmarks/national.py [--workers N] [--sample 4] [--dask | --dask-subset] [--truth]

``--truth`` also prints how the built pack recovers the planted effects (evallib.batch.national.
score_against_truth).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACK = REPO / "params" / "england_demo.yaml"


def _load_batch_benchmark():
    spec = importlib.util.spec_from_file_location("bench_batch", REPO / "benchmarks" / "batch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def evallib_batch(pack: Path, out: Path, *extra: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run([str(BIN / "evallib"), "batch", str(pack), "--out", str(out), *extra],
                       capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit(f"evallib batch failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return dt, r.stderr


def pack_copy(work: Path, data: Path, collaboratives=None) -> Path:
    import yaml

    doc = yaml.safe_load(PACK.read_text(encoding="utf-8"))
    doc["defaults"]["data"] = str(data / "metrics.csv")
    doc["defaults"]["memberships"] = str(data / "collaboratives.csv")
    if collaboratives:
        doc["national"]["collaboratives"] = list(collaboratives)
    p = work / ("pack.yaml" if not collaboratives else f"pack_{len(collaboratives)}.yaml")
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


def numbers(obj, path=""):
    """Every number in a results.json document, by its path (provenance left out: it holds times)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "provenance":
                yield from numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


def compare(a: Path, b: Path, ids: list[str]) -> tuple[int, int, list[str]]:
    n_num, n_diff, bad = 0, 0, []
    for aid in ids:
        ra = dict(numbers(json.loads((a / aid / "results.json").read_text())))
        rb = dict(numbers(json.loads((b / aid / "results.json").read_text())))
        n_num += len(ra)
        diff = [k for k in set(ra) | set(rb)
                if not (k in ra and k in rb and (ra[k] == rb[k] or (isinstance(ra[k], float) and
                                                                    math.isnan(ra[k]) and math.isnan(rb[k]))))]
        if diff:
            n_diff += len(diff)
            bad.append(f"{aid}: {diff[:3]}")
    return n_num, n_diff, bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--sample", type=int, default=4, help="analyses in the naive papermill + nbconvert sample")
    ap.add_argument("--dask", action="store_true", help="also build the whole pack on a Dask LocalCluster")
    ap.add_argument("--dask-subset", action="store_true", help="Dask on two collaboratives + event-time pages")
    ap.add_argument("--truth", action="store_true", help="score the built pack against truth.json")
    ap.add_argument("--only", default=None, help="comma-separated collaborative ids (a quick trial, not the benchmark)")
    args = ap.parse_args(argv)

    src = REPO / "data" / "england"
    if not (src / "metrics.csv").is_file():
        subprocess.run([str(BIN / "evallib"), "demo-data", "--national", "--out", str(src)], check=True)
    work = Path(tempfile.mkdtemp(prefix="evallib-bench-national-"))
    try:
        data = work / "data"
        shutil.copytree(src, data)
        pack = pack_copy(work, data, args.only.split(",") if args.only else None)
        extra = ["--force"] + (["--workers", str(args.workers)] if args.workers else [])
        print(f"cpu cores: {os.cpu_count()}; pack: {PACK.relative_to(REPO)} on a copy of data/england", flush=True)

        cold, _ = evallib_batch(pack, work / "proc", *extra)
        man = json.loads((work / "proc" / "manifest.json").read_text())
        an = man["analyses"]
        n, ok = len(an), sum(a["status"] == "ok" for a in an)
        rss = [a.get("worker_peak_rss_mb") for a in an if a.get("worker_peak_rss_mb")]
        print(f"1. cold build: {n} analyses ({ok} ok) in {cold:.0f} s = {cold / 60:.1f} min, "
              f"{60 * n / cold:.1f} analyses/min; executor {man['executor']}; peak memory per worker "
              f"{max(rss):.0f} MB (median analysis's worker {sorted(rss)[len(rss) // 2]:.0f} MB)", flush=True)

        t_same, _ = evallib_batch(pack, work / "proc")
        man2 = json.loads((work / "proc" / "manifest.json").read_text())
        print(f"2. rebuild, nothing changed: {t_same:.2f} s (whole command, Python start-up included); "
              f"{man2['summary']['cached']} of {n} from the cache", flush=True)

        truth = json.loads((data / "truth.json").read_text())
        c44 = next(c for c in truth["collaboratives"] if c["id"] == "c44")
        f = pd.read_csv(data / "metrics.csv", dtype=str, keep_default_na=False)
        rows = f["org_code"].isin(c44["members"]) & (f["period"] >= c44["formation"]) & (f["metric"] == "rtt_waiting_list")
        f.loc[rows, "value"] = (f.loc[rows, "value"].astype(float) * 1.1).round().astype(int).astype(str)
        f.to_csv(data / "metrics.csv", index=False)
        t_one, _ = evallib_batch(pack, work / "proc")
        man3 = json.loads((work / "proc" / "manifest.json").read_text())
        rerun = sorted(a["id"] for a in man3["analyses"] if not a["cache_hit"])
        print(f"3. rebuild after c44's waiting-list figures from {c44['formation']} changed: {t_one:.1f} s; "
              f"reran {len(rerun)}: {', '.join(rerun)}", flush=True)
        shutil.copy(src / "metrics.csv", data / "metrics.csv")   # back to the demo's figures
        evallib_batch(pack, work / "proc")

        bb = _load_batch_benchmark()
        from evallib.batch.national import NationalBuild
        from evallib.config import load_pack

        nb = NationalBuild()
        p, params = load_pack(pack, expand=nb.expand)
        jobs = nb.make_jobs(p, params, pack.parent)
        step = max(1, len(jobs) // args.sample)
        sample = jobs[::step][:args.sample]
        naive = bb.naive_loop(sample, work / "naive")
        est = naive / len(sample) * len(jobs)
        print(f"4. naive papermill + nbconvert, one after another: {naive:.0f} s for {len(sample)} analyses, "
              f"{naive / len(sample):.1f} s each; for {len(jobs)}: about {est / 60:.0f} min. "
              f"evallib batch cold: {cold / 60:.1f} min, {est / cold:.1f}x faster", flush=True)

        if args.dask or args.dask_subset:
            from distributed import LocalCluster

            dpack = pack_copy(work, data, ["c01", "c44"]) if args.dask_subset else pack
            with LocalCluster(n_workers=max(2, os.cpu_count() or 2), threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
                t_dask, _ = evallib_batch(dpack, work / "dask", "--force", "--scheduler", cluster.scheduler_address)
            dman = json.loads((work / "dask" / "manifest.json").read_text())
            ids = [a["id"] for a in dman["analyses"] if a["status"] == "ok"]
            n_num, n_diff, bad = compare(work / "proc", work / "dask", ids)
            print(f"5. dask ({dman['executor']}): {len(ids)} analyses in {t_dask:.0f} s; {n_num} numbers in their "
                  f"results.json compared with the process pool's: {n_diff} differ"
                  + (f" ({'; '.join(bad[:3])})" if bad else ""), flush=True)
            if n_diff:
                return 1

        if args.truth:
            from evallib.batch.national import score_against_truth

            s = score_against_truth(work / "proc", data / "truth.json")
            print(f"truth: planted effects covered {100 * s['planted_coverage']:.1f}% of {s['n_planted']} "
                  f"(horizons 0-24); at 12 months covered {100 * s['planted_coverage_headline']:.1f}%, detected "
                  f"{100 * s['power_headline']:.1f}% of {s['n_planted_headline']}; nulls: covered "
                  f"{100 * s['null_coverage']:.1f}% of {s['n_null']}, false positives at 12 months "
                  f"{100 * s['false_positive_headline']:.1f}% of {s['n_null_headline']}; event time: pointwise "
                  f"coverage {100 * s['event_time_pointwise_coverage']:.1f}% of {s['n_event_times']}, band "
                  f"{100 * s['event_time_band_coverage']:.1f}%, the 0-24 average covers the truth for "
                  f"{s['overall_covered']} of {s['n_overall']} measures", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
