"""The dataset checks on message ids: unique ``message_id``, and references to messages that exist.

Part of the aggregation checks of :mod:`groupstats.tables.checks` (which reports the problems):

- **Unique ids** (:func:`duplicate_ids`): on DuckDB the 64-bit hashes of the ids
  (:func:`groupstats.tables.key_hashes.key_hash`) are sorted in memory and only hashes seen twice
  are checked again on the ids themselves (exact; :func:`duplicate_candidates`); beyond
  :data:`HASHES_SORTED_IN_MEMORY` messages, and on other engines, the engine groups them.
- **References** (:func:`dangling_references`): rows quoting a message id that no message has
  (``reply_to``) and posts naming one (posts' ``message_id``), one exact anti join of the
  references on the ids.
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


def dangling_references(src, names: list[str]) -> dict:
    """Rows quoting a message id no message has (``messages__reply``) and posts naming one
    (``posts__msgref``): one exact anti join of the references on the ids (the engine builds its
    hash table on the references, a fraction of the messages, and streams the ids past it)."""
    import ibis

    raw = src.raw["messages"]
    kind = (lambda k: ibis.literal(k, type="int8"))  # 1 a quote, 2 a post's message
    parts = []
    if "reply_to" in raw.columns:
        quoting = raw.filter(raw.reply_to.notnull())
        parts.append(quoting.select(_id=as_text(quoting.reply_to), _kind=kind(1)))
    if "posts" in names and "message_id" in src.raw["posts"].columns:
        p = src.raw["posts"]
        p = p.filter(p.message_id.notnull())
        parts.append(p.select(_id=as_text(p.message_id), _kind=kind(2)))
    if not parts:
        return {}
    refs = ibis.union(*parts, distinct=False)
    known = raw.select(_known=as_text(raw.message_id))
    dangling = refs.anti_join(known, refs._id == known._known)
    row = src.execute(dangling.aggregate(messages__reply=dangling._kind.count(where=dangling._kind == 1),
                                         posts__msgref=dangling._kind.count(where=dangling._kind == 2)))
    return row.iloc[0].to_dict()


def duplicate_candidates(src, n_messages: int) -> list | None:
    """Keys (:func:`id_key`) of message ids seen on more than one row; None if there are too many to
    list (every id is then checked).

    On DuckDB, up to :data:`HASHES_SORTED_IN_MEMORY` messages, the 64-bit hashes are fetched and
    sorted in memory (equal neighbours are the candidates: :func:`~groupstats.tables.key_hashes.repeated_hashes`),
    which costs a fraction of a hash table of ~10M keys in the engine; otherwise the engine groups the keys.
    """
    raw = src.raw["messages"]
    keys = raw.select(_key=id_key(src, as_text(raw.message_id)))
    if src.engine.kind == "duckdb" and n_messages <= HASHES_SORTED_IN_MEMORY:
        column = src.engine.con.to_pyarrow(keys).column("_key")
        hashes = column.to_numpy()
        del column
        found = repeated_hashes(hashes)
        return None if len(found) >= DUP_KEYS_CHECKED else [int(k) for k in found]
    counted = keys.group_by("_key").aggregate(_n=keys.count())
    query = counted.filter(counted._n > 1).select("_key").limit(DUP_KEYS_CHECKED)
    with memory_at_least(src, ID_CHECK_MEMORY):
        found = src.execute(query)["_key"].tolist()
    return None if len(found) >= DUP_KEYS_CHECKED else found


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
