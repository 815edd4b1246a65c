"""The SYNTHETIC national demo: every provider collaborative in a synthetic England, 2016-04 to 2025-03.

SYNTHETIC DATA. Nothing here is a real NHS figure, code or name. The series are made by the machinery
of :mod:`evallib.data.demo` (its :data:`~evallib.data.demo.SPECS`, the nonlinear COVID-19 shapes with
each trust's own level and slope change at 2020-03, the AR(1) noise, log-normal trust sizes), for:

- :data:`N_COLLABORATIVES` collaboratives ``c01``.. of 3-5 trusts each, formed in the waves of
  :data:`FORMATION_WAVES`: three early ones (2020-09, 2020-12, 2021-01), the rest from 2021-04 to
  2022-07, as NHS England's guidance "Working together at scale" (August 2021) pushed; every member
  of a collaborative joins at its formation;
- :data:`N_NEVER` trusts that never join one (think of specialist trusts outside the acute
  collaboratives). After July 2022 they are the only not-yet-treated comparators, and they are
  what lets the latest collaboratives be estimated at all.

Codes are ``ZZ001``.. (typed ``nhs_trust`` by evallib/data/unit_types.csv; never real ODS codes),
assigned to collaboratives in a seeded random order; names are "Synthetic Trust 017" and
"Demo Collaborative 07 (SYNTHETIC)".

**Planted effects.** In :data:`N_PLANTED` collaboratives (one drawn from each run of three in
formation order, so every wave has some), for 3-5 of the measures of :data:`PLANTABLE` (with
``rtt_18w_pct`` whenever ``rtt_waiting_list`` is drawn: the waiting list is its denominator), each
member trust gets from the formation month ``f`` the effect, at ``e = months since f``::

    multiplier * (level * min((e + 1) / RAMP_MONTHS, 1) + slope * e)       (e >= 0; 0 before)

on the generation scale of :mod:`evallib.data.demo` (log for counts, so multiplicative;
percentage points; GBP thousands times the trust's size for agency spend), with ``level, slope``
from :data:`PLANTABLE` (the demo's SPECS effects) and a multiplier drawn from 1 to 2 per cell.
Every other collaborative x measure cell is a null; ``ae_4h_pct`` and
``critical_care_occupancy_pct`` are nulls everywhere (control outcomes).

**Truth, exactly.** Each series is generated twice from the same random numbers, with and without
the planted effects: the same AR(1) noise, and the observation noise as common random numbers
(the Poisson count and the binomial numerator are the inverse CDF of one uniform draw per
trust-month). ``truth.json`` holds the differences of the two: for every collaborative and
measure, its members combined as the pack combines them (sums; percentages as summed numerators
over summed denominators) at horizons 0, 6, 12 and 24 months after formation; and under
``national``, for every measure and event time -12..24, the average over member trusts of the
trust-level difference (the Callaway & Sant'Anna ATT(e) with cohorts = joining month). A null's
with and without series are the same numbers, so its truth is exactly zero.
:func:`generate_national_frame` ``(seed, planted=False)`` returns the series without the effects.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from evallib.data import demo
from evallib.data.demo import SPECS, SYNTHETIC_NOTE, Spec, calendar, counterfactual, unit_draws, unit_sizes, volume
from evallib.fsutil import atomic_write_bytes

logger = logging.getLogger(__name__)

SEED = demo.SEED          # the `evallib demo-data --seed` default serves both generators
GENERATOR = "evallib.data.demo_national"
START, END, COVID = demo.START, demo.END, demo.COVID
HORIZONS = demo.HORIZONS
EVENT_TIMES = range(-12, 25)
#: (formation month, number of collaboratives formed then): 44 in all, all by July 2022
FORMATION_WAVES = [("2020-09", 1), ("2020-12", 1), ("2021-01", 1), ("2021-04", 6), ("2021-07", 4),
                   ("2021-10", 6), ("2022-01", 5), ("2022-04", 10), ("2022-07", 10)]
N_COLLABORATIVES = sum(k for _, k in FORMATION_WAVES)
MEMBER_SIZES, MEMBER_SIZE_P = (3, 4, 5), (0.4, 0.4, 0.2)
N_NEVER = 22
N_PLANTED = 15              # about a third: one from each run of three collaboratives in formation order
RAMP_MONTHS = 6
MULTIPLIER = (1.0, 2.0)
#: per-trust (level, slope) at multiplier 1, on the generation scale: the demo's SPECS effects (ENT,
#: a null in the demo, gets dermatology's). ae_4h_pct and critical_care_occupancy_pct are never planted.
PLANTABLE = {s.metric: s.effect for s in SPECS if s.effect != (0.0, 0.0)}
PLANTABLE["rtt_waiting_list_ent"] = (-0.08, 0.0)
PLANTABLE = {s.metric: PLANTABLE[s.metric] for s in SPECS if s.metric in PLANTABLE}   # SPECS order
#: the one reporting gap: a never-joining trust sent no A&E figures for three months
GAP_METRIC, GAP_PERIODS = "ae_4h_pct", ("2021-05", "2021-06", "2021-07")
FILES = ("metrics.csv", "metrics.meta.json", "collaboratives.csv", "truth.json", "README.txt")
MEMBERSHIP_HEADER = """# SYNTHETIC demo data: not real NHS figures, codes or names. The provider collaboratives of a
# synthetic England (evallib/data/demo_national.py), in the format of evallib/data/collaboratives.csv
# (evallib/data/memberships.py): collaborative_id, collaborative_name, org_code, joined (YYYY-MM),
# left (optional YYYY-MM). Every member joins at its collaborative's formation.
"""


@dataclass(frozen=True)
class Collaborative:
    id: str
    name: str
    formation: str
    members: tuple
    planted: dict          # metric -> multiplier (empty: a null collaborative)


@dataclass(frozen=True)
class England:
    """The units and who joined what: the structure of the national demo, drawn from the seed."""

    codes: tuple            # ZZ001.., every trust
    names: tuple
    sizes: np.ndarray       # relative trust sizes, in code order (drawn with the series)
    collaboratives: tuple   # of Collaborative, in formation order
    never: tuple            # codes of the trusts that never join
    gap_unit: str

    def join_month(self) -> dict:
        return {m: c.formation for c in self.collaboratives for m in c.members}


def england(seed: int = SEED) -> England:
    """The national demo's structure for ``seed`` (its own random stream: the series use another)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    sizes_c = rng.choice(MEMBER_SIZES, size=N_COLLABORATIVES, p=MEMBER_SIZE_P)
    n_units = int(sizes_c.sum()) + N_NEVER
    codes = tuple(f"ZZ{k + 1:03d}" for k in range(n_units))
    names = tuple(f"Synthetic Trust {k + 1:03d}" for k in range(n_units))
    order = rng.permutation(n_units)
    formations = [month for month, k in FORMATION_WAVES for _ in range(k)]
    groups = np.array_split(np.arange(N_COLLABORATIVES), N_PLANTED)
    planted_ids = {int(rng.choice(g)) for g in groups}
    plantable = list(PLANTABLE)
    out, k = [], 0
    for j in range(N_COLLABORATIVES):
        members = tuple(sorted(codes[i] for i in order[k:k + sizes_c[j]]))
        k += sizes_c[j]
        planted = {}
        if j in planted_ids:
            picks = set(rng.choice(plantable, size=int(rng.integers(3, 6)), replace=False))
            if "rtt_waiting_list" in picks:
                picks.add("rtt_18w_pct")
            planted = {m: round(float(rng.uniform(*MULTIPLIER)), 2) for m in plantable if m in picks}
        out.append(Collaborative(f"c{j + 1:02d}", f"Demo Collaborative {j + 1:02d} (SYNTHETIC)", formations[j],
                                 members, planted))
    never = tuple(sorted(codes[i] for i in order[k:]))
    return England(codes=codes, names=names, sizes=np.empty(0), collaboratives=tuple(out), never=never,
                   gap_unit=never[0])


