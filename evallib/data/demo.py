"""The synthetic demo: four Black Country trusts and 36 comparators, 2016-04 to 2025-03.

SYNTHETIC DATA. Nothing here is a real NHS figure. Magnitudes are calibrated to the
real figures in ``../shared/REFERENCES.md`` and the real panels in
``../shared/data/nhs-real`` (England RTT waiting list growth, 52-week waits near
zero before COVID-19 and in the thousands afterwards, cancer 62-day performance
near 78% in 2019, A&E 4-hour performance in the 70s, critical care bed counts).

How a series is generated (per unit ``u``, metric ``m``, month ``t``):

``eta = base_m + unit offset + pre-trend * t + seasonality(month)
        + covid_m(t)                       # common shape from 2020-03, every unit
        + a_u * [t >= covid] + b_u * (t - covid)+   # each unit hit differently
        + AR(1) noise
        + planted effect (four Black Country trusts only, from 2020-09)``

- Counts (waiting lists, 52-week waiters) are generated on the log scale; the
  value is a Poisson draw of ``exp(eta)``. Planted effects are multiplicative
  (``level_change`` is a log ratio, ``slope_change`` a log ratio per month).
- Percentages (cancer, RTT 18 weeks, critical care occupancy, A&E 4 hours) are
  generated in percentage points; the numerator is a binomial draw from the
  denominator, and ``value = 100 * numerator / denominator``. Planted effects are
  additive in percentage points.
- Agency spend (GBP thousands) is additive throughout; the COVID-19 effect is a
  level and slope change scaled by trust size.

The COVID-19 shape is nonlinear (a fall, recovery, the 2020/21 winter wave and
the long backlog growth), so a single-group ITS with level and slope terms cannot
absorb it: that is deliberate, and it is what controlled designs are for.

``collaboratives.csv`` (the membership format of evallib/data/memberships.py) puts the four in the
Black Country collaborative from 2020-09 and the 36 comparators in nine collaboratives of their own
(3-5 trusts), joining from 2020-12 to 2022-07 (:data:`COMPARATOR_COLLABORATIVES`); truth.json lists
them under ``collaboratives``. No effect is planted in the comparators' collaboratives.

``truth.json`` records every planted effect and every deliberate null, in the
terms of docs/contracts.md §3 (level change, slope change per month, the scale and unit),
and the system-level expected effect at horizons 0, 6, 12 and 24 months in the
metric's own unit, computed from the noise-free series with and without the
effect, aggregated as the demo pack aggregates (sum, or ratio of sums).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evallib.data.table import atomic_write_bytes

logger = logging.getLogger(__name__)

SEED = 20200901
START, END = "2016-04", "2025-03"
COVID, FORMATION = "2020-03", "2020-09"
HORIZONS = (0, 6, 12, 24)
SYNTHETIC_NOTE = "SYNTHETIC demo data: not real NHS figures"

# The four trusts, with relative size (Type 1 A&E attendances 2018/19 / 10,000).
TREATED = [
    ("RNA", "The Dudley Group NHS Foundation Trust", 0.90),
    ("RL4", "The Royal Wolverhampton NHS Trust", 1.16),
    ("RXK", "Sandwell and West Birmingham Hospitals NHS Trust", 1.36),
    ("RBK", "Walsall Healthcare NHS Trust", 0.66),
]
N_COMPARATORS = 36
TREATED_COLLABORATIVE = ("black_country", "Black Country Provider Collaborative")

# The comparators' own collaboratives (collaboratives.csv): (size, joining month), in ZZ order. Staggered
# from late 2020 to July 2022, when collaboratives became mandatory (NHS England, "Working together at
# scale", August 2021: every acute and mental health trust in one by April 2022). No effect is planted in
# them: planting one would change the comparators' rows of metrics.csv, and with them every number of the
# Black Country demo; they are nulls, so a national average by event time on this demo is zero.
COMPARATOR_COLLABORATIVES = [(3, "2020-12"), (4, "2021-04"), (5, "2021-07"), (4, "2021-10"), (4, "2022-01"),
                             (5, "2022-04"), (3, "2022-04"), (4, "2022-07"), (4, "2022-07")]
MEMBERSHIP_HEADER = """# SYNTHETIC demo data: not real NHS figures. Provider collaborative memberships of the demo's
# trusts, in the format of evallib/data/collaboratives.csv (evallib/data/memberships.py):
# collaborative_id, collaborative_name, org_code (ODS code), joined (YYYY-MM), left (optional YYYY-MM).
"""


@dataclass(frozen=True)
class Spec:
    metric: str
    scale: str            # "log" (counts), "pp" (percentages), "linear" (money)
    base: float           # per size unit at t=0: count, percent, or GBP k
    trend: float          # per month on the generation scale
    season: tuple         # (amplitude of annual cosine peaking in `peak` month, peak month)
    covid: dict           # knots: months since 2020-03 -> shift on the generation scale
    noise: float          # AR(1) innovation sd on the generation scale
    unit_sd: float        # between-unit sd of the base
    covid_sd: tuple       # (sd of unit level change, sd of unit slope change) at COVID
    effect: tuple         # planted (level_change, slope_change) for treated units
    denominator: float = 0.0   # percentages: denominator per size unit per month
    unit: str = ""
    note: str = ""


_WL_COVID = {0: -0.01, 2: -0.10, 4: -0.08, 8: 0.0, 12: 0.08, 18: 0.25, 24: 0.38, 30: 0.45,
             36: 0.47, 48: 0.42, 60: 0.34}
SPECS = [
    Spec("rtt_waiting_list", "log", np.log(24000), 0.0035, (0.012, 3), _WL_COVID, 0.012, 0.12,
         (0.03, 0.0008), (0.0, -0.004), unit="patients",
         note="slope change: 0.4% a month slower growth of the waiting list"),
    Spec("rtt_52w_waiters", "log", np.log(3.0), 0.0, (0.0, 1),
         {0: 0.0, 1: 0.0, 4: 3.5, 7: 4.4, 10: 5.3, 13: 5.6, 16: 5.5, 22: 6.1, 28: 6.4, 34: 6.7,
          43: 6.8, 46: 6.6, 52: 6.3, 58: 6.16, 61: 6.1}, 0.05, 0.15, (0.08, 0.002),
         (-0.12, -0.006), unit="patients",
         note="level change -12% (log -0.12) and 0.6% a month faster fall"),
    Spec("rtt_waiting_list_dermatology", "log", np.log(24000 * 0.055), 0.004, (0.015, 3),
         _WL_COVID, 0.02, 0.2, (0.04, 0.001), (-0.08, 0.0), unit="patients",
         note="level change -8% (log -0.08)"),
    Spec("rtt_waiting_list_ent", "log", np.log(24000 * 0.065), 0.0035, (0.015, 3), _WL_COVID,
         0.02, 0.2, (0.04, 0.001), (0.0, 0.0), unit="patients", note="deliberate null"),
    Spec("rtt_waiting_list_ophthalmology", "log", np.log(24000 * 0.09), 0.004, (0.012, 3),
         _WL_COVID, 0.018, 0.2, (0.04, 0.001), (0.0, -0.005), unit="patients",
         note="slope change: 0.5% a month slower growth"),
    Spec("rtt_18w_pct", "pp", 89.0, -0.07, (0.8, 4),
         {0: 0.0, 2: -8, 4: -20, 6: -22, 9: -16, 12: -17, 18: -16, 24: -18, 30: -19, 36: -18,
          48: -16, 60: -15}, 0.5, 2.5, (1.5, 0.03), (2.0, 0.08), unit="%",
         note="level change +2.0 percentage points and +0.08 pp a month"),
    Spec("cancer_62d_pct", "pp", 81.0, -0.06, (1.5, 4),
         {0: 0.0, 2: -3, 4: -1, 8: -3, 12: -4, 18: -6, 24: -8, 30: -9, 36: -8, 48: -6, 60: -4},
         0.6, 3.0, (1.5, 0.03), (3.0, 0.05), denominator=80, unit="%",
         note="level change +3.0 percentage points and +0.05 pp a month"),
    Spec("cancer_fds_28d_pct", "pp", 77.0, -0.02, (1.0, 1),
         {0: 0.0, 2: -6, 4: -2, 10: -5, 13: -4, 24: -6, 36: -4, 48: -2, 60: 0}, 0.5, 3.0,
         (1.5, 0.03), (4.0, 0.0), denominator=1000, unit="%",
         note="level change +4.0 percentage points"),
    Spec("critical_care_occupancy_pct", "pp", 79.0, 0.0, (3.0, 1),
         {0: 0.0, 1: 14, 3: 4, 6: 2, 9: 12, 10: 16, 11: 12, 14: 4, 24: 3, 60: 2}, 1.5, 3.0,
         (1.5, 0.02), (0.0, 0.0), denominator=24 * 30.4, unit="%", note="deliberate null"),
    Spec("ae_4h_pct", "pp", 84.0, -0.08, (2.5, 1),
         {0: 0.0, 1: 9, 3: 6, 6: 1, 10: -3, 18: -7, 24: -9, 33: -8, 48: -6, 60: -5}, 0.9, 4.0,
         (1.5, 0.03), (0.0, 0.0), denominator=15000, unit="%",
         note="deliberate null: a control outcome the collaborative did not target"),
    Spec("agency_spend_gbp_k", "linear", 1000.0, 3.0, (60.0, 3), {0: 0.0}, 40.0, 250.0,
         (0.0, 0.0), (-60.0, -3.0), unit="£k",
         note="per trust: level change -£60k a month and -£3k a month each month"),
]
AGGREGATE = {"log": "sum", "pp": "ratio", "linear": "sum"}


def _months() -> pd.PeriodIndex:
    return pd.period_range(START, END, freq="M")


def _covid_shape(knots: dict, since: np.ndarray) -> np.ndarray:
    xs = np.array(sorted(knots))
    ys = np.array([knots[k] for k in xs], dtype=float)
    out = np.interp(since, xs, ys)
    return np.where(since < 0, 0.0, out)


def unit_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Relative trust sizes (Type 1 A&E attendances / 10,000 scale): log-normal, clipped to 0.35-2.4."""
    return np.clip(rng.lognormal(mean=0.0, sigma=0.38, size=n), 0.35, 2.4)


