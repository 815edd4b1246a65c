"""``evallib new-pack``: the params pack of a new collaborative, ready for ``evallib batch``.

::

    evallib new-pack params/my_collaborative.yaml --trusts RXX,RYY,RZZ --formation 2021-04 \\
        --measures rtt_52w_waiters,rtt_over18w_waiters,cancer_62d_pct --data ../data/nhs.csv
    evallib batch params/my_collaborative.yaml --out out/my_collaborative

:func:`new_pack` reads the tidy table first and refuses (ParameterError, nothing
written) a trust or measure that is not in it, a formation date outside the data, and
an existing output file. The pack it writes has the same layout as
``params/black_country_demo.yaml``: ``defaults`` shared by every analysis (data,
trusts combined by sum, comparators ``all_other`` so the controlled design is
primary, the whole series, a COVID-19 interruption at 2020-03 when it falls before
formation and inside the data, the collaborative at the formation date, two Fourier
harmonics, horizons 12 and 24, alpha 0.05) and one analysis per measure, titled by
its catalogue label; a percentage is combined by ``ratio`` when the table has
numerators and denominators for it, else by ``mean``. The file is validated with
:func:`evallib.config.load_pack` before it is kept. Edit it freely afterwards.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from evallib.exceptions import ParameterError

logger = logging.getLogger(__name__)

COVID_DATE = "2020-03"


def _list(value: str | Sequence[str], what: str) -> list[str]:
    items = [x.strip() for x in value.split(",")] if isinstance(value, str) else [str(x).strip() for x in value]
    items = [x for x in items if x]
    if not items:
        raise ParameterError(f"no {what} given; list them separated by commas")
    dup = sorted({x for x in items if items.count(x) > 1})
    if dup:
        raise ParameterError(f"{what} {', '.join(dup)} given more than once")
    return items


def _relative(target: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(target, start)).as_posix()
    except ValueError:   # another drive (Windows)
        return target.as_posix()


def pack_document(*, trusts: Sequence[str], formation: str, measures: Sequence[str], data: str | Path,
                  pack_dir: Path, table, title: str | None = None, comparators: str | Sequence[str] = "all_other",
                  covid: bool = True) -> dict:
    """The pack as a mapping (see the module docstring); ``table`` is the loaded tidy table."""
    from evallib.metrics import known_metric, metric_info
    from evallib.periods import format_period, parse_period

    try:
        when = parse_period(str(formation))
    except ValueError as exc:
        raise ParameterError(f"formation {formation!r} is not a period: {exc}") from None
    formation = format_period(when)
    frame = table.frame
    have_units = set(frame["org_code"])
    missing = [t for t in trusts if t not in have_units]
    if missing:
        raise ParameterError(f"trust(s) {', '.join(missing)} not in {table.path} "
                             f"(it has {len(have_units)} organisations); check the ODS codes")
    have_metrics = set(frame["metric"])
    absent = [m for m in measures if m not in have_metrics]
    if absent:
        raise ParameterError(f"measure(s) {', '.join(absent)} not in {table.path} (it has "
                             f"{', '.join(sorted(have_metrics))})")
    if isinstance(comparators, str) and comparators not in ("all_other", "matched", "none"):
        comparators = _list(comparators, "comparators")
    if isinstance(comparators, list):
        bad = [c for c in comparators if c not in have_units]
        if bad:
            raise ParameterError(f"comparator(s) {', '.join(bad)} not in {table.path}")
    rows = frame[frame["org_code"].isin(list(trusts)) & frame["metric"].isin(list(measures))]
    periods = sorted({parse_period(p) for p in rows["period"]})
    first, last = periods[0], periods[-1]
    if not first < when <= last:
        raise ParameterError(f"formation {formation} is not inside the data of these trusts and "
                             f"measures ({format_period(first)} to {format_period(last)}): there must be "
                             f"periods before it and it must not be after the last")
    interruptions = []
    covid_p = parse_period(COVID_DATE) if when.freqstr[0] == "M" else None
    if covid and covid_p is not None and first < covid_p < when:
        interruptions.append({"name": "covid", "date": COVID_DATE, "terms": ["level", "slope"]})
    interruptions.append({"name": "collaborative", "date": formation, "terms": ["level", "slope"],
                          "transition": 0})
    defaults = {
        "data": (str(data) if Path(data).is_absolute() else _relative(Path(data).resolve(), pack_dir.resolve())),
        "units": list(trusts), "aggregate": "sum", "comparators": comparators, "design": "auto",
        "interruptions": interruptions,
        "seasonality": "fourier2" if when.freqstr[0] == "M" else "none",
        "horizons": [12, 24] if when.freqstr[0] == "M" else [4, 8] if when.freqstr[0] == "Q" else [1, 2],
        "alpha": 0.05, "suppress_below": 5,
    }
    analyses = []
    for m in measures:
        info = metric_info(m)
        entry: dict = {"metric": m, "title": info.label if known_metric(m) else m.replace("_", " ")}
        if info.unit == "%" or info.kind == "proportion":
            mr = rows[rows["metric"] == m]
            ratio = bool(mr["numerator"].notna().any() and mr["denominator"].notna().any())
            entry["aggregate"] = "ratio" if ratio else "mean"
        if not known_metric(m):
            entry["metric_label"] = m.replace("_", " ")
            logger.warning("measure %r is not in the evallib catalogue; set its metric_label, "
                           "metric_unit and improvement in the pack", m)
        analyses.append(entry)
    names = ", ".join(trusts)
    return {
        "title": title or f"Provider collaborative of {names}: evaluation board pack",
        "description": (f"Did outcomes in {names} change after they formed a provider collaborative in "
                        f"{formation}? Each measure compares the trusts combined with what their own trend "
                        f"and the comparator trusts suggest would have happened without it."),
        "notebook": "its_outcome",
        "defaults": defaults,
        "analyses": analyses,
    }


def new_pack(path: str | Path, *, trusts: str | Sequence[str], formation: str, measures: str | Sequence[str],
             data: str | Path, title: str | None = None, comparators: str | Sequence[str] = "all_other",
             covid: bool = True) -> Path:
    """Write the params pack ``path`` (YAML) for ``trusts`` formed at ``formation``, analysing
    ``measures`` of the tidy table ``data`` (relative to the working directory). Refuses to
    overwrite an existing file. Returns the path."""
    import yaml

    from evallib.config import load_pack
    from evallib.data.table import load_table

    out = Path(path)
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise ParameterError(f"{out}: name the pack file with a .yaml suffix")
    if out.exists() or out.is_symlink():
        raise ParameterError(f"{out} already exists; choose another file name or delete it first "
                             f"(new-pack never overwrites)")
    trusts_l = _list(trusts, "trusts")
    measures_l = _list(measures, "measures")
    table = load_table(Path(data))
    doc = pack_document(trusts=trusts_l, formation=formation, measures=measures_l, data=data,
                        pack_dir=out.parent if str(out.parent) else Path("."), table=table, title=title,
                        comparators=comparators, covid=covid)
    header = ("# Board pack written by `evallib new-pack`; build it with\n"
              f"#   evallib batch {out.as_posix()} --out out/{out.stem}\n"
              "# Every analysis is `defaults` with its own keys on top (docs/contracts.md, params).\n")
    text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.new-pack.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        load_pack(tmp)          # ready for `evallib batch`, or nothing is kept
        os.link(tmp, out)       # fails if `out` appeared meanwhile: never overwrite
    except FileExistsError:
        raise ParameterError(f"{out} already exists; choose another file name or delete it first "
                             f"(new-pack never overwrites)") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def new_pack_command(args) -> int:
    """``evallib new-pack``: see :func:`new_pack`."""
    import sys

    out = new_pack(args.pack, trusts=args.trusts, formation=args.formation, measures=args.measures,
                   data=args.data, title=args.title, comparators=args.comparators, covid=not args.no_covid)
    print(f"wrote {out}; build it with: evallib batch {out} --out out/{out.stem}", file=sys.stdout)
    return 0


__all__ = ["new_pack", "pack_document", "new_pack_command"]
