"""Making Data Count XmR rules, icons and charts, checked against hand-worked series.

Conventions used in every docstring below:
- MR̄ is the mean moving range; limits are mean ± 2.66·MR̄; the near (two-sigma)
  band starts at mean ± 1.7733·MR̄ (2/3 × 2.66 = 1.77333...).
- Series are monthly from 2020-01 unless stated. "idx" is the 0-based row.
- Most series are built so that the mean is 10 and MR̄ is 1, giving
  limits 7.34 / 12.66 and near-band edges 8.2267 / 11.7733.
"""
from __future__ import annotations

import base64
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from evallib.exceptions import DataError, ParameterError  # noqa: E402
from evallib.plots.spc import ICON_KINDS, icon_data_uri, icon_png, spc_chart  # noqa: E402
from evallib.spc import POINT_COLUMNS, xmr  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def series(values, start="2020-01"):
    """A monthly frame with string period labels."""
    periods = pd.period_range(start, periods=len(values), freq="M").strftime("%Y-%m")
    return pd.DataFrame({"period": list(periods), "value": values})


def types(r):
    return list(r.points["point_type"])


def rules(r):
    return list(r.points["rule"])


# Seven below the mean then seven above; mean 10, MR̄ 1 (used by several tests).
SEVEN_LOW_SEVEN_HIGH = [9.5, 8.5, 9.5, 8.5, 9.5, 8.5, 9.5, 10.5, 11.5, 10.5, 11.5, 10.5, 11.5, 10.5]
# Twelve points alternating 9.5 / 10.5: mean 10, MR̄ 1, no signal.
ZIGZAG_12 = [9.5, 10.5] * 6


# ---------------------------------------------------------------------------
# Shifts
# ---------------------------------------------------------------------------

def test_run_of_exactly_six_on_one_side_is_not_a_shift():
    """6 low, one point on the mean, 6 high: no rule fires.

    values 9.5 8.5 9.5 8.5 9.5 8.5 | 10 | 10.5 11.5 10.5 11.5 10.5 11.5
    sum = 54 + 10 + 66 = 130, n = 13 -> mean 10.
    MRs: five 1s, |8.5-10| = 1.5, |10-10.5| = 0.5, five 1s -> 12 / 12 -> MR̄ = 1.
    Limits 7.34 / 12.66; near band beyond 8.2267 / 11.7733: 8.5 and 11.5 are inside it.
    Steps alternate, so no trend. The longest run on one side is 6 (< 7): no shift.
    The latest point (11.5) is common cause -> variation common_cause.
    """
    r = xmr(series([9.5, 8.5] * 3 + [10] + [10.5, 11.5] * 3), improvement="increase")
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"]) == pytest.approx((10.0, 1.0))
    assert (g["lpl"], g["upl"]) == pytest.approx((7.34, 12.66))
    assert types(r) == ["common_cause"] * 13
    assert r.variation == "common_cause"
    assert r.assurance is None


def test_run_of_exactly_seven_on_each_side_is_a_shift():
    """7 low then 7 high: both runs are shifts.

    sum low = 9.5·4 + 8.5·3 = 63.5, high = 10.5·4 + 11.5·3 = 76.5 -> 140 / 14 = 10.
    MRs: all 13 are exactly 1 -> MR̄ = 1; limits 7.34 / 12.66; no point in the near band.
    Runs: idx 0-6 below (7) and idx 7-13 above (7) -> every point is a shift.
    Increase is better: low = concern, high = improvement; latest point high ->
    variation improvement_high. Target 13 > UPL 12.66 with higher better -> fail.
    """
    r = xmr(series(SEVEN_LOW_SEVEN_HIGH), improvement="increase", target=13)
    assert (r.groups.iloc[0]["mean"], r.groups.iloc[0]["mr_bar"]) == pytest.approx((10.0, 1.0))
    assert rules(r) == ["shift"] * 14
    assert types(r) == ["concern"] * 7 + ["improvement"] * 7
    assert list(r.points["side"]) == ["low"] * 7 + ["high"] * 7
    assert (r.variation, r.assurance) == ("improvement_high", "fail")


def test_point_on_the_mean_breaks_a_run():
    """7 low (a shift), then 3 high, one point exactly on the mean, 4 high.

    values: 9.5 8.5 9.5 8.5 9.5 8.5 9.5 | 10.5 11.5 10.5 | 10 | 11.5 10.5 11.5 10.5
    sum = 63.5 + 32.5 + 10 + 44 = 150, n = 15 -> mean 10 exactly, so idx 10 sits on it.
    MRs: 6 ones, then 1, 1, 1, 0.5, 1.5, 1, 1, 1 -> 14 / 14 -> MR̄ = 1 (limits 7.34/12.66).
    The high side has 8 points, but the point on the mean splits them 3 + 4: no shift.
    The low run of 7 is a shift (concern, since increase is better).
    Latest point common cause -> variation common_cause.
    Target 7 < LPL 7.34 with higher better -> pass.
    """
    vals = [9.5, 8.5, 9.5, 8.5, 9.5, 8.5, 9.5, 10.5, 11.5, 10.5, 10, 11.5, 10.5, 11.5, 10.5]
    r = xmr(series(vals), improvement="increase", target=7)
    assert (r.groups.iloc[0]["mean"], r.groups.iloc[0]["mr_bar"]) == pytest.approx((10.0, 1.0))
    assert types(r) == ["concern"] * 7 + ["common_cause"] * 8
    assert r.points["side"].iloc[10] is None
    assert (r.variation, r.assurance) == ("common_cause", "pass")


