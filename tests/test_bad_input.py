"""Bad input through the `evallib` command: exit code 2, one line on stderr, no traceback.

Table-driven (issue 16). Every case runs in-process through ``evallib.cli.main``
and asserts the exit code, that stderr is exactly one line starting with
``evallib <command>: error:``, and the words that line must contain (the file,
key or line, the value and the fix). Categories:

- ``DATA``: the content of a tidy-table file (``evallib fit``);
- ``DATA_PATHS``: what ``data:`` names (folders, devices, pipes, links, bounds, sidecars);
- ``PARAMS``: the content of a params YAML (``evallib fit``);
- ``PARAMS_FILES``: the params file itself (encoding, size, kind of file);
- ``PACKS``: a pack YAML (``evallib batch``; refused before anything is written);
- ``COMMAND_LINE``: demo-data arguments, run/fit/batch paths, notebooks;
- ``IMPORTS``: ``evallib import`` targets and existing tables.

Output folders and locks (``--out`` of run/batch) are tested with the batch.
"""
from __future__ import annotations

import errno
import gzip
import io
import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

import nhs_fixtures as F
from evallib.cli import main

HEADER = "period,org_code,org_name,metric,value,numerator,denominator\n"
METRIC = "agency_spend_gbp_k"
N = 60  # 2018-01 .. 2022-12


def _label(i: int) -> str:
    return f"{2018 + i // 12}-{i % 12 + 1:02d}"


def _rows(metric: str = METRIC, unit: str = "RNA", value=None, num=None, den=None) -> list[str]:
    out = []
    for i in range(N):
        v = (1000 + 5 * i + (i * 37) % 11) if value is None else value(i)
        out.append(f"{_label(i)},{unit},Dudley,{metric},{v},{'' if num is None else num(i)},"
                   f"{'' if den is None else den(i)}\n")
    return out


ROWS = _rows()
GOOD = HEADER + "".join(ROWS)


def line(k: int, text: str) -> str:
    """The good table with line ``k`` (1 = the header) replaced by ``text``."""
    lines = GOOD.splitlines(True)
    lines[k - 1] = text
    return "".join(lines)


def table(rows: list[str]) -> str:
    return HEADER + "".join(rows)


PARAMS = (f"data: d.csv\nmetric: {METRIC}\nunits: [RNA]\nmodel: ols-hac\n"
          "interruptions:\n  - {name: collab, date: 2020-10}\n")


def with_keys(extra: str, base: str = PARAMS) -> str:
    return base + extra


def swap(old: str, new: str, base: str = PARAMS) -> str:
    assert old in base, old
    return base.replace(old, new)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    return rc, err