def _units(rng: np.random.Generator) -> pd.DataFrame:
    sizes = unit_sizes(rng, N_COMPARATORS)
    rows = [(c, n, s, True) for c, n, s in TREATED]
    rows += [(f"ZZ{k + 1:03d}", f"Comparator Trust {k + 1:03d} (SYNTHETIC)", round(float(sizes[k]), 3), False)
             for k in range(N_COMPARATORS)]
    return pd.DataFrame(rows, columns=["org_code", "org_name", "size", "treated"])


def _ar1(rng, n_units: int, n: int, sd: float, rho: float = 0.5) -> np.ndarray:
    e = rng.normal(0.0, sd, size=(n_units, n))
    out = np.empty_like(e)
    out[:, 0] = e[:, 0] / np.sqrt(1 - rho ** 2)
    for t in range(1, n):
        out[:, t] = rho * out[:, t - 1] + e[:, t]
    return out


@dataclass(frozen=True)
class Calendar:
    """The demo's months and the time codings every series is built from."""

    labels: list            # "YYYY-MM"
    t: np.ndarray           # months since START
    cal: np.ndarray         # calendar month 1-12
    since_covid: np.ndarray  # months since COVID (negative before)

    @property
    def n(self) -> int:
        return len(self.labels)

    def since(self, month: str) -> np.ndarray:
        """Months since ``month`` (negative before it)."""
        return self.t - self.labels.index(month)


