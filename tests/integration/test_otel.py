"""GenAI spans made by the real OpenTelemetry SDK, encoded by its OTLP encoder, loaded into an
inference table on SQLite and PostgreSQL, then mapped by a monitor."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# The GenAI conventions are still "development" status, so Python ships them as incubating.
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga
from opentelemetry.semconv.attributes import error_attributes
from opentelemetry.trace import Status, StatusCode

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.config_loading import parse_config
from monitoring_pipelines.core.ingest.warehouse import read_day, source_problems
from monitoring_pipelines.core.integrations.otel import (
    TraceLoadError,
    load_spans,
    monitor_snippet,
    summarize_table,
)
from monitoring_pipelines.core.store.engine import make_engine

DAY = date(2026, 9, 1)
T0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


def nanos(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


@dataclass(frozen=True)
class Exported:
    spans: list[ReadableSpan]
    request: Any  # ExportTraceServiceRequest

    def request_id(self, name: str) -> str:
        span = next(s for s in self.spans if s.name == name)
        assert span.context is not None
        return f"{span.context.trace_id:032x}-{span.context.span_id:016x}"


def make_spans() -> list[ReadableSpan]:
    """What an instrumented RAG service exports: an HTTP span around model calls, calls that
    fail, an embeddings call, and two the loader must reject."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("rag-service")

    def call(name: str, offset_s: float, ms: float, **attrs: Any) -> trace.Span:
        start = T0 + timedelta(seconds=offset_s)
        span = tracer.start_span(name, start_time=nanos(start), attributes=attrs)
        span.end(end_time=nanos(start + timedelta(milliseconds=ms)))
        return span

    http = tracer.start_span("POST /chat", start_time=nanos(T0), attributes={"http.method": "POST"})
    with trace.use_span(http):
        call(
            "chat gpt-4o",
            0.1,
            850,
            **{
                ga.GEN_AI_OPERATION_NAME: "chat",
                ga.GEN_AI_PROVIDER_NAME: "openai",
                ga.GEN_AI_REQUEST_MODEL: "gpt-4o",
                ga.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
                ga.GEN_AI_USAGE_INPUT_TOKENS: 1200,
                ga.GEN_AI_USAGE_OUTPUT_TOKENS: 310,
                ga.GEN_AI_CONVERSATION_ID: "conv-1",
            },
        )
    http.end(end_time=nanos(T0 + timedelta(seconds=1)))
    call(  # an instrumentation still on the older token attributes
        "chat gpt-4o-mini",
        60,
        420.5,
        **{
            ga.GEN_AI_OPERATION_NAME: "chat",
            ga.GEN_AI_SYSTEM: "openai",
            ga.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            ga.GEN_AI_USAGE_PROMPT_TOKENS: 800,
            ga.GEN_AI_USAGE_COMPLETION_TOKENS: 95,
        },
    )
    limited = tracer.start_span(
        "chat rate limited",
        start_time=nanos(T0 + timedelta(minutes=2)),
        attributes={
            ga.GEN_AI_OPERATION_NAME: "chat",
            ga.GEN_AI_REQUEST_MODEL: "gpt-4o",
            error_attributes.ERROR_TYPE: "rate_limit_exceeded",
        },
    )
    limited.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
    limited.end(end_time=nanos(T0 + timedelta(minutes=2, milliseconds=35)))
    timed_out = tracer.start_span(
        "chat timeout",
        start_time=nanos(T0 + timedelta(minutes=3)),
        attributes={ga.GEN_AI_OPERATION_NAME: "chat", ga.GEN_AI_REQUEST_MODEL: "gpt-4o-mini"},
    )
    with pytest.raises(TimeoutError), trace.use_span(timed_out):
        raise TimeoutError("no answer in 30 s")  # the SDK records it and sets ERROR
    timed_out.end(end_time=nanos(T0 + timedelta(minutes=3, seconds=30)))
    call(
        "embeddings text-embedding-3-small",
        240,
        12,
        **{
            ga.GEN_AI_OPERATION_NAME: "embeddings",
            ga.GEN_AI_REQUEST_MODEL: "text-embedding-3-small",
            ga.GEN_AI_USAGE_INPUT_TOKENS: 64,
            ga.GEN_AI_CONVERSATION_ID: "conv-1",
        },
    )
    call(  # a string where a count belongs
        "chat bad tokens",
        300,
        10,
        **{ga.GEN_AI_REQUEST_MODEL: "gpt-4o", ga.GEN_AI_USAGE_INPUT_TOKENS: "many"},
    )
    skewed = tracer.start_span(  # clocks of two hosts: ends before it starts
        "chat skewed",
        start_time=nanos(T0 + timedelta(minutes=6)),
        attributes={ga.GEN_AI_REQUEST_MODEL: "gpt-4o"},
    )
    skewed.end(end_time=nanos(T0 + timedelta(minutes=5)))
    return list(exporter.get_finished_spans())