# ---------------------------------------------------------------------------
# Trends
# ---------------------------------------------------------------------------

def test_trend_crossing_the_mean_is_a_trend():
    """Six zigzag points then 7 strictly rising points that cross the mean.

    values: 9 11 9 11 9 11 | 8.5 9 9.5 10 10.5 11 11.5
    sum = 60 + 70 = 130, n = 13 -> mean 10.
    MRs: five 2s = 10, |11-8.5| = 2.5, six 0.5s = 3 -> 15.5 / 12 -> MR̄ = 1.29167.
    Limits 10 ± 3.4358 = 6.564 / 13.436; near 10 ± 2.2906 = 7.709 / 12.291: nothing near.
    idx 6-12 rise 6 times in a row = 7 points -> trend (high), even though 3 are below
    the mean and one (10) is on it. No shift (at most 3 in a row above).
    Increase is better -> the 7 trend points are improvement; variation improvement_high.
    Target 10 lies between the limits -> hit_and_miss.
    """
    r = xmr(series([9, 11] * 3 + [8.5, 9, 9.5, 10, 10.5, 11, 11.5]), improvement="increase",
            target=10)
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"]) == pytest.approx((10.0, 15.5 / 12))
    assert rules(r) == [None] * 6 + ["trend"] * 7
    assert types(r) == ["common_cause"] * 6 + ["improvement"] * 7
    assert list(r.points["side"].iloc[6:]) == ["high"] * 7
    assert (r.variation, r.assurance) == ("improvement_high", "hit_and_miss")


def test_equal_neighbours_break_a_trend():
    """As above but the rising run repeats 10: 8.5 9 9.5 10 10 10.5 11 11.5.

    sum = 60 + 80 = 140, n = 14 -> mean 10.
    MRs: 10 + 2.5 + 1.5 + 0 + 1.5 = 15.5 over 13 -> MR̄ = 1.1923; limits 6.828 / 13.172;
    near 7.886 / 12.114: nothing near or outside.
    The tie (10 -> 10) splits 8 rising points into runs of 4 and 4 (< 7): no trend.
    No shift: 10 sits on the mean. Everything is common cause.
    Target 14 > UPL 13.172 with *lower* better -> pass (the process stays under it).
    """
    r = xmr(series([9, 11] * 3 + [8.5, 9, 9.5, 10, 10, 10.5, 11, 11.5]), improvement="decrease",
            target=14)
    assert r.groups.iloc[0]["mr_bar"] == pytest.approx(15.5 / 13)
    assert types(r) == ["common_cause"] * 14
    assert (r.variation, r.assurance) == ("common_cause", "pass")


# ---------------------------------------------------------------------------
# Two of three
# ---------------------------------------------------------------------------

def test_two_of_three_in_the_near_band_on_the_same_side():
    """9 10 9 10 9 10 9 10 9 10 | 12 11 12.

    sum = 95 + 35 = 130, n = 13 -> mean 10.
    MRs: nine 1s, |10-12| = 2, 1, 1 -> 13 / 12 -> MR̄ = 1.08333.
    Limits 10 ± 2.8817 = 7.118 / 12.882; near band beyond 10 ± 1.9211 = 8.079 / 11.921.
    12 lies in the high near band (11.921 < 12 < 12.882); 11 does not.
    Window (12, 11, 12): all above the mean and two in the band -> the two 12s signal;
    the 11 between them is not in the band, so it stays common cause (as NHSRplotthedots).
    Latest point 12 is improvement (increase) -> improvement_high.
    Target 12 lies inside 7.118 / 12.882 -> hit_and_miss.
    """
    r = xmr(series([9, 10] * 5 + [12, 11, 12]), improvement="increase", target=12)
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"]) == pytest.approx((10.0, 13 / 12))
    assert (g["near_lower"], g["near_upper"]) == pytest.approx((10 - 2 * 2.66 / 3 * 13 / 12,
                                                                10 + 2 * 2.66 / 3 * 13 / 12))
    assert rules(r) == [None] * 10 + ["two_of_three", None, "two_of_three"]
    assert types(r) == ["common_cause"] * 10 + ["improvement", "common_cause", "improvement"]
    assert (r.variation, r.assurance) == ("improvement_high", "hit_and_miss")


def test_two_of_three_on_opposite_sides_is_no_signal():
    """9 10 11 10 9 10 11 10 9 10 11 10.5 | 12.5 9.5 7.5.

    sum = 120.5 + 29.5 = 150, n = 15 -> mean 10.
    MRs: ten 1s, 0.5, 2, 3, 2 -> 17.5 / 14 -> MR̄ = 1.25.
    Limits 10 ± 3.325 = 6.675 / 13.325; near band beyond 10 ± 2.2167 = 7.783 / 12.217.
    12.5 is in the high band and 7.5 in the low band, in the same window of three,
    but on opposite sides of the mean -> no two-of-three. Nothing else fires.
    Target 6 < LPL 6.675 with higher better -> pass.
    """
    r = xmr(series([9, 10, 11, 10] * 2 + [9, 10, 11, 10.5, 12.5, 9.5, 7.5]), improvement="increase",
            target=6)
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"]) == pytest.approx((10.0, 1.25))
    assert g["near_upper"] < 12.5 < g["upl"] and g["lpl"] < 7.5 < g["near_lower"]
    assert types(r) == ["common_cause"] * 15
    assert (r.variation, r.assurance) == ("common_cause", "pass")


