"""One message catalogue for everything a reader sees, in Chinese (``zh``, default) and English.

Every user-facing string of reports, notebooks, result text and the CLI's plain output is
looked up here with :func:`t`; nothing a reader sees is spelled out in a notebook. Number
formatting follows the language (:func:`fmt_pct`, :func:`fmt_num`, :func:`fmt_p`,
:func:`fmt_interval`).

>>> t("verdict.supported", "zh"), t("verdict.supported", "en")
('成立', 'supported')
>>> fmt_pct(0.3612, "zh"), fmt_p(0.0004)
('36.1%', '< 0.001')
"""
from __future__ import annotations

import math
from typing import Any

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

#: key -> {lang: text}. Keys are dotted by area: ``verdict.*``, ``card.*``, ``unit.*``,
#: ``col.*`` (table headers), ``fig.*`` (figure titles / axes), and one prefix per report.
CATALOGUE: dict[str, dict[str, str]] = {
    # conclusion card
    "card.title": {"zh": "结论", "en": "Conclusion"},
    "card.question": {"zh": "问题", "en": "Question"},
    "card.answer": {"zh": "回答", "en": "Answer"},
    "card.key_number": {"zh": "关键数字", "en": "Key number"},
    "card.next_step": {"zh": "下一步", "en": "What to do next"},
    "card.caveat": {"zh": "注意", "en": "Caveat"},
    # verdicts (the audit's and every card's answer)
    "verdict.supported": {"zh": "成立", "en": "supported"},
    "verdict.contradicted": {"zh": "不成立", "en": "contradicted"},
    "verdict.not_shown": {"zh": "未能证明", "en": "not shown"},
    "verdict.not_testable": {"zh": "无法检验", "en": "not testable"},
    "verdict.needs_more_data": {"zh": "需要更多数据", "en": "needs more data"},
    # units and small words
    "unit.percent": {"zh": "%", "en": "%"},
    "unit.days": {"zh": "天", "en": "days"},
    "unit.weeks": {"zh": "周", "en": "weeks"},
    "unit.groups": {"zh": "个群", "en": "groups"},
    "unit.members": {"zh": "位成员", "en": "members"},
    "unit.replies_per_post": {"zh": "每帖回复数", "en": "replies per post"},
    "word.ci95": {"zh": "95% 区间", "en": "95% interval"},
    "word.ci_adjusted": {"zh": "区间(经多重比较校正)", "en": "Interval (adjusted for multiple comparisons)"},
    "word.unbounded": {"zh": "无上界", "en": "unbounded"},
    "word.yes": {"zh": "是", "en": "yes"},
    "word.no": {"zh": "否", "en": "no"},
    "word.others": {"zh": "其他", "en": "others"},
    "word.none": {"zh": "无", "en": "none"},
    "word.list_sep": {"zh": "、", "en": ", "},
    # health status words
    "status.ok": {"zh": "正常", "en": "ok"},
    "status.warning": {"zh": "预警", "en": "warning"},
    "status.alert": {"zh": "警报", "en": "alert"},
    "status.n/a": {"zh": "无数据", "en": "n/a"},  # health: a metric the data cannot measure (e.g. no posts)
    # metric names (tables, axes, legends)
    "metric.messages_per_day": {"zh": "日均发言数", "en": "messages per day"},
    "metric.messages_per_member_day": {"zh": "人均日发言数", "en": "messages per member and day"},
    "metric.read_rate": {"zh": "阅读率", "en": "read rate"},
    "metric.exit_rate_30d": {"zh": "30 天退群率", "en": "30-day exit rate"},
    "metric.silent_share": {"zh": "沉默成员占比", "en": "share of members silent"},
    "metric.complaint_rate": {"zh": "投诉率", "en": "complaint rate"},
    "metric.max_daily_complaints": {"zh": "单日最多投诉数", "en": "most complaints in a day"},
    "metric.active_share": {"zh": "活跃成员占比", "en": "share of members active"},
    "metric.replies": {"zh": "每帖回复数", "en": "replies per post"},
    "metric.responders": {"zh": "每帖回应人数", "en": "responders per post"},
    "metric.responses": {"zh": "每帖后的成员消息数", "en": "member messages after a post"},
    "metric.incremental_responses": {"zh": "每帖新增成员消息数", "en": "extra member messages after a post"},
    "metric.click_rate": {"zh": "点击率", "en": "click rate"},
    "metric.messages_per_member_day_mix": {"zh": "人均日发言数", "en": "messages per member and day"},
    # slot names
    "slot.morning": {"zh": "早间", "en": "morning"},
    "slot.noon": {"zh": "午间", "en": "noon"},
    "slot.evening": {"zh": "晚间", "en": "evening"},
    "slot.night": {"zh": "夜间", "en": "night"},
    "slot.afternoon": {"zh": "下午", "en": "afternoon"},
    # report header (inserted by the runner)
    "header.report": {"zh": "报告", "en": "Report"},
    "header.dataset": {"zh": "数据集", "en": "Dataset"},
    "header.date_range": {"zh": "数据时间范围", "en": "Date range"},
    "header.range": {"zh": "{start} 至 {end}({tz}),共 {n} 条消息",
                     "en": "{start} to {end} ({tz}), {n} messages"},
    "header.unavailable": {"zh": "无法读取({error})", "en": "unavailable ({error})"},
    "header.parameters": {"zh": "参数(本次实际使用的值)", "en": "Parameters (values used)"},
    "header.version": {"zh": "groupstats 版本", "en": "groupstats version"},
    "header.kernel": {"zh": "内核", "en": "Kernel"},
    "header.run": {"zh": "运行", "en": "Run"},
    "header.run_value": {"zh": "{when},用时 {seconds} 秒", "en": "{when}, {seconds} s"},
    "header.status": {"zh": "状态", "en": "Status"},
    "header.ok": {"zh": "完成", "en": "ok"},
    "header.failed": {"zh": "失败", "en": "FAILED"},
    "header.about": {"zh": "关于本报告", "en": "About this report"},
    "header.did_not_finish": {"zh": "本报告未能完成:在 {where} 处出错(错误见下方执行停止处):",
                              "en": "This report did not finish. It failed at {where} (the error is shown below, "
                                    "where execution stopped):"},
    "header.failing_cell": {"zh": "出错的单元:", "en": "The failing cell:"},
    # index page
    "index.title": {"zh": "groupstats 报告", "en": "groupstats reports"},
    "index.datasets": {"zh": "数据集", "en": "Dataset(s)"},
    "index.all_ok": {"zh": "全部 {n} 份报告运行完成。", "en": "All {n} reports ran."},
    "index.some_failed": {"zh": "{bad} / {n} 份报告失败;其页面显示出错的单元和错误。",
                          "en": "{bad} of {n} reports FAILED; their pages show the failing cell and error."},
    "index.report": {"zh": "报告", "en": "Report"},
    "index.headline": {"zh": "结论", "en": "Headline"},
    "index.verdict": {"zh": "判断", "en": "Verdict"},
    "index.details": {"zh": "参数与运行", "en": "Parameters and run"},
    "index.notebook": {"zh": "已执行的 notebook", "en": "Executed notebook"},
    "index.generated": {"zh": "生成于 {when}", "en": "generated {when}"},
    "index.total": {"zh": "总用时 {seconds} 秒", "en": "total {seconds} s"},
    "index.started": {"zh": "开始于 {when}", "en": "started {when}"},
    "index.runtime": {"zh": "用时 {seconds} 秒", "en": "{seconds} s"},
    "index.messages": {"zh": "{n} 条消息", "en": "{n} messages"},
    "index.failed": {"zh": "失败", "en": "FAILED"},
    "index.defaults": {"zh": "(默认值)", "en": "(defaults)"},
}


