"""OpenTelemetry spans into an inference table a monitor reads.

One row per model call (``gen_ai.*`` attributes) or HTTP server span; writing is idempotent by
request id, and a malformed span is counted by reason, never stopping the load. The table and the
writing are shared by ``otel load`` (files) and ``otel serve`` (the OTLP/HTTP receiver).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.types import TypeEngine

from monitoring_pipelines.core.errors import MonitoringError
from monitoring_pipelines.core.integrations import otlp_json as otlp
from monitoring_pipelines.core.integrations.span_rows import (
    REASONS,
    ColumnSpec,
    InferenceRow,
    Rejected,
    to_row,
)

EXAMPLES_PER_REASON = 3


class TraceLoadError(MonitoringError):
    """Spans could not be loaded: an unreadable file, or an unusable or unwritable table."""


# Columns a monitor maps and every load writes; the others are written when the table has them.
REQUIRED = (
    "request_id",
    "ts",
    "service",
    "operation",
    "llm_model",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "status",
    "error_type",
    "session_id",
)


def _columns(extra: Sequence[ColumnSpec] = ()) -> list[Column[object]]:
    text = ("service", "operation", "llm_model", "status", "error_type", "session_id")
    columns: list[Column[object]] = [
        Column("request_id", Text, primary_key=True),
        Column("ts", DateTime(timezone=False), nullable=False),
    ]
    columns += [Column(name, Text) for name in text]
    columns += [
        Column("prompt_tokens", Integer),
        Column("completion_tokens", Integer),
        Column("latency_ms", Float),
    ]
    columns += [Column(n, Text) for n in ("trace_id", "span_name", "provider", "response_model")]
    columns.append(Column("http_status_code", Integer))
    columns += [Column(c.name, _TYPES[c.type]) for c in extra]
    return columns


_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "text": Text,
    "float": Float,
    "int": BigInteger,
}


def inference_table(
    name: str, metadata: MetaData | None = None, extra: Sequence[ColumnSpec] = ()
) -> Table:
    """The table this loader creates: plain types, request id as primary key, ts indexed."""
    table = Table(name, metadata or MetaData(), *_columns(extra))
    Index(f"ix_{name}_ts"[:63], table.c.ts)
    return table


@dataclass
class LoadReport:
    """What a load read, wrote, skipped and rejected."""

    table: str
    files: int = 0
    spans: int = 0
    loaded: int = 0
    duplicates: int = 0
    not_mapped: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    models: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def reject(self, rejected: Rejected) -> None:
        self.rejected[rejected.reason] += 1
        shown = self.examples.setdefault(rejected.reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(f"{rejected.where}: {rejected.detail}")

    def lines(self) -> list[str]:
        """The report as text, one line each."""
        out = [f"read {self.spans} span(s) from {self.files} file(s)"]
        span = ""
        if self.first and self.last:
            span = f", {self.first:%Y-%m-%d %H:%M:%S} .. {self.last:%Y-%m-%d %H:%M:%S} UTC"
        models = ", ".join(f"{m} {n}" for m, n in self.models.most_common(5))
        out.append(
            f"loaded {self.loaded} new row(s) into '{self.table}'{span}"
            + (f" (models: {models})" if models else "")
        )
        out.append(
            f"skipped {self.duplicates} already loaded (same request id) and "
            f"{self.not_mapped} neither model calls (gen_ai.*, OpenInference LLM) "
            "nor HTTP server spans"
        )
        if self.rejected:
            out.append(f"rejected {sum(self.rejected.values())}:")
            for reason, count in self.rejected.most_common():
                out.append(f"  {reason} {count} ({REASONS[reason]})")
                out += [f"    {example}" for example in self.examples[reason]]
        return out


def load_spans(
    paths: Iterable[Path],
    engine: Engine,
    table: str,
    *,
    chunk_rows: int = 1000,
    columns: Sequence[ColumnSpec] = (),
) -> LoadReport:
    """Load the GenAI and HTTP server spans of OTLP/JSON files into ``table``, creating it if
    absent.

    Args:
        paths: OTLP/JSON files (JSON Lines of export requests, or one request per file).
        engine: The warehouse the monitor reads.
        table: The inference table; an existing one needs the columns of ``REQUIRED``.
        chunk_rows: Rows written per transaction.
        columns: Application attributes written to columns of their own (added if absent).

    Raises:
        TraceLoadError: A file cannot be read, or the table cannot be created or written.
    """
    target = ensure_table(engine, table, columns)
    report = LoadReport(table)
    pending: list[InferenceRow] = []
    for row in _rows(paths, report, columns):
        pending.append(row)
        if len(pending) >= chunk_rows:
            _flush(engine, target, pending, report)
    _flush(engine, target, pending, report)
    return report


def _rows(
    paths: Iterable[Path], report: LoadReport, columns: Sequence[ColumnSpec]
) -> Iterator[InferenceRow]:
    for path in paths:
        report.files += 1
        try:
            for item in otlp.read_spans(path):
                if isinstance(item, otlp.BadDocument):
                    report.reject(Rejected(item.reason, item.where, item.detail))
                    continue
                report.spans += 1
                row = to_row(item, columns)
                if row is None:
                    report.not_mapped += 1
                elif isinstance(row, Rejected):
                    report.reject(row)
                else:
                    yield row
        except (OSError, UnicodeDecodeError) as exc:
            raise TraceLoadError(f"cannot read spans from {path}: {exc}") from exc


def ensure_table(engine: Engine, name: str, extra: Sequence[ColumnSpec] = ()) -> Table:
    """The table to write: created when absent; when present, its columns of ours (it must have
    every column of ``REQUIRED``), and the ``extra`` columns, added when it lacks them."""
    try:
        inspector = inspect(engine)
        if not inspector.has_table(name):
            table = inference_table(name, extra=extra)
            table.metadata.create_all(engine)
            return table
        existing = {c["name"]: c["type"] for c in inspector.get_columns(name)}
    except SQLAlchemyError as exc:
        raise TraceLoadError(f"cannot create or inspect table '{name}': {exc}") from exc
    missing = [c for c in REQUIRED if c not in existing]
    if missing:
        raise TraceLoadError(
            f"table '{name}' exists without column(s) {', '.join(missing)}; expected "
            f"{', '.join(REQUIRED)} (or give a new table name and it is created)"
        )
    for spec in extra:
        if spec.name not in existing:
            existing[spec.name] = _add_column(engine, name, spec)
    aware = bool(getattr(existing["ts"], "timezone", False))
    columns = [
        Column("ts", DateTime(timezone=aware)) if c.name == "ts" else c
        for c in _columns(extra)
        if c.name in existing
    ]
    return Table(name, MetaData(), *columns)


def _add_column(engine: Engine, table: str, spec: ColumnSpec) -> TypeEngine[Any]:
    """Add a nullable column for ``spec``; TraceLoadError names the statement to run."""
    preparer = engine.dialect.identifier_preparer
    kind = _TYPES[spec.type]().compile(dialect=engine.dialect)
    statement = f"ALTER TABLE {preparer.quote(table)} ADD COLUMN {preparer.quote(spec.name)} {kind}"
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise TraceLoadError(
            f"table '{table}' has no column {spec.name} for --column "
            f"{spec.name}={spec.attribute}:{spec.type}, and adding it failed ({reason}); "
            f"run `{statement}` as the table's owner, or drop the option"
        ) from exc
    return _TYPES[spec.type]()


def write_rows(engine: Engine, table: Table, rows: Sequence[InferenceRow]) -> list[InferenceRow]:
    """Insert, in one transaction, the rows whose request id the table does not hold yet;
    the rows inserted.

    Raises:
        SQLAlchemyError: The transaction failed; none of the rows is written.
    """
    if not rows:
        return []
    unique: dict[str, InferenceRow] = {}
    for row in rows:
        unique.setdefault(row.request_id, row)
    aware = bool(getattr(table.c.ts.type, "timezone", False))
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                held: set[str] = set()
                keys = list(unique)
                for at in range(0, len(keys), 10_000):  # bound the statement's parameters
                    part = keys[at : at + 10_000]
                    held.update(
                        conn.execute(
                            select(table.c.request_id).where(table.c.request_id.in_(part))
                        ).scalars()
                    )
                new = [r for key, r in unique.items() if key not in held]
                if new:
                    names = frozenset(table.c.keys())
                    conn.execute(insert(table), [_values(r, names, aware) for r in new])
            return new
        except IntegrityError:
            # Another writer inserted some of the ids between our read and our insert: read again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _flush(engine: Engine, table: Table, rows: list[InferenceRow], report: LoadReport) -> None:
    """Insert the rows whose request id the table does not hold yet, in one transaction."""
    if not rows:
        return
    try:
        new = write_rows(engine, table, rows)
    except SQLAlchemyError as exc:
        raise TraceLoadError(f"cannot write {len(rows)} row(s) to '{table.name}': {exc}") from exc
    report.loaded += len(new)
    report.duplicates += len(rows) - len(new)
    for row in new:
        report.models[row.llm_model or "(no model)"] += 1
        report.first = min(report.first or row.ts, row.ts)
        report.last = max(report.last or row.ts, row.ts)
    rows.clear()


def _values(row: InferenceRow, names: frozenset[str], aware: bool) -> dict[str, object]:
    values = {k: v for k, v in row.values().items() if k in names}
    # A TIMESTAMP column without a zone holds UTC wall time; handing the driver an aware value
    # would convert it to the session's zone.
    values["ts"] = row.ts if aware else row.ts.replace(tzinfo=None)
    return values


def monitor_name(table: str) -> str:
    """A valid monitor name from a table name (lower-case letters, digits and ``_``)."""
    name = re.sub(r"[^a-z0-9_]+", "_", table.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"llm_{name}".rstrip("_")
    return name[:48]


@dataclass(frozen=True)
class TableSummary:
    """What a monitor over a loaded table needs to know about it."""

    table: str
    first_day: date | None
    models: tuple[str, ...]
    sessions: bool
    texts: tuple[str, ...] = ()
    """Of ``question``, ``answer`` and ``context``, the columns the table has (``--column``)."""


def summarize_table(engine: Engine, name: str, max_models: int = 10) -> TableSummary:
    """The table's first day, its most frequent models, and whether it has sessions."""
    table = ensure_table(engine, name)
    count = func.count().label("n")
    try:
        with engine.connect() as conn:
            first = conn.execute(select(func.min(table.c.ts))).scalar()
            models = conn.execute(
                select(table.c.llm_model, count)
                .where(table.c.llm_model.is_not(None))
                .group_by(table.c.llm_model)
                .order_by(count.desc(), table.c.llm_model)
                .limit(max_models)
            ).all()
            session = conn.execute(
                select(table.c.session_id).where(table.c.session_id.is_not(None)).limit(1)
            ).first()
        columns = {c["name"] for c in inspect(engine).get_columns(name)}
    except SQLAlchemyError as exc:
        raise TraceLoadError(f"cannot read table '{name}': {exc}") from exc
    return TableSummary(
        name,
        first.date() if isinstance(first, datetime) else None,
        tuple(str(m.llm_model) for m in models),
        session is not None,
        tuple(c for c in TEXT_COLUMNS if c in columns),
    )


