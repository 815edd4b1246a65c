"""The synthetic control reads its options from the params YAML (`synthetic:`)."""
from __future__ import annotations

import evallib
from evallib.config import params_from_dict


def test_yaml_fit_before_changes_the_fitting_period(demo_csv):
    base = {"data": str(demo_csv), "metric": "cancer_62d_pct", "units": ["RNA", "RL4", "RXK", "RBK"],
            "aggregate": "ratio", "comparators": "all_other", "design": "synthetic", "seasonality": "none",
            "interruptions": [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]}
    default = evallib.analyse(params_from_dict(base)).to_dict()
    early = evallib.analyse(params_from_dict(dict(base, synthetic={"fit_before": "2020-03"}))).to_dict()
    assert default["design"] == early["design"] == "synthetic"
    assert default["synthetic"]["weights"] != early["synthetic"]["weights"]
    assert early["diagnostics"]["fit_before"] == "2020-03" and default["diagnostics"]["fit_before"] == "2020-09"