def test_point_beyond_the_limit_does_not_count_towards_two_of_three():
    """9.5 10.5 × 11 (22 points) then 13, 15.5, 11.5.

    sum = 220 + 40 = 260, n = 25 -> mean 10.4.
    MRs: 21 ones, 2.5, 2.5, 4 -> 30 / 24 -> MR̄ = 1.25.
    Limits 10.4 ± 3.325 = 7.075 / 13.725; near band beyond 10.4 ± 2.2167 = 8.183 / 12.617.
    13 is in the near band; 15.5 is beyond the limit. The window (10.5, 13, 15.5) is all
    above the mean but has only one point *in the band* (NHSRplotthedots counts
    close-to-limit points only), so 13 is common cause; 15.5 is outside.
    Latest point 11.5 is common cause -> variation common_cause.
    Target 14 > UPL 13.725 with higher better -> fail.
    """
    r = xmr(series([9.5, 10.5] * 11 + [13, 15.5, 11.5]), improvement="increase", target=14)
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"]) == pytest.approx((10.4, 1.25))
    assert g["near_upper"] < 13 < g["upl"] < 15.5
    assert rules(r) == [None] * 23 + ["outside", None]
    assert types(r) == ["common_cause"] * 23 + ["improvement", "common_cause"]
    assert (r.variation, r.assurance) == ("common_cause", "fail")


def test_seven_equal_points_on_the_mean_are_neither_trend_nor_shift():
    """9 11 9 11 9 11 then 10 × 7: sum 60 + 70 = 130, n = 13 -> mean 10.

    MRs: five 2s, |11-10| = 1, six 0s -> 11 / 12 -> MR̄ = 0.91667; limits 7.562 / 12.438.
    The seven 10s lie on the mean (no side, no shift) and never rise or fall (no trend).
    """
    r = xmr(series([9, 11] * 3 + [10] * 7), improvement="increase")
    assert r.groups.iloc[0]["mr_bar"] == pytest.approx(11 / 12)
    assert types(r) == ["common_cause"] * 13
    assert list(r.points["side"].iloc[6:]) == [None] * 7
    assert (r.variation, r.assurance) == ("common_cause", None)


# ---------------------------------------------------------------------------
# Outside limits and overlapping rules
# ---------------------------------------------------------------------------

def test_overlapping_rules_follow_outside_trend_two_of_three_shift_priority():
    """9.5 8.5 ×5 (10 points) then 10.5 11 11.5 12 12.5 13 15.5.

    sum = 90 + 86 = 176, n = 17 -> mean 176/17 = 10.3529.
    MRs: nine 1s, 2, five 0.5s, 2.5 -> 16 / 16 -> MR̄ = 1 exactly.
    Limits 10.3529 ± 2.66 = 7.6929 / 13.0129; near band beyond 8.5796 / 12.1263.
    - idx 0-9 are all below the mean (run of 10) -> shift (low);
    - the 8.5s (idx 1,3,5,7,9) are in the low near band; each window (8.5, 9.5, 8.5) is
      all below the mean with two points in the band -> two_of_three beats shift;
    - idx 9-16 rise 7 times (8.5 -> 15.5): 8 points -> trend (high), which beats
      two_of_three at idx 9 and at 12.5 / 13 (idx 14, 15, in the high near band);
    - 15.5 > 13.0129 -> outside, which beats trend.
    Increase is better: low points concern, high improvement; latest -> improvement_high.
    Target 7 < LPL 7.6929 with higher better -> pass.
    """
    vals = [9.5, 8.5] * 5 + [10.5, 11, 11.5, 12, 12.5, 13, 15.5]
    r = xmr(series(vals), improvement="increase", target=7)
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"]) == pytest.approx((176 / 17, 1.0))
    assert rules(r) == ["shift", "two_of_three"] * 4 + ["shift"] + ["trend"] * 7 + ["outside"]
    assert types(r) == ["concern"] * 9 + ["improvement"] * 8
    assert (r.variation, r.assurance) == ("improvement_high", "pass")


def test_point_below_lower_limit_is_outside_and_concern_when_increase_is_better():
    """Twelve 9.5/10.5 points then 1.

    sum = 120 + 1 = 121, n = 13 -> mean 9.3077.
    MRs: eleven 1s + |10.5 - 1| = 9.5 -> 20.5 / 12 -> MR̄ = 1.70833.
    Limits 9.3077 ± 4.5442 = 4.7635 / 13.8519: 1 < 4.7635 -> outside (low).
    The low point drags the mean down to 9.31, below both 9.5 and 10.5, so the first
    twelve points are a run of 12 above the mean -> shift (high). With increase better:
    the shift is improvement, the last point concern -> variation concern_low.
    """
    r = xmr(series(ZIGZAG_12 + [1]), improvement="increase")
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"]) == pytest.approx((121 / 13, 20.5 / 12))
    assert rules(r) == ["shift"] * 12 + ["outside"]
    assert types(r) == ["improvement"] * 12 + ["concern"]
    assert (r.variation, r.assurance) == ("concern_low", None)


