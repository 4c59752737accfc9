"""The result store's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Results are keyed by (monitor, partition, ...) so a partition's rows can be replaced in one
transaction: a rerun or backfill never duplicates anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator

from monitoring_pipelines.core.dimensions import fit_key

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = value
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


class Key(TypeDecorator[str]):
    """A bounded text column that holds data-derived names (segment values, intents, model
    versions, request ids): a longer value is shortened by the one codec
    (:func:`~monitoring_pipelines.core.dimensions.fit_key`) in writes and comparisons alike,
    so it is stored on every backend and a lookup by the full value finds its row."""

    impl = String
    cache_ok = True

    def __init__(self, length: int = 255) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else fit_key(value, self.length)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)


NAME = 64
PARTITION = 32  # a UTC day "2026-09-01", or "reference"

reference_sketches = Table(
    "reference_sketches",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("column_name", Key(255), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("n", Integer, nullable=False),
    Column("n_missing", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("reference_hash", String(64), nullable=False),
    Column("built_at", UtcDateTime(), nullable=False),
)

# The reference's rows of one weekday (core/profile/fitting.py Season), over its whole bins.
reference_seasons = Table(
    "reference_seasons",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("season", String(32), primary_key=True),
    Column("column_name", Key(255), primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("days", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("reference_hash", String(64), nullable=False),
)

# The anomaly metrics on each day of the reference (core/anomaly/reference.py): baseline days
# for a monitor's first weeks. Replaced whole with each build of the reference.
reference_days = Table(
    "reference_days",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("metric", String(NAME), primary_key=True),
    Column("day", String(PARTITION), primary_key=True),  # a UTC day "2026-04-20"
    # "" for the metric; {"intent": "returns"} for a breakdown value's part of it.
    Column("dimensions", String(255), primary_key=True),
    Column("value", Float, nullable=False),
    Column("reference_hash", String(64), nullable=False),
    Column("built_at", UtcDateTime(), nullable=False),
)

# Why a metric has no reference days (no timestamp column, a missing column...), per build.
reference_day_notes = Table(
    "reference_day_notes",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("metric", String(NAME), primary_key=True),
    Column("note", Text, nullable=False),
    Column("reference_hash", String(64), nullable=False),
)

profiles = Table(
    "profiles",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("partition_key", String(PARTITION), primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("profile", LargeBinary, nullable=False),
    Column("summary", JSON, nullable=False),
    Column("written_at", UtcDateTime(), nullable=False),
)

column_sketches = Table(
    "column_sketches",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("partition_key", String(PARTITION), primary_key=True),
    Column("column_name", Key(255), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("n", Integer, nullable=False),
    Column("n_missing", Integer, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)

slice_quality = Table(
    "slice_quality",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("partition_key", String(PARTITION), primary_key=True),
    Column("rows_read", Integer, nullable=False),
    Column("rows_kept", Integer, nullable=False),
    Column("findings", JSON, nullable=False),
    Column("written_at", UtcDateTime(), nullable=False),
)

drift_results = Table(
    "drift_results",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("partition_key", String(PARTITION), primary_key=True),
    Column("column_name", Key(255), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("statistic", String(32), nullable=False),
    Column("score", Float, nullable=True),
    Column("p_value", Float, nullable=True),
    Column("p_adjusted", Float, nullable=True),
    Column("p_value_rows", Integer, nullable=True),
    Column("rows", Integer, nullable=False),
    Column("reference_rows", Integer, nullable=False),
    Column("warn_threshold", Float, nullable=False),
    Column("critical_threshold", Float, nullable=False),
    Column("verdict", String(32), nullable=False),
    Column("note", Text, nullable=True),
    Column("shift", JSON, nullable=True),  # what moved, in the column's units (drift/shift.py)
)

metrics = Table(
    "metrics",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("asset", String(NAME), primary_key=True),
    Column("partition_key", String(PARTITION), primary_key=True),
    Column("name", String(NAME), primary_key=True),
    Column("dimensions", String(255), primary_key=True),
    Column("value", Float, nullable=True),
)

check_results = Table(
    "check_results",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("check_name", String(NAME), primary_key=True),
    Column("subject", Key(255), primary_key=True),
    Column("partition_key", String(PARTITION), primary_key=True),
    Column("passed", Boolean, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("summary", Text, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("asset", String(255), nullable=False),
    Column("evaluated_at", UtcDateTime(), nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", Key(400), nullable=False),
    Column("monitor", String(NAME), nullable=False),
    Column("check_name", String(NAME), nullable=False),
    Column("subject", Key(255), nullable=False),
    # Findings of one family on one monitor are one problem: the first incident of an episode
    # is its root (parent_id null); incidents that join it while it is open point to it.
    Column("family", Key(255), nullable=False, server_default=""),
    Column("parent_id", Integer, nullable=True, index=True),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("first_partition", String(PARTITION), nullable=False),
    Column("last_failing_partition", String(PARTITION), nullable=False),
    Column("failing_partitions", Integer, nullable=False),
    Column("resolved_partition", String(PARTITION), nullable=True),
    Column("title", Text, nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    Column("slack_channel", String(128), nullable=True),
    Column("slack_ts", String(64), nullable=True),
)
# At most one incident per fingerprint that is not resolved.
Index(
    "incidents_one_active_per_fingerprint",
    incidents.c.fingerprint,
    unique=True,
    sqlite_where=text("status != 'resolved'"),
    postgresql_where=text("status != 'resolved'"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_key", Key(400), nullable=False, unique=True),
    Column("incident_id", Integer, nullable=True, index=True),
    Column("kind", String(16), nullable=False),
    Column("fingerprint", Key(400), nullable=False),
    Column("monitor", String(NAME), nullable=False),
    Column("check_name", String(NAME), nullable=False),
    Column("subject", Key(255), nullable=False),
    Column("partition_key", String(PARTITION), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("message", JSON, nullable=False),
    Column("channel", String(128), nullable=True),
    Column("status", String(16), nullable=False, index=True),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("slack_ts", String(64), nullable=True),
    # Where the alert goes: "slack" (the channel above) or "pagerduty".
    Column("target", String(16), nullable=False, server_default="slack"),
    # The backfill whose run produced it: such alerts are summarised in one message.
    Column("backfill_id", String(64), nullable=True, index=True),
)

# Mute windows: alerts matching one are recorded, not sent (monitoring mute add).
mutes = Table(
    "mutes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor", String(NAME), nullable=False),
    Column("check_name", String(NAME), nullable=True),
    Column("subject", Key(255), nullable=True),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("ends_at", UtcDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

processed_runs = Table(
    "processed_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("evaluations", Integer, nullable=False),
    Column("processed_at", UtcDateTime(), nullable=False),
)

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# -- hallucination monitoring ------------------------------------------------------------------

# The day's sampled LLM answers and the judge's verdicts; replaced per partition. The request
# key is the slice's ``__key`` (a 64-bit hash of the request id) in 16 hex digits.
faithfulness_scores = Table(
    "faithfulness_scores",
    metadata,
    Column("monitor", String(NAME), primary_key=True),
    Column("partition_key", String(PARTITION), primary_key=True),
    Column("request_key", String(16), primary_key=True),
    Column("intent", Key(255), nullable=True),
    Column("article", Key(255), nullable=True),
    Column("model_version", Key(255), nullable=True),
    # Answers of the request's intent that day that could be judged: the sampling weight of
    # this answer is stratum_rows / (answers of the intent scored that day).
    Column("stratum_rows", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("rationale", Text, nullable=False),
    Column("judge", String(128), nullable=False),
    Column("prompt_version", String(128), nullable=False),
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("cost_usd", Float, nullable=True),
    Column("scored_at", UtcDateTime(), nullable=False),
    # SHA-256 of the question, context and answer the judge saw (judge.cache.content_sha256):
    # a rerun reuses the verdict only for the same texts, judge and prompt version. Rows
    # stored before it was kept have none and are never reused.
    Column("content_sha256", String(64), nullable=True),
    # The unsupported span the judge named (Verdict.unsupported_span): character offsets
    # into the answer, both null when it named none.
    Column("span_start", Integer, nullable=True),
    Column("span_end", Integer, nullable=True),
)

# Answers the judge scored under the threshold, for a person to review. One item per monitor
# and request: a rerun of the partition refreshes a pending item and never touches a reviewed one.
review_queue = Table(
    "review_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor", String(NAME), nullable=False),
    Column("request_key", String(16), nullable=False),
    Column("request_id", Key(255), nullable=True),
    Column("reason", String(16), nullable=False, server_default="flagged"),
    Column("partition_key", String(PARTITION), nullable=False),
    Column("question", Text, nullable=True),
    Column("context", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("rationale", Text, nullable=False),
    Column("span_start", Integer, nullable=True),
    Column("span_end", Integer, nullable=True),
    Column("judge", String(128), nullable=False),
    Column("prompt_version", String(128), nullable=False),
    Column("model_version", Key(255), nullable=True),
    Column("intent", Key(255), nullable=True),
    Column("article", Key(255), nullable=True),
    Column("status", String(16), nullable=False, index=True),
    Column("corrected_answer", Text, nullable=True),
    Column("reviewer", String(128), nullable=True),
    Column("reviewed_at", UtcDateTime(), nullable=True),
    Column("note", Text, nullable=True),
    Column("queued_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index(
    "review_queue_one_per_request", review_queue.c.monitor, review_queue.c.request_key, unique=True
)
