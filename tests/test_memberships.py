"""The membership table (evallib/data/memberships.py): the shipped file, the loader, every bad input."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evallib.config import params_from_dict
from evallib.data.demo import generate_frame
from evallib.data.memberships import load_memberships, parse_memberships
from evallib.data.table import as_table
from evallib.exceptions import DataError, ParameterError

HEADER = "collaborative_id,collaborative_name,org_code,joined,left\n"
BC = ["RNA", "RL4", "RXK", "RBK"]


@pytest.fixture(scope="module")
def table():
    frame, _ = generate_frame()
    return as_table(frame, "demo.csv")


def write(tmp_path, body: str, comment: str = "# a comment\n"):
    p = tmp_path / "m.csv"
    p.write_text(comment + HEADER + body, encoding="utf-8")
    return p


def test_shipped_table_has_the_black_country_four_from_2020_09():
    m = load_memberships()
    assert "black_country" in m.collaboratives()
    assert m.name("black_country") == "Black Country Provider Collaborative"
    assert m.members("black_country") == BC
    for c in BC:
        assert m.join_date(c) == pd.Period("2020-09", "M")
        assert m.collaborative_of(c) == "black_country"
    assert m.join_date("ZZ001") is None
    assert m.formation("black_country") == pd.Period("2020-09", "M")


def test_left_and_rejoin_elsewhere_is_allowed_and_join_date_is_the_first(tmp_path):
    p = write(tmp_path, "a,A,RNA,2020-09,2021-06\nb,B,RNA,2021-06,\nb,B,RL4,2022-01,\n")
    m = load_memberships(p)
    assert m.collaboratives() == ["a", "b"]
    assert m.members("b") == ["RNA", "RL4"]
    assert m.join_date("RNA") == pd.Period("2020-09", "M")
    assert m.collaborative_of("RNA") == "a"
    assert m.rows[1].line == 4          # comment line 1, header line 2


def test_validate_against_demo_table_passes_for_the_shipped_file(table):
    m = load_memberships().validate_against(table)
    assert m.members("black_country") == BC


@pytest.mark.parametrize("body, message", [
    ("a,A,RNA,2020-13,\n",
     "m.csv: line 3: joined '2020-13' is not a month: write it as YYYY-MM (e.g. 2020-09)"),
    ("a,A,RNA,Sept 2020,\n",
     "m.csv: line 3: joined 'Sept 2020' is not a month: write it as YYYY-MM (e.g. 2020-09)"),
    ("a,A,RNA,2020-09,2020/10\n",
     "m.csv: line 3: left '2020/10' is not a month: write it as YYYY-MM (e.g. 2020-09)"),
    ("a,A,RNA,2020-09,2020-09\n",
     "m.csv: line 3: left 2020-09 is not after joined 2020-09 for RNA: correct one of the dates"),
    ("a,A,RNA,2020-09,\nb,B,,2021-04,\n",
     "m.csv: line 4: collaborative b has no members (no row with an org_code): add its member trusts or remove it"),
    ("a,A,RNA,2020-09,\nb,B,RNA,2021-04,\n",
     "m.csv: line 4: RNA is in b from 2021-04 to now, overlapping its membership of a from 2020-09 to now on line 3: "
     "a trust is in one collaborative at a time; set left on the earlier row or correct the dates"),
    ("a,A,RNA,2020-09,2021-06\nb,B,RNA,2021-05,\n",
     "m.csv: line 4: RNA is in b from 2021-05 to now, overlapping its membership of a from 2020-09 to 2021-06 on "
     "line 3"),
    ("a,A,RNA,2020-09,\na,Other name,RL4,2020-09,\n",
     "m.csv: line 4: collaborative_name 'Other name' differs from 'A' on line 3 for collaborative_id a: use one "
     "name per id"),
    ("a b,A,RNA,2020-09,\n",
     "m.csv: line 3: collaborative_id 'a b': use letters, digits, _ and - only"),
    ("a,A,R N A,2020-09,\n",
     "m.csv: line 3: org_code 'R N A' is not an ODS code (letters and digits): correct it"),
    ("a,A,RNA,2020-09,,extra\n",
     "m.csv: line 3: 6 field(s) in 'a,A,RNA,2020-09,,extra'; the header has 5"),
])
def test_bad_rows_name_file_line_value_and_fix(tmp_path, body, message):
    p = write(tmp_path, body)
    with pytest.raises(DataError) as exc:
        load_memberships(p)
    assert str(exc.value).startswith(str(p)[:-len("m.csv")] + message)


def test_bad_header_and_empty_file(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("org,joined\nRNA,2020-09\n")
    with pytest.raises(DataError, match=r"line 1: header 'org,joined' is not the membership format: the columns "
                                        r"are collaborative_id,collaborative_name,org_code,joined,left"):
        load_memberships(p)
    p.write_text("# only comments\n")
    with pytest.raises(DataError, match="no header line"):
        load_memberships(p)
    with pytest.raises(DataError, match="membership table not found"):
        load_memberships(tmp_path / "absent.csv")


def test_unknown_code_and_date_outside_the_data(tmp_path, table):
    m = load_memberships(write(tmp_path, "a,A,RNA,2020-09,\na,A,QQQ99,2020-09,\n"))
    with pytest.raises(DataError) as exc:
        m.validate_against(table)
    assert str(exc.value) == (f"{tmp_path / 'm.csv'}: line 4: org_code 'QQQ99' (collaborative a) is not in the data "
                              f"<in-memory table>: correct the ODS code or remove the row")
    m = load_memberships(write(tmp_path, "a,A,RNA,2014-01,\n"))
    with pytest.raises(DataError) as exc:
        m.validate_against(table)
    assert str(exc.value) == (f"{tmp_path / 'm.csv'}: line 3: joined 2014-01 is outside the data <in-memory table> "
                              f"(2016-04 to 2025-03): correct the date, or use data that cover it")
    m = load_memberships(write(tmp_path, "a,A,RNA,2020-09,2026-01\n"))
    with pytest.raises(DataError, match="line 3: left 2026-01 is outside the data"):
        m.validate_against(table)


def test_unknown_collaborative_id():
    with pytest.raises(DataError, match="collaborative_id 'nowhere' is not in the membership table"):
        load_memberships().members("nowhere")


def test_params_key_resolves_relative_to_params_file_and_defaults_comparators(tmp_path):
    base = {"data": "d.csv", "metric": "rtt_waiting_list", "units": BC,
            "interruptions": [{"name": "c", "date": "2020-09"}]}
    p = params_from_dict({**base, "memberships": "m/collab.csv"}, base_dir=tmp_path)
    assert p.memberships == (tmp_path / "m" / "collab.csv").resolve()
    assert p.comparators == "not_yet_treated"
    assert p.resolved_design == "controlled"
    assert p.to_yaml_dict()["memberships"] == str((tmp_path / "m" / "collab.csv").resolve())
    p = params_from_dict({**base, "memberships": "m.csv", "comparators": "all_other"}, base_dir=tmp_path)
    assert p.comparators == "all_other"
    assert params_from_dict(base, base_dir=tmp_path).memberships is None
    with pytest.raises(ParameterError, match="comparators not_yet_treated needs memberships: PATH"):
        params_from_dict({**base, "comparators": "not_yet_treated"}, base_dir=tmp_path)
    with pytest.raises(ParameterError, match="not_yet_treated is available in the aligned, synthetic and sdid designs "
                                             "only"):
        params_from_dict({**base, "memberships": "m.csv", "design": "single"}, base_dir=tmp_path)
    assert params_from_dict({**base, "memberships": "m.csv", "design": "synthetic"}, base_dir=tmp_path).comparators == \
        "not_yet_treated"


def test_parse_from_text_names_the_source():
    with pytest.raises(DataError, match=r"^here\.csv: line 2: joined"):
        parse_memberships(HEADER + "a,A,RNA,x,\n", "here.csv")


def test_demo_writes_staggered_memberships_and_keeps_the_data(tmp_path):
    """The demo's collaboratives.csv: the Black Country four from 2020-09 and the 36 comparators in
    nine collaboratives of 3-5 trusts joining 2020-12 to 2022-07; metrics.csv is unchanged (the
    same hash as before the table was added), truth.json lists them under `collaboratives`."""
    import hashlib
    import json

    from evallib.data.demo import generate
    from evallib.data.table import load_table

    paths = generate(tmp_path)
    assert hashlib.md5(paths["metrics"].read_bytes()).hexdigest() == "188994b92137b30a608f1f687224e05b"
    m = load_memberships(paths["collaboratives"]).validate_against(load_table(paths["metrics"]))
    ids = m.collaboratives()
    assert ids[0] == "black_country" and m.members("black_country") == BC
    assert len(ids) == 10
    sizes = [len(m.members(c)) for c in ids[1:]]
    assert sum(sizes) == 36 and min(sizes) == 3 and max(sizes) == 5
    dates = [str(m.formation(c)) for c in ids[1:]]
    assert dates == ["2020-12", "2021-04", "2021-07", "2021-10", "2022-01", "2022-04", "2022-04", "2022-07",
                     "2022-07"]
    assert sorted(c for c in m.org_codes() if c.startswith("ZZ")) == [f"ZZ{k:03d}" for k in range(1, 37)]
    truth = json.loads(paths["truth"].read_text())
    assert [c["id"] for c in truth["collaboratives"]] == ids
    assert [c["planted"] for c in truth["collaboratives"]] == [True] + [False] * 9
    assert load_memberships(paths["collaboratives"]).rows[0].line == 5   # after the three comment lines and header


def test_editing_the_membership_table_changes_the_batch_cache_key(tmp_path):
    """The membership table is an input of the analysis: a changed joining date rebuilds it."""
    import shutil

    from evallib.batch.jobs import make_job
    from evallib.config import params_from_dict
    from evallib.data.demo import generate_frame
    from evallib.data.table import write_table

    frame, _ = generate_frame()
    write_table(frame[frame["metric"] == "rtt_waiting_list"], tmp_path / "t.csv")
    src = Path(__file__).resolve().parents[1] / "evallib" / "data" / "collaboratives.csv"
    shutil.copy(src, tmp_path / "m.csv")
    p = params_from_dict({"data": "t.csv", "metric": "rtt_waiting_list", "units": ["RNA", "RL4", "RXK", "RBK"],
                          "memberships": "m.csv",
                          "interruptions": [{"name": "covid", "date": "2020-03"},
                                            {"name": "collaborative", "date": "2020-09"}]}, base_dir=tmp_path)
    k1 = make_job(p).key
    (tmp_path / "m.csv").write_text((tmp_path / "m.csv").read_text() + "\n")
    assert make_job(p).key != k1
