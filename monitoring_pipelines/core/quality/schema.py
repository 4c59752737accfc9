"""Schema changes of the inference log: columns added, dropped or retyped, checked per day.

The table's columns and type families are compared with the configuration, the reference
profile and the snapshot stored for the latest earlier partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from monitoring_pipelines.core.checks import CheckOutcome, Finding
from monitoring_pipelines.core.config import MonitorConfig, Severity
from monitoring_pipelines.core.dimensions import (
    MAX_CHARS,
    SHORTENED_CHARS,
    decode,
    dimensions,
    fit_value,
    known_prefix,
)
from monitoring_pipelines.core.profile.fitting import ColumnPlan
from monitoring_pipelines.core.store.results import MetricRecord

Family = Literal["numeric", "text", "temporal", "boolean", "other"]
Change = Literal["missing", "retyped", "new", "removed", "not_in_reference", "kind_changed"]

# The finding that collects changes of columns the monitor does not read.
UNCONFIGURED = "(unconfigured columns)"

# Where snapshots live in the result store's ``metrics`` table: one row per column, the name
# and type in ``dimensions`` (the dimensions codec's key), the position in ``value``.
SNAPSHOT_ASSET = "schema_snapshot"
SNAPSHOT_METRIC = "column_type"

# Checked in order: "INTERVAL" must be temporal before "INT" makes it numeric.
_FAMILIES: tuple[tuple[Family, tuple[str, ...]], ...] = (
    ("boolean", ("BOOL",)),
    ("temporal", ("TIMESTAMP", "DATETIME", "DATE", "TIME", "INTERVAL")),
    ("numeric", ("INT", "FLOAT", "REAL", "DOUBLE", "NUMERIC", "DECIMAL", "NUMBER", "MONEY")),
    ("text", ("CHAR", "TEXT", "STRING", "CLOB", "UUID", "ENUM")),
)


def type_family(sql_type: str) -> Family:
    """The family of an SQL type name as SQLAlchemy prints it (``VARCHAR(32)``, ``BIGINT``...)."""
    upper = sql_type.upper()
    for family, tokens in _FAMILIES:
        if any(token in upper for token in tokens):
            return family
    return "other"


@dataclass(frozen=True)
class ColumnChange:
    """One column that differs from what was expected.

    Attributes:
        column: Column name.
        change: ``missing`` (configured, not in the table), ``retyped`` (type family changed
            since the previous snapshot), ``new`` / ``removed`` (unconfigured column appeared /
            disappeared), ``not_in_reference`` / ``kind_changed`` (the reference profile lacks
            the column / holds it as the other kind).
        configured: Whether the monitor reads the column.
        before: The previous type (or the reference's kind); None when there was none.
        after: The current type (or the configured kind); None when the column is gone.
    """

    column: str
    change: Change
    configured: bool
    before: str | None = None
    after: str | None = None

    @property
    def severity(self) -> Severity:
        return Severity.CRITICAL if self.configured else Severity.WARN

    def describe(self) -> str:
        if self.change == "missing":
            return f"{self.column} is missing from the table"
        if self.change == "retyped":
            return f"{self.column} changed type from {self.before} to {self.after}"
        if self.change == "new":
            return f"new column {self.column} ({self.after})"
        if self.change == "removed":
            return f"column {self.column} ({self.before}) was removed"
        if self.change == "not_in_reference":
            return f"{self.column} is not in the reference profile; rematerialize reference_profile"
        return (
            f"{self.column} is {self.after} in the configuration but {self.before} in the "
            "reference profile; rematerialize reference_profile"
        )


@dataclass(frozen=True)
class SchemaDiff:
    """The day's schema against the configuration, the reference and the previous snapshot.

    Attributes:
        columns: The table's columns and types now (the snapshot to store).
        configured: Columns the monitor reads, with their role.
        changes: What differs, configured columns first.
        previous_partition: The partition of the snapshot compared with (None: first one).
    """

    columns: Mapping[str, str]
    configured: Mapping[str, str]
    changes: tuple[ColumnChange, ...]
    previous_partition: str | None = None

    def count(self, *changes: Change) -> int:
        return sum(c.change in changes for c in self.changes)


def configured_columns(monitor: MonitorConfig) -> dict[str, str]:
    """Every source column the monitor reads, with its role (as configuration errors name it)."""
    out: dict[str, str] = {}
    for role, columns in monitor.column_roles().items():
        for column in columns:
            out.setdefault(column, role)
    if monitor.service is not None:
        for service_column in (monitor.service.latency_column, monitor.service.status_column):
            if service_column:
                out.setdefault(service_column, "a service column")
    if monitor.llm is not None:
        for key, value in monitor.llm.model_dump().items():
            if key.endswith("_column") and value:
                out.setdefault(str(value), "an LLM column")
    return out


def drift_kinds(monitor: MonitorConfig) -> dict[str, str]:
    """The kind (``numeric``/``categorical``) the reference profile must hold per column."""
    plan = ColumnPlan.for_monitor(monitor)
    kinds = {c: "numeric" for c in plan.numeric}
    kinds.update({c: "categorical" for c in plan.categorical})
    return kinds


def diff_schema(
    current: Mapping[str, str],
    configured: Mapping[str, str],
    previous: Mapping[str, str] | None,
    expected_kinds: Mapping[str, str] | None = None,
    reference_kinds: Mapping[str, str] | None = None,
    previous_partition: str | None = None,
) -> SchemaDiff:
    """Compare the table's columns now with the configuration, reference and last snapshot.

    Args:
        current: Column name to SQL type, as the warehouse reports it now.
        configured: Columns the monitor reads (name to role).
        previous: The previous partition's snapshot, or None for the first partition.
        expected_kinds: Drift-tested columns and the kind the configuration gives them.
        reference_kinds: The reference profile's columns and kinds (None: not compared).
        previous_partition: The partition ``previous`` was recorded for.
    """
    changes: list[ColumnChange] = []
    for column in configured:
        if column not in current:
            before = previous.get(column) if previous else None
            changes.append(ColumnChange(column, "missing", True, before=before))
        elif previous and column in previous and _retyped(previous[column], current[column]):
            changes.append(ColumnChange(column, "retyped", True, previous[column], current[column]))
        if reference_kinds is not None and expected_kinds and column in expected_kinds:
            kind = expected_kinds[column]
            if column not in reference_kinds:
                changes.append(ColumnChange(column, "not_in_reference", True, after=kind))
            elif reference_kinds[column] != kind:
                changes.append(
                    ColumnChange(column, "kind_changed", True, reference_kinds[column], kind)
                )
    if previous is not None:
        for column, sql_type in current.items():
            if column in configured:
                continue
            if column not in previous:
                changes.append(ColumnChange(column, "new", False, after=sql_type))
            elif _retyped(previous[column], sql_type):
                changes.append(ColumnChange(column, "retyped", False, previous[column], sql_type))
        for column, sql_type in previous.items():
            if column not in current and column not in configured:
                changes.append(ColumnChange(column, "removed", False, before=sql_type))
    return SchemaDiff(dict(current), dict(configured), tuple(changes), previous_partition)


def diff_source_schema(
    monitor: MonitorConfig,
    columns: Mapping[str, str],
    snapshots: Iterable[MetricRecord],
    partition: str,
    reference_kinds: Mapping[str, str] | None,
) -> SchemaDiff:
    """The partition's :class:`SchemaDiff` from what the stores hold: the table's ``columns``
    now, the monitor's stored snapshots (``load_metrics(monitor, SNAPSHOT_ASSET)``) and the
    reference profile's kinds (None: no reference profile to compare with)."""
    before, previous = previous_snapshot(snapshots, partition)
    return diff_schema(
        storable(columns),
        configured_columns(monitor),
        previous,
        expected_kinds=drift_kinds(monitor),
        reference_kinds=reference_kinds,
        previous_partition=before,
    )


def _retyped(before: str, after: str) -> bool:
    return type_family(before) != type_family(after)


def schema_check(diff: SchemaDiff) -> CheckOutcome:
    """The ``schema_change`` check: one finding per configured column (critical when it is
    missing, retyped or out of step with the reference) and one, :data:`UNCONFIGURED`, for the
    other columns (a warning when any appeared, disappeared or was retyped). Every subject is
    reported every day, so an incident resolves once the schema is stable again."""
    by_column: dict[str, list[ColumnChange]] = {}
    for change in diff.changes:
        by_column.setdefault(change.column, []).append(change)
    findings: list[Finding] = []
    for column, role in diff.configured.items():
        mine = [c for c in by_column.get(column, []) if c.configured]
        if mine:
            summary = f"{column} ({role}): " + "; ".join(c.describe() for c in mine)
        else:
            summary = f"{column} ({role}): {diff.columns.get(column)}, unchanged"
        findings.append(
            Finding(column, not mine, Severity.CRITICAL, float(len(mine)), 0.0, summary)
        )
    others = [c for c in diff.changes if not c.configured]
    if others:
        other_summary = "; ".join(c.describe() for c in others)
    elif diff.previous_partition is None:
        other_summary = "first snapshot of the table's columns"
    else:
        other_summary = f"unconfigured columns unchanged since {diff.previous_partition}"
    findings.append(
        Finding(UNCONFIGURED, not others, Severity.WARN, float(len(others)), 0.0, other_summary)
    )
    findings.sort(key=lambda f: f.passed)
    failing = [c.describe() for c in diff.changes]
    if failing:
        summary = "schema changed: " + "; ".join(failing)
    elif diff.previous_partition is None:
        summary = f"{len(diff.columns)} columns recorded (first snapshot); configured ones present"
    else:
        summary = f"{len(diff.columns)} columns, unchanged since {diff.previous_partition}"
    metadata: dict[str, float | int | str] = {
        "columns": len(diff.columns),
        "columns_missing": diff.count("missing"),
        "columns_new": diff.count("new"),
        "columns_removed": diff.count("removed"),
        "columns_retyped": diff.count("retyped"),
        "reference_mismatches": diff.count("not_in_reference", "kind_changed"),
    }
    if diff.previous_partition is not None:
        metadata["previous_partition"] = diff.previous_partition
    return CheckOutcome("schema_change", tuple(findings), summary, metadata)


# -- the snapshot in the result store's metrics table -----------------------------------------


def snapshot_metrics(columns: Mapping[str, str]) -> dict[tuple[str, str], float | None]:
    """The snapshot as ``metrics`` rows: ``(column_type, {"column", "type"}) -> position``.

    A type too long for the dimensions column is shortened by the dimensions codec; a column
    whose name leaves no room for a type is left out (and then ignored by :func:`storable`)."""
    rows: dict[tuple[str, str], float | None] = {}
    for position, (column, sql_type) in enumerate(storable(columns).items()):
        sql_type = fit_value(sql_type, _type_room(column))
        rows[(SNAPSHOT_METRIC, dimensions(column=column, type=sql_type))] = float(position)
    return rows


def storable(columns: Mapping[str, str]) -> dict[str, str]:
    """The columns a snapshot can hold: names that leave room in the metrics table for a
    shortened type (any ASCII name of up to 200 characters; configured names have at most
    128). Compare only these, or an unstorable column would look new every day."""
    return {c: t for c, t in columns.items() if _type_room(c) >= SHORTENED_CHARS}


def previous_snapshot(
    rows: Iterable[MetricRecord], partition: str
) -> tuple[str | None, dict[str, str] | None]:
    """The latest snapshot stored for a partition before ``partition`` (as read back with
    ``load_metrics(monitor, SNAPSHOT_ASSET)``), and its partition. A shortened type reads back
    as the part of it that was kept."""
    by_partition: dict[str, list[MetricRecord]] = {}
    for row in rows:
        if row.partition_key < partition and row.name == SNAPSHOT_METRIC:
            by_partition.setdefault(row.partition_key, []).append(row)
    if not by_partition:
        return None, None
    latest = max(by_partition)
    ordered = sorted(by_partition[latest], key=lambda r: r.value or 0.0)
    snapshot: dict[str, str] = {}
    for row in ordered:
        decoded = decode(row.dimensions)
        snapshot[str(decoded["column"])] = known_prefix(str(decoded["type"]))
    return latest, snapshot


def _type_room(column: str) -> int:
    return MAX_CHARS - len(dimensions(column=column, type=""))
