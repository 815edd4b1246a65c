"""The notebooks in notebooks/: stored thin and clean, documented parameters, and they execute.

Execution uses papermill's default engine (a real ipykernel), as an evaluator's
`papermill` run or JupyterLab would, on the demo table written into tmp_path.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from evallib.batch import notebooks_dir

NOTEBOOKS = sorted(notebooks_dir().glob("*.ipynb"))
PARAM_LINE = re.compile(r'^(?P<name>[A-Za-z_]\w*): (?P<type>[A-Za-z_][\w\[\], |]*) = (?P<value>.+?)  # (?P<help>\S.*)$')


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_the_two_board_notebooks():
    names = {p.stem for p in NOTEBOOKS}
    assert {"its_outcome", "data_quality"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs_or_execution_counts(path):
    nb = nbformat.read(str(path), as_version=4)
    dirty = [i for i, c in enumerate(_code_cells(nb)) if c.get("outputs") or c.get("execution_count") is not None]
    assert dirty == [], f"{path.name}: code cells {dirty} have outputs or execution counts (clear them)"
    assert "papermill" not in nb.metadata, f"{path.name}: papermill metadata left in the notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_typed_parameters_with_help(path):
    nb = nbformat.read(str(path), as_version=4)
    first = _code_cells(nb)[0]
    assert "parameters" in first.metadata.get("tags", []), f"{path.name}: first code cell is not tagged parameters"
    lines = [ln for ln in first.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines, f"{path.name}: empty parameters cell"
    for ln in lines:
        assert PARAM_LINE.match(ln), f"{path.name}: parameter line {ln!r} is not `name: type = value  # help`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_functions_or_classes(path):
    nb = nbformat.read(str(path), as_version=4)
    for c in _code_cells(nb):
        tree = ast.parse(c.source)
        defs = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert defs == [], f"{path.name}: defines {defs}; move them into evallib"


def test_papermill_help_documents_every_parameter():
    import papermill

    from evallib.report.params_cell import ANALYSIS_KEYS

    info = papermill.inspect_notebook(str(notebooks_dir() / "its_outcome.ipynb"))
    assert list(info) == ["params_path", "overrides", "results_path", *ANALYSIS_KEYS]
    assert info["params_path"]["inferred_type_name"] == "str"
    assert info["params_path"]["default"] == '"../params/rtt_52w_waiters.yaml"'
    assert info["metric"]["inferred_type_name"] == "str" and info["metric"]["default"] == "None"
    assert info["alpha"]["inferred_type_name"] == "float" and info["horizons"]["inferred_type_name"] == "list"
    assert all(v["help"] for v in info.values())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_names_are_those_the_library_checks(path):
    """papermill sees every parameter (no line it cannot parse), and they are the names
    params_cell.check_injected accepts for the notebook."""
    import papermill

    from evallib.report.params_cell import NOTEBOOK_PARAMETERS

    info = papermill.inspect_notebook(str(path))
    assert tuple(info) == NOTEBOOK_PARAMETERS[path.stem]


def test_analyst_cells_of_its_outcome_are_tagged_and_call_the_model_view():
    nb = nbformat.read(str(notebooks_dir() / "its_outcome.ipynb"), as_version=4)
    tagged = [c.source for c in nb.cells if "analyst" in c.metadata.get("tags", [])]
    calls = [s for s in tagged if s.startswith(("specification", "coefficients", "fit_check", "event_study"))]
    assert calls == ["specification = nb.show_specification(a, res)", "coefficients = nb.show_coefficients(a, res)",
                     "fit_check = nb.show_fit_check(a, res)", "event_study = nb.show_event_study_table(a, res)"]
    assert tagged[0].startswith("### The model (analyst view)")


def test_board_rendering_drops_analyst_cells():
    from evallib.report.render import notebook_body

    nb = nbformat.v4.new_notebook()
    shown = nbformat.v4.new_code_cell("x")
    shown.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "BOARD-TEXT"})]
    hidden = nbformat.v4.new_code_cell("y")
    hidden.metadata["tags"] = ["analyst"]
    hidden.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "ANALYST-TEXT"})]
    hidden_md = nbformat.v4.new_markdown_cell("ANALYST-HEADING")
    hidden_md.metadata["tags"] = ["analyst"]
    nb.cells = [shown, hidden_md, hidden]
    body = notebook_body(nb)
    assert "BOARD-TEXT" in body and "ANALYST-TEXT" not in body and "ANALYST-HEADING" not in body


# ------------------------------------------------------------------ execution
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from evallib.data.demo import generate

    d = tmp_path_factory.mktemp("demo")
    paths = generate(d / "data")
    params = d / "small.yaml"
    params.write_text(f"""title: "Small demo: RTT waiting list"
