"""A constant treated series carries no information to estimate a change: every design says so
with one ModelError instead of an interval that excludes zero (issue: hardening)."""
from __future__ import annotations

import pytest

import evallib
from evallib.config import params_from_dict
from evallib.data.demo import generate_frame
from evallib.data.table import as_table
from evallib.exceptions import ModelError

BC = ["RNA", "RL4", "RXK", "RBK"]


@pytest.fixture(scope="module")
def flat():
    f, _ = generate_frame()
    f = f.copy()
    m = (f["metric"] == "agency_spend_gbp_k") & f["org_code"].isin(BC)
    f.loc[m, "value"] = 1000.0
    return as_table(f, "flat.csv")


@pytest.mark.parametrize("design", [{"design": "single", "comparators": "none"}, {"design": "controlled"},
                                    {"design": "controlled", "controlled_method": "stacked"},
                                    {"design": "synthetic"}, {"design": "sdid"}])
def test_every_design_refuses_a_constant_series(flat, design):
    p = params_from_dict({"data": "flat.csv", "metric": "agency_spend_gbp_k", "units": BC,
                          "comparators": "all_other", "horizons": [12],
                          "interruptions": [{"name": "covid", "date": "2020-03"},
                                            {"name": "collaborative", "date": "2020-09"}], **design})
    with pytest.raises(ModelError) as e:
        evallib.analyse(p, flat)
    assert "agency_spend_gbp_k: every value in the window is 4,000 (108 periods), so the series carries no " \
           "information to estimate a change" in str(e.value)
