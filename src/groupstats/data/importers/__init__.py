"""Importers: real chat exports -> pseudonymised canonical datasets.

>>> from groupstats.data.importers import import_chats
>>> report = import_chats("wechatmsg", ["群聊.csv"], out="data/mygroup",
...                       salt_file="~/.config/groupstats/import-salt.key")   # doctest: +SKIP
>>> print(report.to_text())                                                    # doctest: +SKIP

Formats (one module each): ``wechatmsg`` (WeChatMsg/MemoTrace 留痕 CSV, current
and 2023-24 layouts), ``pywxdump`` (PyWxDump CSV, both layouts), ``wecom``
(WeCom session archive, JSON lines), ``telegram`` (Telegram Desktop
``result.json``), ``whatsapp`` (WhatsApp text export), ``csv`` (any CSV/Excel
with a column mapping); ``auto`` picks one per file from its shape
(:mod:`~groupstats.data.importers.detect`). See ``docs/importing.md``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from groupstats.errors import ParameterError
from groupstats.data.schema import DEFAULT_TZ
from groupstats.data.importers.assemble import DEFAULT_POST_TOLERANCE, ImportOptions, ImportReport, assemble
from groupstats.data.importers.pseudonyms import SaltCreatedWarning
from groupstats.data.importers.rows import Parsed, RejectReason, SkipReason, labelled_sources, reasons_table

_SOURCE_LABELS_ACTIVE: list = []  # set while one import labels its inputs

FORMATS = ("wechatmsg", "pywxdump", "wecom", "telegram", "whatsapp", "csv")
#: Accepted by ``import``: a format, or ``auto`` (detected per file).
FORMAT_CHOICES = ("auto", *FORMATS)

__all__ = ["FORMATS", "FORMAT_CHOICES", "detect_formats", "ImportReport", "RejectReason", "SkipReason", "SaltCreatedWarning", "import_chats",
           "parse_inputs", "reasons_table"]


def detect_formats(inputs: list[str | os.PathLike]) -> dict[str, list]:
    """``import auto``: the importer of each input (refusing, exit 2, files no importer fits)."""
    from groupstats.data.importers.detect import resolve_auto

    by_format: dict[str, list] = {}
    for item in inputs:
        by_format.setdefault(resolve_auto(item), []).append(item)
    return by_format


def parse_inputs(format: str, inputs: list[str | os.PathLike], tz: str = DEFAULT_TZ, *,
                 date_order: str | None = None, mapping: dict | str | None = None,
                 member_changes: str | os.PathLike | None = None, group_id: str | None = None) -> Parsed:
    """Parse every input file of one format (or ``auto``) and merge them (source ids, raw text).

    ``group_id`` puts every row in that one group (its source id, pseudonymised like the others), instead
    of the group each export names or that its content identifies.
    """
    if format not in FORMAT_CHOICES:
        raise ParameterError(f"Unknown format {format!r}; choose one of {', '.join(FORMAT_CHOICES)}.")
    if not inputs:
        raise ParameterError("Give at least one input file.")
    for item in inputs:
        if not Path(item).exists():
            raise ParameterError(f"Input file {item} does not exist.")
    if group_id is not None and not str(group_id).strip():
        raise ParameterError("--group-id must not be empty.")
    if not _SOURCE_LABELS_ACTIVE:
        with labelled_sources(inputs):
            _SOURCE_LABELS_ACTIVE.append(True)
            try:
                return parse_inputs(format, inputs, tz, date_order=date_order, mapping=mapping,
                                    member_changes=member_changes, group_id=group_id)
            finally:
                _SOURCE_LABELS_ACTIVE.pop()
    if format == "auto":
        if mapping is not None:
            raise ParameterError("--mapping/--map are for the csv format: use `groupstats import csv ...`.")
        parsed = Parsed()
        for fmt, items in detect_formats(inputs).items():
            parsed.extend(parse_inputs(fmt, items, tz, date_order=date_order,
                                       member_changes=member_changes if fmt == "wecom" else None))
        _check_unique_source_names(inputs)
        return _override_group(parsed, group_id)
    from groupstats.data.importers.detect import check_named

    for item in inputs:
        check_named(item, format)
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
    elif format == "pywxdump":
        from groupstats.data.importers import pywxdump as module
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
    return _override_group(parsed, group_id)


def _override_group(parsed: Parsed, group_id: str | None) -> Parsed:
    """``--group-id``: every row of the inputs in that one group."""
    if group_id is None:
        return parsed
    group_id = str(group_id).strip()
    for frame in (parsed.messages, parsed.events, parsed.rejected):
        if len(frame):
            frame["group"] = group_id
    names = [n for n in parsed.groups.values() if n]
    parsed.groups = {group_id: names[0] if names else group_id}
    parsed.roles = sorted({(group_id, member, role) for _, member, role in parsed.roles})
    return parsed


def _check_unique_source_names(inputs) -> None:
    resolved = [str(Path(i).resolve()) for i in inputs]
    dupes = sorted({Path(r).name for r in resolved if resolved.count(r) > 1})
    if dupes:
        raise ParameterError(f"The input file {', '.join(dupes)} is given more than once.")


def import_chats(format: str, inputs: list[str | os.PathLike], out: str | os.PathLike, *,
                 tz: str = DEFAULT_TZ, salt_file: str | os.PathLike | None = None, keep_text: bool = False,
                 roster: str | os.PathLike | None = None, operators: str | os.PathLike | None = None,
                 posts_plan: str | os.PathLike | None = None, date_order: str | None = None,
                 mapping: dict | str | None = None, member_changes: str | os.PathLike | None = None,
                 post_tolerance: str | pd.Timedelta = DEFAULT_POST_TOLERANCE,
                 out_format: str = "parquet", group_id: str | None = None) -> ImportReport:
    """Import chat exports into a validated, pseudonymised dataset folder.

    Parameters
    ----------
    format : {'auto', 'wechatmsg', 'pywxdump', 'wecom', 'telegram', 'whatsapp', 'csv'}
        ``auto`` detects each file's format from its shape and refuses (exit 2)
        files no importer reads, saying what they are.
    inputs : list of paths
        Export files; several groups or several exports of one group merge.
        Each chat is identified by its own id or, where the export has none
        (WhatsApp, MemoTrace), by its content, never by the file's name.
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
    group_id : str, optional
        Put every input row in this one group (its source id: pseudonymised
        like the others, and the name to use in a roster or posts plan).

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
    if format == "auto":
        formats = sorted(detect_formats(inputs))
        format_name = formats[0] if len(formats) == 1 else "+".join(formats)
    else:
        format_name = format
    parsed = parse_inputs(format, inputs, tz, date_order=date_order, mapping=mapping,
                          member_changes=member_changes, group_id=group_id)
    options = ImportOptions(format=format_name, tz=tz, salt_file=None if salt_file is None else str(salt_file),
                            keep_text=keep_text, roster=roster, operators=operators, posts_plan=posts_plan,
                            post_tolerance=tolerance, out_format=out_format)
    return assemble(parsed, options, out)
