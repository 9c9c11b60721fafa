"""Catalogue of the result objects' text: titles, table headers and conclusions that ``str(result)``,
``result.to_string(lang)``, notebooks and the CLI's plain output show (``--lang zh|en``)."""
from __future__ import annotations

ENTRIES: dict[str, dict[str, str]] = {
    "result.no_rows": {"zh": "(无数据行)", "en": "(no rows)"},
    "result.note": {"zh": "说明:{note}", "en": "note: {note}"},
    # ---- table headers of the results' main tables (field.<column of to_frame()>)
    "field.arm": {"zh": "组别", "en": "arm"},
    "field.control": {"zh": "对照", "en": "control"},
    "field.arm_mean": {"zh": "该组均值", "en": "arm mean"},
    "field.control_mean": {"zh": "对照均值", "en": "control mean"},
    "field.diff": {"zh": "差值", "en": "difference"},
    "field.ci_low": {"zh": "区间下限", "en": "CI low"},
    "field.ci_high": {"zh": "区间上限", "en": "CI high"},
    "field.rel_diff": {"zh": "相对差异", "en": "relative difference"},
    "field.rel_ci_low": {"zh": "相对区间下限", "en": "relative CI low"},
    "field.rel_ci_high": {"zh": "相对区间上限", "en": "relative CI high"},
    "field.p_value": {"zh": "p 值", "en": "p"},
    "field.p_adjusted": {"zh": "校正后 p 值", "en": "adjusted p"},
    "field.mde_rel": {"zh": "最小可检测效应(相对)", "en": "MDE (relative)"},
    "field.significant": {"zh": "显著", "en": "significant"},
    "field.prob_better": {"zh": "更好的概率", "en": "chance better"},
    "field.expected_loss": {"zh": "期望损失", "en": "expected loss"},
    # ---- comparisons (stats.comparison_result.ComparisonResult)
    "compare.title": {"zh": "“{metric}”的比较({kind},{method}),对照组 {control}",
                      "en": "Comparison of '{metric}' ({kind}, {method}) against arm {control}"},
    "compare.intro": {"zh": "按组比较“{metric}”,每组都与对照组 {control} 比较({method};{correction};α = {alpha})。",
                      "en": "'{metric}' by arm, each compared with control {control} ({method}; {correction}; "
                            "alpha = {alpha})."},
    "compare.no_correction": {"zh": "未做多重比较校正", "en": "no multiple-comparison correction"},
    "compare.correction": {"zh": "{correction} 多重比较校正", "en": "{correction} correction"},
    "compare.adjusted": {"zh": "区间已按多重比较校正。", "en": " Intervals are adjusted for multiple comparisons."},
    "compare.higher": {"zh": "- {arm} 显著高于 {control}:{diff}({level} 区间 {low} 至 {high}),相对 {rel}({rel_low} 至 "
                             "{rel_high});校正后 p {p}。",
                       "en": "- Arm {arm} is significantly higher than {control}: {diff} ({level} CI {low} to "
                             "{high}), {rel} relative ({rel_low} to {rel_high}); adjusted p {p}."},
    "compare.lower": {"zh": "- {arm} 显著低于 {control}:{diff}({level} 区间 {low} 至 {high}),相对 {rel}({rel_low} 至 "
                            "{rel_high});校正后 p {p}。",
                      "en": "- Arm {arm} is significantly lower than {control}: {diff} ({level} CI {low} to "
                            "{high}), {rel} relative ({rel_low} to {rel_high}); adjusted p {p}."},
    "compare.no_difference": {"zh": "- {arm} 与 {control} 无显著差异({diff},{level} 区间 {low} 至 {high};相对 {rel}"
                                    "({rel_low} 至 {rel_high});校正后 p {p})。以 80% 把握能发现的最小效应约为 ±{mde}",
                              "en": "- Arm {arm} vs {control}: no significant difference ({diff}, {level} CI {low} "
                                    "to {high}; {rel} relative ({rel_low} to {rel_high}); adjusted p {p}). The "
                                    "minimum detectable effect at 80% power is about +/-{mde}"},
    "compare.mde_rel": {"zh": "(对照水平的 {mde_rel})", "en": " ({mde_rel} of the control level)"},
    "compare.not_ruled_out": {"zh": ";更小的效应无法排除。", "en": "; smaller effects cannot be ruled out."},
    "compare.srm": {"zh": "警告:样本比例不符(p {p} < {threshold}):各组的{unit}数 {observed} 与计划分配不一致;"
                          "先检查分组和记录,再相信这些效应。",
                    "en": "WARNING: sample ratio mismatch (p {p} < {threshold}): the arms' {unit} counts {observed} "
                          "do not match the planned allocation; check the assignment and logging before trusting "
                          "these effects."},
    "compare.variance_reduction": {"zh": "协变量“{covariate}”使残差方差减少了 {pct}。",
                                   "en": "The covariate '{covariate}' reduced the residual variance by {pct}."},
    # ---- the CLI's own summary lines
    "cli.valid_dataset": {"zh": "{path}:有效的 groupstats 数据集", "en": "{path}: valid groupstats dataset"},
    "cli.wrote_features": {"zh": "已把 {groups} 个群 {n} 位成员的特征({features} 个特征,截止 {cutoff})写入 {path}",
                           "en": "wrote features of {n} members in {groups} groups ({features} features, cutoff "
                                 "{cutoff}) to {path}"},
    "cli.wrote_segments": {"zh": "已把 {n} 位成员写入 {path}", "en": "wrote {n} members to {path}"},
    "cli.wrote_risk": {"zh": "已把 {n} 位成员的风险分数写入 {path}", "en": "wrote {n} member risk scores to {path}"},
    "cli.wrote_assignments": {"zh": "已把实验“{experiment}”的 {n} 行分组写入 {path}",
                              "en": "wrote {n} assignment rows of experiment '{experiment}' to {path}"},
    "cli.wrote_simulation": {"zh": "已把 {groups} 个群 {days} 天的 {n} 条消息写入 {path}",
                             "en": "wrote {n} messages in {groups} groups over {days} days to {path}"},
    "cli.planted_truth": {"zh": "预设的真实效应:", "en": "planted truth: "},
    "word.control": {"zh": "对照组", "en": "control"},
    # ---- experiment plan (stats.design.PowerPlan)
    "powerplan.title": {"zh": "发帖时段实验规划(用你自己的发帖历史模拟)",
                        "en": "Posting-slot experiment plan (simulated from your own post history)"},
    "powerplan.col.quantity": {"zh": "项目", "en": "quantity"},
    "powerplan.col.value": {"zh": "数值", "en": "value"},
    "powerplan.q.design": {"zh": "设计", "en": "design"},
    "powerplan.q.arms": {"zh": "组别", "en": "arms"},
    "powerplan.q.control": {"zh": "对照", "en": "control"},
    "powerplan.q.metric": {"zh": "指标", "en": "metric"},
    "powerplan.q.groups": {"zh": "群数", "en": "groups"},
    "powerplan.q.dates": {"zh": "计划日期", "en": "planned dates"},
    "powerplan.dates": {"zh": "{start} 至 {end}", "en": "{start} to {end}"},
    "powerplan.q.weeks": {"zh": "周数", "en": "weeks"},
    "powerplan.q.posts": {"zh": "每群每周帖子数(历史)", "en": "posts per group-week (history)"},
    "powerplan.q.control_mean": {"zh": "对照每帖均值(历史)", "en": "control mean per post (history)"},
    "powerplan.q.mde": {"zh": "最小可检测效应(相对)", "en": "minimum detectable effect (relative)"},
    "powerplan.q.power_at": {"zh": "效应 {target} 时的检验效能", "en": "power at {target}"},
    "powerplan.q.fpr": {"zh": "假阳性率(模拟)", "en": "false-positive rate (simulated)"},
    "powerplan.q.weeks_needed": {"zh": "发现 {target} 约需周数", "en": "weeks needed for {target} (approx.)"},
    "powerplan.q.groups_needed": {"zh": "{weeks} 周内发现 {target} 约需群数",
                                  "en": "groups needed for {target} in {weeks} weeks (approx.)"},
    "powerplan.q.sims": {"zh": "模拟次数", "en": "simulations"},
    "powerplan.conclusion": {"zh": "用 {groups} 个群做 {weeks} 周({design},组别 {arms}),以 {power} 把握(α = {alpha})能发现的"
                                   "{metric}最小效应约为对照水平的 {mde_rel}。",
                             "en": "With {groups} groups for {weeks} weeks ({design}, arms {arms}), the smallest "
                                   "effect on {metric} detectable with {power} power at alpha {alpha} is about "
                                   "{mde_rel} of the control level. "},
    "powerplan.enough": {"zh": "{target} 的效应约有 {power_at} 的实验能发现:规划足够大。",
                         "en": "An effect of {target} would be detected in about {power_at} of experiments: the "
                               "plan is large enough."},
    "powerplan.not_enough": {"zh": "{target} 的效应只有约 {power_at} 的实验能发现:需要约 {weeks_needed} 周,或约 "
                                   "{groups_needed} 个群。",
                             "en": "An effect of {target} would be detected in only about {power_at} of experiments: "
                                   "run about {weeks_needed} weeks or use about {groups_needed} groups."},
}
