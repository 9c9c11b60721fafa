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
    "compare.kind.mean": {"zh": "均值", "en": "mean"},
    "compare.kind.proportion": {"zh": "比例", "en": "proportion"},
    "compare.kind.count": {"zh": "计数", "en": "count"},
    "compare.kind.ratio": {"zh": "比率", "en": "ratio"},
    "compare.intro": {"zh": "按组比较“{metric}”,每组都与{control}比较({method};{correction};α = {alpha})。",
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
    # ---- group health (analyses.health.HealthResult)
    "healthres.title": {"zh": "群健康度:按需要关注的程度排名", "en": "Group health: groups ranked by need of attention"},
    "field.alert_weeks": {"zh": "警报周数", "en": "alert weeks"},
    "field.warning_weeks": {"zh": "预警周数", "en": "warning weeks"},
    "field.score": {"zh": "关注分", "en": "score"},
    "healthres.counts": {"zh": "按 {thresholds} 个阈值({file})评估了 {n} 个群-周:正常 {ok},预警 {warning},警报 {alert}。",
                         "en": "{n} group-weeks judged against {thresholds} thresholds ({file}): {ok} ok, {warning} "
                               "warning, {alert} alert."},
    "healthres.group": {"zh": "{group}(警报 {alerts} 周 / 预警 {warnings} 周", "en": "{group} ({alerts} alert / {warnings} warning weeks"},
    "healthres.now": {"zh": ";当前:{metrics}", "en": "; now: {metrics}"},
    "healthres.close": {"zh": ")", "en": ")"},
    "healthres.sep": {"zh": ";", "en": "; "},
    "healthres.attention": {"zh": "最需要关注的群(最近 {weeks} 周):{groups}。",
                            "en": "Groups needing attention most (last {weeks} weeks): {groups}."},
    "healthres.none": {"zh": "最近 {weeks} 周没有群出现预警或警报。", "en": "No group had a warning or alert in the last {weeks} weeks."},
    "healthres.metric_count": {"zh": "{metric}({n})", "en": "{metric} ({n})"},
    "healthres.frequent": {"zh": "最常见的警报(群-周数):{metrics}。", "en": "Most frequent alerts (group-weeks): {metrics}."},
    # ---- churn risk (analyses.churn.ChurnRiskResult, ChurnBacktest)
    "churnres.title": {"zh": "成员流失风险", "en": "Churn risk by member"},
    "churnres.backtest_title": {"zh": "按时间切分的回测", "en": "Backtest (time split)"},
    "churnres.more": {"zh": "……(共 {n} 位成员)", "en": "... ({n} members)"},
    "field.rank": {"zh": "排名", "en": "rank"},
    "field.active_before": {"zh": "之前活跃", "en": "active before"},
    "field.calibration_intercept": {"zh": "校准截距", "en": "calibration intercept"},
    "field.calibration_slope": {"zh": "校准斜率", "en": "calibration slope"},
    "churnres.def.silent": {"zh": "评分日后 {days} 天内没有发言", "en": "no message in the {days} days after the cutoff"},
    "churnres.def.left": {"zh": "评分日后 {days} 天内退群", "en": "leaves the group within {days} days after the cutoff"},
    "churnres.def.either": {"zh": "评分日后 {days} 天内没有发言或退群",
                            "en": "no message in the {days} days after the cutoff, or leaves the group in them"},
    "churnres.scored": {"zh": "用{model}为 {date} 在群内的 {n} 位成员打分,流失的定义为:{definition}。平均风险 {mean};"
                              "{high} 位成员的风险超过 50%。",
                        "en": "Scored {n} members present on {date} with the {model} model for churn = {definition}. "
                              "Mean risk {mean}; {high} members have a risk above 50%."},
    "churnres.backtest": {"zh": "在 {date} 的回测中,该模型对评分前活跃成员的 ROC AUC 为 {auc}(Brier 分数 {brier})。",
                          "en": "In the backtest at {date} this model reached ROC AUC {auc} on members active before "
                                "the cutoff (Brier {brier})."},
    "churnres.judged": {"zh": "与 {date} 之后实际发生的情况对比:ROC AUC {auc},Brier 分数 {brier},校准截距 {intercept}、"
                              "斜率 {slope}(理想为 0 和 1),风险前 10% 覆盖了 {capture} 的流失者。",
                        "en": "Judged against what happened after {date}: ROC AUC {auc}, Brier {brier}, calibration "
                              "intercept {intercept} and slope {slope} (perfect: 0 and 1), top 10% captured {capture} "
                              "of churners."},
    # ---- analyses' notes (templates matched by i18n.note_text; the analyses write the English)
    "word.churned": {"zh": "均已流失", "en": "churned"},
    "word.not churned": {"zh": "均未流失", "en": "not churned"},
    "note.churn_too_little_history": {
        "zh": "历史太短,无法为 {scoring} 的打分训练流失模型:打分日之前至少需要 {one} 天数据(一个带标签的截止日:{min_history} "
              "天的特征历史 + {horizon} 天的观察期,其结果须在打分日前观察到),即数据须始于 {need_start} 或更早;数据始于 "
              "{start}(打分日前 {have} 天)。请把打分日设在 {ok_from} 或之后、缩短观察期,或提供更长的历史。(有 {full} "
              "天时,模型还会在比训练更晚的截止日上校准。)",
        "en": "Too little history to train a churn model for scoring on {scoring}: it needs at least {one} days of "
              "data before the scoring date (one labelled cutoff: {min_history} days of history for the features + "
              "the {horizon}-day horizon, whose outcomes must be observed by the scoring date), i.e. data starting "
              "on or before {need_start}; the data start on {start} ({have} days before). Use a scoring date on or "
              "after {ok_from}, a shorter horizon, or more history. (With {full} days the model is also calibrated "
              "on a later cutoff than it is trained on.)"},
    "note.churn_same_outcome": {
        "zh": "在训练截止日({cutoffs}),所有成员的结果相同({outcome}),无法训练模型。请换一个定义或观察期,或提供更多数据。",
        "en": "At the training cutoffs ({cutoffs}) every member has the same outcome ({outcome}), so no model can be "
              "trained. Use another definition or horizon, or more data."},
    "note.churn_short_history": {"zh": "历史较短(最早的训练截止日之前 {days} 天):特征窗口缩短为 {churn} 天(活跃)和 {member} 天"
                                       "(成员特征),每个截止日相同。",
                                 "en": "Short history ({days} days before the earliest training cutoff): feature "
                                       "windows shortened to {churn} days (activity) and {member} days (member "
                                       "features), the same at every cutoff."},
    # ---- tiers (analyses.tiers.TierAssignment, TierComparison)
    "tiersres.title": {"zh": "经验分层:{preset}", "en": "Tiers: {preset}"},
    "tiersres.conclusion": {"zh": "按“{preset}”预设分层的 {n} 位成员(阈值出自运营文章《{source}》):{parts}。",
                            "en": "{n} members under the '{preset}' preset (thresholds from the playbook article "
                                  "\"{source}\"): {parts}."},
    "tiersres.vs_title": {"zh": "经验分层与数据类别", "en": "Tiers vs segments"},
    "tiersres.pair": {"zh": "{tier} → 多为{segment}({share})", "en": "{tier} -> mostly {segment} ({share})"},
    "tiersres.agree": {"zh": "经验分层与数据类别{level}一致(调整兰德指数 {ari},调整互信息 {ami})。{pairs}。",
                       "en": "Tiers and segments agree {level} (adjusted Rand index {ari}, adjusted mutual "
                             "information {ami}). {pairs}."},
    "tiersres.level.closely": {"zh": "高度", "en": "closely"},
    "tiersres.level.partly": {"zh": "部分", "en": "partly"},
    "tiersres.level.weakly": {"zh": "较弱地", "en": "weakly"},
    "tiersres.level.hardly": {"zh": "几乎不", "en": "hardly"},
    # ---- segments (analyses.segmentation.SegmentationResult)
    "segres.title": {"zh": "成员分层", "en": "Member segments"},
    "segres.kind.rate.within_group": {"zh": "扣除各群水平后的对数发言率", "en": "log message rate net of each group's level"},
    "segres.kind.rate.raw": {"zh": "合并的对数发言率", "en": "pooled log message rate"},
    "segres.kind.features.within_group": {"zh": "群内百分位特征", "en": "within-group percentile features"},
    "segres.kind.features.raw": {"zh": "原始特征", "en": "raw features"},
    "segres.members": {"zh": "{n} 位成员分为 {k} 类({method},{kind})。",
                       "en": "{n} members in {k} segments ({method}, {kind})."},
    "segres.sizes": {"zh": "从最活跃到最不活跃:{sizes}。", "en": "From most to least engaged: {sizes}."},
    "segres.stability": {"zh": "重抽样重新拟合时,类别的调整兰德指数为 {ari}(90% 的重拟合在 {low}–{high}):{level}。",
                         "en": "Bootstrap refits reproduce the segments with adjusted Rand index {ari} (90% of refits "
                               "{low}-{high}): {level}."},
    "segres.level.stable": {"zh": "稳定", "en": "stable"},
    "segres.level.moderate": {"zh": "中等稳定", "en": "moderately stable"},
    "segres.level.unstable": {"zh": "不稳定(只能把类别当作粗略的轮廓)", "en": "unstable (read the segments as a rough sketch)"},
    "segres.groups": {"zh": "类别与群的关联(Cramér's V):{v}", "en": "Association of segments with groups (Cramer's V): {v}"},
    "segres.groups_follow": {"zh": "——类别大体跟着群走;试试 features='within_group'。",
                             "en": " - segments largely follow the groups; try features='within_group'."},
    "segres.period": {"zh": "。", "en": "."},
    "segres.dropped": {"zh": "未使用(没有数据):{columns}。", "en": "Not used (no data): {columns}."},
    "field.engagement": {"zh": "活跃度得分", "en": "engagement"},
    "field.recency_days": {"zh": "距上次发言天数", "en": "days since the last message"},
    "field.sign_in_rate": {"zh": "签到率", "en": "sign-in rate"},
    "field.share_evening": {"zh": "晚间消息占比", "en": "share of messages in the evening"},
    "note.seg_lowest_bic": {"zh": "k = {k} 的 BIC 最低。", "en": "k = {k} has the lowest BIC."},
    "note.seg_runner_up": {"zh": "次优的 k = {k2}:BIC 高 {delta}(按 Kass-Raftery 标准,{strength}支持 k = {k};BIC 权重 {w1} 对 {w2})。",
                           "en": "Runner-up k = {k2}: BIC higher by {delta} ({strength} evidence for k = {k} on the "
                                 "Kass-Raftery scale; BIC weights {w1} vs {w2})."},
    "note.seg_given": {"zh": "k = {k} 为指定值。", "en": "k = {k} was given."},
    "note.seg_silhouette": {"zh": "k = {k} 的轮廓系数最高({score})。", "en": "k = {k} has the highest silhouette score ({score})."},
    "word.very strong": {"zh": "非常强地", "en": "very strong"},
    "word.strong": {"zh": "强烈地", "en": "strong"},
    "word.positive": {"zh": "有一定证据地", "en": "positive"},
    "word.barely worth mentioning": {"zh": "几乎不", "en": "barely worth mentioning"},
    # ---- Bayesian read-out (stats.bayes.describe)
    "bayes.readout": {"zh": "贝叶斯解读:{arm}优于{control}的概率为 {prob}(相对效应的 {level} 可信区间 {low} 至 {high};"
                            "若选择它,期望损失为对照水平的 {loss};相对效应的先验为 N(0, {prior}))。",
                      "en": "Bayesian read-out: {prob} chance that {arm} beats {control} (relative effect {level} "
                            "credible interval {low} to {high}; expected loss if chosen {loss} of the control level; "
                            "prior N(0, {prior}) on the relative effect)."},
    # ---- content-mix experiment (analyses.content_mix.MixExperimentResult)
    "mixres.title": {"zh": "内容配比实验“{experiment}”:{metric}(意向处理,以群为单位,{method})",
                     "en": "Content-mix experiment '{experiment}': {metric} (intent-to-treat, group level, {method})"},
    "mixres.intro": {"zh": "意向处理,{metric}({definition}),以群为单位", "en": "Intent-to-treat, {metric} ({definition}), groups as units"},
    "mixres.definition.messages_per_member_day": {"zh": "成员消息数(不含运营)除以成员在群天数",
                                                  "en": "member messages (operators excluded) over member-days present"},
    "mixres.adjustment.cuped": {"zh": ",按各群实验前的水平调整(CUPED)。", "en": ", adjusted for each group's pre-period level (CUPED)."},
    "mixres.adjustment.did": {"zh": ",与各群实验前相比的双重差分。", "en": ", difference-in-differences against each group's pre-period."},
    "mixres.adjustment.none": {"zh": ",未按实验前水平调整。", "en": ", no pre-period adjustment."},
    "mixres.compliance": {"zh": "依从:{arm}组的群从对照配比向该组配比走了 {dose}(对照组 {control})",
                          "en": "Compliance view: groups in {arm} moved {dose} of the way from the control mix to the "
                                "arm's mix (control groups {control})"},
    "mixres.wald": {"zh": ";换算成完全依从时的效应为 {effect}(区间 {low} 至 {high};Wald 估计,忽略第一阶段的不确定性)",
                    "en": "; scaled to full compliance the effect would be {effect} (CI {low} to {high}; Wald "
                          "estimate, first-stage uncertainty ignored)"},
    "mixres.sequential": {"zh": "序贯分析:p 值和区间随时有效(渐近置信序列,Waudby-Smith 等),无论查看多少次都有效,可以随时读取,一旦区间不含 0 即可停止实验。"
                                "目前已有 {n} / 计划 {planned} 个群-日(在 {n_opt} 处最窄)。",
                          "en": "Sequential analysis: p-values and intervals are always-valid (asymptotic confidence "
                                "sequences, Waudby-Smith et al.); they stay valid however often the experiment is "
                                "looked at, so this result may be read at any time and the experiment stopped as "
                                "soon as an interval excludes zero. So far {n} of the {planned} planned group-days "
                                "(tuned to be tightest at {n_opt})."},
    "note.cuped_wls": {"zh": "CUPED:各群实验期的比率对组别和实验前比率回归,按分母加权;HC2 标准误(每个群是一个聚类)。",
                       "en": "CUPED: each group's experiment-period ratio regressed on arm and its pre-period ratio, "
                             "weighted by its denominator; HC2 standard errors (each group is a cluster)."},
    # ---- observational content types (analyses.content_mix.ContentEngagementResult)
    "engres.title": {"zh": "观察性对比(非随机):各内容类型的{metric},相对“{baseline}”,控制{fixed_effects}固定效应",
                     "en": "OBSERVATIONAL (not randomised): {metric} by content type vs '{baseline}', {fixed_effects} "
                           "fixed effects"},
    "engres.fe.group": {"zh": "群", "en": "group"},
    "engres.fe.group_week": {"zh": "群-周", "en": "group-week"},
    "engres.and": {"zh": "和", "en": " and "},
    "engres.to": {"zh": "至", "en": "to"},
    "engres.conclusion": {"zh": "观察性结果,不是实验:在同一{fixed_effects}内,各类帖子与“{baseline}”帖子比较{metric}"
                                "(共 {n} 个帖子):{parts}。内容类型由运营选择,这些差异可能反映话题、时间或活动;"
                                "要检验配比政策,请做随机实验。",
                          "en": "Observational, not an experiment: within the same {fixed_effects}, posts of each type "
                                "compared with '{baseline}' posts on {metric} ({n} posts): {parts}. Content types are "
                                "chosen by operators, so these differences may reflect topics, timing or campaigns; "
                                "test a mix policy with a randomised experiment."},
    # ---- compliance with a target mix (analyses.content_mix.MixComplianceResult)
    "compres.title": {"zh": "内容配比与目标 {target} 的一致程度(按群,跨周)",
                      "en": "Content-mix compliance with target {target} (per group, over weeks)"},
    "field.mean_expected_tv": {"zh": "随机波动下的预期距离", "en": "distance expected by chance"},
    "field.share_other": {"zh": "目标外类型占比", "en": "share outside the target"},
    "field.marketing_share": {"zh": "营销占比", "en": "marketing share"},
    "field.weeks_over_cap": {"zh": "超出上限的周数", "en": "weeks over the cap"},
    "compres.checked": {"zh": "按目标 {target} 检查了 {n} 个群-周", "en": "{n} group-weeks checked against {target}"},
    "compres.preset": {"zh": "(预设“{name}”,出自《{source}》)", "en": " (preset '{name}' from \"{source}\")"},
    "compres.consistent": {"zh": ":{share} 与完全依从一致(多项分布拟合优度检验,p ≥ {alpha});单凭随机波动约会拒绝 {reject}。",
                           "en": ": {share} are consistent with perfect compliance (multinomial goodness of fit, "
                                 "p >= {alpha}); chance alone would reject about {reject}."},
    "compres.distance": {"zh": "与目标的平均距离为 {mean}(总变差),按这些帖子数,随机波动预期为 {expected}。",
                         "en": "Mean distance from the target {mean} (total variation) against {expected} expected by "
                               "chance at these numbers of posts."},
    "compres.furthest": {"zh": "离目标最远的群(超出随机波动的距离):{groups}。",
                         "en": "Furthest from the target (excess distance over chance): {groups}."},
    "compres.marketing": {"zh": "营销(“{category}”)帖子占 {share},上限为 {cap}(《{source}》);{n} 个群-周超出上限。",
                          "en": "Marketing ('{category}') share {share} of posts against a cap of {cap} (\"{source}\"); "
                                "{n} group-week(s) over the cap."},
    "note.no_marketing": {"zh": "没有帖子标为“{label}”,所以营销占比为 0;如果你的营销帖用了别的标签,请用映射文件把它映射到“{label2}”。",
                          "en": "No post is labelled '{label}', so the marketing share is 0; if your marketing posts "
                                "carry another label, map it to '{label2}' with a mapping file."},
    "note.outside_target": {"zh": "{n} 个帖子({share})属于目标以外的类型({types});含有这些帖子的周不可能完全依从。",
                            "en": "{n} post(s) ({share}) carry categories outside the target ({types}); a week with "
                                  "any of them is inconsistent with perfect compliance."},
    # ---- posting-slot experiment (analyses.slot_experiment.SlotExperimentResult)
    "slotres.title": {"zh": "实验“{experiment}”({design}):各组每帖的{metric},对照 {control}({method})",
                      "en": "Experiment '{experiment}' ({design}): {metric} per post by arm, vs {control} ({method})"},
    "slotres.intro": {"zh": "实验“{experiment}”({design},{groups} 个群,{periods} 个周期,分析了 {posts} 个帖子);主要指标:{metric}({description}",
                      "en": "Experiment '{experiment}' ({design}, {groups} groups, {periods} periods, {posts} posts "
                            "analysed); primary metric {metric} ({description}"},
    "slotres.window": {"zh": ",时间窗 {window}", "en": ", window {window}"},
    "slotres.compared": {"zh": "),在群内与{control}比较", "en": "), compared with {control} within groups"},
    "slotres.effects": {"zh": "(控制群、周期和星期效应)", "en": " (group, period and weekday effects)"},
    "slotres.using": {"zh": ",方法 {method},{correction} 多重比较校正", "en": " using {method} with {correction} correction"},
    "slotres.adjusted": {"zh": ";区间已按多重比较校正。", "en": "; intervals adjusted for multiple comparisons."},
    "slotres.period": {"zh": "。", "en": "."},
    "slotres.metric_desc.replies": {"zh": "时间窗内成员对该帖的引用回复", "en": "member quote-replies to the post within the window"},
    "slotres.metric_desc.responses": {"zh": "发帖后时间窗内群里的成员消息", "en": "member messages in the group within the window after the post"},
    "slotres.metric_desc.incremental_responses": {"zh": "成员消息减去该群在其他时间发帖的日子里同一时段的通常消息数",
                                                  "en": "responses minus the group's usual messages in the same clock window on days it posted at another time"},
    "slotres.metric_desc.responders": {"zh": "时间窗内回应的不同成员数", "en": "distinct members responding within the window"},
    "slotres.metric_desc.read_rate": {"zh": "24 小时内阅读的不同成员占在群成员的比例(总和之比)",
                                      "en": "distinct readers within 24 h over members present (ratio of sums)"},
    "slotres.metric_desc.click_rate": {"zh": "24 小时内点击的不同成员占在群成员的比例(总和之比)",
                                       "en": "distinct clickers within 24 h over members present (ratio of sums)"},
    "slotres.compliance": {"zh": "依从:{share} 的帖子在所属时段内发出;效应为意向处理效应(按实际执行的排期的效果)。",
                           "en": "Compliance: {share} of posts were inside their arm's slot; effects are intent-to-treat "
                                 "(the effect of the schedule as followed)."},
    "slotres.unit.allocated units": {"zh": "分配单位数", "en": "allocated units"},
    "slotres.unit.group-period": {"zh": "群-周期", "en": "group-period"},
    "slotres.unit.group-day": {"zh": "群-日", "en": "group-day"},
    "slotres.srm_ok": {"zh": "分配检查:没有样本比例不符(各组的{unit},p {p})。",
                       "en": "Allocation check: no sample ratio mismatch ({unit} per arm, p {p})."},
    "slotres.srm_bad": {"zh": "警告:样本比例不符(p {p}):各组的{unit}与计划不符;先修正分配,再相信效应。",
                        "en": "WARNING: sample ratio mismatch (p {p}): the {unit} per arm do not match the plan; fix "
                              "the assignment before trusting effects."},
    "slotres.dir.more": {"zh": "更多", "en": "more"},
    "slotres.dir.fewer": {"zh": "更少", "en": "fewer"},
    "slotres.dir.higher": {"zh": "更高", "en": "higher"},
    "slotres.dir.lower": {"zh": "更低", "en": "lower"},
    "slotres.supported": {"zh": "- 成立:{arm}的{metric}比{control}{direction}:{rel}({level} 区间 {low} 至 {high};每帖 {arm_mean} 对 "
                                "{control_mean};校正后 p {p})。",
                          "en": "- SUPPORTED: {arm} gets {direction} {metric} than {control}: {rel} ({level} CI {low} "
                                "to {high}; {arm_mean} vs {control_mean} per post; adjusted p {p})."},
    "slotres.not_shown": {"zh": "- 未能证明:{arm}与{control}之间的差异({rel},{level} 区间 {low} 至 {high};校正后 p {p})。"
                                "以 80% 把握能发现的最小效应约为对照水平的 ±{mde};更小的效应不能排除。",
                          "en": "- NOT SHOWN: a difference between {arm} and {control} ({rel}, {level} CI {low} to "
                                "{high}; adjusted p {p}). Minimum detectable effect at 80% power: about +/-{mde} of "
                                "the control level; smaller effects are not ruled out."},
    "slotres.overall_none": {"zh": "总结:数据不支持任何发帖时段会改变{metric}(相对{control})。",
                             "en": "Overall: the data do not support that any posting slot changes {metric} relative "
                                   "to {control}."},
    "slotres.overall_best": {"zh": "总结:{arm}是{metric}证据最充分的时段(相对{control}约 {rel})。",
                             "en": "Overall: {arm} is the best-supported slot for {metric} (about {rel} vs {control})."},
    "slotres.overall_decrease": {"zh": "总结:没有时段胜过{control};显著的差异都是下降。",
                                 "en": "Overall: no slot beats {control}; the significant differences are decreases."},
    "slotres.sequential": {"zh": "序贯分析:p 值和区间随时有效(渐近置信序列,Waudby-Smith 等),无论查看多少次都有效,可以随时读取,一旦区间不含 0 即可停止实验。"
                                 "目前已有 {n} / 计划 {planned} 个{unit}(在 {n_opt} 处最窄)。",
                           "en": "Sequential analysis: p-values and intervals are always-valid (asymptotic confidence "
                                 "sequences, Waudby-Smith et al.); they stay valid however often the experiment is "
                                 "looked at, so this result may be read at any time and the experiment stopped as "
                                 "soon as an interval excludes zero. So far {n} of the {planned} planned {unit}s "
                                 "(tuned to be tightest at {n_opt})."},
    "slotres.as_of": {"zh": "截至 {when}:只用到此时的数据;结果时间窗超过此时的 {n} 个帖子已排除。",
                      "en": "As of {when}: only data up to then; {n} post(s) whose outcome window runs past it were "
                            "excluded."},
    "slotres.responses_caution": {"zh": "注意:“每帖后的成员消息数”包括该时段本来就有的闲聊,天然偏向热门时段;请查看“每帖新增成员消息数”。",
                                  "en": "Caution: 'responses' counts all member messages after the post, including the "
                                        "hour's usual chatter, which favours busy hours by construction; check "
                                        "'incremental_responses'."},
    "slotres.secondary": {"zh": "次要指标(探索性){name}:", "en": "Secondary (exploratory) {name}: "},
    "slotres.secondary_diff": {"zh": "{arms} 有差异。", "en": "differences for {arms}."},
    "slotres.secondary_none": {"zh": "没有显著差异。", "en": "no significant differences."},
    # notes of the slot experiment and the comparison engine (templates for note_text)
    "note.slot_standardised": {"zh": "{metric}已按群标准化(每个群的帖子缩放到总体均值),使每个群权重相同;各组均值是平均群的每帖值,相对效应不受缩放影响。",
                               "en": "{metric} were group-standardised (each group's posts rescaled to the overall mean) "
                                     "so every group weighs equally; arm means are per post of an average group and "
                                     "relative effects are unchanged by the rescaling."},
    "note.slot_dropped_window": {"zh": "结果时间窗超出数据末尾的 {n} 个帖子已删除。",
                                 "en": "{n} post(s) whose window runs past the end of the data were dropped."},
    "note.cr2_few_clusters": {"zh": "{n} 个聚类:CR2(Bell-McCaffrey)标准误和 Bell-McCaffrey 自由度,在聚类少时仍让假阳性率接近 α。",
                              "en": "{n} clusters: CR2 (Bell-McCaffrey) standard errors with Bell-McCaffrey degrees of "
                                    "freedom keep the false-positive rate near alpha with few clusters."},
    "note.p_adjusted_ci": {"zh": "校正后 p 值在 {m} 个比较上用 {correction} 校正;区间相应按多重比较校正:每个区间都取校正判断它时所用的水平({rule};见 ci_level 列;未校正的区间在 *_unadjusted 列)。最小可检测效应按同一水平计算。",
                           "en": "p_adjusted uses the {correction} correction over {m} comparisons; CIs are adjusted "
                                 "for multiple comparisons to match: each is drawn at the level at which the "
                                 "correction judges it ({rule}; column ci_level; the marginal CIs are the "
                                 "*_unadjusted columns). The MDE is at the same level."},
    "word.Holm: the level of its step": {"zh": "Holm:其所在步骤的水平", "en": "Holm: the level of its step"},
    "word.Bonferroni: alpha / m": {"zh": "Bonferroni:α / m", "en": "Bonferroni: alpha / m"},
    "word.Benjamini-Hochberg: alpha * rejections / m": {"zh": "Benjamini-Hochberg:α × 拒绝数 / m",
                                                        "en": "Benjamini-Hochberg: alpha * rejections / m"},
    "note.srm": {"zh": "样本比例不符:p = {p} < {threshold}(各组的{unit} {observed})。",
                 "en": "Sample ratio mismatch: p = {p} < {threshold} ({unit} per arm {observed})."},
    # ---- dataset summary (data.summary.DatasetSummary: groupstats validate)
    "summaryres.title": {"zh": "数据集概要", "en": "Dataset summary"},
    "summaryres.counts": {"zh": "{groups} 个群,{members} 位不同成员,消息从 {start} 到 {end}({tz})。",
                          "en": "{groups} groups, {members} distinct members, messages from {start} to {end} ({tz})."},
    "summaryres.missing": {"zh": "缺少的表(只有部分分析需要):{tables}。",
                           "en": "Tables not present (needed only by some analyses): {tables}."},
    "summaryres.experiments": {"zh": "分组表中的实验({n} 个):", "en": "Experiments in assignments ({n}):"},
    "summaryres.experiment": {"zh": "{id}:{design},组别 {arms},{groups} 个群,{start} 至 {end}",
                              "en": "{id}: {design}, arms {arms}, {groups} group(s), {start} to {end}"},
    "summaryres.no_experiments": {"zh": "分组表中的实验:无(表是空的)。", "en": "Experiments in assignments: none (the table is empty)."},
    "summaryres.note": {"zh": "说明:{note}", "en": "Note: {note}"},
    # ---- import counts (data.importers.assemble.ImportReport: groupstats import)
    "importres.read": {"zh": "读取 {read} 行:导入 {imported},拒绝 {rejected},跳过 {skipped}",
                       "en": "read {read} rows: imported {imported}, rejected {rejected}, skipped {skipped}"},
    "importres.rejected": {"zh": "拒绝 {code}:{n}", "en": "rejected {code}: {n}"},
    "importres.skipped": {"zh": "跳过 {code}:{n}", "en": "skipped {code}: {n}"},
    "importres.file": {"zh": "{file}:读取 {read},导入 {imported},拒绝 {rejected},跳过 {skipped};成员 {members},退群 {leavers}",
                       "en": "{file}: read {read}, imported {imported}, rejected {rejected}, skipped {skipped}; members "
                             "{members}, leavers {leavers}"},
    "importres.wrote": {"zh": "已写入 {messages} 条消息、{members} 行成员关系(其中 {leavers} 行有退群)、{groups} 个群、{posts} 个帖子到 {out}",
                        "en": "wrote {messages} messages, {members} membership rows ({leavers} with a leave), {groups} "
                              "group(s), {posts} posts to {out}"},
    "importres.unmatched": {"zh": "发帖计划中找不到对应运营消息的行:{n}(列在 {file} 中)",
                            "en": "posts plan rows with no matching operator message: {n} (listed in {file})"},
    "note.import_silent": {"zh": "缺少沉默成员:导出文件只包含发过言或在系统消息中出现过的成员,所以成员数偏低、按在群成员计算的比率偏高。"
                                 "请用 --roster FILE(列 `group, member, joined_at, left_at, role`)重新导入以补上他们。",
                           "en": "Silent members are missing: the export shows only members who wrote or were named in "
                                 "system messages, so member counts are too low and rates over members present too "
                                 "high. Re-import with --roster FILE (group, member, joined_at, left_at, role) to add "
                                 "them."},
    "note.import_first_seen": {"zh": "{n} 条成员关系从成员在导出中首次出现时算起,因为没有入群记录(joined_at_source 列 = first_seen):其在群时长被低估。",
                               "en": "{n} membership(s) start at the member's first appearance in the export because no "
                                     "join was recorded (column joined_at_source = first_seen): their tenure is "
                                     "understated."},
    "note.import_no_operators": {"zh": "没有标记运营人员(用 --operators FILE,或带 `role` 列的名单):针对运营帖子的分析将找不到帖子。",
                                 "en": "No operators are marked (pass --operators FILE or a roster with a role column): "
                                       "analyses of operator posts will find none."},
    # ---- churn backtest (analyses.churn.ChurnBacktest)
    "churnbt.intro": {"zh": "流失 = {definition}。模型在截止日 {train} 训练,{calibrated},在 {date} 评估(结果看到 {outcomes})。",
                      "en": "Churn = {definition}. Models were trained on cutoffs {train}, {calibrated} and evaluated "
                            "on {date} (outcomes to {outcomes})."},
    "churnbt.calibrated_on": {"zh": "在 {date} 校准", "en": "calibrated on {date}"},
    "churnbt.cross_fitted": {"zh": "在同一截止日按群交叉拟合校准", "en": "calibrated by cross-fitting across groups at that same cutoff"},
    "churnbt.pop.active": {"zh": "之前 {days} 天内活跃的成员", "en": "members active in the previous {days} days"},
    "churnbt.pop.all": {"zh": "全部在群成员", "en": "all members present"},
    "churnbt.on": {"zh": "对{population}(n = {n},{share} 流失),{model}的 ROC AUC 为 {auc}",
                   "en": "On {population} (n = {n}, {share} churned), {model} has ROC AUC {auc}"},
    "churnbt.vs_recency": {"zh": ",只看最近发言时间为 {auc}", "en": " vs {auc} for recency alone"},
    "churnbt.gain": {"zh": "(提升 {delta},按群配对自助法的 95% 区间 {low} 至 {high}:{verdict})",
                     "en": " (gain {delta}, 95% CI {low} to {high} by a paired bootstrap over groups: {verdict})"},
    "churnbt.verdict.gain": {"zh": "确有提升", "en": "a real gain"},
    "churnbt.verdict.worse": {"zh": "更差", "en": "worse"},
    "churnbt.verdict.same": {"zh": "与只看最近发言时间无法区分", "en": "not distinguishable from recency alone"},
    "churnbt.bgnbd": {"zh": ";BG/NBD 的“不再活跃”概率为 {auc}", "en": "; BG/NBD P(no activity) has {auc}"},
    "churnbt.capture": {"zh": "。风险排名前 10% 覆盖了 {capture} 的流失者(提升倍数 {lift})。",
                        "en": ". The top 10% of its risk ranking holds {capture} of the churners (lift {lift})."},
}
