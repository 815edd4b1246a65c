"""Sicily smoking ban (Lopez Bernal 2017): all four published models, through `evallib fit --json`.

The reference values are in ../shared/validation/sicily/README.md (R 4.x glm, normal
intervals). Our ``t`` starts at 0 where the paper's ``time`` starts at 1, so intercepts
differ; rate ratios do not. In model 4 the paper's slope term ``I(time-36):smokban`` is
1 in the first post-ban month while ours (docs/contracts.md §3) is 0 there, so the paper's
level change is our ``level_change - slope_change``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evallib.cli import main

SICILY = Path(__file__).resolve().parents[2] / "shared" / "validation" / "sicily" / "sicily.csv"


@pytest.fixture(scope="module")
def sicily_csv(tmp_path_factory) -> Path:
    if not SICILY.exists():
        pytest.skip("../shared/validation/sicily/sicily.csv is absent, so the Sicily reproduction cannot run")
    s = pd.read_csv(SICILY)
    out = tmp_path_factory.mktemp("sicily") / "sicily_tidy.csv"
    pd.DataFrame({"period": [f"{y}-{m:02d}" for y, m in zip(s["year"], s["month"])], "org_code": "SICILY",
                  "metric": "aces", "value": s["aces"], "denominator": s["stdpop"]}).to_csv(out, index=False)
    return out


def fit_json(csv: Path, capsys, **extra) -> dict:
    lines = [f"data: {csv.name}", "metric: aces", "units: [SICILY]", "horizons: [0, 12]"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    params = csv.parent / f"p_{abs(hash(tuple(sorted(extra.items()))))}.yaml"
    params.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["fit", str(params), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


LEVEL = "interruptions: [{name: smokban, date: 2005-01, terms: [level]}]"
BOTH = "interruptions: [{name: smokban, date: 2005-01, terms: [level, slope]}]"


@pytest.mark.parametrize("model,seasonality,rr,lo,hi,disp", [
    ("poisson", "none", 0.8944, 0.8647, 0.9251, 1.0),
    ("quasipoisson", "none", 0.8944, 0.8392, 0.9532, 3.5592),
    ("quasipoisson", "fourier2", 0.8851, 0.8394, 0.9332, 2.2622),
])
def test_sicily_models_1_to_3_rate_ratio_ci_and_dispersion(sicily_csv, capsys, model, seasonality, rr, lo, hi,
                                                           disp):
    d = fit_json(sicily_csv, capsys, model=model, seasonality=seasonality,
                 interruptions=LEVEL.split(": ", 1)[1])
    T = d["groups"]["treated"]["level_change[smokban]"]
    assert round(T["ratio"], 4) == rr
    assert [round(v, 4) for v in T["ratio_ci"]] == [lo, hi]
    assert round(d["diagnostics"]["dispersion"], 4) == disp
    assert d["n_obs"] == 59 and d["model"] == model


def test_sicily_model_4_level_ratio_and_f_test(sicily_csv, capsys):
    d = fit_json(sicily_csv, capsys, model="quasipoisson", seasonality="fourier2",
                 interruptions=BOTH.split(": ", 1)[1])
    g = d["groups"]["treated"]
    paper_level = math.exp(g["level_change[smokban]"]["estimate"] - g["slope_change[smokban]"]["estimate"])
    assert round(paper_level, 4) == 0.8765
    t = d["diagnostics"]["slope_change_test"]
    assert round(t["F"], 4) == 0.6388 and round(t["p"], 4) == 0.4279
    assert t["df"] == [1, 51]


def test_sicily_model_4_level_ratio_ci_in_paper_parameterisation(sicily_csv):
    import evallib

    res = evallib.analyse({"data": str(sicily_csv), "metric": "aces", "units": ["SICILY"], "model": "quasipoisson",
                           "seasonality": "fourier2",
                           "interruptions": [{"name": "smokban", "date": "2005-01", "terms": ["level", "slope"]}]})
    w = np.zeros(len(res.columns))
    w[res.columns.index("level_change[smokban]")] = 1
    w[res.columns.index("slope_change[smokban]")] = -1
    est, se = res.fit.contrast(w)
    z = res.fit.crit(0.05)
    assert [round(math.exp(v), 4) for v in (est, est - z * se, est + z * se)] == [0.8765, 0.8268, 0.9292]


def test_sicily_default_model_is_quasipoisson_because_aces_are_counts(sicily_csv, capsys):
    d = fit_json(sicily_csv, capsys, seasonality="fourier2", interruptions=LEVEL.split(": ", 1)[1])
    assert d["model"] == "quasipoisson"
    assert d["diagnostics"]["model_choice"] == ("model not given: quasipoisson because every value of aces is a "
                                                "non-negative integer (a count)")
    assert round(d["groups"]["treated"]["level_change[smokban]"]["ratio"], 4) == 0.8851


def test_sicily_relative_effect_at_horizon_0_equals_level_rate_ratio_minus_one(sicily_csv, capsys):
    d = fit_json(sicily_csv, capsys, model="quasipoisson", seasonality="fourier2",
                 interruptions=LEVEL.split(": ", 1)[1])
    e0 = next(e for e in d["effects"] if e["horizon"] == 0)
    T = d["groups"]["treated"]["level_change[smokban]"]
    assert e0["relative"]["estimate"] == pytest.approx(T["ratio"] - 1, abs=1e-9)
    assert e0["relative"]["ci"] == pytest.approx([T["ratio_ci"][0] - 1, T["ratio_ci"][1] - 1], abs=1e-9)
    assert e0["period"] == "2005-01"