def assert_one_line(rc: int, err: str, command: str, words, where: dict) -> str:
    assert "Traceback" not in err, err
    assert rc == 2, (rc, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    msg = lines[0]
    assert msg.startswith(f"evallib {command}: error: "), msg
    for w in words:
        w = w.format(**where)
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


# ====================================================================== data files (fit)
DATA = [
    # numbers
    ("decimal_comma", line(5, f'{_label(3)},RNA,D,{METRIC},"983,9",,\n'),
     ["{data}", "line 5", "column value", "'983,9'", "decimal comma", "'983.9'"]),
    ("decimal_comma_2dp", line(6, f'{_label(4)},RNA,D,{METRIC},"12,34",,\n'),
     ["line 6", "'12,34'", "not a thousands separator", "'12.34'"]),
    ("decimal_comma_numerator", line(3, f'{_label(1)},RNA,D,{METRIC},5,"1,5",10\n'),
     ["line 3", "column numerator", "'1,5'"]),
    ("comma_after_point", line(4, f'{_label(2)},RNA,D,{METRIC},"1.234,5",,\n'),
     ["line 4", "'1.234,5'", "decimal point"]),
    ("inf", line(5, f"{_label(3)},RNA,D,{METRIC},inf,,\n"),
     ["{data}", "line 5", "column value", "'inf'", "not a finite number", "leave the cell blank or *"]),
    ("minus_Infinity", line(7, f"{_label(5)},RNA,D,{METRIC},-Infinity,,\n"),
     ["line 7", "'-Infinity'", "not a finite number"]),
    ("INF_upper", line(7, f"{_label(5)},RNA,D,{METRIC},INF,,\n"), ["line 7", "'INF'", "not a finite number"]),
    ("overflow_1e309", line(8, f"{_label(6)},RNA,D,{METRIC},1e309,,\n"),
     ["line 8", "'1e309'", "not a finite number"]),
    ("overflow_negative", line(8, f"{_label(6)},RNA,D,{METRIC},-2e400,,\n"),
     ["line 8", "'-2e400'", "not a finite number"]),
    ("inf_denominator", line(9, f"{_label(7)},RNA,D,{METRIC},1,1,Infinity\n"),
     ["line 9", "column denominator", "'Infinity'", "not a finite number"]),
    ("near_1e300", line(10, f"{_label(8)},RNA,D,{METRIC},1e300,,\n"),
     ["line 10", "'1e300'", "too large", "1e15", "units"]),
    ("near_minus_1e300", line(10, f"{_label(8)},RNA,D,{METRIC},-9.9e299,,\n"), ["line 10", "'-9.9e299'", "too large"]),
    ("huge_numerator", line(11, f"{_label(9)},RNA,D,{METRIC},1,1e300,1e301\n"),
     ["line 11", "column numerator", "too large"]),
    ("value_word", line(12, f"{_label(10)},RNA,D,{METRIC},twelve,,\n"),
     ["line 12", "column value", "'twelve' is not a number", "suppression marks"]),
    ("value_hex", line(12, f"{_label(10)},RNA,D,{METRIC},0x1F,,\n"), ["line 12", "'0x1F' is not a number"]),
    ("value_percent_sign", line(12, f"{_label(10)},RNA,D,{METRIC},85%,,\n"), ["line 12", "'85%' is not a number"]),
    ("value_pound_sign", line(12, f"{_label(10)},RNA,D,{METRIC},£120,,\n"), ["line 12", "'£120' is not a number"]),
    ("value_true", line(12, f"{_label(10)},RNA,D,{METRIC},TRUE,,\n"), ["line 12", "'TRUE' is not a number"]),
    ("value_excel_error", line(12, f"{_label(10)},RNA,D,{METRIC},#DIV/0!,,\n"), ["line 12", "'#DIV/0!'"]),
    ("value_formula", line(12, f"{_label(10)},RNA,D,{METRIC},=A1+B1,,\n"), ["line 12", "'=A1+B1'"]),
    ("value_two_points", line(12, f"{_label(10)},RNA,D,{METRIC},1.2.3,,\n"), ["line 12", "'1.2.3' is not a number"]),
    ("value_underscore", line(12, f"{_label(10)},RNA,D,{METRIC},1_000,,\n"), ["line 12", "'1_000' is not a number"]),
    # bytes and encodings
    ("nul_byte", line(6, f"{_label(4)},RNA,D\x00,{METRIC},1,,\n"), ["{data}", "line 6", "NUL byte", "UTF-8 CSV"]),
    ("nul_in_header", "period,org_code\x00,metric,value\n2020-01,A,m,1\n", ["line 1", "NUL byte"]),
    ("latin1", (HEADER + "2020-01,RNA,Caf\u00e9,m,1,,\n").encode("latin-1"),
     ["{data}", "not UTF-8 text", "byte 0xe9 on line 2", "re-save the file as UTF-8 CSV"]),
    ("utf16", GOOD.encode("utf-16"), ["{data}", "UTF-16", "re-save the file as UTF-8"]),
    ("binary_noise", bytes(range(128, 256)) * 40, ["not UTF-8 text", "byte 0x80 on line 1"]),
    ("gzip_named_csv", gzip.compress(GOOD.encode()), ["not UTF-8 text", "line 1"]),
    ("empty", "", ["{data}", "the file is empty", "header row"]),
    ("only_blank_lines", "\n\n   \n", ["the file is empty"]),
    ("bom_only", "\ufeff", ["the file is empty"]),
    ("header_only", HEADER, ["{data}", "has a header but no data rows"]),
    # header and layout
    ("two_value_columns", HEADER.replace("denominator", "value") + "".join(ROWS),
     ["{data}", "column 'value' twice", "columns 5 and 7", "keep one"]),
    ("two_value_columns_spaced", HEADER.replace(",denominator", ", value ") + "".join(ROWS),
     ["column 'value' twice"]),
    ("two_period_columns", "period,org_code,metric,value,period\n2020-01,A,m,1,2020-02\n",
     ["column 'period' twice", "columns 1 and 5"]),
    ("missing_value_column", "period,org_code,metric\n2020-01,A,m\n",
     ["{data}", "column 'value' is missing", "found: period, org_code, metric"]),
    ("value_capitalised", HEADER.replace("value", "Value") + "".join(ROWS), ["column 'value' is missing", "Value"]),
    ("no_header", "".join(ROWS), ["{data}", "not a tidy-table header", "period, org_code, metric, value"]),
    ("semicolons", GOOD.replace(",", ";"), ["separated by semicolons", "comma-separated"]),
    ("tabs", GOOD.replace(",", "\t"), ["separated by tabs"]),
    ("pipes", GOOD.replace(",", "|"), ["separated by pipes"]),
    ("extra_field", line(5, f"{_label(3)},RNA,D,{METRIC},1,,,,\n"),
     ["{data}", "cannot be read as CSV", "Expected 7 fields in line 5, saw 9"]),
    ("unclosed_quote", line(5, f'{_label(3)},RNA,"D,{METRIC},1,,\n'), ["cannot be read as CSV", "EOF inside string"]),
    # periods
    ("period_month_13", line(5, f"2018-13,RNA,D,{METRIC},1,,\n"),
     ["line 5", "column period", "'2018-13' is not a period", "YYYY-MM"]),
    ("period_blank", line(5, f",RNA,D,{METRIC},1,,\n"), ["line 5", "column period", "'' is not a period"]),
    ("period_words", line(5, f"April 2018,RNA,D,{METRIC},1,,\n"), ["line 5", "'April 2018' is not a period"]),
    ("period_day_first", line(5, f"01/04/2018,RNA,D,{METRIC},1,,\n"), ["line 5", "'01/04/2018' is not a period"]),
    ("period_feb_30", line(5, f"2018-02-30,RNA,D,{METRIC},1,,\n"), ["line 5", "'2018-02-30' is not a period"]),
    ("period_mixed_frequencies", line(5, f"2018-Q2,RNA,D,{METRIC},1,,\n"),
     ["column period mixes monthly and quarterly", "line 5 '2018-Q2'", "one frequency per table"]),
    ("period_year_typo", line(5, f"0201-04,RNA,D,{METRIC},1,,\n"),
     ["line 5", "'0201-04' is outside the years 1800 to 2199", "check the year"]),
    ("period_far_future", line(5, f"9999-04,RNA,D,{METRIC},1,,\n"), ["'9999-04' is outside the years"]),
    # keys and counts
    ("duplicate_row", line(5, f"{_label(2)},RNA,D,{METRIC},1,,\n"),
     ["line 5 duplicates", "period 2018-03", "first seen at line 4", "must appear once"]),
    ("duplicate_day_label", line(5, f"{_label(2)}-15,RNA,D,{METRIC},1,,\n"), ["line 5 duplicates", "2018-03"]),
    ("blank_org_code", line(5, f"{_label(3)},,D,{METRIC},1,,\n"), ["line 5", "column org_code: blank", "unit code"]),
    ("blank_metric", line(5, f"{_label(3)},RNA,D,,1,,\n"), ["line 5", "column metric: blank", "metric id"]),
    ("short_row", line(5, f"{_label(3)},RNA\n"), ["line 5", "column metric: blank"]),
    ("negative_denominator", line(5, f"{_label(3)},RNA,D,{METRIC},1,1,-2\n"),
     ["line 5", "column denominator", "-2 is negative"]),
    ("negative_count", table(_rows("rtt_52w_waiters", value=lambda i: -3 if i == 4 else 10 + i)),
     ["line 6", "-3 is negative for rtt_52w_waiters", "counts cannot be negative"]),
    ("numerator_over_denominator", line(5, f"{_label(3)},RNA,D,{METRIC},1,5,2\n"),
     ["line 5", "numerator 5 is greater than denominator 2", "cannot exceed"]),
    # the analysis finds nothing to fit
    ("metric_absent", GOOD.replace(METRIC, "other_metric"),
     ["{data}", f"metric '{METRIC}' is not in the table", "other_metric"]),
    ("unit_absent", GOOD.replace(",RNA,", ",RL4,"), ["units ['RNA'] have no rows", "RL4"]),
    ("all_suppressed", table(_rows(value=lambda i: "*")), ["has no usable values", "all missing"]),
    ("constant_series", table(_rows(value=lambda i: 7.5)),
     ["{data}", METRIC, "every value in the window is 7.5", "no information to estimate a change"]),
    ("constant_large_value", table(_rows(value=lambda i: 123456.25)),
     ["every value in the window is 123,456.25", "no information"]),
]

COUNT_PARAMS = swap(f"metric: {METRIC}", "metric: rtt_52w_waiters", swap("model: ols-hac", "model: quasipoisson"))
PROP_PARAMS = swap(f"metric: {METRIC}", "metric: cancer_62d_pct", swap("model: ols-hac", "model: quasibinomial"))
AUTO_PARAMS = swap("model: ols-hac\n", "")
MODEL_DATA = [
    ("all_zero_counts", COUNT_PARAMS, table(_rows("rtt_52w_waiters", value=lambda i: 0)),
     ["rtt_52w_waiters", "every value in the window is 0", "no information to estimate a change"]),
    ("constant_counts", COUNT_PARAMS, table(_rows("rtt_52w_waiters", value=lambda i: 12)),
     ["every value in the window is 12", "no information"]),
    ("all_zero_counts_auto_model", swap(f"metric: {METRIC}", "metric: rtt_52w_waiters", AUTO_PARAMS),
     table(_rows("rtt_52w_waiters", value=lambda i: 0)), ["every value in the window is 0"]),
    ("constant_proportion", PROP_PARAMS,
     table(_rows("cancer_62d_pct", value=lambda i: 100, num=lambda i: 50 + i, den=lambda i: 50 + i)),
     ["cancer_62d_pct", "every value in the window is 100", "no information"]),
    ("zero_proportion", PROP_PARAMS,
     table(_rows("cancer_62d_pct", value=lambda i: 0, num=lambda i: 0, den=lambda i: 40)),
     ["every value in the window is 0"]),
    ("constant_inside_window", with_keys("start: 2019-01\nend: 2021-12\n"),
     table(_rows(value=lambda i: 5 if 12 <= i < 48 else 1000 + i)), ["every value in the window is 5 (36 periods)"]),
]


@pytest.mark.parametrize("name,content,words", DATA, ids=[c[0] for c in DATA])
def test_data_file(name, content, words, tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    (tmp_path / "p.yaml").write_text(PARAMS)
    rc, err = run_cli(["fit", tmp_path / "p.yaml"], capsys)
    assert_one_line(rc, err, "fit", words, {"data": data})


@pytest.mark.parametrize("name,params,content,words", MODEL_DATA, ids=[c[0] for c in MODEL_DATA])
def test_series_without_information(name, params, content, words, tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text(content)
    (tmp_path / "p.yaml").write_text(params)
    rc, err = run_cli(["fit", tmp_path / "p.yaml"], capsys)
    assert_one_line(rc, err, "fit", words, {"data": data})


def test_the_good_table_fits(tmp_path, capsys):
    """The base of every data case is valid: only the planted fault makes it fail."""
    (tmp_path / "d.csv").write_text(GOOD)
    (tmp_path / "p.yaml").write_text(PARAMS)
    rc, err = run_cli(["fit", tmp_path / "p.yaml", "--json"], capsys)
    assert rc == 0, err


def test_thousands_separators_still_read(tmp_path):
    from evallib.data.table import load_table

    p = tmp_path / "t.csv"
    p.write_text(HEADER + '2020-01,A,,m,"1,234.5",,\n2020-02,A,,m,"-12,345,678",,\n2020-03,A,,m," 9,999 ",,\n')
    assert load_table(p).frame["value"].tolist() == [1234.5, -12345678.0, 9999.0]


# ====================================================================== data paths (fit)
@dataclass
class PathCase:
    name: str
    setup: Callable[[Path], str]     # makes the files, returns the `data:` value
    words: list[str]
    env: dict | None = None


def _folder(tmp: Path) -> str:
    (tmp / "tables").mkdir()
    return "tables"


def _loop(tmp: Path) -> str:
    os.symlink(tmp / "b.csv", tmp / "a.csv")
    os.symlink(tmp / "a.csv", tmp / "b.csv")
    return "a.csv"


def _dangling(tmp: Path) -> str:
    os.symlink(tmp / "gone.csv", tmp / "link.csv")
    return "link.csv"


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe.csv")
    return "pipe.csv"


def _through_file(tmp: Path) -> str:
    (tmp / "d.csv").write_text(GOOD)
    return "d.csv/inner.csv"


def _big(tmp: Path) -> str:
    (tmp / "big.csv").write_text(GOOD)
    return "big.csv"


def _meta(content: bytes | str) -> Callable[[Path], str]:
    def setup(tmp: Path) -> str:
        (tmp / "d.csv").write_text(GOOD)
        m = tmp / "d.meta.json"
        m.write_bytes(content if isinstance(content, bytes) else content.encode())
        return "d.csv"
    return setup


def _meta_folder(tmp: Path) -> str:
    (tmp / "d.csv").write_text(GOOD)
    (tmp / "d.meta.json").mkdir()
    return "d.csv"


def _parquet(frame: pd.DataFrame) -> Callable[[Path], str]:
    def setup(tmp: Path) -> str:
        frame.to_parquet(tmp / "d.parquet", index=False)
        return "d.parquet"
    return setup


def _bytes(name: str, content: bytes) -> Callable[[Path], str]:
    def setup(tmp: Path) -> str:
        (tmp / name).write_bytes(content)
        return name
    return setup


def _good_frame(**change) -> pd.DataFrame:
    df = pd.read_csv(io.StringIO(GOOD), dtype={"period": str})
    for col, (row, value) in change.items():
        df[col] = df[col].astype(object if isinstance(value, str) else float)
        df.loc[row, col] = value
    return df


DATA_PATHS = [
    PathCase("missing", lambda t: "nope.csv", ["{tmp}/nope.csv", "data file not found", "relative paths resolve"]),
    PathCase("folder", _folder, ["{tmp}/tables", "data file is a folder", "name a file"]),
    PathCase("symlink_loop", _loop, ["{tmp}/a.csv", "symbolic link loop", "fix or remove the link"]),
    PathCase("dangling_symlink", _dangling, ["{tmp}/gone.csv", "data file not found"]),
    PathCase("fifo", _fifo, ["{tmp}/pipe.csv", "named pipe (FIFO)", "not a regular file"]),
    PathCase("dev_zero", lambda t: "/dev/zero", ["/dev/zero", "data file is a device", "not a regular file"]),
    PathCase("dev_null", lambda t: "/dev/null", ["/dev/null", "data file is a device"]),
    PathCase("dev_urandom", lambda t: "/dev/urandom", ["/dev/urandom", "is a device"]),
    PathCase("path_through_a_file", _through_file, ["d.csv/inner.csv", "a part of its path is a file"]),
    PathCase("name_too_long", lambda t: "x" * 300 + ".csv", ["has a name too long", "shorter path"]),
    PathCase("etc_passwd_not_echoed", lambda t: "/etc/passwd", ["/etc/passwd", "not a tidy-table header"]),
    PathCase("proc_file", lambda t: "/proc/self/status", ["/proc/self/status", "not a tidy-table header"]),
    PathCase("xlsx", _bytes("d.xlsx", b"PK\x03\x04"), ["{tmp}/d.xlsx", "unsupported file type '.xlsx'",
                                                       ".csv or .parquet"]),
    PathCase("json_table", _bytes("d.json", b"[]"), ["unsupported file type '.json'"]),
    PathCase("csv_named_parquet", _bytes("d.parquet", GOOD.encode()), ["{tmp}/d.parquet", "cannot be read as Parquet"]),
    PathCase("truncated_parquet", lambda t: _trunc_parquet(t), ["cannot be read as Parquet"]),
    PathCase("parquet_inf", _parquet(_good_frame(value=(4, np.inf))),
             ["line 6", "column value", "not a finite number"]),
    PathCase("parquet_1e300", _parquet(_good_frame(value=(4, 1e300))), ["line 6", "too large"]),
    PathCase("parquet_bool_value", _parquet(_good_frame().assign(value=True)),
             ["column value holds true/false values"]),
    PathCase("parquet_no_columns", _parquet(pd.DataFrame({"a": [1], "b": [2]})),
             ["no tidy-table columns", "period, org_code, metric, value"]),
    PathCase("too_large", _big, ["{tmp}/big.csv", "data file is", "the bound is 1000 bytes",
                                 "EVALLIB_MAX_TABLE_BYTES"], env={"EVALLIB_MAX_TABLE_BYTES": "1000"}),
    PathCase("too_many_rows", _big, ["has more than 10 rows", "EVALLIB_MAX_TABLE_ROWS"],
             env={"EVALLIB_MAX_TABLE_ROWS": "10"}),
    PathCase("meta_list", _meta("[1, 2]"), ["{tmp}/d.meta.json", "expected a JSON object", "array (a list)"]),
    PathCase("meta_string", _meta('"synthetic"'), ["d.meta.json", "found a JSON string"]),
    PathCase("meta_not_json", _meta("{synthetic: true"), ["d.meta.json", "not valid JSON", "delete it or fix it"]),
    PathCase("meta_synthetic_text", _meta('{"synthetic": "yes"}'), ["d.meta.json", '"synthetic" is "yes"',
                                                                    "true or false"]),
    PathCase("meta_latin1", _meta('{"note": "caf\u00e9"}'.encode("latin-1")), ["d.meta.json", "not UTF-8 text"]),
    PathCase("meta_too_large", _meta('{"note": "' + "x" * 70000 + '"}'), ["metadata file is", "the bound is 64 KiB"]),
    PathCase("meta_folder", _meta_folder, ["d.meta.json", "metadata file is a folder"]),
    PathCase("meta_deep", _meta("[" * 100000 + "]" * 100000), ["d.meta.json"]),
]


def _trunc_parquet(tmp: Path) -> str:
    _good_frame().to_parquet(tmp / "d.parquet", index=False)
    raw = (tmp / "d.parquet").read_bytes()
    (tmp / "d.parquet").write_bytes(raw[: len(raw) // 2])
    return "d.parquet"


@pytest.mark.parametrize("case", DATA_PATHS, ids=[c.name for c in DATA_PATHS])
def test_data_path(case, tmp_path, capsys, monkeypatch):
    for k, v in (case.env or {}).items():
        monkeypatch.setenv(k, v)
    data = case.setup(tmp_path)
    (tmp_path / "p.yaml").write_text(swap("data: d.csv", f"data: '{data}'"))
    rc, err = run_cli(["fit", tmp_path / "p.yaml"], capsys)
    msg = assert_one_line(rc, err, "fit", case.words, {"tmp": tmp_path})
    if case.name == "etc_passwd_not_echoed":
        first = Path("/etc/passwd").read_text().splitlines()[0]
        assert first not in msg and "root:" not in msg


def test_unreadable_data_file(tmp_path, capsys, monkeypatch):
    """Tests run as root, so a chmod 000 file is still readable: simulate EACCES at open."""
    import evallib.inputs as inputs

    (tmp_path / "locked.csv").write_text(GOOD)
    (tmp_path / "p.yaml").write_text(swap("data: d.csv", "data: locked.csv"))
    real_open = inputs.os.open

    def fake_open(path, flags, *a, **k):
        if str(path).endswith("locked.csv"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(inputs.os, "open", fake_open)
    rc, err = run_cli(["fit", tmp_path / "p.yaml"], capsys)
    assert_one_line(rc, err, "fit", ["{tmp}/locked.csv", "data file cannot be opened: permission denied",
                                     "permissions and owner"], {"tmp": tmp_path})


def test_io_error_while_reading(tmp_path, capsys, monkeypatch):
    import evallib.inputs as inputs

    (tmp_path / "d.csv").write_text(GOOD)
    (tmp_path / "p.yaml").write_text(PARAMS)

    real_read = inputs.os.read

    def fail(fd, n):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("d.csv"):
            raise OSError(errno.EIO, "Input/output error")
        return real_read(fd, n)

    monkeypatch.setattr(inputs.os, "read", fail)
    rc, err = run_cli(["fit", tmp_path / "p.yaml"], capsys)
    assert_one_line(rc, err, "fit", ["{tmp}/d.csv", "data file cannot be read: input/output error"],
                    {"tmp": tmp_path})


# ====================================================================== params (fit)
BOMB = "".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
    *[f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")],
])

PARAMS_CASES = [
    # duplicate keys
    ("duplicate_key", with_keys("metric: rtt_waiting_list\n"),
     ["{p}", "line 7", "key 'metric' appears twice", "first at line 2", "remove one"]),
    ("duplicate_nested_key", swap("{name: collab, date: 2020-10}", "{name: collab, date: 2020-10, date: 2020-11}"),
     ["line 6", "key 'date' appears twice"]),
    ("duplicate_units", with_keys("units: [RL4]\n"), ["key 'units' appears twice", "first at line 3"]),
    # booleans where numbers go
    ("hac_lags_true", with_keys("hac_lags: true\n"), ["{p}", "hac_lags", "value True", "yes/no value is not a number"]),
    ("hac_lags_yes", with_keys("hac_lags: yes\n"), ["hac_lags", "yes/no"]),
    ("alpha_true", with_keys("alpha: true\n"), ["alpha", "value True", "yes/no"]),
    ("horizons_true", with_keys("horizons: [12, true]\n"), ["horizons[1]", "value True", "yes/no"]),
    ("transition_on", swap("date: 2020-10}", "date: 2020-10, transition: on}"),
     ["interruptions[0].transition", "yes/no"]),
    ("arima_order_false", with_keys("arima_order: [false, 0, 0]\n"), ["arima_order[0]", "yes/no"]),
    ("suppress_below_no", with_keys("suppress_below: no\n"), ["suppress_below", "value False", "yes/no"]),
    ("target_true", with_keys("target: true\n"), ["target", "yes/no"]),
    ("predictor_weight_true", with_keys("synthetic: {predictor_weight: true}\n"),
     ["synthetic.predictor_weight", "yes/no"]),
    ("aligned_placebos_true", with_keys("aligned: {placebos: true}\n"), ["aligned.placebos", "yes/no"]),
    ("aligned_min_volume_true", with_keys("aligned: {min_volume: true}\n"), ["aligned.min_volume", "yes/no"]),
    ("unit_code_NO", swap("units: [RNA]", "units: [NO]"),
     ["units", "item [0]", "yes/no value, not a unit code", "put the code in quotes"]),
    ("unit_code_ON", swap("units: [RNA]", "units: [RNA, ON]"), ["item [1]", "not a unit code"]),
    ("unit_code_null", swap("units: [RNA]", "units: [RNA, ~]"), ["item [1]", "must be text, not empty"]),
    ("unit_code_blank", swap("units: [RNA]", "units: [RNA, '  ']"), ["item [1]", "blank"]),
    ("unit_code_list", swap("units: [RNA]", "units: [[RNA]]"), ["item [0]", "must be text, not list"]),
    ("comparator_code_OFF", with_keys("comparators: [OFF]\n"), ["comparators", "not a unit code"]),
    ("date_true", swap("date: 2020-10", "date: true"), ["interruptions[0].date", "yes/no value, not a period"]),
    ("exclude_yes", with_keys("exclude: [yes]\n"), ["exclude", "item [0] is True", "not a period"]),
    ("exclude_null_item", with_keys("exclude: [~]\n"), ["exclude", "item [0] is empty"]),
    ("exclude_float", with_keys("exclude: [2020.5]\n"), ["item [0] is a float"]),
    ("washout_no", with_keys("washout: no\n"), ["washout", "yes/no value"]),
    # non-finite and out-of-range numbers
    ("alpha_nan", with_keys("alpha: .nan\n"), ["alpha", "value nan"]),
    ("target_inf", with_keys("target: .inf\n"), ["target", "value inf", "finite number"]),
    ("target_minus_inf", with_keys("target: -.inf\n"), ["target", "finite number"]),
    ("alpha_too_big", with_keys("alpha: 0.7\n"), ["alpha", "value 0.7", "less than 0.5"]),
    ("alpha_text", with_keys("alpha: five\n"), ["alpha", "value 'five'", "valid number"]),
    ("hac_lags_negative", with_keys("hac_lags: -1\n"), ["hac_lags"]),
    ("hac_lags_fraction", with_keys("hac_lags: 2.5\n"), ["hac_lags"]),
    ("horizons_negative", with_keys("horizons: [-1]\n"), ["horizons[0]", "value -1", "greater than or equal to 0"]),
    ("suppress_fraction", with_keys("suppress_below: 2.5\n"), ["suppress_below", "fractional part"]),
    ("arima_order_d", with_keys("arima_order: [1, 1, 1]\n"), ["arima_order[1]", "value 1 is not allowed"]),
    ("transition_negative", swap("date: 2020-10}", "date: 2020-10, transition: -2}"),
     ["interruptions[0].transition", "value -2"]),
    ("hac_lags_beyond_data", with_keys("hac_lags: 100000\n"), ["hac_lags 100000", "number of observations"]),
    # periods and frequencies
    ("start_annual_on_monthly", with_keys("start: 2016\n"),
     ["{p}", "start 2016 is annual but the interruption dates are monthly", "write start as YYYY-MM"]),
    ("end_quarterly", with_keys("end: 2022-Q4\n"), ["end 2022-Q4 is quarterly", "write end as YYYY-MM"]),
    ("exclude_quarterly", with_keys("exclude: [2019-Q1]\n"), ["exclude[0] 2019-Q1 is quarterly"]),
    ("exclude_range_annual", with_keys("exclude: [2019/2020]\n"), ["exclude[0] 2019/2020 is annual"]),
    ("washout_annual", with_keys("washout: 2020\n"), ["washout 2020 is annual"]),
    ("fit_before_quarterly", with_keys("synthetic: {fit_before: 2020-Q1}\n"), ["synthetic.fit_before 2020-Q1"]),
    ("interruptions_mixed", swap("  - {name: collab, date: 2020-10}\n",
                                 "  - {name: covid, date: 2020-Q1}\n  - {name: collab, date: 2020-10}\n"),
     ["interruption dates mix frequencies", "interruptions[1].date 2020-10 is monthly"]),
    ("date_month_13", swap("date: 2020-10", "date: 2020-13"), ["interruptions[0].date", "'2020-13' is not a period"]),
    ("date_float", swap("date: 2020-10", "date: 2020.10"), ["'2020.1' is not a period"]),
    ("date_five_digit_year", swap("date: 2020-10", "date: 20201-10"), ["'20201-10' is not a period"]),
    ("start_after_end", with_keys("start: 2021-01\nend: 2019-01\n"), ["end 2019-01 is before start 2021-01"]),
    ("interruption_after_end", with_keys("end: 2020-06\n"), ["interruptions[0].date 2020-10 is after end 2020-06"]),
    ("interruption_after_data", swap("date: 2020-10", "date: 2030-10"),
     ["interruptions[0].date 2030-10 is after the last period 2022-12"]),
    ("interruption_before_data", swap("date: 2020-10", "date: 2010-10"),
     ["interruptions[0].date 2010-10 is not after the first period 2018-01"]),
    ("interruptions_out_of_order", swap("  - {name: collab, date: 2020-10}\n",
                                        "  - {name: a, date: 2020-10}\n  - {name: b, date: 2020-03}\n"),
     ["interruptions[1].date 2020-03 is before interruptions[0].date 2020-10"]),
    ("exclude_backwards", with_keys("exclude: [2021-03/2020-03]\n"), ["ends before it starts"]),
    ("exclude_not_list", with_keys("exclude: 2020-01\n"), ["exclude", "must be a list"]),
    # structure and types
    ("unknown_key", with_keys("seasonaility: none\n"), ["{p}", "seasonaility: unknown key", "check the spelling"]),
    ("missing_units", swap("units: [RNA]\n", ""), ["units: required key is missing"]),
    ("missing_interruptions", PARAMS.split("interruptions:")[0], ["interruptions: required key is missing"]),
    ("units_not_list", swap("units: [RNA]", "units: RNA"), ["units", "valid list"]),
    ("units_empty", swap("units: [RNA]", "units: []"), ["units", "at least 1 item"]),
    ("interruptions_scalar", swap("interruptions:\n  - {name: collab, date: 2020-10}\n", "interruptions: 2020-10\n"),
     ["interruptions", "valid list"]),
    ("interruption_not_mapping", swap("  - {name: collab, date: 2020-10}", "  - collab"),
     ["interruptions[0]", "valid dictionary"]),
    ("interruption_bad_name", swap("name: collab", "name: 9lives"), ["interruptions[0].name", "not a valid name"]),
    ("interruption_bad_term", swap("date: 2020-10}", "date: 2020-10, terms: [level, trend]}"),
     ["interruptions[0].terms[1]", "'trend' is not allowed"]),
    ("model_unknown", swap("model: ols-hac", "model: ols"), ["model: value 'ols' is not allowed", "'ols-hac'"]),
    ("seasonality_bad", with_keys("seasonality: fourier9\n"), ["seasonality", "fourierK with K 1-6"]),
    ("aggregate_bad", with_keys("aggregate: median\n"), ["aggregate: value 'median' is not allowed"]),
    ("design_needs_comparators", with_keys("design: synthetic\n"), ["design synthetic needs comparators"]),
    ("comparator_is_treated", with_keys("comparators: [RNA, RL4]\n"), ["comparators ['RNA'] are also treated"]),
    ("title_list", with_keys("title: [a, b]\n"), ["title", "valid string"]),
    ("metric_number", swap(f"metric: {METRIC}", "metric: 123"), ["metric: value 123", "valid string"]),
    ("data_blank", swap("data: d.csv", "data: ''"), ["data: value ''", "blank", "name the tidy-table file"]),
    ("data_null", swap("data: d.csv", "data: ~"), ["data: value None", "name the tidy-table file"]),
    ("data_number", swap("data: d.csv", "data: 5"), ["data: value 5", "a number is not a file path"]),
    ("data_list", swap("data: d.csv", "data: [a.csv]"), ["data", "a list is not a file path"]),
    ("data_nul_character", swap("data: d.csv", 'data: "d\\0.csv"'), ["data: value '", "NUL character"]),
    ("data_very_long_path", swap("data: d.csv", "data: " + "a/" * 3000 + "x.csv"), ["data file", "name too long"]),
    ("key_is_number", with_keys("1: x\n"), ["key 1 is not a name", "a number"]),
    ("key_is_null", with_keys("~: x\n"), ["key None is not a name", "an empty value"]),
    ("key_is_list", with_keys("? [a]\n: x\n"), ["not valid YAML", "unhashable key"]),
    ("synthetic_not_mapping", with_keys("synthetic: 3\n"), ["synthetic", "valid dictionary"]),
    ("id_with_slash", with_keys("id: ../x\n"), ["id: value '../x'"]),
    ("pack_given_to_fit", "title: T\nanalyses: [{metric: m}]\n", ["this is a pack", "evallib batch"]),
    ("long_title_list_not_echoed", with_keys("title: [" + ",".join(["1"] * 500) + "]\n"),
     ["title: value a list of 500 items"]),
    # YAML syntax and resources
    ("yaml_unclosed_list", swap("units: [RNA]", "units: [RNA"), ["{p}", "not valid YAML at line"]),
    ("yaml_tab_indent", swap("  - {", "\t- {"), ["not valid YAML at line 6"]),
    ("yaml_python_tag", with_keys("title: !!python/object/apply:os.system [ls]\n"),
     ["not valid YAML at line 7", "could not determine a constructor"]),
    ("yaml_unknown_tag", with_keys("title: !secret x\n"), ["not valid YAML at line 7", "'!secret'"]),
    ("yaml_two_documents", with_keys("---\nfoo: 1\n"), ["not valid YAML at line 7", "another document"]),
    ("yaml_nul", with_keys("title: a\x00b\n"), ["not valid YAML at line 7", "U+0000 is not allowed"]),
    ("yaml_control_char", with_keys("title: a\x07b\n"), ["line 7", "U+0007"]),
    ("yaml_deep_nesting", with_keys("title: " + "[" * 5000 + "]" * 5000 + "\n"),
     ["not valid YAML at line 7", "nesting depth"]),
    ("billion_laughs_title", BOMB + "title: *i\n" + PARAMS,
     ["{p}", "holds more than 200,000 values", "aliases", "EVALLIB_MAX_YAML_NODES"]),
    ("billion_laughs_units", BOMB + swap("units: [RNA]", "units: *i"), ["holds more than 200,000 values"]),
    ("billion_laughs_exclude", BOMB + with_keys("exclude: *i\n"), ["holds more than 200,000 values"]),
    ("billion_laughs_merge_key", BOMB + "x: &x {title: *i}\n" + PARAMS + "<<: *x\n",
     ["holds more than 200,000 values"]),
    ("recursive_alias", "a: &a [*a]\n" + PARAMS, ["alias (*name) inside the value it names", "infinite"]),
    ("empty_document", "", ["{p}", "expected a mapping of keys", "nothing (the file is empty)"]),
    ("only_comments", "# nothing here\n", ["nothing (the file is empty)"]),
    ("scalar_document", "hello\n", ["expected a mapping of keys", "found str"]),
    ("list_document", "- a\n- b\n", ["expected a mapping of keys", "found list"]),
]


@pytest.mark.parametrize("name,text,words", PARAMS_CASES, ids=[c[0] for c in PARAMS_CASES])
def test_params(name, text, words, tmp_path, capsys):
    (tmp_path / "d.csv").write_text(GOOD)
    p = tmp_path / "p.yaml"
    p.write_text(text)
    rc, err = run_cli(["fit", p], capsys)
    assert_one_line(rc, err, "fit", words, {"p": p})


def test_merge_keys_and_aliases_within_bounds_still_work(tmp_path, capsys):
    (tmp_path / "d.csv").write_text(GOOD)
    p = tmp_path / "p.yaml"
    p.write_text("common: &c {metric: %s, model: ols-hac}\n" % METRIC + "units: &u [RNA]\n"
                 "data: d.csv\n<<: *c\ninterruptions:\n  - {name: collab, date: 2020-10}\n")
    from evallib.config import read_yaml

    raw = read_yaml(p)
    raw.pop("common")
    assert raw["metric"] == METRIC and raw["units"] == ["RNA"]


def test_every_number_key_of_the_schema_refuses_yes_no():
    """Walk the schema: any int/float key (including ones added later) must refuse booleans."""
    from pydantic import BaseModel

    from evallib.config import Params, params_from_dict
    from evallib.exceptions import ParameterError

    def numeric_only(ann) -> bool:
        leaves, todo = set(), [ann]
        while todo:
            a = todo.pop()
            origin = typing.get_origin(a)
            if origin is typing.Annotated:
                todo.append(typing.get_args(a)[0])
            elif origin is typing.Literal:
                leaves.update(type(x) for x in typing.get_args(a))
            elif origin in (typing.Union, types.UnionType):
                todo.extend(typing.get_args(a))
            elif origin is None:
                leaves.add(a)
        return bool(leaves & {int, float}) and bool not in leaves

    base = {"data": "d.csv", "metric": METRIC, "units": ["RNA"], "interruptions": [{"name": "c", "date": "2020-10"}]}
    checked = []
    nested = {name: f.annotation for name, f in Params.model_fields.items()
              if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}
    targets = [((name,), f.annotation) for name, f in Params.model_fields.items()]
    for outer, model in nested.items():
        targets += [((outer, name), f.annotation) for name, f in model.model_fields.items()]
    for key, ann in targets:
        if not numeric_only(ann):
            continue
        raw = dict(base)
        if len(key) == 1:
            raw[key[0]] = True
        else:
            raw[key[0]] = {key[1]: True}
        with pytest.raises(ParameterError, match="yes/no"):
            params_from_dict(raw, base_dir="/x", source="p.yaml")
        checked.append(".".join(key))
    assert {"alpha", "target", "suppress_below", "synthetic.predictor_weight"} <= set(checked)


# ====================================================================== the params file itself
def _params_bytes(content: bytes) -> Callable[[Path], Path]:
    def setup(tmp: Path) -> Path:
        p = tmp / "p.yaml"
        p.write_bytes(content)
        return p
    return setup


def _params_folder(tmp: Path) -> Path:
    (tmp / "p.yaml").mkdir()
    return tmp / "p.yaml"


def _params_loop(tmp: Path) -> Path:
    os.symlink(tmp / "b.yaml", tmp / "a.yaml")
    os.symlink(tmp / "a.yaml", tmp / "b.yaml")
    return tmp / "a.yaml"


def _params_fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "p.yaml")
    return tmp / "p.yaml"


PARAMS_FILES = [
    ("missing", lambda t: t / "nope.yaml", ["{tmp}/nope.yaml", "params file not found"]),
    ("folder", _params_folder, ["{tmp}/p.yaml", "params file is a folder", "name a file"]),
    ("symlink_loop", _params_loop, ["{tmp}/a.yaml", "params file is a symbolic link loop"]),
    ("fifo", _params_fifo, ["{tmp}/p.yaml", "named pipe (FIFO)"]),
    ("dev_zero", lambda t: Path("/dev/zero"), ["/dev/zero", "params file is a device"]),
    ("latin1", _params_bytes(("title: caf\u00e9\n" + PARAMS).encode("latin-1")),
     ["{tmp}/p.yaml", "not UTF-8 text", "byte 0xe9 on line 1", "re-save the file as UTF-8"]),
    ("utf16", _params_bytes(PARAMS.encode("utf-16")), ["params file is UTF-16 text"]),
    ("cp1252_quotes", _params_bytes(b"title: \x93quoted\x94\n" + PARAMS.encode()), ["byte 0x93 on line 1"]),
    ("too_large", _params_bytes(PARAMS.encode() + b"# " + b"x" * (1 << 20) + b"\n"),
     ["params file is 1.0 MiB", "the bound is 1 MiB", "EVALLIB_MAX_PARAMS_BYTES"]),
    ("binary", _params_bytes(bytes(range(256))), ["not UTF-8 text"]),
]


@pytest.mark.parametrize("name,setup,words", PARAMS_FILES, ids=[c[0] for c in PARAMS_FILES])
def test_params_file(name, setup, words, tmp_path, capsys):
    (tmp_path / "d.csv").write_text(GOOD)
    p = setup(tmp_path)
    rc, err = run_cli(["fit", p], capsys)
    assert_one_line(rc, err, "fit", words, {"tmp": tmp_path})


def test_unreadable_params_file(tmp_path, capsys, monkeypatch):
    import evallib.inputs as inputs

    p = tmp_path / "secret.yaml"
    p.write_text(PARAMS)
    real_open = inputs.os.open

    def fake_open(path, flags, *a, **k):
        if str(path).endswith("secret.yaml"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(inputs.os, "open", fake_open)
    rc, err = run_cli(["fit", p], capsys)
    assert_one_line(rc, err, "fit", ["{p}", "params file cannot be opened: permission denied"], {"p": p})


# ====================================================================== packs (batch)
PACK = ("title: Demo pack\ndefaults:\n  data: d.csv\n  units: [RNA]\n  model: ols-hac\n"
        "  interruptions: [{name: collab, date: 2020-10}]\nanalyses:\n"
        f"  - {{metric: {METRIC}}}\n")

PACKS = [
    ("no_analyses", "title: T\n", ["{p}", "analyses: required key is missing"]),
    ("empty_analyses", "title: T\nanalyses: []\n", ["analyses", "at least 1 item"]),
    ("analyses_mapping", "title: T\nanalyses: {a: 1}\n", ["analyses", "valid list"]),
    ("analysis_not_mapping", PACK + "  - just_a_name\n", ["analyses[1]"]),
    ("no_title", PACK.replace("title: Demo pack\n", ""), ["title: required key is missing"]),
    ("defaults_list", PACK.replace("defaults:\n  data: d.csv\n  units: [RNA]\n  model: ols-hac\n"
                                   "  interruptions: [{name: collab, date: 2020-10}]\n", "defaults: [1]\n"),
     ["defaults", "valid dictionary"]),
    ("unknown_pack_key", PACK + "colour: blue\n", ["colour: unknown key"]),
    ("unknown_analysis_key", PACK + "  - {metric: m2, alpah: 1}\n", ["analyses[1].alpah: unknown key"]),
    ("analysis_bad_value", PACK + "  - {metric: m2, alpha: 3}\n", ["analyses[1].alpha", "value 3"]),
    ("analysis_bool_number", PACK + "  - {metric: m2, hac_lags: true}\n", ["analyses[1].hac_lags", "yes/no"]),
    ("duplicate_ids", PACK + f"  - {{metric: {METRIC}}}\n", ["analyses[1].id", "is used twice"]),
    ("id_dot_dot", PACK + "  - {metric: m2, id: '..'}\n", ["analyses[1].id", "'..'"]),
    ("id_manifest", PACK + "  - {metric: m2, id: manifest.json}\n", ["analyses[1].id", "'manifest.json'"]),
    ("duplicate_key_in_defaults", PACK.replace("  model: ols-hac\n", "  model: ols-hac\n  model: arima\n"),
     ["line 6", "key 'model' appears twice", "first at line 5"]),
    ("duplicate_key_in_analysis", PACK + "  - {metric: m2, metric: m3}\n", ["line 9", "key 'metric' appears twice"]),
    ("billion_laughs_defaults", BOMB + PACK.replace("  units: [RNA]\n", "  units: *i\n"),
     ["holds more than 200,000 values"]),
    ("start_annual_in_defaults", PACK.replace("  model: ols-hac\n", "  model: ols-hac\n  start: 2016\n"),
     ["analyses[0]", "start 2016 is annual"]),
    ("missing_data_file", PACK.replace("data: d.csv", "data: gone.csv"), ["data", "gone.csv", "not found"]),
    ("notebook_not_json", PACK + "notebook: nb.ipynb\n", ["notebook: value 'nb.ipynb'", "notebook is not JSON",
                                                           "save it again from JupyterLab"]),
    ("notebook_json_not_notebook", PACK + "notebook: list.ipynb\n", ["not a Jupyter notebook", "cells"]),
    ("notebook_old_format", PACK + "notebook: old.ipynb\n", ["nbformat 3", "save it again"]),
    ("notebook_missing", PACK + "notebook: none.ipynb\n", ["notebook: value 'none.ipynb'", "not found"]),
    ("notebook_unknown_name", PACK + "notebook: no_such_notebook\n", ["'no_such_notebook' is not in"]),
    ("pack_is_latin1", ("title: Caf\u00e9\n" + PACK.split("\n", 1)[1]).encode("latin-1"), ["not UTF-8 text"]),
]


def _notebooks(tmp: Path) -> None:
    (tmp / "nb.ipynb").write_text("this is not json\n")
    (tmp / "list.ipynb").write_text("[1, 2, 3]\n")
    (tmp / "old.ipynb").write_text(json.dumps({"cells": [], "nbformat": 3, "metadata": {}}))


@pytest.mark.parametrize("name,text,words", PACKS, ids=[c[0] for c in PACKS])
def test_pack(name, text, words, tmp_path, capsys):
    (tmp_path / "d.csv").write_text(GOOD)
    _notebooks(tmp_path)
    p = tmp_path / "pack.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out"
    rc, err = run_cli(["batch", p, "--out", out], capsys)
    assert_one_line(rc, err, "batch", words, {"p": p})
    assert not out.exists(), "a refused pack must not create its output folder"


# ====================================================================== command line
def _cli_demo_out_file(tmp: Path) -> list:
    (tmp / "taken").write_text("keep me\n")
    return ["demo-data", "--out", tmp / "taken"]


def _cli_demo_out_under_file(tmp: Path) -> list:
    (tmp / "taken").write_text("keep me\n")
    return ["demo-data", "--out", tmp / "taken" / "demo"]


def _cli_run_notebook(tmp: Path) -> list:
    (tmp / "d.csv").write_text(GOOD)
    _notebooks(tmp)
    (tmp / "p.yaml").write_text(PARAMS + "notebook: nb.ipynb\n")
    return ["run", tmp / "p.yaml", "--out", tmp / "out"]


def _cli_run_bad_data(tmp: Path) -> list:
    (tmp / "p.yaml").write_text(swap("data: d.csv", "data: /dev/zero"))
    return ["fit", tmp / "p.yaml", "--json"]


def _cli_batch_folder(tmp: Path) -> list:
    (tmp / "pack.yaml").mkdir()
    return ["batch", tmp / "pack.yaml", "--out", tmp / "out"]


def _cli_run_params_folder(tmp: Path) -> list:
    (tmp / "p.yaml").mkdir()
    return ["run", tmp / "p.yaml", "--out", tmp / "out"]


COMMAND_LINE = [
    ("demo_seed_negative", lambda t: ["demo-data", "--seed", "-1", "--out", t / "demo"], "demo-data",
     ["--seed: value -1", "whole number from 0"]),
    ("demo_seed_too_big", lambda t: ["demo-data", "--seed", str(2 ** 64), "--out", t / "demo"], "demo-data",
     ["--seed: value 18446744073709551616"]),
    ("demo_out_is_file", _cli_demo_out_file, "demo-data",
     ["--out: {tmp}/taken is a file, not a folder", "name a folder"]),
    ("demo_out_under_file", _cli_demo_out_under_file, "demo-data",
     ["--out: {tmp}/taken/demo", "a part of its path is a file"]),
    ("fit_params_missing", lambda t: ["fit", t / "none.yaml"], "fit", ["{tmp}/none.yaml", "params file not found"]),
    ("fit_json_data_device", _cli_run_bad_data, "fit", ["/dev/zero", "data file is a device"]),
    ("run_params_folder", _cli_run_params_folder, "run", ["{tmp}/p.yaml", "params file is a folder"]),
    ("run_notebook_not_json", _cli_run_notebook, "run", ["notebook: value 'nb.ipynb'", "notebook is not JSON"]),
    ("batch_pack_folder", _cli_batch_folder, "batch", ["{tmp}/pack.yaml", "params file is a folder"]),
    ("batch_pack_missing", lambda t: ["batch", t / "none.yaml", "--out", t / "out"], "batch",
     ["{tmp}/none.yaml", "params file not found"]),
    ("batch_pack_dev_zero", lambda t: ["batch", "/dev/zero", "--out", t / "out"], "batch",
     ["/dev/zero", "params file is a device"]),
]


@pytest.mark.parametrize("name,build,command,words", COMMAND_LINE, ids=[c[0] for c in COMMAND_LINE])
def test_command_line(name, build, command, words, tmp_path, capsys):
    argv = build(tmp_path)
    rc, err = run_cli(argv, capsys)
    assert_one_line(rc, err, command, words, {"tmp": tmp_path})
    if (tmp_path / "taken").exists():
        assert (tmp_path / "taken").read_text() == "keep me\n"
    assert not (tmp_path / "demo").exists()


# ====================================================================== imports
RTT_CELLS = [{"prov": "RNA", "comm": "05C", "tfc": "C_330", "weeks": {5: 10, 60: 2}}]


def _imp_out(name: str, content: str | bytes | None = None, meta: str | None = None):
    def setup(tmp: Path) -> Path:
        out = tmp / name
        if content is not None:
            out.write_bytes(content if isinstance(content, bytes) else content.encode())
        if meta is not None:
            out.with_name(out.stem + ".meta.json").write_text(meta)
        return out
    return setup


def _imp_out_folder(tmp: Path) -> Path:
    (tmp / "table.csv").mkdir()
    return tmp / "table.csv"


IMPORTS = [
    ("out_xlsx", _imp_out("out.xlsx"), ["{tmp}/out.xlsx", "cannot write a tidy table as a '.xlsx' file",
                                        ".csv or .parquet"]),
    ("out_no_suffix", _imp_out("table"), ["{tmp}/table", "a file without a suffix"]),
    ("out_json", _imp_out("t.json"), ["a '.json' file"]),
    ("out_folder", _imp_out_folder, ["{tmp}/table.csv", "is a folder"]),
    ("out_existing_decimal_comma", _imp_out("t.csv", HEADER + '2026-05,RNA,D,m,"1,5",,\n'),
     ["{tmp}/t.csv", "line 2", "'1,5'", "decimal comma"]),
    ("out_existing_nul", _imp_out("t.csv", HEADER + "2026-05,RNA,D\x00,m,1,,\n"), ["line 2", "NUL byte"]),
    ("out_existing_two_values", _imp_out("t.csv", HEADER.replace("denominator", "value") + "2026-05,RNA,D,m,1,,2\n"),
     ["column 'value' twice"]),
    ("out_existing_meta_list", _imp_out("t.csv", HEADER + "2026-05,RNA,D,m,1,,\n", meta="[]"),
     ["t.meta.json", "expected a JSON object"]),
    ("out_existing_not_table", _imp_out("t.csv", "hello world\n"), ["not a tidy-table header"]),
    ("out_existing_inf", _imp_out("t.csv", HEADER + "2026-05,RNA,D,m,inf,,\n"), ["'inf' is not a finite number"]),
]


@pytest.mark.parametrize("name,setup,words", IMPORTS, ids=[c[0] for c in IMPORTS])
def test_import(name, setup, words, tmp_path, capsys):
    src = F.write_rtt(tmp_path / "rtt.csv", "2026-06", RTT_CELLS)
    out = setup(tmp_path)
    before = out.read_bytes() if out.is_file() else None
    rc, err = run_cli(["import", "rtt", src, "--out", out], capsys)
    assert_one_line(rc, err, "import", words, {"tmp": tmp_path})
    if before is not None:
        assert out.read_bytes() == before, "a refused import must leave the existing table as it was"
    else:
        assert not out.is_file()


def test_the_suite_has_at_least_150_cases():
    n = (len(DATA) + len(MODEL_DATA) + len(DATA_PATHS) + len(PARAMS_CASES) + len(PARAMS_FILES) + len(PACKS)
         + len(COMMAND_LINE) + len(IMPORTS) + 3)   # + unreadable data/params files and the I/O error
    assert n >= 150, n


# --------------------------------------------------------------------------- imports read bounded inputs
@pytest.mark.parametrize("kind,path,words", [
    ("rtt", "/dev/zero", "/dev/zero: NHS England file is a device, not a regular file"),
    ("ae", "/proc/self/status", "unknown header"),
])
def test_import_of_a_device_or_proc_file_is_one_line(tmp_path, capsys, kind, path, words):
    from evallib.cli import main

    rc = main(["import", kind, path, "--out", str(tmp_path / "t.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and words in err[0] and "Name:" not in err[0]
    assert not (tmp_path / "t.csv").exists()


def test_ods_map_latin1_or_device_is_one_line(tmp_path, capsys):
    from evallib.cli import main

    bad = tmp_path / "map.csv"
    bad.write_bytes(b"old_code,new_code,date\nRA\xe9,RBB,2020-04\n")
    import nhs_fixtures as F

    src = F.write_ae(tmp_path / "ae.csv", "2026-05", [{"code": "RNA", "name": "DUDLEY", "att": [100, 0, 0],
                                                        "over": [10, 0, 0]}])
    for m, words in ((bad, "not UTF-8 text (byte 0xe9 on line 2)"), ("/dev/zero", "is a device, not a regular file")):
        rc = main(["import", "ae", str(src), "--ods-map", str(m), "--out", str(tmp_path / "t.csv")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and words in err[0], err