# ---------------------------------------------------------------------------
# Directions (every variation icon)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("values, improvement, variation, last_type", [
    (SEVEN_LOW_SEVEN_HIGH, "increase", "improvement_high", "improvement"),
    (SEVEN_LOW_SEVEN_HIGH, "decrease", "concern_high", "concern"),
    (SEVEN_LOW_SEVEN_HIGH, "neutral", "neither_high", "neither"),
    (SEVEN_LOW_SEVEN_HIGH[::-1], "increase", "concern_low", "concern"),
    (SEVEN_LOW_SEVEN_HIGH[::-1], "decrease", "improvement_low", "improvement"),
    (SEVEN_LOW_SEVEN_HIGH[::-1], "neutral", "neither_low", "neither"),
])
def test_direction_sets_the_variation_icon(values, improvement, variation, last_type):
    """The 7-low/7-high series (mean 10, MR̄ 1) and its reverse (7 high, then 7 low).

    The latest run is a shift on the high side (or the low side, reversed). Whether
    that is improvement or concern depends only on the improvement direction; a
    neutral metric gives neither_high / neither_low.
    """
    r = xmr(series(values), improvement=improvement, target=10)
    assert r.variation == variation
    assert r.points["point_type"].iloc[-1] == last_type
    # a neutral metric never has an assurance icon, even with a target
    assert (r.assurance is None) == (improvement == "neutral")


# ---------------------------------------------------------------------------
# Assurance
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("target, improvement, assurance", [
    (10.0, "increase", "hit_and_miss"),   # 7.34 < 10 < 12.66
    (10.0, "decrease", "hit_and_miss"),
    (13.0, "increase", "fail"),           # above UPL 12.66: a higher target is never reached
    (13.0, "decrease", "pass"),           # above UPL and lower is better: always under it
    (7.0, "increase", "pass"),            # below LPL 7.34: always above it
    (7.0, "decrease", "fail"),
    (None, "increase", None),             # no target, no assurance
    (13.0, "neutral", None),              # neutral metric, no assurance
])
def test_target_inside_above_and_below_the_limits(target, improvement, assurance):
    """ZIGZAG_12 = 9.5 10.5 × 6: mean 10, eleven MRs of 1 -> MR̄ 1, limits 7.34 / 12.66.

    Target inside the limits -> hit_and_miss; beyond the limit on the improvement
    side -> pass; beyond the other limit -> fail. All points common cause.
    """
    r = xmr(series(ZIGZAG_12), improvement=improvement, target=target)
    assert (r.groups.iloc[0]["lpl"], r.groups.iloc[0]["upl"]) == pytest.approx((7.34, 12.66))
    assert r.assurance == assurance
    assert types(r) == ["common_cause"] * 12
    assert r.variation == "common_cause"


def test_target_exactly_on_a_limit_is_hit_and_miss():
    """Target equal to the upper limit is not *beyond* it -> hit_and_miss."""
    upl = xmr(series(ZIGZAG_12)).groups.iloc[0]["upl"]
    assert xmr(series(ZIGZAG_12), improvement="increase", target=upl).assurance == "hit_and_miss"


# ---------------------------------------------------------------------------
# Rebasing
# ---------------------------------------------------------------------------

def test_rebase_gives_each_group_its_own_limits():
    """12 points 9.5/10.5 (2020) then 12 points 19.5/20.5 (2021), rebased at 2021-01.

    With the rebase: group 1 mean 10, MR̄ 1 (limits 7.34/12.66); group 2 mean 20,
    MR̄ 1 (limits 17.34/22.66). Everything is common cause. Target 15 with increase
    better lies below group 2's LPL 17.34 -> pass.

    Without it: mean 15, MR̄ = (22 × 1 + 9 [10.5 -> 19.5]) / 23 = 31/23; 12 low then
    12 high are both shifts -> improvement_high, and target 15 = mean -> hit_and_miss.
    """
    df = series(ZIGZAG_12 + [19.5, 20.5] * 6)
    r = xmr(df, improvement="increase", target=15, rebase=["2021-01"])
    g = r.groups
    assert list(g["start"]) == ["2020-01", "2021-01"]
    assert list(g["mean"]) == pytest.approx([10.0, 20.0])
    assert list(g["mr_bar"]) == pytest.approx([1.0, 1.0])
    assert list(g["upl"]) == pytest.approx([12.66, 22.66])
    assert r.points["lpl"].iloc[11] == pytest.approx(7.34)
    assert r.points["lpl"].iloc[12] == pytest.approx(17.34)
    assert types(r) == ["common_cause"] * 24
    assert (r.variation, r.assurance) == ("common_cause", "pass")
    assert r.rebase == ["2021-01"]

    plain = xmr(df, improvement="increase", target=15)
    assert plain.groups.iloc[0]["mr_bar"] == pytest.approx(31 / 23)
    assert (plain.variation, plain.assurance) == ("improvement_high", "hit_and_miss")


