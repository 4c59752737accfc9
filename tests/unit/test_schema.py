"""Schema changes: new, missing and retyped columns against the configuration, the reference
and the previous snapshot, and the snapshot's round trip through the result store."""

from __future__ import annotations

from datetime import date

import pytest

from monitoring_pipelines.core.config import MonitorConfig, Severity
from monitoring_pipelines.core.quality.schema import (
    SNAPSHOT_ASSET,
    UNCONFIGURED,
    configured_columns,
    diff_schema,
    drift_kinds,
    previous_snapshot,
    schema_check,
    snapshot_metrics,
    storable,
    type_family,
)
from monitoring_pipelines.core.store.results import MetricRecord, ResultRepository

TABLE = {
    "ts": "TEXT",
    "request_id": "VARCHAR(64)",
    "amount": "FLOAT",
    "channel": "VARCHAR(16)",
    "decision": "TEXT",
    "note": "TEXT",
}
CONFIGURED = {
    "ts": "the timestamp",
    "request_id": "the request id",
    "amount": "a numeric feature",
    "channel": "a categorical feature",
    "decision": "the prediction",
}
KINDS = {"amount": "numeric", "channel": "categorical", "decision": "categorical"}


def check(current: dict[str, str], previous: dict[str, str] | None, **kwargs: object):  # type: ignore[no-untyped-def]
    diff = diff_schema(
        current,
        CONFIGURED,
        previous,
        previous_partition="2026-09-01" if previous is not None else None,
        **kwargs,  # type: ignore[arg-type]
    )
    return diff, schema_check(diff)


@pytest.mark.parametrize(
    ("sql_type", "family"),
    [
        ("INTEGER", "numeric"),
        ("BIGINT", "numeric"),
        ("DOUBLE PRECISION", "numeric"),
        ("NUMERIC(18, 4)", "numeric"),
        ("REAL", "numeric"),
        ("VARCHAR(32)", "text"),
        ("CHARACTER VARYING", "text"),
        ("TEXT", "text"),
        ("TIMESTAMP WITHOUT TIME ZONE", "temporal"),
        ("DATETIME", "temporal"),
        ("DATE", "temporal"),
        ("INTERVAL", "temporal"),
        ("BOOLEAN", "boolean"),
        ("JSON", "other"),
        ("BYTEA", "other"),
    ],
)
def test_type_families(sql_type: str, family: str) -> None:
    assert type_family(sql_type) == family


def test_first_snapshot_only_checks_the_configured_columns() -> None:
    diff, outcome = check(TABLE, None)
    assert diff.changes == () and outcome.passed
    assert "first snapshot" in outcome.summary
    subjects = {f.subject for f in outcome.findings}
    assert subjects == set(CONFIGURED) | {UNCONFIGURED}  # every subject, every day


def test_unchanged_schema_passes() -> None:
    changed = dict(TABLE, amount="DOUBLE PRECISION", channel="TEXT")  # same families
    diff, outcome = check(changed, TABLE)
    assert diff.changes == () and outcome.passed
    assert outcome.summary == "6 columns, unchanged since 2026-09-01"


def test_new_unconfigured_column_is_a_warning_naming_it() -> None:
    _, outcome = check({**TABLE, "coupon": "TEXT"}, TABLE)
    assert not outcome.passed and outcome.severity is Severity.WARN
    [failing] = outcome.failing
    assert failing.subject == UNCONFIGURED and "new column coupon (TEXT)" in failing.summary
    assert outcome.metadata["columns_new"] == 1
    assert "coupon" in outcome.summary


def test_removed_and_retyped_unconfigured_columns_are_warnings() -> None:
    current = {k: v for k, v in TABLE.items() if k != "note"}
    _, removed = check(current, TABLE)
    assert removed.severity is Severity.WARN and "note (TEXT) was removed" in removed.summary
    _, retyped = check(dict(TABLE, note="INTEGER"), TABLE)
    assert retyped.severity is Severity.WARN
    assert "note changed type from TEXT to INTEGER" in retyped.summary


def test_missing_configured_column_is_critical() -> None:
    current = {k: v for k, v in TABLE.items() if k != "channel"}
    diff, outcome = check(current, TABLE)
    assert outcome.severity is Severity.CRITICAL
    [failing] = outcome.failing
    assert failing.subject == "channel" and failing.severity is Severity.CRITICAL
    assert "channel is missing from the table" in failing.summary
    assert diff.count("missing") == 1
    # Without a previous snapshot it is just as missing.
    _, first = check(current, None)
    assert [f.subject for f in first.failing] == ["channel"]


