"""The result store's migrations, in order: each brings a store from the version before it to
its own (:mod:`~monitoring_pipelines.core.store.versions` runs the pending ones and records the
version reached).

Migration 1 is the schema as ``tables.py`` declares it: it creates the missing tables, adds the
columns newer releases added to existing ones and rewrites keys stored in an older form, so a
store written before versions were recorded, whatever its age, comes up to date. A change to
``tables.py`` appends a migration to :data:`MIGRATIONS`. Since migration 1 creates the tables as
they are declared now, a later migration may find its change already made on a new store: it
checks before it alters (:func:`add_missing_columns` does).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, inspect, select, text, tuple_, update

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
    """Rewrite every key stored in an older form, in ``conn``'s transaction; the number of rows
    changed. Each rewrite finds only rows still in the old form: running it again changes
    nothing."""
    return migrate_cost_dimensions(conn)


def add_missing_columns(conn: Connection) -> list[str]:
    """Add the columns of the schema that an existing table lacks (each added column is
    nullable or has a default, so existing rows stay valid), in ``conn``'s transaction;
    returns ``table.column`` added."""
    existing = inspect(conn)
    added: list[str] = []
    for table in t.metadata.sorted_tables:
        if not existing.has_table(table.name):
            continue
        present = {c["name"] for c in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            default = column.server_default
            clause = ""
            if default is not None:
                value = str(getattr(default, "arg", "")).replace("'", "''")
                clause = f" NOT NULL DEFAULT '{value}'"
            conn.execute(
                text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{clause}')
            )
            added.append(f"{table.name}.{column.name}")
    return added


def bring_up_to_date(conn: Connection) -> None:
    """Migration 1: the tables of ``tables.py``, the columns added since a store's tables were
    created, and cost keys in the codec's form."""
    t.metadata.create_all(conn)
    add_missing_columns(conn)
    migrate(conn)


@dataclass(frozen=True)
class Migration:
    """One step of the store's schema: from ``version - 1`` to ``version``.

    Attributes:
        version: The version the store is at once ``apply`` has run.
        description: What the step changes.
        apply: The change, made in the connection's transaction.
    """

    version: int
    description: str
    apply: Callable[[Connection], object]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the tables, their columns and cost keys in the codec's form", bring_up_to_date),
)
LATEST = MIGRATIONS[-1].version
