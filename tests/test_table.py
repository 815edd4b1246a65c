"""The tidy-table contract (DESIGN.md §1): every bad input raises DataError with an exact message."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evallib.data.table import TIDY_COLUMNS, as_table, load_table, validate_table, write_table
from evallib.exceptions import DataError, EvalError

HEADER = "period,org_code,org_name,metric,value,numerator,denominator\n"


def write(tmp_path: Path, text: str | bytes, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def expect(path: Path, message: str) -> None:
    with pytest.raises(DataError) as info:
        load_table(path)
    assert str(info.value) == message.format(p=path)


def test_valid_table_loads_with_canonical_periods_and_floats(tmp_path):
    p = write(tmp_path, HEADER + "2020-01-01,RNA,Dudley,m,1.5,,\n2020-02,RNA,Dudley,m,2,,\n")
    tt = load_table(p)
    assert list(tt.frame.columns) == TIDY_COLUMNS
    assert tt.frame["period"].tolist() == ["2020-01", "2020-02"]
    assert tt.frame["value"].tolist() == [1.5, 2.0]
    assert tt.freq == "M" and tt.synthetic is False and len(tt.sha256) == 64


def test_missing_column_names_the_column(tmp_path):
    p = write(tmp_path, "period,org_code,value\n2020-01,RNA,1\n")
    expect(p, "{p}: column 'metric' is missing (found: period, org_code, value); the tidy table "
              "needs period, org_code, metric, value (numerator, denominator, org_name optional)")


def test_unparseable_period_names_line_and_value(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n2020-13,RNA,,m,2,,\n")
    expect(p, "{p}: line 3, column period: '2020-13' is not a period "
              "(expected YYYY-MM, YYYY-MM-DD, YYYY-Qn or YYYY)")


def test_duplicate_key_after_normalising_day_labels(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n2020-02,RNA,,m,1,,\n2020-01-01,RNA,,m,2,,\n")
    expect(p, "{p}: line 4 duplicates (org_code RNA, metric m, period 2020-01) first seen at line 2; "
              "each unit, metric and period must appear once")


def test_negative_numerator(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,cancer_62d_pct,50,-3,10\n")
    expect(p, "{p}: line 2, column numerator: -3 is negative; counts cannot be negative")


def test_negative_count_value(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,rtt_52w_waiters,-4,,\n")
    expect(p, "{p}: line 2, column value: -4 is negative for rtt_52w_waiters, a count or percentage; "
              "counts cannot be negative")


def test_negative_value_allowed_for_continuous_metric(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,agency_spend_gbp_k,-4,,\n")
    assert load_table(p).frame["value"].iloc[0] == -4.0


def test_numerator_greater_than_denominator(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,cancer_62d_pct,120,12,10\n")
    expect(p, "{p}: line 2: numerator 12 is greater than denominator 10 (org_code RNA, metric "
              "cancer_62d_pct, period 2020-01); a proportion's numerator cannot exceed its denominator")


def test_mixed_frequencies(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n2020-Q1,RL4,,m,1,,\n")
    expect(p, "{p}: column period mixes monthly and quarterly periods (line 2 '2020-01' and "
              "line 3 '2020-Q1'); use one frequency per table")


def test_non_numeric_value(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n2020-02,RNA,,m,twelve,,\n")
    expect(p, "{p}: line 3, column value: 'twelve' is not a number (suppression marks *, - and "
              "blank cells are allowed and become missing)")


def test_empty_file(tmp_path):
    p = write(tmp_path, "")
    expect(p, "{p}: the file is empty (expected a header row with period, org_code, metric, value "
              "and one row per unit, metric and period)")


def test_header_without_rows(tmp_path):
    p = write(tmp_path, HEADER)
    expect(p, "{p}: has a header but no data rows")


def test_semicolon_delimiter(tmp_path):
    p = write(tmp_path, "period;org_code;metric;value\n2020-01;RNA;m;1\n")
    expect(p, "{p}: the header 'period;org_code;metric;value' is separated by semicolons, not commas; "
              "save the file as comma-separated CSV")


def test_not_utf8(tmp_path):
    p = write(tmp_path, (HEADER + "2020-01,RNA,Caf\u00e9,m,1,,\n").encode("latin-1"))
    expect(p, "{p}: not UTF-8 text (byte 0xe9 on line 2); re-save the file as UTF-8 CSV "
              "(a byte-order mark is fine)")


def test_utf8_bom_loads(tmp_path):
    p = write(tmp_path, b"\xef\xbb\xbf" + (HEADER + "2020-01,RNA,Dudley,m,3,,\n").encode())
    assert load_table(p).frame["value"].tolist() == [3.0]


def test_gap_is_reported_not_filled(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n2020-02,RNA,,m,1,,\n2020-05,RNA,,m,1,,\n")
    tt = load_table(p)
    assert tt.report["gaps"] == [{"org_code": "RNA", "metric": "m", "missing": ["2020-03", "2020-04"]}]
    assert tt.frame["period"].tolist() == ["2020-01", "2020-02", "2020-05"]


def test_suppression_marks_become_missing_and_are_counted(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,*,,\n2020-02,RNA,,m,-,,\n2020-03,RNA,,m,,,\n"
                                 "2020-04,RNA,,m,0,,\n")
    tt = load_table(p)
    v = tt.frame["value"].tolist()
    assert np.isnan(v[0]) and np.isnan(v[1]) and np.isnan(v[2]) and v[3] == 0.0
    assert tt.report["suppressed"]["value"] == 3
    assert tt.report["suppressed_total"] == 3


def test_blank_org_code(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,,,m,1,,\n")
    expect(p, "{p}: line 2, column org_code: blank; every row needs a unit code")


def test_missing_file_says_how_paths_resolve(tmp_path):
    p = tmp_path / "nope.csv"
    expect(p, "{p}: data file not found (check `data:` in the params file; relative paths resolve "
              "against the params file's folder)")


def test_quarterly_and_annual_labels(tmp_path):
    q = load_table(write(tmp_path, HEADER + "2020-Q1,A,,m,1,,\n2020Q2,A,,m,2,,\n", "q.csv"))
    assert q.freq == "Q" and q.frame["period"].tolist() == ["2020-Q1", "2020-Q2"]
    y = load_table(write(tmp_path, HEADER + "2019,A,,m,1,,\n2020,A,,m,2,,\n", "y.csv"))
    assert y.freq == "Y" and y.frame["period"].tolist() == ["2019", "2020"]


def test_parquet_round_trip(tmp_path):
    df = pd.DataFrame({"period": ["2020-01", "2020-02"], "org_code": ["RNA", "RNA"], "org_name": ["D", "D"],
                       "metric": ["m", "m"], "value": [1.0, np.nan], "numerator": [np.nan] * 2,
                       "denominator": [np.nan] * 2})
    p = write_table(df, tmp_path / "t.parquet")
    tt = load_table(p)
    assert tt.frame["period"].tolist() == ["2020-01", "2020-02"]
    assert tt.report["suppressed"]["value"] == 1


def test_in_memory_frame_validates_with_source_name():
    df = pd.DataFrame({"period": ["2020-01"], "org_code": ["RNA"], "metric": ["m"], "value": ["x"]})
    with pytest.raises(DataError, match=re.escape("<in-memory table>: line 2, column value: 'x' is not")):
        as_table(df)


def test_data_error_is_an_eval_error():
    assert issubclass(DataError, EvalError)


def test_demo_table_validates(demo_csv):
    tt = load_table(demo_csv)
    assert tt.synthetic is True
    assert tt.report["suppressed"]["value"] == 3  # the planted A&E reporting gap (ZZ029, 3 months)
    assert validate_table(tt.frame)[0].shape == tt.frame.shape
