"""Catalogue of the experiment report pages: posting-time A/B, content mix, planning."""
from __future__ import annotations

ENTRIES: dict[str, dict[str, str]] = {
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
    "ab.caveat": {"zh": "本实验能以 80% 把握发现的最小效应(每项比较各自计算,同效应表的“最小可检测效应”列):{mdes};"
                        "更小的差异无法排除。",
                  "en": "The smallest effect this experiment could detect with 80% power, per comparison (as in "
                        "the effects table's smallest detectable effect column): {mdes}; smaller differences are "
                        "not ruled out."},
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
    # ---- content mix
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
    # ---- planning
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
    "plan.schedule_note": {"zh": "每个群每周轮换一个时段,按群的人数分层平衡;共 {n} 周。写入实验分组表(assignments)即可开始。",
                           "en": "Each group changes slot every week, balanced within strata of group size; {n} "
                                 "weeks. Write it to the assignments table to start."},
    "plan.fig.title": {"zh": "实验越长、群越多,能发现的效应越小", "en": "Longer tests with more groups detect smaller effects"},
    "plan.fig.x": {"zh": "实验周数", "en": "weeks of testing"},
    "plan.fig.y": {"zh": "最小可检测效应(%)", "en": "smallest detectable effect (%)"},
    "plan.fig.groups": {"zh": "{n} 个群", "en": "{n} groups"},
    "plan.fig.simulated": {"zh": "模拟值(现有群)", "en": "simulated (current groups)"},
    "plan.fig.target": {"zh": "目标效应 {target}", "en": "target effect {target}"},
}
