"""A measure of your own: params keys for its label, unit and direction, a warning naming an
unknown id, rtt_over18w_waiters in the catalogue, and the worked example of docs/real-data.md."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest

from evallib import metrics
from evallib.config import params_from_dict
from evallib.exceptions import ParameterError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RTT_PANEL = SHARED / "data" / "nhs-real" / "rtt_waits_over_18_52_weeks_by_trust_2019-01_2025-02.csv"


@pytest.fixture(autouse=True)
def _forget_registered_measures():
    metrics.clear_params()
    yield
    metrics.clear_params()


def _params(**kw):
    raw = {"data": "x.csv", "metric": "my_waits", "units": ["A"],
           "interruptions": [{"name": "collaborative", "date": "2020-09"}]} | kw
    return params_from_dict(raw, REPO)


def test_catalogue_has_waits_over_18_weeks():
    info = metrics.metric_info("rtt_over18w_waiters")
    assert (info.label, info.unit, info.kind, info.improvement, info.target) == \
        ("Patients waiting over 18 weeks", "patients", "count", "decrease", None)


def test_unknown_metric_warns_naming_it(caplog):
    with caplog.at_level(logging.WARNING, logger="evallib.metrics"):
        info = metrics.metric_info_for(_params())
    assert (info.label, info.unit, info.improvement) == ("my waits", "", "neutral")
    assert caplog.messages == ["metric 'my_waits' is not in the evallib catalogue (evallib/metrics.py): set "
                               "metric_label, metric_unit, improvement in the params to describe it"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="evallib.metrics"):
        info = metrics.metric_info_for(_params(metric_label="My waits", metric_unit="pathways",
                                               improvement="decrease", target=100))
    assert (info.label, info.unit, info.improvement, info.target) == ("My waits", "pathways", "decrease", 100.0)
    assert caplog.messages == ["metric 'my_waits' is not in the evallib catalogue (evallib/metrics.py); "
                               "described by the params keys metric_label, metric_unit, improvement"]


def test_catalogue_measure_can_be_relabelled_without_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="evallib.metrics"):
        info = metrics.metric_info_for(_params(metric="rtt_52w_waiters", metric_label="Year-long waits"))
    assert (info.label, info.unit, info.improvement) == ("Year-long waits", "patients", "decrease")
    assert caplog.messages == []


def test_use_params_makes_every_caller_see_the_analysis_entry():
    metrics.use_params(_params(metric_label="My waits", metric_unit="pathways"))
    assert metrics.metric_info("my_waits").label == "My waits"            # plots, sentences, pages
    metrics.use_params(_params(metric="rtt_52w_waiters"))                  # the next analysis replaces it
    assert metrics.metric_info("my_waits").label == "my waits"
    assert metrics.metric_info("rtt_52w_waiters") is metrics.CATALOGUE["rtt_52w_waiters"]


def test_params_keys_are_checked():
    with pytest.raises(ParameterError, match=r"metric_label"):
        _params(metric_label="")
    with pytest.raises(ParameterError, match=r"metric_unit"):
        _params(metric_unit="x" * 21)


@pytest.fixture(scope="module")
def own_table(tmp_path_factory):
    """The demo's RTT waiting list renamed to a metric id the catalogue does not know."""
    from evallib.data.demo import generate

    d = tmp_path_factory.mktemp("own")
    paths = generate(d / "demo")
    t = pd.read_csv(paths["metrics"], dtype={"org_code": str})
    t = t[t["metric"] == "rtt_waiting_list"].assign(metric="my_waiting_list")
    t.to_csv(d / "own.csv", index=False)
    (d / "own.meta.json").write_text(json.dumps({"synthetic": True}))
    params = d / "own.yaml"
    params.write_text("""title: "Our own waiting list"
data: own.csv
metric: my_waiting_list
metric_label: "Pathways on our own list"
metric_unit: pathways
improvement: decrease
units: [RNA, RL4, RXK, RBK]
comparators: [ZZ001, ZZ002, ZZ003, ZZ004, ZZ005, ZZ006, ZZ007, ZZ008, ZZ009, ZZ010, ZZ011, ZZ012]
start: 2018-04
end: 2023-03
interruptions:
  - {name: covid, date: 2020-03}
  - {name: collaborative, date: 2020-09}
seasonality: none
horizons: [12]
""")
    return params


