"""Bad NHS input: each gives a DataError naming the file, asserted exactly."""
from __future__ import annotations

import pytest

import nhs_fixtures as F
from evallib.cli import main
from evallib.data.nhs import load
from evallib.exceptions import DataError

CELLS = [{"prov": "RNA", "comm": "05C", "tfc": "C_330", "weeks": {5: 10, 60: 2}}]


def _error(kind, path) -> str:
    with pytest.raises(DataError) as exc:
        load(kind, path)
    return str(exc.value)


def test_truncated_file_names_the_file_and_line(tmp_path):
    path = F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS)
    lines = path.read_bytes().split(b"\r\n")
    body = [ln for ln in lines if ln]
    cut = b",".join(body[-1].split(b",")[:20])  # the download stopped inside the last row
    path.write_bytes(b"\r\n".join(body[:-1] + [cut]))
    assert _error("rtt", path) == (f"{path}: line {len(body)} has 20 fields but the header has 121; "
                                   f"the file is truncated or corrupt: download it again")


def test_truncated_zip_is_reported_as_corrupt(tmp_path):
    src = F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS)
    z = F.zip_files(tmp_path / "in" / "Full-CSV-data-file-Jun26-ZIP.zip", {"rtt.csv": src.read_bytes()})
    z.write_bytes(z.read_bytes()[:200])
    assert _error("rtt", z) == (f"{z}: not a readable zip (File is not a zip file); the download is truncated "
                                f"or corrupt: download it again")


def test_unknown_header(tmp_path):
    path = tmp_path / "mystery.csv"
    path.write_text("Month,Trust,Waiting\n2026-06,RNA,12\n")
    assert _error("rtt", path) == (
        f"{path}: unknown header: no line in the first 40 lines has the RTT Full CSV columns (Period, Provider "
        f"Org Code, RTT Part Type, Treatment Function Code, Gt 00 To 01 Weeks SUM 1, Total All); the first "
        f"non-empty line has 3 field(s): is this the right file and kind?")     # its content is not echoed


def test_file_of_another_publication_says_which_kind_to_use(tmp_path):
    path = F.write_dm01(tmp_path / "dm01.csv", "2026-05", [{"prov": "RNA", "comm": "05C", "weeks": {1: {0: 1}}}])
    assert _error("rtt", path) == (f"{path}: this file is DM01 diagnostics data, not RTT Full CSV; import it with "
                                   f"`evallib import dm01 ...`")


def test_mixed_layouts_in_one_folder(tmp_path):
    folder = tmp_path / "downloads"
    a = F.write_dm01(folder / "a-dm01.csv", "2026-05", [{"prov": "RNA", "comm": "05C", "weeks": {1: {0: 1}}}])
    b = F.write_rtt(folder / "b-rtt.csv", "2026-05", CELLS)
    assert _error("rtt", folder) == (
        f"{folder}: mixed layouts in one folder: {a} is DM01 diagnostics data but {b} is RTT Full CSV data; "
        f"put each publication in its own folder and import each with its own kind")


def test_non_numeric_band_value(tmp_path):
    path = F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS)
    line = F.edit_cell(path, {"RTT Part Type": "Part_2", "Treatment Function Code": "C_330"},
                       "Gt 05 To 06 Weeks SUM 1", "12a")
    assert line == 2
    assert _error("rtt", path) == (f"{path}: line 2, column 'Gt 05 To 06 Weeks SUM 1': '12a' is not a number "
                                   f"(expected a count; blank, *, - and [x] are read as missing)")


def test_zip_with_no_csv(tmp_path):
    z = F.zip_files(tmp_path / "Full-CSV-data-file-Jun26-ZIP.zip", {"readme.txt": b"see the website",
                                                                     "notes/guide.pdf": b"%PDF"})
    assert _error("rtt", z) == (f"{z}: the zip holds no CSV file (found: readme.txt, notes/guide.pdf); "
                                f"download the CSV zip from the NHS England statistics page again")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf\r\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "Monthly-AE-March-2024.csv"
    path.write_bytes(content)
    assert _error("ae", path) == f"{path}: the file is empty ({len(content)} bytes); download it again"


def test_unparseable_period(tmp_path):
    path = F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS)
    F.edit_cell(path, {"RTT Part Type": "Part_2", "Treatment Function Code": "C_330"}, "Period", "RTT-Juno-2026")
    assert _error("rtt", path) == (f"{path}: line 2, column Period: 'RTT-Juno-2026' is not a month (expected e.g. "
                                   f"RTT-June-2026, MSitAE-MARCH-2024, 2026-06 or 01/06/2026)")


def test_same_month_twice_without_a_revision_is_an_error(tmp_path):
    a = F.write_rtt(tmp_path / "in" / "a.csv", "2026-06", CELLS)
    b = F.write_rtt(tmp_path / "in" / "b.csv", "2026-06", CELLS)
    assert _error("rtt", tmp_path / "in") == (f"{b}: month 2026-06 is also in {a}; pass only one file per month "
                                              f"(keep the -revised file when there are two)")


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    rc = main(["import", "rtt", str(path), "--out", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"evallib import: error: {path}: the file is empty (0 bytes); download it again\n"
    assert not (tmp_path / "out.csv").exists()
