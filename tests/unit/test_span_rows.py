"""The one span mapping of `otel load` and `otel serve`: HTTP server spans, --column values."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring_pipelines.core.integrations.otlp_json import RawSpan
from monitoring_pipelines.core.integrations.span_rows import (
    ColumnSpec,
    InferenceRow,
    Rejected,
    parse_columns,
    to_row,
)

START = 1_788_256_800_000_000_000  # 2026-09-01 10:00 UTC
METHOD, CODE = "http.request.method", "http.response.status_code"


def span(attrs: dict[str, Any], kind: object = 2, code: int = 0, **fields: Any) -> RawSpan:
    body = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "POST /predict",
        "kind": kind,
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + 12_500_000),
        "status": {"code": code},
    } | fields
    return RawSpan("test span 1", {"service.name": "sentiment-api"}, body, attrs)


def row(raw: RawSpan, columns: tuple[ColumnSpec, ...] = ()) -> InferenceRow:
    result = to_row(raw, columns)
    assert isinstance(result, InferenceRow), result
    return result


@pytest.mark.parametrize(
    ("attrs", "operation", "status", "code", "error_type"),
    [
        (
            {METHOD: "POST", "http.route": "/predict", CODE: 200},
            "POST /predict", "ok", 200, None,
        ),
        (
            {METHOD: "POST", "url.path": "/predict", CODE: 404},
            "POST /predict", "ok", 404, None,
        ),
        (
            {"http.method": "GET", "http.target": "/items/7?x=1", "http.status_code": "502"},
            "GET /items/7", "error", 502, "502",
        ),
        (
            {METHOD: "POST", CODE: 500, "error.type": "KeyError"},
            "POST", "error", 500, "KeyError",
        ),
    ],
)  # fmt: skip
def test_http_server_spans(
    attrs: dict[str, Any], operation: str, status: str, code: int, error_type: str | None
) -> None:
    result = row(span(attrs))
    assert (result.operation, result.status, result.http_status_code) == (operation, status, code)
    assert result.error_type == error_type
    assert (result.service, result.latency_ms, result.llm_model) == ("sentiment-api", 12.5, None)
    assert result.request_id == "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"


def test_span_status_error_without_a_code_is_an_error_with_its_exception() -> None:
    raw = span({"http.request.method": "POST"}, code=2)
    raw = RawSpan(raw.where, raw.resource, raw.span, raw.attributes,
                  [("exception", {"exception.type": "TimeoutError"})])  # fmt: skip
    result = row(raw)
    assert (result.status, result.error_type, result.http_status_code) == (
        "error",
        "TimeoutError",
        None,
    )


def test_only_server_spans_with_a_method_are_http_rows() -> None:
    assert to_row(span({"http.request.method": "GET"}, kind="SPAN_KIND_CLIENT")) is None
    assert to_row(span({"http.request.method": "GET"}, kind=1)) is None
    assert to_row(span({"url.path": "/x"})) is None
    assert row(span({"http.request.method": "GET"}, kind="SPAN_KIND_SERVER")).operation == "GET"


def test_a_malformed_status_code_is_rejected() -> None:
    result = to_row(span({"http.request.method": "GET", "http.response.status_code": "ok"}))
    assert isinstance(result, Rejected) and result.reason == "bad_status"
    assert "'ok'" in result.detail


def test_columns_take_their_types() -> None:
    columns = parse_columns(
        ["label=sentiment.label", "confidence=sentiment.confidence:float", "n=app.n:int",
         "tags=app.tags"]
    )  # fmt: skip
    attrs = {
        "http.request.method": "POST",
        "sentiment.label": "positive",
        "sentiment.confidence": "0.75",
        "app.n": 3.0,
        "app.tags": ["a", "b"],
    }
    assert row(span(attrs), columns).extra == {
        "label": "positive",
        "confidence": 0.75,
        "n": 3,
        "tags": '["a", "b"]',
    }
    missing = row(span({"http.request.method": "POST"}), columns).extra
    assert missing == {"label": None, "confidence": None, "n": None, "tags": None}


@pytest.mark.parametrize(
    ("column", "value"),
    [("x=a:float", "high"), ("x=a:float", float("nan")), ("x=a:float", float("inf")),
     ("x=a:int", 2**63), ("x=a:int", 1.5), ("x=a:int", True)],
)  # fmt: skip
def test_values_not_of_the_column_type_reject_the_span(column: str, value: object) -> None:
    result = to_row(span({"http.request.method": "POST", "a": value}), parse_columns([column]))
    assert isinstance(result, Rejected) and result.reason == "bad_column"


@pytest.mark.parametrize("text", ["a\x00b", "\udc80"])
def test_unstorable_text_rejects_the_span(text: str) -> None:
    result = to_row(span({"http.request.method": "POST", "a": text}), parse_columns(["x=a"]))
    assert isinstance(result, Rejected) and result.reason == "bad_text"


@pytest.mark.parametrize(
    "text", ["label", "=a", "1x=a", "x=", "x=a:decimal", "ts=a", "x=a b", "x=a=b"]
)
def test_malformed_column_options(text: str) -> None:
    with pytest.raises(ValueError, match="--column"):
        ColumnSpec.parse(text)
    with pytest.raises(ValueError, match="more than once"):
        parse_columns(["x=a", "X=b"])


def test_openinference_llm_spans_are_model_calls() -> None:
    """Spans written by OpenInference instrumentations (Arize Phoenix's) become rows as
    GenAI spans do: model, provider, token counts, session."""
    got = row(
        span(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.token_count.prompt": 812,
                "llm.token_count.completion": 64,
                "session.id": "s-1",
                "input.value": "Where is my parcel?",
            },
            kind=3,
            name="ChatCompletion",
        ),
        parse_columns(["question=input.value"]),
    )
    assert (got.llm_model, got.provider, got.operation) == ("gpt-4o-mini", "openai", "llm")
    assert (got.prompt_tokens, got.completion_tokens, got.session_id) == (812, 64, "s-1")
    assert got.status == "ok" and got.latency_ms == 12.5
    assert got.extra == {"question": "Where is my parcel?"}


@pytest.mark.parametrize("kind", ["CHAIN", "RETRIEVER", "TOOL", "AGENT", "RERANKER"])
def test_openinference_application_steps_are_not_model_calls(kind: str) -> None:
    assert to_row(span({"openinference.span.kind": kind, "input.value": "q"}, kind=1)) is None


def test_openinference_bad_token_counts_are_rejected_as_genai_ones_are() -> None:
    result = to_row(span({"openinference.span.kind": "LLM", "llm.token_count.prompt": -3}))
    assert isinstance(result, Rejected) and result.reason == "bad_tokens"


def test_a_span_with_both_conventions_reads_genai_first() -> None:
    got = row(
        span(
            {
                "openinference.span.kind": "LLM",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10,
                "llm.model_name": "other",
                "llm.token_count.prompt": 99,
            }
        )
    )
    assert (got.operation, got.llm_model, got.prompt_tokens) == ("chat", "gpt-4o", 10)