def test_page_of_an_own_measure_carries_its_label_and_unit(own_table, tmp_path, monkeypatch):
    """The notebook's calls (in-process): title note, sentences, chart axis and summary.json."""
    import matplotlib.pyplot as plt

    from evallib.report import notebook as nb

    shown = []
    monkeypatch.setattr(nb, "md", lambda text, board=True: shown.append(text))
    monkeypatch.setattr(nb, "_display", lambda *objs: None)
    a = nb.start(own_table)
    assert ("> **Note.** my_waiting_list is not in the evallib metric catalogue: its metric_label, metric_unit, "
            "improvement come from the params file.") in shown
    assert shown[-1].startswith("**Measure:** Pathways on our own list (pathways; better when lower).")
    res = nb.fit(a)
    fig, ax = res.plot()
    assert ax.get_ylabel() == "Pathways on our own list (pathways)"
    plt.close(fig)
    sent = res.sentences()[0]
    assert sent.startswith("Twelve months after the collaborative formed (September 2020), pathways on our own "
                           "list were ")
    s = nb.board_summary(a, res)
    assert (s["title"], s["label"], s["unit"], s["improvement"], s["metric"]) == \
        ("Our own waiting list", "Pathways on our own list", "pathways", "decrease", "my_waiting_list")
    assert "pathways" in s["sentence"] and "my waiting list" not in s["sentence"]


@pytest.mark.slow
def test_board_page_of_an_own_measure(own_table, tmp_path):
    import nbformat
    import papermill as pm

    from evallib.batch import notebooks_dir
    from evallib.report.render import render_page

    nbk = pm.execute_notebook(str(notebooks_dir() / "its_outcome.ipynb"), str(tmp_path / "own.ipynb"),
                              parameters={"params_path": str(own_table)}, cwd=str(tmp_path),
                              kernel_name="python3", progress_bar=False)
    page = render_page(nbformat.from_dict(nbk), title="Our own waiting list", synthetic=True)
    text = re.sub(r"<[^>]+>", " ", page)
    assert "pathways on our own list were" in text and "Pathways on our own list: each trust" in page
    assert "my waiting list" not in text


# ------------------------------------------------------------------ the worked example
def _worked_example_code() -> str:
    doc = (REPO / "docs" / "real-data.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- worked-example: tidy_rtt.py[^>]*-->\n```python\n(.*?)```", doc, re.S)
    assert m, "docs/real-data.md has lost its worked example block"
    return m.group(1)


def test_worked_example_turns_the_real_rtt_panel_into_the_tidy_table_and_a_pack(tmp_path, monkeypatch):
    if not RTT_PANEL.is_file():
        pytest.skip(f"real RTT panel not found at {RTT_PANEL} because ../shared is absent")
    from evallib.config import load_pack
    from evallib.data.table import load_table
    from evallib.newpack import new_pack

    code = _worked_example_code()
    assert '"../shared/data/nhs-real/' in code and '"data/real/rtt_waits.csv"' in code
    code = code.replace('"../shared/', f'"{SHARED}/').replace('"data/real/', f'"{tmp_path}/')
    printed = []
    exec(compile(code, "docs/real-data.md", "exec"), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    assert printed == ["37390 rows; 190 trusts; 2019-01 to 2025-02"]
    tt = load_table(tmp_path / "rtt_waits.csv")
    f = tt.frame.set_index(["org_code", "metric", "period"])
    # values read from the raw cells of the panel
    assert f.loc[("RNA", "rtt_over18w_waiters", "2019-01"), "value"] == 2421
    assert f.loc[("RL4", "rtt_over18w_waiters", "2019-01"), "value"] == 6867
    assert f.loc[("RBK", "rtt_52w_waiters", "2019-01"), "value"] == 0
    raw = pd.read_csv(RTT_PANEL, dtype={"org_code": str})
    r = raw[(raw["org_code"] == "RXK") & (raw["period"] == "2021-01-01")].iloc[0]
    row = f.loc[("RXK", "rtt_over52w_share_pct", "2021-01")]
    assert (row["numerator"], row["denominator"]) == (r["waits_over_52_weeks"], r["waits_over_18_weeks"])
    assert row["value"] == pytest.approx(100 * r["waits_over_52_weeks"] / r["waits_over_18_weeks"])
    monkeypatch.chdir(tmp_path)
    out = new_pack("rtt_real.yaml", trusts="RNA,RL4,RXK,RBK", formation="2020-09",
                   measures="rtt_over18w_waiters,rtt_52w_waiters,rtt_over52w_share_pct", data="rtt_waits.csv")
    _, analyses = load_pack(out)
    assert [(a.metric, a.display_title) for a in analyses] == [
        ("rtt_over18w_waiters", "Patients waiting over 18 weeks"), ("rtt_52w_waiters", "52-week waiters"),
        ("rtt_over52w_share_pct", "rtt over52w share pct")]
    assert analyses[2].metric_label == "rtt over52w share pct"
    assert [(i.name, i.date) for i in analyses[0].interruptions] == [("covid", "2020-03"), ("collaborative", "2020-09")]


def test_use_pack_registers_each_metric_once_and_forgets_the_previous_analysis():
    metrics.use_params(_params(metric="other", metric_label="Left over"))
    metrics.use_pack([_params(metric_label="First"), _params(metric_label="Second"),
                      _params(metric="rtt_52w_waiters")])
    assert metrics.metric_info("my_waits").label == "First"
    assert metrics.metric_info("other").label == "other"
    assert metrics.metric_info("rtt_52w_waiters") is metrics.CATALOGUE["rtt_52w_waiters"]