def test_retyped_configured_column_is_critical() -> None:
    _, outcome = check(dict(TABLE, amount="TEXT"), TABLE)
    [failing] = outcome.failing
    assert (failing.subject, failing.severity) == ("amount", Severity.CRITICAL)
    assert "amount changed type from FLOAT to TEXT" in failing.summary
    assert outcome.metadata["columns_retyped"] == 1


def test_reference_out_of_step_with_the_configuration_is_critical() -> None:
    reference = {"amount": "numeric", "channel": "numeric"}  # decision absent, channel retyped
    _, outcome = check(TABLE, TABLE, expected_kinds=KINDS, reference_kinds=reference)
    failing = {f.subject: f for f in outcome.failing}
    assert set(failing) == {"channel", "decision"}
    assert "categorical in the configuration but numeric" in failing["channel"].summary
    assert "not in the reference profile" in failing["decision"].summary
    assert outcome.metadata["reference_mismatches"] == 2


def test_configured_columns_and_kinds_of_a_monitor() -> None:
    monitor = MonitorConfig.model_validate(
        {
            "start_date": date(2026, 9, 1),
            "source": {"table": "t", "timestamp_column": "ts", "request_id_column": "rid"},
            "reference": {"table": "ref"},
            "features": {"numeric": ["amount"], "categorical": ["channel"]},
            "prediction": {"column": "p", "type": "score"},
            "segments": ["version"],
            "service": {"latency_column": "latency_ms", "status_column": "status"},
            "llm": {
                "model_column": "model",
                "prompt_tokens_column": "pt",
                "completion_tokens_column": "ct",
            },
        }
    )
    columns = configured_columns(monitor)
    assert set(columns) == {
        "ts", "rid", "amount", "channel", "p", "version", "latency_ms", "status", "model",
        "pt", "ct",
    }  # fmt: skip
    assert columns["ts"] == "the timestamp" and columns["latency_ms"] == "a service column"
    assert drift_kinds(monitor) == {"amount": "numeric", "p": "numeric", "channel": "categorical"}


# -- the snapshot in the result store ---------------------------------------------------------


def stored_rows(partition: str, columns: dict[str, str]) -> list[MetricRecord]:
    return [
        MetricRecord(partition, name, dims, value)
        for (name, dims), value in snapshot_metrics(columns).items()
    ]


def test_previous_snapshot_is_the_latest_earlier_partition() -> None:
    rows = (
        stored_rows("2026-09-01", {"a": "TEXT"})
        + stored_rows("2026-09-03", {"b": "FLOAT", "a": "TEXT"})
        + stored_rows("2026-09-05", {"c": "TEXT"})
    )
    assert previous_snapshot(rows, "2026-09-05") == ("2026-09-03", {"b": "FLOAT", "a": "TEXT"})
    assert list(previous_snapshot(rows, "2026-09-05")[1] or {}) == ["b", "a"]  # table order
    assert previous_snapshot(rows, "2026-09-03")[0] == "2026-09-01"  # a rerun: same answer
    assert previous_snapshot(rows, "2026-09-01") == (None, None)


def test_long_types_are_cut_and_impossible_names_left_out() -> None:
    long_type = "ENUM(" + ",".join(f"'v{i}'" for i in range(80)) + ")"
    metrics = snapshot_metrics({"c": long_type, "x" * 300: "TEXT"})
    assert len(metrics) == 1
    [dims] = [d for _, d in metrics]
    assert len(dims) == 255
    _, snapshot = previous_snapshot(stored_rows("2026-09-01", {"c": long_type}), "2026-09-02")
    assert snapshot is not None and long_type.startswith(snapshot["c"])
    assert type_family(snapshot["c"]) == type_family(long_type)
    assert storable({"c": "TEXT", "x" * 300: "TEXT"}) == {"c": "TEXT"}


def test_snapshot_round_trips_through_the_store(results: ResultRepository) -> None:
    long_type = "ENUM(" + ",".join(f"'välue{i}'" for i in range(60)) + ")"
    columns = {"ts": "TEXT", "amount": "FLOAT", "ümlaut": long_type}
    results.save_metrics("m", SNAPSHOT_ASSET, "2026-09-01", snapshot_metrics(columns))
    results.save_metrics("m", SNAPSHOT_ASSET, "2026-09-01", snapshot_metrics(columns))  # rerun
    rows = results.load_metrics("m", SNAPSHOT_ASSET)
    assert len(rows) == 3
    partition, snapshot = previous_snapshot(rows, "2026-09-02")
    assert partition == "2026-09-01" and snapshot is not None
    assert list(snapshot) == list(columns) and snapshot["amount"] == "FLOAT"
    assert long_type.startswith(snapshot["ümlaut"])