@pytest.fixture(scope="module")
def exported() -> Exported:
    spans = make_spans()
    return Exported(spans, encode_spans(spans))


def canonical_json(exported: Exported) -> dict[str, Any]:
    """protobuf's own JSON mapping: base64 ids, enum names (what a generic JSON encoder of
    OTLP's messages writes)."""
    document: dict[str, Any] = json_format.MessageToDict(exported.request)
    return document


def spec_json(exported: Exported) -> dict[str, Any]:
    """OTLP/JSON as the specification has it (and a Collector's file exporter writes): integer
    enums, hex trace and span ids."""
    document: dict[str, Any] = json_format.MessageToDict(
        exported.request, use_integers_for_enums=True
    )
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return document


def write_files(exported: Exported, folder: Path) -> tuple[Path, Path]:
    """The same spans twice: one pretty-printed canonical document, and JSON Lines of
    spec-form requests (one resource's spans per line, as the Collector writes them)."""
    pretty = folder / "spans.json"
    pretty.write_text(json.dumps(canonical_json(exported), indent=2), encoding="utf-8")
    lines = folder / "spans.jsonl"
    document = spec_json(exported)
    scopes = document["resourceSpans"][0]["scopeSpans"][0]
    resource = document["resourceSpans"][0]["resource"]
    with lines.open("w", encoding="utf-8") as out:
        for span in scopes["spans"]:
            request = {
                "resourceSpans": [
                    {"resource": resource, "scopeSpans": [{**scopes, "spans": [span]}]}
                ]
            }
            out.write(json.dumps(request) + "\n")
    return pretty, lines


@pytest.fixture
def warehouse(store_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def rows_of(engine: sa.Engine, table: str) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"select * from {table}")).mappings().all()
    return {r["request_id"]: dict(r) for r in rows}


