"""National packs: one analysis per provider collaborative and measure, from the membership table.

A pack YAML with a ``national:`` section (schema :class:`evallib.config.NationalOptions`)::

    defaults:
      data: ../data/england/metrics.csv
      memberships: ../data/england/collaboratives.csv
      ...
    national:
      measures: [rtt_waiting_list, cancer_62d_pct]
      collaboratives: all            # or a list of collaborative ids
      exclude: []                    # ids left out (say why in a comment)
      covid: 2020-03                 # added as an interruption when it falls before formation
      depth: brief                   # the per-collaborative pages (evallib.config.Params.depth)
      event_time: true               # one national event-time page per measure

expands (:func:`expand`) into, for every collaborative ``c`` and measure ``m``, an analysis
``<c>_<m>``: the members of ``c`` combined (counts and money summed; percentages as summed
numerators over summed denominators when the table has them, else the mean), interrupted at
COVID-19 and at the collaborative's formation (the earliest ``joined`` of its members; a member
joining later is counted in the system from formation), compared with the trusts not yet in any
collaborative (``comparators: not_yet_treated``, the default with a membership table). With
``event_time`` every measure also gets ``national_<m>``, run by the notebook
``national_event_time``: the average effect by time since formation over all collaboratives
(Callaway & Sant'Anna 2021).

**Cache key of a collaborative analysis** (:func:`slice_sha256`): instead of the whole table's
hash, the hash of what the analysis reads: the set of (trust, period) rows of its measure (so a
new month, or a trust added or removed, rebuilds everything), the values of its own members' rows,
and the values of every other trust's rows up to the period before that trust joined a
collaborative (what ``not_yet_treated`` lets a comparator contribute). A correction to one
collaborative's figures after its formation therefore rebuilds that collaborative's analyses of
that measure (and the measure's event-time page, keyed on all the measure's rows), and nothing else. A change to a trust's rows before
it joined rebuilds every analysis that may use it as a comparator.

**Rebuilds stay cheap.** What the expansion and the keys need from the table (its trusts, periods,
which percentages have numerators, and each analysis' slice hash) is kept in the manifest
(``national.cache``) with the sha256 of the data and membership files; when both files are
unchanged the next build reuses it without reading the table.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from evallib.exceptions import ParameterError

VALUE_COLUMNS = ("value", "numerator", "denominator")



def _resolve(value, base: Path) -> Path | None:
    if value in (None, ""):
        return None
    p = Path(str(value))
    return p if p.is_absolute() else (base / p)


class _Facts:
    """What the expansion checks against the table, without the table (a stand-in for
    :meth:`evallib.data.memberships.Memberships.validate_against`)."""

    def __init__(self, facts: dict, source: str):
        self.frame = pd.DataFrame({"org_code": facts["org_codes"] + [facts["org_codes"][0]] * 2,
                                   "period": [facts["first"]] * len(facts["org_codes"]) + [facts["first"], facts["last"]]})
        self.source = source


class NationalBuild:
    """One build of a national pack: expands the analyses and keys them (module docstring).

    ``previous``: the manifest of the pack being replaced (its ``national.cache`` is reused when
    the data and membership files are unchanged)."""

    def __init__(self, previous: dict | None = None):
        nat = (previous or {}).get("national") or {}
        self._prev = nat.get("cache") if isinstance(nat.get("cache"), dict) else {}
        self._table = None
        self._per_metric: dict[str, tuple] = {}
        self.cache: dict = {}

    # ------------------------------------------------------------------ the table, only when needed
    def _load(self, dpath: Path):
        if self._table is None:
            from evallib.data.table import load_table

            self._table = load_table(dpath)
        return self._table

    def _facts(self, dpath: Path, data_sha: str) -> dict:
        if self._prev.get("data_sha256") == data_sha and isinstance(self._prev.get("facts"), dict):
            return self._prev["facts"]
        from evallib.metrics import metric_info

        t = self._load(dpath)
        f = t.frame
        ratio = []
        for m in t.metrics():
            info = metric_info(m)
            if info.unit == "%" or info.kind == "proportion":
                fm = t.for_metric(m)
                if fm["numerator"].notna().any() and fm["denominator"].notna().any():
                    ratio.append(m)
        return {"org_codes": sorted(map(str, f["org_code"].unique())), "first": str(f["period"].min()),
                "last": str(f["period"].max()), "metrics": sorted(t.metrics()), "ratio": sorted(ratio),
                "freq": t.freq}

    # ------------------------------------------------------------------ expansion
    def expand(self, pack, base: Path, source: str) -> list[dict]:
        """The analyses of ``pack.national`` (see the module docstring), as raw params entries."""
        from evallib.batch.cache import file_sha256
        from evallib.data.memberships import load_memberships
        from evallib.metrics import known_metric, metric_info
        from evallib.periods import format_period, parse_period

        nat = pack.national
        d = pack.defaults
        mpath, dpath = _resolve(d.get("memberships"), base), _resolve(d.get("data"), base)
        if mpath is None:
            raise ParameterError(f"{source}: national: needs defaults.memberships, the membership table "
                                 f"(evallib/data/collaboratives.csv shows the format)")
        if dpath is None:
            raise ParameterError(f"{source}: national: needs defaults.data, the tidy table")
        if not dpath.is_file():
            raise ParameterError(f"{source}: defaults.data: value {str(dpath)!r}: file not found (run `make demo` "
                                 f"for the demo tables, or fix the path)")
        if not mpath.is_file():
            raise ParameterError(f"{source}: defaults.memberships: value {str(mpath)!r}: file not found (run "
                                 f"`make demo` for the demo tables, or fix the path)")
        data_sha, ms_sha = file_sha256(dpath), file_sha256(mpath)
        facts = self._facts(dpath, data_sha)
        ms = load_memberships(mpath).validate_against(_Facts(facts, str(dpath)))
        self.cache = {"data_sha256": data_sha, "memberships_sha256": ms_sha, "facts": facts, "slices": {}}
        self._paths = (dpath, mpath)
        self._ms = ms
        have = ms.collaboratives()
        wanted = have if nat.collaboratives == "all" else list(nat.collaboratives)
        for c in list(wanted) + list(nat.exclude):
            if c not in have:
                raise ParameterError(f"{source}: national: collaborative {c!r} is not in {mpath} (have "
                                     f"{', '.join(have[:12])}{', ...' if len(have) > 12 else ''}): use one of its ids")
        wanted = [c for c in wanted if c not in set(nat.exclude)]
        for m in nat.measures:
            if m not in facts["metrics"]:
                raise ParameterError(f"{source}: national.measures: {m!r} is not in the data {dpath} (have "
                                     f"{', '.join(facts['metrics'][:12])}): correct the measure id")
        aggregate = {}
        for m in nat.measures:
            info = metric_info(m)
            aggregate[m] = (("ratio" if m in facts["ratio"] else "mean")
                            if (info.unit == "%" or info.kind == "proportion") else "sum")
        covid = parse_period(nat.covid) if nat.covid else None
        out: list[dict] = []
        for c in wanted:
            formation = ms.formation(c)
            name = ms.name(c)
            ints = []
            if covid is not None and covid < formation:
                ints.append({"name": "covid", "date": format_period(covid)})
            ints.append({"name": "collaborative", "date": format_period(formation)})
            for m in nat.measures:
                label = metric_info(m).label if known_metric(m) else m.replace("_", " ")
                out.append({"id": f"{c}_{m}", "metric": m, "title": f"{name}: {label}", "units": ms.members(c),
                            "aggregate": aggregate[m], "interruptions": ints, "collaborative": c,
                            "depth": nat.depth})
        if nat.event_time:
            first = min(ms.formation(c) for c in wanted)
            ints = ([{"name": "covid", "date": format_period(covid)}] if covid is not None and covid < first else [])
            ints.append({"name": "collaborative", "date": format_period(first)})
            members = list(dict.fromkeys(u for c in wanted for u in ms.members(c)))
            for m in nat.measures:
                label = metric_info(m).label if known_metric(m) else m.replace("_", " ")
                out.append({"id": f"national_{m}", "metric": m, "notebook": nat.event_time_notebook,
                            "title": f"All collaboratives: {label} by time since formation", "units": members,
                            "aggregate": aggregate[m], "interruptions": ints,
                            "horizons": list(range(0, nat.event_times[1] + 1, 6)), "depth": nat.depth})
        return out

    # ------------------------------------------------------------------ keys
    def _metric_rows(self, metric: str):
        """Per metric, once: the sorted rows, the hash of their (trust, period) keys, their values, and
        which rows any other analysis may read (the trust not yet in a collaborative then)."""
        if metric not in self._per_metric:
            from evallib.its.comparators import clean_until

            t = self._load(self._paths[0])
            f = t.frame[t.frame["metric"] == metric]
            keys = f[["org_code", "period"]].astype(str)
            order = np.lexsort((keys["period"].to_numpy(), keys["org_code"].to_numpy()))
            f, keys = f.iloc[order], keys.iloc[order]
            codes = keys["org_code"].to_numpy()
            clean = clean_until(sorted(set(codes)), self._ms, t.freq)
            limit = pd.Series(codes).map(lambda c: clean.get(c) or "\uffff").to_numpy(dtype=object)
            comparable = keys["period"].to_numpy(dtype=object) <= limit
            cols = [c for c in VALUE_COLUMNS if c in f.columns]
            vals = f[cols].to_numpy(dtype=float)
            key_hash = hashlib.sha256(pd.util.hash_pandas_object(keys, index=False).to_numpy().tobytes()).hexdigest()
            self._per_metric[metric] = (codes, comparable.astype(bool), vals, key_hash)
        return self._per_metric[metric]

    def slice_key(self, metric: str, units: list[str] | None = None) -> str:
        """The hash of the rows of ``metric`` an analysis of ``units`` reads (its members' rows, and the
        other trusts' rows before they joined); ``units=None``: every row (an event-time page)."""
        codes, comparable, vals, key_hash = self._metric_rows(metric)
        v = vals if units is None else vals[comparable | np.isin(codes, list(units))]
        h = hashlib.sha256(key_hash.encode("ascii"))
        h.update(np.ascontiguousarray(np.nan_to_num(v, nan=np.pi * 1e300)).tobytes())
        h.update(np.ascontiguousarray(np.isnan(v)).tobytes())
        return h.hexdigest()

    def make_jobs(self, pack, params_list, base: Path) -> list:
        """The jobs of a national pack: collaborative analyses keyed on their slice of the table, the
        event-time pages on their measure's rows (slice keys reused from the previous manifest when the
        data and membership files are unchanged)."""
        from evallib.batch.cache import canonical_json, sha_text, source_sha256
        from evallib.batch.jobs import make_job

        src = source_sha256()
        same = (self._prev.get("data_sha256") == self.cache.get("data_sha256")
                and self._prev.get("memberships_sha256") == self.cache.get("memberships_sha256"))
        prev_slices = self._prev.get("slices") if same and isinstance(self._prev.get("slices"), dict) else {}
        nb_event = pack.national.event_time_notebook
        jobs = []
        for p in params_list:
            if p.memberships is None or (p.collaborative is None and p.notebook != nb_event):
                jobs.append(make_job(p, base, source_sha=src))
                continue
            units = list(p.units) if p.collaborative is not None else None
            what = sha_text(canonical_json([p.metric, units if units is not None else "all rows"]))
            hit = prev_slices.get(p.analysis_id)
            key = hit[1] if isinstance(hit, list) and len(hit) == 2 and hit[0] == what else \
                self.slice_key(p.metric, units)
            self.cache["slices"][p.analysis_id] = [what, key]
            jobs.append(make_job(p, base, data_key=key, source_sha=src,
                                 kind="collaborative" if units is not None else "event_time"))
        return jobs

    def names(self) -> dict[str, str]:
        """collaborative id -> name, from the membership table."""
        return {c: self._ms.name(c) for c in self._ms.collaboratives()}


__all__ = ["NationalBuild", "VALUE_COLUMNS"]


# ============================================================================ checking a demo pack
def score_against_truth(pack_dir: str | Path, truth_path: str | Path, headline: int = 12) -> dict:
    """How a built national demo pack recovers the planted effects of ``truth.json``
    (evallib/data/demo_national.py).

    Per collaborative x measure and horizon reported: whether the interval covers the true
    effect (absolute, in the measure's unit) and whether it excludes zero. Per measure's
    event-time page: whether each ATT(e) interval (pointwise) covers the true ATT(e), and whether
    the overall average over the post event times covers the mean of the true ATT(e) there.
    Returns counts and rates; ``cells`` lists every comparison (for tables and tests).
    """
    import json

    pack_dir, truth = Path(pack_dir), json.loads(Path(truth_path).read_text(encoding="utf-8"))
    manifest = json.loads((pack_dir / "manifest.json").read_text(encoding="utf-8"))
    cells_truth = {(c["id"], m): cell for c in truth["collaboratives"] for m, cell in c["cells"].items()}
    cells, events = [], []
    for a in manifest["analyses"]:
        if a.get("status") != "ok":
            continue
        path = pack_dir / a["id"] / "results.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text(encoding="utf-8"))
        if a.get("kind") == "collaborative":
            cell = cells_truth.get((a.get("collaborative"), a.get("metric")))
            if cell is None:
                continue
            for e in r.get("effects", []):
                if e.get("interruption") != "collaborative":
                    continue
                tv = (cell["horizons"].get(str(int(e["horizon"]))) or {}).get("absolute")
                lo, hi = e["absolute"]["ci"]
                if tv is None or lo is None or hi is None:
                    continue
                cells.append({"id": a["id"], "collaborative": a["collaborative"], "metric": a["metric"],
                              "planted": bool(cell["planted"]), "horizon": int(e["horizon"]), "truth": tv,
                              "estimate": e["absolute"]["estimate"], "lower": lo, "upper": hi,
                              "covered": bool(lo <= tv <= hi), "excludes_zero": bool(lo > 0 or hi < 0),
                              "verdict": e.get("verdict")})
        elif a.get("kind") == "event_time":
            nat = (truth.get("national") or {}).get(a.get("metric")) or {}
            tev = nat.get("event_time") or {}
            post = []
            for row in r.get("event_time", []):
                t = tev.get(str(int(row["e"])))
                if t is None or row.get("ci") is None:
                    continue
                if row["e"] >= 0:
                    post.append((row["e"], t["att"]))
                events.append({"id": a["id"], "metric": a["metric"], "e": int(row["e"]), "truth": t["att"],
                               "estimate": row["estimate"], "lower": row["ci"][0], "upper": row["ci"][1],
                               "covered": bool(row["ci"][0] <= t["att"] <= row["ci"][1]),
                               "band_covered": bool(row["band"][0] <= t["att"] <= row["band"][1])
                               if row.get("band") else None})
            ov = r.get("overall") or {}
            if ov.get("ci") and post:
                lo_e, hi_e = (ov.get("events") or [0, max(e for e, _ in post)])
                tv = float(np.mean([v for e, v in post if lo_e <= e <= hi_e]))
                events.append({"id": a["id"], "metric": a["metric"], "e": "overall", "truth": tv,
                               "estimate": ov["estimate"], "lower": ov["ci"][0], "upper": ov["ci"][1],
                               "covered": bool(ov["ci"][0] <= tv <= ov["ci"][1]), "band_covered": None})

    def rate(rows, key):
        return (sum(bool(r[key]) for r in rows) / len(rows)) if rows else float("nan")

    planted = [c for c in cells if c["planted"]]
    nulls = [c for c in cells if not c["planted"]]
    p12 = [c for c in planted if c["horizon"] == headline]
    n12 = [c for c in nulls if c["horizon"] == headline]
    pointwise = [e for e in events if e["e"] != "overall"]
    overall = [e for e in events if e["e"] == "overall"]
    return {"n_cells": len(cells), "planted_coverage": rate(planted, "covered"), "n_planted": len(planted),
            "null_coverage": rate(nulls, "covered"), "n_null": len(nulls),
            "planted_coverage_headline": rate(p12, "covered"), "power_headline": rate(p12, "excludes_zero"),
            "false_positive_headline": rate(n12, "excludes_zero"), "n_planted_headline": len(p12),
            "n_null_headline": len(n12), "event_time_pointwise_coverage": rate(pointwise, "covered"),
            "event_time_band_coverage": rate([e for e in pointwise if e["band_covered"] is not None], "band_covered"),
            "n_event_times": len(pointwise), "overall_covered": sum(e["covered"] for e in overall),
            "n_overall": len(overall), "cells": cells, "events": events}


__all__ += ["score_against_truth"]
