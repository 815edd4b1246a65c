"""Comparator eligibility and matching, shared by the controlled designs (aligned, sdid).

``all_other`` takes only comparable units, by a rule fixed before any model is chosen:

- the same **unit type** as the treated units (the first matching pattern of the editable table
  ``evallib/data/unit_types.csv``: NHS trusts ``R..``/``T..``, independent-sector providers
  ``N..``...); applied only when some comparator has the treated units' type, so codes that are
  not ODS codes get no type rule; ``comparator_types: any`` turns it off;
- a **complete series** over the analysis window (values, and numerators/denominators where
  the scale needs them);
- non-trivial **volume**: a pre-formation mean of at least ``aligned.min_volume`` (10%) of the
  treated units' average.

``matched`` then keeps the eligible comparators nearest the treated units on pre-formation
level, trend and variability (:func:`match_comparators`), with a balance table.

``not_yet_treated`` (the default when the params name a membership table, ``memberships:``;
evallib/data/memberships.py) applies the same rule and then uses each comparator only while it is
*clean*: up to the period before it joins any collaborative (:func:`clean_until`). A comparator that
joined before the evaluated interruption is dropped; the others are clean through a period the
aligned design honours horizon by horizon (:func:`clean_through`). The designs with one donor pool
(synthetic control, sdid) end their window at the last clean period instead (:func:`clean_window`).
With a membership table and ``all_other`` every eligible comparator is used throughout, and their
joining dates are reported.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Sequence

import numpy as np
import pandas as pd

from evallib import text as W
from evallib.exceptions import DataError
from evallib.its.series import Series, unit_panel
from evallib.periods import format_period


def unit_types() -> list[tuple[re.Pattern, str]]:
    """The editable unit-type table ``evallib/data/unit_types.csv``: (pattern, type) in order."""
    text = resources.files("evallib.data").joinpath("unit_types.csv").read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("pattern,"):
            continue
        pat, kind = line.rsplit(",", 1)
        out.append((re.compile(pat.strip()), kind.strip()))
    return out


def unit_type(code: str, table: list | None = None) -> str:
    """The type of a unit code: the first matching pattern of :func:`unit_types`, else ``other``."""
    for pat, kind in (table if table is not None else unit_types()):
        if pat.fullmatch(code):
            return kind
    return "other"


@dataclass
class Comparators:
    kept: list[str]
    dropped: dict[str, str]            # code -> reason
    rule: str
    balance: pd.DataFrame | None = None
    #: with a membership table: code -> last clean period label (the period before it joined any
    #: collaborative), None when it never joined; for every comparator of the pool that has rows
    clean_until: dict[str, str | None] | None = None
    #: what the membership table says about the treated units, when it disagrees with the params
    warnings: list[str] = field(default_factory=list)


def clean_until(codes: Sequence[str], memberships, freq: str = "M") -> dict[str, str | None]:
    """Per code, the label of the last period it is clean through (the period before it first joined
    any collaborative, at the table's frequency ``freq``), or None when it never joined."""
    out: dict[str, str | None] = {}
    for c in codes:
        j = memberships.join_date(c)
        if j is None:
            out[c] = None
            continue
        jp = j.asfreq(freq) if freq != "M" else j
        out[c] = format_period(jp - 1)
    return out


def clean_through(codes: Sequence[str], clean: dict[str, str | None], label: str) -> list[str]:
    """The codes clean through period ``label`` (never joined, or joined after it), in order."""
    return [c for c in codes if clean.get(c) is None or clean[c] >= label]


class CleanDonors:
    """The clean-comparator properties of a one-donor-pool design's prepared data (synthetic
    control, sdid). Needs ``clean`` (a :class:`CleanWindow` under ``not_yet_treated``, else None),
    ``clean_until`` (with a membership table), ``labels`` and :meth:`clean_donor_codes`."""

    def clean_donor_codes(self) -> list[str]:
        raise NotImplementedError

    @property
    def not_yet_treated(self) -> bool:
        return self.clean is not None

    @property
    def last_clean_period(self) -> str | None:
        """The last period every donor is clean through: under ``not_yet_treated`` the end of the window;
        with a membership table and other comparators, the earliest clean_until of the donors (or the end)."""
        if self.clean is not None:
            return self.clean.last_clean_period
        if self.clean_until is None:
            return None
        donors = set(self.clean_donor_codes())
        ends = [v for c, v in self.clean_until.items() if c in donors and v is not None]
        return min([self.labels[-1]] + ends)


@dataclass
class CleanWindow:
    """Under ``not_yet_treated``, where a design with one donor pool (synthetic control, sdid) ends.

    Such a design fits one set of weights, so its donors must be clean through every period it reads.
    The rule (:func:`clean_window`): the window ends at the last period of the data when at least
    ``need`` comparators are clean through it; otherwise at the latest reported horizon (of the
    params' ``horizons``, and the formation period itself) through which at least ``need`` are
    clean. The donors are the comparators clean through that period, the *last clean period*; no
    row after it is read, and effects at later horizons are not reported.
    """

    end: int                              # window index of the last clean period (the last period read)
    codes: list[str]                      # the donors: eligible and clean through it
    need: int                             # the minimum donor count of the design
    counts: dict[int, int]                # window index -> comparators clean through it (periods tried)
    horizons: list[int]                   # the horizons the end was chosen from
    clean_until: dict[str, str | None] = field(default_factory=dict)   # every eligible comparator's
    labels: list[str] = field(default_factory=list)                    # the window before it was cut

    @property
    def last_clean_period(self) -> str:
        return self.labels[self.end]

    def message(self, h: int, formation: int, who: str) -> str:
        """Why the effect at horizon ``h`` (after :attr:`last_clean_period`) is not reported (the aligned
        design's wording when the horizon was one the end was chosen from)."""
        i = formation + int(h)
        tried = sorted(j for j in self.counts if self.end < j <= i)
        if tried:
            j = tried[0]
            lab = self.labels[j]
            return (f"effects from {lab} on (horizon {j - formation} and later) are not reported: only "
                    f"{self.counts[j]} comparator(s) are clean through {lab} (the others had joined collaboratives), "
                    f"and {who} needs at least {self.need}; the last period with clean comparators is "
                    f"{self.last_clean_period} (the latest horizon with at least {self.need} clean comparators, where "
                    f"the analysis ends)")
        return (f"horizon {h} ({self.labels[i]}) is not reported: it is after the last clean period "
                f"{self.last_clean_period}, where the analysis ends (the latest of the horizons "
                f"{', '.join(str(x) for x in self.horizons)} with at least {self.need} clean comparators); add "
                f"{h} to horizons to have it considered")


def clean_window(labels: Sequence[str], formation: int, horizons: Sequence[int], clean_at, need: int,
                 clean: dict[str, str | None] | None = None) -> CleanWindow | None:
    """The :class:`CleanWindow` of a window ``labels`` whose evaluated interruption is at index
    ``formation``: ``clean_at(i)`` gives the eligible comparators clean through period ``i`` (judged on
    the window cut after ``i``), ``need`` the design's minimum. Tries the last period, then each horizon
    from the latest down to the formation period itself; None when too few are clean even there."""
    last = len(labels) - 1
    cands = sorted({last} | {formation + int(h) for h in horizons if formation + int(h) < last} | {formation},
                   reverse=True)
    counts: dict[int, int] = {}
    for i in cands:
        if i < formation:
            continue
        codes = list(clean_at(i))
        counts[i] = len(codes)
        if len(codes) >= need:
            return CleanWindow(end=i, codes=codes, need=need, counts=counts,
                               horizons=sorted(set(int(h) for h in horizons)), clean_until=dict(clean or {}),
                               labels=list(labels))
    return None


def eligible_comparators(params, table, labels: Sequence[str], pre: np.ndarray, *, need_ratio: bool,
                         need_den: bool, treated: Series, formation: str | None = None) -> Comparators:
    """Apply the eligibility rule (module docstring) and return kept and dropped comparators.

    The rule depends only on the params and the data, never on the estimator, so every
    estimator sees the same comparators. ``pre``: boolean mask over ``labels`` of the
    pre-formation periods (for the volume rule).

    Decided once per table object and inputs (``TidyTable.memo``: the key is every params key
    the rule reads, the window, the treated volume and the membership file's size and time);
    each call gets its own copy.
    """
    if not hasattr(table, "memo"):
        return _eligible(params, table, labels, pre, need_ratio=need_ratio, need_den=need_den, treated=treated,
                         formation=formation)
    import copy
    import os

    comps = params.comparators
    ms = getattr(params, "memberships", None)
    try:
        st = os.stat(ms) if ms is not None else None
        ms_key = None if st is None else (str(ms), st.st_size, st.st_mtime_ns)
    except OSError:
        ms_key = (str(ms), None, None)         # the loader reports it
    tf = treated.frame
    vol = tuple(tf[c].to_numpy(dtype=float).tobytes() for c in ("value", "denominator"))
    key = (params.metric, tuple(params.units), tuple(comps) if isinstance(comps, list) else comps,
           params.comparator_types, float(params.aligned.min_volume), params.aggregate, ms_key, tuple(labels),
           np.asarray(pre, dtype=bool).tobytes(), bool(need_ratio), bool(need_den), vol, formation)
    comp = table.memo("eligible_comparators", key,
                      lambda: _eligible(params, table, labels, pre, need_ratio=need_ratio, need_den=need_den,
                                        treated=treated, formation=formation), maxsize=64)
    return copy.deepcopy(comp)


def _eligible(params, table, labels: Sequence[str], pre: np.ndarray, *, need_ratio: bool,
              need_den: bool, treated: Series, formation: str | None) -> Comparators:
    rows = table.for_metric(params.metric)
    have = sorted(set(rows["org_code"]) - set(params.units))
    comps = params.comparators
    named = isinstance(comps, list)
    if named:
        missing = [c for c in comps if c not in set(rows["org_code"])]
        if missing:
            raise DataError(f"{table.source}: comparators {missing} have no rows for metric {params.metric}")
        pool = list(dict.fromkeys(comps))
    else:
        pool = have
    if not pool:
        raise DataError(f"{table.source}: comparators {comps}: no unit other than {sorted(params.units)} has rows "
                        f"for metric {params.metric}")
    dropped: dict[str, str] = {}
    types = unit_types()
    want = {unit_type(u, types) for u in params.units}
    typed = not named and params.comparator_types == "auto" and any(unit_type(c, types) in want for c in pool)
    if typed:
        for c in pool:
            t = unit_type(c, types)
            if t not in want:
                dropped[c] = f"unit type {t}, not {' or '.join(sorted(want))} like the treated units"
    cand = [c for c in pool if c not in dropped]
    panel = unit_panel(table, params.metric, cand, labels[0], labels[-1]) if cand else None
    if panel is not None:
        def mat(col):
            return panel.pivot(index="period", columns="org_code", values=col).reindex(
                index=list(labels), columns=cand).to_numpy(dtype=float)
        val, num, den = mat("value"), mat("numerator"), mat("denominator")
        ok = np.all(np.isfinite(val), axis=0)
        if need_ratio:
            ok &= np.all(np.isfinite(num) & np.isfinite(den) & (den > 0), axis=0)
        if need_den:
            ok &= np.all(np.isfinite(den) & (den > 0), axis=0)
        for c, k in zip(cand, ok):
            if not k:
                dropped[c] = f"incomplete series over {labels[0]} to {labels[-1]}"
        # volume: pre-formation mean against the treated units' average
        if not named and params.aligned.min_volume > 0:
            tv = treated.frame["denominator" if need_ratio else "value"].to_numpy(dtype=float)
            vol_c = (den if need_ratio else val)
            t_mean = np.nanmean(tv[pre]) / (1 if params.aggregate == "mean" and not need_ratio
                                            else len(params.units))
            for j, c in enumerate(cand):
                if c in dropped or not np.isfinite(t_mean) or t_mean <= 0:
                    continue
                m = float(np.nanmean(vol_c[pre, j]))
                if m < params.aligned.min_volume * t_mean:
                    dropped[c] = (f"volume {W.approx(m)} before formation is under "
                                  f"{params.aligned.min_volume:g} of the treated units' average {W.approx(t_mean)}")
    clean, notes = None, []
    if getattr(params, "memberships", None) is not None:
        from evallib.data.memberships import load_memberships

        ms = load_memberships(params.memberships).validate_against(table)
        clean = clean_until(pool, ms, table.freq)
        if formation is not None:
            joined = {u: ms.join_date(u) for u in params.units}
            absent = [u for u, j in joined.items() if j is None]
            other = {u: format_period(j.asfreq(table.freq) if table.freq != "M" else j)
                     for u, j in joined.items() if j is not None}
            other = {u: d for u, d in other.items() if d != formation}
            if absent:
                notes.append(f"the membership table {ms.source} has no row for treated unit(s) {', '.join(absent)}: "
                             f"check that the units are the collaborative's members")
            if other:
                notes.append(f"the membership table {ms.source} dates treated unit(s) "
                             f"{', '.join(f'{u} {d}' for u, d in other.items())}, not {formation} as the evaluated "
                             f"interruption says: check the interruption date")
        if comps == "not_yet_treated" and formation is not None:
            for c in pool:
                if c not in dropped and clean[c] is not None and clean[c] < formation:
                    dropped[c] = (f"joined a collaborative before formation ({formation}): "
                                  f"{ms.collaborative_of(c)}, {format_period(ms.join_date(c))}")
    kept = [c for c in pool if c not in dropped]
    who = ("all other units" if comps == "all_other" else
           "units not yet in a collaborative" if comps == "not_yet_treated" else "matched units")
    rule = ("named in the params" if named else
            f"{who} of type "
            f"{' or '.join(sorted(want)) if typed else 'any'} with a complete series "
            f"and a pre-formation volume of at least {params.aligned.min_volume:g} of the treated units' average")
    if comps == "not_yet_treated":
        rule += ", each used up to the period before it joins any collaborative"
    return Comparators(kept=kept, dropped=dropped, rule=rule, clean_until=clean, warnings=notes)


def match_comparators(comp: Comparators, y_sys: np.ndarray, Yc: np.ndarray, pre: np.ndarray, n_units: int,
                      k: int, codes: Sequence[str]) -> tuple[list[int], pd.DataFrame]:
    """Indices of the ``k`` comparators nearest the treated units on pre-formation level, trend
    and volume (standardised Euclidean distance, as Linden's ``itsamatch`` matches on
    pre-period level and trend), and the balance table (treated, matched, all eligible)."""
    t = np.arange(len(y_sys), dtype=float)[pre]

    def feats(Y):
        Yp = Y[pre]
        m = Yp.mean(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            Z = Yp / m
        slope = np.polyfit(t - t.mean(), np.nan_to_num(Z), 1)[0]
        return np.column_stack([np.log(np.maximum(m, 1e-9)), slope, Yp.std(0) / np.maximum(m, 1e-9)])

    unit_avg = (y_sys / n_units)[:, None]
    f0 = feats(unit_avg)[0]
    F = feats(Yc)
    sd = F.std(0)
    sd[sd == 0] = 1.0
    dist = np.sqrt((((F - f0) / sd) ** 2).sum(1))
    order = np.argsort(dist, kind="stable")[:k]
    names = ["log pre-formation level (per unit)", "pre-formation trend (share of level per period)",
             "pre-formation variability (CV)"]
    bal = pd.DataFrame({"feature": names, "treated": f0, "matched": F[order].mean(0), "all eligible": F.mean(0),
                        "std diff (matched)": (F[order].mean(0) - f0) / sd,
                        "std diff (all)": (F.mean(0) - f0) / sd})
    return sorted(order.tolist()), bal


def _reasons(dropped: dict[str, str], n: int = 3) -> str:
    c = Counter(r.split(" over ")[0].split(" before ")[0] for r in dropped.values())
    return "; ".join(f"{k}: {v}" for k, v in c.most_common(n)) or "none"