data: {paths['metrics']}
metric: rtt_waiting_list
units: [RNA, RL4, RXK, RBK]
comparators: [ZZ001, ZZ002, ZZ003, ZZ004, ZZ005, ZZ006, ZZ007, ZZ008, ZZ009, ZZ010, ZZ011, ZZ012]
start: 2018-04
end: 2023-03
interruptions:
  - {{name: covid, date: 2020-03}}
  - {{name: collaborative, date: 2020-09}}
seasonality: none
horizons: [12]
""")
    return d, params


@pytest.mark.slow
def test_its_outcome_executes_and_writes_results_json(demo, tmp_path):
    import papermill as pm

    _, params = demo
    out = tmp_path / "its.ipynb"
    nb = pm.execute_notebook(str(notebooks_dir() / "its_outcome.ipynb"), str(out),
                             parameters={"params_path": str(params)}, cwd=str(tmp_path),
                             kernel_name="python3", progress_bar=False)
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["schema"] == "evallib.results/1" and res["metric"] == "rtt_waiting_list"
    assert res["design"] == "controlled"
    assert [e["horizon"] for e in res["effects"] if e["interruption"] == "collaborative"] == [12]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["improvement"] == "decrease" and summary["headline"]["horizon"] == 12
    text = "\n".join(o.get("data", {}).get("text/markdown", "") for c in nb.cells for o in c.get("outputs", []))
    assert "COVID-19" in text                                     # always discussed
    assert "SYNTHETIC DATA" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 3                                            # ITS chart, trusts, SPC (at least)


@pytest.mark.slow
def test_data_quality_executes_and_writes_its_summary(demo, tmp_path):
    import papermill as pm

    _, params = demo
    nb = pm.execute_notebook(str(notebooks_dir() / "data_quality.ipynb"), str(tmp_path / "dq.ipynb"),
                             parameters={"params_path": str(params)}, cwd=str(tmp_path),
                             kernel_name="python3", progress_bar=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["kind"] == "data_quality" and summary["synthetic"] is True
    assert sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) == 1


# ------------------------------------------------------------------ notebook parameters
@pytest.fixture(scope="module")
def demo_relative(demo):
    """The small demo params file with a data path relative to the params file's folder."""
    d, params = demo
    sub = d / "params"
    sub.mkdir(exist_ok=True)
    text = params.read_text().replace(f"data: {d / 'data' / 'metrics.csv'}", "data: ../data/metrics.csv")
    assert "data: ../data/metrics.csv" in text
    rel = sub / "small.yaml"
    rel.write_text(text)
    return rel