TEXT_COLUMNS = ("question", "answer", "context")
"""Columns that, when loaded with ``--column``, a monitor reads as the LLM's texts."""


def monitor_snippet(summary: TableSummary) -> str:
    """A monitor file mapping the table: service SLOs, LLM tokens and costs."""
    first = summary.first_day or datetime.now(UTC).date()
    session = "\n      session_column: session_id" if summary.sessions else ""
    example = summary.models[0] if summary.models else "MODEL"
    seen = f"\n      # Models in the table: {', '.join(summary.models)}." if summary.models else ""
    texts = "".join(f"\n      {c}_column: {c}" for c in summary.texts)
    return f"""\
version: 1
monitors:
  {monitor_name(summary.table)}:
    description: GenAI calls from OpenTelemetry spans (monitoring otel load)
    start_date: {first.isoformat()}
    source:
      table: {summary.table}
      timestamp_column: ts
      request_id_column: request_id{session}
    service:
      latency_column: latency_ms
      status_column: status
      error_statuses: [error]
      slo: {{latency_ms: 10000, latency_percentile: 95, error_rate: 0.02}}  # your objectives
    llm:
      model_column: llm_model
      prompt_tokens_column: prompt_tokens
      completion_tokens_column: completion_tokens{texts}
      # USD per 1,000 tokens, one entry per model, e.g.
      #   - {{model: {example}, input_per_1k: 0.0025, output_per_1k: 0.01}}
      # A model without a price is reported as unpriced, never as $0.{seen}
      prices: []
"""
