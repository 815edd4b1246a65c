"""The comparator-aligned design with its placebo inference: batched against refitting each placebo.

One analysis (``evallib.analyse`` with the default ``controlled_method: aligned``: the treated
system and 500 placebo systems fitted as one batched computation, then effects, event study and
the scorecard's pre-trend test) is timed on

- 40 units x 108 months (4 treated, 36 comparators, like the demo), target under 1 s on one core;
- 300 units x 74 months (4 treated, 296 comparators, like the real RTT panel), target under 5 s;

against the obvious alternative: refitting each placebo system through ``evallib.analyse`` with
its members as the treated units and the other comparators as comparators (timed on a sample of
placebos and scaled to the same number). Both run in this process, one BLAS thread.

    .venv/bin/python benchmarks/aligned.py [--sample 10] [--repeat 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import evallib  # noqa: E402
from evallib.data.table import as_table  # noqa: E402
from evallib.stats.simulate import make_panel  # noqa: E402


def table(n_units: int, n_months: int, seed: int = 1):
    p = make_panel("count", np.random.default_rng(seed), n_comparators=n_units - 4, n_months=n_months)
    codes = [f"R{k:02d}" for k in range(4)] + [f"Q{k:03d}" for k in range(n_units - 4)]
    per = pd.period_range("2016-04" if n_months > 80 else "2019-01", periods=n_months, freq="M").strftime("%Y-%m")
    T, N = p.values.shape
    f = pd.DataFrame({"period": np.tile(per, N), "org_code": np.repeat(codes, T), "org_name": "",
                      "metric": "m", "value": p.values.T.ravel(), "numerator": np.nan, "denominator": np.nan})
    return as_table(f, f"bench-{n_units}x{n_months}.csv"), codes


def params(codes, **kw):
    d = {"data": "bench.csv", "metric": "m", "units": codes[:4], "comparators": "all_other",
         "comparator_types": "any", "interruptions": [{"name": "covid", "date": "2020-03"},
                                                      {"name": "collaborative", "date": "2020-09"}],
         "horizons": [12, 24], "model": "quasipoisson"}
    d.update(kw)
    return d


def run(n_units: int, n_months: int, sample: int, repeat: int) -> None:
    tt, codes = table(n_units, n_months)
    p = params(codes)
    evallib.analyse(p, tt)                           # warm imports
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = evallib.analyse(p, tt)
        res.effects()
        res.event_study()
        res.pre_trend_test
        best = min(best, time.perf_counter() - t0)
    K = res.n_placebos
    # naive: each placebo refitted through analyse() as the treated system (its own inference off:
    # 20 placebos is the schema's minimum, so the naive figure is a lower bound)
    members = res.af.members
    comp = res.af.codes
    sub = as_table(tt.frame[~tt.frame["org_code"].isin(codes[:4])], "bench-placebos.csv")
    t0 = time.perf_counter()
    for k in range(sample):
        mem = [comp[j] for j in np.flatnonzero(members[:, k])]
        evallib.analyse(params(codes, units=mem, comparators=[c for c in comp if c not in mem],
                               aligned={"placebos": 20}), sub)
    naive = (time.perf_counter() - t0) / sample * K
    print(f"{n_units} units x {n_months} months, {K} placebo systems: batched analysis {best:.3f} s; "
          f"refitting each placebo through analyse() {naive:.1f} s (from {sample} refits); ratio {naive / best:.0f}x")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    run(40, 108, a.sample, a.repeat)
    run(300, 74, a.sample, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