def check_lang(lang: str | None) -> str:
    """Return ``lang`` if it is a supported language (``None`` -> the default), else raise."""
    if lang is None:
        return DEFAULT_LANG
    if lang not in LANGS:
        from groupstats.errors import ParameterError

        raise ParameterError(f"lang must be one of {', '.join(LANGS)} (got {lang!r}).")
    return lang


def t(key: str, lang: str | None = None, **values: Any) -> str:
    """The catalogue text of ``key`` in ``lang``, formatted with ``values`` (``str.format``).

    A missing key raises ``KeyError`` so that no English text slips into a Chinese page.
    """
    lang = check_lang(lang)
    text = CATALOGUE[key][lang]
    return text.format(**values) if values else text


def register(entries: dict[str, dict[str, str]]) -> None:
    """Add catalogue entries (one dict per report module); every entry needs every language."""
    for key, texts in entries.items():
        missing = [lang for lang in LANGS if lang not in texts]
        if missing:
            raise ValueError(f"catalogue entry {key!r} lacks {missing}")
        CATALOGUE[key] = texts


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, lang: str | None = None, digits: int = 3) -> str:
    """A number for people: thousands separators, at most ``digits`` significant decimals."""
    if not _finite(x):
        return "–"
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    magnitude = math.floor(math.log10(abs(x))) if x != 0 else 0
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{min(decimals, digits)}f}"


