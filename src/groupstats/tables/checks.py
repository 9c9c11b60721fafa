"""Dataset checks that are aggregations, defined once as Ibis expressions.

The rules of the data model that a count answers ("how many rows break it?") run
in the engine on a :class:`~groupstats.engine.Source`, for a dataset folder
(DuckDB or Spark read the files; nothing is loaded into pandas) and for the
tables of an in-memory dataset alike (:func:`check_frames`: the coerced pandas
frames are registered in DuckDB and scanned in place):

- rows: required values present, closed categories, non-negative counts, unique keys;
- references: groups, senders' memberships, quoted messages, posts' messages, events'
  posts; ``left_at`` not before ``joined_at``; assignments ending after they start;
  no overlapping memberships or assignments.

Each rule is one boolean expression per row of its table (:func:`rules`), counted
in one aggregation per table. On messages and events (millions of rows) the reference
rules are evaluated once per distinct key instead of once per row: one pass groups the
rows by the keys the references read (``group_id, member_id``; ``group_id, post_id``),
counting the per-row rules on the way, and the references are looked up for the few
thousand keys (:func:`_big_table_counts`). Unique ``message_id`` and references to
messages (``reply_to``, posts' ``message_id``) are checked on the ids apart
(:mod:`groupstats.tables.message_ids`).
A row rule that the Parquet statistics of a folder's files prove for every row (no NULL in a
required column, no negative count: :mod:`groupstats.tables.parquet_statistics`) is not counted;
at 10M messages that spares decoding the ~10M unique message ids and most of the events' columns.
Only for rules that fail are details fetched: the first rows (numbered from 1, in
file order, where the engine numbers the rows: a single Parquet file read by
DuckDB, an in-memory table) and their offending values, e.g.
``group_id 'grp_nowhere' (row 5)``.

Per-row type and format rules (ISO 8601 timestamps, whole numbers, readable
files) are checked where the raw files are parsed (:mod:`groupstats.data.validation`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from groupstats.data.schema import TABLE_NAMES, TABLES
from groupstats.errors import DataValidationError, Problem
from groupstats.tables import message_ids
from groupstats.tables.parquet_statistics import NO_NULLS, NOT_NEGATIVE, proved, table_files, table_statistics

#: Tables checked each in a query of its own (millions of rows; the others share one query).
BIG_TABLES = ("messages", "events")
ROW = "row"
REFERENCE = "reference"
#: Column holding the 0-based row number of a table's file (DuckDB's ``file_row_number``).
ROW_NUMBER = "file_row_number"
#: Rows named per problem (the message shows up to Problem.MAX_VALUES_SHOWN of them with values).
ROWS_NAMED = 10


@dataclass(frozen=True)
class Rule:
    """One rule of a table: rows where ``offending(table)`` is true break it.

    ``columns`` are the data-model columns the message names; ``shown`` the (canonical) columns whose
    values are shown for each offending row; ``kind`` is ``"row"`` or ``"reference"`` (reference rules
    are checked on in-memory tables only once the row rules pass).
    """

    table: str
    key: str
    column: str
    message: str
    offending: Callable
    shown: tuple[str, ...]
    kind: str = ROW
    #: a closed category: the message lists the unknown values found
    allowed: tuple[str, ...] | None = None
    #: the only columns ``offending`` reads (a reference looked up by key): on a big table it is
    #: evaluated once per distinct key, weighted by its rows (see :func:`_big_table_counts`)
    by: tuple[str, ...] = ()
    #: what the rule asks of one stored column, which a Parquet file's statistics may prove for every
    #: row (:mod:`groupstats.tables.parquet_statistics`): the rule is then not counted
    proof: tuple[str, str] | None = None


def _canonical(col: str, spec) -> str:
    """The column's name in :meth:`Source.table` (timestamps ``x_at`` become ``x_us``)."""
    return col[:-3] + "_us" if col in spec.timestamps and col.endswith("_at") else col


