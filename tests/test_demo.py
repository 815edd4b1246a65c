"""The SYNTHETIC demo: deterministic, labelled, calibrated to real magnitudes, with a truth file."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from evallib.data.demo import SPECS, generate
from evallib.data.table import load_table

BC = ["RNA", "RL4", "RXK", "RBK"]


@pytest.fixture(scope="module")
def demo(demo_dir):
    return load_table(demo_dir / "metrics.csv"), json.loads((demo_dir / "truth.json").read_text())


def system(frame: pd.DataFrame, metric: str) -> pd.Series:
    g = frame[(frame.metric == metric) & frame.org_code.isin(BC)]
    if g["denominator"].notna().any():
        s = g.groupby("period")[["numerator", "denominator"]].sum()
        return 100 * s["numerator"] / s["denominator"]
    return g.groupby("period")["value"].sum()


def test_cli_twice_gives_byte_identical_files(tmp_path):
    for d in ("a", "b"):
        subprocess.run([sys.executable, "-m", "evallib.cli", "demo-data", "--out", str(tmp_path / d)],
                       check=True, capture_output=True)
    for name in ("metrics.csv", "truth.json", "metrics.meta.json", "README.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_another_seed_gives_other_data(tmp_path):
    generate(tmp_path, seed=1)
    assert (tmp_path / "metrics.csv").read_bytes() != generate(tmp_path / "x")["metrics"].read_bytes()


def test_every_file_says_synthetic(demo_dir):
    for name in ("metrics.csv", "truth.json", "metrics.meta.json", "README.txt"):
        assert "SYNTHETIC" in (demo_dir / name).read_text(), name
    raw = pd.read_csv(demo_dir / "metrics.csv")
    assert (raw["source"] == "SYNTHETIC demo data: not real NHS figures").all()


def test_shape_units_and_period(demo):
    tt, truth = demo
    f = tt.frame
    assert tt.synthetic and tt.freq == "M"
    assert f["period"].min() == "2016-04" and f["period"].max() == "2025-03"
    assert f["period"].nunique() == 108
    assert set(BC) <= set(f["org_code"]) and f["org_code"].nunique() == 40
    assert sorted(f["metric"].unique()) == sorted(s.metric for s in SPECS)
    comps = [c for c in f["org_code"].unique() if c not in BC]
    assert all(c.startswith("ZZ") for c in comps) and len(comps) >= 30
    names = tt.org_names()
    assert names["RXK"] == "Sandwell and West Birmingham Hospitals NHS Trust"
    assert names["ZZ001"] == "Comparator Trust 001 (SYNTHETIC)"
    sizes = np.array([truth["unit_sizes"][c] for c in comps])
    assert sizes.min() < 0.6 and sizes.max() > 1.6  # a realistic spread of trust sizes


def test_magnitudes_match_real_figures(demo):
    f = demo[0].frame
    wl = system(f, "rtt_waiting_list")
    assert 90_000 < wl["2019-09"] < 135_000          # QUA about 129k in April 2020 (incl. Part_2A)
    assert 1.5 < wl["2022-09"] / wl["2019-09"] < 2.0  # England 4.42M -> 7.08M
    w52 = system(f, "rtt_52w_waiters")
    assert w52[w52.index < "2020-03"].max() < 40       # almost zero before COVID-19
    assert w52["2021-03"] > 1_000 and w52["2022-09"] > 4_000
    c62 = system(f, "cancer_62d_pct")
    assert 74 < c62[(c62.index >= "2019-01") & (c62.index <= "2019-12")].mean() < 84  # 76-79% in 2019
    r18 = system(f, "rtt_18w_pct")
    assert 80 < r18["2019-09"] < 90 and r18["2021-03"] < 72
    occ = system(f, "critical_care_occupancy_pct")
    assert occ.max() < 100 and occ.min() > 60


def test_rtt_18w_denominator_is_the_waiting_list(demo):
    f = demo[0].frame
    wl = f[f.metric == "rtt_waiting_list"].set_index(["org_code", "period"])["value"]
    pct = f[f.metric == "rtt_18w_pct"].set_index(["org_code", "period"])
    assert (pct["denominator"] == wl.loc[pct.index]).all()
    assert np.allclose(pct["value"], 100 * pct["numerator"] / pct["denominator"], atol=1e-4)


def test_truth_lists_planted_effects_and_nulls(demo):
    _, truth = demo
    effects = {e["metric"]: e for e in truth["effects"]}
    assert set(effects) == {s.metric for s in SPECS}
    nulls = sorted(m for m, e in effects.items() if not e["planted"])
    assert nulls == ["ae_4h_pct", "critical_care_occupancy_pct", "rtt_waiting_list_ent"]
    for m in nulls:
        assert effects[m]["level_change"] == 0 and effects[m]["system"]["12"]["absolute"] == 0
    e = effects["cancer_62d_pct"]
    assert (e["level_change"], e["slope_change"], e["unit"], e["aggregate"]) == (3.0, 0.05, "%", "ratio")
    # additive in percentage points with equal effects per trust: the system effect is L + S*h
    assert e["system"]["12"]["absolute"] == pytest.approx(3.0 + 0.05 * 12, abs=1e-6)
    assert e["system"]["12"]["period"] == "2021-09"
    spend = effects["agency_spend_gbp_k"]
    assert spend["system"]["24"]["absolute"] == pytest.approx(4 * (-60 - 3 * 24), abs=1e-6)
    w52 = effects["rtt_52w_waiters"]
    rel = w52["system"]["12"]["relative"]
    assert rel == pytest.approx(np.exp(-0.12 - 0.006 * 12) - 1, abs=1e-6)


def test_planted_effect_is_visible_in_the_raw_difference(demo):
    """Difference-in-differences of raw means around formation recovers the agency spend effect."""
    f, truth = demo[0].frame, demo[1]
    g = f[f.metric == "agency_spend_gbp_k"].copy()
    g["bc"] = g.org_code.isin(BC)
    size = g.org_code.map(truth["unit_sizes"])
    g["per_size"] = g["value"] / size
    pre = g[(g.period >= "2020-03") & (g.period < "2020-09")]
    post = g[(g.period >= "2020-09") & (g.period < "2021-03")]
    did = (post[post.bc].groupby("org_code").value.mean() - pre[pre.bc].groupby("org_code").value.mean()).mean()
    ctrl = ((post[~post.bc].groupby("org_code").per_size.mean() - pre[~pre.bc].groupby("org_code").per_size.mean())
            * truth["unit_sizes"]["RL4"]).mean()
    # planted: -60 level and -3/month, mean over months 0..5 after formation = -67.5 per trust
    assert -67.5 - 40 < did - ctrl < -67.5 + 40
