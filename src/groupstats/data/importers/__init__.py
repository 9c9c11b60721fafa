"""Importers: real chat exports -> pseudonymised canonical datasets.

>>> from groupstats.data.importers import import_chats
>>> report = import_chats("wechatmsg", ["群聊.csv"], out="data/mygroup",
...                       salt_file="~/.config/groupstats/import-salt.key")   # doctest: +SKIP
>>> print(report.to_text())                                                    # doctest: +SKIP

Formats (one module each): ``wechatmsg`` (WeChatMsg/留痕 CSV), ``wecom``
(WeCom session archive, JSON lines), ``telegram`` (Telegram Desktop
``result.json``), ``whatsapp`` (WhatsApp text export), ``csv`` (any CSV/Excel
with a column mapping). See ``docs/importing.md``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from groupstats.errors import ParameterError
from groupstats.data.schema import DEFAULT_TZ
from groupstats.data.importers.common import (DEFAULT_POST_TOLERANCE, ImportOptions, ImportReport, Parsed, RejectReason,
                     SaltCreatedWarning, SkipReason, assemble, reasons_table)

FORMATS = ("wechatmsg", "wecom", "telegram", "whatsapp", "csv")

__all__ = ["FORMATS", "ImportReport", "RejectReason", "SkipReason", "SaltCreatedWarning", "import_chats",
           "parse_inputs", "reasons_table"]


def parse_inputs(format: str, inputs: list[str | os.PathLike], tz: str = DEFAULT_TZ, *,
                 date_order: str | None = None, mapping: dict | str | None = None,
                 member_changes: str | os.PathLike | None = None) -> Parsed:
    """Parse every input file of one format and merge them (source ids, raw text)."""
    if format not in FORMATS:
        raise ParameterError(f"Unknown format {format!r}; choose one of {', '.join(FORMATS)}.")
    if not inputs:
        raise ParameterError("Give at least one input file.")
    for item in inputs:
        if not Path(item).exists():
            raise ParameterError(f"Input file {item} does not exist.")
    if date_order not in (None, "dmy", "mdy"):
        raise ParameterError(f"--date-order must be dmy or mdy, not {date_order!r}.")
    if member_changes and format != "wecom":
        raise ParameterError("--member-changes is for the wecom format only (the other exports record joins "
                             "and leaves themselves).")
    if mapping is not None and format != "csv":
        raise ParameterError("--mapping/--map are for the csv format only.")
    parsed = Parsed()
    if format == "wechatmsg":
        from groupstats.data.importers import wechatmsg as module
        parsed.extend(module.parse_files(inputs, tz))
    elif format == "wecom":
        from groupstats.data.importers import wecom as module
        for item in inputs:
            parsed.extend(module.parse(item, tz))
        if member_changes:
            parsed.extend(module.parse_member_changes(member_changes, tz))
    elif format == "telegram":
        from groupstats.data.importers import telegram as module
        for item in inputs:
            parsed.extend(module.parse(item, tz))
    elif format == "whatsapp":
        from groupstats.data.importers import whatsapp as module
        for item in inputs:
            parsed.extend(module.parse(item, tz, date_order=date_order))
    else:
        from groupstats.data.importers import generic_csv as module
        spec = module.load_mapping(mapping)
        for item in inputs:
            parsed.extend(module.parse(item, tz, spec))
    _check_unique_source_names(inputs)
    return parsed


def _check_unique_source_names(inputs) -> None:
    names = [Path(i).name for i in inputs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ParameterError(f"Several inputs share the file name {', '.join(dupes)}; rejected.csv and the "
                             f"counts identify rows by file name and row number, so rename them first.")


def import_chats(format: str, inputs: list[str | os.PathLike], out: str | os.PathLike, *,
                 tz: str = DEFAULT_TZ, salt_file: str | os.PathLike | None = None, keep_text: bool = False,
                 roster: str | os.PathLike | None = None, operators: str | os.PathLike | None = None,
                 posts_plan: str | os.PathLike | None = None, date_order: str | None = None,
                 mapping: dict | str | None = None, member_changes: str | os.PathLike | None = None,
                 post_tolerance: str | pd.Timedelta = DEFAULT_POST_TOLERANCE,
                 out_format: str = "parquet") -> ImportReport:
    """Import chat exports into a validated, pseudonymised dataset folder.

    Parameters
    ----------
    format : {'wechatmsg', 'wecom', 'telegram', 'whatsapp', 'csv'}
    inputs : list of paths
        Export files; several groups or several exports of one group merge.
    out : path
        Dataset folder to write. If it holds an earlier import (same salt),
        the new rows are merged in and messages already there are skipped.
    tz : str
        Timezone of the dataset and of naive times in the inputs.
    salt_file : path, optional
        Salt of the keyed hash; created on first use (default
        ``$GROUPSTATS_SALT_FILE`` or ``~/.config/groupstats/import-salt.key``).
    keep_text : bool
        Keep message text and display names (default: dropped).
    roster, operators, posts_plan : paths, optional
        See ``docs/importing.md``.
    date_order : {'dmy', 'mdy'}, optional
        WhatsApp only: order of ambiguous dates.
    mapping : dict or path, optional
        csv only: column mapping.
    member_changes : path, optional
        wecom only: group member additions and removals.
    post_tolerance : str or Timedelta
        Largest gap between a planned post and the operator message matched to it.

    Returns
    -------
    ImportReport
    """
    from groupstats.data.dataset import _check_tz

    _check_tz(tz)
    try:
        tolerance = pd.Timedelta(post_tolerance)
    except ValueError as exc:
        raise ParameterError(f"--post-tolerance {post_tolerance!r} is not a duration (e.g. 30min).") from exc
    if out_format not in ("parquet", "csv"):
        raise ParameterError(f"--format must be parquet or csv, not {out_format!r}.")
    parsed = parse_inputs(format, inputs, tz, date_order=date_order, mapping=mapping,
                          member_changes=member_changes)
    options = ImportOptions(format=format, tz=tz, salt_file=None if salt_file is None else str(salt_file),
                            keep_text=keep_text, roster=roster, operators=operators, posts_plan=posts_plan,
                            post_tolerance=tolerance, out_format=out_format)
    return assemble(parsed, options, out)
