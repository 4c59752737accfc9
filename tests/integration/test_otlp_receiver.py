"""`monitoring otel serve`: a real receiver on loopback, spans sent by the SDK's OTLP/HTTP
exporter and by hand (JSON, gzip, broken bodies), rows on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import http.client
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.integrations.otlp_receiver import (
    Receiver,
    ReceiverLimits,
    Running,
    serve,
)
from monitoring_pipelines.core.integrations.span_rows import ColumnSpec
from monitoring_pipelines.core.store.engine import make_engine

PORTS = range(14319, 14331)
T0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
COLUMNS = (
    ColumnSpec("label", "sentiment.label"),
    ColumnSpec("confidence", "sentiment.confidence", "float"),
)


def nanos(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def start(receiver: Receiver) -> Running:
    """Serve on the first free port of the range this project's tests use."""
    for port in PORTS:
        try:
            return serve(receiver, "127.0.0.1", port, log_every_s=3600)
        except OSError:
            continue
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture
def warehouse(store_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def running(warehouse: sa.Engine) -> Iterator[Running]:
    server = start(Receiver(warehouse, "predictions", COLUMNS))
    yield server
    server.stop()


def url(server: Running, path: str = "/v1/traces") -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def post(
    server: Running, body: bytes, content_type: str, encoding: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(url(server), data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def status(server: Running) -> dict[str, Any]:
    with urllib.request.urlopen(url(server, "/status"), timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def rows_of(engine: sa.Engine, table: str = "predictions") -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"select * from {table}")).mappings().all()
    return {r["request_id"]: dict(r) for r in rows}


def request_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}-{span.context.span_id:016x}"


def make_spans() -> dict[str, ReadableSpan]:
    """The example service's HTTP server spans (stable and older HTTP attributes), a GenAI
    call, an internal span, and one with a token count the mapping rejects."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sentiment-api"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("service")

    def span(name: str, offset_s: float, ms: float, kind: SpanKind, **attrs: Any) -> None:
        at = T0 + timedelta(seconds=offset_s)
        started = tracer.start_span(name, kind=kind, start_time=nanos(at), attributes=attrs)
        if attrs.get("http.response.status_code", 0) >= 500:
            started.set_status(Status(StatusCode.ERROR))
        started.end(end_time=nanos(at + timedelta(milliseconds=ms)))

    server = SpanKind.SERVER
    http = {"http.request.method": "POST", "http.route": "/predict"}
    label = {"sentiment.label": "positive", "sentiment.confidence": 0.93}
    span("ok", 0, 12.5, server, **http, **label, **{"http.response.status_code": 200})
    span("client error", 1, 3, server, **http, **{"http.response.status_code": 422})
    span("server error", 2, 40, server, **http, **{"http.response.status_code": 503})
    span(
        "older attributes",
        3,
        7,
        server,
        **{"http.method": "GET", "http.target": "/health?deep=1", "http.status_code": 200},
    )
    span("internal", 4, 1, SpanKind.INTERNAL, **{"http.request.method": "POST"})
    span(
        "chat",
        5,
        850,
        SpanKind.CLIENT,
        **{"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1200},
    )
    span("bad tokens", 6, 5, SpanKind.CLIENT, **{"gen_ai.usage.input_tokens": "many"})
    return {s.name: s for s in exporter.get_finished_spans()}


@pytest.fixture(scope="module")
def spans() -> dict[str, ReadableSpan]:
    return make_spans()


def test_sdk_exporter_spans_become_rows_once(
    running: Running, warehouse: sa.Engine, spans: dict[str, ReadableSpan]
) -> None:
    exporter = OTLPSpanExporter(endpoint=url(running), compression=Compression.Gzip, timeout=10)

    assert exporter.export(list(spans.values())) == SpanExportResult.SUCCESS
    assert exporter.export(list(spans.values())) == SpanExportResult.SUCCESS  # a retry
    exporter.shutdown()

    rows = rows_of(warehouse)
    assert len(rows) == 5
    ok = rows[request_id(spans["ok"])]
    assert (ok["service"], ok["operation"], ok["status"]) == (
        "sentiment-api",
        "POST /predict",
        "ok",
    )
    assert (ok["http_status_code"], ok["error_type"]) == (200, None)
    assert ok["latency_ms"] == pytest.approx(12.5)
    assert (ok["label"], ok["confidence"]) == ("positive", pytest.approx(0.93))
    client = rows[request_id(spans["client error"])]
    assert (client["status"], client["http_status_code"], client["label"]) == ("ok", 422, None)
    failed = rows[request_id(spans["server error"])]
    assert (failed["status"], failed["error_type"]) == ("error", "503")
    older = rows[request_id(spans["older attributes"])]
    assert (older["operation"], older["http_status_code"]) == ("GET /health", 200)
    chat = rows[request_id(spans["chat"])]
    assert (chat["llm_model"], chat["prompt_tokens"], chat["http_status_code"]) == (
        "gpt-4o",
        1200,
        None,
    )
    counts = status(running)
    assert counts["spans_received"] == 14 and counts["rows_written"] == 5
    assert counts["duplicates"] == 5 and counts["not_mapped"] == 2
    assert counts["rejected"] == {"bad_tokens": 2}
    assert "'many'" in counts["rejected_examples"]["bad_tokens"][0]
    assert counts["refused"] == {} and counts["pending_rows"] == 0


def test_json_and_protobuf_answers_carry_partial_success(
    running: Running, warehouse: sa.Engine, spans: dict[str, ReadableSpan]
) -> None:
    request = encode_spans([spans["ok"], spans["bad tokens"]])
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:  # OTLP/JSON writes ids as hex
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = bytes.fromhex(_b64hex(span[key])).hex()

    code, _, body = post(
        running, gzip.compress(json.dumps(document).encode()), "application/json", "gzip"
    )

    assert code == 200
    partial = json.loads(body)["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "bad_tokens 1" in partial["errorMessage"]
    code, headers, body = post(running, request.SerializeToString(), "application/x-protobuf")
    assert code == 200 and headers["Content-Type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(body)
    assert answer.partial_success.rejected_spans == 1
    assert list(rows_of(warehouse)) == [request_id(spans["ok"])]


def _b64hex(value: str) -> str:
    import base64

    return base64.b64decode(value).hex()


def test_bad_payloads_are_400_and_counted(running: Running) -> None:
    cases = [
        (b"\x0a\xff\xff", "application/x-protobuf", None, "bad_protobuf"),
        (b"{not json", "application/json", None, "bad_json"),
        (b'{"resourceMetrics": []}', "application/json", None, "not_otlp"),
        (b"[1, 2]", "application/json", None, "not_otlp"),
        (b"{}", "text/plain", None, "content_type"),
        (b"not gzip", "application/json", "gzip", "bad_gzip"),
        (gzip.compress(b"{}")[:-6], "application/json", "gzip", "bad_gzip"),
        (b"{}", "application/json", "br", "content_encoding"),
    ]
    for body, content_type, encoding, _ in cases:
        code, _, answer = post(running, body, content_type, encoding)
        assert code == 400, (content_type, body)
        assert answer  # a Status message saying why
    code, _, answer = post(running, b"\x0a\xff\xff", "application/x-protobuf")
    assert code == 400 and b"ExportTraceServiceRequest" in answer
    counts = status(running)
    assert counts["bad_payloads"] == {
        "bad_protobuf": 2,
        "bad_json": 1,
        "not_otlp": 2,
        "content_type": 1,
        "bad_gzip": 2,
        "content_encoding": 1,
    }
    assert counts["refused"] == {"400": 9}
    code, _, _ = post(running, b"{}", "application/json")  # an empty request is valid
    assert code == 200


def test_oversized_bodies_are_413(warehouse: sa.Engine) -> None:
    server = start(Receiver(warehouse, "predictions", limits=ReceiverLimits(max_body_bytes=4096)))
    try:
        big = json.dumps({"resourceSpans": [], "pad": "x" * 10_000}).encode()
        assert post(server, big, "application/json")[0] == 413
        bomb = gzip.compress(b" " * 1_000_000 + b"{}")  # a kilobyte that inflates to a megabyte
        assert len(bomb) < 4096
        assert post(server, bomb, "application/json", "gzip")[0] == 413
        assert post(server, b"{}", "application/json")[0] == 200  # the receiver still serves
        assert status(server)["refused"] == {"413": 2}
    finally:
        server.stop()


def test_back_pressure_429_then_503_when_the_warehouse_is_locked(
    tmp_path: Path, spans: dict[str, ReadableSpan]
) -> None:
    path = tmp_path / "warehouse.db"
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 1})
    limits = ReceiverLimits(max_pending_rows=1, retry_after_s=2)
    server = start(Receiver(engine, "predictions", limits=limits))
    body = encode_spans([spans["ok"]]).SerializeToString()
    other = encode_spans([spans["server error"]]).SerializeToString()
    lock = sqlite3.connect(path)
    lock.execute("begin exclusive")
    try:
        first: list[int] = []
        sender = threading.Thread(
            target=lambda: first.append(post(server, body, "application/x-protobuf")[0])
        )
        sender.start()
        deadline = time.monotonic() + 5
        while status(server)["pending_rows"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)

        code, headers, _ = post(server, other, "application/x-protobuf")

        assert (code, headers["Retry-After"]) == (429, "2")
        sender.join(10)  # the lock outlives the store's timeout: the first request fails whole
        assert first == [503]
        code, headers, _ = post(server, body, "application/x-protobuf")
        assert (code, headers["Retry-After"]) == (503, "2")
    finally:
        lock.rollback()
        lock.close()
    assert rows_of(engine) == {}  # nothing of the refused requests was written
    assert post(server, body, "application/x-protobuf")[0] == 200  # the exporter's retry
    assert list(rows_of(engine)) == [request_id(spans["ok"])]
    counts = status(server)
    assert counts["refused"] == {"429": 1, "503": 2}
    assert counts["last_warehouse_error"] is None  # cleared by the commit that worked
    server.stop()
    engine.dispose()


def test_an_existing_table_gets_the_requested_column(
    warehouse: sa.Engine, spans: dict[str, ReadableSpan]
) -> None:
    first = start(Receiver(warehouse, "predictions"))
    body = encode_spans([spans["ok"]]).SerializeToString()
    assert post(first, body, "application/x-protobuf")[0] == 200
    first.stop()
    assert "label" not in rows_of(warehouse)[request_id(spans["ok"])]

    second = start(Receiver(warehouse, "predictions", COLUMNS))
    body = encode_spans([spans["client error"], spans["ok"]]).SerializeToString()
    assert post(second, body, "application/x-protobuf")[0] == 200
    second.stop()

    rows = rows_of(warehouse)
    assert rows[request_id(spans["ok"])]["label"] is None  # written before the column existed
    assert rows[request_id(spans["client error"])]["http_status_code"] == 422


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(["\x00", "a\x00b", "\ud800", "'; drop table predictions; --", "\u202e"]),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=3000),
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(label=hostile_text(), service=hostile_text(), confidence=st.floats())
def test_hostile_attribute_values_are_stored_verbatim_or_rejected_with_a_count(
    running: Running, warehouse: sa.Engine, label: str, service: str, confidence: float
) -> None:
    span_id = os.urandom(8).hex()
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": os.urandom(16).hex(),
                                "spanId": span_id,
                                "name": label,
                                "kind": 2,
                                "startTimeUnixNano": str(nanos(T0)),
                                "endTimeUnixNano": str(nanos(T0) + 1_000_000),
                                "attributes": [
                                    {
                                        "key": "http.request.method",
                                        "value": {"stringValue": "POST"},
                                    },
                                    {"key": "http.route", "value": {"stringValue": "/predict"}},
                                    {"key": "sentiment.label", "value": {"stringValue": label}},
                                    {
                                        "key": "sentiment.confidence",
                                        "value": {"doubleValue": confidence},
                                    },
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    before = status(running)["rejected"]
    body = json.dumps(document).encode()  # NaN and Infinity as JSON spells them in Python

    code, _, answer = post(running, body, "application/json")

    assert code == 200, answer
    rejected = status(running)["rejected"]
    stored = [r for key, r in rows_of(warehouse).items() if key.endswith(span_id)]
    if stored:
        [row] = stored
        # The --column value verbatim; the table's own text columns hold no empty text.
        assert (row["label"], row["service"], row["span_name"]) == (
            label,
            service or None,
            label or None,
        )
        assert row["confidence"] == pytest.approx(confidence)
    else:
        assert sum(rejected.values()) == sum(before.values()) + 1
        assert json.loads(answer)["partialSuccess"]["rejectedSpans"] == "1"
        unstorable = any("\x00" in t or _surrogate(t) for t in (label, service))
        assert unstorable or not math.isfinite(confidence)
        reason = "bad_column" if not math.isfinite(confidence) else "bad_text"
        assert rejected.get(reason, 0) == before.get(reason, 0) + 1


def _surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def test_cli_serves_until_ctrl_c_and_loses_nothing(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.db"
    port = next(p for p in reversed(PORTS) if _free(p))
    command = [
        sys.executable, "-m", "monitoring_pipelines.cli", "otel", "serve",
        "--table", "predictions", "--warehouse-url", f"sqlite:///{database}",
        "--port", str(port), "--column", "label=sentiment.label",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1/traces" in banner and "label=" in banner
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=10)
        sent = list(make_spans().values())
        assert exporter.export(sent) == SpanExportResult.SUCCESS
        exporter.shutdown()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.strip().endswith("stopped")
    assert "rows written 5" in err
    engine = make_engine(f"sqlite:///{database}")
    assert len(rows_of(engine)) == 5
    engine.dispose()


def _free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_chunked_bodies_are_read(running: Running, spans: dict[str, ReadableSpan]) -> None:
    body = encode_spans([spans["ok"]]).SerializeToString()
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    parts = iter([body[:10], body[10:]])
    conn.request(
        "POST",
        "/v1/traces",
        body=parts,
        headers={"Content-Type": "application/x-protobuf"},
        encode_chunked=True,
    )
    answer = conn.getresponse()
    assert answer.status == 200, answer.read()
    conn.close()
    assert status(running)["rows_written"] == 1


def test_otel_load_takes_the_same_columns(tmp_path: Path, spans: dict[str, ReadableSpan]) -> None:
    document = json_format.MessageToDict(encode_spans(list(spans.values())))
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'warehouse.db'}"
    args = ["otel", "load", str(path), "--table", "predictions", "--warehouse-url", database]
    columns = [
        "--column",
        "label=sentiment.label",
        "--column",
        "confidence=sentiment.confidence:float",
    ]

    result = CliRunner().invoke(main, [*args, *columns], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "loaded 5 new row(s)" in result.output
    assert "1 neither model calls (gen_ai.*, OpenInference LLM) nor HTTP" in result.output
    engine = make_engine(database)
    row = rows_of(engine)[request_id(spans["ok"])]
    assert (row["label"], row["confidence"]) == ("positive", pytest.approx(0.93))
    engine.dispose()
    bad = CliRunner().invoke(main, [*args, "--column", "status=http.status"])
    assert bad.exit_code == 2 and "status is one of the table's own columns" in bad.output
    bad = CliRunner().invoke(main, [*args, "--column", "confidence=x:decimal"])
    assert bad.exit_code == 2 and "NAME=ATTRIBUTE[:TYPE]" in bad.output


def test_stopping_under_load_answers_every_request_and_loses_nothing(
    warehouse: sa.Engine,
) -> None:
    """Requests in flight when the receiver stops are committed and answered 200, or answered
    503 (the exporter retries) with none of their rows written."""
    server = start(Receiver(warehouse, "predictions", limits=ReceiverLimits(batch_rows=64)))
    bodies = [_http_request(i, 32) for i in range(200)]
    answers: dict[int, int] = {}

    def send(worker: int) -> None:
        for i in range(worker, len(bodies), 4):
            try:
                answers[i] = post(server, bodies[i][0], "application/x-protobuf")[0]
            except OSError:
                return  # the listening socket closed: nothing was answered, nothing counted

    senders = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for sender in senders:
        sender.start()
    while len(answers) < 20:
        time.sleep(0.005)
    server.stop()
    for sender in senders:
        sender.join(30)

    stored = set(rows_of(warehouse))
    assert set(answers.values()) <= {200, 503}
    for i, code in answers.items():
        ids = bodies[i][1]
        if code == 200:
            assert ids <= stored, f"request {i} answered 200 but not stored"
        else:
            assert not ids & stored, f"request {i} answered 503 but partly stored"
    assert 200 in answers.values()


def _http_request(seed: int, spans: int) -> tuple[bytes, set[str]]:
    """A protobuf request of ``spans`` HTTP server spans, and their request ids."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    ids = set()
    for i in range(spans):
        trace_id, span_id = os.urandom(16), os.urandom(8)
        ids.add(f"{trace_id.hex()}-{span_id.hex()}")
        start_ns = nanos(T0) + (seed * spans + i) * 1_000_000
        scope.spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                name="POST /predict",
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=start_ns,
                end_time_unix_nano=start_ns + 2_000_000,
                attributes=[
                    KeyValue(key="http.request.method", value=AnyValue(string_value="POST")),
                    KeyValue(key="http.response.status_code", value=AnyValue(int_value=200)),
                ],
            )
        )
    return request.SerializeToString(), ids
