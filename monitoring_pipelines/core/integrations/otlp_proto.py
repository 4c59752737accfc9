"""Reading OTLP/HTTP protobuf trace requests (``ExportTraceServiceRequest``) into the same
spans the OTLP/JSON reader yields, so both encodings share one mapping to rows."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from monitoring_pipelines.core.integrations.otlp_json import RawSpan

__all__ = ["DecodeError", "encode_response", "encode_status", "read_request"]


def read_request(body: bytes, where: str) -> list[RawSpan]:
    """Every span of a serialized ``ExportTraceServiceRequest``.

    Raises:
        DecodeError: The body is not such a message (nor valid UTF-8 where strings belong).
    """
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[RawSpan] = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    RawSpan(
                        f"{where} span {len(spans) + 1}",
                        resource,
                        {
                            "traceId": span.trace_id.hex(),
                            "spanId": span.span_id.hex(),
                            "name": span.name,
                            "kind": span.kind,
                            "startTimeUnixNano": span.start_time_unix_nano,
                            "endTimeUnixNano": span.end_time_unix_nano,
                            "status": {"code": span.status.code},
                        },
                        attributes(span.attributes),
                        [(e.name, attributes(e.attributes)) for e in span.events],
                    )
                )
    return spans


def attributes(key_values: Iterable[Any]) -> dict[str, object]:
    """Repeated ``KeyValue`` as a dict of Python values (as the JSON reader decodes them)."""
    return {kv.key: any_value(kv.value) for kv in key_values}


def any_value(value: Any) -> object:
    """An ``AnyValue`` as a Python value; bytes as base64 text, as OTLP/JSON writes them."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)


def encode_response(rejected: int, message: str) -> bytes:
    """An ``ExportTraceServiceResponse``; ``partial_success`` set when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    data: bytes = response.SerializeToString()
    return data


def encode_status(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` (code, message): the body OTLP/HTTP error answers carry."""
    out = bytearray()
    if code:
        out += b"\x08" + _varint(code)
    data = message.encode("utf-8")
    if data:
        out += b"\x12" + _varint(len(data)) + data
    return bytes(out)


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
