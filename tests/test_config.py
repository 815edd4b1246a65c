"""The params schema (docs/contracts.md §2): defaults, path resolution, and exact error messages."""
from __future__ import annotations

from pathlib import Path

import pytest

from evallib.config import load_pack, load_params, params_from_dict
from evallib.exceptions import ParameterError

BASE = {"data": "metrics.csv", "metric": "rtt_52w_waiters", "units": ["RNA", "RL4", "RXK", "RBK"],
        "interruptions": [{"name": "covid", "date": "2020-03"},
                          {"name": "collaborative", "date": "2020-09", "transition": 0}]}


def err(raw: dict, source: str = "p.yaml") -> str:
    with pytest.raises(ParameterError) as info:
        params_from_dict(raw, base_dir="/x", source=source)
    return str(info.value)


def test_defaults_follow_the_design_doc():
    p = params_from_dict(BASE, base_dir="/x")
    assert (p.aggregate, p.comparators, p.design, p.exclude, p.seasonality) == ("sum", "none", "auto", [], "fourier2")
    assert (p.model, p.hac_lags, p.alpha, p.horizons) == (None, "auto", 0.05, [12, 24])
    assert p.interruptions[0].terms == ["level", "slope"] and p.interruptions[1].transition == 0
    assert p.resolved_design == "single" and p.display_title == "rtt_52w_waiters"
    assert str(p.data) == "/x/metrics.csv"


def test_auto_design_is_controlled_when_comparators_given():
    assert params_from_dict(dict(BASE, comparators="all_other")).resolved_design == "controlled"


def test_yaml_paths_resolve_relative_to_the_params_file(tmp_path):
    (tmp_path / "params").mkdir()
    f = tmp_path / "params" / "a.yaml"
    f.write_text("data: ../data/demo/metrics.csv\nmetric: m\nunits: [RNA]\n"
                 "interruptions:\n  - {name: collaborative, date: 2020-09}\n")
    assert load_params(f).data == (tmp_path / "data" / "demo" / "metrics.csv").resolve()


def test_unknown_key():
    assert err(dict(BASE, seasonaility="none")) == \
        "p.yaml: seasonaility: unknown key (check the spelling; see the params reference in README.md)"


def test_wrong_type():
    assert err(dict(BASE, alpha="five")) == \
        "p.yaml: alpha: value 'five': Input should be a valid number, unable to parse string as a number"


def test_bad_model_lists_allowed_values():
    assert err(dict(BASE, model="ols")) == (
        "p.yaml: model: value 'ols' is not allowed (input should be 'ols-hac', 'prais-winsten', 'arima', "
        "'poisson', 'quasipoisson', 'negbin', 'binomial' or 'quasibinomial')")


def test_bad_interruption_date_names_the_key_path():
    raw = dict(BASE, interruptions=[{"name": "covid", "date": "2020-03"}, {"name": "collab", "date": "2020-9x"}])
    assert err(raw) == ("p.yaml: interruptions[1].date: value '2020-9x': '2020-9x' is not a period "
                        "(expected YYYY-MM, YYYY-MM-DD, YYYY-Qn or YYYY)")


def test_interruptions_out_of_order():
    raw = dict(BASE, interruptions=[{"name": "a", "date": "2020-09"}, {"name": "b", "date": "2020-03"}])
    assert err(raw) == ("p.yaml: interruptions[1].date 2020-03 is before interruptions[0].date 2020-09: "
                        "list them in time order")


def test_interruption_after_end():
    assert err(dict(BASE, end="2020-06")) == "p.yaml: interruptions[1].date 2020-09 is after end 2020-06"


def test_interruption_not_after_start():
    assert err(dict(BASE, start="2020-03")) == (
        "p.yaml: interruptions[0].date 2020-03 is not after start 2020-03: there must be a "
        "pre-interruption segment")


def test_missing_required_key():
    raw = {k: v for k, v in BASE.items() if k != "units"}
    assert err(raw) == "p.yaml: units: required key is missing"


def test_bad_term():
    raw = dict(BASE, interruptions=[{"name": "c", "date": "2020-09", "terms": ["level", "trend"]}])
    assert err(raw) == "p.yaml: interruptions[0].terms[1]: value 'trend' is not allowed (input should be 'level' or 'slope')"


def test_bad_seasonality():
    assert err(dict(BASE, seasonality="fourier9")) == \
        "p.yaml: seasonality: value 'fourier9': 'fourier9' is not allowed (expected none, month or fourierK with K 1-6)"


