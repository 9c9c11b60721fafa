"""The dataset checks on message ids: unique ``message_id``, and references to messages that exist.

Part of the aggregation checks of :mod:`groupstats.tables.checks` (which reports the problems):

- **Unique ids** (:func:`duplicate_ids`): on DuckDB the 64-bit hashes of the ids
  (:func:`groupstats.tables.key_hashes.key_hash`) are sorted in memory and only hashes seen twice
  are checked again on the ids themselves (exact; :func:`_candidates_and_named`); beyond
  :data:`HASHES_SORTED_IN_MEMORY` messages, and on other engines, the engine groups them.
- **References** (:func:`dangling_references`): rows quoting a message id that no message has
  (``reply_to``) and posts naming one (posts' ``message_id``), one exact anti join of the
  references on the ids.

On DuckDB, up to :data:`HASHES_SORTED_IN_MEMORY` messages, :func:`check_ids` reads the ids once
for both: the query that hashes them also flags the ids that some reference names. When the hashes
are all distinct (so are the ids), the flagged ids are the distinct references that exist; if they
are as many as the distinct references, none dangles (exact, no anti join). Otherwise the anti join
counts the dangling rows.
"""
from __future__ import annotations

from contextlib import contextmanager

from groupstats.tables.key_hashes import key_hash, repeated_hashes

#: DuckDB memory limit while the message ids are aggregated (see memory_at_least).
ID_CHECK_MEMORY = "1GB"
#: Hashes of message ids seen on several rows whose ids are checked one by one (beyond: all ids).
DUP_KEYS_CHECKED = 10_000
#: Up to this many messages, DuckDB's 64-bit hashes of their ids are sorted in memory (8 bytes a
#: row, twice) to find duplicates; beyond, the engine aggregates them (and spills if it must).
HASHES_SORTED_IN_MEMORY = 30_000_000


def as_text(column):
    return column if column.type().is_string() else column.cast("string")


def check_ids(src, names: list[str], n_messages: int, rows_named: int) -> tuple[int, list, dict]:
    """Both id checks: (rows whose ``message_id`` is on several rows, up to ``rows_named`` such ids,
    the dangling references' counts of :func:`dangling_references`), exactly.

    On DuckDB, up to :data:`HASHES_SORTED_IN_MEMORY` messages, one scan of the ids gives their hashes
    (:func:`_candidates_and_named`) and how many of them some reference names. With no hash repeated,
    the ids are distinct, so that count is the number of distinct references that exist: equal to the
    number of distinct references, none dangles. In every other case (a repeated hash, a reference
    missing, another engine, more messages) the anti join of :func:`dangling_references` counts them.
    """
    refs = references(src, names)
    found, n_named = _candidates_and_named(src, n_messages, refs)
    n_dup, dup_ids = duplicate_ids(src, found, rows_named)
    if refs is None:
        return n_dup, dup_ids, {}
    if found == [] and n_named is not None and n_named == src.scalar(refs._id.nunique()):
        return n_dup, dup_ids, {"messages__reply": 0, "posts__msgref": 0}
    return n_dup, dup_ids, dangling_references(src, names, refs)


def references(src, names: list[str]):
    """Expression of every reference to a message, or None if the tables have none: ``_id`` the id
    named (as text), ``_kind`` 1 for a quote (messages' ``reply_to``), 2 for a post's ``message_id``."""
    import ibis

    raw = src.raw["messages"]
    kind = (lambda k: ibis.literal(k, type="int8"))
    parts = []
    if "reply_to" in raw.columns:
        quoting = raw.filter(raw.reply_to.notnull())
        parts.append(quoting.select(_id=as_text(quoting.reply_to), _kind=kind(1)))
    if "posts" in names and "message_id" in src.raw["posts"].columns:
        p = src.raw["posts"]
        p = p.filter(p.message_id.notnull())
        parts.append(p.select(_id=as_text(p.message_id), _kind=kind(2)))
    if not parts:
        return None
    return ibis.union(*parts, distinct=False)


def dangling_references(src, names: list[str], refs=None) -> dict:
    """Rows quoting a message id no message has (``messages__reply``) and posts naming one
    (``posts__msgref``): one exact anti join of the references (:func:`references`, or ``refs``) on
    the ids (the engine builds its hash table on the references, a fraction of the messages, and
    streams the ids past it)."""
    refs = references(src, names) if refs is None else refs
    if refs is None:
        return {}
    raw = src.raw["messages"]
    known = raw.select(_known=as_text(raw.message_id))
    dangling = refs.anti_join(known, refs._id == known._known)
    row = src.execute(dangling.aggregate(messages__reply=dangling._kind.count(where=dangling._kind == 1),
                                         posts__msgref=dangling._kind.count(where=dangling._kind == 2)))
    return row.iloc[0].to_dict()


