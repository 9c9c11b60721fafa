"""CLI usage errors: every command, a few lines on stderr, exit code 2, never a traceback.

Commands are enumerated from the typer app, so a command added later is covered too. Also:
durations need a unit, command-line dates are ISO, data-file timestamps are ISO unless a format
is declared, and ``validate`` lists the experiments in ``assignments``.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest
import typer

from groupstats.cli import app, main

DURATION_OPTIONS = {"--window", "--washout", "--exclude-red-packets", "--post-tolerance", "--read-window"}
DATE_OPTIONS = {"--cutoff", "--start", "--end", "--as-of"}


def _commands(command=None, path=()):
    """(path, click command) of every leaf command of the app, sub-groups included."""
    command = command or typer.main.get_command(app)
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name, sub in sorted(subcommands.items()):
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands())
COMMAND_IDS = [" ".join(p) for p, _ in COMMANDS]


def _required_arguments(command) -> list[str]:
    """Placeholders for the command's required positional arguments (parsing fails before they are read)."""
    return ["sample" for p in command.params if p.param_type_name == "argument" and p.required]


def _long_options(command) -> list[str]:
    return [o for p in command.params if p.param_type_name == "option"
            for o in p.opts if o.startswith("--") and o != "--help"]


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_usage_error(code, out, err, *fragments):
    assert code == 2, (code, out, err)
    assert "Traceback" not in err + out
    assert 1 <= len(err.strip().splitlines()) <= 8, err   # a few lines, not a wall
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_the_app_has_every_analysis_command():
    names = {p[0] for p, _ in COMMANDS}
    assert {"validate", "health", "churn", "segment", "features", "abtest", "mix", "compare",
            "plan-slots", "report", "import"} <= names


@pytest.mark.parametrize("path, command", COMMANDS, ids=COMMAND_IDS)
def test_misspelled_option_suggests_the_right_one(capsys, path, command):
    options = [o for o in _long_options(command) if len(o) > 5]
    assert options, f"{path} has no long option to misspell"
    for option in options[:3]:
        typo = option[:-2] + option[-1]             # drop the second-last letter: --window -> --windw
        code, out, err = run(capsys, *path, *_required_arguments(command), typo)
        assert_usage_error(code, out, err, f"No such option: {typo}", f"Did you mean {option}?")


WITH_REQUIRED = [(p, c) for p, c in COMMANDS if any(param.required for param in c.params)]


def test_commands_with_required_parameters_are_found():
    assert {p[0] for p, _ in WITH_REQUIRED} >= {"validate", "churn", "abtest", "compare", "features", "health"}


@pytest.mark.parametrize("path, command", WITH_REQUIRED, ids=[" ".join(p) for p, _ in WITH_REQUIRED])
def test_missing_required_option_or_argument(capsys, path, command):
    required = [p for p in command.params if p.required]
    for param in required:
        if param.param_type_name == "option":
            others = [a for p in required if p is not param and p.param_type_name == "option"
                      for a in (p.opts[0], "x")]
            code, out, err = run(capsys, *path, *_required_arguments(command), *others)
            assert_usage_error(code, out, err, f"Missing option '{param.opts[0]}'")
    if any(p.param_type_name == "argument" for p in required):
        code, out, err = run(capsys, *path)
        assert_usage_error(code, out, err, "Missing argument")


def test_unknown_command_suggests_the_closest(capsys):
    code, out, err = run(capsys, "healht", "sample")
    assert_usage_error(code, out, err, "No such command 'healht'", "Did you mean 'health'?")
    code, out, err = run(capsys, "frobnicate")
    assert_usage_error(code, out, err, "No such command 'frobnicate'")


