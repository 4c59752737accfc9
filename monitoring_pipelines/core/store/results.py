"""The result repository: references, profiles, sketches, drift and metrics of each partition.

Every write of a partition's results replaces that partition's rows in one transaction, so a
rerun or a backfill never duplicates anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Table, select

from monitoring_pipelines.core.drift.engine import ColumnDrift
from monitoring_pipelines.core.drift.shift import Shift
from monitoring_pipelines.core.profile.season import Season
from monitoring_pipelines.core.profile.sketch import ColumnSketch
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import Repository, now, replace_rows

REFERENCE = "reference"


@dataclass(frozen=True)
class MetricRecord:
    """One stored number of an asset's partition; ``dimensions`` is its encoded key
    (:mod:`~monitoring_pipelines.core.dimensions`), empty for a whole-day number."""

    partition_key: str
    name: str
    dimensions: str
    value: float | None


@dataclass(frozen=True)
class ReferenceDayRecords:
    """The stored anomaly metrics of the reference's days, from one build of the reference.

    Attributes:
        reference_hash: The hash of the reference they were measured on.
        values: Per (metric, ISO day, dimensions), its value (no dimensions: the metric's).
        notes: Per metric without reference days, why.
    """

    reference_hash: str
    values: Mapping[tuple[str, str, str], float]
    notes: Mapping[str, str]


class ResultRepository(Repository):
    """Reads and writes the assets' results; shares its :class:`Database` with the alerts."""

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
                replace_rows(own, table, key, rows)
            return
        replace_rows(conn, table, key, rows)

    # -- reference ------------------------------------------------------------------------

    def save_reference(
        self,
        monitor: str,
        sketches: Sequence[ColumnSketch],
        profile: bytes,
        summary: Mapping[str, Any],
        rows: int,
        reference_hash: str,
        seasons: Mapping[str, Season] | None = None,
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
            self.replace_rows(
                t.reference_seasons,
                {"monitor": monitor},
                [
                    {
                        "season": name,
                        "column_name": s.column,
                        "rows": season.rows,
                        "days": season.days,
                        "payload": s.to_bytes(),
                        "reference_hash": reference_hash,
                    }
                    for name, season in (seasons or {}).items()
                    for s in season.sketches
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

    def load_season(self, monitor: str, season: str) -> Season | None:
        """The reference's rows of one weekday (``weekday=Mon``), or None if it has none."""
        s = t.reference_seasons
        with self.transaction() as conn:
            rows = conn.execute(
                select(s.c.payload, s.c.rows, s.c.days).where(
                    s.c.monitor == monitor, s.c.season == season
                )
            ).all()
        if not rows:
            return None
        sketches = tuple(ColumnSketch.from_bytes(r.payload) for r in rows)
        return Season(sketches, rows[0].rows, rows[0].days)

    def season_days(self, monitor: str) -> dict[str, int]:
        """Distinct reference dates of each weekday the reference has."""
        s = t.reference_seasons
        with self.transaction() as conn:
            rows = conn.execute(
                select(s.c.season, s.c.days).where(s.c.monitor == monitor).distinct()
            ).all()
        return {r.season: r.days for r in rows}

    def reference_source(self, monitor: str) -> str | None:
        """The fingerprint of the reference's source the stored reference was fitted from
        (core/profile/reference_source.py), None before one was recorded."""
        with self.transaction() as conn:
            return conn.execute(
                select(t.cursors.c.value).where(t.cursors.c.name == f"reference_source:{monitor}")
            ).scalar()

    def save_reference_source(self, monitor: str, fingerprint: str) -> None:
        name = f"reference_source:{monitor}"
        with self.transaction() as conn:
            replace_rows(
                conn, t.cursors, {"name": name}, [{"value": fingerprint, "updated_at": now()}]
            )

    def reference_hash(self, monitor: str) -> str | None:
        with self.transaction() as conn:
            return conn.execute(
                select(t.reference_sketches.c.reference_hash)
                .where(t.reference_sketches.c.monitor == monitor)
                .limit(1)
            ).scalar()

    def save_reference_days(
        self,
        monitor: str,
        reference_hash: str,
        values: Mapping[tuple[str, str, str], float],
        notes: Mapping[str, str],
    ) -> None:
        """Replace the monitor's reference days (value per metric, ISO day and dimensions) and
        the notes on metrics without any, in one transaction: a rebuilt reference leaves only
        its own."""
        built = now()
        with self.transaction() as conn:
            self.replace_rows(
                t.reference_days,
                {"monitor": monitor},
                [
                    {
                        "metric": metric,
                        "day": day,
                        "dimensions": dims,
                        "value": value,
                        "reference_hash": reference_hash,
                        "built_at": built,
                    }
                    for (metric, day, dims), value in values.items()
                ],
                conn,
            )
            self.replace_rows(
                t.reference_day_notes,
                {"monitor": monitor},
                [
                    {"metric": metric, "note": note, "reference_hash": reference_hash}
                    for metric, note in notes.items()
                ],
                conn,
            )

    def load_reference_days(self, monitor: str) -> ReferenceDayRecords | None:
        """The monitor's stored reference days, or None when no build stored any."""
        d, n = t.reference_days.c, t.reference_day_notes.c
        with self.transaction() as conn:
            days = conn.execute(
                select(d.metric, d.day, d.dimensions, d.value, d.reference_hash)
                .where(d.monitor == monitor)
                .order_by(d.metric, d.day, d.dimensions)
            ).all()
            notes = conn.execute(
                select(n.metric, n.note, n.reference_hash).where(n.monitor == monitor)
            ).all()
        if not days and not notes:
            return None
        return ReferenceDayRecords(
            reference_hash=(days or notes)[0].reference_hash,
            values={(r.metric, r.day, r.dimensions): r.value for r in days},
            notes={r.metric: r.note for r in notes},
        )

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
                    "shift": r.shift.to_dict() if r.shift is not None else None,
                }
                for r in results
            ],
        )

    def load_drift(self, monitor: str, partition: str) -> list[ColumnDrift]:
        c = t.drift_results.c
        with self.transaction() as conn:
            rows = conn.execute(
                select(t.drift_results).where(c.monitor == monitor, c.partition_key == partition)
            ).all()
        return [_column_drift(r) for r in rows]

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

    def clear_partition(self, monitor: str, partition: str) -> None:
        """Delete a day's results of every asset (slice quality, profile, sketches, drift,
        metrics) in one transaction, for a day that can no longer be computed: what an earlier
        run left would read as the day's current results. Judged answers stay (they cost judge
        calls and carry reviews)."""
        key = {"monitor": monitor, "partition_key": partition}
        with self.transaction() as conn:
            for table in (t.slice_quality, t.profiles, t.column_sketches, t.drift_results):
                replace_rows(conn, table, key, [])
            replace_rows(conn, t.metrics, key, [])

    def load_metrics(
        self, monitor: str, asset: str, partition: str | None = None
    ) -> list[MetricRecord]:
        """An asset's stored numbers, of one partition or of all, in partition order."""
        c = t.metrics.c
        query = select(c.partition_key, c.name, c.dimensions, c.value).where(
            c.monitor == monitor, c.asset == asset
        )
        if partition is not None:
            query = query.where(c.partition_key == partition)
        with self.transaction() as conn:
            rows = conn.execute(query.order_by(c.partition_key)).all()
        return [MetricRecord(r.partition_key, r.name, r.dimensions, r.value) for r in rows]


def _column_drift(row: Row[Any]) -> ColumnDrift:
    m = row._mapping
    return ColumnDrift(
        column=m["column_name"],
        role=m["role"],
        kind=m["kind"],
        statistic=m["statistic"],
        score=m["score"],
        p_value=m["p_value"],
        p_adjusted=m["p_adjusted"],
        p_value_rows=m["p_value_rows"],
        rows=m["rows"],
        reference_rows=m["reference_rows"],
        warn=m["warn_threshold"],
        critical=m["critical_threshold"],
        verdict=m["verdict"],
        note=m["note"],
        shift=Shift.from_dict(m["shift"]) if m["shift"] else None,
    )
