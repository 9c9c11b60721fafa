"""The index page of a batch: one line per report, in the order of the workflow, with its headline and
verdict."""
from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path

from groupstats.reports.runner.header import _fmt_value, local_time
from groupstats.reports.runner.outcomes import ReportBatch


#: Order of the reports on the index: the audit of the playbook first, then the workflow
#: (overview, health, segments, churn, experiments), then the others by name.
REPORT_ORDER = ("playbook_audit", "data_overview", "group_health", "member_segmentation", "churn_risk",
                "posting_time_ab", "content_mix", "experiment_monitor", "plan_slots")


def report_order_key(name: str) -> tuple[int, str]:
    stem = name.split("--", 1)[0]
    return (REPORT_ORDER.index(stem) if stem in REPORT_ORDER else len(REPORT_ORDER), name)


def write_index(batch: ReportBatch, embed_font: bool = True) -> Path:
    """Write ``index.html`` (for people) and ``index.json`` (for programs) of a batch.

    One line per report in the workflow order (:data:`REPORT_ORDER`), with its headline result
    and verdict badge; times in the dataset's time zone; in the reports' language.
    """
    from groupstats import __version__
    from groupstats.reports.card import _BADGE
    from groupstats.reports.i18n import LANGS, fmt_num, t

    esc = html.escape
    langs = [o.lang for o in batch.outcomes if o.lang in LANGS]
    lang = max(set(langs), key=langs.count) if langs else "zh"
    tzs = [i.get("tz") for i in batch.datasets.values() if i.get("tz")]
    tz = tzs[0] if tzs else None
    rows = []
    for o in sorted(batch.outcomes, key=lambda o: report_order_key(o.name)):
        params = "<br>".join(f"<code>{esc(k)} = {esc(_fmt_value(v))}</code>" for k, v in o.parameters.items()
                             if k != "data_path") or esc(t("index.defaults", lang))
        h = o.headline or {}
        if o.status == "not_applicable":
            verdict = (f'<span class="not-applicable">{esc(t("index.not_applicable", lang))}</span>'
                       f'<div class="reason">{esc(o.reason or "")}</div>')
        elif not o.ok:
            verdict = (f'<span class="failed">{esc(t("index.failed", lang))}</span>'
                       f'<div class="error">{esc(o.error or "")}</div>')
        elif h.get("answer") in _BADGE:
            verdict = (f'<span class="badge" data-answer="{esc(h["answer"])}" style="background:'
                       f'{_BADGE[h["answer"]]}">{esc(h.get("verdict") or h["answer"])}</span>')
        else:
            verdict = f'<span class="ok">{esc(t("header.ok", lang))}</span>'
        headline = esc(h.get("text") or "")
        link = (f'<a href="{esc(Path(o.html).name)}">{esc(o.title)}</a>' if o.html else esc(o.title))
        nb_link = f'<a href="{esc(Path(o.ipynb).name)}">{esc(Path(o.ipynb).name)}</a>' if o.ipynb else ""
        data = esc(o.parameters.get("data_path", ""))
        row_class = {"ok": "row-ok", "not_applicable": "row-not-applicable"}.get(o.status, "row-failed")
        rows.append(f"<tr class='{row_class}'><td>{link}<div class='name'>{esc(o.name)}</div>"
                    f"</td><td class='verdict'>{verdict}</td><td>{headline}</td>"
                    f"<td class='details'>{params}<div class='data'>{data}</div>"
                    f"<div class='data'>{esc(t('index.started', lang, when=local_time(o.started_at, tz)))} &middot; "
                    f"<span class='num'>{esc(t('index.runtime', lang, seconds=f'{o.seconds:.1f}'))}</span></div>"
                    f"<div class='data'>{nb_link}</div></td></tr>")
    datasets = "".join(
        f"<li><code>{esc(p)}</code>: " + (
            esc(t("header.range", lang, start=i["start"], end=i["end"], tz=i["tz"], n=fmt_num(i["n_messages"], lang)))
            if "error" not in i else esc(t("header.unavailable", lang, error=i["error"]))) + "</li>"
        for p, i in batch.datasets.items())
    n_bad, n_na = len(batch.failures), len(batch.not_applicable)
    n_run = len(batch.outcomes) - n_na
    verdict = (f"<p class='ok'>{esc(t('index.all_ok', lang, n=n_run))}</p>" if not n_bad else
               f"<p class='failed'>{esc(t('index.some_failed', lang, bad=n_bad, n=n_run))}</p>")
    if n_na:
        verdict += f"<p class='not-applicable'>{esc(t('index.n_not_applicable', lang, n=n_na))}</p>"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    page = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8"><title>{esc(t('index.title', lang))}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, "Noto Sans CJK SC", "PingFang SC",
       "Microsoft YaHei", sans-serif; margin: 2em auto; max-width: 75em; color: #222; padding: 0 1em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .5em .6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }} .num {{ white-space: nowrap; }}
td.verdict {{ white-space: nowrap; }} td.details {{ font-size: .85em; max-width: 22em; overflow-wrap: anywhere; }}
.badge {{ color: #fff; border-radius: 1em; padding: .15em .7em; font-size: .85em; }}
.ok {{ color: #1a7f37; }} .failed {{ color: #c62828; font-weight: 600; }}
.error {{ color: #c62828; font-weight: normal; font-size: .9em; max-width: 30em; white-space: normal; }}
.not-applicable {{ color: #777; font-weight: 600; }}
.reason {{ color: #555; font-weight: normal; font-size: .9em; max-width: 30em; white-space: normal; }}
.name, .data {{ color: #777; font-size: .85em; }} code {{ font-size: .9em; }}
</style></head><body>
<h1>{esc(t('index.title', lang))}</h1>
<p>{esc(t('index.datasets', lang))}:</p><ul>{datasets}</ul>
<p>groupstats {esc(__version__)} &middot; kernel {esc(batch.kernel)} (<code>{esc(batch.python)}</code>) &middot;
{esc(t('index.generated', lang, when=local_time(now, tz)))} &middot; {esc(t('index.total', lang, seconds=f'{batch.seconds:.0f}'))}</p>
{verdict}
<table><thead><tr><th>{esc(t('index.report', lang))}</th><th>{esc(t('index.verdict', lang))}</th>
<th>{esc(t('index.headline', lang))}</th><th>{esc(t('index.details', lang))}</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
    from groupstats.reports.webfont import embed_cjk_font

    batch.index_path.write_text(embed_cjk_font(page) if embed_font else page, encoding="utf-8")
    (batch.out_dir / "index.json").write_text(json.dumps(batch.to_dict(), indent=2, ensure_ascii=False,
                                                         default=str), encoding="utf-8")
    return batch.index_path
