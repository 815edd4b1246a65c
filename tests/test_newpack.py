"""`evallib new-pack`: a params pack for a new collaborative, valid for `evallib batch`, never overwriting."""
from __future__ import annotations

import pytest
import yaml

from evallib import cli
from evallib.config import load_pack
from evallib.exceptions import ParameterError
from evallib.newpack import new_pack


def test_writes_a_pack_load_pack_accepts(demo_csv, tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    rel = os.path.relpath(demo_csv, tmp_path)             # as typed, relative to the working directory
    out = new_pack("packs/bc.yaml", trusts="RNA,RL4, RXK", formation="2020-09",
                   measures=["rtt_52w_waiters", "cancer_62d_pct", "rtt_waiting_list"], data=rel)
    assert out.is_file()
    pack, analyses = load_pack(out)
    assert [a.metric for a in analyses] == ["rtt_52w_waiters", "cancer_62d_pct", "rtt_waiting_list"]
    assert [a.aggregate for a in analyses] == ["sum", "ratio", "sum"]        # the percentage as a ratio
    assert [a.display_title for a in analyses] == ["52-week waiters", "Cancer 62-day treatment standard",
                                                   "RTT waiting list (incomplete pathways)"]
    a = analyses[0]
    assert a.units == ["RNA", "RL4", "RXK"] and a.comparators == "all_other" and a.resolved_design == "controlled"
    assert [(i.name, i.date) for i in a.interruptions] == [("covid", "2020-03"), ("collaborative", "2020-09")]
    assert a.data == demo_csv.resolve() and (a.seasonality, a.horizons, a.alpha) == ("fourier2", [12, 24], 0.05)
    doc = yaml.safe_load(out.read_text())
    assert doc["defaults"]["data"] == os.path.join("..", rel)    # now relative to the pack file's folder
    assert pack.title == "Provider collaborative of RNA, RL4, RXK: evaluation board pack"
    assert out.read_text().startswith("# Board pack written by `evallib new-pack`; build it with\n"
                                      "#   evallib batch packs/bc.yaml --out out/bc\n")


def test_no_covid_interruption_when_formation_is_before_it(demo_csv, tmp_path):
    out = new_pack(tmp_path / "early.yaml", trusts=["RNA"], formation="2019-04", measures="ae_4h_pct",
                   data=demo_csv, comparators="ZZ001,ZZ002,ZZ003", title="Early")
    _, (a,) = load_pack(out)
    assert yaml.safe_load(out.read_text())["defaults"]["data"] == str(demo_csv)   # an absolute path stays so
    assert [(i.name, i.date) for i in a.interruptions] == [("collaborative", "2019-04")]
    assert a.comparators == ["ZZ001", "ZZ002", "ZZ003"] and a.aggregate == "ratio"


def test_refuses_to_overwrite(demo_csv, tmp_path):
    path = tmp_path / "pack.yaml"
    path.write_text("mine: 1\n")
    with pytest.raises(ParameterError) as err:
        new_pack(path, trusts="RNA", formation="2020-09", measures="rtt_52w_waiters", data=demo_csv)
    assert str(err.value) == (f"{path} already exists; choose another file name or delete it first "
                              f"(new-pack never overwrites)")
    assert path.read_text() == "mine: 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pack.yaml"]   # no temporary file left


@pytest.mark.parametrize("kw, message", [
    ({"trusts": "RNA,NOPE"}, "trust(s) NOPE not in {data} (it has 40 organisations); check the ODS codes"),
    ({"measures": "rtt_52w_waiters,bogus"}, "measure(s) bogus not in {data} (it has "),
    ({"formation": "2030-01"}, "formation 2030-01 is not inside the data of these trusts and measures "
                               "(2016-04 to 2025-03): there must be periods before it and it must not be "
                               "after the last"),
    ({"formation": "Sept 2020"}, "formation 'Sept 2020' is not a period: "),
    ({"trusts": "RNA,RNA"}, "trusts RNA given more than once"),
    ({"comparators": "ZZ001,QQQ"}, "comparator(s) QQQ not in {data}"),
])
def test_bad_requests_name_the_value_and_write_nothing(demo_csv, tmp_path, kw, message):
    args = {"trusts": "RNA", "formation": "2020-09", "measures": "rtt_52w_waiters", "data": demo_csv} | kw
    with pytest.raises(ParameterError) as err:
        new_pack(tmp_path / "p.yaml", **args)
    assert str(err.value).startswith(message.format(data=demo_csv))
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_the_pack_and_refuses_a_second_time(demo_csv, tmp_path, capsys):
    argv = ["new-pack", str(tmp_path / "p.yaml"), "--trusts", "RNA,RL4", "--formation", "2020-09",
            "--measures", "rtt_52w_waiters", "--data", str(demo_csv)]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == (f"wrote {tmp_path / 'p.yaml'}; build it with: evallib batch "
                                       f"{tmp_path / 'p.yaml'} --out out/p\n")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == (f"evallib new-pack: error: {tmp_path / 'p.yaml'} already exists; choose another file name "
                   f"or delete it first (new-pack never overwrites)\n")


def test_cli_help_has_purpose_examples_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["new-pack", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "examples:\n  evallib new-pack params/mine.yaml --trusts RXX,RYY --formation 2021-04" in text
    assert "exit codes:\n  0    success" in text and "DESIGN.md" not in text
    assert text.split("\n\n")[1] == ("write the params pack of a new collaborative (trusts, formation date, "
                                     "measures), ready for batch.")