@pytest.mark.parametrize("rebase", [pd.Period("2019-06", freq="M"), "2020-01", "2021-01"])
def test_rebase_outside_the_series_is_ignored_with_a_warning(rebase):
    """A rebase must fall after the first period (2020-01) and on or before the last
    (2020-12): before the series, at its first period (nothing to split) or after it,
    it is ignored and the warning names it."""
    r = xmr(series(ZIGZAG_12), rebase=[rebase])
    assert r.rebase == []
    assert list(r.groups["group"]) == [0]
    assert r.warnings == [f"rebase {rebase} ignored: it is not after the first period 2020-01 "
                          "and on or before the last 2020-12"]


# ---------------------------------------------------------------------------
# Missing values and short series
# ---------------------------------------------------------------------------

def test_missing_values_are_skipped_in_limits_and_runs():
    """The 7-low/7-high series with NaN inserted inside the low run (after idx 2).

    Observed points are unchanged: mean 10. The MR across the gap is |9.5 - 8.5| = 1
    (observed neighbours), so MR̄ is still 13/13 = 1. The gap neither breaks the low
    run (still 7 observed points -> shift) nor counts as a point. The missing row
    keeps the limits but has no type, rule or side, and is not special cause.
    """
    vals = SEVEN_LOW_SEVEN_HIGH[:3] + [np.nan] + SEVEN_LOW_SEVEN_HIGH[3:]
    r = xmr(series(vals), improvement="increase")
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"], g["n_points"]) == pytest.approx((10.0, 1.0, 14))
    gap = r.points.iloc[3]
    assert gap["point_type"] is None and gap["rule"] is None and gap["side"] is None
    assert not gap["special_cause"]
    assert gap["upl"] == pytest.approx(12.66)
    assert types(r) == ["concern"] * 3 + [None] + ["concern"] * 4 + ["improvement"] * 7
    assert (r.variation, r.assurance) == ("improvement_high", None)