def calendar() -> Calendar:
    months = _months()
    return Calendar(labels=[f"{p.year:04d}-{p.month:02d}" for p in months],
                    t=np.arange(len(months), dtype=float), cal=np.array([p.month for p in months]),
                    since_covid=np.array([(p - pd.Period(COVID, "M")).n for p in months], dtype=float))


def unit_draws(spec: Spec, rng: np.random.Generator, n_units: int, n: int):
    """One metric's unit-level random parts, drawn in this order: COVID level and slope change per unit
    (``a``, ``b``), the unit offset of the base, and the AR(1) noise (units x months)."""
    a = rng.normal(0.0, spec.covid_sd[0], size=(n_units, 1))
    b = rng.normal(0.0, spec.covid_sd[1], size=(n_units, 1))
    unit_off = rng.normal(0.0, spec.unit_sd, size=(n_units, 1))
    noise = _ar1(rng, n_units, n, spec.noise)
    return a, b, unit_off, noise


def counterfactual(spec: Spec, cal: Calendar, size: np.ndarray, a, b, unit_off) -> np.ndarray:
    """The noise-free series without a collaborative effect, on the generation scale (units x months):
    log of the expected count, percentage points, or GBP thousands; every unit's own COVID-19 shock."""
    post_c = (cal.since_covid >= 0).astype(float)
    amp, peak = spec.season
    season = amp * np.cos(2 * np.pi * (cal.cal - peak) / 12.0)
    if spec.scale == "linear":
        base = spec.base * size + unit_off * size / 4
        covid_lin = size * (150.0 * post_c + 2.0 * np.maximum(cal.since_covid, 0))
        return base + spec.trend * size * cal.t + season * size + covid_lin
    shape = _covid_shape(spec.covid, cal.since_covid)
    if spec.scale == "log":
        base = spec.base + np.log(size) + unit_off
        return base + spec.trend * cal.t + season + shape + a * post_c + b * np.maximum(cal.since_covid, 0)
    return (spec.base + unit_off + spec.trend * cal.t + season + shape + a * post_c
            + b * np.maximum(cal.since_covid, 0))