def _candidates_and_named(src, n_messages: int, refs) -> tuple[list | None, int | None]:
    """(the keys (:func:`id_key`) of message ids seen on more than one row, or None if there are too many
    to list (every id is then checked); how many message rows have an id that a reference of ``refs``
    names, or None when not counted: no ``refs``, or the engine groups the keys).

    On DuckDB, up to :data:`HASHES_SORTED_IN_MEMORY` messages, the 64-bit hashes are fetched and
    sorted in memory (equal neighbours are the candidates: :func:`~groupstats.tables.key_hashes.repeated_hashes`),
    which costs a fraction of a hash table of ~10M keys in the engine; otherwise the engine groups the keys.
    """
    raw = src.raw["messages"]
    text = as_text(raw.message_id)
    if src.engine.kind == "duckdb" and n_messages <= HASHES_SORTED_IN_MEMORY:
        import pyarrow.compute as pc

        named = {} if refs is None else {"_named": text.isin(refs._id)}
        fetched = src.engine.con.to_pyarrow(raw.select(_key=id_key(src, text), **named))
        n_named = None if refs is None else int(pc.sum(fetched.column("_named")).as_py() or 0)
        hashes = fetched.column("_key").to_numpy()
        del fetched
        found = repeated_hashes(hashes)
        return (None if len(found) >= DUP_KEYS_CHECKED else [int(k) for k in found]), n_named
    keys = raw.select(_key=id_key(src, text))
    counted = keys.group_by("_key").aggregate(_n=keys.count())
    query = counted.filter(counted._n > 1).select("_key").limit(DUP_KEYS_CHECKED)
    with memory_at_least(src, ID_CHECK_MEMORY):
        found = src.execute(query)["_key"].tolist()
    return (None if len(found) >= DUP_KEYS_CHECKED else found), None


@contextmanager
def memory_at_least(src, minimum: str):
    """DuckDB's memory limit raised to ``minimum`` for a query, then restored (other engines: as is).

    The hash table of ~10M message ids needs ~0.5-0.7 GB; under the default 512 MB limit DuckDB
    failed with "Out of Memory" at times instead of spilling (seen at 10M messages)."""
    con = getattr(getattr(src.engine, "con", None), "con", None) if src.engine.kind == "duckdb" else None
    if con is None:
        yield
        return
    current = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    raise_it = _bytes(current) < _bytes(minimum)
    if raise_it:
        con.execute(f"SET memory_limit = '{minimum}'")
    try:
        yield
    finally:
        if raise_it:
            con.execute(f"SET memory_limit = '{current}'")


def _bytes(text: str) -> float:
    """Bytes of a DuckDB memory setting such as '488.2 MiB' or '1GB'."""
    import re

    match = re.match(r"\s*([\d.]+)\s*([KMGT]?)(i?)B", str(text), re.IGNORECASE)
    if not match:
        return float("inf")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return float(number) * base ** "_KMGT".index(unit.upper() or "_")


def id_key(src, column):
    """The key duplicate ids are looked for by: on DuckDB a 64-bit hash of the id
    (:func:`~groupstats.tables.key_hashes.key_hash`; sorted in memory, or, beyond that, a hash table of
    64-bit keys: one of ~10M string ids came close to the 512 MB memory limit and failed at times); the
    id itself elsewhere (Spark's ``hash`` has 32 bits). Equal keys are only candidates:
    :func:`duplicate_ids` compares the ids themselves."""
    if src.engine.kind != "duckdb":
        return column
    return key_hash(src.engine.kind, column)


def duplicate_ids(src, found: list | None, rows_named: int) -> tuple[int, list]:
    """(rows whose message_id is on several rows, up to ``rows_named`` such ids), exactly: the ids whose
    keys are ``found`` (hashes seen more than once; None: every id) are counted again as text."""
    m = src.table("messages")
    if found is not None:
        if not found:
            return 0, []
        import ibis

        key = id_key(src, m.message_id)
        m = m.filter(key.isin([ibis.literal(k, type=key.type()) for k in found]))
    dups = m.group_by("message_id").aggregate(_n=m.count())
    dups = dups.filter(dups._n > 1)
    n = src.execute(dups.aggregate(total=dups._n.sum(), ids=dups.count())).iloc[0]
    if not n["ids"]:
        return 0, []
    return int(n["total"]), src.execute(dups.select("message_id").limit(rows_named))["message_id"].tolist()
