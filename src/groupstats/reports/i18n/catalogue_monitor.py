"""Catalogue of the experiment monitor (analyses/monitor.py)."""
from __future__ import annotations

ENTRIES: dict[str, dict[str, str]] = {
    "monitor.title": {"zh": "实验监控:每天看结果也不会误判", "en": "Experiment monitor: read it every day without false alarms"},
    "monitor.intro": {"zh": "本报告按日期重算实验结果,只用当天已有的数据。实线区间是\u201c随时有效\u201d的置信序列:"
                               "每天查看、一旦排除 0 就停止,误判率仍不超过 5%;虚线是只在计划结束时才有效的普通置信区间。",
                      "en": "This report re-analyses the experiment as of each date, with the data known that day. "
                            "The shaded band is an always-valid confidence sequence: you may look every day and stop "
                            "as soon as it excludes 0, and false alarms stay below 5%; the dashed lines are the "
                            "ordinary interval, valid only at the planned end."},
    "monitor.question": {"zh": "有没有哪个时段的{metric}比{control}更高?现在可以停止实验吗?",
                         "en": "Does any slot get more {metric} than {control}, and can the experiment stop now?"},
    "monitor.key_number": {"zh": "截至 {date}:{arm} 相对{control} {effect}(随时有效 {level} 区间 {interval});"
                                 "{arm} 更好的概率 {prob}。",
                           "en": "As of {date}: {arm} vs {control} {effect} (always-valid {level} interval "
                                 "{interval}); {prob} chance that {arm} is better."},
    "monitor.next.stop_adopt": {"zh": "可以停止实验,改用 {arm}:随时有效的区间已排除 0,这个结论任何时候读取都成立。",
                                "en": "Stop and switch to {arm}: the always-valid interval excludes 0, so the result "
                                      "holds whenever it is read."},
    "monitor.next.stop_keep_control": {"zh": "可以停止实验,保留{control}:{arm} 明显更差,没有时段更好。",
                                       "en": "Stop and keep {control}: {arm} is clearly worse and no slot is better."},
    "monitor.next.stop_futile": {"zh": "可以停止实验:所有时段与{control}的差异都已确定小于最小可检测效应 {mde},"
                                       "继续运行也证明不了值得改变的效果。",
                                 "en": "Stop: every slot's difference from {control} is now known to be smaller "
                                       "than the minimum effect worth detecting ({mde}); running on cannot show one."},
    "monitor.next.stop_planned_end": {"zh": "实验已到计划结束日 {end},仍无明确结论:停止,维持{control};"
                                            "小于区间宽度的效果无法排除。",
                                      "en": "The planned end ({end}) is reached without a clear result: stop and "
                                            "keep {control}; effects smaller than the interval's width are not "
                                            "ruled out."},
    "monitor.next.continue": {"zh": "继续运行到计划结束日 {end}(还有 {days} 天):目前区间仍包含 0,"
                                    "也还不能排除 {mde} 的效果。",
                              "en": "Continue to the planned end, {end} ({days} days left): the interval still "
                                    "includes 0 and cannot yet rule out an effect of {mde}."},
    "monitor.caveat": {"zh": "随时有效区间比普通区间宽(约 1.5 倍),这是可以每天查看的代价;"
                             "贝叶斯概率使用以 0 为中心、标准差 {prior} 的相对效应先验。",
                       "en": "Always-valid intervals are wider than ordinary ones (about 1.5 times): the price of "
                             "looking every day. The Bayesian chance uses a prior on the relative effect centred "
                             "on 0 with SD {prior}."},
    "monitor.fig.effect": {"zh": "相对效应(对比{control})", "en": "relative effect vs {control}"},
    "monitor.fig.effect_title": {"zh": "{metric}:各时段相对{control}的效应随日期变化",
                                 "en": "{metric}: effect of each slot vs {control} by date"},
    "monitor.fig.prob": {"zh": "比{control}更好的概率", "en": "chance of beating {control}"},
    "monitor.fig.prob_title": {"zh": "贝叶斯:更好的概率随日期变化", "en": "Bayesian chance to beat control, by date"},
    "monitor.fig.date": {"zh": "日期", "en": "date"},
    "monitor.fig.planned_end": {"zh": "计划结束", "en": "planned end"},
    "monitor.fig.fixed": {"zh": "普通区间(仅结束时有效)", "en": "fixed-horizon interval (valid at the end only)"},
    "monitor.fig.sequence": {"zh": "随时有效区间", "en": "always-valid interval"},
    "monitor.h.timeline": {"zh": "逐日结果", "en": "Day by day"},
    "monitor.h.latest": {"zh": "每次查看的结果(最新的在最后)", "en": "Every look, the latest last"},
    "monitor.col.date": {"zh": "日期", "en": "date"},
    "monitor.col.arm": {"zh": "时段", "en": "slot"},
    "monitor.col.effect": {"zh": "相对效应", "en": "relative effect"},
    "monitor.col.sequence": {"zh": "随时有效区间", "en": "always-valid interval"},
    "monitor.col.fixed": {"zh": "普通区间", "en": "fixed-horizon interval"},
    "monitor.col.p": {"zh": "随时有效 p 值", "en": "always-valid p"},
    "monitor.col.prob": {"zh": "更好的概率", "en": "chance better"},
    "monitor.col.loss": {"zh": "选择它的预期损失", "en": "expected loss if chosen"},
}