def volume(spec: Spec, cal: Calendar, size: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A percentage's monthly denominator per unit (not rtt_18w_pct, whose denominator is the waiting
    list): size-scaled volume, a winter peak, 3% noise; A&E attendances collapse in spring 2020."""
    post_c = (cal.since_covid >= 0).astype(float)
    vol = spec.denominator * (size if spec.metric != "critical_care_occupancy_pct" else size ** 0.5)
    dshape = 1.0 + 0.04 * np.cos(2 * np.pi * (cal.cal - 1) / 12.0)
    if spec.metric == "ae_4h_pct":  # attendances collapsed in spring 2020
        dshape = dshape * (1 - 0.45 * np.exp(-np.maximum(cal.since_covid - 1, 0) / 2.5) * post_c)
    return np.round(vol * dshape * np.exp(rng.normal(0, 0.03, size=(size.shape[0], cal.n))))


def generate_frame(seed: int = SEED) -> tuple[pd.DataFrame, dict]:
    """Return (tidy frame, truth dict). Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    cal = calendar()
    n, labels = cal.n, cal.labels
    since_form = cal.since(FORMATION)
    post_f = (since_form >= 0).astype(float)
    units = _units(rng)
    size = units["size"].to_numpy()[:, None]
    treated = units["treated"].to_numpy()[:, None].astype(float)
    U = len(units)
    frames, truth_effects = [], []

    for spec in SPECS:
        a, b, unit_off, noise = unit_draws(spec, rng, U, n)
        cf = counterfactual(spec, cal, size, a, b, unit_off)
        L, S = spec.effect
        effect = treated * (L * post_f + S * np.maximum(since_form, 0.0))
        if spec.scale == "log":
            mean_cf, mean_fx = np.exp(cf), np.exp(cf + effect)
            value = rng.poisson(np.exp(cf + effect + noise)).astype(float)
            num = den = np.full_like(value, np.nan)
        elif spec.scale == "pp":
            if spec.metric == "rtt_18w_pct":  # the denominator is the waiting list itself
                wl = next(f for f in frames if f.attrs["metric"] == "rtt_waiting_list")
                den = wl.pivot(index="org_code", columns="period", values="value").loc[units["org_code"]].to_numpy()
            else:
                den = volume(spec, cal, size, rng)
            mean_cf, mean_fx = cf, cf + effect
            p = np.clip((mean_fx + noise) / 100.0, 0.01, 0.995)
            num = rng.binomial(den.astype(np.int64), p).astype(float)
            value = np.round(100.0 * num / den, 4)
        else:  # linear money
            mean_cf = cf
            mean_fx = mean_cf + effect
            value = np.round(mean_fx + noise * size, 1)
            num = den = np.full_like(value, np.nan)

        frame = pd.DataFrame({
            "period": np.tile(labels, U),
            "org_code": np.repeat(units["org_code"].to_numpy(), n),
            "org_name": np.repeat(units["org_name"].to_numpy(), n),
            "metric": spec.metric,
            "value": value.ravel(),
            "numerator": num.ravel(),
            "denominator": den.ravel(),
        })
        frame.attrs["metric"] = spec.metric
        frames.append(frame)

        # ---- truth at system level (expected values, noise-free) ----
        tr = units["treated"].to_numpy()
        if spec.scale == "pp":
            w = den[tr]
            sys_cf = (w * mean_cf[tr]).sum(0) / w.sum(0)
            sys_fx = (w * mean_fx[tr]).sum(0) / w.sum(0)
        else:
            sys_cf, sys_fx = mean_cf[tr].sum(0), mean_fx[tr].sum(0)
        p0 = int(np.flatnonzero(since_form == 0)[0])
        hz = {}
        for h in HORIZONS:
            i = p0 + h
            hz[str(h)] = {
                "period": labels[i],
                "counterfactual": round(float(sys_cf[i]), 4),
                "with_effect": round(float(sys_fx[i]), 4),
                "absolute": round(float(sys_fx[i] - sys_cf[i]), 4),
                "relative": round(float((sys_fx[i] - sys_cf[i]) / sys_cf[i]), 6),
                "cumulative": round(float((sys_fx[p0:i + 1] - sys_cf[p0:i + 1]).sum()), 4),
            }
        planted = bool(L != 0 or S != 0)
        n_tr = int(tr.sum())
        truth_effects.append({
            "metric": spec.metric,
            "planted": planted,
            "unit": spec.unit,
            "scale": {"log": "log (multiplicative: level_change is a log ratio per trust)",
                      "pp": "percentage points (additive)", "linear": "GBP thousands (additive)"}[spec.scale],
            "interruption": "collaborative",
            "date": FORMATION,
            "level_change": L if spec.scale != "linear" else L * n_tr,
            "slope_change": S if spec.scale != "linear" else S * n_tr,
            "level_change_per_trust": L,
            "slope_change_per_trust": S,
            "aggregate": AGGREGATE[spec.scale],
            "note": spec.note,
            "system": hz,
        })

    data = pd.concat(frames, ignore_index=True)
    # A realistic reporting gap: one comparator sent no A&E 4-hour figures for three months
    gap = (data["org_code"] == "ZZ029") & (data["metric"] == "ae_4h_pct") & data["period"].isin(
        ["2021-05", "2021-06", "2021-07"])
    data.loc[gap, ["value", "numerator"]] = np.nan
    data["source"] = SYNTHETIC_NOTE
    truth = {
        "synthetic": True,
        "note": SYNTHETIC_NOTE,
        "seed": seed,
        "periods": {"first": START, "last": END},
        "interruptions": [{"name": "covid", "date": COVID}, {"name": "collaborative", "date": FORMATION}],
        "treated_units": [c for c, _, _ in TREATED],
        "comparator_units": units.loc[~units["treated"], "org_code"].tolist(),
        "unit_sizes": dict(zip(units["org_code"], units["size"].astype(float))),
        "horizons": list(HORIZONS),
        "effects": truth_effects,
        "collaboratives": _collaboratives_truth(),
    }
    return data, truth


