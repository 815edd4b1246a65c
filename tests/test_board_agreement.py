"""One verdict everywhere (issue 14, "Done when"): for every analysis of a built pack, the
index badge, the index's short sentence, the page's sentence, the page's effects table,
the forest-plot colour and summary.json say the same thing.

Two packs are built once per module through ``evallib batch``: the demo pack
(``params/black_country_demo.yaml`` on demo data written by ``evallib demo-data``) and a
two-measure pack on the real RTT panel in ``../shared/data/nhs-real/`` (52-week waiters
and waiters over 18 weeks, the four Black Country trusts summed against the other trusts
with a complete series; skipped when ../shared is absent).
"""
from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from evallib.cli import main as cli_main
from evallib.text import verdict as verdict_rule

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RTT = SHARED / "data" / "nhs-real" / "rtt_waits_over_18_52_weeks_by_trust_2019-01_2025-02.csv"
BLACK_COUNTRY = ["RNA", "RL4", "RXK", "RBK"]

pytestmark = [pytest.mark.slow]


def write_real_pack(folder: Path) -> Path:
    """The real-data pack: a tidy CSV of the RTT panel (waits_over_52_weeks as rtt_52w_waiters,
    waits_over_18_weeks as rtt_over18w_waiters; 3-character R trust codes with every month
    present) and a two-analysis pack YAML beside it. Returns the YAML's path."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = pd.read_csv(RTT, dtype={"org_code": str})
    raw["period"] = raw["period"].str[:7]
    trusts = raw[raw["org_code"].str.match(r"^R[A-Z0-9]{2}$")]
    long = trusts.melt(id_vars=["period", "org_code", "org_name"],
                       value_vars=["waits_over_52_weeks", "waits_over_18_weeks"], var_name="metric",
                       value_name="value")
    long["metric"] = long["metric"].map({"waits_over_52_weeks": "rtt_52w_waiters",
                                         "waits_over_18_weeks": "rtt_over18w_waiters"})
    n = long["period"].nunique()
    full = long.dropna(subset=["value"]).groupby(["org_code", "metric"])["period"].nunique().unstack()
    keep = full[(full == n).all(axis=1)].index
    long = long[long["org_code"].isin(keep)]
    assert set(BLACK_COUNTRY) <= set(long["org_code"])
    long.to_csv(folder / "rtt_real.csv", index=False)
    (folder / "pack.yaml").write_text("""title: "Black Country: RTT waits on the real panel"
description: Real NHS England RTT data, the four Black Country trusts against the other trusts.
notebook: its_outcome
defaults:
  data: rtt_real.csv
  units: [RNA, RL4, RXK, RBK]
  aggregate: sum
  comparators: all_other
  start: 2019-01
  end: 2025-02
  interruptions:
    - {name: covid, date: 2020-03, terms: [level, slope]}
    - {name: collaborative, date: 2020-09, terms: [level, slope], transition: 0}
  seasonality: none
  horizons: [12, 24]
  washout: 2020-03/2021-03
analyses:
  - {metric: rtt_52w_waiters, title: "52-week waiters (real data)"}
  - {metric: rtt_over18w_waiters, title: "Waiters over 18 weeks (real data)"}
