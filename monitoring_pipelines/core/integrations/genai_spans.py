"""GenAI model calls from OpenTelemetry spans: one row per span that follows the GenAI semantic
conventions (``gen_ai.*`` attributes), or the reason it cannot be one."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from monitoring_pipelines.core.integrations import otlp_json as otlp

Reason = Literal[
    "bad_json", "not_otlp", "missing_id", "bad_time", "negative_duration", "bad_tokens"
]
REASONS: dict[str, str] = {
    "bad_json": "a line or file that is not JSON",
    "not_otlp": "JSON that is not an OTLP trace export (no resourceSpans)",
    "missing_id": "trace or span id missing, malformed or all zeros",
    "bad_time": "start or end time missing or not a time",
    "negative_duration": "ends before it starts",
    "bad_tokens": "a token count that is not a non-negative integer",
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The newer attribute first, then the one it replaced.
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system")
SESSION = ("gen_ai.conversation.id", "session.id")


@dataclass(frozen=True)
class InferenceRow:
    """One GenAI call, as the inference table holds it.

    ``llm_model`` is the requested model (what price tables name), else the responding one;
    ``response_model`` is the model that answered (often a dated snapshot of the requested).
    """

    request_id: str
    ts: datetime
    service: str | None
    operation: str | None
    llm_model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    status: Literal["ok", "error"]
    error_type: str | None
    session_id: str | None
    trace_id: str
    span_name: str | None
    provider: str | None
    response_model: str | None


@dataclass(frozen=True)
class Rejected:
    """A span (or document) that could not become a row."""

    reason: Reason
    where: str
    detail: str


def to_row(span: otlp.RawSpan) -> InferenceRow | Rejected | None:
    """The span's row; None for a span that is not a GenAI call (no ``gen_ai.*`` attribute)."""
    attrs = span.attributes
    if not any(key.startswith("gen_ai.") for key in attrs):
        return None
    trace_id = otlp.decode_id(otlp.field(span.span, "traceId"), otlp.TRACE_ID_BYTES)
    span_id = otlp.decode_id(otlp.field(span.span, "spanId"), otlp.SPAN_ID_BYTES)
    if trace_id is None or span_id is None:
        which, raw = ("trace", "traceId") if trace_id is None else ("span", "spanId")
        found = otlp.field(span.span, raw)
        return Rejected("missing_id", span.where, f"{which} id {found!r} is not a valid id")
    start_raw = otlp.field(span.span, "startTimeUnixNano")
    end_raw = otlp.field(span.span, "endTimeUnixNano")
    start, end = otlp.decode_nanos(start_raw), otlp.decode_nanos(end_raw)
    if start is None or end is None:
        what, raw = ("start", start_raw) if start is None else ("end", end_raw)
        return Rejected("bad_time", span.where, f"{what} time {raw!r} is not unix nanoseconds")
    if end < start:
        return Rejected(
            "negative_duration", span.where, f"ends {(start - end) / 1e6:g} ms before it starts"
        )
    try:
        ts = EPOCH + timedelta(microseconds=start // 1000)
    except OverflowError:
        return Rejected("bad_time", span.where, f"start time {start_raw!r} is out of range")
    try:
        prompt = _tokens(attrs, INPUT_TOKENS)
        completion = _tokens(attrs, OUTPUT_TOKENS)
    except ValueError as exc:
        return Rejected("bad_tokens", span.where, str(exc))
    code = otlp.span_status(span.span)
    error_type = _text(attrs, ("error.type",))
    failed = code == "error" or error_type is not None
    if failed and error_type is None:
        error_type = _exception_type(span) or "_OTHER"
    name = otlp.field(span.span, "name")
    return InferenceRow(
        request_id=f"{trace_id}-{span_id}",
        ts=ts,
        service=_text(span.resource, ("service.name",)),
        operation=_text(attrs, ("gen_ai.operation.name",)),
        llm_model=_text(attrs, ("gen_ai.request.model", "gen_ai.response.model")),
        prompt_tokens=prompt,
        completion_tokens=completion,
        latency_ms=(end - start) / 1e6,
        status="error" if failed else "ok",
        error_type=error_type,
        session_id=_text(attrs, SESSION),
        trace_id=trace_id,
        span_name=name if isinstance(name, str) and name else None,
        provider=_text(attrs, PROVIDER),
        response_model=_text(attrs, ("gen_ai.response.model",)),
    )


def _text(attrs: Mapping[str, object], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and str(value) != "":
            return str(value)
    return None


def _tokens(attrs: Mapping[str, object], keys: Sequence[str]) -> int | None:
    """The first of ``keys`` present, as a count; ValueError names a malformed one."""
    for key in keys:
        if key not in attrs or attrs[key] is None:
            continue
        value = attrs[key]
        count: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            count = value
        elif (isinstance(value, float) and math.isfinite(value) and value.is_integer()) or (
            isinstance(value, str) and value.strip().isdigit()
        ):
            count = int(value)
        if count is None or count < 0:
            raise ValueError(f"{key} is {value!r}; expected a non-negative integer")
        return count
    return None


def _exception_type(span: otlp.RawSpan) -> str | None:
    """``exception.type`` of the span's last exception event (what SDKs record on a raise)."""
    for name, attrs in reversed(otlp.events(span.span)):
        if name == "exception" and attrs.get("exception.type"):
            return str(attrs["exception.type"])
    return None