def collaboratives() -> list[dict]:
    """The demo's collaboratives: id, name, members, joined (the Black Country four, then the
    comparators' own, :data:`COMPARATOR_COLLABORATIVES`)."""
    out = [{"id": TREATED_COLLABORATIVE[0], "name": TREATED_COLLABORATIVE[1], "members": [c for c, _, _ in TREATED],
            "joined": FORMATION}]
    k = 0
    for j, (size, joined) in enumerate(COMPARATOR_COLLABORATIVES, start=1):
        members = [f"ZZ{k + i + 1:03d}" for i in range(size)]
        k += size
        out.append({"id": f"demo_c{j:02d}", "name": f"Demo Collaborative {j:02d} (SYNTHETIC)", "members": members,
                    "joined": joined})
    assert k == N_COMPARATORS
    return out


def _collaboratives_truth() -> list[dict]:
    out = []
    for c in collaboratives():
        bc = c["id"] == TREATED_COLLABORATIVE[0]
        out.append({**c, "planted": bc,
                    "note": ("the planted effects are those of `effects` (every metric, from the joining date)" if bc
                             else "no planted effect (a null): planting one would change the comparators' rows and "
                                  "so the Black Country demo")})
    return out


def memberships_csv() -> str:
    """The demo's membership table (collaboratives.csv), as text."""
    lines = [MEMBERSHIP_HEADER.rstrip("\n"), "collaborative_id,collaborative_name,org_code,joined,left"]
    for c in collaboratives():
        lines += [f"{c['id']},{c['name']},{m},{c['joined']}," for m in c["members"]]
    return "\n".join(lines) + "\n"