def test_sdk_spans_load_once_into_a_table_a_monitor_reads(
    exported: Exported, warehouse: sa.Engine, tmp_path: Path
) -> None:
    pretty, lines = write_files(exported, tmp_path)

    first = load_spans([pretty], warehouse, "llm_calls", chunk_rows=2)
    again = load_spans([lines, pretty], warehouse, "llm_calls", chunk_rows=2)

    assert (first.spans, first.loaded, first.not_mapped, first.duplicates) == (8, 5, 1, 0)
    assert dict(first.rejected) == {"bad_tokens": 1, "negative_duration": 1}
    assert "gen_ai.usage.input_tokens is 'many'" in first.examples["bad_tokens"][0]
    assert "ends 60000 ms before it starts" in first.examples["negative_duration"][0]
    # Hex and base64 ids name the same spans: the second load adds nothing.
    assert (again.spans, again.loaded, again.duplicates) == (16, 0, 10)
    rows = rows_of(warehouse, "llm_calls")
    assert len(rows) == 5

    chat = rows[exported.request_id("chat gpt-4o")]
    assert chat["request_id"].startswith(f"{chat['trace_id']}-")
    assert _utc(chat["ts"]) == T0 + timedelta(milliseconds=100)
    assert chat["latency_ms"] == pytest.approx(850.0)
    assert (chat["service"], chat["operation"]) == ("support-bot", "chat")
    assert chat["llm_model"] == "gpt-4o"
    assert (chat["prompt_tokens"], chat["completion_tokens"]) == (1200, 310)
    assert (chat["status"], chat["error_type"], chat["session_id"]) == ("ok", None, "conv-1")
    assert (chat["provider"], chat["response_model"]) == ("openai", "gpt-4o-2024-08-06")

    legacy = rows[exported.request_id("chat gpt-4o-mini")]
    assert (legacy["prompt_tokens"], legacy["completion_tokens"]) == (800, 95)
    assert (legacy["provider"], legacy["session_id"]) == ("openai", None)
    assert legacy["latency_ms"] == pytest.approx(420.5)

    limited = rows[exported.request_id("chat rate limited")]
    assert (limited["status"], limited["error_type"]) == ("error", "rate_limit_exceeded")
    assert limited["prompt_tokens"] is None
    timed_out = rows[exported.request_id("chat timeout")]
    assert (timed_out["status"], timed_out["error_type"]) == ("error", "TimeoutError")
    assert timed_out["latency_ms"] == pytest.approx(30_000.0)
    embeddings = rows[exported.request_id("embeddings text-embedding-3-small")]
    assert (embeddings["operation"], embeddings["prompt_tokens"]) == ("embeddings", 64)
    assert embeddings["completion_tokens"] is None

    config = parse_config(monitor_snippet(summarize_table(warehouse, "llm_calls")), {})
    [(name, monitor)] = config.monitors.items()
    assert name == "llm_calls" and monitor.start_date == DAY
    assert monitor.source.session_column == "session_id"
    assert source_problems(name, monitor, warehouse) == []
    columns = ["ts", "request_id", "latency_ms", "status", "llm_model"]
    day = list(read_day(warehouse, monitor.source, columns, DAY))
    assert sum(len(chunk) for chunk in day) == 5