@pytest.mark.slow
def test_metric_parameter_from_another_folder_follows_the_metric(demo_relative, tmp_path, monkeypatch):
    """papermill -p metric cancer_62d_pct, run from a folder that is neither the notebook's
    nor the params file's: title, labels and aggregation are those of the 62-day standard;
    the executed notebook shows the model view; the board page shows neither code nor it."""
    import papermill as pm

    from evallib.report.render import render_page

    monkeypatch.chdir(tmp_path)
    nb = pm.execute_notebook(str(notebooks_dir() / "its_outcome.ipynb"), str(tmp_path / "out.ipynb"),
                             parameters={"params_path": str(demo_relative), "metric": "cancer_62d_pct"},
                             kernel_name="python3", progress_bar=False)
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["metric"] == "cancer_62d_pct" and res["title"] == "Cancer 62-day treatment standard"
    assert res["provenance"]["params"]["aggregate"] == "ratio" and res["model"] == "quasibinomial"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["title"], summary["label"], summary["unit"], summary["improvement"]) == \
        ("Cancer 62-day treatment standard", "Cancer 62-day treatment standard", "%", "increase")
    text = "\n".join(o.get("data", {}).get("text/markdown", "") for c in nb.cells for o in c.get("outputs", []))
    assert "# Cancer 62-day treatment standard" in text
    assert ("cancer_62d_pct is a percentage: the trusts are combined by aggregate ratio (summed numerators over "
            "summed denominators), not by the sum by default, which would add percentages.") in text
    assert "adds the percentages" not in json.dumps(res["warnings"])
    analyst = [c for c in nb.cells if "analyst" in c.metadata.get("tags", []) and c.cell_type == "code"]
    html = "".join(o.get("data", {}).get("text/html", "") for c in analyst for o in c.get("outputs", []))
    assert "<td class=''>Design</td><td class=''>controlled (aligned)</td>" in html
    assert "level_change[collaborative]" in html and "mean_effect[collaborative]" in html   # coefficient table
    assert "**Comparators:** 12 kept, 0 dropped." in text
    page = render_page(nb, title=summary["title"], synthetic=True)
    assert "level_change[collaborative]" not in page and "Comparators:</strong> 12 kept" not in page
    assert "Residual autocorrelation" not in page and "nb.start" not in page and "show_system" not in page
    assert "Credibility scorecard" in page                      # the board sections are still there


