"""Removing a monitor's files of days before a cutoff: ``<base>/<monitor>/<day>.<suffix>``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

from monitoring_pipelines.core.artifacts import ArtifactPath
from monitoring_pipelines.core.retention.policy import expired


@dataclass(frozen=True)
class FilesRemoved:
    """Files removed (or that would be) and their size in bytes."""

    files: int
    bytes: int


def prune_files(
    base_dir: ArtifactPath, monitor: str, suffix: str, cutoff: date, *, dry_run: bool = False
) -> FilesRemoved:
    """Remove the monitor's files named after a day before ``cutoff``.

    Files not named ``<YYYY-MM-DD><suffix>`` (a write in progress, anything a person put
    there) are left alone; a missing folder, or a file gone meanwhile, removes nothing. The
    folder may be in an object store (``base_dir`` a ``UPath``).
    """
    folder = base_dir / monitor
    if not folder.is_dir():
        return FilesRemoved(0, 0)
    files, size = 0, 0
    # A local folder's paths and an object store's have no common type but the protocol.
    found = cast("list[ArtifactPath]", list(folder.glob(f"*{suffix}")))
    for path in sorted(found, key=lambda p: p.name):
        day = _day_of(path.name.removesuffix(suffix))
        if day is None or not expired(day, cutoff):
            continue
        try:
            length = path.stat().st_size
            if not dry_run:
                path.unlink()
        except FileNotFoundError:
            continue
        files, size = files + 1, size + length
    return FilesRemoved(files, size)


def _day_of(stem: str) -> date | None:
    try:
        return date.fromisoformat(stem) if len(stem) == 10 else None
    except ValueError:
        return None
