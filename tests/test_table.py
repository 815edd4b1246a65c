"""The tidy-table contract (docs/contracts.md §1): every bad input raises DataError with an exact message."""
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


# ---------------------------------------------------------------- issue 16: wrong numbers, bounds, sidecars
def test_decimal_comma_is_refused_not_read_as_thousands(tmp_path):
    p = write(tmp_path, HEADER + '2020-01,RNA,,m,"983,9",,\n')
    expect(p, "{p}: line 2, column value: '983,9' has a comma that is not a thousands separator (a decimal "
              "comma?); write numbers with a decimal point ('983.9' if the comma is decimal) and no other "
              "commas than thousands separators (1,234.5)")


def test_thousands_separators_are_read(tmp_path):
    p = write(tmp_path, HEADER + '2020-01,RNA,,m,"1,234",,\n2020-02,RNA,,m,"12,345,678.25",,\n')
    assert load_table(p).frame["value"].tolist() == [1234.0, 12345678.25]


@pytest.mark.parametrize("text", ["inf", "-Infinity", "1e309", "infinity"])
def test_every_non_finite_value_is_one_error(tmp_path, text):
    p = write(tmp_path, HEADER + f"2020-01,RNA,,m,1,,\n2020-02,RNA,,m,{text},,\n")
    expect(p, f"{{p}}: line 3, column value: '{text}' is not a finite number (infinite, or beyond the range of "
              f"numbers); write the value, or leave the cell blank or * if it is missing")