def test_controlled_without_comparators():
    assert err(dict(BASE, design="synthetic")) == \
        "p.yaml: design synthetic needs comparators (all_other or a list of codes)"


def test_comparator_also_treated():
    assert err(dict(BASE, comparators=["RNA", "ZZ001"])) == "p.yaml: comparators ['RNA'] are also treated units"


def test_bad_exclude_range():
    assert err(dict(BASE, exclude=["2021-03/2020-03"])) == \
        "p.yaml: exclude: value ['2021-03/2020-03']: range '2021-03/2020-03' ends before it starts"


def test_yaml_dates_and_ints_become_labels(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("data: x.csv\nmetric: m\nunits: [RNA]\nstart: 2016-04-01\n"
                 "interruptions:\n  - {name: c, date: 2020-09-01}\n")
    p = load_params(f)
    assert (p.start, p.interruptions[0].date) == ("2016-04", "2020-09")


def test_invalid_yaml_names_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("data: x.csv\nunits: [RNA\n")
    with pytest.raises(ParameterError) as info:
        load_params(f)
    assert str(info.value).startswith(f"{f}: not valid YAML at line 3")


def test_pack_merges_defaults_and_names_analysis_in_errors(tmp_path):
    f = tmp_path / "pack.yaml"
    f.write_text("title: Demo\ndefaults:\n  data: d.csv\n  units: [RNA]\n"
                 "  interruptions: [{name: collaborative, date: 2020-09}]\n"
                 "analyses:\n  - {metric: a}\n  - {metric: b, model: poisson, id: b1}\n  - {metric: c, alpah: 1}\n")
    with pytest.raises(ParameterError) as info:
        load_pack(f)
    assert str(info.value) == (f"{f}: analyses[2].alpah: unknown key (check the spelling; see the params "
                               f"reference in README.md)")
    f.write_text(f.read_text().replace(", alpah: 1", ""))
    pack, analyses = load_pack(f)
    assert [a.analysis_id for a in analyses] == ["a", "b1", "c"]
    assert analyses[1].model == "poisson" and analyses[0].data == (tmp_path / "d.csv").resolve()
    assert all(a.notebook == "its_outcome" for a in analyses)


def test_pack_rejects_duplicate_ids(tmp_path):
    f = tmp_path / "pack.yaml"
    f.write_text("title: Demo\ndefaults: {data: d.csv, units: [RNA], interruptions: [{name: c, date: 2020-09}]}\n"
                 "analyses:\n  - {metric: a}\n  - {metric: a}\n")
    with pytest.raises(ParameterError) as info:
        load_pack(f)
    assert str(info.value) == f"{f}: analyses[1].id: value 'a' is used twice: give each analysis a unique id"


def test_repo_params_files_are_valid():
    repo = Path(__file__).resolve().parents[1] / "params"
    files = sorted(repo.glob("*.yaml"))
    for f in files:
        text = f.read_text()
        if "analyses:" in text or "\nnational:" in text:
            pack, _ = load_pack(f)   # a national section expands with the demo data (test_national_pack.py)
            assert pack.analyses or pack.national is not None
        else:
            load_params(f)


def test_synthetic_options_from_yaml():
    p = params_from_dict(dict(BASE, comparators="all_other", design="synthetic",
                              synthetic={"scale": "index", "fit_before": "2020-03-01", "predictors": ["ae_4h_pct"]}))
    assert (p.synthetic.scale, p.synthetic.fit_before, p.synthetic.predictors) == ("index", "2020-03", ["ae_4h_pct"])
    assert err(dict(BASE, synthetic={"scale": "log"})) == (
        "p.yaml: synthetic.scale: value 'log' is not allowed (input should be 'auto', 'none', 'per_unit' or 'index')")


# ---------------------------------------------------------------- issue 16: strict YAML and bounded reads
BASE_YAML = ("data: x.csv\nmetric: m\nunits: [RNA]\n"
             "interruptions:\n  - {name: collaborative, date: 2020-09}\n")


def yaml_err(tmp_path, text: str | bytes) -> tuple[Path, str]:
    f = tmp_path / "p.yaml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ParameterError) as info:
        load_params(f)
    return f, str(info.value)


def test_duplicate_key_names_both_lines(tmp_path):
    f, msg = yaml_err(tmp_path, BASE_YAML + "metric: other\n")
    assert msg == (f"{f}: line 6: key 'metric' appears twice in one mapping (first at line 2); YAML would keep "
                   f"only the last value: remove one")


def test_merge_keys_may_be_overridden(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("base: &b {metric: m, units: [RNA]}\n" + "<<: *b\nmetric: m2\ndata: x.csv\n"
                 "interruptions:\n  - {name: collaborative, date: 2020-09}\n")
    from evallib.config import read_yaml

    raw = read_yaml(f)
    assert (raw["metric"], raw["units"]) == ("m2", ["RNA"])


def test_alias_bomb_is_refused_quickly(tmp_path):
    import time

    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for p, c in zip("abcdefgh", "bcdefghi"):
        levels.append(f"{c}: &{c} [{','.join(['*' + p] * 9)}]")
    t0 = time.perf_counter()
    f, msg = yaml_err(tmp_path, "\n".join(levels) + "\n" + BASE_YAML.replace("units: [RNA]", "units: *i"))
    assert time.perf_counter() - t0 < 2.0
    assert msg == (f"{f}: the YAML holds more than 200,000 values once its aliases (*name references) are "
                   f"expanded; a params file needs far fewer: remove the repeated aliases or values (set "
                   f"EVALLIB_MAX_YAML_NODES to raise the bound)")


def test_recursive_alias(tmp_path):
    f, msg = yaml_err(tmp_path, "a: &a [1, *a]\n" + BASE_YAML)
    assert msg == (f"{f}: the YAML has an alias (*name) inside the value it names, so the value would be "
                   f"infinite: remove that alias")


def test_booleans_are_not_numbers():
    assert err(dict(BASE, hac_lags=True)) == (
        "p.yaml: hac_lags: value True: a yes/no value is not a number (YAML reads true, false, yes, no, on and off "
        "as yes/no): write a number")
    assert err(dict(BASE, horizons=[12, False])).startswith("p.yaml: horizons[1]: value False: a yes/no value")
    assert params_from_dict(dict(BASE, hac_lags=3, horizons=[0, 6])).hac_lags == 3


def test_unit_codes_read_as_yes_no_are_refused():
    assert err(dict(BASE, units=["RNA", False])) == (
        "p.yaml: units: value ['RNA', False]: item [1]: False is a yes/no value, not a unit code (YAML reads "
        "unquoted ON, OFF, YES, NO, Y and N as yes/no): put the code in quotes")
    assert params_from_dict(dict(BASE, units=["RNA", 123])).units == ["RNA", "123"]


def test_period_keys_share_the_interruptions_frequency():
    assert err(dict(BASE, start=2016)) == (
        "p.yaml: start 2016 is annual but the interruption dates are monthly: write start as YYYY-MM, like the "
        "interruption dates")
    assert err(dict(BASE, exclude=["2019-Q1"])) == (
        "p.yaml: exclude[0] 2019-Q1 is quarterly but the interruption dates are monthly: write exclude[0] as "
        "YYYY-MM, like the interruption dates")
    quarterly = dict(BASE, interruptions=[{"name": "c", "date": "2020-Q3"}], start="2016-Q1")
    assert params_from_dict(quarterly).start == "2016-Q1"      # the default washout is not checked


def test_params_file_must_be_a_bounded_utf8_regular_file(tmp_path, monkeypatch):
    f, msg = yaml_err(tmp_path, ("title: caf\u00e9\n" + BASE_YAML).encode("latin-1"))
    assert msg == f"{f}: not UTF-8 text (byte 0xe9 on line 1); re-save the file as UTF-8"
    d = tmp_path / "folder.yaml"
    d.mkdir()
    with pytest.raises(ParameterError) as info:
        load_params(d)
    assert str(info.value) == f"{d}: params file is a folder, not a regular file: name a file"
    monkeypatch.setenv("EVALLIB_MAX_PARAMS_BYTES", "64")
    f, msg = yaml_err(tmp_path, BASE_YAML)
    assert msg == (f"{f}: params file is {len(BASE_YAML)} bytes; the bound is 64 bytes (set EVALLIB_MAX_PARAMS_BYTES "
                   f"to raise the bound): check that it is the file you meant")


def test_control_characters_and_odd_keys(tmp_path):
    f, msg = yaml_err(tmp_path, BASE_YAML + "title: a\x00b\n")
    assert msg == (f"{f}: not valid YAML at line 6: character U+0000 is not allowed (control characters are not "
                   f"allowed); remove it or save the file again as plain UTF-8 text")
    f, msg = yaml_err(tmp_path, BASE_YAML + "2: x\n")
    assert msg == f"{f}: key 2 is not a name (YAML read it as a number): keys are words such as title, data or metric"
    assert err(dict(BASE, data="")) == ("p.yaml: data: value '': blank: name the tidy-table file (CSV or Parquet), "
                                        "relative to the params file")
