"""Disclosure control (evallib.report.disclosure): the NHS Digital rule for sub-national counts."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from evallib.exceptions import DataError, ParameterError, PublishError
from evallib.report import disclosure as dc
from evallib.report.disclosure import NHS_DIGITAL, NO_CONTROL, DisclosurePolicy, apply_count, scan_text


# ------------------------------------------------------------------ apply_count
@pytest.mark.parametrize("x, shown", [
    (0, 0), (0.0, 0),
    (1, "*"), (2, "*"), (3, "*"), (4, "*"), (5, "*"), (6, "*"), (7, "*"),
    (7.4, "*"),            # would display as 7: suppressed
    (0.3, "*"),            # a non-zero fraction of a count is not a zero
    (8, 10), (9, 10), (10, 10), (11, 10), (12, 10), (13, 15), (14, 15), (15, 15),
    (17.5, 20),            # half up
    (1234, 1235), (1232, 1230), (12345.0, 12345), (20914421, 20914420),
    (None, None), (float("nan"), None),
])
def test_nhs_digital_rule_reference_values(x, shown):
    assert apply_count(x) == shown


def test_show_count_formats_with_thousands_separators():
    assert [dc.show_count(x) for x in (0, 3, 8, 1234, 20914421, None)] == \
        ["0", "*", "10", "1,235", "20,914,420", "\u2014"]


def test_negative_or_non_numeric_count_is_a_data_error_naming_the_value():
    with pytest.raises(DataError) as e:
        apply_count(-3)
    assert str(e.value) == ("count: -3 is negative; a count cannot be, and a difference of counts is a "
                            "modelled estimate (kind 'modelled', exempt from rounding)")
    with pytest.raises(DataError, match=r"'abc' is not a count"):
        apply_count("abc")


def test_no_control_and_custom_policies():
    assert [NO_CONTROL.apply_count(x) for x in (0, 3, 1234)] == [0, 3, 1234]
    p = DisclosurePolicy(suppress_max=4, round_to=10, symbol="~")
    assert [p.apply_count(x) for x in (4, 5, 14, 15, 1234)] == ["~", 10, 10, 20, 1230]
    assert p.describe() == ("Small numbers: counts from 1 to 4 are shown as ~; other counts are rounded to the "
                            "nearest 10; 0 is shown as 0. Rates, percentages and modelled estimates are not rounded.")


def test_policy_from_params_values_and_errors():
    assert DisclosurePolicy.from_dict(None) is NHS_DIGITAL
    assert DisclosurePolicy.from_dict("nhs_digital") is NHS_DIGITAL
    assert DisclosurePolicy.from_dict("none") is NO_CONTROL
    assert DisclosurePolicy.from_dict({"round_to": 10}) == DisclosurePolicy(7, 10, "*")
    with pytest.raises(ParameterError) as e:
        DisclosurePolicy.from_dict({"supress_max": 5}, source="pack.yaml")
    assert str(e.value) == ("pack.yaml: disclosure: unknown key(s) supress_max; allowed keys are "
                            "suppress_max, round_to, symbol")
    with pytest.raises(ParameterError) as e:
        DisclosurePolicy.from_dict({"round_to": 0}, source="pack.yaml")
    assert str(e.value) == ("pack.yaml: disclosure: round_to: 0 is not a whole number >= 1 (use 5 for the "
                            "NHS Digital rule, 1 for no rounding)")
    with pytest.raises(ParameterError, match="'strict' is not a known policy"):
        DisclosurePolicy.from_dict("strict")
    with pytest.raises(ParameterError, match="symbol: '5' must be a non-empty text without digits"):
        DisclosurePolicy(symbol="5")


# ------------------------------------------------------------------ tables by column kind
def _small_table():
    # per-trust monthly counts 1..7 (disclosive), a zero, larger counts, a rate, a % and a modelled value
    return pd.DataFrame({
        "org_name": ["Walsall", "Dudley", "Sandwell", "Wolverhampton", "Walsall", "Dudley", "Sandwell", "Walsall"],
        "waiters": [1, 2, 3, 4, 5, 6, 7, 0],
        "referrals": [8, 12, 13, 1234, 98, 100, 1002, float("nan")],
        "pct_within_18w": [3.0, 5.5, 7.0, 61.2, 2.0, 1.0, 4.0, 6.0],
        "rate_per_1000": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.5],
        "expected": [3.2, 4.9, 6.1, 3.0, 2.0, 1.0, 7.0, 0.0],
    })


def test_apply_frame_controls_count_columns_only():
    df = _small_table()
    out = NHS_DIGITAL.apply_frame(df, {"org_name": "label", "waiters": "count", "referrals": "count",
                                       "pct_within_18w": "percentage", "rate_per_1000": "rate",
                                       "expected": "modelled"})
    assert out["waiters"].tolist() == ["*"] * 7 + [0]
    assert out["referrals"].tolist() == [10, 10, 15, 1235, 100, 100, 1000, None]
    for exempt in ("org_name", "pct_within_18w", "rate_per_1000", "expected"):
        pd.testing.assert_series_equal(out[exempt], df[exempt])
    assert df["waiters"].tolist() == [1, 2, 3, 4, 5, 6, 7, 0]      # the input is not changed


def test_apply_frame_errors_name_column_kind_and_row():
    df = _small_table()
    with pytest.raises(ParameterError) as e:
        dc.apply_frame(df, {"waiters": "counts"}, source="trust table")
    assert str(e.value) == ("trust table: column 'waiters': kind 'counts' is not one of "
                            "count, rate, percentage, modelled, label")
    with pytest.raises(DataError, match=r"column 'patients' named in the disclosure kinds is not in the table"):
        dc.apply_frame(df, {"patients": "count"})
    df.loc[5, "waiters"] = -2
    with pytest.raises(DataError, match=r"^table: column 'waiters', row 5: -2 is negative"):
        dc.apply_frame(df, {"waiters": "count"})


# ------------------------------------------------------------------ scan_text
def _page(cells: list[str]) -> str:
    rows = "".join(f"<tr><td>Walsall</td><td class='num'>{c}</td></tr>" for c in cells)
    return f"""<!DOCTYPE html><html><head><style>td {{ padding:1px 3px; line-height:1.45 }}</style></head>