""")
    return folder / "pack.yaml"


def _build(pack: Path, out: Path) -> Path:
    code = cli_main(["batch", str(pack), "--out", str(out)])
    man = json.loads((out / "manifest.json").read_text())
    errors = [a.get("error") for a in man["analyses"] if a["status"] != "ok"]
    assert code == 0 and not errors, errors
    return out


@pytest.fixture(scope="module")
def demo_pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_pack")
    assert cli_main(["demo-data", "--out", str(root / "demo")]) == 0
    text = (REPO / "params" / "black_country_demo.yaml").read_text()
    text = text.replace("data: ../data/demo/metrics.csv", f"data: {root / 'demo' / 'metrics.csv'}")
    assert str(root) in text
    (root / "pack.yaml").write_text(text)
    return _build(root / "pack.yaml", root / "out")


@pytest.fixture(scope="module")
def real_pack(tmp_path_factory):
    if not RTT.exists():
        pytest.skip(f"real RTT panel not found at {RTT} because ../shared is absent")
    root = tmp_path_factory.mktemp("real_pack")
    return _build(write_real_pack(root), root / "out")


# ------------------------------------------------------------------ reading what a reader sees
def _cells(row_html: str) -> list[str]:
    return [re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", c))).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row_html, flags=re.S)]


def _numbers(text: str) -> list[float]:
    t = text.replace("\u2212", "-").replace("£", "").replace(",", "")
    return [float(x) for x in re.findall(r"[+-]?\d+(?:\.\d+)?", t)]


def index_row(build: Path, aid: str) -> str:
    html = (build / "index.html").read_text(encoding="utf-8")
    rows = [r for r in html.split("<tr") if f'href="{aid}/{aid}.html"' in r]
    assert len(rows) == 1, aid
    return rows[0]


def effects_row(build: Path, aid: str, summary: dict) -> dict:
    """The effects-table row of the headline (primary interruption, headline horizon)."""
    page = (build / aid / f"{aid}.html").read_text(encoding="utf-8")
    h = summary["headline"]
    for table in re.findall(r"<table>.*?</table>", page, flags=re.S):
        trs = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
        head = _cells(trs[0])
        if "Expected" not in head or "Change" not in head:
            continue
        for tr in trs[1:]:
            row = dict(zip(head, _cells(tr)))
            after = next(k for k in head if k.endswith(" after"))
            if row["Interruption"] == h["interruption"].replace("_", " ") and int(row[after]) == int(h["horizon"]):
                return row
    raise AssertionError(f"{aid}: no effects-table row for the headline")


def forest_colours(rows: list[dict]) -> list[str]:
    """The colour of each row's interval in the index's forest plot, top to bottom."""
    import matplotlib
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    from evallib.plots.pack import forest_plot

    fig, ax = forest_plot(rows, better_right=True)       # as the index draws it
    n = len(rows)
    by_y = {}
    for line in ax.lines:
        y = list(line.get_ydata())
        if len(y) == 2 and y[0] == y[1] and float(y[0]).is_integer():
            by_y.setdefault(int(y[0]), mcolors.to_hex(line.get_color()))
    plt.close(fig)
    return [by_y.get(n - 1 - i) for i in range(n)]


SENTENCE_VERDICT = {"improvement": "an improvement", "deterioration": "a deterioration"}


def check_agreement(build: Path) -> list[str]:
    from evallib.plots.pack import VERDICT_COLOURS
    from evallib.report.index import VERDICT_WORDS, format_range, index_rows

    manifest = json.loads((build / "manifest.json").read_text())
    rows = [r for r in index_rows(build, manifest) if not r.get("support")]
    assert rows and not any(r["failed"] for r in rows)
    colours = forest_colours([r["forest"] for r in rows])
    seen = []
    for r, colour in zip(rows, colours):
        aid = r["id"]
        s = json.loads((build / aid / "summary.json").read_text())
        v, failed = s["verdict"], s["failed_checks"]
        imp, unit, h = s["improvement"], s["unit"], s["headline"]
        # summary.json: the verdict is the one rule on the headline interval, unclear when a check failed
        assert v in VERDICT_WORDS, (aid, v)
        if failed:
            assert v == "unclear", (aid, v, failed)
        # index: badge text, badge style, short sentence
        row = index_row(build, aid)
        badge = re.search(r'<span class="tag ([a-z-]+)">([^<]+)</span>', row)
        assert badge.group(2) == v == r["verdict"], (aid, badge.groups(), v)
        assert badge.group(1) == ("flagged" if failed else v.replace(" ", "-")), (aid, badge.groups())
        if failed:
            assert "checks failed" in row and all(c.replace("_", " ") in unescape(row) for c in failed), aid
        assert r["sentence"].startswith(VERDICT_WORDS[v].capitalize()), (aid, r["sentence"])
        # the page's sentence: its verdict words are this verdict's and no other's
        sent = s["sentence"]
        for k, words in SENTENCE_VERDICT.items():
            assert (words in sent) == (k == v), (aid, v, sent)
        # the effects table: the same interval as summary.json, and the rule on it gives the verdict
        eff = effects_row(build, aid, s)
        ci_col = next(k for k in eff if k.endswith("% CI"))
        assert eff[ci_col] == format_range(h["absolute_lower"], h["absolute_upper"], unit), (aid, eff)
        lo, hi = _numbers(eff[ci_col])[:2]
        assert verdict_rule(lo, hi, imp, credible=not failed) == v, (aid, eff[ci_col], v)
        # the forest plot: one colour per verdict
        assert colour == VERDICT_COLOURS[v].lower(), (aid, colour, v)
        seen.append(v)
    return seen


def test_demo_pack_agrees_everywhere(demo_pack):
    seen = check_agreement(demo_pack)
    assert len(seen) == 11
    assert {"improvement", "unclear"} <= set(seen)


def test_real_pack_agrees_everywhere(real_pack):
    seen = check_agreement(real_pack)
    assert len(seen) == 2


JARGON = ("Durbin-Watson", "Ljung-Box", "dispersion", "off scale", "Newey-West", "AR(1) rho")


def main_page_text(html: str) -> str:
    """A page without its technical appendix (``<details>`` blocks) and embedded images."""
    html = re.sub(r"<details\b.*?</details>", "", html, flags=re.S)
    return re.sub(r"data:[a-z/+.-]+;base64,[A-Za-z0-9+/=]+", "", html)


def test_single_design_diagnostics_go_to_the_technical_appendix(tmp_path, monkeypatch):
    """The single-group design on the demo's 52-week waiters: its robustness table and
    model checks (Durbin-Watson, Ljung-Box, dispersion) are displayed inside one collapsed
    ``<details class="technical">`` block, and none of that jargon is outside it."""
    from IPython.display import HTML

    from evallib.report import notebook as nb

    assert cli_main(["demo-data", "--out", str(tmp_path / "demo")]) == 0
    text = (REPO / "params" / "rtt_52w_waiters.yaml").read_text()
    (tmp_path / "p.yaml").write_text(text.replace("data: ../data/demo/metrics.csv",
                                                  f"data: {tmp_path / 'demo' / 'metrics.csv'}"))
    shown = []

    def capture(*objs, **kw):
        for o in objs:
            shown.append(o._repr_html_() if isinstance(o, HTML) else getattr(o, "data", str(o)))

    monkeypatch.setattr("IPython.display.display", capture)
    a = nb.start(tmp_path / "p.yaml", {"design": "single", "comparators": "none"})
    res = nb.fit(a)
    nb.show_system(a, res)
    blocks = [s for s in shown if isinstance(s, str) and s.startswith('<details class="technical">')]
    assert len(blocks) == 1
    assert "Durbin-Watson" in blocks[0] and "Robustness" in blocks[0]
    outside = " ".join(s for s in shown if isinstance(s, str) and s not in blocks)
    assert not [w for w in JARGON if w in outside], outside[:500]


@pytest.mark.parametrize("which", ["demo_pack", "real_pack"])
def test_no_jargon_outside_the_technical_appendix(which, request):
    build = request.getfixturevalue(which)
    for page in build.glob("*/*.html"):
        text = main_page_text(page.read_text(encoding="utf-8"))
        assert not [w for w in JARGON if w in text], page.name


SPC_WORDS = {"rebased": "the limits were recalculated there after a sustained, settled change",
             "held": "the change from then on is still a trend, so the limits before it are kept",
             "none": "no sustained change starts there, so the limits carry on"}


def test_each_spc_decision_is_stated_on_its_page(demo_pack):
    """Every interruption date is a candidate for new SPC limits; the page says, for each,
    what was decided, and a rebase names the old and new means. On the demo at least one
    measure is rebased (the cancer 62-day step at COVID-19) and at least one is not."""
    from evallib.text import long_period

    decisions = []
    for s_path in demo_pack.glob("*/summary.json"):
        s = json.loads(s_path.read_text())
        if s.get("kind") == "data_quality":
            continue
        page = unescape(re.sub(r"<[^>]+>", "", (s_path.parent / f"{s['id']}.html").read_text(encoding="utf-8")))
        page = re.sub(r"\s+", " ", page)
        spc = s["spc"]
        assert [d["date"] for d in spc["decisions"]] == ["2020-03", "2020-09"], s["id"]
        assert spc["rebase"] == [d["date"] for d in spc["decisions"] if d["decision"] == "rebased"]
        for d in spc["decisions"]:
            said = re.search(rf"At {long_period(d['date'])} \([a-z ]+\): ([^.]*)\.", page)
            assert said and said.group(1).startswith(SPC_WORDS[d["decision"]]), (s["id"], d, said)
            if d["decision"] == "rebased":
                assert "the mean moved from" in said.group(1), (s["id"], said.group(1))
            decisions.append((s["id"], d["date"], d["decision"]))
    assert ("cancer_62d_pct", "2020-03", "rebased") in decisions
    assert any(x[2] != "rebased" for x in decisions)


def _flag_counts(details: str) -> tuple[int, int]:
    """(the sum of the counts the flags state, the sum of what they list) for unusual values."""
    stated = listed = 0
    for n, inner in re.findall(r"(\d+) unusual value\(s\) \(([^)]*)\)", details):
        stated += int(n)
        more = re.search(r" and (\d+) more$", inner)
        periods = re.findall(r"\d{4}-\d{2}", inner)
        listed += len(periods) + (int(more.group(1)) if more else 0)
    return stated, listed


def test_data_quality_counts_agree_with_what_they_list(demo_pack):
    """The demo's data-quality page: each measure's "Unusual values" count equals the counts
    its flags state, and each flag lists as many periods (plus "and N more") as it counts.
    The demo's 52-week waiters have 16 (5 + 4 + 4 + 3 across the four trusts)."""
    page = (demo_pack / "data_quality" / "data_quality.html").read_text(encoding="utf-8")
    table = next(t for t in re.findall(r"<table>.*?</table>", page, flags=re.S) if "Unusual values" in t)
    trs = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
    head = _cells(trs[0])
    rows = [dict(zip(head, _cells(tr))) for tr in trs[1:]]
    assert len(rows) == 11
    for row in rows:
        stated, listed = _flag_counts(row["Details"])
        assert int(row["Unusual values"]) == stated == listed, row
    assert next(r for r in rows if r["Measure"] == "52-week waiters")["Unusual values"] == "16"


def test_a_flag_names_every_period_it_counts_or_says_how_many_more():
    import numpy as np

    from evallib.report.quality import listing, summarise_metric

    assert listing(["a", "b", "c"]) == "a, b and c"
    assert listing([f"p{k}" for k in range(9)]) == "p0, p1, p2, p3, p4, p5 and 3 more"
    periods = pd.period_range("2019-01", periods=48, freq="M").strftime("%Y-%m")
    values = np.full(48, 100.0) + np.tile([1.0, -1.0], 24)
    spikes = [5, 10, 15, 20, 25, 30, 35, 40, 45]
    values[spikes] = 400.0
    frame = pd.DataFrame({"period": periods, "org_code": "A", "metric": "m", "value": values})
    q = summarise_metric(frame, "m", ["A"])
    assert int(q.table["outliers"].sum()) == 9
    flag = next(f for f in q.flags if "unusual" in f)
    assert _flag_counts(flag) == (9, 9)
    assert "and 3 more" in flag