@pytest.mark.parametrize("args, option", [
    (["churn", "sample", "--horizon", "0", "--out", "x.csv"], "--horizon"),
    (["health", "sample", "--recent-weeks", "0"], "--recent-weeks"),
    (["simulate", "--out", "x", "--groups", "1"], "--groups"),
    (["report", "all", "--jobs", "0"], "--jobs"),
    (["churn", "sample", "--horizon", "soon", "--out", "x.csv"], "--horizon"),
])
def test_out_of_range_or_malformed_value(capsys, args, option):
    code, out, err = run(capsys, *args)
    assert_usage_error(code, out, err, f"Invalid value for '{option}'")


def _options_named(names):
    found = [(path, command, option) for path, command in COMMANDS for option in _long_options(command)
             if option in names]
    return found, [f"{' '.join(p)} {o}" for p, _, o in found]


DURATIONS, DURATION_IDS = _options_named(DURATION_OPTIONS)
DATES, DATE_IDS = _options_named(DATE_OPTIONS)


def test_duration_and_date_options_are_found():
    assert {o for *_, o in DURATIONS} >= {"--window", "--washout", "--exclude-red-packets", "--post-tolerance"}
    assert {o for *_, o in DATES} >= {"--cutoff", "--start", "--end"}


@pytest.mark.parametrize("path, command, option", DURATIONS, ids=DURATION_IDS)
def test_bare_number_duration_is_refused_with_the_fix(capsys, path, command, option):
    # `--window 2` used to be read as 2 nanoseconds: every windowed count was silently zero
    code, out, err = run(capsys, *path, *_required_arguments(command), option, "2")
    assert_usage_error(code, out, err, f"Invalid value for '{option}'", "bare number", "2h", "2min", "2D")
    code, out, err = run(capsys, *path, *_required_arguments(command), option, "two hours please")
    assert_usage_error(code, out, err, f"Invalid value for '{option}'", "with a unit")


@pytest.mark.parametrize("path, command, option", DATES, ids=DATE_IDS)
def test_non_iso_date_is_refused(capsys, path, command, option):
    # `--cutoff 04/05/2026` used to be read silently as 5 April
    for value in ("04/05/2026", "5 April 2026", "2026-02-30", "20260405"):
        code, out, err = run(capsys, *path, *_required_arguments(command), option, value)
        assert_usage_error(code, out, err, f"Invalid value for '{option}'", "YYYY-MM-DD")
    code, out, err = run(capsys, *path, *_required_arguments(command), option, "04/05/2026")
    assert "2026-05-04 or 2026-04-05" in err


def test_duration_and_date_parsers_accept_the_documented_forms():
    from groupstats.cli.common import parse_date, parse_duration
    from groupstats.errors import ParameterError

    assert parse_duration("2h") == pd.Timedelta(hours=2)
    assert parse_duration("30min") == pd.Timedelta(minutes=30)
    assert parse_duration("1D") == pd.Timedelta(days=1)
    assert parse_duration("1h30min") == pd.Timedelta(minutes=90)
    for bad in ("2", "0.5", "-1h", "0min", "h", ""):
        with pytest.raises(ParameterError):
            parse_duration(bad, "--window")
    assert parse_date("2026-04-05") == pd.Timestamp(2026, 4, 5)
    assert parse_date("2026-04-05T18:30") == pd.Timestamp(2026, 4, 5, 18, 30)
    assert parse_date("2026-04-05 18:30:15") == pd.Timestamp(2026, 4, 5, 18, 30, 15)
    assert parse_date("2026-04-05T18:30+08:00") == pd.Timestamp("2026-04-05T10:30Z")
    for bad in ("04/05/2026", "2026/04/05", "2026-4-5", "yesterday"):
        with pytest.raises(ParameterError):
            parse_date(bad, "--cutoff")


