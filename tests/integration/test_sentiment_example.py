"""The example sentiment API (examples/sentiment_api): its answers, its server spans sent over
real OTLP/HTTP to a local receiver, its Prometheus metrics, the fault switch, the load script
against the app served by uvicorn, and the monitor file it ships."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from examples.sentiment_api import load
from examples.sentiment_api.app import FAULTS_ENV, create_app
from examples.sentiment_api.model import label_of, predict
from monitoring_pipelines.core.integrations.otel import ensure_table
from monitoring_pipelines.core.integrations.span_rows import parse_columns

EXAMPLE = Path(__file__).parents[2] / "examples" / "sentiment_api"
APP_PORTS = range(8000, 8011)


def server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_model_labels_clear_texts_and_bounds_its_confidence() -> None:
    assert predict("I love it, the support team was wonderful!").label == "positive"
    assert predict("Terrible quality, it broke after a day and I hate it.").label == "negative"
    assert predict("The parcel arrived on Tuesday.").label == "neutral"
    assert label_of(0.0).confidence == 1.0
    assert label_of(0.049).label == "neutral" and label_of(0.049).confidence > 0.5
    assert label_of(1.0).confidence == 1.0 and label_of(-1.0).confidence == 1.0
    assert label_of(0.05).label == "positive" and label_of(-0.05).label == "negative"


def test_predict_sets_the_label_and_confidence_on_the_server_span() -> None:
    exporter = InMemorySpanExporter()
    with TestClient(create_app(exporter, fault_injection=False)) as client:
        answer = client.post("/predict", json={"text": "Great support, thank you!"})
        invalid = client.post("/predict", json={"text": ""})
        client.get("/metrics")
        client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["label"] == "positive" and 0.5 < body["confidence"] <= 1
    assert invalid.status_code == 422
    spans = server_spans(exporter)
    assert [s.attributes["http.status_code"] for s in spans] == [200, 422]  # no scrape spans
    assert spans[0].attributes["sentiment.label"] == "positive"
    assert spans[0].attributes["sentiment.confidence"] == body["confidence"]
    assert spans[0].attributes["sentiment.words"] == 4
    assert spans[0].attributes["http.route"] == "/predict"
    assert "sentiment.label" not in spans[1].attributes
    assert len(exporter.get_finished_spans()) == 2  # no per-message send/receive spans


class Receiver(BaseHTTPRequestHandler):
    """OTLP/HTTP trace receiver: keeps every decoded export request."""

    received: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.received.append((self.path, self.headers["Content-Type"], request))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_spans_go_over_otlp_http_protobuf_to_the_endpoint_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "sentiment-test")
    try:
        with TestClient(create_app(fault_injection=False)) as client:
            for text in ("I hate waiting.", "The shop opens at nine."):
                assert client.post("/predict", json={"text": text}).status_code == 200
        # leaving the client shuts the app down, which flushes the batched spans
    finally:
        server.shutdown()
        server.server_close()
    received = server.received  # type: ignore[attr-defined]
    assert {(path, kind) for path, kind, _ in received} == {
        ("/v1/traces", "application/x-protobuf")
    }
    spans = []
    for _, _, request in received:
        for resource in request.resource_spans:
            names = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert names["service.name"] == "sentiment-test"
            spans += [s for scope in resource.scope_spans for s in scope.spans]
    attributes = [{a.key: a.value for a in s.attributes} for s in spans if s.kind == 2]  # SERVER
    assert [a["sentiment.label"].string_value for a in attributes] == ["negative", "neutral"]
    assert [a["sentiment.confidence"].double_value for a in attributes][1] == 1.0
    assert all(a["http.status_code"].int_value == 200 for a in attributes)


def test_metrics_count_requests_statuses_labels_and_time_by_route() -> None:
    app = create_app(InMemorySpanExporter(), fault_injection=True, seed=3)
    with TestClient(app) as client:
        for text in ("Wonderful!", "Awful.", "It is a chair.", "Lovely day."):
            client.post("/predict", json={"text": text})
        client.post("/predict", json={})
        client.put("/fault", json={"error_rate": 1.0})
        failed = client.post("/predict", json={"text": "Wonderful!"})
        client.delete("/fault")
        client.get("/nowhere")
        scraped = samples(client.get("/metrics").text)
    assert failed.status_code == 503
    counts = {labels: v for (n, labels), v in scraped.items() if n == "sentiment_requests_total"}
    assert counts == {
        frozenset({("status", "200")}): 4 + 2,  # the predictions and the two /fault calls
        frozenset({("status", "422")}): 1,
        frozenset({("status", "503")}): 1,
        frozenset({("status", "404")}): 1,
    }
    for label, n in (("positive", 2), ("negative", 1), ("neutral", 1)):
        assert scraped[("sentiment_predictions_total", frozenset({("label", label)}))] == n
    predict_ok = frozenset({("route", "/predict"), ("status_class", "2xx")})
    assert scraped[("sentiment_request_duration_seconds_count", predict_ok)] == 4
    predict_5xx = frozenset({("route", "/predict"), ("status_class", "5xx")})
    assert scraped[("sentiment_request_duration_seconds_count", predict_5xx)] == 1
    unmatched = frozenset({("route", "unmatched"), ("status_class", "4xx")})
    assert scraped[("sentiment_request_duration_seconds_count", unmatched)] == 1  # no path label


def test_fault_injection_is_off_unless_the_environment_turns_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(FAULTS_ENV, raising=False)
    with TestClient(create_app(InMemorySpanExporter())) as client:
        assert client.put("/fault", json={"error_rate": 1.0}).status_code in (404, 405)
        assert client.post("/predict", json={"text": "Fine."}).status_code == 200
    monkeypatch.setenv(FAULTS_ENV, "1")
    exporter = InMemorySpanExporter()
    with TestClient(create_app(exporter, seed=1)) as client:
        assert client.put("/fault", json={"error_rate": 2.0}).status_code == 422
        assert client.put("/fault", json={"fallback_rate": 1.0}).status_code == 200
        answer = client.post("/predict", json={"text": "I love it!"}).json()
        assert client.get("/fault").json()["fallback_rate"] == 1.0
    assert answer == {"label": "neutral", "confidence": 0.5}
    assert server_spans(exporter)[-1].attributes["sentiment.fault"] == "fallback"


@pytest.mark.parametrize(
    "url",
    ["http://example.com:8000", "http://10.0.0.5:8000", "http://0.0.0.0:8000", "ftp://127.0.0.1"],
)
def test_the_load_script_refuses_targets_off_this_machine(url: str) -> None:
    with pytest.raises(load.LoadError, match="loopback"):
        load.run(url, baseline=1, incident=0)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://localhost", "http://[::1]:1"])
def test_the_load_script_accepts_loopback_targets(url: str) -> None:
    assert load.check_loopback(url) == url.rstrip("/")


def test_the_load_script_is_bounded() -> None:
    with pytest.raises(load.LoadError, match="requests in all"):
        load.run("http://127.0.0.1:8000", baseline=load.MAX_REQUESTS, incident=1)
    with pytest.raises(load.LoadError, match="--duration"):
        load.run("http://127.0.0.1:8000", baseline=1, incident=0, duration_s=10**6)


def free_port(ports: range) -> int:
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free port in {ports.start}-{ports.stop - 1}")


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    """The app under uvicorn on a loopback port; fault injection as the test's param says."""
    faults = getattr(request, "param", True)
    port = free_port(APP_PORTS)
    app = create_app(InMemorySpanExporter(), fault_injection=faults, seed=5)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_the_load_script_runs_a_baseline_then_an_incident(served: str) -> None:
    baseline, incident = load.run(served, baseline=150, incident=150, rate=0, seed=2)
    assert (baseline.requests, incident.requests) == (150, 150)
    assert set(baseline.statuses) == {200}
    errors = sum(n for s, n in incident.statuses.items() if s >= 500)
    assert 0.1 < errors / 150 < 0.45  # INCIDENT_FAULT: a quarter fail
    neutral = {p.name: p.labels["neutral"] / sum(p.labels.values()) for p in (baseline, incident)}
    assert neutral["incident"] > neutral["baseline"] + 0.2
    assert "5xx" in incident.summary()
    status, body = load._call(f"{served}/fault", "GET", None, 5)
    assert status == 200 and b'"error_rate":0.0' in body  # switched off after the incident


@pytest.mark.parametrize("served", [False], indirect=True)
def test_the_incident_needs_the_fault_switch_and_says_so(served: str) -> None:
    with pytest.raises(load.LoadError, match=FAULTS_ENV):
        load.run(served, baseline=5, incident=5, rate=0)
    assert load.main(["--url", served, "--baseline", "3", "--incident", "0", "--rate", "0"]) == 0


def test_the_monitor_file_validates_against_a_table_of_the_example_spans(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.db"
    # The table as `monitoring otel serve` makes it with the README's --column options.
    columns = parse_columns(
        [
            "label=sentiment.label",
            "confidence=sentiment.confidence:float",
            "words=sentiment.words:float",
        ]
    )
    ensure_table(create_engine(f"sqlite:///{warehouse}"), "sentiment_requests", columns)
    env = {
        **os.environ,
        "MONITORING_WAREHOUSE_URL": f"sqlite:///{warehouse}",
        "MONITORING_HOME": str(tmp_path),
    }
    command = [sys.executable, "-m", "monitoring_pipelines.cli", "validate-config"]
    result = subprocess.run(
        [*command, str(EXAMPLE / "monitors.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK (1 monitor(s): sentiment_api" in result.stdout