def test_malformed_spans_and_lines_are_counted_by_reason(
    exported: Exported, tmp_path: Path
) -> None:
    document = spec_json(exported)
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    by_name = {s["name"]: s for s in spans}
    del by_name["chat gpt-4o"]["spanId"]
    by_name["chat gpt-4o-mini"]["traceId"] = "0" * 32
    by_name["chat rate limited"]["startTimeUnixNano"] = "2026-09-01T10:02:00Z"
    path = tmp_path / "broken.jsonl"
    path.write_text(
        json.dumps(document) + "\n{not json\n" + json.dumps({"resourceMetrics": []}) + "\n"
        + json.dumps({"hello": "world"}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")

    report = load_spans([path], engine, "llm_calls")

    assert dict(report.rejected) == {
        "missing_id": 2,
        "bad_time": 1,
        "bad_tokens": 1,
        "negative_duration": 1,
        "bad_json": 1,
        "not_otlp": 1,
    }
    assert report.loaded == 2  # the timeout and the embeddings call
    assert any("'2026-09-01T10:02:00Z'" in e for e in report.examples["bad_time"])
    assert any(":2: not JSON" in e for e in report.examples["bad_json"])
    text = "\n".join(report.lines())
    assert "rejected 7:" in text and "missing_id 2" in text
    engine.dispose()


def test_an_existing_table_without_the_columns_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("create table llm_calls (request_id text, ts timestamp)"))
    with pytest.raises(TraceLoadError, match=r"without column\(s\) service, operation, llm_model"):
        load_spans([], engine, "llm_calls")
    engine.dispose()


def test_cli_loads_files_and_prints_a_monitor(exported: Exported, tmp_path: Path) -> None:
    pretty, _ = write_files(exported, tmp_path)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    args = ["otel", "load", str(pretty), "--table", "genai_spans", "--warehouse-url", url]

    result = CliRunner().invoke(main, args, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "loaded 5 new row(s) into 'genai_spans'" in result.output
    assert "rejected 2:" in result.output
    snippet = result.output.split("validate-config FILE`):\n\n", 1)[1]
    assert "genai_spans" in parse_config(snippet, {}).monitors
    rerun = CliRunner().invoke(main, args, catch_exceptions=False)
    assert "loaded 0 new row(s)" in rerun.output
    assert "skipped 5 already loaded" in rerun.output
    assert rerun.output.endswith(snippet)  # the monitor maps the table, not one load


def _utc(value: datetime | str) -> datetime:
    """A naive UTC ``ts`` as the driver returns it (SQLite: text), made aware."""
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.replace(tzinfo=UTC)


@pytest.mark.parametrize("command", ["load", "serve"])
def test_a_sqlite_warehouse_in_a_missing_folder_is_named(
    exported: Exported, tmp_path: Path, command: str
) -> None:
    pretty, _ = write_files(exported, tmp_path)
    missing = tmp_path / "no-such-folder" / "warehouse.db"
    args = ["otel", command, *([str(pretty)] if command == "load" else [])]
    args += ["--table", "spans", "--warehouse-url", f"sqlite:///{missing}"]

    result = CliRunner().invoke(main, args, catch_exceptions=False)

    assert result.exit_code == 2, result.output  # as a usage error
    assert f"its folder {missing.parent} does not exist" in result.output
    assert not missing.parent.exists()


def test_openinference_spans_load_into_a_monitor_that_judges_their_answers(
    tmp_path: Path,
) -> None:
    """An OpenInference export (Arize Phoenix's instrumentations): LLM spans become rows with
    their question and answer (``--column``), the printed monitor reads those texts, and it
    validates against the table."""

    def attribute(key: str, value: object) -> dict[str, Any]:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: str(value)}}

    start = int(datetime(2026, 11, 2, 9, tzinfo=UTC).timestamp() * 1e9)
    spans = []
    for i, kind in enumerate(["LLM", "CHAIN", "LLM", "RETRIEVER"]):
        attrs = {"openinference.span.kind": kind, "input.value": f"question {i}"}
        if kind == "LLM":
            attrs |= {
                "llm.model_name": "gpt-4o-mini",
                "llm.token_count.prompt": 400 + i,
                "llm.token_count.completion": 30,
                "output.value": f"answer {i}",
            }
        spans.append(
            {
                "traceId": f"{i + 1:032x}",
                "spanId": f"{i + 1:016x}",
                "name": kind.lower(),
                "startTimeUnixNano": str(start + i * 10**9),
                "endTimeUnixNano": str(start + i * 10**9 + 250_000_000),
                "attributes": [attribute(k, v) for k, v in attrs.items()],
            }
        )
    document = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    path = tmp_path / "openinference.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'warehouse.db'}"
    texts = ["--column", "question=input.value", "--column", "answer=output.value"]

    result = CliRunner().invoke(
        main,
        ["otel", "load", str(path), "--table", "rag", "--warehouse-url", database, *texts],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "loaded 2 new row(s)" in result.output and "2 neither model calls" in result.output
    engine = make_engine(database)
    config = parse_config(monitor_snippet(summarize_table(engine, "rag")), {})
    [(name, monitor)] = config.monitors.items()
    assert monitor.llm is not None
    assert (monitor.llm.question_column, monitor.llm.answer_column) == ("question", "answer")
    assert source_problems(name, monitor, engine) == []
    day = pd.concat(
        read_day(engine, monitor.source, ["ts", "prompt_tokens", "answer"], date(2026, 11, 2))
    )
    assert sorted(day["prompt_tokens"]) == [400, 402]
    assert sorted(day["answer"]) == ["answer 0", "answer 2"]
    engine.dispose()