# ------------------------------------------------------------------ observation noise, common random numbers
def _poisson(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    from scipy.stats import poisson

    return poisson.ppf(u, lam)


def _binomial(u: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    from scipy.stats import binom

    return binom.ppf(u, n, p)


def _effect_matrix(eng: England, spec: Spec, cal, size: np.ndarray) -> np.ndarray:
    """Units x months: the planted effect of ``spec.metric`` on the generation scale (0 for nulls)."""
    E = np.zeros((len(eng.codes), cal.n))
    if spec.metric not in PLANTABLE:
        return E
    L, S = PLANTABLE[spec.metric]
    row = {c: i for i, c in enumerate(eng.codes)}
    for c in eng.collaboratives:
        mult = c.planted.get(spec.metric)
        if mult is None:
            continue
        e = cal.since(c.formation)
        on = e >= 0
        shape = np.where(on, mult * (L * np.minimum((e + 1) / RAMP_MONTHS, 1.0) + S * np.maximum(e, 0.0)), 0.0)
        for m in c.members:
            i = row[m]
            E[i] = shape * (size[i, 0] if spec.scale == "linear" else 1.0)
    return E


def _series(seed: int):
    """Both worlds' series: ``(england, calendar, {metric: (with, without)})`` where each is a dict of
    units x months arrays ``value``, ``numerator``, ``denominator``."""
    eng = england(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    cal = calendar()
    U, n = len(eng.codes), cal.n
    eng = replace(eng, sizes=np.round(unit_sizes(rng, U), 3))
    size = eng.sizes[:, None]
    nan = np.full((U, n), np.nan)
    out = {}
    for spec in SPECS:
        a, b, unit_off, noise = unit_draws(spec, rng, U, n)
        cf = counterfactual(spec, cal, size, a, b, unit_off)
        E = _effect_matrix(eng, spec, cal, size)
        hit = E != 0
        u = np.clip(rng.random((U, n)), 1e-12, 1 - 1e-12)   # the inverse CDFs are finite on (0, 1)
        if spec.scale == "log":
            v0 = _poisson(u, np.exp(cf + noise))
            v1 = v0.copy()
            v1[hit] = _poisson(u[hit], np.exp(cf + E + noise)[hit])
            worlds = [{"value": v, "numerator": nan, "denominator": nan} for v in (v1, v0)]
        elif spec.scale == "pp":
            if spec.metric == "rtt_18w_pct":      # the denominator is the waiting list itself
                d1, d0 = (w["value"] for w in out["rtt_waiting_list"])
            else:
                d1 = d0 = volume(spec, cal, size, rng)
            p0 = np.clip((cf + noise) / 100.0, 0.01, 0.995)
            p1 = np.clip((cf + E + noise) / 100.0, 0.01, 0.995)
            x0 = _binomial(u, d0, p0)
            x1 = x0.copy()
            redo = hit | (d1 != d0)
            x1[redo] = _binomial(u[redo], d1[redo], p1[redo])
            worlds = [{"value": np.round(100.0 * x / d, 4), "numerator": x, "denominator": d}
                      for x, d in ((x1, d1), (x0, d0))]
        else:  # linear money
            worlds = [{"value": np.round(cf + eff + noise * size, 1), "numerator": nan, "denominator": nan}
                      for eff in (E, 0.0)]
        if spec.metric == GAP_METRIC:
            i, cols = eng.codes.index(eng.gap_unit), [cal.labels.index(p) for p in GAP_PERIODS]
            for w in worlds:
                for key in ("value", "numerator"):
                    w[key] = w[key].copy()
                    w[key][i, cols] = np.nan
        out[spec.metric] = tuple(worlds)
    return eng, cal, out


def _frame(eng: England, cal, series: dict, world: int) -> pd.DataFrame:
    U, n = len(eng.codes), cal.n
    frames = []
    for spec in SPECS:
        w = series[spec.metric][world]
        frames.append(pd.DataFrame({
            "period": np.tile(cal.labels, U),
            "org_code": np.repeat(np.array(eng.codes), n),
            "org_name": np.repeat(np.array(eng.names), n),
            "metric": spec.metric,
            "value": w["value"].ravel(),
            "numerator": w["numerator"].ravel(),
            "denominator": w["denominator"].ravel(),
        }))
    data = pd.concat(frames, ignore_index=True)
    data["source"] = SYNTHETIC_NOTE
    return data


def generate_national_frame(seed: int = SEED, planted: bool = True) -> pd.DataFrame:
    """The national tidy table for ``seed``; ``planted=False``: the same series without the planted
    effects (same noise), the counterfactual world that truth.json is computed against."""
    eng, cal, series = _series(seed)
    return _frame(eng, cal, series, 0 if planted else 1)


# ------------------------------------------------------------------ truth
def _combined(w: dict, rows: list, scale: str) -> np.ndarray:
    """Members combined as the pack combines them: sums; percentages as 100 * sum(num) / sum(den)."""
    if scale == "pp":
        return 100.0 * w["numerator"][rows].sum(0) / w["denominator"][rows].sum(0)
    return w["value"][rows].sum(0)


def _truth(eng: England, cal, series: dict, seed: int) -> dict:
    row = {c: i for i, c in enumerate(eng.codes)}
    specs = {s.metric: s for s in SPECS}
    collabs = []
    for c in eng.collaboratives:
        rows = [row[m] for m in c.members]
        f = cal.labels.index(c.formation)
        cells = {}
        for spec in SPECS:
            w1, w0 = series[spec.metric]
            y1, y0 = _combined(w1, rows, spec.scale), _combined(w0, rows, spec.scale)
            mult = c.planted.get(spec.metric)
            L, S = PLANTABLE.get(spec.metric, (0.0, 0.0))
            hz = {}
            for h in HORIZONS:
                i = f + h
                d = float(y1[i] - y0[i])
                hz[str(h)] = {"period": cal.labels[i], "counterfactual": round(float(y0[i]), 6),
                              "with_effect": round(float(y1[i]), 6), "absolute": round(d, 6),
                              "relative": round(d / float(y0[i]), 8),
                              "relative_pct": round(100.0 * d / float(y0[i]), 6)}
            cells[spec.metric] = {
                "planted": mult is not None,
                "multiplier": mult if mult is not None else 0.0,
                "level_change_per_trust": round(mult * L, 6) if mult is not None else 0.0,
                "slope_change_per_trust": round(mult * S, 6) if mult is not None else 0.0,
                "horizons": hz}
        collabs.append({"id": c.id, "name": c.name, "formation": c.formation, "members": list(c.members),
                        "planted": bool(c.planted), "planted_metrics": list(c.planted), "cells": cells})

    join = eng.join_month()
    members = [(row[m], cal.labels.index(g)) for m, g in join.items()]
    national = {}
    for spec in SPECS:
        w1, w0 = series[spec.metric]
        by_e = {}
        for e in EVENT_TIMES:
            d, base = [], []
            for i, g in members:
                t = g + e
                if 0 <= t < cal.n and np.isfinite(w1["value"][i, t]) and np.isfinite(w0["value"][i, t]):
                    d.append(w1["value"][i, t] - w0["value"][i, t])
                    base.append(w0["value"][i, t])
            by_e[str(e)] = {"att": round(float(np.mean(d)), 6), "counterfactual_mean": round(float(np.mean(base)), 6),
                            "n_trusts": len(d),
                            "n_cohorts": len({g for i, g in members if 0 <= g + e < cal.n})}
        national[spec.metric] = {"unit": specs[spec.metric].unit, "planted_anywhere": spec.metric in PLANTABLE
                                 and any(spec.metric in c.planted for c in eng.collaboratives),
                                 "event_time": by_e}
    scale_words = {"log": "log (multiplicative: level and slope are log ratios per trust)",
                   "pp": "percentage points (additive)",
                   "linear": "GBP thousands (additive, times the trust's size)"}
    return {
        "synthetic": True, "note": SYNTHETIC_NOTE, "seed": seed, "generator": GENERATOR,
        "periods": {"first": START, "last": END},
        "interruptions": [{"name": "covid", "date": COVID}],
        "horizons": list(HORIZONS),
        "effect_shape": (f"from the formation month f, at e = months since f: multiplier * (level * "
                         f"min((e + 1) / {RAMP_MONTHS}, 1) + slope * e), on the measure's generation scale; "
                         f"0 before f"),
        "truth_method": ("with-effect minus without-effect series generated from the same random numbers "
                         "(AR(1) noise and common-random-number Poisson/binomial draws); horizons: members "
                         "combined (sum, or 100 * summed numerators / summed denominators); national: mean "
                         "over member trusts observed at event time e of the trust-level difference "
                         "(Callaway & Sant'Anna ATT(e), cohorts = joining month)"),
        "measures": [{"metric": s.metric, "unit": s.unit, "aggregate": demo.AGGREGATE[s.scale],
                      "scale": scale_words[s.scale], "plantable": s.metric in PLANTABLE,
                      "level_change_per_trust_at_1x": PLANTABLE.get(s.metric, (0.0, 0.0))[0],
                      "slope_change_per_trust_at_1x": PLANTABLE.get(s.metric, (0.0, 0.0))[1]} for s in SPECS],
        "unit_sizes": dict(zip(eng.codes, (float(x) for x in eng.sizes))),
        "never_joined": list(eng.never),
        "reporting_gap": {"org_code": eng.gap_unit, "metric": GAP_METRIC, "periods": list(GAP_PERIODS)},
        "collaboratives": collabs,
        "national": national,
    }


def memberships_csv(eng: England) -> str:
    """The national demo's membership table (collaboratives.csv), as text."""
    lines = [MEMBERSHIP_HEADER.rstrip("\n"),
             f"# Trusts in no collaborative ({len(eng.never)}; comparators that are never treated): "
             f"{' '.join(eng.never)}",
             "collaborative_id,collaborative_name,org_code,joined,left"]
    for c in eng.collaboratives:
        lines += [f"{c.id},{c.name},{m},{c.formation}," for m in c.members]
    return "\n".join(lines) + "\n"


def _readme(eng: England, truth: dict, seed: int) -> str:
    waves = [f"{m} ({sum(c.formation == m for c in eng.collaboratives)})" for m, _ in FORMATION_WAVES]
    n_members = sum(len(c.members) for c in eng.collaboratives)
    planted = [c for c in truth["collaboratives"] if c["planted"]]
    units = {s.metric: "pp" if s.unit == "%" else s.unit for s in SPECS}
    lines = [
        "SYNTHETIC DATA - NOT REAL NHS FIGURES, CODES OR NAMES", "",
        f"Written by `evallib demo-data --national` (evallib/data/demo_national.py, seed {seed}).", "",
        f"metrics.csv         tidy table: {len(eng.codes)} synthetic trusts, {START} to {END}, "
        f"{len(SPECS)} metrics;",
        "                    column `source` marks every row SYNTHETIC.",
        f"collaboratives.csv  {len(eng.collaboratives)} collaboratives of 3-5 trusts ({n_members} trusts), "
        f"every member",
        "                    joining at formation. Formations by month (collaboratives):",
        f"                    {', '.join(waves[:5])},",
        f"                    {', '.join(waves[5:])}.",
        f"                    {len(eng.never)} trusts never join one (e.g. specialist trusts outside the acute",
        "                    collaboratives): after July 2022 they are the only not-yet-treated comparators.",
        "truth.json          true effects at 0, 6, 12, 24 months of every collaborative x measure, and the",
        "                    national average effect per trust by event time -12..24 (ATT(e)), each the",
        "                    difference of the series generated with and without the effects (same noise).",
        f"A reporting gap: {eng.gap_unit} sent no {GAP_METRIC} figures for {', '.join(GAP_PERIODS)}.", "",
        f"Planted effects, in {len(planted)} collaboratives (every other cell is an exact null), true at 12 months:",
    ]
    for c in planted:
        for metric in c["planted_metrics"]:
            cell = c["cells"][metric]
            h = cell["horizons"]["12"]
            lines.append(f"  {c['id']}  {c['formation']}  {len(c['members'])} trusts  {metric:<31} "
                         f"x{cell['multiplier']:<5.2f} {h['absolute']:+.2f} {units[metric]} "
                         f"({h['relative_pct']:+.1f}%)")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ writing
def _check_ours(out: Path) -> None:
    """ParameterError when ``out`` holds one of :data:`FILES` that this generator did not write (its
    metrics.meta.json does not name it): demo-data --national replaces only its own output."""
    from evallib.exceptions import ParameterError

    present = [name for name in FILES if os.path.lexists(out / name)]
    if not present:
        return
    meta, why = out / "metrics.meta.json", None
    try:
        doc = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() and not meta.is_symlink() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    if not isinstance(doc, dict):
        why = f"{meta} is missing or unreadable"
    elif doc.get("generator") != GENERATOR or doc.get("synthetic") is not True:
        why = f"{meta} names generator {doc.get('generator')!r}, not {GENERATOR!r}"
    else:
        links = [name for name in present if (out / name).is_symlink() or not (out / name).is_file()]
        if links:
            why = f"{out / links[0]} is not a regular file"
    if why:
        raise ParameterError(f"--out: {out} already holds {', '.join(present)}, not written by `evallib demo-data "
                             f"--national` ({why}); it replaces only its own output: choose a new or empty "
                             f"folder (e.g. --out data/england), or remove those files")


def generate_national(out_dir: str | Path = "data/england", seed: int = SEED) -> dict[str, Path]:
    """Write metrics.csv, metrics.meta.json, collaboratives.csv, truth.json and README.txt into ``out_dir``.

    Deterministic: the same seed writes byte-identical files. ParameterError for a bad seed or
    ``out_dir`` (as :func:`evallib.data.demo.generate`), and when ``out_dir`` already holds one of
    those files that this generator did not write.
    """
    t0 = time.perf_counter()
    out = demo._check_arguments(out_dir, seed)
    _check_ours(out)
    seed = int(seed)
    eng, cal, series = _series(seed)
    data = _frame(eng, cal, series, 0)
    truth = _truth(eng, cal, series, seed)
    csv = data.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    paths = {"metrics": out / "metrics.csv", "meta": out / "metrics.meta.json",
             "collaboratives": out / "collaboratives.csv", "truth": out / "truth.json", "readme": out / "README.txt"}
    meta = {"synthetic": True, "note": SYNTHETIC_NOTE, "seed": seed, "generator": GENERATOR}
    # the meta file first: a run interrupted after it leaves a folder the next run may replace
    atomic_write_bytes(paths["meta"], (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    atomic_write_bytes(paths["metrics"], csv.encode("utf-8"))
    atomic_write_bytes(paths["collaboratives"], memberships_csv(eng).encode())
    atomic_write_bytes(paths["truth"], (json.dumps(truth, indent=2) + "\n").encode())
    atomic_write_bytes(paths["readme"], _readme(eng, truth, seed).encode())
    logger.info("wrote %d rows (%d trusts, %d collaboratives) to %s in %.1f s", len(data), len(eng.codes),
                len(eng.collaboratives), paths["metrics"], time.perf_counter() - t0)
    return paths
