"""Benchmark of the ITS engine against the obvious alternative, measured in the same run.

Prints:

1. fits per second of the standard specification (ols-hac with Newey–West lag 4,
   fourier2 seasonality, two interruptions with level and slope, 108 monthly points):
   - the obvious alternative: a loop over the statsmodels formula API
     (``smf.ols(...).fit(cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": True})``);
   - a loop over ``evallib.its.estimators.fit`` (array API, one series at a time);
   - the batched engine: one design matrix, many outcomes, ``ols_hac_batch``;
   and checks that the three give the same level-change estimates and SEs.
2. a placebo-in-time grid: every pre-period month (with at least 3 points on each
   side) as a fake interruption of the pre-period, for 100 series, batched, against
   the formula-API loop timed on a subsample and scaled up (labelled as estimated).

Run: ``.venv/bin/python benchmarks/engine.py [--series 400] [--seed 1]``. BLAS runs
single-threaded (set before numpy is imported; override with OPENBLAS_NUM_THREADS).
"""
from __future__ import annotations

import os

# Small matrices: BLAS threads only add contention (on a shared 2-core machine the
# multi-threaded OpenBLAS made the batched meat ~40x slower). Both sides of every
# comparison below run under the same setting. Must be set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def simulate(n_series: int, seed: int) -> tuple[pd.PeriodIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    periods = pd.period_range("2016-04", periods=108, freq="M")
    t = np.arange(108)
    month = periods.month.to_numpy()
    base = 1000 + 3 * t + 40 * np.sin(2 * np.pi * month / 12) - 60 * (t >= 47) + 50 * (t >= 53)
    e = np.zeros((108, n_series))
    eps = rng.normal(0, 20, (108, n_series))
    for i in range(1, 108):
        e[i] = 0.4 * e[i - 1] + eps[i]
    return periods, base[:, None] + e


def standard_design(periods):
    from evallib.its.design import InterruptionSpec, build_design

    ints = [InterruptionSpec("covid", pd.Period("2020-03", "M")),
            InterruptionSpec("collaborative", pd.Period("2020-09", "M"))]
    return build_design(list(periods), ints, seasonality="fourier2")


def bench_standard(n_series: int, seed: int) -> dict:
    import statsmodels.formula.api as smf

    from evallib.its import estimators as E

    periods, Y = simulate(n_series, seed)
    d = standard_design(periods)
    L = E.auto_hac_lags(108)
    col = d.X.columns.get_loc("level_change[collaborative]")

    # 1. the obvious alternative: statsmodels formula API, one model per series
    frame = d.X.rename(columns=lambda c: c.replace("[", "_").replace("]", "")).copy()
    rhs = " + ".join(c for c in frame.columns if c != "intercept")
    n_formula = min(n_series, 200)
    t0 = time.perf_counter()
    f_est, f_se = [], []
    for j in range(n_formula):
        frame["y"] = Y[:, j]
        r = smf.ols(f"y ~ {rhs}", data=frame).fit(cov_type="HAC", cov_kwds={"maxlags": L, "use_correction": True})
        f_est.append(r.params["level_change_collaborative"])
        f_se.append(r.bse["level_change_collaborative"])
    t_formula = (time.perf_counter() - t0) / n_formula

    # 2. array API, one series at a time
    X = d.X.to_numpy()
    t0 = time.perf_counter()
    a_est = [E.fit("ols-hac", X, Y[:, j], hac_lags=L, check=False).params[col] for j in range(n_series)]
    t_array = (time.perf_counter() - t0) / n_series

    # 2b. array API with hac_lags='prewhite' (R's automatic procedure: prewhitened, per-series lag)
    t0 = time.perf_counter()
    for j in range(n_series):
        E.fit("ols-hac", X, Y[:, j], hac_lags="prewhite", check=False)
    t_auto = (time.perf_counter() - t0) / n_series

    # 3. batched: one X, many y
    t0 = time.perf_counter()
    reps = 5
    for _ in range(reps):
        B, cov, _ = E.ols_hac_batch(X, Y, L)
    t_batch = (time.perf_counter() - t0) / (reps * n_series)

    np.testing.assert_allclose(B[col, :n_formula], f_est, rtol=1e-8)
    np.testing.assert_allclose(np.sqrt(cov[:n_formula, col, col]), f_se, rtol=1e-8)
    np.testing.assert_allclose(B[col], a_est, rtol=1e-8)
    return {"formula": 1 / t_formula, "array": 1 / t_array, "auto": 1 / t_auto, "batch": 1 / t_batch,
            "n_formula": n_formula}