def _file(src, name: str, files: dict | None = None) -> str:
    if files and name in files:
        return files[name]
    path = getattr(src, "path", None)
    if path is None:
        return f"<{name} table>"
    single = path / f"{name}.parquet"
    if single.exists():
        return str(single)
    csv = path / f"{name}.csv"
    return str(csv) if csv.exists() else str(path / name)


# ------------------------------------------------------------------------------------------
# the rules
# ------------------------------------------------------------------------------------------
def bases(src, names: list[str]) -> dict:
    """Per table, the Ibis table the rules are evaluated on: :meth:`Source.table`, plus for messages
    a flag of a sender's membership and for members/assignments the end of the previous interval
    of the same key (for the overlap rules)."""
    import ibis

    out = {}
    for name in names:
        t = src.table(name)
        if name == "messages" and src.has("members"):
            t = _with_member_flag(src, t)
        overlap = _OVERLAPS.get(name)
        if overlap is not None and src.has(name):
            by, start, end, _ = overlap
            order = [t[start], t[ROW_NUMBER]] if ROW_NUMBER in t.columns else [t[start]]
            w = ibis.window(group_by=[t[c] for c in by], order_by=order)
            t = t.mutate(_prev_end=t[end].lag().over(w), _k=ibis.row_number().over(w))
        out[name] = t
    return out


def _with_member_flag(src, t):
    """``t`` (with ``group_id`` and ``member_id``) and ``_member``: 1 where members has that pair."""
    import ibis

    m = src.table("members")
    keys = m.select("group_id", "member_id").distinct().mutate(_member=ibis.literal(1))
    return t.left_join(keys, ["group_id", "member_id"]).drop("group_id_right", "member_id_right")


_OVERLAPS = {  # table: (key, start, end, message)
    "members": (("group_id", "member_id"), "joined_us", "left_us",
                "memberships of one member in one group overlap (a rejoin must start after the previous left_at)"),
    "assignments": (("experiment_id", "group_id"), "start_us", "end_us",
                    "assignments overlap for one group and experiment"),
}


def rules(src, names: list[str]) -> list[Rule]:
    """Every per-row rule of the tables ``names`` of ``src`` (uniqueness of keys and the references
    to messages are checked apart: :func:`_key_tables` and :mod:`groupstats.tables.message_ids`)."""
    out: list[Rule] = []
    have_groups = src.has("groups")
    groups = src.table("groups").select("group_id") if have_groups else None
    for name in names:
        spec = TABLES[name]
        raw_cols = set(src.raw[name].columns)
        for col in spec.required:
            c = _canonical(col, spec)
            out.append(Rule(name, f"null:{col}", col, "empty values in a required column",
                            lambda t, c=c: t[c].isnull(), (c,), proof=(NO_NULLS, col)))
        for col, allowed in spec.categories.items():
            out.append(Rule(name, f"category:{col}", col, "unknown categories",
                            lambda t, c=col, a=allowed: t[c].notnull() & ~t[c].isin(a), (col,), allowed=allowed))
        for col in spec.ints:
            if col in raw_cols:
                out.append(Rule(name, f"negative:{col}", col, "negative counts",
                                lambda t, c=col: t[c].notnull() & (t[c] < 0), (col,), proof=(NOT_NEGATIVE, col)))
        if have_groups and name in ("members", "messages", "posts", "events", "assignments"):
            out.append(Rule(name, "ref:group_id", "group_id", "references to groups not in the groups table",
                            lambda t, g=groups: t.group_id.notnull() & ~t.group_id.isin(g.group_id),
                            ("group_id",), REFERENCE, by=("group_id",)))
        if name == "messages" and src.has("members"):
            out.append(Rule(name, "ref:member", "member_id", "senders with no row in members for that group",
                            lambda t: t._member.isnull(), ("member_id",), REFERENCE, by=("group_id", "member_id")))
        if name == "events":
            if src.has("posts"):
                posts = src.table("posts").select(_post_id="post_id")
                out.append(Rule(name, "ref:post_id", "post_id", "references to posts not in posts",
                                lambda t, p=posts: t.post_id.notnull() & ~t.post_id.isin(p._post_id),
                                ("post_id",), REFERENCE, by=("post_id",)))
            else:
                out.append(Rule(name, "ref:post_id", "post_id",
                                "references to posts not in posts (there is no posts table)",
                                lambda t: t.post_id.notnull(), ("post_id",), REFERENCE, by=("post_id",)))
        if name == "members":
            out.append(Rule(name, "order:left", "joined_at, left_at", "left_at before joined_at",
                            lambda t: t.left_us.notnull() & (t.left_us < t.joined_us),
                            ("joined_us", "left_us"), REFERENCE))
        if name == "assignments":
            out.append(Rule(name, "order:end", "start_at, end_at", "end_at not after start_at",
                            lambda t: t.end_us <= t.start_us, ("start_us", "end_us"), REFERENCE))
        if name in _OVERLAPS:
            by, start, end, message = _OVERLAPS[name]
            out.append(Rule(name, "overlap", ", ".join([*by, start[:-3] + "_at", end[:-3] + "_at"]), message,
                            lambda t, s=start: (t._k > 0) & (t._prev_end.isnull() | (t[s] < t._prev_end)),
                            (*by, start, end), REFERENCE))
    return out