def generate(out_dir: str | Path = "data/demo", seed: int = SEED) -> dict[str, Path]:
    """Write metrics.csv, metrics.meta.json, truth.json, README.txt and collaboratives.csv into ``out_dir``.

    Deterministic: the same seed writes byte-identical files. ParameterError for a seed
    that is not a whole number from 0 to 2**63 - 1, or an ``out_dir`` that is a file or
    cannot be created.
    """
    out = _check_arguments(out_dir, seed)
    data, truth = generate_frame(seed)
    csv = data.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    paths = {"metrics": out / "metrics.csv", "meta": out / "metrics.meta.json",
             "truth": out / "truth.json", "readme": out / "README.txt",
             "collaboratives": out / "collaboratives.csv"}
    atomic_write_bytes(paths["metrics"], csv.encode("utf-8"))
    meta = {"synthetic": True, "note": SYNTHETIC_NOTE, "seed": seed, "generator": "evallib.data.demo"}
    atomic_write_bytes(paths["meta"], (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    atomic_write_bytes(paths["truth"], (json.dumps(truth, indent=2, sort_keys=False) + "\n").encode())
    readme = (f"SYNTHETIC DATA - NOT REAL NHS FIGURES\n\n"
              f"Written by `evallib demo-data` (seed {seed}).\n"
              f"metrics.csv  tidy table: 4 Black Country trusts + {N_COMPARATORS} synthetic comparators,\n"
              f"             {START} to {END}, {len(SPECS)} metrics; column `source` marks every row SYNTHETIC.\n"
              f"truth.json   the planted collaborative effects and deliberate nulls.\n"
              f"collaboratives.csv  which collaborative each trust joined, and when (staggered 2020-2022).\n")
    atomic_write_bytes(paths["readme"], readme.encode())
    atomic_write_bytes(paths["collaboratives"], memberships_csv().encode())
    logger.info("wrote %d rows to %s", len(data), paths["metrics"])
    return paths


def _check_arguments(out_dir: str | Path, seed) -> Path:
    """The output folder (created), after checking ``seed`` and ``out_dir``; ParameterError otherwise."""
    from evallib.exceptions import ParameterError
    from evallib.inputs import os_error_message

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= 2**63 - 1:
        raise ParameterError(f"--seed: value {seed!r}: the seed must be a whole number from 0 to "
                             f"{2**63 - 1} (default {SEED})")
    out = Path(out_dir)
    if os.path.lexists(out) and not out.is_dir():
        raise ParameterError(f"--out: {out} is a file, not a folder; demo-data writes a folder (metrics.csv, "
                             f"metrics.meta.json, truth.json, README.txt): name a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"--out: {os_error_message(exc, exc.filename or out, 'output folder')}") from None
    return out


def demo_data_command(args) -> int:
    if getattr(args, "national", False):
        from evallib.data.demo_national import generate_national

        paths = generate_national(args.out or "data/england", args.seed)
        print(f"SYNTHETIC national demo data written to {paths['metrics']} (memberships: "
              f"{paths['collaboratives']}; truth: {paths['truth']})")
        return 0
    paths = generate(args.out or "data/demo", args.seed)
    print(f"SYNTHETIC demo data written to {paths['metrics']} (truth: {paths['truth']})")
    return 0
