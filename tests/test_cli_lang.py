"""``--lang zh|en`` on the commands' plain output (issue 14).

Each command runs in process on the sample, four times (plain and --json, zh and en). The analysis
behind it runs once per command: the dataset loader and the analysis function are memoised for
the test, so the four runs differ only in how the same result is shown, which is what is tested.

- zh: the plain output holds no English word of the catalogue (the notion of the zh-page test,
  :func:`groupstats.reports.i18n.english_words`); ids, file names and paths stay as they are;
- en: no CJK character (except quoted article titles, which are names);
- both carry the same numbers;
- --json is the same in both languages except ``conclusion``.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from groupstats.cli import main
from groupstats.reports.i18n import english_words

FASTFOOD = Path(__file__).parent / "data" / "fastfood_promotion" / "WA_Marketing-Campaign.csv"

#: command name -> (arguments after the command, the analysis functions it calls: module, name)
COMMANDS = {
    "abtest": (["sample", "--experiment", "slot_switchback"],
               [("groupstats.analyses.slot_experiment", "analyse_slot_experiment")]),
    "compare": ([str(FASTFOOD), "--arm", "Promotion", "--metric", "SalesInThousands", "--cluster", "MarketID"], []),
    "plan-slots": (["sample", "--sims", "20", "--weeks", "6"], [("groupstats.stats.design", "plan_slot_experiment")]),
    "mix --experiment": (["sample", "--experiment", "mix_policy"],
                         [("groupstats.analyses.content_mix", "analyse_mix_experiment")]),
    "mix --target": (["sample", "--target", "interactive_352"],
                     [("groupstats.analyses.content_mix", "check_compliance")]),
    "mix --content-types": (["sample", "--content-types"],
                            [("groupstats.analyses.content_mix", "content_type_engagement")]),
    "health": (["sample"], [("groupstats.analyses.health", "assess_health")]),
    "segment": (["sample"], [("groupstats.analyses.segmentation", "segment_members")]),
    "churn": (["sample", "--out", "{tmp}/risk.csv"], [("groupstats.analyses.churn", "churn_risk")]),
    "validate": (["sample"], []),
}
CLI_MODULES = ["groupstats.cli.common", "groupstats.cli.data", "groupstats.cli.churn", "groupstats.cli.experiments",
               "groupstats.cli.members", "groupstats.cli.mix_health"]

_IDENTIFIER = re.compile(r"[\w./\\:-]*[_/\\.][\w./\\:-]*[A-Za-z][\w./\\:-]*|[\w-]*[A-Za-z][\w-]*\d[\w-]*")
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def _memoised(fn):
    results = {}

    def wrapper(*args, **kwargs):
        key = (repr(args[1:]), repr(sorted(kwargs.items())))  # the first argument is the (shared) dataset
        if key not in results:
            results[key] = fn(*args, **kwargs)
        return results[key]

    return wrapper


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def outputs(request, monkeypatch, sample, tmp_path):
    """{(lang, json): stdout} of one command, its analysis run once."""
    import importlib

    name = request.param
    args, functions = COMMANDS[name]
    for module in CLI_MODULES:  # the dataset of the session instead of loading it four times
        mod = importlib.import_module(module)
        if hasattr(mod, "load"):
            monkeypatch.setattr(mod, "load", lambda data, *a, **k: sample if data == "sample" else None)
    for module, attr in functions:
        mod = importlib.import_module(module)
        monkeypatch.setattr(mod, attr, _memoised(getattr(mod, attr)))
    command = name.split()[0]
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = {}
    for lang in ("zh", "en"):
        for as_json in (False, True):
            if as_json and command == "validate":
                argv = [command, *args, "--json", "--lang", lang]
            else:
                argv = [command, *args, *(["--json"] if as_json else []), "--lang", lang]
            code, stdout, stderr = _run(argv)
            assert code == 0, (argv, stderr)
            out[lang, as_json] = stdout
    return out


def _english_words(text: str) -> set[str]:
    text = _IDENTIFIER.sub(" ", text)  # ids, file names, paths, method names (ols-cr2) stay as they are
    text = re.sub(r"“[^”]*”|'[^']*'|`[^`]*`", " ", text)  # so do quoted names (a column, a label) and code
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)} & english_words()


def _without_conclusions(value):
    """A JSON value without its "conclusion" texts (the top level's and nested results', e.g. churn's backtest)."""
    if isinstance(value, dict):
        return {k: _without_conclusions(v) for k, v in value.items() if k != "conclusion"}
    if isinstance(value, list):
        return [_without_conclusions(v) for v in value]
    return value


def _numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(_IDENTIFIER.sub(" ", text)))


