"""The playbook rules the audit checks: ids, settings, words (zh / en) and the row format.

Settings and article titles come from ``presets/audit_rules.yaml``; every text a reader sees is
registered in the report catalogue (:func:`groupstats.reports.i18n.register`) under ``audit.*``.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from groupstats.errors import ParameterError
from groupstats.paths import PRESETS_DIR
from groupstats.reports.i18n import register, t

__all__ = ["RULE_IDS", "CAUSAL_RULES", "VERDICTS", "ROW_KEYS", "load_rules", "make_row", "AUDIT_RULES_FILE"]

AUDIT_RULES_FILE = PRESETS_DIR / "audit_rules.yaml"

#: The rules, in the order of the audit table.
RULE_IDS = ("evening_slot", "mix_352", "mix_721", "mix_40_30_20_10", "marketing_cap_15", "silent_30d_churned",
            "core_top20", "points_tiers", "health_thresholds", "lifecycle_decline")
#: Rules that claim an effect of something operators do: only an experiment can support or contradict them.
CAUSAL_RULES = ("evening_slot", "mix_352", "mix_721", "mix_40_30_20_10", "marketing_cap_15")
VERDICTS = ("supported", "contradicted", "not_shown", "not_testable")
#: Keys of every audit row, in order.
ROW_KEYS = ("id", "claim", "source", "test", "evidence", "estimate", "ci_low", "ci_high", "unit", "verdict",
            "reason")


def _read(path: str) -> dict:
    import yaml

    file = Path(path)
    if not file.exists():
        raise ParameterError(f"Audit rules file {file} does not exist; copy {AUDIT_RULES_FILE} and edit it.")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParameterError(f"Audit rules file {file} is not valid YAML: {exc}") from exc
    return raw


@lru_cache(maxsize=1)
def _default_rules() -> dict:
    return _read(str(AUDIT_RULES_FILE))


def load_rules(path=None) -> dict:
    """The audit settings (default ``presets/audit_rules.yaml``), checked.

    Returns
    -------
    dict with alpha, multiplicity, recognition, rules ({id: settings with source}), file.
    """
    file = str(Path(path) if path is not None else AUDIT_RULES_FILE)
    raw = _default_rules() if path is None else _read(file)
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), dict):
        raise ParameterError(f"Audit rules file {file} needs a 'rules:' section (see {AUDIT_RULES_FILE}).")
    default = _default_rules()
    rules = {}
    for rid in RULE_IDS:
        spec = {**default["rules"][rid], **(raw["rules"].get(rid) or {})}
        if not spec.get("source"):
            raise ParameterError(f"{file}: rule {rid} needs a 'source' (the article's title).")
        rules[rid] = spec
    unknown = sorted(set(raw["rules"]) - set(RULE_IDS))
    if unknown:
        raise ParameterError(f"{file}: unknown rule(s) {', '.join(unknown)}; rules: {', '.join(RULE_IDS)}.")
    alpha = float(raw.get("alpha", default.get("alpha", 0.05)))
    if not 0 < alpha < 1:
        raise ParameterError(f"{file}: alpha must lie in (0, 1), got {alpha!r}.")
    method = str(raw.get("multiplicity", default.get("multiplicity", "holm")))
    if method not in ("holm", "bonferroni"):
        raise ParameterError(f"{file}: multiplicity must be 'holm' or 'bonferroni', got {method!r}.")
    recognition = {**default.get("recognition", {}), **(raw.get("recognition") or {})}
    return {"alpha": alpha, "multiplicity": method, "recognition": recognition, "rules": rules, "file": file}


def _num(x):
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else (None if math.isnan(x) else x)


def make_row(rule_id: str, rules: dict, lang: str, *, evidence: str, verdict: str, reason: str,
             estimate=None, ci_low=None, ci_high=None, unit_key: str | None = None,
             test_values: dict | None = None, test_key: str | None = None, **extra) -> dict:
    """One audit row with the keys of :data:`ROW_KEYS` (plus ``extra`` keys, e.g. p_value, details)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    if evidence not in ("experiment", "observational"):
        raise ValueError(f"evidence must be 'experiment' or 'observational', got {evidence!r}")
    if rule_id in CAUSAL_RULES and evidence == "observational" and verdict in ("supported", "contradicted"):
        raise ValueError(f"{rule_id}: an observational row of a causal claim cannot be {verdict}")
    row = {"id": rule_id, "claim": t(f"audit.{rule_id}.claim", lang), "source": rules["rules"][rule_id]["source"],
           "test": t(test_key or f"audit.{rule_id}.test", lang, **(test_values or {})), "evidence": evidence, "estimate": _num(estimate),
           "ci_low": _num(ci_low), "ci_high": _num(ci_high),
           "unit": t(unit_key, lang) if unit_key else None, "verdict": verdict, "reason": reason}
    row.update(extra)
    return row