@pytest.mark.slow
def test_unknown_parameter_stops_the_notebook_with_one_line(demo_relative, tmp_path):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as err:
        pm.execute_notebook(str(notebooks_dir() / "its_outcome.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"params_path": str(demo_relative), "not_a_key": 1}, cwd=str(tmp_path),
                            kernel_name="python3", progress_bar=False)
    assert err.value.ename == "ParameterError"
    assert err.value.evalue == (
        "its_outcome.ipynb: parameter not_a_key is not known to this notebook (it takes params_path, overrides, "
        "results_path, metric, units, aggregate, comparators, design, model, start, end, interruptions, "
        "seasonality, alpha, horizons, title); check the spelling, or pass any other params key as "
        "-y '{\"overrides\": {\"not_a_key\": ...}}'")
    out = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    errors = [o for c in out.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(errors) == 1 and "\n" not in errors[0]["evalue"]
    assert not (tmp_path / "results.json").exists()


# ------------------------------------------------------------------ params_cell (no kernel)
def test_injected_names_read_papermills_cell_from_the_history():
    from evallib.exceptions import ParameterError
    from evallib.report.params_cell import check_injected, injected_names

    ns = {"In": ["", 'params_path: str = "x.yaml"  # help',
                 '# Parameters\nparams_path = "p.yaml"\nmetric = "m"\nnot_a_key = 1\n']}
    assert injected_names(ns) == ["params_path", "metric", "not_a_key"]
    assert injected_names({"In": ["x = 1"]}) is None            # JupyterLab: no injected cell, nothing checked
    check_injected({"In": ['# Parameters\nparams_path = "p.yaml"\n']}, "its_outcome")
    with pytest.raises(ParameterError) as err:
        check_injected({"_ih": ['# Parameters\nfoo = 1\nbar = 2\n']}, "data_quality")
    assert str(err.value) == ("data_quality.ipynb: parameters foo, bar are not known to this notebook (it takes "
                              "params_path, metrics, units, summary_path); check the spelling")


def test_merge_follows_a_changed_metric():
    from evallib.report.params_cell import merge

    raw = {"title": "Black Country: 52-week waiters", "metric": "rtt_52w_waiters", "aggregate": "sum",
           "target": 0.0, "units": ["A", "B"], "data": "x.csv"}
    out, notes = merge(raw, {}, {"metric": "cancer_62d_pct", "units": "A, C"}, "p.yaml", lambda m, u: False)
    assert out["title"] == "Cancer 62-day treatment standard" and "target" not in out
    assert out["aggregate"] == "mean" and out["units"] == ["A", "C"]
    assert notes == [
        "The metric is cancer_62d_pct instead of the params file's rtt_52w_waiters, so the file's title, target "
        "(which describe rtt_52w_waiters) are not used; the title is 'Cancer 62-day treatment standard'.",
        "cancer_62d_pct is a percentage: the trusts are combined by aggregate mean (mean of the percentages; the "
        "table has no numerators and denominators for it), not by the sum in the params file, which would add "
        "percentages."]
    # an explicit aggregate or title wins, and an unchanged metric changes nothing
    out, notes = merge(raw, {"aggregate": "sum"}, {"metric": "cancer_62d_pct", "title": "T"}, "p.yaml")
    assert (out["aggregate"], out["title"], notes[0].endswith("(which describes rtt_52w_waiters) is not used.")) == \
        ("sum", "T", True)
    assert merge(raw, {}, {"metric": "rtt_52w_waiters"}, "p.yaml") == (raw, [])


def test_coerce_reads_command_line_text_as_the_key_expects():
    from evallib.exceptions import ParameterError
    from evallib.report.params_cell import coerce

    assert coerce("units", "RNA,RL4") == ["RNA", "RL4"] and coerce("comparators", "all_other") == "all_other"
    assert coerce("comparators", "ZZ001, ZZ002") == ["ZZ001", "ZZ002"] and coerce("horizons", 12) == [12]
    assert coerce("horizons", "12,24") == [12, 24] and coerce("start", 2019) == "2019"
    assert coerce("interruptions", "covid=2020-03,collaborative=2020-09") == \
        [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]
    assert coerce("interruptions", {"collaborative": "2021-04"}) == [{"name": "collaborative", "date": "2021-04"}]
    with pytest.raises(ParameterError, match=r"^notebook parameter horizons: 'x' is not a whole number"):
        coerce("horizons", "12,x")


def test_params_path_resolves_from_any_working_directory(tmp_path, monkeypatch):
    from evallib.exceptions import ParameterError
    from evallib.report.params_cell import find_params_file

    monkeypatch.chdir(tmp_path)
    found = find_params_file("../params/rtt_52w_waiters.yaml")       # the notebook's default, from elsewhere
    assert found == (notebooks_dir().parent / "params" / "rtt_52w_waiters.yaml").resolve()
    (tmp_path / "mine.yaml").write_text("x: 1\n")
    assert find_params_file("mine.yaml") == Path("mine.yaml")         # the working directory first
    with pytest.raises(ParameterError) as err:
        find_params_file("nope.yaml")
    assert str(err.value).startswith(f"nope.yaml: params file not found (looked in {tmp_path.resolve()} and "
                                     f"{notebooks_dir().resolve()})")


def test_start_applies_parameters_and_refuses_unknown_ones(demo_relative, tmp_path, monkeypatch):
    from evallib.exceptions import ParameterError
    from evallib.report import notebook as nb

    monkeypatch.chdir(tmp_path)
    ns = {"In": ['# Parameters\nparams_path = "x"\nmetric = "ae_4h_pct"\nalpha = 0.1\n'], "metric": "ae_4h_pct",
          "alpha": 0.1, "horizons": "6,12", "title": None}
    a = nb.start(demo_relative, {}, namespace=ns)
    p = a.params
    assert (p.metric, p.alpha, p.horizons, p.aggregate, p.title) == ("ae_4h_pct", 0.1, [6, 12], "ratio",
                                                                     "A&E seen within 4 hours")
    assert a.info.label == "A&E seen within 4 hours" and a.params_path == demo_relative
    ns["In"].append("# Parameters\nmetrc = 'x'\n")
    with pytest.raises(ParameterError, match=r"^its_outcome.ipynb: parameter metrc is not known"):
        nb.start(demo_relative, {}, namespace=ns)


def test_fit_never_falls_back_to_another_design(demo_relative, monkeypatch):
    import evallib
    from evallib.exceptions import ModelError
    from evallib.report import notebook as nb

    a = nb.start(demo_relative)
    calls = []

    def refuse(params, table):
        calls.append(params.resolved_design)
        raise ModelError("too few comparators with a complete series")

    monkeypatch.setattr(evallib, "analyse", refuse)
    with pytest.raises(ModelError) as err:
        nb.fit(a)
    assert calls == ["controlled"]
    assert str(err.value) == ("the controlled design cannot be fitted for rtt_waiting_list: too few comparators "
                              "with a complete series; to analyse the treated trusts alone instead, set design: "
                              "single (a single-group analysis cannot separate the collaborative from COVID-19)")


@pytest.fixture
def shown(monkeypatch):
    from evallib.report import notebook as nb

    out = []
    monkeypatch.setattr(nb, "md", lambda text, board=True: out.append(text))
    monkeypatch.setattr(nb, "_display", lambda *objs: out.append(objs[0]))
    monkeypatch.setattr(nb, "_show_fig", lambda fig, alt=None: out.append("<figure>"))
    return out


def test_model_view_of_a_single_group_ols_fit(demo_relative, shown):
    from evallib.report import notebook as nb

    a = nb.start(demo_relative, design="single", model="ols-hac")
    res = nb.fit(a)
    spec = dict(nb.show_specification(a, res))
    assert spec["Design"] == "single" and spec["Model"] == "ols-hac as given in the params"
    assert spec["Newey-West lag"].startswith(f"{res.diagnostics()['hac_lags']} (auto")
    assert spec["Periods"] == "2018-04 to 2023-03, 60 observations" and "Comparators" not in spec
    shown.clear()
    coef = nb.show_coefficients(a, res)
    assert coef.equals(res.coefficients) and "level_change[collaborative]" in set(coef["term"])
    check = nb.show_fit_check(a, res)
    assert check["acf"] == res.diagnostics()["acf"] and check["n"] == 60
    assert check["band"] == pytest.approx(1.96 / 60 ** 0.5)
    assert sum(isinstance(o, str) and o == "<figure>" for o in shown) == 2
    assert nb.show_event_study_table(a, res) is None
    assert shown[-1] == "The single design has no event study (it is a feature of the comparator-aligned design)."


def test_model_view_of_the_aligned_design_lists_comparators_and_the_event_study(demo_relative, shown):
    from evallib.report import notebook as nb

    a = nb.start(demo_relative)
    res = nb.fit(a)
    kept, dropped = nb.comparators(res)
    assert kept == [f"ZZ{k:03d}" for k in range(1, 13)] and dropped == {}
    spec = dict(nb.specification(a, res))
    assert spec["Design"] == "controlled (aligned)"
    assert spec["Comparators"].startswith("12 kept, 0 dropped (")
    assert spec["Inference"] == (f"placebo systems (Conley-Taber intervals, placebo-rank p-values); "
                                 f"{res.n_placebos} placebo systems, studentized, seed 20200901")
    sf = nb.coefficient_table(res)
    assert list(sf["group"].unique()) == ["treated", "control", "difference"]
    es = nb.show_event_study_table(a, res)
    assert len(es) == 60 and list(es.columns[:3]) == ["period", "event_time", "gap"]


def test_model_view_of_a_synthetic_control_has_weights_not_coefficients(demo_relative, shown):
    from evallib.report import notebook as nb

    a = nb.start(demo_relative, design="synthetic")
    res = nb.fit(a)
    nb.show_specification(a, res)
    table = [o for o in shown if hasattr(o, "columns")][-1]
    assert set(table["Status"]) == {"kept"} and table["Reason"].str.startswith("weight ").all()
    shown.clear()
    coef = nb.show_coefficients(a, res)            # no regression terms: the mean post-period gap, placebo CI
    assert list(coef["term"]) == ["mean_effect[collaborative]"] and list(coef["group"]) == ["difference"]
    assert coef["ci_lower"].iloc[0] < coef["estimate"].iloc[0] < coef["ci_upper"].iloc[0]
    assert nb.show_fit_check(a, res)["n"] == 29       # observed minus fitted in the fitted periods


def _plan(curves: dict, table_rows: list[dict], alpha=0.05, n_post_now=54):
    import pandas as pd

    from evallib.its.power import PowerPlan

    curve = pd.DataFrame([{"scenario": s, "n_post": n, "extra_periods": n - n_post_now, "mde": m, "mde_relative": m}
                          for s, pts in curves.items() for n, m in pts],
                         columns=["scenario", "n_post", "extra_periods", "mde", "mde_relative"])
    return PowerPlan(table=pd.DataFrame(table_rows), curve=curve, relative_change=0.10, power=0.8, alpha=alpha,
                     model="prais-winsten", metric="m", last_period="2025-03", n_post_now=n_post_now, label="m",
                     unit_word="month")


def test_power_conclusions_are_computed_from_the_curves():
    from evallib.report.notebook import power_conclusions

    plan = _plan({"controlled: A": [(3, 0.30), (9, 0.20), (15, 0.15), (21, 0.12), (27, 0.11), (54, 0.0995),
                                    (60, 0.0990)],
                  "single group: B": [(3, 0.90), (21, 0.60), (60, 0.40)]},
                 [{"scenario": "controlled: A", "primary": True, "size": 0.052},
                  {"scenario": "single group: B", "primary": False, "size": 0.11}])
    assert power_conclusions(plan, n_sim=1000) == [
        "Under the primary scenario (controlled: A), the minimum detectable change falls from 30.0% with 3 months "
        "of data after the interruption to 12.0% with 21 and 9.9% with 60; most of the fall comes early and the "
        "curve then flattens: with a long post-period the uncertainty left is in the pre-period trend and the "
        "earlier segments, which more data after the interruption cannot reduce.",
        "controlled: A: reaches the 10% target at about 54 months after the interruption (already reached with "
        "the data now) on the curve's 6-month grid.",
        "single group: B: stays above the 10% target within 60 months (lowest 40.0% at 60 months).",
        "No single-group scenario reaches the target while a controlled one does: with the earlier interruption "
        "(COVID-19) modelled beside the collaborative, later data do not separate the two in a single series. "
        "This is why the controlled design is primary.",
        "The primary curve is nearly flat where it crosses the target (it falls by 0.04 percentage points per "
        "month there), so the crossing month is uncertain: a few more simulated series or a slightly different "
        "noise estimate could move it by several months. Read the minimum detectable change, not just the "
        "crossing month.",
        "The test's size (false-positive rate) differs from alpha = 0.05 by more than two simulation standard "
        "errors (0.014) in: single group: B (0.110, over-rejecting: its power is overstated)."]
    # other numbers, other sentences: a steep crossing and no single-group scenario
    plan = _plan({"controlled: A": [(3, 0.40), (9, 0.25), (15, 0.08), (60, 0.05)]},
                 [{"scenario": "controlled: A", "primary": True, "size": 0.05}], n_post_now=9)
    lines = power_conclusions(plan, n_sim=1000)
    assert lines[1] == ("controlled: A: reaches the 10% target at about 15 months after the interruption (6 more "
                        "than now) on the curve's 6-month grid.")
    assert lines[2] == ("Where the primary curve crosses the target it still falls by 2.83 percentage points per "
                        "month, so the crossing month is well determined.")
    assert lines[3].startswith("The test's size (false-positive rate) is within two simulation standard errors")