def _key_tables(src, names: list[str]) -> dict:
    """Per keyed table, (key columns, Ibis table of (key, _n) for keys on more than one row)."""
    out = {}
    for name in names:
        spec = TABLES[name]
        if not spec.key or name == "messages":
            continue
        t = src.table(name)
        key = [_canonical(c, spec) for c in spec.key]
        out[name] = (key, t.group_by(key).aggregate(_n=t.count()).filter(lambda g: g._n > 1))
    return out


def _big_table_counts(src, name: str, table_rules: list):
    """One-row aggregation: rows of table ``name`` and, per rule ``(i, rule)``, its offending rows
    (``rule_i``), or for a closed category a screen (``screen_i``, see below).

    The reference rules (``rule.by``) are evaluated once per distinct key: the rows are grouped by
    the keys they read (:func:`_groupings`; the per-row rules are one plain aggregation apart), and
    each key's reference is looked up once, weighted by its rows (the same counts as a lookup per row, for a few thousand lookups
    instead of millions). A closed category is screened on the column's distinct values
    (``screen_i``: how many are not allowed; reading the distinct values of a dictionary-encoded
    column costs a fraction of testing every row): only when one is not allowed are its rows
    counted (:func:`_screened_counts`).
    """
    t = src.table(name)
    screened = [(i, rule) for i, rule in table_rules if rule.allowed is not None and not rule.by]
    per_row = {f"rule_{i}": _n_offending(rule.offending(t)) for i, rule in table_rules
               if not rule.by and rule.allowed is None}
    keyed = [(i, rule) for i, rule in table_rules if rule.by]
    parts, counted = [], set()
    for by in _groupings([rule.by for _, rule in keyed]):
        these = [(i, rule) for i, rule in keyed if i not in counted and set(rule.by) <= set(by)]
        counted.update(i for i, _ in these)
        # rows per key only: the per-row rules in the grouping's states doubled its cost (~0.8 vs
        # ~0.4 s CPU for 160k keys over 10M messages); they are one plain aggregation apart
        g = t.group_by(list(by)).aggregate(_n=t.count())
        if name == "messages" and "member_id" in by:
            g = _with_member_flag(src, g)
        total = {f"{name}__n": g._n.sum()} if not parts else {}
        parts.append(g.aggregate(**total, **{f"rule_{i}": g._n.sum(where=rule.offending(g).fill_null(False))
                                             for i, rule in these}))
    if not parts or per_row:
        parts.append(t.aggregate(**({} if parts else {f"{name}__n": t.count()}), **per_row))
    for i, rule in screened:
        values = t.select(_value=t[rule.shown[0]]).distinct()
        parts.append(values.aggregate(**{f"screen_{i}": values._value.count(
            where=values._value.notnull() & ~values._value.isin(rule.allowed))}))
    return _cross(parts)