@pytest.mark.parametrize("outputs", list(COMMANDS), indirect=True)
def test_plain_output_follows_lang_and_json_only_its_conclusion(outputs):
    zh, en = outputs["zh", False], outputs["en", False]
    assert _CJK.search(zh) and zh != en
    assert _english_words(zh) == set(), f"English words in the zh output: {sorted(_english_words(zh))}\n{zh}"
    assert _english_words(en)                                         # the check above can fail
    names_removed = re.sub(r"\"[^\"]*\"|“[^”]*”", "", en)              # article titles quoted as names
    assert not _CJK.search(names_removed), f"CJK in the en output:\n{en}"
    # the same numbers in both languages (every number of the zh text is in the en text and back)
    assert _numbers(zh) == _numbers(en), _numbers(zh) ^ _numbers(en)
    # --json: the machine contract does not change with --lang, except the conclusion's words
    j_zh, j_en = json.loads(outputs["zh", True]), json.loads(outputs["en", True])
    c_zh, c_en = j_zh.get("conclusion"), j_en.get("conclusion")
    assert _without_conclusions(j_zh) == _without_conclusions(j_en)
    if c_en is not None:
        assert isinstance(c_zh, str) and _CJK.search(c_zh) and not _CJK.search(c_en)


def test_unknown_language_is_a_usage_error():
    code, out, err = _run(["health", "sample", "--lang", "fr"])
    assert code == 2 and out == ""
    assert "Usage:" in err and "'fr' is not a language" in err and "zh, en" in err


def test_import_counts_follow_lang(tmp_path):
    """``import`` prints its counts and notes in the language; --json is the same in both."""
    export = Path(__file__).parent / "data" / "real" / "whatsapp" / "chatanalytics_android_en_2A_5M.txt"
    out = {}
    for lang in ("zh", "en"):
        for as_json in (False, True):
            folder = tmp_path / f"{lang}{int(as_json)}"
            code, stdout, stderr = _run(["import", "auto", str(export), "--out", str(folder), "--salt-file",
                                         str(tmp_path / "salt.key"), "--lang", lang, *(["--json"] if as_json else [])])
            assert code == 0, stderr
            out[lang, as_json] = stdout.replace(str(folder), "OUT")
    zh, en = out["zh", False], out["en", False]
    assert _CJK.search(zh) and _english_words(zh) == set(), zh
    assert _english_words(en) and not _CJK.search(en), en
    assert _numbers(zh) == _numbers(en)
    assert json.loads(out["zh", True]) == json.loads(out["en", True])


def test_simulate_and_features_summary_lines_follow_lang(tmp_path):
    """The one-line summaries of ``simulate`` and ``features`` (no --json) in both languages."""
    out = {}
    for lang in ("zh", "en"):
        data = tmp_path / f"sim_{lang}"
        code, sim, err = _run(["simulate", "--out", str(data), "--groups", "2", "--days", "14", "--members", "6",
                               "--no-events", "--lang", lang])
        assert code == 0, err
        code, feats, err = _run(["features", str(data), "--out", str(tmp_path / f"f_{lang}.csv"), "--lang", lang])
        assert code == 0, err
        out[lang] = (sim + feats).replace(str(data), "DATA").replace(str(tmp_path), "TMP")
    assert _CJK.search(out["zh"]) and _english_words(out["zh"]) == set(), out["zh"]
    assert _english_words(out["en"]) and not _CJK.search(out["en"]), out["en"]
    assert _numbers(out["zh"]) == _numbers(out["en"])