def test_values_beyond_1e15_are_refused(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1e300,,\n")
    expect(p, "{p}: line 2, column value: '1e300' is too large (more than 1e15 in size, beyond any NHS measure); "
              "check the column and the units (rescale to thousands or millions)")


def test_in_memory_frame_with_inf_is_refused():
    df = pd.DataFrame({"period": ["2020-01"], "org_code": ["A"], "metric": ["m"], "value": [np.inf]})
    with pytest.raises(DataError, match=re.escape("<in-memory table>: line 2, column value: inf is not a finite")):
        validate_table(df)


def test_nul_byte(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n2020-02,RN\x00A,,m,1,,\n")
    expect(p, "{p}: line 3 contains a NUL byte (0x00), which a text CSV never has: the file is binary or corrupt; "
              "export the table again as UTF-8 CSV")


def test_a_column_named_twice(tmp_path):
    p = write(tmp_path, "period,org_code,metric,value,value\n2020-01,RNA,m,1,2\n")
    expect(p, "{p}: the header names column 'value' twice (columns 4 and 5); only one would be read: keep one "
              "and rename or delete the other")
    df = pd.DataFrame([["2020-01", "A", "m", 1, 2]], columns=["period", "org_code", "metric", "value", " value"])
    with pytest.raises(DataError, match="names column 'value' twice"):
        validate_table(df)


def test_unrelated_file_is_not_echoed(tmp_path):
    p = write(tmp_path, "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    expect(p, "{p}: the first line is not a tidy-table header (it names none of the columns period, org_code, "
              "metric, value); expected a CSV (or Parquet) tidy table whose header row names the columns "
              "period, org_code, metric, value (numerator, denominator, org_name optional)")


def test_period_year_typo(tmp_path):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n0202-02,RNA,,m,1,,\n")
    expect(p, "{p}: line 3, column period: '0202-02' is outside the years 1800 to 2199; check the year (a typo "
              "would stretch the series over centuries)")


@pytest.mark.parametrize("content,message", [
    ("[true]", "{m}: expected a JSON object such as {{\"synthetic\": true}}, found a JSON array (a list); "
               "delete it or fix it"),
    ('{"synthetic": "no"}', "{m}: \"synthetic\" is \"no\"; it must be true or false"),
    ("{", "{m}: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); "
          "delete it or fix it"),
])
def test_meta_sidecar_must_be_an_object(tmp_path, content, message):
    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n")
    m = tmp_path / "t.meta.json"
    m.write_text(content)
    with pytest.raises(DataError) as info:
        load_table(p)
    assert str(info.value) == message.format(m=m)


def test_sha256_is_the_hash_of_the_bytes_parsed(tmp_path):
    import hashlib

    p = write(tmp_path, HEADER + "2020-01,RNA,,m,1,,\n")
    assert load_table(p).sha256 == hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("name,kind", [("out.xlsx", "a '.xlsx' file"), ("out", "a file without a suffix"),
                                       ("out.txt", "a '.txt' file")])
def test_write_table_refuses_other_suffixes(tmp_path, name, kind):
    df = pd.DataFrame({"period": ["2020-01"], "org_code": ["A"], "metric": ["m"], "value": [1.0]})
    with pytest.raises(DataError) as info:
        write_table(df, tmp_path / name)
    assert str(info.value) == f"{tmp_path / name}: cannot write a tidy table as {kind}: name the file .csv or .parquet"
    assert not (tmp_path / name).exists()


# ---------------------------------------------------------------- evallib.inputs
def test_read_input_refuses_what_is_not_a_regular_file(tmp_path):
    from evallib.inputs import read_input

    os_fifo = tmp_path / "fifo"
    import os

    os.mkfifo(os_fifo)
    cases = {tmp_path: "is a folder", Path("/dev/zero"): "is a device", os_fifo: "is a named pipe (FIFO)"}
    for path, words in cases.items():
        with pytest.raises(DataError) as info:
            read_input(path, what="data file", error=DataError, max_bytes=100)
        assert str(info.value) == f"{path}: data file {words}, not a regular file: name a file"


def test_read_input_never_reads_past_the_bound_even_when_the_size_lies():
    """/proc files report a size of 0; the bound still applies to what is read."""
    from evallib.inputs import read_input

    with pytest.raises(DataError) as info:
        read_input("/proc/self/status", what="data file", error=DataError, max_bytes=16, limit_name="X_BOUND")
    assert str(info.value) == ("/proc/self/status: data file is larger than that; the bound is 16 bytes (set X_BOUND "
                               "to raise the bound): check that it is the file you meant")


def test_os_error_words_and_limits(monkeypatch):
    import errno

    from evallib.inputs import human_bytes, limit, os_error_message

    assert os_error_message(OSError(errno.ELOOP, "x"), "/a", "data file") == (
        "/a: data file is a symbolic link loop (a link that points, directly or through others, to itself): "
        "fix or remove the link")
    assert os_error_message(OSError(errno.ENOEXEC, "Exec format error"), "/a") == \
        "/a: file cannot be used (Exec format error)"
    assert [human_bytes(n) for n in (12, 1536, 1 << 20, 512 << 20)] == ["12 bytes", "1.5 KiB", "1 MiB", "512 MiB"]
    monkeypatch.setenv("EVALLIB_MAX_TABLE_ROWS", "1_000")
    assert limit("EVALLIB_MAX_TABLE_ROWS") == 1000
    monkeypatch.setenv("EVALLIB_MAX_TABLE_ROWS", "-5")   # a typo cannot switch a bound off
    assert limit("EVALLIB_MAX_TABLE_ROWS") == 5_000_000


# ---------------------------------------------------------------- evallib.data.checks
def test_check_informative():
    from evallib.data.checks import check_informative
    from evallib.exceptions import ModelError

    check_informative([1.0, 2.0, np.nan], "m", "f.csv")              # varies: fine
    check_informative([np.nan, 3.0], "m", "f.csv")                   # one value: left to the segment checks
    with pytest.raises(ModelError) as info:
        check_informative([0.0, 0, 0, np.nan, 0], "rtt_52w_waiters", "f.csv")
    assert str(info.value) == ("f.csv: rtt_52w_waiters: every value in the window is 0 (4 periods), so the series "
                               "carries no information to estimate a change; check the metric, the units and "
                               "start/end, or leave this measure out")
    sums = np.array([0.1 + 0.2, 0.3, 0.30000000000000004]) * 1e6    # equal up to rounding: constant
    with pytest.raises(ModelError, match="every value in the window is 300,000"):
        check_informative(sums, "m", "f.csv")
