"""Reading OTLP/JSON trace exports: ``ExportTraceServiceRequest`` in protobuf's JSON mapping.

Reads a Collector file export (one request per line) or a request per file, tolerating the OTLP
specification's departures from the canonical mapping (hex ids, integer enums, proto names).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
SpanStatus = Literal["unset", "ok", "error"]
SpanKind = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
_KINDS: tuple[SpanKind, ...] = (
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
)
_KIND: dict[object, SpanKind] = {i: k for i, k in enumerate(_KINDS)} | {
    f"SPAN_KIND_{k.upper()}": k for k in _KINDS
}
_STATUS: dict[object, SpanStatus] = {
    0: "unset",
    1: "ok",
    2: "error",
    "STATUS_CODE_UNSET": "unset",
    "STATUS_CODE_OK": "ok",
    "STATUS_CODE_ERROR": "error",
}
_VALUE_KINDS = (
    "stringValue",
    "boolValue",
    "intValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
)


@dataclass(frozen=True)
class RawSpan:
    """One exported span with its resource's attributes; nothing validated yet.

    Attributes:
        where: ``file:line`` (or ``file``, or the request) and the span's index in it.
        resource: The resource's attributes (``service.name`` ...).
        span: The span's JSON object (from protobuf: its scalar fields under their JSON names).
        attributes: The span's attributes, decoded to Python values.
        decoded_events: The span's events when already decoded (protobuf); else read from
            ``span`` when asked.
    """

    where: str
    resource: Mapping[str, object]
    span: Mapping[str, Any]
    attributes: Mapping[str, object]
    decoded_events: list[tuple[str, dict[str, object]]] | None = None

    def events(self) -> list[tuple[str, dict[str, object]]]:
        """The span's events as (name, attributes)."""
        return self.decoded_events if self.decoded_events is not None else events(self.span)


@dataclass(frozen=True)
class BadDocument:
    """A line or file that is not an OTLP trace export."""

    reason: Literal["bad_json", "not_otlp"]
    where: str
    detail: str


def read_spans(path: Path) -> Iterator[RawSpan | BadDocument]:
    """Every span of an OTLP/JSON file: JSON Lines of requests, or one JSON document.

    Raises:
        OSError: The file cannot be read.
    """
    for where, document in _documents(path):
        if isinstance(document, BadDocument):
            yield document
            continue
        requests = document if isinstance(document, list) else [document]
        for request in requests:
            yield from request_spans(where, request)


def _documents(path: Path) -> Iterator[tuple[str, object]]:
    with path.open(encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), None)
    if first is None:
        return
    try:
        json.loads(first)
    except ValueError:
        # A pretty-printed document: its first line alone is not JSON.
        try:
            yield str(path), json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            yield str(path), BadDocument("bad_json", str(path), f"not JSON: {exc}")
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield where, json.loads(line)
            except ValueError as exc:
                yield where, BadDocument("bad_json", where, f"not JSON: {exc}")


def request_spans(where: str, request: object) -> Iterator[RawSpan | BadDocument]:
    if not isinstance(request, Mapping) or field(request, "resourceSpans") is None:
        if isinstance(request, Mapping) and any(
            field(request, k) is not None for k in ("resourceMetrics", "resourceLogs")
        ):
            return  # metrics or logs in a Collector file: not ours, not an error
        found = sorted(request)[:5] if isinstance(request, Mapping) else type(request).__name__
        yield BadDocument(
            "not_otlp", where, f"expected an object with 'resourceSpans'; found {found}"
        )
        return
    index = 0
    for resource_spans in _list(field(request, "resourceSpans")):
        resource = attributes(field(_map(field(resource_spans, "resource")), "attributes"))
        scopes = _list(field(resource_spans, "scopeSpans")) or _list(
            field(resource_spans, "instrumentationLibrarySpans")  # before OTLP 0.15
        )
        for scope_spans in scopes:
            for span in _list(field(scope_spans, "spans")):
                index += 1
                if isinstance(span, Mapping):
                    yield RawSpan(
                        f"{where} span {index}",
                        resource,
                        span,
                        attributes(field(span, "attributes")),
                    )


def field(obj: Mapping[str, Any], name: str) -> Any:
    """``obj[name]`` by its lowerCamelCase JSON name, else by its proto (snake_case) name."""
    if name in obj:
        return obj[name]
    return obj.get(_snake(name))


@lru_cache(maxsize=256)
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def attributes(key_values: object) -> dict[str, object]:
    """A list of ``{"key": ..., "value": AnyValue}`` as a dict of Python values."""
    out: dict[str, object] = {}
    for kv in _list(key_values):
        if isinstance(kv, Mapping) and isinstance(kv.get("key"), str):
            out[kv["key"]] = any_value(kv.get("value"))
    return out


def any_value(value: object) -> object:
    """An ``AnyValue`` as a Python value; an int64 or double that does not parse stays text,
    so the caller can tell a malformed number from a missing one."""
    if not isinstance(value, Mapping):
        return value
    for kind in _VALUE_KINDS:
        raw = field(value, kind)
        if raw is None:
            continue
        if kind == "intValue":
            try:
                return int(raw)
            except (TypeError, ValueError):
                return raw
        if kind == "doubleValue":
            try:
                return float(raw)  # also "NaN" and "Infinity", as the JSON mapping writes them
            except (TypeError, ValueError):
                return raw
        if kind == "arrayValue":
            return [any_value(v) for v in _list(field(_map(raw), "values"))]
        if kind == "kvlistValue":
            return attributes(field(_map(raw), "values"))
        return raw
    return None


def decode_id(value: object, size: int) -> str | None:
    """Lower-case hex of a trace (16 bytes) or span (8 bytes) id given as hex or base64;
    None when it is absent, the wrong size, or all zeros (the spec's invalid id)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 2 * size:
            raw = bytes.fromhex(text)
        else:
            raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()


def decode_nanos(value: object) -> int | None:
    """A fixed64 time in nanoseconds since the epoch (JSON: a decimal string or a number);
    None when absent, not an integer, or not positive."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def span_status(span: Mapping[str, Any]) -> SpanStatus:
    """The span's status code; an unknown code counts as unset."""
    return _STATUS.get(field(_map(field(span, "status")), "code"), "unset")


def span_kind(span: Mapping[str, Any]) -> SpanKind:
    """The span's kind (an integer or the enum's name); an unknown kind counts as unspecified."""
    return _KIND.get(field(span, "kind"), "unspecified")


def events(span: Mapping[str, Any]) -> list[tuple[str, dict[str, object]]]:
    """The span's events as (name, attributes)."""
    out = []
    for event in _list(field(span, "events")):
        if isinstance(event, Mapping):
            out.append((str(event.get("name", "")), attributes(field(event, "attributes"))))
    return out


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
