"""Dataset checks that are aggregations, defined once as Ibis expressions.

The rules of the data model that a count answers ("how many rows break it?")
run in the engine on a :class:`~groupstats.engine.Source`, so a dataset folder
is checked without loading it into pandas (DuckDB, or Spark on a cluster):
required columns present and non-empty, closed categories, non-negative counts,
unique keys, references between tables (groups, senders' memberships, quoted
messages, posts' messages, events' posts), ``left_at`` not before
``joined_at``, assignments ending after they start, and no overlapping
memberships or assignments.

Each rule is one boolean expression per row; every rule of a table is counted in
one aggregation over it. Only for rules that fail are details fetched: a few
offending values and, where the engine numbers the rows of a single file
(DuckDB reading Parquet), the first row numbers. Row-level messages for
in-memory tables are :mod:`groupstats.data.dataset`'s.
"""
from __future__ import annotations

from groupstats.data.schema import TABLE_NAMES, TABLES
from groupstats.errors import DataValidationError, Problem


def _file(src, name: str) -> str:
    path = getattr(src, "path", None)
    if path is None:
        return f"<{name} table>"
    single = path / f"{name}.parquet"
    if single.exists():
        return str(single)
    csv = path / f"{name}.csv"
    return str(csv) if csv.exists() else str(path / name)


def _raise(src, problems: list[Problem]) -> None:
    raise DataValidationError(problems, header=f"{src.where} is not a valid groupstats dataset "
                                               f"({len(problems)} problem(s)):")


def row_rules(src) -> dict[str, list[tuple]]:
    """Per table: (column, message, predicate(table) -> boolean expr true on offending rows, example column)."""
    import ibis

    names = [n for n in TABLE_NAMES if src.has(n)]
    rules: dict[str, list[tuple]] = {n: [] for n in names}
    for name in names:
        spec = TABLES[name]
        raw_cols = set(src.raw[name].columns)
        for col in spec.required:
            target = _canonical(col, spec)
            rules[name].append((col, "empty values in a required column",
                                lambda t, c=target: t[c].isnull(), None))
        for col, allowed in spec.categories.items():
            rules[name].append((col, f"unknown categories (allowed: {', '.join(allowed)}):",
                                lambda t, c=col, a=allowed: t[c].isnull() | ~t[c].isin(a), col))
        for col in spec.ints:
            if col in raw_cols:
                rules[name].append((col, "negative counts", lambda t, c=col: t[c].fill_null(0) < 0, None))
    if src.has("groups"):
        groups = src.table("groups").select("group_id").distinct()
        for name in ("members", "messages", "posts", "events", "assignments"):
            if src.has(name):
                rules[name].append(("group_id", "references to groups not in the groups table",
                                    lambda t, g=groups: ~t.group_id.isin(g.group_id), None))
    rules["members"].append(("left_at", "left_at before joined_at",
                             lambda t: t.left_us.notnull() & (t.left_us < t.joined_us), None))
    if src.has("assignments"):
        rules["assignments"].append(("end_at", "end_at not after start_at", lambda t: t.end_us <= t.start_us, None))
    del ibis
    return rules


def _canonical(col: str, spec) -> str:
    return col[:-3] + "_us" if col in spec.timestamps and col.endswith("_at") else col


