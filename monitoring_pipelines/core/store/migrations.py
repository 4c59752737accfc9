"""Rewrites of stored keys whose encoding changed, run each time the store connects.

Each migration finds only rows still in the old form, so running it again changes nothing.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, and_, delete, select, tuple_, update

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.dimensions import decode, encode, escaped_len, shortened
from monitoring_pipelines.core.store import tables as t

# As in core/costs/stored.py (which imports the store, so the store cannot import it).
COST_VALUE_CHARS = 110
COST_KEYS = ("intent", "model")

_OLD_HASH_CHARS = 12
_OLD_KEEP = COST_VALUE_CHARS - _OLD_HASH_CHARS - 1
_OLD_SHORTENED = re.compile(rf"(?P<start>.*)~(?P<digest>[0-9a-f]{{{_OLD_HASH_CHARS}}})", re.S)
# A character escapes to at most 12: the old prefix stopped short of its budget by less.
_MAX_CHAR_ESCAPED = 12

Key = tuple[str, str, str, str, str]  # the metrics primary key


def cost_value(stored: str) -> str:
    """A stored cost dimension value in the codec's form: the old ``<prefix>~<12 hex>`` rewritten,
    anything else unchanged."""
    found = _OLD_SHORTENED.fullmatch(stored)
    if found is None:
        return stored
    start = found["start"]
    if not _OLD_KEEP - _MAX_CHAR_ESCAPED < escaped_len(start) <= _OLD_KEEP:
        return stored  # not a prefix the old rule could have kept: a value stored verbatim
    return shortened(start, found["digest"], COST_VALUE_CHARS)


def cost_dimensions(stored: str) -> str:
    """A ``token_costs`` row's dimensions with each old-form cost value rewritten."""
    dims = decode(stored)
    if not any(_OLD_SHORTENED.fullmatch(dims.get(k, "")) for k in COST_KEYS):
        return stored
    rewritten = {k: cost_value(v) if k in COST_KEYS else v for k, v in dims.items()}
    return stored if rewritten == dims else encode(rewritten)


def migrate_cost_dimensions(conn: Connection) -> int:
    """Rewrite old-form cost dimension keys in the ``metrics`` table, in ``conn``'s transaction.

    A row whose new key is already stored (the partition was written again since the change, so
    that row is the newer) is dropped rather than rewritten, as is the second of two old rows that
    map to one new key; no primary key is ever duplicated.

    Returns:
        The number of rows rewritten or dropped.
    """
    m = t.metrics
    found = conn.execute(
        select(m.c.monitor, m.c.asset, m.c.partition_key, m.c.name, m.c.dimensions).where(
            m.c.asset == Asset.TOKEN_COSTS, m.c.dimensions.contains("~")
        )
    ).all()
    moves: dict[Key, Key] = {}
    for row in found:
        old: Key = tuple(row)
        new_dims = cost_dimensions(old[4])
        if new_dims != old[4]:
            moves[old] = (*old[:4], new_dims)
    if not moves:
        return 0
    pk = tuple_(m.c.monitor, m.c.asset, m.c.partition_key, m.c.name, m.c.dimensions)
    taken: set[Key] = set()
    targets = list(moves.values())
    for i in range(0, len(targets), 500):
        stored = conn.execute(select(*pk.clauses).where(pk.in_(targets[i : i + 500]))).all()
        taken.update(tuple(r) for r in stored)
    for old, new in sorted(moves.items()):
        where = and_(*(c == v for c, v in zip(pk.clauses, old, strict=True)))
        if new in taken:
            conn.execute(delete(m).where(where))
        else:
            conn.execute(update(m).where(where).values(dimensions=new[4]))
            taken.add(new)
    return len(moves)


def migrate(conn: Connection) -> int:
    """Run every migration in ``conn``'s transaction; the number of rows changed."""
    return migrate_cost_dimensions(conn)
