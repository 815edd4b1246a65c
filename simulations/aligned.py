"""Size, coverage, power and interval width of the comparator-aligned design, in simulation.

    .venv/bin/python simulations/aligned.py [--reps 500] [--quick]

Data-generating processes (evallib/stats/simulate.py): 4 treated units and J comparators,
monthly 2016-04 to 2025-03, each unit with its OWN nonlinear response to COVID-19 (a scaled
common shape plus unit-specific level and slope changes), AR(1) noise rho = 0.5; continuous
outcomes, counts (and counts near zero before COVID-19, like 52-week waits) and proportions;
J = 12, 36, 100. The estimator is the product's (evallib.stats.aligned with the defaults of
evallib.its.aligned: the system's level and its own COVID-19 level shift, 500 placebo systems,
studentized, small-cross-section factor). The 12-month effect (2021-09) is tested at 5%.

Columns: size (rejections with no effect), coverage of the true effect (no effect, and with the
planted effect), power for a planted level change (5% of the mean for continuous outcomes and
counts, +0.2 on the logit scale, about 3 points, for proportions), mean interval width.
With --stacked the default design of the previous release (stacked Linden model, COVID-19 shared)
is run through evallib.analyse on the continuous DGP for comparison (slow).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from evallib.stats.simulate import aligned_replicate, make_panel  # noqa: E402

EFFECT = {"continuous": 0.05, "count": float(np.log(1.05)), "count-near-zero": float(np.log(1.05)),
          "proportion": 0.2}


def one(kind: str, J: int, effect: float, seed: int, placebos: int = 500, h: int = 12):
    base_kind = "count" if kind.startswith("count") else kind
    return aligned_replicate(base_kind, J, effect, seed, placebos=placebos, horizon=h,
                             near_zero=kind == "count-near-zero")


def grid(reps: int, kinds, Js):
    rows = []
    for kind in kinds:
        for J in Js:
            t0 = time.time()
            null = [one(kind, J, 0.0, 10_000 + r) for r in range(reps)]
            eff = [one(kind, J, EFFECT[kind], 20_000 + r) for r in range(reps)]
            rows.append({"dgp": kind, "J": J, "size": np.mean([x[0] for x in null]),
                         "coverage_null": np.mean([x[1] for x in null]),
                         "coverage_effect": np.mean([x[1] for x in eff]),
                         "power": np.mean([x[0] for x in eff]), "width": np.mean([x[2] for x in null]),
                         "seconds": time.time() - t0})
            r = rows[-1]
            print(f"| {kind} | {J} | {100 * r['size']:.1f}% | {100 * r['coverage_null']:.1f}% | "
                  f"{100 * r['coverage_effect']:.1f}% | {100 * r['power']:.1f}% | {r['width']:.4g} |", flush=True)
    return rows


def stacked(reps: int):
    """The previous default (stacked, COVID-19 shared, quasi-... / ols-hac) on the continuous DGP."""
    import logging

    import pandas as pd

    import evallib
    from evallib.data.table import as_table

    logging.disable(logging.WARNING)
    rej = 0
    for r in range(reps):
        p = make_panel("continuous", np.random.default_rng(10_000 + r), n_comparators=36)
        codes = [f"T{k:02d}" for k in range(4)] + [f"C{k:03d}" for k in range(36)]
        rows = [(per, codes[u], "", "m", float(p.values[t, u]), np.nan, np.nan)
                for u in range(40) for t, per in enumerate(p.periods)]
        f = pd.DataFrame(rows, columns=["period", "org_code", "org_name", "metric", "value", "numerator",
                                        "denominator"])
        params = {"data": "sim.csv", "metric": "m", "units": codes[:4], "comparators": "all_other",
                  "design": "controlled", "controlled_method": "stacked", "model": "ols-hac",
                  "interruptions": [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}],
                  "horizons": [12]}
        e = evallib.analyse(params, as_table(f, "sim.csv")).effects()
        e = e[e["interruption"] == "collaborative"].iloc[0]
        rej += e["absolute_lower"] > 0 or e["absolute_upper"] < 0
    print(f"previous default (stacked, ols-hac), continuous DGP, J=36: size {100 * rej / reps:.1f}% ({reps} reps)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="J = 36 only, 200 replications")
    ap.add_argument("--stacked", type=int, default=0, help="also run the stacked design this many times")
    a = ap.parse_args(argv)
    reps = 200 if a.quick else a.reps
    Js = [36] if a.quick else [12, 36, 100]
    print(f"{reps} replications per cell; 12-month effect; 5% level")
    print("| DGP | comparators | size | coverage (no effect) | coverage (planted) | power | mean CI width |")
    print("|---|---|---|---|---|---|---|")
    grid(reps, ["continuous", "count", "count-near-zero", "proportion"], Js)
    if a.stacked:
        stacked(a.stacked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
