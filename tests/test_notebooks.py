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

    info = papermill.inspect_notebook(str(notebooks_dir() / "its_outcome.ipynb"))
    assert set(info) == {"params_path", "overrides", "results_path"}
    assert info["params_path"]["inferred_type_name"] == "str"
    assert info["params_path"]["default"] == '"../params/rtt_52w_waiters.yaml"'
    assert all(v["help"] for v in info.values())


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