def test_valid_dates_reach_the_analysis_unchanged(capsys, tmp_path):
    folder = _day_first_dataset(tmp_path / "iso")
    pd.read_csv(folder / "members.csv").assign(joined_at="2026-01-01").to_csv(folder / "members.csv", index=False)
    pd.read_csv(folder / "messages.csv").assign(
        sent_at=["2026-01-05 10:00", "2026-01-13 09:00", "2026-02-02 21:30"]).to_csv(folder / "messages.csv",
                                                                                    index=False)
    code, out, err = run(capsys, "health", str(folder), "--start", "2026-01-12", "--end", "2026-01-25", "--json")
    assert code == 0, err
    weeks = sorted({row["week_start"][:10] for row in json.loads(out)["weeks"]})
    assert weeks == ["2026-01-12", "2026-01-19"]


# --- timestamps in data files ------------------------------------------------------------
def _day_first_dataset(folder, with_format_field=False):
    """A tiny CSV dataset whose timestamps are day-first (05/01/2026 = 5 January)."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"group_id": ["g1"] * 3, "member_id": ["op", "a", "b"],
                  "joined_at": ["01/01/2026 00:00", "01/01/2026 00:00", "02/01/2026 08:00"],
                  "role": ["owner", "member", "member"]}).to_csv(folder / "members.csv", index=False)
    pd.DataFrame({"message_id": ["m1", "m2", "m3"], "group_id": ["g1"] * 3, "member_id": ["op", "a", "b"],
                  "sent_at": ["05/01/2026 10:00", "13/01/2026 09:00", "02/02/2026 21:30"]}
                 ).to_csv(folder / "messages.csv", index=False)
    if with_format_field:
        (folder / "dataset.json").write_text(json.dumps({"timestamp_format": "%d/%m/%Y %H:%M"}))
    return folder


def test_day_first_timestamps_are_rejected_with_file_column_rows_and_values(capsys, tmp_path):
    folder = _day_first_dataset(tmp_path / "dmy")
    code, out, err = run(capsys, "validate", str(folder))
    assert code == 2 and "Traceback" not in err
    assert "messages.csv, column 'sent_at'" in err and "members.csv, column 'joined_at'" in err
    assert "sent_at '05/01/2026 10:00' (row 1)" in err and "sent_at '13/01/2026 09:00' (row 2)" in err
    assert "--timestamp-format" in err and "never guessed" in err


@pytest.mark.parametrize("how", ["option", "dataset.json"])
def test_declared_timestamp_format_reads_day_first(capsys, tmp_path, how):
    folder = _day_first_dataset(tmp_path / how, with_format_field=how == "dataset.json")
    extra = ["--timestamp-format", "%d/%m/%Y %H:%M"] if how == "option" else []
    code, out, err = run(capsys, "validate", str(folder), "--json", *extra)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["start"].startswith("2026-01-05T10:00") and summary["end"].startswith("2026-02-02T21:30")
    from groupstats import load_dataset

    ds = load_dataset(folder, timestamp_format="%d/%m/%Y %H:%M")
    assert list(ds.messages["sent_at"].dt.day) == [5, 13, 2] and list(ds.messages["sent_at"].dt.month) == [1, 1, 2]


def test_timestamp_format_option_does_not_leak_into_the_next_command(capsys, tmp_path):
    folder = _day_first_dataset(tmp_path / "dmy")
    assert run(capsys, "validate", str(folder), "--timestamp-format", "%d/%m/%Y %H:%M")[0] == 0
    assert run(capsys, "validate", str(folder))[0] == 2


def test_iso_timestamps_with_and_without_offsets(tmp_path):
    from groupstats import load_dataset

    folder = _day_first_dataset(tmp_path / "iso")
    members = pd.read_csv(folder / "members.csv").assign(joined_at=["2026-01-01", "2026-01-01T00:00:00+08:00",
                                                                    "2026-01-02 08:00"])
    members.to_csv(folder / "members.csv", index=False)
    pd.read_csv(folder / "messages.csv").assign(
        sent_at=["2026-01-05 10:00", "2026-01-13T01:00:00Z", "2026-02-02T21:30:00.250+08:00"]
    ).to_csv(folder / "messages.csv", index=False)
    ds = load_dataset(folder)
    assert [t.strftime("%Y-%m-%d %H:%M") for t in ds.messages["sent_at"]] == [
        "2026-01-05 10:00", "2026-01-13 09:00", "2026-02-02 21:30"]
    assert list(ds.members["joined_at"].dt.hour) == [0, 0, 8]


# --- validate lists the experiments --------------------------------------------------------
def test_validate_lists_experiments_with_arms_design_and_dates(capsys, sample_truth):
    code, out, err = run(capsys, "validate", "sample", "--lang", "en")
    assert code == 0, err
    assert "slot_switchback: switchback, arms evening, morning, noon" in out
    assert "mix_policy: group-randomised, arms control, interactive_352" in out
    code, out, err = run(capsys, "validate", "sample", "--json")
    experiments = {e["experiment_id"]: e for e in json.loads(out)["experiments"]}
    assert experiments["slot_switchback"]["design"] == "switchback"
    assert experiments["mix_policy"]["design"] == "group-randomised"
    assert set(experiments["mix_policy"]["arms"]) == set(sample_truth["mix_experiment"]["arms"])
    assert experiments["slot_switchback"]["start"] < experiments["slot_switchback"]["end"]


def test_experiment_design_follows_the_assignments():
    from groupstats.data.dataset import experiments_in

    ts = pd.Timestamp
    table = pd.DataFrame({
        "experiment_id": ["sb", "sb", "sb", "sb", "gr", "gr"],
        "group_id": ["g1", "g1", "g2", "g2", "g1", "g2"],
        "arm": ["A", "B", "B", "A", "x", "y"],
        "start_at": [ts("2026-01-01"), ts("2026-01-08"), ts("2026-01-01"), ts("2026-01-08"),
                     ts("2026-02-01"), ts("2026-02-01")],
        "end_at": [ts("2026-01-08"), ts("2026-01-15"), ts("2026-01-08"), ts("2026-01-15"),
                   ts("2026-03-01"), ts("2026-03-02")]})
    found = experiments_in(table).set_index("experiment_id")
    assert found.loc["sb", "design"] == "switchback" and found.loc["gr", "design"] == "group-randomised"
    assert found.loc["sb", "arms"] == "A, B" and found.loc["gr", "n_groups"] == 2
    assert found.loc["gr", "end"] == ts("2026-03-02") and found.loc["sb", "start"] == ts("2026-01-01")
    assert experiments_in(None).empty


def test_library_durations_refuse_bare_numbers_too():
    """Notebook parameters (report -p window=2) reach the library without the CLI's parser."""
    from groupstats.errors import ParameterError
    from groupstats.tables.derived import _timedelta

    assert _timedelta("2h", "window") == pd.Timedelta(hours=2)
    for bare in ("2", "1.5", " 3 "):
        with pytest.raises(ParameterError, match="needs a unit"):
            _timedelta(bare, "window")


def test_non_iso_date_hint_offers_only_readings_that_are_dates():
    import pytest as _pytest

    from groupstats.cli.common import parse_date
    from groupstats.errors import ParameterError

    with _pytest.raises(ParameterError) as info:
        parse_date("15/03/2026", "--as-of")
    assert "2026-03-15" in str(info.value) and "2026-15-03" not in str(info.value)
    with _pytest.raises(ParameterError) as info:
        parse_date("04/05/2026", "--as-of")
    assert "2026-05-04" in str(info.value) and "2026-04-05" in str(info.value)


def test_sample_outside_a_checkout_is_a_clear_error(monkeypatch, capsys):
    """'sample' in an installation that is not a checkout (no data/sample): exit 2 naming the
    variable that fixes it, not a FileNotFoundError traceback."""
    import groupstats.paths as paths

    monkeypatch.delenv("GROUPSTATS_SAMPLE", raising=False)
    monkeypatch.setattr(paths, "repo_root", lambda: None)
    assert main(["health", "sample"]) == 2
    err = capsys.readouterr().err
    assert "GROUPSTATS_SAMPLE" in err and "Traceback" not in err