<body><h1>RTT 52+ week waiters, fourier2 seasonality, evallib v0.1.0</h1>
<p>Twelve months after the collaborative formed (2020-09, quarter 2021-Q3, at 12:30), 52-week waiters were
22% lower (95% CI 45% lower to 11% higher), a change of &#8722;1,078 patients, +3 pp, &minus;4 pp, -5 and \u22126.
Built in 2021 with 4.5 points.</p>
<img src="data:image/png;base64,AAAA3BBBB5" alt="Chart of 4 trusts">
<table>{rows}</table></body></html>"""


def test_scan_text_finds_each_disclosive_count_1_to_7_in_a_built_page():
    raw = [1, 2, 3, 4, 5, 6, 7, 0, 1234, 1235]
    # the same table passed through the policy: nothing disclosive is left
    safe = _page([dc.show_count(x) for x in raw])
    hits = scan_text(safe, raw, ignore=["4 trusts"])
    assert hits == []
    # raw cells: every count 1..7 is found once, 1,234 (not a multiple of 5) is found, 0 and 1,235 are not
    leaky = _page([f"{x:,}" for x in raw])
    hits = scan_text(leaky, raw, ignore=["4 trusts"])
    assert [h.value for h in hits] == [1, 2, 3, 4, 5, 6, 7, 1234]
    assert [h.text for h in hits][-1] == "1,234"
    assert all(leaky[h.offset:h.offset + len(h.text)] == h.text for h in hits)
    assert all(h.text not in h.context.replace("Walsall", "") for h in hits)   # the number is masked


def test_scan_text_skips_labels_durations_dates_and_numbered_things():
    text = ("Cancer 62-day standard, A&E 4-hour target, 52-week waiters; 12 months after, 3 quarters, "
            "7 days; built 1 December 2026 (March 3); Ljung-Box lag 5, page 6, figure 2, table 4; ratio \u00d71")
    assert scan_text(text, range(1, 100)) == []
    # the same numbers as counts are found
    assert [h.value for h in scan_text("62 waited; 4 patients; 7 referrals", range(1, 100))] == [62, 4, 7]


def test_scan_text_reads_alt_text_and_json_numbers():
    page = _page([])
    hits = scan_text(page, [4])
    assert [(h.value, h.context) for h in hits] == [(4, "Chart of # trusts")]
    summary = json.dumps({"observed": 3.0, "counterfactual": 3.2, "absolute": -3.0, "period": "2021-03",
                          "n": [3, 12]})
    assert [(h.text, h.value) for h in scan_text(summary, [3, 12])] == [("3.0", 3), ("3", 3), ("12", 12)]


def test_scan_text_with_no_disclosive_counts_is_empty_and_check_text_raises():
    assert scan_text("3 of 5", [0, 10, 1235]) == []
    assert scan_text("3 of 5", [3], policy=NO_CONTROL) == []
    with pytest.raises(PublishError) as e:
        dc.check_text("<td>6</td>", [6], source="rtt/rtt.html")
    msg = str(e.value)
    assert msg.startswith("rtt/rtt.html: 1 number(s) equal to a raw count that the disclosure policy")
    assert "'#'" in msg and "show_count" in msg


def test_disclosive_set_is_exactly_the_counts_the_policy_changes():
    counts = list(range(0, 30)) + [1234, 1235, 2.5, math.nan, -1, "x"]
    assert NHS_DIGITAL.disclosive(counts) == ({1, 2, 3, 4, 5, 6, 7} | {c for c in range(8, 30) if c % 5}
                                              | {1234})


def test_table_counts_takes_numerators_denominators_and_count_metrics_only():
    frame = pd.DataFrame({
        "period": ["2021-01"] * 4, "org_code": ["RNA", "RNA", "RXK", "RXK"], "org_name": [""] * 4,
        "metric": ["rtt_52w_waiters", "cancer_62d_pct", "agency_spend_gbp_k", "rtt_52w_waiters"],
        "value": [3.0, 75.0, 512.0, float("nan")],
        "numerator": [float("nan"), 6.0, float("nan"), float("nan")],
        "denominator": [float("nan"), 8.0, float("nan"), float("nan")]})
    # 52-week waiters (a count) 3; the 62-day % is not a count but its numerator 6 and denominator 8 are;
    # agency spend (continuous, £k) is not a count
    assert dc.table_counts(frame) == {3, 6, 8}
    assert dc.table_counts(frame, metrics=["rtt_52w_waiters"]) == {3}
    page = "<td>75.0%</td><td>6 of 8 patients</td><td>£512k</td>"
    # 6 is suppressed (*) and 8 is shown as 10 under the rule: both raw values are disclosive
    assert [h.value for h in scan_text(page, dc.table_counts(frame))] == [6, 8]
