"""OpenTelemetry spans as rows of an inference table, one mapping for every way spans arrive
(``otel load`` files, the ``otel serve`` receiver): model calls that follow the GenAI semantic
conventions (``gen_ai.*`` attributes) or OpenInference's (``openinference.span.kind`` LLM or
EMBEDDING, with ``llm.*`` attributes, as Arize Phoenix's instrumentations write them) and HTTP
server spans, each with the application attributes a user maps to columns, or the reason a
span cannot be a row."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from monitoring_pipelines.core.integrations import otlp_json as otlp

Reason = Literal[
    "bad_json",
    "not_otlp",
    "missing_id",
    "bad_time",
    "negative_duration",
    "bad_tokens",
    "bad_status",
    "bad_column",
    "bad_text",
]
REASONS: dict[str, str] = {
    "bad_json": "a line or file that is not JSON",
    "not_otlp": "JSON that is not an OTLP trace export (no resourceSpans)",
    "missing_id": "trace or span id missing, malformed or all zeros",
    "bad_time": "start or end time missing or not a time",
    "negative_duration": "ends before it starts",
    "bad_tokens": "a token count that is not a non-negative integer",
    "bad_status": "an HTTP status code that is not an integer from 100 to 599",
    "bad_column": "an attribute mapped by --column that is not of the column's type",
    "bad_text": "text no SQL column holds portably (a NUL character or an unpaired surrogate)",
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT64 = 2**63

# The newer attribute first, then the one it replaced.
# OpenInference's attribute after GenAI's: a span carrying both is read as GenAI.
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
MODEL = ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
OPENINFERENCE_KIND = "openinference.span.kind"
OPENINFERENCE_CALLS = ("LLM", "EMBEDDING")
"""OpenInference span kinds that are model calls (its CHAIN, RETRIEVER, TOOL, AGENT and
RERANKER spans are the application's own steps)."""
SESSION = ("gen_ai.conversation.id", "session.id")
HTTP_METHOD = ("http.request.method", "http.method")
HTTP_STATUS = ("http.response.status_code", "http.status_code")
HTTP_PATH = ("url.path", "http.target")

ColumnType = Literal["text", "float", "int"]
_COLUMN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]{0,62})=([^:=\s]+)(?::(text|float|int))?$")


@dataclass(frozen=True)
class ColumnSpec:
    """An application attribute written to a column of its own: ``NAME=ATTRIBUTE[:TYPE]``."""

    name: str
    attribute: str
    type: ColumnType = "text"

    @classmethod
    def parse(cls, text: str) -> ColumnSpec:
        """``label=sentiment.label`` or ``confidence=sentiment.confidence:float``.

        Raises:
            ValueError: Not of that form, or NAME is one of the table's own columns.
        """
        match = _COLUMN.match(text.strip())
        if match is None:
            raise ValueError(
                f"--column {text!r}: expected NAME=ATTRIBUTE[:TYPE], NAME a column name "
                "(letters, digits, _), TYPE text (default), float or int; "
                "e.g. confidence=sentiment.confidence:float"
            )
        name, attribute, kind = match.groups()
        if name.lower() in BUILT_IN:
            raise ValueError(
                f"--column {text!r}: {name} is one of the table's own columns "
                f"({', '.join(BUILT_IN)}); choose another name"
            )
        return cls(name, attribute, kind or "text")  # type: ignore[arg-type]


def parse_columns(texts: Sequence[str]) -> tuple[ColumnSpec, ...]:
    """Every ``--column``; ValueError names a malformed or repeated one."""
    specs = tuple(ColumnSpec.parse(t) for t in texts)
    names = [s.name.lower() for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"--column {', '.join(repeated)} given more than once")
    return specs