def placebo_designs(periods, first_real: str = "2020-03", min_seg: int = 3):
    """Designs over the pre-period with each possible fake interruption month."""
    from evallib.its.design import InterruptionSpec, build_design

    pre = [p for p in periods if p < pd.Period(first_real, "M")]
    out = []
    for i in range(min_seg, len(pre) - min_seg + 1):
        d = build_design(pre, [InterruptionSpec("placebo", pre[i])], seasonality="fourier2")
        out.append((pre[i], d.X.to_numpy()))
    return out


def bench_placebo(n_series: int, seed: int) -> dict:
    import statsmodels.formula.api as smf

    from evallib.its import estimators as E

    periods, Y = simulate(n_series, seed)
    t0 = time.perf_counter()
    designs = placebo_designs(periods)
    n_pre = designs[0][1].shape[0]
    Yp = Y[:n_pre]
    L = E.auto_hac_lags(n_pre)
    z = np.empty((len(designs), n_series))
    for g, (_, X) in enumerate(designs):
        B, cov, _ = E.ols_hac_batch(X, Yp, L)
        z[g] = B[2] / np.sqrt(cov[:, 2, 2])
    t_batch = time.perf_counter() - t0

    # formula API on a subsample of (date, series) pairs, scaled to the full grid
    sub = [(g, j) for g in range(0, len(designs), max(1, len(designs) // 6)) for j in range(10)]
    t0 = time.perf_counter()
    for g, j in sub:
        X = designs[g][1]
        frame = pd.DataFrame(X[:, 1:], columns=[f"x{i}" for i in range(1, X.shape[1])])
        frame["y"] = Yp[:, j]
        r = smf.ols("y ~ " + " + ".join(frame.columns[:-1]), data=frame).fit(
            cov_type="HAC", cov_kwds={"maxlags": L, "use_correction": True})
        assert abs(r.params["x2"] / r.bse["x2"] - z[g, j]) < 1e-6
    t_formula_est = (time.perf_counter() - t0) / len(sub) * len(designs) * n_series
    return {"dates": len(designs), "series": n_series, "batch_s": t_batch, "formula_s_est": t_formula_est,
            "false_positive_rate": float(np.mean(np.abs(z) > 1.99))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=400, help="series for the fits/s measurement")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    s = bench_standard(a.series, a.seed)
    print("Standard specification: ols-hac (Newey-West lag 4), fourier2, two interruptions, 108 months")
    print(f"  statsmodels formula API loop : {s['formula']:9.0f} fits/s  ({s['n_formula']} fits)")
    print(f"  evallib array API loop       : {s['array']:9.0f} fits/s  ({s['array'] / s['formula']:.1f}x)")
    print(f"  evallib array API, prewhite  : {s['auto']:9.0f} fits/s  ({s['auto'] / s['formula']:.1f}x; "
          "hac_lags: prewhite, lag chosen per series)")
    print(f"  evallib batched (one X)      : {s['batch']:9.0f} fits/s  ({s['batch'] / s['formula']:.1f}x)")
    print(f"  ratio batched / formula API  : {s['batch'] / s['formula']:.0f}x (target >= 20x); "
          "estimates and SEs agree to 1e-8")
    p = bench_placebo(100, a.seed)
    print(f"Placebo-in-time grid: {p['dates']} fake interruption months x {p['series']} series "
          f"({p['dates'] * p['series']} fits)")
    print(f"  evallib batched              : {p['batch_s']:9.3f} s")
    print(f"  formula API loop (estimated) : {p['formula_s_est']:9.1f} s  "
          f"({p['formula_s_est'] / p['batch_s']:.0f}x slower)")
    print(f"  share of placebo level changes with |t| > 1.99: {p['false_positive_rate']:.3f} (nominal 0.05)")


if __name__ == "__main__":
    main()