def fmt_pct(x: Any, lang: str | None = None, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: 0.3612 -> '36.1%' (``signed`` -> '+36.1%')."""
    if x is None:
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    if math.isinf(v):
        return t("word.unbounded", lang)
    if math.isnan(v):
        return "–"
    return f"{100 * v:{'+' if signed else ''}.{digits}f}%"


def fmt_date(ts: Any, tz: str | None = None, lang: str | None = None, time: bool = False) -> str:
    """A date (``2026-05-04``; with ``time`` ``2026-05-04 18:30``) in the time zone ``tz``.

    ``tz`` is the dataset's zone; a naive timestamp is taken to be in it already.
    """
    import pandas as pd

    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return "–"
    ts = pd.Timestamp(ts)
    if tz is not None:
        ts = ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
    return f"{ts:%Y-%m-%d %H:%M}" if time else f"{ts:%Y-%m-%d}"


def join(items, lang: str | None = None) -> str:
    """Items joined by the language's list separator ('、' in Chinese, ', ' in English)."""
    return t("word.list_sep", lang).join(str(i) for i in items)


def slot_name(arm: str, lang: str | None = None) -> str:
    """A slot arm in the language ('evening' -> '晚间'); other arm ids stay as they are."""
    key = f"slot.{arm}"
    return t(key, lang) if key in CATALOGUE else str(arm)


#: the content types of the data model's examples (free labels: any other label stays as it is)
CONTENT_TYPE_NAMES = {
    "practical": ("干货", "practical"), "interactive": ("轻互动", "interactive"),
    "lifestyle": ("生活化", "lifestyle"), "announcement": ("公告", "announcement"),
    "ugc": ("用户原创", "UGC"), "emotional": ("情感", "emotional"), "marketing": ("营销", "marketing"),
    "activity": ("活动通知", "activity notices"), "other": ("其他", "other"),
}


def content_type_name(label: str, lang: str | None = None) -> str:
    """A content type in the language ('practical' -> '干货'); unknown labels stay as they are."""
    names = CONTENT_TYPE_NAMES.get(str(label))
    return str(label) if names is None else names[0 if check_lang(lang) == "zh" else 1]


def mix_text(shares, lang: str | None = None) -> str:
    """A content mix as 'type percent' pairs in the language, e.g. '干货 30%, 轻互动 50%'."""
    return ", ".join(f"{content_type_name(c, lang)} {100 * float(v):g}%" for c, v in dict(shares).items())


def english_words(min_length: int = 4) -> set[str]:
    """Every English word of the catalogue (lower case, at least ``min_length`` letters).

    A Chinese page's visible text must contain none of them (tests check this). Names that the
    Chinese texts use as well (ROC, Brier, Holm, groupstats, ...) are left out.
    """
    import re

    def found(lang: str) -> set[str]:
        out: set[str] = set()
        for texts in CATALOGUE.values():
            text = re.sub(r"\{[^}]*\}", " ", texts[lang])
            out.update(w.lower() for w in re.findall(r"[A-Za-z]+", text) if len(w) >= min_length)
        return out

    return found("en") - found("zh")


def fmt_p_eq(p: Any) -> str:
    """A p-value after 'p': '< 0.001' or '= 0.032' (so a sentence reads 'p < 0.001', 'p = 0.032')."""
    text = fmt_p(p)
    return text if text.startswith("<") or text == "–" else f"= {text}"


def fmt_p(p: Any) -> str:
    """A p-value: '< 0.001', or three decimals ('0.032')."""
    if not _finite(p):
        return "–"
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_interval(low: Any, high: Any, lang: str | None = None, pct: bool = True, signed: bool = True) -> str:
    """'25.0%–47.0%' (an infinite end shows as unbounded, never as NaN)."""
    f = (lambda v: fmt_pct(v, lang, signed=signed)) if pct else (lambda v: fmt_num(v, lang))
    return f"{f(low)}–{f(high)}"


# --------------------------------------------------------------------------------------
# report pages (one block per report; the page modules in reports/pages/ use these)
# --------------------------------------------------------------------------------------
CATALOGUE.update({
    "weekday.0": {"zh": "周一", "en": "Mon"}, "weekday.1": {"zh": "周二", "en": "Tue"},
    "weekday.2": {"zh": "周三", "en": "Wed"}, "weekday.3": {"zh": "周四", "en": "Thu"},
    "weekday.4": {"zh": "周五", "en": "Fri"}, "weekday.5": {"zh": "周六", "en": "Sat"},
    "weekday.6": {"zh": "周日", "en": "Sun"},
    "col.group": {"zh": "群", "en": "Group"},
    "col.member": {"zh": "成员", "en": "Member"},
    "col.week": {"zh": "周(起始日)", "en": "Week (starting)"},
    "col.date": {"zh": "日期", "en": "Date"},
    "col.stage": {"zh": "生命周期阶段", "en": "Lifecycle stage"},
    "col.status": {"zh": "状态", "en": "Status"},
    "col.n": {"zh": "数量", "en": "Number"},
    "col.share": {"zh": "占比", "en": "Share"},
    # posting-time A/B
    "ab.title": {"zh": "发帖时段 A/B 实验", "en": "Posting-time A/B test"},
    "ab.intro": {"zh": "发帖时段会不会改变成员对运营帖子的反应?本报告分析数据集中的一个实验:每个帖子按发帖时其所在群的分组计入(意向处理),"
                       "结果按群聚类;轮换(switchback)设计在群内比较(控制群、周和星期效应)。",
                 "en": "Does the posting slot change how members react to operator posts? This report analyses one "
                       "experiment of the dataset: each post counts in its group's arm at posting time (intent to "
                       "treat), outcomes are clustered by group, and switchback designs compare slots within groups "
                       "(group, week and weekday effects)."},
    "ab.question": {"zh": "与{control}相比,换个时段发帖能否提高{metric}?",
                    "en": "Does posting in another slot than {control} raise the {metric}?"},
    "ab.key_more": {"zh": "{arm}发帖的{metric}比{control}多 {pct}(经多重比较校正的区间 {low}–{high},校正后 p {p})。",
                    "en": "Posts in the {arm} slot get {pct} more {metric} than in the {control} slot (interval "
                          "adjusted for multiple comparisons {low} to {high}, adjusted p {p})."},
    "ab.key_less": {"zh": "{arm}发帖的{metric}比{control}少 {pct}(经多重比较校正的区间 {low}–{high},校正后 p {p})。",
                    "en": "Posts in the {arm} slot get {pct} fewer {metric} than in the {control} slot (interval "
                          "adjusted for multiple comparisons {low} to {high}, adjusted p {p})."},
    "ab.next_supported": {"zh": "把常规帖子移到{arm}发布,并在之后几周继续监测回复数。",
                          "en": "Move regular posts to the {arm} slot and keep watching the replies in the "
                                "following weeks."},
    "ab.next_contradicted": {"zh": "保持{control}发帖;其他时段的效果更差。",
                             "en": "Keep posting in the {control} slot; the other slots do worse."},
    "ab.next_not_shown": {"zh": "暂不改变发帖时间;若要检验更小的差异,用“实验规划”报告确定所需周数和群数。",
                          "en": "Do not change the posting time yet; to test smaller differences, size the next "
                                "test with the planning report (weeks and groups needed)."},
    "ab.caveat": {"zh": "本实验能以 80% 把握发现的最小效应约为 ±{mde};更小的差异无法排除。",
                  "en": "The smallest effect this experiment could detect with 80% power is about ±{mde}; "
                        "smaller differences are not ruled out."},
    "ab.caveat_compliance": {"zh": "{share} 的帖子按计划在所属时段发出,效应是按计划执行时的效果。",
                             "en": " {share} of posts went out in their arm's slot; effects are those of the "
                                   "schedule as followed."},
    "ab.srm_ok": {"zh": "分配检查:各组分配的群-周数与计划一致(p {p})。",
                  "en": "Allocation check: the group-periods per arm match the plan (p {p})."},
    "ab.srm_bad": {"zh": "警告:各组分配与计划不符(p {p}),修正分配之前不要相信效应。",
                   "en": "WARNING: the allocation does not match the plan (p {p}); fix the assignment before "
                         "trusting the effects. "},
    "ab.h.design": {"zh": "实验设计与时段", "en": "Design and the slots tested"},
    "ab.h.effects": {"zh": "各时段的效应", "en": "Effects by slot"},
    "ab.h.heatmap": {"zh": "成员什么时候活跃?", "en": "When are members active?"},
    "ab.design.switchback": {"zh": "轮换设计(每个群每周轮换时段)", "en": "switchback (each group changes slot every week)"},
    "ab.design.group-randomised": {"zh": "按群随机分组", "en": "group-randomised"},
    "ab.design_sentence": {"zh": "设计:{design};{groups} 个群,{periods} 个周期,分析了 {posts} 个帖子({start} 至 {end});对照时段:{control}。",
                           "en": "Design: {design}; {groups} groups, {periods} periods, {posts} posts analysed "
                                 "({start} to {end}); control slot: {control}."},
    "ab.col.slot": {"zh": "时段", "en": "Slot"},
    "ab.col.window": {"zh": "发帖时间窗", "en": "Posting window"},
    "ab.col.allocated": {"zh": "分配的群-周", "en": "Group-periods allocated"},
    "ab.col.posts": {"zh": "帖子数", "en": "Posts"},
    "ab.col.groups": {"zh": "群数", "en": "Groups"},
    "ab.col.compliance": {"zh": "按时段发出的比例", "en": "Posts inside the slot"},
    "ab.col.comparison": {"zh": "比较", "en": "Comparison"},
    "ab.col.arm_mean": {"zh": "该时段(调整后均值)", "en": "Slot (adjusted mean)"},
    "ab.col.control_mean": {"zh": "对照(调整后均值)", "en": "Control (adjusted mean)"},
    "ab.col.rel_diff": {"zh": "相对差异", "en": "Relative difference"},
    "ab.col.p_adjusted": {"zh": "校正后 p 值", "en": "Adjusted p"},
    "ab.col.mde": {"zh": "最小可检测效应", "en": "Smallest detectable effect"},
    "ab.means_note": {"zh": "均值为{metric}经模型调整(群、周期、星期效应)后的水平,所以对照均值在每一行都相同,并与各时段的原始平均略有差别;"
                            "相对差异和区间都来自同一模型。p 值和区间经 Holm 多重比较校正。",
                      "en": "Means are the {metric} adjusted by the model (group, period and weekday effects), so "
                            "the control mean is the same on every row and differs slightly from a raw average "
                            "of the control posts; the relative differences and intervals come from the same "
                            "model. p-values and intervals are Holm-adjusted for multiple comparisons."},
    "ab.fig.xlabel": {"zh": "{metric}相对{control}的差异(%),经多重比较校正的区间",
                      "en": "difference in {metric} vs {control} (%), interval adjusted for multiple comparisons"},
    "ab.fig.title": {"zh": "各时段相对{control}的{metric}:红色为显著差异", "en": "{metric} by slot against {control}: red where the difference is significant"},
    "ab.fig.heat_cbar": {"zh": "每天的成员消息数", "en": "member messages per day"},
    "ab.fig.heat_x": {"zh": "几点(当地时间)", "en": "hour of day (local time)"},
    "ab.fig.heat_title": {"zh": "成员按星期和小时的消息数:热门时段不论发什么都更热闹",
                          "en": "Member messages by weekday and hour: busy hours are busier whatever is posted"},
})

CATALOGUE.update({
    "health.title": {"zh": "群健康度", "en": "Group health"},
    "health.intro": {"zh": "每个群每周的健康指标,与运营手册的阈值(每个阈值注明出处)和它自己的近期历史对比:哪些群需要关注,阈值是否对这些群有意义。",
                     "en": "Each group's weekly health against the playbook's thresholds (each citing its source) and "
                           "against its own recent history: which groups need attention, and whether the thresholds "
                           "mean anything for these groups."},
    "health.question": {"zh": "按运营手册的阈值,哪些群需要关注?这些阈值能区分健康与不健康的群吗?",
                        "en": "Which groups need attention by the playbook's thresholds, and do those thresholds "
                              "separate healthy from unhealthy groups?"},
    "health.key": {"zh": "{n} 个群-周中有 {n_alert} 个({share})处于警报;最常触发的是{metric}(占 {share_metric} 的群-周)。",
                   "en": "{n_alert} of {n} group-weeks ({share}) are in alert; the most frequent is {metric} "
                         "({share_metric} of group-weeks)."},
    "health.next_most": {"zh": "{metrics}的阈值几乎标记了所有群,这些警报不能说明哪个群有问题:改用各群相对自身历史的变化(下表排名),或在阈值文件中调整这些阈值。",
                         "en": "The thresholds for {metrics} flag nearly every group, so those alerts do not single out "
                               "a group: rank groups by their change against their own history (table below), or "
                               "adjust those thresholds in the thresholds file."},
    "health.next_some": {"zh": "先处理下方排名靠前、最近几周仍在警报的群。", "en": "Start with the groups ranked first below that are still in alert in the latest weeks."},
    "health.next_none": {"zh": "无需行动;继续每周查看。", "en": "Nothing to do; keep checking weekly."},
    "health.next_falling": {"zh": "近几周发言量下降最多的群:{groups}。", "en": " Groups whose messages fell most in the latest weeks: {groups}."},
    "health.caveat": {"zh": "阈值来自运营文章,不是从这些群的数据中得出的;不同类型、规模的群,正常水平可能差别很大。",
                      "en": "The thresholds come from playbook articles, not from these groups' data; normal levels "
                            "differ a lot between kinds and sizes of groups."},
    "health.h.thresholds": {"zh": "每个阈值标记了多少群", "en": "How many groups each threshold flags"},
    "health.h.positions": {"zh": "各群相对每个阈值的位置", "en": "Where each group sits against each threshold"},
    "health.h.change": {"zh": "按变化排名:与自身近期历史相比", "en": "Ranked by change against the group's own history"},
    "health.h.trends": {"zh": "每个触发过警报的指标的周趋势", "en": "Weekly trend of every metric that raised an alert"},
    "health.h.alerts": {"zh": "完整警报表", "en": "Every alert"},
    "health.h.lifecycle": {"zh": "按生命周期阶段的健康度(群龄 0–30 启动、31–90 成长、91–180 成熟、181+ 衰退)",
                           "en": "Health by lifecycle stage (group age 0–30 launch, 31–90 growth, 91–180 maturity, "
                                 "181+ decline)"},
    "health.rule.above": {"zh": "低于 {warning} 预警,低于 {alert} 警报", "en": "warning below {warning}, alert below {alert}"},
    "health.rule.below": {"zh": "高于 {warning} 预警,高于 {alert} 警报", "en": "warning above {warning}, alert above {alert}"},
    "health.rule_alert.above": {"zh": "低于 {alert} 警报", "en": "alert below {alert}"},
    "health.rule_alert.below": {"zh": "高于 {alert} 警报", "en": "alert above {alert}"},
    "stage.launch": {"zh": "启动期(0–30 天)", "en": "launch (0–30 days)"},
    "stage.growth": {"zh": "成长期(31–90 天)", "en": "growth (31–90 days)"},
    "stage.maturity": {"zh": "成熟期(91–180 天)", "en": "maturity (91–180 days)"},
    "stage.decline": {"zh": "衰退期(181 天以上)", "en": "decline (181+ days)"},
    "health.col.metric": {"zh": "指标", "en": "Metric"},
    "health.col.rule": {"zh": "阈值", "en": "Threshold"},
    "health.col.share_alert": {"zh": "处于警报的群-周", "en": "Group-weeks in alert"},
    "health.col.groups_last": {"zh": "最近一周警报的群", "en": "Groups in alert, latest week"},
    "health.col.source": {"zh": "出处", "en": "Source"},
    "health.col.rank": {"zh": "排名", "en": "Rank"},
    "health.col.before": {"zh": "之前日均发言", "en": "Messages per day before"},
    "health.col.now": {"zh": "最近日均发言", "en": "Messages per day lately"},
    "health.col.change": {"zh": "变化", "en": "Change"},
    "health.col.alerts": {"zh": "警报指标", "en": "Alerts"},
    "health.col.warnings": {"zh": "预警指标", "en": "Warnings"},
    "health.col.group_weeks": {"zh": "群-周数", "en": "Group-weeks"},
    "health.flags_most": {"zh": "{metric}的阈值让 {share} 的群-周处于警报:它标记了大多数群,因此单看这个警报不能说明某个群有问题。",
                          "en": "The {metric} threshold puts {share} of group-weeks in alert: it flags most groups, so "
                                "this alert alone says nothing about a particular group."},
    "health.positions_note": {"zh": "每格:最近 {weeks} 周的平均值 · 按阈值的状态。",
                              "en": "Each cell: mean over the latest {weeks} weeks · status against the threshold."},
    "health.change_note": {"zh": "最近 {weeks} 周的日均发言数与之前各周的平均相比;下降最多的群排在最前。",
                           "en": "Messages per day over the latest {weeks} weeks against the weeks before; the "
                                 "largest falls come first."},
    "health.alerts_note": {"zh": "共 {n} 个有预警或警报的群-周(全部列出,最近的在前)。",
                           "en": "{n} group-weeks with a warning or an alert (all of them, latest first)."},
    "health.fig.title": {"zh": "各群每周的{metric}", "en": "{metric} per week, by group"},
    "health.fig.weekly": {"zh": "每周值", "en": "weekly value"},
    "health.fig.warning": {"zh": "预警线", "en": "warning level"},
    "health.fig.alert": {"zh": "警报线", "en": "alert level"},
    "health.fig.alert_week": {"zh": "警报周", "en": "alert week"},
})

CATALOGUE.update({
    "churn.title": {"zh": "流失风险", "en": "Churn risk"},
    "churn.intro": {"zh": "“沉默 30 天就算流失”对这些群成立吗?谁即将沉默?特征只用评分日之前的数据,模型在更早的时间点训练、在之后的时间点检验(按时间切分,不随机混合)。只显示化名 id,不显示消息内容或昵称。",
                    "en": "Does “30 days silent = churned” hold in these groups, and who is about to go silent? "
                          "Features use data up to the scoring date only; the model is trained on earlier dates and "
                          "checked on later ones (time split, never random folds). Only pseudonymous ids are shown, "
                          "never message text or nicknames."},
    "churn.question": {"zh": "成员沉默 {days} 天,就算流失了吗?", "en": "Is a member who has been silent for {days} days gone?"},
    "churn.key": {"zh": "已沉默 {days} 天的成员({segment},{n} 人)中,有 {p}(95% 区间 {low}–{high})在之后 {within} 天内再次发言。",
                  "en": "Of members silent for {days} days ({segment}, {n} members), {p} (95% interval {low} to "
                        "{high}) speak again within the next {within} days."},
    "churn.key_none": {"zh": "数据中沉默满 {days} 天的成员太少,无法估计。", "en": "Too few members were silent for {days} days to estimate it."},
    "churn.next_contradicted": {"zh": "不要把沉默 {days} 天当作流失,这些成员中许多人还会回来。",
                                "en": "Do not treat {days} silent days as churn; many of these members come back."},
    "churn.next_supported": {"zh": "可以把沉默 {days} 天当作流失。", "en": "Treating {days} silent days as churn is consistent with the data."},
    "churn.next_threshold": {"zh": "按数据,沉默 {thr} 天后再次发言的概率才低于 {level}。",
                             "en": " By the data, the chance of speaking again falls below {level} only after {thr} silent days."},
    "churn.next_contact": {"zh": "优先联系仍在活跃、但未来 {horizon} 天沉默风险超过 50% 的 {n} 位成员(见下方名单)。",
                           "en": " Contact first the {n} still-active members whose risk of going silent in the "
                                 "next {horizon} days is above 50% (list below)."},
    "churn.caveat": {"zh": "风险是模型的概率估计:回测中对活跃成员的 ROC AUC 为 {auc}(只看最近一次发言的时间为 {auc_recency})。",
                     "en": "Risks are the model's estimates: in the backtest its ROC AUC on active members is {auc} "
                           "({auc_recency} for recency alone)."},
    "churn.h.members": {"zh": "成员:已经沉默的和有风险的分开看", "en": "Members: the already silent apart from those at risk"},
    "churn.h.at_risk": {"zh": "仍在活跃、风险最高的 {n} 位成员", "en": "The {n} active members at highest risk"},
    "churn.h.silent": {"zh": "已经沉默超过 30 天的成员(按群)", "en": "Members already silent for 30 days or more (by group)"},
    "churn.h.return": {"zh": "沉默多久才算走了?", "en": "How long is gone?"},
    "churn.h.backtest": {"zh": "风险分数可信吗?(按时间切分的回测)", "en": "Can the scores be trusted? (time-split backtest)"},
    "churn.split_sentence": {"zh": "{date} 在群内的 {n} 位成员中,{silent} 位已沉默至少 {days} 天(单独列出,不算“即将流失”);其余 {active} 位中有 {high} 位风险超过 50%。",
                             "en": "Of the {n} members present on {date}, {silent} have already been silent for at "
                                   "least {days} days (listed apart: they are not “about to churn”); of the other "
                                   "{active}, {high} have a risk above 50%."},
    "churn.col.risk": {"zh": "沉默风险", "en": "Risk of going silent"},
    "churn.col.silent_days": {"zh": "已沉默天数", "en": "Days silent"},
    "churn.col.drivers": {"zh": "推高风险的主要因素", "en": "What raises the risk most"},
    "churn.col.n_silent": {"zh": "沉默成员数", "en": "Silent members"},
    "churn.col.median_silent": {"zh": "沉默天数中位数", "en": "Median days silent"},
    "churn.col.longest": {"zh": "最长沉默天数", "en": "Longest silence (days)"},
    "churn.col.model": {"zh": "模型", "en": "Model"},
    "churn.col.population": {"zh": "成员范围", "en": "Members"},
    "churn.col.base_rate": {"zh": "实际流失比例", "en": "Share who churned"},
    "churn.col.roc_auc": {"zh": "ROC AUC(越高越好)", "en": "ROC AUC (higher is better)"},
    "churn.col.brier": {"zh": "Brier 分数(越低越好)", "en": "Brier score (lower is better)"},
    "churn.col.capture_10": {"zh": "风险前 10% 覆盖的流失者", "en": "Churners in the top 10% of risk"},
    "churn.col.segment": {"zh": "沉默前的活跃程度", "en": "Activity before the silence"},
    "churn.col.spells": {"zh": "沉默段数", "en": "Silences"},
    "churn.col.threshold": {"zh": "建议阈值(天)", "en": "Suggested threshold (days)"},
    "churn.never": {"zh": "在考察的天数内未低于", "en": "never below within the days examined"},
    "churn.drivers_note": {"zh": "因素为对该成员风险贡献最大的特征:把该特征换成典型成员的值时风险下降最多。",
                           "en": "The factors are the features that add most to the member's risk: setting them to a "
                                 "typical member's value lowers the risk most."},
    "churn.no_backtest": {"zh": "评分日之前的历史不足以做回测。", "en": "Not enough history before the scoring date for a backtest."},
    "churn.backtest_sentence": {"zh": "同样的流程在 {cutoff} 评分,再与之后 {horizon} 天实际发生的情况对比:",
                                "en": "The same procedure scored on {cutoff} and judged on what happened in the next "
                                      "{horizon} days:"},
    "churn.backtest_note": {"zh": "“活跃成员”指评分前 30 天内有活动的成员;已经沉默的成员容易预测,会让分数看起来更好。",
                            "en": "“Active members” were active in the 30 days before the cutoff; the already silent "
                                  "are easy cases that flatter the scores."},
    "churn.pop.all": {"zh": "全部成员", "en": "all members"},
    "churn.pop.active": {"zh": "活跃成员", "en": "active members"},
    "churn.model.recency": {"zh": "只看最近发言时间", "en": "recency alone"},
    "churn.model.logistic": {"zh": "逻辑回归", "en": "logistic regression"},
    "churn.model.hgb": {"zh": "梯度提升树", "en": "gradient boosting"},
    "churn.model.bgnbd": {"zh": "BG/NBD 模型", "en": "BG/NBD model"},
    "churn.segment.none": {"zh": "之前不活跃", "en": "inactive before"},
    "churn.segment.low": {"zh": "低活跃(1–3 天)", "en": "low activity (1–3 days)"},
    "churn.segment.medium": {"zh": "中活跃(4–13 天)", "en": "medium activity (4–13 days)"},
    "churn.segment.high": {"zh": "高活跃(14 天以上)", "en": "high activity (14+ days)"},
    "churn.fig.title": {"zh": "沉默了 d 天的成员在之后 {within} 天内再次发言的概率", "en": "Chance that a member silent for d days speaks again within {within} days"},
    "churn.fig.x": {"zh": "已沉默天数 d", "en": "days silent so far (d)"},
    "churn.fig.y": {"zh": "{within} 天内再次发言的概率(%)", "en": "chance of speaking again within {within} days (%)"},
    "churn.fig.level": {"zh": "“走了”的界线({level})", "en": "“gone” level ({level})"},
    "churn.fig.rule": {"zh": "手册规则:沉默 {days} 天", "en": "playbook rule: {days} days silent"},
    "churn.fig.threshold": {"zh": "{segment}:{thr} 天后低于界线", "en": "{segment}: below the level after {thr} days"},
    # member features (drivers in words)
    "feature.act_days_7d": {"zh": "近 7 天活跃天数", "en": "active days in the last 7 days"},
    "feature.act_days_14d": {"zh": "近 14 天活跃天数", "en": "active days in the last 14 days"},
    "feature.act_days_28d": {"zh": "近 28 天活跃天数", "en": "active days in the last 28 days"},
    "feature.active_days_7d": {"zh": "近 7 天活跃天数", "en": "active days in the last 7 days"},
    "feature.active_days_90d": {"zh": "近 90 天活跃天数", "en": "active days in the last 90 days"},
    "feature.act_repeat_days": {"zh": "连续活跃的天数", "en": "days active again after a day of activity"},
    "feature.act_span_days": {"zh": "活跃跨度(天)", "en": "span of activity (days)"},
    "feature.act_trend_14d": {"zh": "近 14 天活跃趋势", "en": "activity trend over 14 days"},
    "feature.act_age_days": {"zh": "首次活跃至今天数", "en": "days since first activity"},
    "feature.read_days_14d": {"zh": "近 14 天阅读天数", "en": "reading days in the last 14 days"},
    "feature.read_trend_14d": {"zh": "近 14 天阅读趋势", "en": "reading trend over 14 days"},
    "feature.read_rate": {"zh": "阅读率", "en": "read rate"},
    "feature.recency_days": {"zh": "距上次发言天数", "en": "days since the last message"},
    "feature.observed_days": {"zh": "在群天数", "en": "days in the group"},
    "feature.tenure_days": {"zh": "入群天数", "en": "days since joining"},
    "feature.posts_present": {"zh": "在群期间的运营帖数", "en": "operator posts while present"},
    "feature.post_replies": {"zh": "回复运营帖的次数", "en": "replies to operator posts"},
    "feature.messages_total": {"zh": "累计发言数", "en": "messages in total"},
    "feature.messages_90d": {"zh": "近 90 天发言数", "en": "messages in the last 90 days"},
    "feature.messages_28d": {"zh": "近 28 天发言数", "en": "messages in the last 28 days"},
    "feature.share_replies": {"zh": "回复类消息占比", "en": "share of messages that are replies"},
    "feature.trend": {"zh": "活跃趋势", "en": "activity trend"},
    "feature.share_mentions": {"zh": "含 @ 的消息占比", "en": "share of messages with mentions"},
})

CATALOGUE.update({
    "overview.title": {"zh": "数据概览", "en": "Data overview"},
    "overview.intro": {"zh": "分析之前先看数据:有哪些表、多少行、覆盖哪段时间、每个群每天多少消息、成员在几点发言。只显示计数和化名 id,不显示消息内容或名字。",
                       "en": "What the dataset holds before any analysis: tables and rows, the period covered, how "
                             "many messages each group gets per day, and at what hours members talk. Only counts "
                             "and pseudonymous ids are shown, never message text or names."},
    "overview.question": {"zh": "数据是否完整,足以运行各项分析?", "en": "Is the data complete enough for the analyses?"},
    "overview.key": {"zh": "{groups} 个群、{members} 位成员、{messages} 条消息,覆盖 {days} 天({start} 至 {end})。",
                     "en": "{groups} groups, {members} members and {messages} messages over {days} days ({start} to {end})."},
    "overview.next_all": {"zh": "所有表齐全,可以运行其他报告。", "en": "Every table is present: run the other reports."},
    "overview.next_missing": {"zh": "缺少 {tables} 表,需要它们的分析无法运行。", "en": "Tables {tables} are missing; the analyses that need them cannot run."},
    "overview.caveat_zero": {"zh": "{n} 个群-日({share})没有任何消息;这类日子多的群,其指标波动更大。",
                             "en": "{n} group-days ({share}) have no message at all; groups with many such days have "
                                   "noisier metrics."},
    "overview.caveat_none": {"zh": "每个群每天都有消息;群越小,每周指标的波动越大。",
                             "en": "Every group has messages every day; the smaller a group, the noisier its weekly metrics."},
    "overview.k.groups": {"zh": "群", "en": "groups"},
    "overview.k.members": {"zh": "成员", "en": "members"},
    "overview.k.messages": {"zh": "消息", "en": "messages"},
    "overview.k.days": {"zh": "天", "en": "days"},
    "overview.k.median": {"zh": "每群每天消息数(中位数)", "en": "messages per group and day (median)"},
    "overview.k.posts": {"zh": "运营帖子", "en": "operator posts"},
    "overview.h.trends": {"zh": "各群的消息趋势", "en": "Messages per group over time"},
    "overview.h.tables": {"zh": "数据表", "en": "Tables present"},
    "overview.h.hours": {"zh": "一天中的发言时间", "en": "Hour-of-day profile"},
    "overview.h.types": {"zh": "消息类型", "en": "Message types"},
    "overview.fig.trends": {"zh": "每周平均每天的消息数(消息最多的群各一格,其余合并为“其他”)",
                            "en": "Messages per day, weekly average (one panel per busiest group, the rest as “others”)"},
    "overview.fig.n_others": {"zh": "({n} 个群合计)", "en": " ({n} groups summed)"},
    "overview.fig.per_day": {"zh": "每天消息数", "en": "messages per day"},
    "overview.fig.hours": {"zh": "成员在几点发言(数据集时区)", "en": "When members post (dataset time zone)"},
    "overview.fig.hour": {"zh": "几点", "en": "hour of day"},
    "overview.fig.share": {"zh": "消息占比(%)", "en": "share of messages (%)"},
    "overview.daytype.weekday": {"zh": "工作日", "en": "weekday"},
    "overview.daytype.weekend": {"zh": "周末", "en": "weekend"},
    "overview.busiest": {"zh": "最忙的时段:{start}:00–{end}:00(占消息的 {share})。", "en": "Busiest hour: {start}:00–{end}:00 ({share} of messages)."},
    "overview.col.total": {"zh": "消息总数", "en": "Messages in total"},
    "overview.col.mean": {"zh": "日均", "en": "Mean per day"},
    "overview.col.median": {"zh": "日中位数", "en": "Median per day"},
    "overview.col.zero_days": {"zh": "无消息的天数", "en": "Days without a message"},
    "overview.col.table": {"zh": "表", "en": "Table"},
    "overview.col.file": {"zh": "文件名", "en": "File name"},
    "table.groups": {"zh": "群", "en": "groups"}, "table.members": {"zh": "成员", "en": "members"},
    "table.messages": {"zh": "消息", "en": "messages"}, "table.posts": {"zh": "运营帖子", "en": "posts"},
    "table.events": {"zh": "互动事件(阅读、点击等)", "en": "events (reads, clicks, ...)"},
    "table.assignments": {"zh": "实验分组", "en": "experiment assignments"},
    "overview.col.present": {"zh": "存在", "en": "Present"},
    "overview.col.rows": {"zh": "行数", "en": "Rows"},
    "overview.col.model_columns": {"zh": "数据模型的列数", "en": "Columns of the data model"},
    "overview.col.extra_columns": {"zh": "额外列数", "en": "Extra columns"},
    "overview.col.type": {"zh": "类型", "en": "Type"},
    "overview.col.messages": {"zh": "消息数", "en": "Messages"},
    "msgtype.text": {"zh": "文字", "en": "text"}, "msgtype.image": {"zh": "图片", "en": "image"},
    "msgtype.voice": {"zh": "语音", "en": "voice"}, "msgtype.video": {"zh": "视频", "en": "video"},
    "msgtype.link": {"zh": "链接", "en": "link"}, "msgtype.file": {"zh": "文件", "en": "file"},
    "msgtype.sticker": {"zh": "表情", "en": "sticker"}, "msgtype.red_packet": {"zh": "红包", "en": "red packet"},
    "msgtype.mini_program": {"zh": "小程序", "en": "mini program"}, "msgtype.system": {"zh": "系统消息", "en": "system"},
    "msgtype.other": {"zh": "其他", "en": "other"},
})

CATALOGUE.update({
    "mix.title": {"zh": "内容配比实验", "en": "Content-mix experiment"},
    "mix.intro": {"zh": "新的内容配比政策在这些群里有效吗?运营是否按目标配比发帖?实验部分比较随机分到不同配比政策的群(意向处理,以群为单位,用各群实验前的水平调整);依从部分只看实验期内的处理组群;最后一部分是观察性的,不是实验。",
                  "en": "Does a content-mix policy work in these groups, and do operators follow the target mix? The "
                        "experiment compares groups randomised to mix policies (intent to treat, groups as units, "
                        "adjusted for each group's pre-period); compliance looks at the treated groups in the "
                        "experiment period only; the last part is observational, not an experiment."},
    "mix.question": {"zh": "按“{arm}”配比发帖,能提高{metric}吗?", "en": "Does posting by the “{arm}” mix raise the {metric}?"},
    "mix.key_more": {"zh": "“{arm}”组的{metric}比对照组高 {pct}(95% 区间 {low}–{high},p {p})。",
                     "en": "Groups on the “{arm}” mix have {pct} higher {metric} than control groups (95% interval "
                           "{low} to {high}, p {p})."},
    "mix.key_less": {"zh": "“{arm}”组的{metric}比对照组低 {pct}(95% 区间 {low}–{high},p {p})。",
                     "en": "Groups on the “{arm}” mix have {pct} lower {metric} than control groups (95% interval "
                           "{low} to {high}, p {p})."},
    "mix.next_supported": {"zh": "可以把“{arm}”配比推广到更多群,并继续监测。", "en": "Roll the “{arm}” mix out to more groups and keep monitoring."},
    "mix.next_contradicted": {"zh": "不要推广“{arm}”配比;它降低了指标。", "en": "Do not roll out the “{arm}” mix; it lowers the metric."},
    "mix.next_not_shown": {"zh": "暂不推广“{arm}”配比;需要更多群或更长时间才能判断。",
                           "en": "Do not roll out the “{arm}” mix yet; more groups or a longer test are needed to tell."},
    "mix.next_needs_more_data": {"zh": "需要更多数据。", "en": "More data are needed."},
    "mix.caveat": {"zh": "只有 {groups} 个群参与:能以 80% 把握发现的最小效应约为 {mde}。",
                   "en": "Only {groups} groups took part: the smallest effect detectable with 80% power is about {mde}."},
    "mix.control": {"zh": "对照组(原配比)", "en": "control (current mix)"},
    "mix.h.effect": {"zh": "实验效果", "en": "Effect of the policy"},
    "mix.h.compliance": {"zh": "依从:处理组在实验期内是否按目标配比发帖", "en": "Compliance: did the treated groups post by the target mix during the experiment?"},
    "mix.h.observational": {"zh": "观察性对比(非随机):不同内容类型的每帖回复数(控制群效应)",
                            "en": "Observational view (not randomised): replies per post by content type, group fixed effects"},
    "mix.col.arm": {"zh": "组别", "en": "Arm"},
    "mix.col.arm_mean": {"zh": "该组(实验期)", "en": "Arm (experiment period)"},
    "mix.col.control_mean": {"zh": "对照组(实验期)", "en": "Control (experiment period)"},
    "mix.col.weeks": {"zh": "周数", "en": "Weeks"},
    "mix.col.tv": {"zh": "与目标的距离", "en": "Distance from target"},
    "mix.col.excess": {"zh": "超出随机波动的距离", "en": "Distance beyond chance"},
    "mix.col.consistent": {"zh": "与目标一致的周", "en": "Weeks consistent with the target"},
    "mix.col.type": {"zh": "内容类型", "en": "Content type"},
    "mix.effect_note": {"zh": "{metric}按组汇总,以群为单位比较(意向处理,用实验前水平调整)。",
                        "en": "{metric} summed by arm and compared with groups as units (intent to treat, adjusted "
                              "for the pre-period)."},
    "mix.compliance_sentence": {"zh": "目标配比 {target};实验期 {start} 至 {end};{groups} 个处理组群;{share} 的群-周与目标一致(在随机波动范围内)。",
                                "en": "Target mix {target}; experiment period {start} to {end}; {groups} treated "
                                      "groups; {share} of their group-weeks are consistent with the target (within "
                                      "chance)."},
    "mix.compliance_note": {"zh": "距离为实际配比与目标配比的总变差距离(0 = 完全一致);“超出随机波动”扣除了按该周帖子数随机发帖时的预期距离。对照组不按目标发帖,不在此列。",
                            "en": "Distance is the total-variation distance between the realised and the target mix "
                                  "(0 = identical); “beyond chance” subtracts what random posting at that week's "
                                  "number of posts would give. Control groups do not post by the target and are "
                                  "left out."},
    "mix.observational_note": {"zh": "相对于“{control}”类型;这是观察性结果,不能说明因果。",
                               "en": "Relative to “{control}” posts; observational, not causal."},
    "mix.fig.start": {"zh": "实验开始", "en": "experiment start"},
    "mix.fig.by_arm": {"zh": "各组每周的{metric}", "en": "Weekly {metric} by arm"},
    "mix.fig.excess": {"zh": "超出随机波动的距离(百分点)", "en": "distance beyond chance (points)"},
    "mix.fig.compliance": {"zh": "处理组各群每周与目标配比的距离(实验期)", "en": "Treated groups' weekly distance from the target mix (experiment period)"},
})

CATALOGUE.update({
    "seg.title": {"zh": "成员分层", "en": "Member segmentation"},
    "seg.intro": {"zh": "这些群的成员实际分成哪几类?与运营的经验分层(按活跃度)相比如何?特征只用截止日之前的数据,默认按群内百分位排名,避免分出来的只是“群”而不是“人”。",
                  "en": "Which segments do the members of these groups actually form, and how do they compare with "
                        "the operators' rule-of-thumb tiers? Features use data up to the cutoff only and are, by "
                        "default, percentile ranks within each group, so that segments sort members, not groups."},
    "seg.question": {"zh": "数据分出的成员类别与经验分层一致吗?", "en": "Do the segments found in the data agree with the rule-of-thumb tiers?"},
    "seg.key": {"zh": "数据分出 {k} 类:{names};与经验分层的一致度(调整兰德指数)为 {ari}。",
                "en": "The data form {k} segments: {names}; agreement with the rule-based tiers (adjusted Rand "
                      "index) is {ari}."},
    "seg.next_supported": {"zh": "经验分层与数据大体一致,可以继续使用,并按下方各类特征制定运营动作。",
                           "en": "The tiers broadly agree with the data: keep them, and plan actions from the "
                                 "profiles below."},
    "seg.next_contradicted": {"zh": "经验分层与数据不一致:改用数据分出的类别(见下方特征)。",
                              "en": "The tiers disagree with the data: use the segments found (profiles below)."},
    "seg.next_not_shown": {"zh": "经验分层与数据只部分一致:对比下方交叉表,重新设定分层界线。",
                           "en": "The tiers agree only in part: compare the cross-table below and revise the tier cut-offs."},
    "seg.caveat": {"zh": "重抽样稳定性(调整兰德指数)为 {low}–{high};类别与群的关联(Cramér's V)为 {v},接近 0 表示类别跨群存在。",
                   "en": "Stability under resampling (adjusted Rand index) {low} to {high}; association of segments "
                         "with groups (Cramér's V) {v}: near 0 means segments cut across groups."},
    "seg.h.profiles": {"zh": "各类成员的特征", "en": "Segment profiles"},
    "seg.h.tiers": {"zh": "与经验分层的对比", "en": "Rule-based tiers against the segments"},
    "seg.col.segment": {"zh": "类别", "en": "Segment"},
    "seg.col.size": {"zh": "人数", "en": "Members"},
    "seg.col.tier": {"zh": "经验分层", "en": "Tier"},
    "seg.profiles_note": {"zh": "每类成员的特征中位数(原始值,不是排名)。", "en": "Median of each feature per segment (raw values, not ranks)."},
    "seg.tiers_sentence": {"zh": "经验分层与数据类别的一致度(调整兰德指数,1 = 完全一致,0 = 随机):{ari}。交叉表:",
                           "en": "Agreement of the tiers with the segments (adjusted Rand index, 1 = identical, "
                                 "0 = chance): {ari}. Cross-table:"},
    "seg.fig.boxes": {"zh": "各类成员的特征分布(箱线图,不含离群点)", "en": "Features by segment (box plots, outliers not drawn)"},
    "seg.unit.messages_per_day": {"zh": "条/天", "en": "per day"},
    "seg.unit.active_day_share": {"zh": "%", "en": "%"},
    "seg.unit.messages_30d": {"zh": "条", "en": "messages"},
    "seg.unit.recency_days": {"zh": "天", "en": "days"},
    "seg.unit.replies_per_post": {"zh": "次/帖", "en": "per post"},
    "seg.unit.read_rate": {"zh": "%", "en": "%"},
    "seg.unit.tenure_days": {"zh": "天", "en": "days"},
    "feature.messages_per_day": {"zh": "日均发言", "en": "messages per day"},
    "feature.active_day_share": {"zh": "活跃天数占比", "en": "share of days active"},
    "feature.messages_30d": {"zh": "近 30 天发言", "en": "messages in the last 30 days"},
    "feature.replies_per_post": {"zh": "每帖回复", "en": "replies per operator post"},
    "segment.active_contributors": {"zh": "活跃贡献者", "en": "active contributors"},
    "segment.occasional_contributors": {"zh": "偶尔发言者", "en": "occasional contributors"},
    "segment.lapsed": {"zh": "已沉寂", "en": "lapsed"},
    "segment.lurkers": {"zh": "潜水者", "en": "lurkers"},
    "segment.silent_readers": {"zh": "沉默的读者", "en": "silent readers"},
    "segment.silent": {"zh": "沉默者", "en": "silent"},
    "segment.fading_contributors": {"zh": "渐少的发言者", "en": "fading contributors"},
    "segment.core_contributors": {"zh": "核心贡献者", "en": "core contributors"},
    "segment.rare_contributors": {"zh": "很少发言者", "en": "rare contributors"},
    "tier.core": {"zh": "核心", "en": "core"}, "tier.active": {"zh": "活跃", "en": "active"},
    "tier.casual": {"zh": "普通", "en": "casual"}, "tier.silent": {"zh": "沉默", "en": "silent"},
    "tier.churned": {"zh": "已流失", "en": "churned"}, "tier.new": {"zh": "新成员", "en": "new"},
    "tier.declining": {"zh": "下滑", "en": "declining"}, "tier.dormant": {"zh": "休眠", "en": "dormant"},
    "tier.growing": {"zh": "成长", "en": "growing"}, "tier.mature": {"zh": "成熟", "en": "mature"},
    "tier.watching": {"zh": "观望", "en": "watching"}, "tier.advanced": {"zh": "进阶", "en": "advanced"},
    "tier.newcomer": {"zh": "新人", "en": "newcomer"},
    "segq.repliers": {"zh": "爱回复", "en": "repliers"},
    "segq.readers": {"zh": "爱阅读", "en": "readers"},
    "segq.sign-in": {"zh": "常签到", "en": "sign-in"},
    "segq.evening": {"zh": "晚间活跃", "en": "evening"},
    "segq.rising": {"zh": "上升中", "en": "rising"},
    "segq.long-standing": {"zh": "老成员", "en": "long-standing"},
    "segment.readers": {"zh": "只读者", "en": "readers"},
    "segment.core": {"zh": "核心成员", "en": "core"},
    "segment.newcomers": {"zh": "新成员", "en": "newcomers"},
})

CATALOGUE.update({
    "plan.title": {"zh": "下一次发帖时段实验的规划", "en": "Planning the next posting-slot test"},
    "plan.intro": {"zh": "下一次时段实验要做多久、用多少个群?用你自己的发帖历史模拟实验,得出能可靠发现的最小效应,以及按这个设计写出的分组排期。",
                   "en": "How long, and with how many groups, must the next slot test run? Experiments are simulated "
                         "from your own post history to find the smallest effect they could reliably detect, and the "
                         "schedule such a test would follow."},
    "plan.question": {"zh": "用现有的群,要多久才能可靠发现 {target} 的效应?",
                      "en": "With the groups we have, how long must a test run to detect a {target} effect?"},
    "plan.key": {"zh": "用 {groups} 个群做 {weeks} 周的轮换实验,能以 80% 把握发现的最小效应约为 {mde}({metric})。",
                 "en": "A {weeks}-week switchback with {groups} groups detects, with 80% power, effects of about "
                       "{mde} or more ({metric})."},
    "plan.next": {"zh": "要发现 {target} 的效应:用现在的 {now_groups} 个群约需 {weeks} 周,或在 {now_weeks} 周内约需 {groups} 个群。",
                  "en": "To detect {target}: about {weeks} weeks with the current {now_groups} groups, or about "
                        "{groups} groups in {now_weeks} weeks."},
    "plan.caveat": {"zh": "基于 {sims} 次模拟;无效应时的假阳性率为 {fpr}(应接近 5%)。新群若与现有群差别大,结论可能不同。",
                    "en": "From {sims} simulations; the false-positive rate with no effect is {fpr} (should be near "
                          "5%). Groups unlike the current ones may behave differently."},
    "plan.h.mde": {"zh": "最小可检测效应与周数、群数的关系", "en": "Smallest detectable effect by weeks and groups"},
    "plan.h.schedule": {"zh": "这个设计会写出的排期", "en": "The schedule this design would write"},
    "plan.col.weeks": {"zh": "周数", "en": "Weeks"},
    "plan.col.groups": {"zh": "{n} 个群", "en": "{n} groups"},
    "plan.grid_note": {"zh": "黑点为模拟值;其他组合按效应与 1/√(群数 × 周数) 成正比推算。",
                       "en": "Black points are simulated; other combinations scale as 1/√(groups × weeks)."},
    "plan.schedule_note": {"zh": "每个群每周轮换一个时段,按群的人数分层平衡;共 {n} 周。写入 assignments 表即可开始。",
                           "en": "Each group changes slot every week, balanced within strata of group size; {n} "
                                 "weeks. Write it to the assignments table to start."},
    "plan.fig.title": {"zh": "实验越长、群越多,能发现的效应越小", "en": "Longer tests with more groups detect smaller effects"},
    "plan.fig.x": {"zh": "实验周数", "en": "weeks of testing"},
    "plan.fig.y": {"zh": "最小可检测效应(%)", "en": "smallest detectable effect (%)"},
    "plan.fig.groups": {"zh": "{n} 个群", "en": "{n} groups"},
    "plan.fig.simulated": {"zh": "模拟值(现有群)", "en": "simulated (current groups)"},
    "plan.fig.target": {"zh": "目标效应 {target}", "en": "target effect {target}"},
})
