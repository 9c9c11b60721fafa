"""The data-overview report: key numbers first, readable group trends, hours, message types."""
from __future__ import annotations

import numpy as np
import pandas as pd

from groupstats.reports.card import ConclusionCard
from groupstats.reports.i18n import CATALOGUE, fmt_date, fmt_num, fmt_pct, join, t

#: Groups drawn in their own panel; the rest are summed as "others".
TOP_GROUPS = 8


def card(summary, daily: pd.DataFrame, tables_present: list[str], all_tables: list[str], lang: str = "zh"):
    tz = str(summary.dataset.tz)
    n_days = int(daily["date"].nunique())
    zero = int((daily["messages"] == 0).sum())
    missing = [n for n in all_tables if n not in tables_present]
    key = t("overview.key", lang, groups=fmt_num(summary.n_groups, lang), members=fmt_num(summary.n_members, lang),
            messages=fmt_num(summary.rows.get("messages", 0), lang), days=fmt_num(n_days, lang),
            start=fmt_date(summary.start, tz), end=fmt_date(summary.end, tz))
    answer = "supported" if not missing else "needs_more_data"
    nxt = t("overview.next_all", lang) if not missing else t("overview.next_missing", lang,
                                                             tables=join(missing, lang))
    caveat = (t("overview.caveat_zero", lang, n=fmt_num(zero, lang), share=fmt_pct(zero / max(len(daily), 1), lang))
              if zero else t("overview.caveat_none", lang))
    return ConclusionCard(question=t("overview.question", lang), answer=answer, key_number=key, next_step=nxt,
                          caveat=caveat, lang=lang)


def key_numbers(summary, daily: pd.DataFrame, lang: str) -> list[tuple[str, str]]:
    return [(t("overview.k.groups", lang), fmt_num(summary.n_groups, lang)),
            (t("overview.k.members", lang), fmt_num(summary.n_members, lang)),
            (t("overview.k.messages", lang), fmt_num(summary.rows.get("messages", 0), lang)),
            (t("overview.k.days", lang), fmt_num(daily["date"].nunique(), lang)),
            (t("overview.k.median", lang), fmt_num(daily["messages"].median(), lang)),
            (t("overview.k.posts", lang), fmt_num(summary.rows.get("posts", 0), lang))]


def plot_trends(daily: pd.DataFrame, lang: str, top: int = TOP_GROUPS):
    """Weekly messages per day: one small panel per top group (by total), the rest as 'others'."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    d = daily.assign(week=pd.to_datetime(daily["date"]).dt.to_period("W-SUN").dt.start_time)
    totals = d.groupby("group_id")["messages"].sum().sort_values(ascending=False)
    keep = list(totals.index[:top])
    d["panel"] = np.where(d["group_id"].isin(keep), d["group_id"], t("word.others", lang))
    weekly = d.groupby(["panel", "week", "group_id"])["messages"].mean().groupby(["panel", "week"]).sum().reset_index()
    panels = keep + ([t("word.others", lang)] if len(totals) > top else [])
    ncols = 5
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.1 * nrows + 0.6), sharex=True, squeeze=False)
    for ax, name in zip(axes.flat, panels):
        sub = weekly.loc[weekly["panel"] == name]
        ax.plot(sub["week"], sub["messages"], color="tab:gray" if name not in keep else "tab:blue", lw=1.4)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{name}" + ("" if name in keep else t("overview.fig.n_others", lang, n=len(totals) - top)),
                     fontsize=9)
        ax.xaxis.set_major_locator(mdates.MonthLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(t("overview.fig.trends", lang), fontsize=11)
    fig.supylabel(t("overview.fig.per_day", lang), fontsize=9)
    fig.tight_layout()
    return fig


def show_per_group(daily: pd.DataFrame, page) -> None:
    per_group = (daily.groupby("group_id")["messages"]
                 .agg(total="sum", mean="mean", median="median", zero_days=lambda s: int((s == 0).sum()))
                 .sort_values("total", ascending=False).reset_index())
    page.table(per_group, [("group_id", "col.group", "text"), ("total", "overview.col.total", "int"),
                           ("mean", "overview.col.mean", "num"), ("median", "overview.col.median", "num"),
                           ("zero_days", "overview.col.zero_days", "int")])


def plot_hours(profile: pd.DataFrame, lang: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    prof = profile.copy()
    prof["day"] = [t(f"overview.daytype.{d}", lang) if f"overview.daytype.{d}" in CATALOGUE else d
                   for d in prof["day_type"]]
    prof["pct"] = 100 * prof["share"]
    fig, ax = plt.subplots(figsize=(11, 3.8))
    sns.barplot(data=prof, x="hour", y="pct", hue="day", ax=ax)
    ax.set(title=t("overview.fig.hours", lang), xlabel=t("overview.fig.hour", lang),
           ylabel=t("overview.fig.share", lang))
    ax.legend(title="")
    fig.tight_layout()
    return fig


def show_types(messages: pd.DataFrame, page) -> None:
    lang = page.lang
    types = messages["msg_type"].value_counts().rename_axis("msg_type").reset_index(name="n")
    types["share"] = types["n"] / types["n"].sum()
    types["name"] = [t(f"msgtype.{m}", lang) if f"msgtype.{m}" in CATALOGUE else m for m in types["msg_type"]]
    page.table(types, [("name", "overview.col.type", "text"), ("n", "overview.col.messages", "int"),
                       ("share", "col.share", "pct")])


def show_tables(present: pd.DataFrame, page) -> None:
    present = present.assign(name=[t(f"table.{n}", page.lang) if f"table.{n}" in CATALOGUE else n
                                   for n in present["table"]])
    page.table(present, [("name", "overview.col.table", "text"), ("table", "overview.col.file", "code"), ("present", "overview.col.present", "bool"),
                         ("rows", "overview.col.rows", "int"), ("model_columns", "overview.col.model_columns", "int"),
                         ("extra_columns", "overview.col.extra_columns", "int")])