def test_absent_rows_are_treated_like_missing_values():
    """Dropping the NaN row (a period absent from the data) gives the same points for
    every observed period: limits and runs use observed points only either way."""
    vals = SEVEN_LOW_SEVEN_HIGH[:3] + [np.nan] + SEVEN_LOW_SEVEN_HIGH[3:]
    with_nan = xmr(series(vals), improvement="increase")
    absent = xmr(series(vals).drop(index=3), improvement="increase")
    expected = with_nan.points.drop(index=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(absent.points, expected)
    assert absent.variation == with_nan.variation == "improvement_high"


def test_fewer_than_twelve_points_get_trial_limits_and_a_warning():
    """Eight points 9.5/10.5: mean 10, MR̄ 1 -> limits 7.34/12.66, but only 8 points
    (< 12), so they are trial limits and a warning says so. All common cause; target 12
    lies inside the (trial) limits -> hit_and_miss."""
    r = xmr(series([9.5, 10.5] * 4), improvement="decrease", target=12)
    assert (r.groups.iloc[0]["lpl"], r.groups.iloc[0]["upl"]) == pytest.approx((7.34, 12.66))
    assert bool(r.groups.iloc[0]["trial"]) is True
    assert r.warnings == ["group starting 2020-01 has 8 points (fewer than 12): its limits are "
                          "trial limits and will move as points are added"]
    assert types(r) == ["common_cause"] * 8
    assert (r.variation, r.assurance) == ("common_cause", "hit_and_miss")


def test_screen_outliers_drops_large_moving_ranges_as_nhsrplotthedots():
    """NHSRplotthedots' deviations-vignette series 1 2 1 2 10 1 2 ... 1 (18 points).

    sum = 9 ones + 8 twos + 10 = 35 -> mean 35/18 = 1.9444.
    MRs: 1 1 1 8 9 then twelve 1s -> 32 / 17 -> MR̄ = 1.88235 (UPL 1.9444 + 5.0071 = 6.9515).
    Screening: 3.267 × 1.88235 = 6.149, so the MRs 8 and 9 go; the 15 left are 1 ->
    MR̄ = 1, UPL = 1.9444 + 2.66 = 4.6044, LPL = -0.7156. The 10 is outside either way.
    """
    vals = [1, 2, 1, 2, 10] + [1, 2] * 6 + [1]
    plain = xmr(series(vals))
    screened = xmr(series(vals), screen_outliers=True)
    assert plain.groups.iloc[0]["mr_bar"] == pytest.approx(32 / 17)
    assert plain.groups.iloc[0]["upl"] == pytest.approx(35 / 18 + 2.66 * 32 / 17)
    assert screened.groups.iloc[0]["mr_bar"] == pytest.approx(1.0)
    assert (screened.groups.iloc[0]["lpl"], screened.groups.iloc[0]["upl"]) == pytest.approx(
        (35 / 18 - 2.66, 35 / 18 + 2.66))
    assert plain.points["rule"].iloc[4] == screened.points["rule"].iloc[4] == "outside"
    # only the 10 signals (1s and 2s alternate about the mean, none near a limit)
    assert types(screened) == ["common_cause"] * 4 + ["improvement"] + ["common_cause"] * 13
    assert (screened.variation, screened.assurance) == ("common_cause", None)


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

def test_period_objects_and_labels_give_the_same_points():
    """pd.Period and 'YYYY-MM' strings (in any row order) are read the same way."""
    df = series(SEVEN_LOW_SEVEN_HIGH)
    as_period = df.assign(period=pd.PeriodIndex(df["period"], freq="M")).iloc[::-1]
    a = xmr(df, improvement="increase", rebase="2020-08")
    b = xmr(as_period, improvement="increase", rebase=pd.Period("2020-08", freq="M"))
    pd.testing.assert_frame_equal(a.points, b.points)
    assert list(a.points.columns) == POINT_COLUMNS
    assert a.points["period"].iloc[0] == "2020-01"


def test_duplicate_periods_raise_data_error_naming_the_period():
    df = pd.concat([series(ZIGZAG_12), series([10.0], start="2020-03")])
    with pytest.raises(DataError, match=r"period 2020-03 appears 2 times in column 'period'; "
                                        r"xmr\(\) takes one series"):
        xmr(df)


def test_unknown_improvement_raises_parameter_error():
    with pytest.raises(ParameterError, match=r"improvement 'up' is not one of 'increase', "
                                             r"'decrease', 'neutral'"):
        xmr(series(ZIGZAG_12), improvement="up")


def test_missing_value_column_raises_data_error():
    with pytest.raises(DataError, match=r"column 'rate' is missing"):
        xmr(series(ZIGZAG_12), value="rate")


def test_mixed_period_frequencies_raise_data_error():
    df = series(ZIGZAG_12)
    df.loc[3, "period"] = "2020-Q2"
    with pytest.raises(DataError, match=r"column 'period' mixes monthly and quarterly periods"):
        xmr(df)


def test_to_dict_is_json_ready_and_summary_names_the_icons():
    """Rebased series from test_rebase_gives_each_group_its_own_limits: group 2 has
    mean 20 and limits 17.34 / 22.66; target 15 (increase better) -> pass."""
    import json

    r = xmr(series(ZIGZAG_12 + [19.5, 20.5] * 6), improvement="increase", target=15,
            rebase=["2021-01"])
    d = json.loads(json.dumps(r.to_dict()))
    assert (d["variation"], d["assurance"], d["rebase"]) == ("common_cause", "pass", ["2021-01"])
    assert [g["upl"] for g in d["groups"]] == pytest.approx([12.66, 22.66])
    assert r.summary() == ("Common cause variation: no significant change. Latest limits "
                           "(from 2021-01): mean 20, process limits 17.34 to 22.66. Target 15: "
                           "the process will consistently meet the target.")


# ---------------------------------------------------------------------------
# Icons and chart
# ---------------------------------------------------------------------------

def test_every_icon_is_a_png_of_the_requested_size():
    import matplotlib.image as mpimg
    import io

    for kind in ICON_KINDS:
        png = icon_png(kind, 48)
        assert png.startswith(PNG_SIGNATURE), kind
        assert mpimg.imread(io.BytesIO(png), format="png").shape[:2] == (48, 48)


def test_distinct_icon_kinds_give_distinct_images():
    images = {icon_png(kind) for kind in ICON_KINDS}
    assert len(images) == len(ICON_KINDS) == 10


def test_icon_data_uri_wraps_the_png():
    uri = icon_data_uri("pass", 32)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == icon_png("pass", 32)


def test_unknown_icon_kind_raises_value_error_listing_the_allowed_kinds():
    with pytest.raises(ValueError, match=r"unknown SPC icon kind 'improvement'; allowed: "
                                         r"common_cause, improvement_high, .*, hit_and_miss"):
        icon_png("improvement")


def test_spc_chart_draws_the_limits_mean_and_target_at_the_computed_values():
    """Rebased chart: each group's mean and limits are horizontal lines at its values."""
    r = xmr(series(ZIGZAG_12 + [19.5, 20.5] * 6), improvement="increase", target=15,
            rebase=["2021-01"])
    fig, ax = spc_chart(r, title="Test metric", unit="%", synthetic=True)
    try:
        flat = [tuple(np.round(line.get_ydata(), 6)) for line in ax.get_lines()
                if len(line.get_ydata()) == 2]
        for y in (7.34, 10.0, 12.66, 17.34, 20.0, 22.66, 15.0):
            assert (y, y) in flat, y
        assert ax.get_ylabel() == "Percentage (%)"
        assert ax.get_xlabel() == "Month"
        assert any(t.get_text() == "SYNTHETIC DATA" for t in fig.texts)
    finally:
        plt.close(fig)


def test_spc_chart_leaves_a_gap_for_an_absent_period():
    """Row 2020-04 is absent: x is periods since the first, so the data line has NaN at x=3."""
    r = xmr(series(SEVEN_LOW_SEVEN_HIGH).drop(index=3))
    fig, ax = spc_chart(r)
    try:
        data_line = max(ax.get_lines(), key=lambda line: len(line.get_xdata()))
        assert list(data_line.get_xdata()) == list(range(14))
        assert np.isnan(data_line.get_ydata()[3])
        assert data_line.get_ydata()[4] == SEVEN_LOW_SEVEN_HIGH[4]
    finally:
        plt.close(fig)


def test_spc_chart_draws_into_a_given_axes():
    fig0, ax0 = plt.subplots()
    try:
        fig, ax = spc_chart(xmr(series(ZIGZAG_12)), ax=ax0)
        assert fig is fig0 and ax is ax0
    finally:
        plt.close(fig0)


def test_rebase_labels_of_nearby_dates_do_not_overlap():
    """Rebases six months apart in a 108-month chart (< 12% of the axis): the second label is lifted."""
    periods = [str(p) for p in pd.period_range("2016-04", periods=108, freq="M")]
    df = pd.DataFrame({"period": periods, "value": np.arange(108) % 5 + 10.0})
    fig, ax = spc_chart(xmr(df, improvement="neutral", rebase=["2020-03", "2020-09"]))
    labels = [t for t in ax.texts if t.get_text().startswith("Rebased")]
    assert [t.get_text() for t in labels] == ["Rebased Mar 2020", "Rebased Sep 2020"]
    assert labels[1].get_position()[1] > labels[0].get_position()[1]


# ---------------------------------------------------------------------------
# Rebasing only where a sustained change is evidenced (rebase="evidenced")
# ---------------------------------------------------------------------------

FLAT_24 = [97.0, 103.0] * 12          # mean 100, MR̄ 6: limits 84.04 / 115.96


def rising_backlog():
    """24 flat months (97/103, 2020-01..2021-12), then 18 strict rises of 40 from 140
    (2022-01..2023-06), then 6 months of 820/826: a backlog that climbs and levels off."""
    rise = [140.0 + 40 * k for k in range(18)]
    return series(FLAT_24 + rise + [820.0, 826.0] * 3)


def test_a_rising_backlog_is_held_not_rebased_and_reads_as_concern():
    """Candidate 2022-01: the baseline (24 flat points) has mean 100, MR̄ 6. Every point
    from 2022-01 is above 100 (a shift of 24 starting at the date) and the first 18 of
    them rise strictly (a trend overlapping it), so the limits are held at the baseline:
    no rebase, one group whose limits come from 2020-01..2021-12 (84.04 / 115.96); all 24
    later points are beyond the upper limit, so for a lower-is-better measure they are
    concern, none improvement, and the latest point gives concern_high. 2021-11 (97) and
    2021-12 (103) start the strict rise, so they are flagged as part of the trend."""
    r = xmr(rising_backlog(), improvement="decrease", rebase="evidenced", candidates=["2022-01"])
    assert r.rebase == [] and r.freeze == ["2022-01"]
    assert [d["decision"] for d in r.decisions] == ["held"]
    assert r.decisions[0]["side"] == "high" and r.decisions[0]["point_type"] == "concern"
    g = r.groups.iloc[0]
    assert g["baseline_end"] == "2021-12" and g["n_points"] == 48
    assert (g["mean"], g["mr_bar"]) == pytest.approx((100.0, 6.0))
    assert (g["lpl"], g["upl"]) == pytest.approx((100 - 2.66 * 6, 100 + 2.66 * 6))
    after = r.points.iloc[24:]
    assert list(after["point_type"]) == ["concern"] * 24
    assert list(after["rule"]) == ["outside"] * 24
    # 97, 103 (the last two flat points) start the strict rise: a trend of 20 points
    assert types(r)[:22] == ["common_cause"] * 22
    assert rules(r)[22:24] == ["trend", "trend"] and types(r)[22:24] == ["concern", "concern"]
    assert r.variation == "concern_high"


def test_rebasing_the_rising_backlog_as_given_hides_the_rise_as_improvement():
    """The old automatic behaviour, kept for an explicit rebase: the group from 2022-01
    has mean (sum of the rise 8,640 + 3 × 1,646 = 13,578) / 24 = 565.75, so the first
    rising points (140 ... 420) sit below it and, for a lower-is-better measure, read as
    improvement: the reason the board pages no longer rebase at every interruption."""
    r = xmr(rising_backlog(), improvement="decrease", rebase=["2022-01"])
    assert r.groups.iloc[1]["mean"] == pytest.approx(13578 / 24)
    assert "improvement" in types(r)[24:]
    assert r.decisions == [] and r.freeze == []


def test_a_settled_step_is_rebased_at_its_date():
    """24 points 97/103 then 24 points 77/83 from 2022-01: against the baseline mean 100
    the 24 later points are a shift below it starting at the date, with no trend (they
    alternate), so the limits are recalculated there: group means 100 and 80, MR̄ 6 in
    each; a lower-is-better measure gets an improvement decision and common-cause
    points throughout (each group is stable about its own mean)."""
    df = series(FLAT_24 + [77.0, 83.0] * 12)
    r = xmr(df, improvement="decrease", rebase="evidenced", candidates=["2022-01"])
    assert r.rebase == ["2022-01"] and r.freeze == []
    assert r.decisions[0]["decision"] == "rebased" and r.decisions[0]["point_type"] == "improvement"
    assert list(r.groups["mean"]) == pytest.approx([100.0, 80.0])
    assert list(r.groups["mr_bar"]) == pytest.approx([6.0, 6.0])
    assert set(types(r)) == {"common_cause"}


def test_no_sustained_change_at_a_date_keeps_the_limits():
    """A flat series of 48 points (97/103) with a candidate at 2022-01: nothing shifts,
    so the decision is "none", there is one group with mean 100 over all 48 points and no
    freeze."""
    r = xmr(series(FLAT_24 * 2), improvement="increase", rebase="evidenced", candidates=["2022-01"])
    assert [d["decision"] for d in r.decisions] == ["none"]
    assert "no run of 7 points" in r.decisions[0]["reason"]
    assert r.rebase == [] and r.freeze == [] and len(r.groups) == 1
    assert r.groups.iloc[0]["mean"] == pytest.approx(100.0)


def test_a_change_is_credited_to_its_own_date_not_an_earlier_one():
    """The step of test_a_settled_step_is_rebased_at_its_date with candidates 2021-07
    and 2022-01: the shift starts at 2022-01, which is the next candidate, so 2021-07
    gets "none" and the rebase is at 2022-01. A candidate 2020-06 (19 periods before the
    step, beyond the 12-period window) gets "none" too."""
    df = series(FLAT_24 + [77.0, 83.0] * 12)
    r = xmr(df, improvement="decrease", rebase="evidenced", candidates=["2022-01", "2021-07"])
    assert [(d["date"], d["decision"]) for d in r.decisions] == [("2021-07", "none"), ("2022-01", "rebased")]
    assert r.rebase == ["2022-01"]
    far = xmr(df, improvement="decrease", rebase="evidenced", candidates=["2020-06"])
    assert [d["decision"] for d in far.decisions] == ["none"] and far.rebase == []


def test_explicit_freeze_takes_limits_from_the_baseline():
    """freeze=2022-01 on the flat-then-step series: limits from the first 24 points
    (100, MR̄ 6), so the 24 points at 77/83 are all below the lower limit 84.04: outside
    low; for a higher-is-better measure, concern."""
    df = series(FLAT_24 + [77.0, 83.0] * 12)
    r = xmr(df, improvement="increase", freeze=["2022-01"])
    assert r.freeze == ["2022-01"] and r.groups.iloc[0]["baseline_end"] == "2021-12"
    assert list(r.points["rule"].iloc[24:]) == ["outside"] * 24
    assert r.variation == "concern_low"


def test_candidates_without_evidenced_is_an_error():
    with pytest.raises(ParameterError, match="candidates .* only read with rebase='evidenced'"):
        xmr(series(ZIGZAG_12), candidates=["2020-06"])


def test_evidenced_rebase_function_matches_xmr():
    from evallib.spc import evidenced_rebase

    d = evidenced_rebase(rising_backlog(), ["2022-01"], improvement="decrease")
    r = xmr(rising_backlog(), improvement="decrease", rebase="evidenced", candidates=["2022-01"])
    assert d == r.decisions
    assert r.to_dict()["decisions"] == d and r.to_dict()["freeze"] == ["2022-01"]


def test_held_limits_are_labelled_on_the_chart():
    r = xmr(rising_backlog(), improvement="decrease", rebase="evidenced", candidates=["2022-01"])
    fig, ax = spc_chart(r)
    texts = [t.get_text() for t in ax.texts]
    plt.close(fig)
    assert "Limits held from Jan 2022" in texts
    assert any("limits from Jan 2020 to Dec 2021, held (the change is still a trend)" in t for t in texts)


REAL_RTT = (Path(__file__).resolve().parents[2] / "shared" / "data" / "nhs-real"
            / "rtt_waits_over_18_52_weeks_by_trust_2019-01_2025-02.csv")


def real_52w_tidy():
    """The tidy table of the real panel: waits_over_52_weeks melted into rtt_52w_waiters."""
    raw = pd.read_csv(REAL_RTT, dtype={"org_code": str})
    raw["period"] = raw["period"].str[:7]
    t = raw.melt(id_vars=["org_code", "org_name", "period"], value_vars=["waits_over_52_weeks"],
                 var_name="metric", value_name="value")
    t["metric"] = "rtt_52w_waiters"
    return t


def test_real_52_week_rise_does_not_read_as_improvement():
    """The four Black Country trusts summed, 2019-01..2025-02 (5 a month in 2019, 10,121 in
    March 2021, 22,221 in October 2023). With the interruption dates 2020-03 and 2020-09 as
    candidates: 2020-03 is held (a rise from 2020-04 that is a trend), 2020-09 gets none
    (the change began earlier); the limits stay those of 2019-01..2020-02 (mean 6.857,
    MR̄ 6.077, upper limit 23.02), so every point from 2020-04 is concern and the latest
    variation is concern_high. The old rebasing at both dates made 10 of the 12 months of
    2021 read as improvement."""
    if not REAL_RTT.exists():
        pytest.skip(f"real RTT panel not found at {REAL_RTT} because ../shared is absent")
    t = real_52w_tidy()
    s = (t[t["org_code"].isin(["RNA", "RL4", "RXK", "RBK"])].groupby("period", as_index=False)["value"].sum())
    r = xmr(s, improvement="decrease", rebase="evidenced", candidates=["2020-03", "2020-09"])
    assert [d["decision"] for d in r.decisions] == ["held", "none"]
    assert r.rebase == [] and r.freeze == ["2020-03"]
    g = r.groups.iloc[0]
    assert (g["mean"], g["mr_bar"], g["upl"]) == pytest.approx((48 / 7, 79 / 13, 48 / 7 + 2.66 * 79 / 13))
    p = r.points
    assert set(p.loc[p["period"] >= "2020-04", "point_type"]) == {"concern"}
    assert "improvement" not in set(p.loc[p["period"].str.startswith("2021"), "point_type"])
    assert r.variation == "concern_high"
    old = xmr(s, improvement="decrease", rebase=["2020-03", "2020-09"])
    assert list(old.points.loc[old.points["period"].str.startswith("2021"), "point_type"]).count("improvement") == 10
