"""The sentiment API: ``POST /predict``, Prometheus ``/metrics``, OpenTelemetry server spans.

Start it with ``uvicorn --factory examples.sentiment_api.app:create_app --port 8000``.

Environment (read when the app is created, never at import):
    OTEL_EXPORTER_OTLP_ENDPOINT: where spans go over OTLP/HTTP protobuf (default
        http://localhost:4318, which ``monitoring otel serve`` listens on); ``/v1/traces`` is
        appended by the exporter.
    OTEL_SERVICE_NAME: the spans' ``service.name`` (default ``sentiment-api``).
    SENTIMENT_FAULT_INJECTION: ``1`` enables ``/fault``, the switch the load script's incident
        uses. Off by default: without it ``/fault`` does not exist.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, HTTPException, Response
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from examples.sentiment_api.model import LABELS, Label, predict

FAULTS_ENV = "SENTIMENT_FAULT_INJECTION"
DEFAULT_SERVICE = "sentiment-api"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class PredictRequest(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class PredictResponse(BaseModel):
    label: Label
    confidence: float


class FaultSettings(BaseModel):
    """An overloaded model backend: some requests time out, some get the fallback's answer."""

    error_rate: float = Field(0.0, ge=0, le=1, description="share of requests failing with 503")
    fallback_rate: float = Field(
        0.0, ge=0, le=1, description="share of the others answered 'neutral' by the fallback"
    )
    delay_ms: float = Field(0.0, ge=0, le=2000, description="added to every faulty request")


@dataclass
class Metrics:
    """The service's own Prometheus metrics, in a registry of its own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.duration = Histogram(
            "sentiment_request_duration_seconds",
            "Time to answer a request, by route template and status class",
            ["route", "status_class"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "sentiment_requests",
            "Requests answered, by HTTP status",
            ["status"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "sentiment_predictions", "Predictions, by label", ["label"], registry=self.registry
        )
        for label in LABELS:
            self.predictions.labels(label)


class MetricsMiddleware:
    """Times every request but the scrape itself; the route is the matched template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.duration.labels(template, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )
            self.metrics.requests.labels(str(status)).inc()


def _enabled(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def create_app(
    span_exporter: SpanExporter | None = None,
    *,
    fault_injection: bool | None = None,
    seed: int | None = None,
) -> FastAPI:
    """The application.

    Args:
        span_exporter: Where spans go; None: OTLP/HTTP protobuf, configured by the standard
            OTEL_EXPORTER_OTLP_* variables, batched. A given exporter gets each span as it ends.
        fault_injection: Whether ``/fault`` exists; None: from SENTIMENT_FAULT_INJECTION.
        seed: Seeds which requests a fault hits (tests).
    """
    if fault_injection is None:
        fault_injection = _enabled(os.environ.get(FAULTS_ENV))
    service = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if span_exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    metrics = Metrics()
    fault = FaultSettings()
    rng = random.Random(seed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        provider.shutdown()  # flushes the spans still batched

    app = FastAPI(title="sentiment-api", lifespan=lifespan)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.post("/predict", response_model=PredictResponse)
    async def predict_sentiment(request: PredictRequest) -> PredictResponse:
        span = trace.get_current_span()  # the request's server span
        # The input's features are known before the model answers: recorded for every request.
        span.set_attribute("sentiment.words", len(request.text.split()))
        faulty = fault.error_rate > 0 or fault.fallback_rate > 0
        if faulty and fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        if faulty and rng.random() < fault.error_rate:
            span.set_attribute("sentiment.fault", "overloaded")
            raise HTTPException(503, "the model backend is overloaded")
        if faulty and rng.random() < fault.fallback_rate:
            span.set_attribute("sentiment.fault", "fallback")
            label: Label = "neutral"
            confidence = 0.5
        else:
            prediction = predict(request.text)
            label, confidence = prediction.label, prediction.confidence
        span.set_attribute("sentiment.label", label)
        span.set_attribute("sentiment.confidence", confidence)
        metrics.predictions.labels(label).inc()
        return PredictResponse(label=label, confidence=confidence)

    @app.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if fault_injection:

        @app.get("/fault")
        def read_fault() -> FaultSettings:
            return fault

        @app.put("/fault")
        def set_fault(settings: FaultSettings) -> FaultSettings:
            for name in FaultSettings.model_fields:
                setattr(fault, name, getattr(settings, name))
            return fault

        @app.delete("/fault")
        def clear_fault() -> FaultSettings:
            return set_fault(FaultSettings())

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="metrics,healthz,fault",
        exclude_spans=["receive", "send"],
    )
    return app
