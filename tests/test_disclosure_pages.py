"""Disclosure control on built board pages (issue 14, item 6).

A small table whose treated trusts hold monthly counts of 1 to 7 (52-week waiters,
a count metric) is built into a one-analysis pack through ``evallib batch``; under
the default policy (NHS Digital: 1-7 shown as ``*``, other counts to the nearest 5)
no count of 1 to 7 taken from the data may appear on the built page, on the index or
in summary.json. The scan is :func:`evallib.report.disclosure.scan_text` with the
page's own raw counts (the tidy rows of the analysed trusts and their combined series).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evallib.cli import main as cli_main
from evallib.report.disclosure import scan_text, table_counts

TREATED = ["RNA", "RL4", "RXK", "RBK"]
OTHERS = ["RAA", "RAB", "RAC", "RAD", "RAE", "RAF", "RAG", "RAH", "RAJ", "RAK"]
NAMES = {"RNA": "THE DUDLEY GROUP NHS FOUNDATION TRUST", "RL4": "THE ROYAL WOLVERHAMPTON NHS TRUST",
         "RXK": "SANDWELL AND WEST BIRMINGHAM HOSPITALS NHS TRUST", "RBK": "WALSALL HEALTHCARE NHS TRUST"}


def small_count_table() -> pd.DataFrame:
    """2018-01..2023-12, monthly. Treated trusts: Poisson(3) a month before 2020-09, then
    Poisson(6) (so every trust has months of 1-7 throughout; the system sum of four is
    about 12, then 24); comparators Poisson(40). Seeded."""
    rng = np.random.default_rng(20261201)
    periods = pd.period_range("2018-01", "2023-12", freq="M").strftime("%Y-%m")
    rows = []
    for org in TREATED + OTHERS:
        for k, p in enumerate(periods):
            lam = 40.0 if org in OTHERS else (3.0 if p < "2020-09" else 6.0)
            rows.append({"period": p, "org_code": org, "org_name": NAMES.get(org, f"TRUST {org}"),
                         "metric": "rtt_52w_waiters", "value": float(rng.poisson(lam))})
    return pd.DataFrame(rows)


#: Numbers on a page that count structure, not people: analyses and pages on the index
#: (headline, footer), months and unusual values in the data-quality section (its table
#: and flags), trusts and placebo systems, a rank among placebos, made-up start dates, the
#: params' suppress_below and the JSON schema version. Each is a fixed phrase; every
#: other number on the page is scanned.
STRUCTURE = "|".join([
    r'<p class="headline">.*?</p>', r"<footer>.*?</footer>",
    r"<table><thead><tr><th[^>]*>Trust</th>.*?Months with data.*?</table>",
    r"\b\d+ (?:unusual value\(s\)|month\(s\) missing|missing or suppressed month\(s\)|value\(s\) suppressed)",
    r"\b\d+ comparator trusts", r"ranks \d+ of \d+", r"\bAt \d+ made-up start dates",
    r"param suppress_below</td><td[^>]*>\d+", r"board-summary/\d+",
    r"\b\d+ comparator(?:\(s\)|s)?", r"\bvolume [\d.]+: \d+", r"\b\d+ placebo systems", r"\bfactor \d+",
])


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("disclosure")
    t = small_count_table()
    t.to_csv(root / "small.csv", index=False)
    (root / "pack.yaml").write_text(f"""title: Small counts pack
notebook: its_outcome
defaults:
  data: small.csv
  units: [{', '.join(TREATED)}]
  aggregate: sum
  comparators: [{', '.join(OTHERS)}]
  start: 2018-01
  end: 2023-12
  interruptions:
    - {{name: covid, date: 2020-03, terms: [level, slope]}}
    - {{name: collaborative, date: 2020-09, terms: [level, slope], transition: 0}}
  seasonality: none
  horizons: [12]
  washout: 2020-03/2021-03
analyses:
  - {{metric: rtt_52w_waiters, title: "52-week waiters (small counts)"}}
""")
    out = root / "out"
    code = cli_main(["batch", str(root / "pack.yaml"), "--out", str(out)])
    assert code == 0, (out / "manifest.json").read_text() if (out / "manifest.json").exists() else code
    return out, t


def test_the_table_really_holds_counts_1_to_7(pack):
    _, t = pack
    small = {int(v) for v in t.loc[t["org_code"].isin(TREATED), "value"] if 1 <= v <= 7}
    assert small == {1, 2, 3, 4, 5, 6, 7}


def test_no_count_from_1_to_7_on_any_built_page_or_summary(pack):
    out, t = pack
    treated = t[t["org_code"].isin(TREATED)]
    counts = table_counts(treated) | {int(v) for v in treated.groupby("period")["value"].sum() if v > 0}
    small = {c for c in counts if 1 <= c <= 7}
    assert small == {1, 2, 3, 4, 5, 6, 7}
    texts = {p: p.read_text(encoding="utf-8") for p in
             [out / "index.html", *(out / "rtt_52w_waiters").glob("*.html"),
              out / "rtt_52w_waiters" / "summary.json"]}
    assert len(texts) >= 3
    for path, text in texts.items():
        text = re.sub(STRUCTURE, "", text, flags=re.S)
        hits = [h for h in scan_text(text, counts) if 1 <= h.value <= 7]
        assert hits == [], f"{path.name}: {[(h.text, h.context) for h in hits[:5]]}"


def test_summary_json_observed_count_is_rounded_or_starred(pack):
    out, _ = pack
    s = json.loads((out / "rtt_52w_waiters" / "summary.json").read_text())
    obs = s["headline"]["observed"]
    assert obs == "*" or (isinstance(obs, int) and obs % 5 == 0)


def test_per_trust_names_are_in_title_case_on_the_page(pack):
    from evallib.plots.pack import org_title

    assert org_title(NAMES["RXK"]) == "Sandwell and West Birmingham Hospitals NHS Trust"
    page = next((pack[0] / "rtt_52w_waiters").glob("*.html")).read_text(encoding="utf-8")
    assert "The Dudley Group NHS Foundation Trust" in page and "THE DUDLEY GROUP" not in page
