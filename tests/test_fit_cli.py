"""`evallib fit` on the SYNTHETIC demo data, one metric per model family, and bad input."""
from __future__ import annotations

import json

import pytest

from evallib.cli import main

UNITS = "[RNA, RL4, RXK, RBK]"
INTS = "[{name: covid, date: 2020-03}, {name: collaborative, date: 2020-09}]"


def write_params(tmp_path, demo_csv, metric, **kw):
    lines = [f"data: {demo_csv}", f"metric: {metric}", f"units: {UNITS}", f"interruptions: {INTS}"]
    lines += [f"{k}: {v}" for k, v in kw.items()]
    path = tmp_path / f"{metric}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_json(path, capsys) -> dict:
    capsys.readouterr()
    assert main(["fit", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("metric,aggregate,model", [
    ("rtt_52w_waiters", "sum", "quasipoisson"),
    ("cancer_62d_pct", "ratio", "quasibinomial"),
    ("agency_spend_gbp_k", "sum", "ols-hac"),
])
def test_fit_json_on_demo_data_chooses_the_model_family_from_the_data(tmp_path, demo_csv, capsys, metric,
                                                                      aggregate, model):
    d = run_json(write_params(tmp_path, demo_csv, metric, aggregate=aggregate), capsys)
    assert d["model"] == model and d["metric"] == metric and d["design"] == "single"
    assert d["n_obs"] == 108 and d["periods"] == {"first": "2016-04", "last": "2025-03"}
    assert d["diagnostics"]["model_choice"].startswith(f"model not given: {model} because ")
    assert [(e["interruption"], e["horizon"], e["period"]) for e in d["effects"]] == [
        ("covid", 12, "2021-03"), ("covid", 24, "2022-03"),
        ("collaborative", 12, "2021-09"), ("collaborative", 24, "2022-09")]
    assert d["provenance"]["data_sha256"] and d["provenance"]["params"]["metric"] == metric
    if model != "ols-hac":
        assert d["diagnostics"]["dispersion"] > 1  # overdispersed demo series
        assert "ratio" in d["groups"]["treated"]["level_change[collaborative]"]


def test_fit_summary_on_demo_data_mentions_synthetic_and_the_model(tmp_path, demo_csv, capsys):
    path = write_params(tmp_path, demo_csv, "agency_spend_gbp_k", model="ols-hac")
    capsys.readouterr()
    assert main(["fit", str(path)]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC DATA" in out and "model ols-hac" in out and "post_trend[collaborative]" in out


def test_fit_quasibinomial_observed_is_the_percentage_of_summed_numerators(tmp_path, demo_csv, capsys):
    import pandas as pd

    d = run_json(write_params(tmp_path, demo_csv, "cancer_62d_pct", aggregate="ratio"), capsys)
    df = pd.read_csv(demo_csv)
    rows = df[(df["metric"] == "cancer_62d_pct") & df["org_code"].isin(["RNA", "RL4", "RXK", "RBK"])
              & (df["period"] == "2021-09")]
    e = next(e for e in d["effects"] if e["period"] == "2021-09")
    assert e["observed"] == pytest.approx(100 * rows["numerator"].sum() / rows["denominator"].sum(), rel=1e-9)


def test_fit_bad_params_prints_one_line_and_exits_2(tmp_path, demo_csv, capsys):
    path = write_params(tmp_path, demo_csv, "agency_spend_gbp_k", model="ols-hac")
    path.write_text(path.read_text().replace("date: 2020-09", "date: 2030-01"))
    capsys.readouterr()
    assert main(["fit", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == ("evallib fit: error: interruptions[1].date 2030-01 is after the last period 2025-03 of "
                   "agency_spend_gbp_k\n")
