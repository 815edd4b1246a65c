"""Benchmark: placebo dates through the batched path against one ``analyse()`` per date, same run.

For each design family on the SYNTHETIC demo data (the Black Country's four trusts summed,
2016-04..2025-03, COVID-19 and the collaborative as interruptions, fourier2 seasonality), prints
the wall time of :func:`evallib.its.sensitivity.placebo_dates` (data prepared once, every date
fitted together) and of :func:`evallib.its.sensitivity._placebo_dates_per_analysis` (the path it
replaced: one ``evallib.analyse`` per date), the ratio, and the largest relative difference of
the placebo effects, intervals and p-values between the two (relative to each value, or to its
interval's half-width when that is larger). Each path is timed ``--repeat`` times,
alternating, and the fastest run is kept (both then read warm table caches).

Run: ``.venv/bin/python benchmarks/placebo_dates.py [--dates 23] [--repeat 3] [--data data/demo/metrics.csv]``
(without ``--data`` the demo is generated into a temporary folder). BLAS runs single-threaded.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

NUM = ["absolute", "absolute_lower", "absolute_upper", "absolute_p", "relative", "relative_lower",
       "relative_upper"]

CASES = [
    ("single ols-hac", dict(metric="agency_spend_gbp_k", design="single", comparators="none", model="ols-hac")),
    ("single prais-winsten", dict(metric="agency_spend_gbp_k", design="single", comparators="none",
                                  model="prais-winsten")),
    ("single quasipoisson", dict(metric="rtt_waiting_list", design="single", comparators="none")),
    ("single quasibinomial", dict(metric="cancer_62d_pct", aggregate="ratio", design="single", comparators="none")),
    ("stacked ols-hac", dict(metric="agency_spend_gbp_k", design="controlled", comparators="all_other",
                             controlled_method="stacked", model="ols-hac")),
    ("stacked quasipoisson", dict(metric="rtt_waiting_list", design="controlled", comparators="all_other",
                                  controlled_method="stacked")),
    ("stacked quasibinomial", dict(metric="cancer_62d_pct", aggregate="ratio", design="controlled",
                                   comparators="all_other", controlled_method="stacked")),
    ("difference ols-hac", dict(metric="agency_spend_gbp_k", design="controlled", comparators="all_other",
                                controlled_method="difference", model="ols-hac")),
    ("aligned quasipoisson", dict(metric="rtt_waiting_list", design="controlled", comparators="all_other")),
    ("aligned quasibinomial", dict(metric="cancer_62d_pct", aggregate="ratio", design="controlled",
                                   comparators="all_other")),
]


def max_rel_diff(new, old) -> float:
    """Largest difference relative to each value, or to its interval's half-width when that is larger
    (a placebo effect of -3.6 patients with an interval of +-17,000 has no meaningful 8th digit)."""
    worst = 0.0
    for cols in (NUM[:3], NUM[4:], ["absolute_p"]):
        a, b = new[cols].to_numpy(dtype=float), old[cols].to_numpy(dtype=float)
        half = (b[:, 2] - b[:, 1])[:, None] / 2 if len(cols) == 3 else 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(a - b) / np.maximum(np.abs(b), half)
        if np.isfinite(r).any():
            worst = max(worst, float(np.nanmax(r)))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="the demo metrics.csv (default: generate it)")
    ap.add_argument("--dates", type=int, default=8, help="placebo dates (max_placebos; 23 = every date)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logging.disable(logging.WARNING)

    import evallib
    from evallib.config import params_from_dict
    from evallib.data.table import load_table
    from evallib.its import sensitivity as S

    if args.data is None:
        from evallib.data.demo import generate

        tmp = Path(tempfile.mkdtemp(prefix="evallib-bench-"))
        generate(tmp)
        data = tmp / "metrics.csv"
    else:
        data = Path(args.data)
    table = load_table(data)
    base = {"data": str(data), "units": ["RNA", "RL4", "RXK", "RBK"], "aggregate": "sum", "start": "2016-04",
            "end": "2025-03", "seasonality": "fourier2", "horizons": [12, 24],
            "interruptions": [{"name": "covid", "date": "2020-03", "terms": ["level", "slope"]},
                              {"name": "collaborative", "date": "2020-09", "terms": ["level", "slope"]}]}
    print(f"placebo dates at 12 months, {args.dates} dates, fastest of {args.repeat} runs per path")
    print(f"{'design, model':24s} {'batched':>9s} {'per analyse()':>14s} {'ratio':>6s} {'max rel diff':>13s}")
    tot_new = tot_old = 0.0
    for name, kw in CASES:
        p = params_from_dict({**base, **kw})
        primary = evallib.analyse(p, data=table)
        t_new, t_old = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            new, _ = S.placebo_dates(p, table, primary, "collaborative", 12, max_placebos=args.dates)
            t1 = time.perf_counter()
            old, _ = S._placebo_dates_per_analysis(p, table, primary, "collaborative", 12, max_placebos=args.dates)
            t2 = time.perf_counter()
            t_new.append(t1 - t0)
            t_old.append(t2 - t1)
        rel = max_rel_diff(new, old)
        tn, to = min(t_new), min(t_old)
        tot_new += tn
        tot_old += to
        print(f"{name:24s} {tn:8.3f}s {to:13.3f}s {to / tn:5.1f}x {rel:13.1e}")
    print(f"{'all of the above':24s} {tot_new:8.3f}s {tot_old:13.3f}s {tot_old / tot_new:5.1f}x")


if __name__ == "__main__":
    main()
