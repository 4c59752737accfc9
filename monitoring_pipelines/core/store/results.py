"""The result store: one repository class owns sessions and transactions.

Every write of a partition's results replaces that partition's rows in one transaction, so a
rerun or a backfill never duplicates anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import Connection, Engine, Table, delete, insert, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from monitoring_pipelines.core.drift.engine import ColumnDrift
from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.profile.sketch import ColumnSketch
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.engine import make_engine, redact_url
from monitoring_pipelines.core.store.migrations import migrate

REFERENCE = "reference"


def now() -> datetime:
    return datetime.now(UTC)


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the columns of the schema that an existing table lacks (each added column is
    nullable or has a default, so existing rows stay valid); returns ``table.column`` added."""
    existing = inspect(engine)
    added: list[str] = []
    with engine.begin() as conn:
        for table in t.metadata.sorted_tables:
            if not existing.has_table(table.name):
                continue
            present = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
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


class ResultStore:
    """Reads and writes the product's results in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def connect(cls, url: str, *, create: bool = True) -> Self:
        store = cls(make_engine(url))
        if create:
            store.create_schema()
        return store

    def create_schema(self) -> None:
        """Create missing tables, add columns newer releases added to existing ones, and rewrite
        keys stored in an older form (:mod:`~monitoring_pipelines.core.store.migrations`)."""
        try:
            t.metadata.create_all(self.engine)
            add_missing_columns(self.engine)
            with self.engine.begin() as conn:
                migrate(conn)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot create the result store's tables at {redact_url(str(self.engine.url))}: "
                f"{exc}"
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a transaction: committed on success, rolled back on error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"result store transaction failed: {exc}") from exc

    # -- partition replacement -------------------------------------------------------------

    def replace_rows(
        self,
        table: Table,
        key: Mapping[str, Any],
        rows: Sequence[Mapping[str, Any]],
        conn: Connection | None = None,
    ) -> None:
        """Delete the rows matching ``key`` and insert ``rows``, atomically."""
        if conn is None:
            with self.transaction() as own:
                self.replace_rows(table, key, rows, own)
            return
        conn.execute(delete(table).where(*(table.c[k] == v for k, v in key.items())))
        if rows:
            conn.execute(insert(table), [dict(key) | dict(r) for r in rows])

    # -- reference ------------------------------------------------------------------------

    def save_reference(
        self,
        monitor: str,
        sketches: Sequence[ColumnSketch],
        profile: bytes,
        summary: Mapping[str, Any],
        rows: int,
        reference_hash: str,
    ) -> None:
        built = now()
        with self.transaction() as conn:
            self.replace_rows(
                t.reference_sketches,
                {"monitor": monitor},
                [
                    {
                        "column_name": s.column,
                        "kind": s.kind,
                        "n": s.n,
                        "n_missing": s.n_missing,
                        "payload": s.to_bytes(),
                        "reference_hash": reference_hash,
                        "built_at": built,
                    }
                    for s in sketches
                ],
                conn,
            )
            self._save_profile(conn, monitor, REFERENCE, rows, profile, summary)

    def load_reference(self, monitor: str) -> dict[str, ColumnSketch]:
        with self.transaction() as conn:
            rows = conn.execute(
                select(t.reference_sketches.c.payload).where(
                    t.reference_sketches.c.monitor == monitor
                )
            ).all()
        sketches = [ColumnSketch.from_bytes(r.payload) for r in rows]
        return {s.column: s for s in sketches}

    def reference_hash(self, monitor: str) -> str | None:
        with self.transaction() as conn:
            return conn.execute(
                select(t.reference_sketches.c.reference_hash)
                .where(t.reference_sketches.c.monitor == monitor)
                .limit(1)
            ).scalar()

    # -- daily results --------------------------------------------------------------------

    def save_slice_quality(
        self, monitor: str, partition: str, rows_read: int, rows_kept: int, findings: Any
    ) -> None:
        self.replace_rows(
            t.slice_quality,
            {"monitor": monitor, "partition_key": partition},
            [
                {
                    "rows_read": rows_read,
                    "rows_kept": rows_kept,
                    "findings": findings,
                    "written_at": now(),
                }
            ],
        )

    def save_profile(
        self,
        monitor: str,
        partition: str,
        rows: int,
        profile: bytes,
        summary: Mapping[str, Any],
        sketches: Sequence[ColumnSketch],
    ) -> None:
        with self.transaction() as conn:
            self._save_profile(conn, monitor, partition, rows, profile, summary)
            self.replace_rows(
                t.column_sketches,
                {"monitor": monitor, "partition_key": partition},
                [
                    {
                        "column_name": s.column,
                        "kind": s.kind,
                        "n": s.n,
                        "n_missing": s.n_missing,
                        "counts": [int(c) for c in s.counts],
                        "payload": s.to_bytes(),
                    }
                    for s in sketches
                ],
                conn,
            )

    def _save_profile(
        self,
        conn: Connection,
        monitor: str,
        partition: str,
        rows: int,
        profile: bytes,
        summary: Mapping[str, Any],
    ) -> None:
        self.replace_rows(
            t.profiles,
            {"monitor": monitor, "partition_key": partition},
            [{"rows": rows, "profile": profile, "summary": summary, "written_at": now()}],
            conn,
        )

    def load_profile(self, monitor: str, partition: str) -> bytes | None:
        with self.transaction() as conn:
            return conn.execute(
                select(t.profiles.c.profile).where(
                    t.profiles.c.monitor == monitor, t.profiles.c.partition_key == partition
                )
            ).scalar()

    def load_sketches(self, monitor: str, partition: str) -> dict[str, ColumnSketch]:
        with self.transaction() as conn:
            rows = conn.execute(
                select(t.column_sketches.c.payload).where(
                    t.column_sketches.c.monitor == monitor,
                    t.column_sketches.c.partition_key == partition,
                )
            ).all()
        sketches = [ColumnSketch.from_bytes(r.payload) for r in rows]
        return {s.column: s for s in sketches}

    def load_sketches_between(
        self, monitor: str, first: str, last: str
    ) -> dict[str, dict[str, ColumnSketch]]:
        """Daily sketches of the days ``first`` to ``last`` (ISO dates, both included)."""
        c = t.column_sketches.c
        with self.transaction() as conn:
            rows = conn.execute(
                select(c.partition_key, c.payload).where(
                    c.monitor == monitor,
                    c.partition_key >= first,
                    c.partition_key <= last,
                    c.partition_key.not_like("%/%"),
                )
            ).all()
        out: dict[str, dict[str, ColumnSketch]] = {}
        for row in rows:
            sketch = ColumnSketch.from_bytes(row.payload)
            out.setdefault(row.partition_key, {})[sketch.column] = sketch
        return out

    def load_profiles_between(self, monitor: str, first: str, last: str) -> list[bytes]:
        """Daily whylogs profiles of the days ``first`` to ``last``."""
        c = t.profiles.c
        with self.transaction() as conn:
            rows = conn.execute(
                select(c.profile).where(
                    c.monitor == monitor,
                    c.partition_key >= first,
                    c.partition_key <= last,
                    c.partition_key.not_like("%/%"),
                    c.partition_key != REFERENCE,
                )
            ).all()
        return [r.profile for r in rows]

    def save_window_profile(
        self, monitor: str, window_key: str, rows: int, profile: bytes, summary: Mapping[str, Any]
    ) -> None:
        with self.transaction() as conn:
            self._save_profile(conn, monitor, window_key, rows, profile, summary)

    def save_drift(self, monitor: str, partition: str, results: Sequence[ColumnDrift]) -> None:
        self.replace_rows(
            t.drift_results,
            {"monitor": monitor, "partition_key": partition},
            [
                {
                    "column_name": r.column,
                    "role": r.role,
                    "kind": r.kind,
                    "statistic": r.statistic,
                    "score": r.score,
                    "p_value": r.p_value,
                    "p_adjusted": r.p_adjusted,
                    "p_value_rows": r.p_value_rows,
                    "rows": r.rows,
                    "reference_rows": r.reference_rows,
                    "warn_threshold": r.warn,
                    "critical_threshold": r.critical,
                    "verdict": r.verdict,
                    "note": r.note,
                }
                for r in results
            ],
        )

    def load_drift(self, monitor: str, partition: str) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = conn.execute(
                select(t.drift_results).where(
                    t.drift_results.c.monitor == monitor,
                    t.drift_results.c.partition_key == partition,
                )
            ).mappings()
            return [dict(r) for r in rows]

    def save_metrics(
        self,
        monitor: str,
        asset: str,
        partition: str,
        values: Mapping[tuple[str, str], float | None],
    ) -> None:
        """Replace one asset's metrics for a partition; keys are (name, dimensions)."""
        self.replace_rows(
            t.metrics,
            {"monitor": monitor, "asset": asset, "partition_key": partition},
            [{"name": n, "dimensions": d, "value": v} for (n, d), v in values.items()],
        )

    def load_metrics(
        self, monitor: str, asset: str, partition: str | None = None
    ) -> list[dict[str, Any]]:
        query = select(t.metrics).where(t.metrics.c.monitor == monitor, t.metrics.c.asset == asset)
        if partition is not None:
            query = query.where(t.metrics.c.partition_key == partition)
        with self.transaction() as conn:
            return [
                dict(r) for r in conn.execute(query.order_by(t.metrics.c.partition_key)).mappings()
            ]