def _groupings(bys: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The keys to group a big table by for reference rules reading the columns ``bys``: each set of
    columns that no other contains (a rule is counted on the first grouping containing its columns).
    Messages: (group_id, member_id) for both the groups and the senders' memberships; events:
    group_id and post_id apart (280 and 204k keys at 10M: ~0.3 s CPU, against ~0.45 s for the
    205k pairs)."""
    sets = list(dict.fromkeys(bys))
    return [by for by in sets if not any(set(by) < set(other) for other in sets)]


def _screened_counts(src, all_rules: list, counts: dict) -> None:
    """``rule_i`` of every screened category (:func:`_big_table_counts`): 0 where every distinct
    value is allowed, else the rows with a value that is not, counted row by row."""
    for key in [k for k in counts if k.startswith("screen_")]:
        i = int(key[len("screen_"):])
        found = counts.pop(key)
        if found is None or found != found or not int(found):
            counts[f"rule_{i}"] = 0
            continue
        t = src.table(all_rules[i].table)
        counts[f"rule_{i}"] = src.scalar(_n_offending(all_rules[i].offending(t)))


def _n_offending(flag):
    return flag.fill_null(False).cast("int64").sum()


# ------------------------------------------------------------------------------------------
# running them
# ------------------------------------------------------------------------------------------
def check_source(src, names: list[str] | None = None, files: dict | None = None,
                 references: str = "always", skip_rows: dict | None = None) -> tuple[list[Problem], dict]:
    """Evaluate every aggregation rule on the tables ``names`` of ``src``; (problems, rows per table).

    Parameters
    ----------
    references : {"always", "if_clean", "never"}
        ``"if_clean"``: report the reference rules only when no row rule fails (in-memory datasets,
        as loading always did); ``"never"``: row rules only.
    skip_rows : dict, optional
        ``{(table, column): 0-based rows}`` already reported by the parser (unparseable timestamps
        become empty values, which the required-value rule does not report again).
    """
    names = [n for n in (names or TABLE_NAMES) if src.has(n)]
    base = bases(src, names)
    all_rules = rules(src, names)
    counts: dict = {f"rule_{i}": 0 for i in _proved_by_statistics(src, names, all_rules)}
    big, small = [], []  # one-row aggregations; the big tables' each run alone (bounded memory)
    for name in names:
        table_rules = [(i, rule) for i, rule in enumerate(all_rules)
                       if rule.table == name and f"rule_{i}" not in counts]
        if name in BIG_TABLES:
            big.append(_big_table_counts(src, name, table_rules))
            continue
        t = base[name]
        small.append(t.aggregate(**{f"{name}__n": t.count()},
                                 **{f"rule_{i}": _n_offending(rule.offending(t)) for i, rule in table_rules}))
    keyed = _key_tables(src, names)
    for name, (_, dups) in keyed.items():
        small.append(dups.aggregate(**{f"{name}__dup": dups._n.sum()}))
    for query in big + ([_cross(small)] if small else []):
        counts.update(src.execute(query).iloc[0].to_dict())
    _screened_counts(src, all_rules, counts)
    with_ids = "messages" in names
    dup_ids: list = []
    if with_ids:
        n_messages = counts.get("messages__n")
        n_messages = 0 if n_messages is None or n_messages != n_messages else int(n_messages)
        counts["messages__dup"], dup_ids, dangling = message_ids.check_ids(src, names, n_messages, ROWS_NAMED)
        counts.update(dangling)

    def n_of(key) -> int:
        v = counts.get(key)
        return 0 if v is None or v != v else int(v)

    rows = {name: n_of(f"{name}__n") for name in names}
    row_problems: list[Problem] = []
    ref_problems: list[Problem] = []
    for i, rule in enumerate(all_rules):
        n_bad = n_of(f"rule_{i}")
        if not n_bad:
            continue
        t = base[rule.table]
        pred = rule.offending
        skip = (skip_rows or {}).get((rule.table, rule.column)) if rule.key.startswith("null:") else None
        if skip is not None and len(skip):
            n_bad -= len(skip)  # the parser's unparseable values are empty here
            if n_bad <= 0:
                continue
            t, pred = _without_rows(src, t, skip, rule.offending)
        numbers, values = _offending(src, t, pred, rule.shown)
        message = rule.message
        if rule.allowed is not None:
            found = src.execute(t.filter(pred(t).fill_null(False)).select(rule.shown[0]).distinct()
                                .order_by(rule.shown[0]).limit(Problem.MAX_VALUES_SHOWN))[rule.shown[0]]
            message += f" {', '.join(str(v) for v in found)} (allowed: {', '.join(rule.allowed)})"
        problem = Problem(_file(src, rule.table, files), rule.column, message, numbers, n_rows=n_bad, values=values)
        if rule.kind == ROW:
            row_problems.append(problem)
        else:
            ref_problems.append((rule.table, problem))
    for name in names:
        n_dup = n_of(f"{name}__dup")
        if not n_dup:
            continue
        spec = TABLES[name]
        key = [_canonical(c, spec) for c in spec.key]
        t = base[name]
        if name == "messages":
            pred = (lambda tt, d=tuple(dup_ids): tt.message_id.isin(d))
        else:
            dups = keyed[name][1].select(*key).mutate(_dup=1)
            t = t.left_join(dups, key)
            t = t.drop(*[c for c in t.columns if c.endswith("_right")])
            pred = (lambda tt: tt._dup.notnull())
        numbers, values = _offending(src, t, pred, tuple(key))
        row_problems.append(Problem(_file(src, name, files), ", ".join(spec.key), "duplicate keys", numbers,
                                    n_rows=n_dup, values=values))
    if with_ids:
        refs = [("messages", "reply_to", "quotes a message_id that is not in messages", n_of("messages__reply"))]
        if "posts" in names:
            refs.append(("posts", "message_id", "references to messages not in messages", n_of("posts__msgref")))
        ids = src.table("messages").select(_known="message_id")
        for name, col, message, n_bad in refs:
            if not n_bad:
                continue
            pred = (lambda tt, c=col: tt[c].notnull() & ~tt[c].isin(ids._known))
            numbers, values = _offending(src, src.table(name), pred, (col,))
            ref_problems.append((name, Problem(_file(src, name, files), col, message, numbers, n_rows=n_bad,
                                               values=values)))
    if references == "never" or (references == "if_clean" and row_problems):
        ref_problems = []
    # reference problems by table, in the data model's order, then as found
    ref_problems.sort(key=lambda item: TABLE_NAMES.index(item[0]))
    return row_problems + [p for _, p in ref_problems], rows


def _proved_by_statistics(src, names: list[str], all_rules: list[Rule]) -> list[int]:
    """Indices of the rules that the Parquet statistics of their table's files prove for every row."""
    out = []
    for name in names:
        table_rules = [(i, rule) for i, rule in enumerate(all_rules) if rule.table == name and rule.proof]
        files = table_files(src, name) if table_rules else None
        if not files:
            continue
        statistics = table_statistics(files)
        out += [i for i, rule in table_rules if proved(statistics, rule.proof)]
    return out


def _cross(parts: list):
    """One query of several one-row aggregations (small tables: one round trip, one compilation)."""
    query = parts[0]
    for part in parts[1:]:
        query = query.cross_join(part)
    return query


def _without_rows(src, t, rows, pred):
    """(table, predicate) excluding the 0-based ``rows`` (needs the row number column)."""
    import pandas as pd

    if ROW_NUMBER not in t.columns:
        return t, pred
    skip = src.engine.register(pd.DataFrame({"_skip_row": pd.Series(rows, dtype="int64")}))
    t = t.left_join(skip, t[ROW_NUMBER] == skip._skip_row)
    return t, (lambda tt: pred(tt) & tt._skip_row.isnull())


def _offending(src, t, pred, shown: tuple[str, ...]) -> tuple[list[int], list]:
    """First rows (1-based, in file order) where ``pred`` holds and their values of ``shown``.

    Without row numbers (a folder of several Parquet files, CSV read by the engine): no rows, values
    of a few offending rows.
    """
    hits = t.filter(pred(t).fill_null(False))
    numbered = ROW_NUMBER in t.columns
    if numbered:
        hits = hits.order_by(ROW_NUMBER)
    cols = ([ROW_NUMBER] if numbered else []) + list(shown)
    found = src.execute(hits.select(*cols).limit(ROWS_NAMED if numbered else Problem.MAX_VALUES_SHOWN))
    numbers = [int(r) + 1 for r in found[ROW_NUMBER]] if numbered else []
    shown_values = [[_display(src, c, v) for v in found[c]] for c in shown]
    values = [vals[0] if len(vals) == 1 else tuple(vals) for vals in zip(*shown_values)]
    return numbers, values


def _display(src, column: str, value):
    """A value as the data model has it: timestamps (``*_us``) as times in the dataset's zone."""
    import pandas as pd

    if value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
        return None
    if column.endswith("_us"):
        return pd.Timestamp(int(value), unit="us", tz="UTC").tz_convert(src.tz)
    if hasattr(value, "item"):
        return value.item()
    return value


def _raise(src, problems: list[Problem]) -> None:
    raise DataValidationError(problems, header=f"{src.where} is not a valid groupstats dataset "
                                               f"({len(problems)} problem(s)):")


def validate_source(src) -> dict:
    """Check every rule of the data model on ``src`` (a folder read by the engine); rows per table.

    Raises
    ------
    DataValidationError
        Naming the file, column and number of rows of every problem, with the first rows and their
        values (row numbers where the engine numbers the file's rows: a single Parquet file).
    """
    problems: list[Problem] = []
    names = [n for n in TABLE_NAMES if src.has(n)]
    for name in names:
        spec = TABLES[name]
        have = list(src.raw[name].columns)
        missing = [c for c in spec.required if c not in have]
        if missing:
            shown = [c for c in have if c != ROW_NUMBER]
            problems.append(Problem(_file(src, name), ", ".join(missing),
                                    f"required column(s) missing; the file has: {', '.join(shown)}"))
        for col in spec.timestamps:
            if col in have and not src.raw[name][col].type().is_timestamp():
                problems.append(Problem(_file(src, name), col, f"is {src.raw[name][col].type()}, not a timestamp; "
                                                               f"write timestamps as Parquet timestamps (or use "
                                                               f"CSV and the in-memory loader)"))
    if problems:
        _raise(src, problems)
    problems, rows = check_source(src, names)
    if problems:
        _raise(src, problems)
    return rows


def check_frames(frames: dict, files: dict, tz: str, names: list[str], references: str = "if_clean",
                 skip_rows: dict | None = None) -> list[Problem]:
    """The aggregation rules on in-memory (coerced) tables: registered in the process's DuckDB and
    scanned in place, each with its row numbers; the problems found (see :func:`check_source`)."""
    import numpy as np

    from groupstats.engine import Source, default_engine

    engine = default_engine()
    raw, registered = {}, []
    try:
        for name, frame in frames.items():
            numbered = frame.assign(**{ROW_NUMBER: np.arange(len(frame), dtype=np.int64)})
            table_name = f"gs_check_{name}_{id(numbered)}"
            raw[name] = engine.register(numbered, table_name)
            registered.append(table_name)
        src = Source(engine, raw, tz, "the dataset")
        problems, _ = check_source(src, names, files=files, references=references, skip_rows=skip_rows)
    finally:
        for table_name in registered:
            engine.unregister(table_name)
    return problems
