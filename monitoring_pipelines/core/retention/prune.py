"""Pruning one monitor: every kind of data before its cutoff, and a record of what went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from monitoring_pipelines.core.artifacts import ArtifactPath
from monitoring_pipelines.core.config import RetentionConfig
from monitoring_pipelines.core.retention.files import FilesRemoved, prune_files
from monitoring_pipelines.core.retention.policy import DataKind, cutoffs
from monitoring_pipelines.core.retention.rows import TABLES, RetentionRepository

SUFFIXES = {DataKind.SLICES: ".parquet", DataKind.REPORTS: ".html"}
COMPANIONS = {DataKind.SLICES: (".pushed",)}
"""Files that go with a day's file of that kind: a pushed-down day's record beside its slice."""


@dataclass(frozen=True)
class Removed:
    """What pruning removed of one kind of a monitor's data (or would, in a dry run).

    Attributes:
        monitor: The monitor.
        kind: The kind of data.
        cutoff: The first day kept.
        rows: Rows deleted from the result store (incidents and their alerts together).
        files: Files removed.
        bytes: Bytes of the files removed.
    """

    monitor: str
    kind: DataKind
    cutoff: date
    rows: int = 0
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Folders:
    """Where the monitors' files live: ``$MONITORING_HOME/slices`` and ``.../reports``."""

    slices: ArtifactPath
    reports: ArtifactPath


def prune_monitor(
    store: RetentionRepository,
    folders: Folders,
    monitor: str,
    retention: RetentionConfig,
    today: date,
    *,
    dry_run: bool = False,
) -> list[Removed]:
    """Prune the monitor's data of every kind older than its retention allows.

    Args:
        store: The result store.
        folders: Where slices and reports are.
        monitor: The monitor's name.
        retention: Its ``retention`` keys.
        today: The day to count retention back from (UTC).
        dry_run: Count what would go, remove nothing.

    Returns:
        One record per kind, in the order of :class:`DataKind`.
    """
    out: list[Removed] = []
    for kind, cutoff in cutoffs(retention, today).items():
        if kind in TABLES:
            rows = store.prune_days(monitor, kind, cutoff, dry_run=dry_run)
            out.append(Removed(monitor, kind, cutoff, rows=rows))
        elif kind is DataKind.RESOLVED_INCIDENTS:
            incidents, alerts = store.prune_resolved_incidents(monitor, cutoff, dry_run=dry_run)
            out.append(Removed(monitor, kind, cutoff, rows=incidents + alerts))
        else:
            base = folders.slices if kind is DataKind.SLICES else folders.reports
            gone = prune_files(base, monitor, SUFFIXES[kind], cutoff, dry_run=dry_run)
            for suffix in COMPANIONS.get(kind, ()):
                more = prune_files(base, monitor, suffix, cutoff, dry_run=dry_run)
                gone = FilesRemoved(gone.files + more.files, gone.bytes + more.bytes)
            out.append(Removed(monitor, kind, cutoff, files=gone.files, bytes=gone.bytes))
    return out


def folders_under(home: ArtifactPath) -> Folders:
    """The folders of ``$MONITORING_HOME``: slices and reports side by side."""
    return Folders(slices=home / "slices", reports=home / "reports")


def describe(removed: list[Removed], *, dry_run: bool = False) -> list[str]:
    """One line per monitor and kind, then the totals, as ``monitoring prune`` prints them."""
    verb = "would remove" if dry_run else "removed"
    lines = [
        f"{r.monitor} {r.kind.value} before {r.cutoff}: {verb} {_amount(r.rows, r.files, r.bytes)}"
        for r in removed
    ]
    rows = sum(r.rows for r in removed)
    files = sum(r.files for r in removed)
    size = sum(r.bytes for r in removed)
    monitors = len({r.monitor for r in removed})
    lines.append(f"total ({monitors} monitors): {verb} {_amount(rows, files, size, both=True)}")
    return lines


def _amount(rows: int, files: int, size: int, *, both: bool = False) -> str:
    parts = []
    if rows or both or not files:
        parts.append(f"{rows} rows")
    if files or both:
        parts.append(f"{files} files ({_bytes(size)})")
    return ", ".join(parts)


def _bytes(size: int) -> str:
    value, unit = float(size), "B"
    for larger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