register({
    # ---- page / table words
    "audit.title": {"zh": "运营经验体检:这些经验在你的群里成立吗?", "en": "Playbook audit: which rules of thumb hold in your groups?"},
    "audit.intro": {"zh": "逐条检验运营文章中的经验法则。因果性的说法(发布时段、内容配比、营销占比)只有数据中的实验才能证明或否定;"
                          "观察数据只能显示关联,最多判为“未能证明”。",
                    "en": "Each rule of thumb from the operations articles, checked on this dataset. Causal claims (posting "
                          "slots, content mixes, the marketing cap) can be supported or contradicted only by an experiment "
                          "in the data; observational data show associations and are at most 'not shown'."},
    "audit.question": {"zh": "运营文章的经验法则,哪些在这些群里成立?", "en": "Which of the playbook's rules of thumb hold in these groups?"},
    "audit.card.key": {"zh": "{n} 条经验:{supported} 条成立,{contradicted} 条不成立,{not_shown} 条未能证明,{not_testable} 条无法检验。",
                       "en": "{n} rules: {supported} supported, {contradicted} contradicted, {not_shown} not shown, "
                             "{not_testable} not testable."},
    "audit.card.next": {"zh": "先看“无法检验”和“未能证明”的行:原因一栏写明了要运行的实验或需要的数据。",
                        "en": "Read the rows that are not testable or not shown: their reason names the experiment to run "
                              "or the data needed."},
    "audit.card.caveat": {"zh": "实验结论已做多重比较校正({method},{m} 个实验假设);观察性结论只描述关联,不代表因果。",
                          "en": "Experiment verdicts are corrected for multiplicity ({method} over {m} experiment "
                                "hypotheses); observational rows describe associations, not effects."},
    "audit.col.id": {"zh": "编号", "en": "id"},
    "audit.col.claim": {"zh": "经验", "en": "claim"},
    "audit.col.verdict": {"zh": "判断", "en": "verdict"},
    "audit.col.evidence": {"zh": "证据", "en": "evidence"},
    "audit.col.estimate": {"zh": "估计(区间)", "en": "estimate (interval)"},
    "audit.col.reason": {"zh": "原因", "en": "reason"},
    "audit.col.source": {"zh": "出处", "en": "source"},
    "audit.col.test": {"zh": "检验方法", "en": "test"},
    "audit.evidence.experiment": {"zh": "实验", "en": "experiment"},
    "audit.evidence.observational": {"zh": "观察", "en": "observational"},
    "audit.h.summary": {"zh": "结论一览", "en": "Verdicts at a glance"},
    "audit.h.details": {"zh": "每条经验的检验", "en": "How each rule was tested"},
    "audit.h.experiments": {"zh": "数据中识别出的实验", "en": "Experiments recognised in the data"},
    "audit.h.multiplicity": {"zh": "多重比较", "en": "Multiplicity"},
    "audit.multiplicity": {"zh": "对 {m} 个由实验支撑的假设做 {method} 校正(α = {alpha});每个判断的区间按其 {method} 步骤的水平给出,"
                                 "因此区间不含 0 当且仅当校正后 p < α。共用同一组对比的经验(如 3:5:2 与 40/30/20/10 的同一实验)算作一个假设。",
                           "en": "{method} correction over {m} experiment-backed hypotheses (alpha = {alpha}); each verdict's "
                                 "interval is drawn at the level of its {method} step, so it excludes 0 exactly when the "
                                 "adjusted p < alpha. Rules that rest on the same comparison (e.g. 3:5:2 and 40/30/20/10 in "
                                 "one experiment) count as one hypothesis."},
    "audit.multiplicity.none": {"zh": "数据中没有可检验经验的实验,因此没有需要校正的实验假设。",
                                "en": "No experiment in the data tests a rule, so there are no experiment hypotheses to correct."},
    "audit.experiment.line": {"zh": "实验 {experiment}({design},{n_groups} 个群):{kind}。{arms}",
                              "en": "Experiment {experiment} ({design}, {n_groups} groups): {kind}. {arms}"},
    "audit.kind.slot": {"zh": "发布时段实验", "en": "posting-slot experiment"},
    "audit.kind.mix": {"zh": "内容配比实验", "en": "content-mix experiment"},
    "audit.kind.both": {"zh": "时段与配比同时变化(混杂)", "en": "slots and mixes both changed (confounded)"},
    "audit.kind.none": {"zh": "不检验任何经验", "en": "tests no rule"},
    "audit.arm.slot": {"zh": "组 {arm}:{share} 的帖子在 {window} 时段", "en": "arm {arm}: {share} of posts in the {window} window"},
    "audit.arm.noslot": {"zh": "组 {arm}:无主要时段(最多 {share})", "en": "arm {arm}: no main window (at most {share})"},
    "audit.arm.mix": {"zh": "实际配比 {mix},最接近 {preset}(距离 {dist},{match})",
                      "en": "realised mix {mix}, nearest preset {preset} (distance {dist}, {match})"},
    "audit.arm.matched": {"zh": "匹配", "en": "matched"},
    "audit.arm.unmatched": {"zh": "未匹配", "en": "not matched"},
    # ---- units
    "audit.unit.rel": {"zh": "相对差异", "en": "relative difference"},
    "audit.unit.prob": {"zh": "概率", "en": "probability"},
    "audit.unit.share_messages": {"zh": "消息占比", "en": "share of messages"},
    "audit.unit.share_weeks": {"zh": "群周占比", "en": "share of group-weeks"},
    "audit.unit.rel_activity": {"zh": "未来活跃的相对差异", "en": "relative difference in future activity"},
    # ---- claims and tests
    "audit.evening_slot.claim": {"zh": "19-21 点发帖比 7-9 点和 12-14 点获得更多回复", "en": "Posting at 19-21 h draws more replies per post than 07-09 h and 12-14 h"},
    "audit.evening_slot.test": {"zh": "按实际发帖时段识别时段实验;以晚间组为对照,在群内比较每帖回复数(群、周期、星期固定效应,按群聚类的 CR2 区间);晚间须同时胜过早间和午间(交集-并集检验)。",
                                "en": "Slot experiments recognised by their arms' realised posting windows; replies per post compared within groups against the evening arm (group, period and weekday effects, CR2 intervals clustered by group); the evening must beat both the morning and the noon arm (intersection-union test)."},
    "audit.mix_352.claim": {"zh": "3:5:2(干货/轻互动/生活化)配比比数据中的其他配比带来更多发言", "en": "The 3:5:2 practical / interactive / lifestyle mix draws more member messages than the alternative the data contain"},
    "audit.mix_721.claim": {"zh": "7:2:1(实用/情感/营销)配比比数据中的其他配比带来更多发言", "en": "The 7:2:1 practical / emotional / marketing mix draws more member messages than the alternative the data contain"},
    "audit.mix_40_30_20_10.claim": {"zh": "40% 干货 + 30% 活动通知 + 20% UGC + 10% 轻互动的配比比其他配比带来更多发言", "en": "40% practical, 30% activity notices, 20% UGC, 10% light interaction draws more member messages than the alternative the data contain"},
    "audit.mix.test": {"zh": "按各组实际内容配比识别配比实验并匹配最近的预设配比;在群随机实验中比较人均日发言数(意向处理,群为单位,CUPED 前期校正,CR2 区间)。",
                       "en": "Content-mix experiments recognised by their arms' realised mixes, each arm matched to the nearest preset mix; member messages per member-day compared in the group-randomised experiment (intent to treat, groups as units, CUPED pre-period adjustment, CR2 intervals)."},
    "audit.marketing_cap_15.claim": {"zh": "营销内容不超过 15% 能保住活跃、减少退群", "en": "Keeping marketing at or under 15% of content protects engagement and exits"},
    "audit.marketing_cap_15.test": {"zh": "若有实验的组分别在 15% 两侧,比较人均日发言数;否则在观察数据中比较营销占比超过 15% 的群周与其余群周下一周的人均日发言数(按群聚类)。退群未检验(配比分析没有退群指标)。",
                                    "en": "With an experiment whose arms lie on either side of 15% marketing, member messages per member-day compared between them; otherwise, observationally, the next week's messages per member-day after group-weeks above 15% marketing versus the others (clustered by group). Exits are not tested (the mix analysis has no exit metric)."},
    "audit.evening_slot.test_obs": {"zh": "观察性:按实际发帖时段比较所有帖子的每帖回复数,晚间对早间和午间,群固定效应,按群聚类的 CR2 区间(非随机)。",
                                    "en": "Observational: replies per post of all posts by the window they were posted in, evening vs morning and noon, group fixed effects, CR2 intervals clustered by group (not randomised)."},
    "audit.mix.test_obs": {"zh": "观察性:实际配比与该预设距离在 0.15 以内的群周,与其余群周比较下一周的人均日发言数(按群聚类,非随机)。",
                           "en": "Observational: next week's member messages per member-day after group-weeks whose realised mix was within 0.15 of the preset, versus the other group-weeks (clustered by group, not randomised)."},
    "audit.silent_30d_churned.claim": {"zh": "连续 30 天不发言的成员已经流失", "en": "A member silent for 30 days is gone"},
    "audit.silent_30d_churned.test": {"zh": "用成员自己的沉默期估计:已沉默 30 天的成员在之后 {within} 天内再次发言的概率(Aalen-Johansen,退群为竞争事件);低于 {level} 视为流失,并给出数据自己的建议阈值。",
                                      "en": "From the members' own silence spells: the chance that a member silent for 30 days speaks again within {within} days (Aalen-Johansen, leaving as a competing event); below {level} counts as gone; the data's own threshold is where the chance first falls below {level}."},
    "audit.core_top20.claim": {"zh": "活跃度前 20% 的成员就是核心成员", "en": "The top 20% of members by activity are the core"},
    "audit.core_top20.test": {"zh": "每个群每月按发言数取前 20% 的成员:其发言占比,以及下月仍在前 20% 的比例;以群为单位求均值与 t 区间。“核心”按 groupstats 的读法:占比至少 {share}、留存至少 {stab}。",
                              "en": "Per group and month, the top 20% of members by messages: their share of the members' messages, and the share of them still in the top 20% the next month; means over groups with t intervals. groupstats reads 'are the core' as a share of at least {share} and a stability of at least {stab}."},
    "audit.points_tiers.claim": {"zh": "积分阶梯(<500、500-1999、≥2000)能区分未来活跃度不同的成员", "en": "The points tiers (<500, 500-1999, >=2000) separate members whose future activity differs"},
    "audit.points_tiers.test": {"zh": "在截止日按积分阶梯分层,比较之后 {days} 天的人均发言数(按群聚类的 CR2 区间);相邻两层都须显著递增。",
                                "en": "Members' points tiers at a cutoff; member messages in the {days} days after it compared between adjacent tiers (CR2 intervals clustered by group); each higher tier must be significantly more active."},
    "audit.health_thresholds.claim": {"zh": "默认健康阈值能提前发现活跃度下降", "en": "The default health thresholds flag group-weeks that precede a decline"},
    "audit.health_thresholds.test": {"zh": "对每个默认阈值:被标记的群周占比;以及首次越线的群周之后 {weeks} 周的人均日发言数相对越线前 {weeks} 周的变化,与未越线群周比较(按群聚类)。",
                                     "en": "For each default threshold: the share of group-weeks it flags, and whether a crossing (ok the week before, flagged now) is followed by a fall in messages per member-day over the next {weeks} weeks relative to the {weeks} weeks before, compared with weeks that stay ok (clustered by group)."},
    "audit.lifecycle_decline.claim": {"zh": "建群第 180 天后活跃度下降", "en": "Activity falls after a group's 180th day"},
    "audit.lifecycle_decline.test": {"zh": "按群龄分阶段(0-30/31-90/91-180/181+),比较各群周人均日发言数;群和日历周固定效应,只用跨越阶段的群内变化(按群聚类的 CR2 区间),181+ 对 91-180。",
                                     "en": "Group-weeks by group age stage (0-30 / 31-90 / 91-180 / 181+); messages per member-day compared with group and calendar-week fixed effects, so only changes within groups that cross a stage count (CR2 intervals clustered by group): 181+ versus 91-180."},
})

register({f"audit.{rid}.test": {"zh": t("audit.mix.test", "zh"), "en": t("audit.mix.test", "en")}
          for rid in ("mix_352", "mix_721", "mix_40_30_20_10")})
