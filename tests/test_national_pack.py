"""National packs (evallib/batch/national.py): the `national:` section's expansion, its errors, the
slice cache keys (a collaborative's post-formation figures rebuild only its own analyses), and the
scoring of a built demo pack against truth.json."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from evallib.batch.build import build_pack
from evallib.batch.national import NationalBuild, score_against_truth
from evallib.config import load_pack
from evallib.data import demo_national as N
from evallib.exceptions import ParameterError

METRIC = "rtt_waiting_list"
OTHER = "agency_spend_gbp_k"


@pytest.fixture(scope="module")
def england(tmp_path_factory):
    """The national demo, cut to one measure (a smaller table keeps the builds quick)."""
    full = tmp_path_factory.mktemp("england_full")
    paths = N.generate_national(full)
    d = tmp_path_factory.mktemp("england")
    frame = pd.read_csv(paths["metrics"], dtype=str, keep_default_na=False)
    frame[frame["metric"].isin([METRIC, OTHER])].to_csv(d / "metrics.csv", index=False)
    shutil.copy(paths["meta"], d / "metrics.meta.json")
    shutil.copy(paths["collaboratives"], d / "collaboratives.csv")
    shutil.copy(paths["truth"], d / "truth.json")
    return d


def write_pack(folder: Path, data: Path, **national) -> Path:
    nat = {"measures": [METRIC, OTHER], "collaboratives": ["c04", "c44"], "event_time": True, **national}
    doc = {"title": "National test", "defaults": {
        "data": str(data / "metrics.csv"), "memberships": str(data / "collaboratives.csv"),
        "design": "controlled", "start": "2016-04", "end": "2025-03", "horizons": [0, 6, 12]},
        "national": nat}
    p = folder / "pack.yaml"
    p.write_text(json.dumps(doc), encoding="utf-8")   # JSON is YAML
    return p


def test_expansion_makes_one_analysis_per_collaborative_and_measure(england, tmp_path):
    pack, params = load_pack(write_pack(tmp_path, england), expand=NationalBuild().expand)
    ids = [p.analysis_id for p in params]
    assert ids == ["c04_rtt_waiting_list", "c04_agency_spend_gbp_k", "c44_rtt_waiting_list",
                   "c44_agency_spend_gbp_k", "national_rtt_waiting_list", "national_agency_spend_gbp_k"]
    c04 = params[0]
    members = [ln.split(",")[2] for ln in (england / "collaboratives.csv").read_text().splitlines()
               if ln.startswith("c04,")]
    assert c04.units == members and len(members) == 5
    assert [(i.name, i.date) for i in c04.interruptions] == [("covid", "2020-03"), ("collaborative", "2021-04")]
    assert (c04.comparators, c04.depth, c04.collaborative, c04.aggregate) == ("not_yet_treated", "brief", "c04", "sum")
    assert c04.title.startswith("Demo Collaborative 04 (SYNTHETIC): RTT waiting list")
    assert params[2].interruptions[-1].date == "2022-07"
    assert params[4].notebook == "national_event_time" and len(params[4].units) == 8


@pytest.mark.parametrize("national, words", [
    ({"collaboratives": ["c04", "zz9"]}, ["national: collaborative 'zz9' is not in", "use one of its ids"]),
    ({"measures": ["no_such_measure"]}, ["national.measures: 'no_such_measure' is not in the data", "correct the measure id"]),
    ({"exclude": ["nope"]}, ["collaborative 'nope' is not in"]),
])
def test_expansion_errors_name_the_key_value_and_fix(england, tmp_path, national, words):
    with pytest.raises(ParameterError) as exc:
        load_pack(write_pack(tmp_path, england, **national), expand=NationalBuild().expand)
    for w in words:
        assert w in str(exc.value)


def test_national_section_needs_the_membership_table(england, tmp_path):
    p = write_pack(tmp_path, england)
    doc = json.loads(p.read_text())
    del doc["defaults"]["memberships"]
    p.write_text(json.dumps(doc))
    with pytest.raises(ParameterError, match="national: needs defaults.memberships, the membership table"):
        load_pack(p, expand=NationalBuild().expand)


def _statuses(manifest: dict) -> dict:
    return {a["id"]: a["cache_hit"] for a in manifest["analyses"]}


def _shift(data: Path, codes: list[str], after: str | None = None, before: str | None = None) -> None:
    """Multiply the waiting-list values of ``codes`` by 1.1 in periods >= after (or < before): a
    data correction."""
    f = pd.read_csv(data / "metrics.csv", dtype=str, keep_default_na=False)
    rows = f["org_code"].isin(codes) & (f["metric"] == METRIC)
    if after:
        rows &= f["period"] >= after
    if before:
        rows &= f["period"] < before
    f.loc[rows, "value"] = (f.loc[rows, "value"].astype(float) * 1.1).round().astype(int).astype(str)
    f.to_csv(data / "metrics.csv", index=False)


def test_rebuild_reruns_only_the_collaborative_whose_figures_changed(england, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(england, data)
    pack = write_pack(tmp_path, data)
    out = tmp_path / "out"
    first = build_pack(pack, out, workers=1)
    assert first.exit_code == 0
    m = first.manifest
    assert {a["id"]: a.get("kind") for a in m["analyses"]} == {
        "c04_rtt_waiting_list": "collaborative", "c04_agency_spend_gbp_k": "collaborative",
        "c44_rtt_waiting_list": "collaborative", "c44_agency_spend_gbp_k": "collaborative",
        "national_rtt_waiting_list": "event_time", "national_agency_spend_gbp_k": "event_time"}
    assert m["national"]["measures"] == [METRIC, OTHER] and m["national"]["collaboratives"] == ["c04", "c44"]
    assert all(a["worker_peak_rss_mb"] > 50 for a in m["analyses"])
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="c04_rtt_waiting_list/c04_rtt_waiting_list.html"' in page
    assert 'href="national_rtt_waiting_list/national_rtt_waiting_list.html"' in page
    c04_results = (out / "c04_rtt_waiting_list" / "results.json").read_bytes()
    # the PDF is the national summary: one section per measure's event-time page, each led by the
    # collaboratives' caterpillar chart from the index
    import pypdf

    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(str(out / "board_pack.pdf")).pages)
    assert text.count("Each collaborative: its own estimate at the headline horizon") == 2
    assert "All collaboratives: RTT waiting list" in text and "Demo Collaborative 04" in text

    t0 = time.perf_counter()
    again = build_pack(pack, out, workers=1)
    assert time.perf_counter() - t0 < 5.0
    assert all(_statuses(again.manifest).values())

    members44 = json.loads((data / "truth.json").read_text())["collaboratives"][43]["members"]
    _shift(data, members44, after="2022-07")        # c44's own figures after it formed
    third = build_pack(pack, out, workers=1)
    assert _statuses(third.manifest) == {"c04_rtt_waiting_list": True, "c04_agency_spend_gbp_k": True,
                                         "c44_rtt_waiting_list": False, "c44_agency_spend_gbp_k": True,
                                         "national_rtt_waiting_list": False, "national_agency_spend_gbp_k": True}
    assert (out / "c04_rtt_waiting_list" / "results.json").read_bytes() == c04_results

    _shift(data, members44, before="2019-01")       # while c44's trusts were c04's comparators
    fourth = build_pack(pack, out, workers=1)
    assert _statuses(fourth.manifest) == {"c04_rtt_waiting_list": False, "c04_agency_spend_gbp_k": True,
                                          "c44_rtt_waiting_list": False, "c44_agency_spend_gbp_k": True,
                                          "national_rtt_waiting_list": False, "national_agency_spend_gbp_k": True}

    score = score_against_truth(out, data / "truth.json")
    assert score["n_cells"] == 4 * 3 and score["n_overall"] == 2
    cell = next(c for c in score["cells"] if c["id"] == "c04_rtt_waiting_list" and c["horizon"] == 12)
    truth = json.loads((data / "truth.json").read_text())["collaboratives"][3]["cells"][METRIC]["horizons"]["12"]
    assert cell["truth"] == truth["absolute"] and cell["planted"] is True
