"""``evallib import KIND PATH... --out FILE``: NHS England files -> the tidy table.

The output is written or updated atomically (CSV or Parquet by suffix). Importing
is idempotent: rows of the new import replace the existing rows with the same
(org_code, metric, period); nothing is duplicated, and rows for other months,
providers or metrics are kept. The merged table is validated again before it is
written, so a table mixing frequencies (monthly RTT and quarterly KH03) is refused,
and so is writing real data into the synthetic demo table (it has a ``.meta.json``
sidecar saying ``"synthetic": true``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evallib.data.nhs import load
from evallib.data.table import TIDY_COLUMNS, load_table, validate_table, write_table
from evallib.exceptions import DataError

logger = logging.getLogger(__name__)
KEY = ["org_code", "metric", "period"]


@dataclass
class UpdateStats:
    added: int
    replaced: int
    kept: int
    total: int
    gaps: int


def update_table(new: pd.DataFrame, out: str | Path, source: str = "import") -> UpdateStats:
    """Merge ``new`` tidy rows into the table at ``out`` (created when absent) and write it."""
    out = Path(out)
    new, _ = validate_table(new, source)
    replaced = kept = 0
    combined = new
    if out.exists():
        existing = load_table(out)
        if existing.synthetic:
            raise DataError(f"{out}: is the SYNTHETIC demo table (its .meta.json says so); write real data to "
                            f"another file, e.g. data/real/metrics.csv")
        old = existing.frame
        hit = pd.MultiIndex.from_frame(old[KEY]).isin(pd.MultiIndex.from_frame(new[KEY]))
        replaced, kept = int(hit.sum()), int((~hit).sum())
        combined = pd.concat([old[~hit], new], ignore_index=True)
    final, report = validate_table(combined[TIDY_COLUMNS], str(out))
    write_table(final, out)
    logger.info("%s: %d rows written (%d new, %d replaced, %d kept)", out, len(final), len(new) - replaced,
                replaced, kept)
    return UpdateStats(added=len(new) - replaced, replaced=replaced, kept=kept, total=len(final),
                       gaps=sum(len(g["missing"]) for g in report["gaps"]))


def import_command(args) -> int:
    """CLI handler: load ``args.paths`` as ``args.kind``, update ``args.out``, print the report."""
    result = load(args.kind, args.paths, ods_map=getattr(args, "ods_map", None))
    stats = update_table(result.frame, args.out, source=f"evallib import {args.kind}")
    lines = result.report.lines()
    lines.append(f"wrote {args.out}: {stats.total} rows ({stats.added} new, {stats.replaced} replaced, "
                 f"{stats.kept} kept from before)")
    if stats.gaps:
        lines.append(f"  {stats.gaps} month(s) missing inside series (not filled; see evallib fit warnings)")
    print("\n".join(lines))
    return 0
