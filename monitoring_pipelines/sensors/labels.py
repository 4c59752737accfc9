"""The labels sensor: when late labels land, re-materialize the performance of their days.

Each tick maps the labels that arrived since its cursor to the UTC days of the requests they
label and requests one ``<monitor>/performance`` run per day and cursor position.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg

from monitoring_pipelines.core.catalog import Asset
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.partitions import daily_partitions
from resources import WarehouseResource

INTERVAL_S = 300  # labels arrive over days: five minutes of latency costs nothing
CURSOR_VERSION = 1


@dataclass(frozen=True)
class MonitorTick:
    """What one tick found for one monitor: the days with new labels and the new cursor."""

    days: Mapping[str, str]  # partition key -> run-key token (the cursor position it reflects)
    cursor: dict[str, Any]
    note: str


def labels_sensor(
    monitors: Mapping[str, MonitorConfig], run_tags: Mapping[str, str] | None = None
) -> dg.SensorDefinition:
    """One sensor for every monitor with labels, named ``labels``; its runs carry ``run_tags``
    (the warehouse) besides the monitor's."""
    watched = {n: m for n, m in monitors.items() if m.labels is not None and m.prediction}
    keys = [dg.AssetKey([name, Asset.PERFORMANCE]) for name in watched]

    # asset_selection (not target): each run resolves to the base job of its own monitor's
    # partitions, so monitors with different start dates share the sensor.
    @dg.sensor(
        name="labels",
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=dg.AssetSelection.assets(*keys),
        description="Requests a run of <monitor>/performance for each day whose requests got "
        "new labels since the last tick.",
    )
    def labels(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SensorResult:
        state = {n: c for n, c in _load_cursor(context.cursor).items() if n in watched}
        requests: list[dg.RunRequest] = []
        notes = []
        for name, monitor in watched.items():
            try:
                tick = poll_monitor(warehouse, monitor, state.get(name))
            except SourceError as exc:
                context.log.warning(f"labels sensor, monitor '{name}': {exc}")
                notes.append(f"{name}: error")
                continue
            state[name] = tick.cursor
            sliced = context.instance.get_materialized_partitions(
                dg.AssetKey([name, Asset.LIVE_SLICE])
            )
            partitions = daily_partitions(monitor)
            skipped = 0
            for day, token in sorted(tick.days.items()):
                if day not in sliced or not partitions.has_partition_key(day):
                    skipped += 1
                    continue
                requests.append(
                    dg.RunRequest(
                        run_key=f"labels:{name}:{day}:{token}",
                        partition_key=day,
                        asset_selection=[dg.AssetKey([name, Asset.PERFORMANCE])],
                        tags={**(run_tags or {}), "monitor": name, "trigger": "late_labels"},
                    )
                )
            notes.append(
                f"{name}: {tick.note}" + (f", {skipped} day(s) not sliced" if skipped else "")
            )
        cursor = json.dumps({"version": CURSOR_VERSION, "monitors": state}, sort_keys=True)
        summary = "; ".join(notes) or "no monitor has labels"
        if requests:
            context.log.info(summary)
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        return dg.SensorResult(skip_reason=summary, cursor=cursor)

    return labels


def poll_monitor(
    warehouse: WarehouseResource, monitor: MonitorConfig, cursor: dict[str, Any] | None
) -> MonitorTick:
    """The days whose labels changed since ``cursor`` (None: first tick, nothing requested)."""
    # Imported by a tick, not with the definitions that every run loads: it brings pandas.
    from monitoring_pipelines.core.ingest.labels import label_watermark, labels_by_day

    labels = monitor.labels
    assert labels is not None
    engine = warehouse.engine
    if labels.timestamp_column:
        kind, newest = label_watermark(engine, labels)
        mark = _stamp_text(newest)
        if cursor is None or "labelled_at" not in cursor:
            return MonitorTick({}, {"labelled_at": mark}, f"started at {mark}")
        after = _stamp_value(cursor["labelled_at"], kind)
        if newest is None or mark == cursor["labelled_at"]:
            return MonitorTick({}, cursor, "no new labels")
        counts = labels_by_day(engine, monitor.source, labels, after=after, upto=newest)
        days = {day: str(mark) for day in counts}
        note = f"{sum(counts.values())} new label(s) for {len(days)} day(s) up to {mark}"
        return MonitorTick(days, {"labelled_at": mark}, note)
    counts = labels_by_day(engine, monitor.source, labels)
    if cursor is None or "counts" not in cursor:
        return MonitorTick({}, {"counts": counts}, f"started at {sum(counts.values())} label(s)")
    before: dict[str, int] = cursor["counts"]
    changed = {day: str(n) for day, n in counts.items() if before.get(day) != n}
    return MonitorTick(changed, {"counts": counts}, f"labels changed for {len(changed)} day(s)")


def _load_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    data = json.loads(cursor)
    if data.get("version") != CURSOR_VERSION:
        return {}
    return dict(data.get("monitors", {}))


def _stamp_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _stamp_value(text: str | None, kind: str) -> Any:
    """A cursor position as the labels' timestamp column compares it."""
    if text is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(text)
    if kind == "number":
        return float(text)
    return text