def validate_source(src) -> dict:
    """Check every aggregation rule of the data model on ``src``; rows per table.

    Raises
    ------
    DataValidationError
        Naming the file, column, number of rows and, where the engine can tell, the first
        row numbers and offending values of every problem.
    """
    import ibis

    problems: list[Problem] = []
    names = [n for n in TABLE_NAMES if src.has(n)]
    for name in names:
        spec = TABLES[name]
        have = list(src.raw[name].columns)
        missing = [c for c in spec.required if c not in have]
        if missing:
            shown = [c for c in have if c != "file_row_number"]
            problems.append(Problem(_file(src, name), ", ".join(missing),
                                    f"required column(s) missing; the file has: {', '.join(shown)}"))
        for col in spec.timestamps:
            if col in have and not src.raw[name][col].type().is_timestamp():
                problems.append(Problem(_file(src, name), col, f"is {src.raw[name][col].type()}, not a timestamp; "
                                                               f"write timestamps as Parquet timestamps (or use "
                                                               f"CSV and the in-memory loader)"))
    if problems:
        _raise(src, problems)

    rules = row_rules(src)
    rows: dict[str, int] = {}
    for name in names:
        t = src.table(name)
        aggs = {"_n": t.count()}
        for i, (_, _, pred, _) in enumerate(rules[name]):
            aggs[f"r{i}"] = pred(t).fill_null(False).cast("int64").sum()
        counts = src.execute(t.aggregate(**aggs)).iloc[0]
        rows[name] = int(counts["_n"])
        for i, (col, message, pred, example) in enumerate(rules[name]):
            n_bad = counts[f"r{i}"]
            if not n_bad or n_bad != n_bad:
                continue
            bad = t.filter(pred(t).fill_null(False))
            if example:
                values = sorted(str(v) for v in src.execute(bad.select(example).distinct().limit(5))[example])
                message = message + " " + ", ".join(values)
            problems.append(Problem(_file(src, name), col, message, _first_rows(src, name, pred),
                                    n_rows=int(n_bad)))

    # references to other tables: anti joins
    msgs, members = src.table("messages"), src.table("members")
    ids = msgs.select(m_id=msgs.message_id)
    refs = [("messages", "member_id", "senders with no row in members for that group",
             msgs.anti_join(members.select("group_id", "member_id").distinct(), ["group_id", "member_id"]))]
    quoting = msgs.filter(msgs.reply_to.notnull())
    refs.append(("messages", "reply_to", "quotes a message_id that is not in messages",
                 quoting.anti_join(ids, quoting.reply_to == ids.m_id)))
    if src.has("posts"):
        posts = src.table("posts")
        posts = posts.filter(posts.message_id.notnull())
        refs.append(("posts", "message_id", "references to messages not in messages",
                     posts.anti_join(ids, posts.message_id == ids.m_id)))
    if src.has("events"):
        ev = src.table("events")
        ev = ev.filter(ev.post_id.notnull())
        if src.has("posts"):
            pids = src.table("posts").select(p_id=ibis._.post_id)
            bad = ev.anti_join(pids, ev.post_id == pids.p_id)
            text = "references to posts not in posts"
        else:
            bad, text = ev, "references to posts not in posts (there is no posts table)"
        refs.append(("events", "post_id", text, bad))
    for name, col, message, bad in refs:
        n_bad = int(src.execute(bad.count()))
        if n_bad:
            problems.append(Problem(_file(src, name), col, message, n_rows=n_bad))

    for name in names:
        spec = TABLES[name]
        if spec.key:
            t = src.table(name)
            key = [_canonical(c, spec) for c in spec.key]
            n_dup = rows[name] - int(src.execute(t.select(*key).distinct().count()))
            if n_dup:
                problems.append(Problem(_file(src, name), ", ".join(spec.key), "duplicate keys", n_rows=n_dup))

    overlaps = [("members", ["group_id", "member_id"], "joined", "left",
                 "memberships of one member in one group overlap (a rejoin must start after the previous left_at)")]
    if src.has("assignments"):
        overlaps.append(("assignments", ["experiment_id", "group_id"], "start", "end",
                         "assignments overlap for one group and experiment"))
    for name, by, start, end, message in overlaps:
        t = src.table(name)
        w = ibis.window(group_by=[t[c] for c in by], order_by=t[f"{start}_us"])
        t = t.mutate(prev_end=t[f"{end}_us"].lag().over(w), k=ibis.row_number().over(w))
        n_bad = int(src.execute(t.filter((t.k > 0) & (t.prev_end.isnull() | (t[f"{start}_us"] < t.prev_end)))
                                .count()))
        if n_bad:
            problems.append(Problem(_file(src, name), f"{start}_at, {end}_at", message, n_rows=n_bad))
    if problems:
        _raise(src, problems)
    return rows


def _first_rows(src, name: str, pred) -> list[int]:
    """First (1-based) row numbers where ``pred`` holds, if the engine numbers the file's rows; else []."""
    t = src.table(name)
    if "file_row_number" not in t.columns:
        return []
    hits = t.filter(pred(t).fill_null(False)).order_by("file_row_number").limit(10)
    return [int(r) + 1 for r in src.execute(hits.select("file_row_number"))["file_row_number"]]
