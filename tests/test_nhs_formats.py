"""The fixture writers' header lists are exact copies of ../shared/formats, and the
packaged ODS successor table agrees with the ODS records of the Black Country trusts."""
from __future__ import annotations

import csv

import pytest

import nhs_fixtures as F
from evallib.data.nhs.ods import load_successors

FORMATS = {
    "rtt_full_csv_header_2017-10_to_2021-03.csv": F.RTT_HEADER_52,
    "rtt_full_csv_header_2021-04_onwards.csv": F.RTT_HEADER_104,
    "ae_monthly_csv_header_2019_onwards.csv": F.AE_HEADER_2019,
    "dm01_full_extract_header.csv": F.DM01_HEADER,
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_fixture_header_is_the_published_header(shared_dir, name):
    path = shared_dir / "formats" / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        published = next(csv.reader(fh))
    assert FORMATS[name] == published


@pytest.mark.realdata
def test_black_country_trusts_are_open_and_not_predecessors(shared_dir):
    path = shared_dir / "data" / "nhs-real" / "ods_etr_black_country_trusts.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    codes = {r["Organisation Code"]: r for r in rows}
    assert {"RNA", "RL4", "RBK"} <= set(codes)
    assert all(codes[c]["Close Date"] == "" for c in codes)  # none has closed
    succ = load_successors()
    assert not set(codes) & set(succ)  # so the default table never relabels them
    assert {codes[c]["Name"] for c in ("RNA", "RL4", "RBK")} == {
        F.TRUSTS["RNA"], F.TRUSTS["RL4"], F.TRUSTS["RBK"]}