@dataclass(frozen=True)
class InferenceRow:
    """One model call or HTTP request, as the inference table holds it.

    ``llm_model`` is the requested model (what price tables name), else the responding one;
    ``response_model`` is the model that answered (often a dated snapshot of the requested).
    ``extra`` holds the ``--column`` values by column name.
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
    http_status_code: int | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def values(self) -> dict[str, object]:
        """Column name to value, the ``extra`` columns included."""
        out = {name: getattr(self, name) for name in _FIELDS}
        out.update(self.extra)
        return out


_FIELDS = tuple(f for f in InferenceRow.__dataclass_fields__ if f != "extra")
BUILT_IN = _FIELDS
_TEXT_FIELDS = (
    "service",
    "operation",
    "llm_model",
    "error_type",
    "session_id",
    "span_name",
    "provider",
    "response_model",
)


@dataclass(frozen=True)
class Rejected:
    """A span (or document) that could not become a row."""

    reason: Reason
    where: str
    detail: str


def to_row(
    span: otlp.RawSpan, columns: Sequence[ColumnSpec] = ()
) -> InferenceRow | Rejected | None:
    """The span's row; None for a span that is neither a model call (a ``gen_ai.*`` attribute,
    or an OpenInference LLM or EMBEDDING span) nor an HTTP server span (kind SERVER with an
    HTTP method)."""
    attrs = span.attributes
    openinference = (_text(attrs, (OPENINFERENCE_KIND,)) or "").upper()
    genai = any(key.startswith("gen_ai.") for key in attrs) or (
        openinference in OPENINFERENCE_CALLS
    )
    http = not genai and _text(attrs, HTTP_METHOD) is not None
    if http and otlp.span_kind(span.span) != "server":
        return None
    if not (genai or http):
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
    code = otlp.span_status(span.span)
    if genai:
        try:
            prompt = _tokens(attrs, INPUT_TOKENS)
            completion = _tokens(attrs, OUTPUT_TOKENS)
        except ValueError as exc:
            return Rejected("bad_tokens", span.where, str(exc))
        http_status = None
        error_type = _text(attrs, ("error.type",))
        failed = code == "error" or error_type is not None
        operation = _text(attrs, ("gen_ai.operation.name",)) or (
            openinference.lower() if openinference in OPENINFERENCE_CALLS else None
        )
    else:
        prompt = completion = None
        try:
            http_status = _http_status(attrs)
        except ValueError as exc:
            return Rejected("bad_status", span.where, str(exc))
        failed = code == "error" or (http_status is not None and http_status >= 500)
        error_type = _text(attrs, ("error.type",)) if failed else None
        if failed and error_type is None and http_status is not None and http_status >= 500:
            error_type = str(http_status)
        operation = _http_operation(attrs)
    if failed and error_type is None:
        error_type = _exception_type(span) or "_OTHER"
    try:
        extra = {c.name: _column_value(attrs, c) for c in columns}
    except ValueError as exc:
        return Rejected("bad_column", span.where, str(exc))
    name = otlp.field(span.span, "name")
    row = InferenceRow(
        request_id=f"{trace_id}-{span_id}",
        ts=ts,
        service=_text(span.resource, ("service.name",)),
        operation=operation,
        llm_model=_text(attrs, MODEL),
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
        http_status_code=http_status,
        extra=extra,
    )
    unstorable = _unstorable_text(row)
    if unstorable:
        return Rejected("bad_text", span.where, unstorable)
    return row


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
        if count is None or count < 0 or count >= INT64:
            raise ValueError(f"{key} is {value!r}; expected a non-negative integer")
        return count
    return None


def _http_status(attrs: Mapping[str, object]) -> int | None:
    """The response's status code (the stable attribute, else the older one)."""
    for key in HTTP_STATUS:
        value = attrs.get(key)
        if value is None:
            continue
        code = None
        if isinstance(value, int) and not isinstance(value, bool):
            code = value
        elif isinstance(value, str) and value.strip().isdigit():
            code = int(value)
        if code is None or not 100 <= code <= 599:
            raise ValueError(f"{key} is {value!r}; expected an HTTP status code (100-599)")
        return code
    return None


def _http_operation(attrs: Mapping[str, object]) -> str | None:
    """``METHOD route``: the route template when instrumented, else the path without query."""
    method = _text(attrs, HTTP_METHOD)
    route = _text(attrs, ("http.route",))
    if route is None:
        path = _text(attrs, HTTP_PATH)
        route = path.split("?", 1)[0] if path else None
    return f"{method} {route}" if route else method


def _column_value(attrs: Mapping[str, object], column: ColumnSpec) -> object:
    """The attribute as the column's type; None when absent; ValueError when it is not one."""
    value = attrs.get(column.attribute)
    if value is None:
        return None
    if column.type == "text":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return str(value)
    number: float | int | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip()) if column.type == "int" else float(value.strip())
        except ValueError:
            number = None
    if column.type == "int":
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        if isinstance(number, int) and -INT64 <= number < INT64:
            return number
        raise ValueError(f"{column.attribute} is {value!r}; column {column.name} takes integers")
    if number is not None and math.isfinite(number):
        return float(number)
    raise ValueError(f"{column.attribute} is {value!r}; column {column.name} takes finite numbers")


def _unstorable_text(row: InferenceRow) -> str | None:
    """What makes a text value of the row unstorable, or None."""
    texts = [(n, getattr(row, n)) for n in _TEXT_FIELDS] + list(row.extra.items())
    for name, value in texts:
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            return f"{name} {value[:60]!r} holds a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{name} {value[:60]!r} holds an unpaired surrogate"
    return None


def _exception_type(span: otlp.RawSpan) -> str | None:
    """``exception.type`` of the span's last exception event (what SDKs record on a raise)."""
    for name, attrs in reversed(span.events()):
        if name == "exception" and attrs.get("exception.type"):
            return str(attrs["exception.type"])
    return None
