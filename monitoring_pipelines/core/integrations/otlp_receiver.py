"""The OTLP/HTTP trace receiver behind ``monitoring otel serve``.

``POST /v1/traces`` (protobuf or JSON, gzip or not) -> the spans' rows, mapped as ``otel load``
maps them -> a queue that one writer thread empties in group commits (every request waiting,
up to a batch bound, in one transaction). A request is answered 200 only once its rows are
committed; past the queue's bound it is answered 429, while the warehouse fails 503, both with
``Retry-After``, which OTLP exporters retry. ``GET /status`` shows the counts.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from sqlalchemy import Engine, Table
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from monitoring_pipelines.core.integrations import otlp_json, otlp_proto
from monitoring_pipelines.core.integrations.otel import ensure_table, write_rows
from monitoring_pipelines.core.integrations.span_rows import (
    REASONS,
    ColumnSpec,
    InferenceRow,
    Rejected,
    to_row,
)

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
EXAMPLES_PER_REASON = 3
BAD_PAYLOAD = {
    "content_type": "Content-Type is neither application/x-protobuf nor application/json",
    "content_encoding": "Content-Encoding is neither gzip nor identity",
    "bad_gzip": "gzip body that does not decompress",
    "bad_protobuf": "body that is not a protobuf ExportTraceServiceRequest",
    "bad_json": "body that is not JSON (or not UTF-8)",
    "not_otlp": "JSON that is not an OTLP trace request (no resourceSpans)",
    "bad_length": "missing or malformed Content-Length or chunked framing",
}
Log = Callable[[str], None]


@dataclass(frozen=True)
class ReceiverLimits:
    """Bounds of one receiver.

    Attributes:
        max_body_bytes: Largest body, compressed or decompressed (413 above).
        max_pending_rows: Rows waiting for the warehouse above which requests get 429.
        batch_rows: Rows committed per transaction at most (whole requests: a request larger
            than this is committed alone).
        retry_after_s: The ``Retry-After`` of a 429 or 503.
        wait_s: How long a request waits for its commit before it is answered 503.
    """

    max_body_bytes: int = 16 * 2**20
    max_pending_rows: int = 50_000
    batch_rows: int = 5_000
    retry_after_s: int = 1
    wait_s: float = 60.0


@dataclass
class Counts:
    """What the receiver saw; read through ``snapshot`` (no URL, no credentials in it)."""

    table: str
    requests_ok: int = 0
    spans_received: int = 0
    spans_accepted: int = 0
    rows_written: int = 0
    duplicates: int = 0
    not_mapped: int = 0
    batches: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    refused: Counter[int] = field(default_factory=Counter)
    bad_payloads: Counter[str] = field(default_factory=Counter)
    bad_examples: dict[str, list[str]] = field(default_factory=dict)
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self, pending_rows: int) -> dict[str, Any]:
        with self.lock:
            return {
                "table": self.table,
                "requests_ok": self.requests_ok,
                "spans_received": self.spans_received,
                "spans_accepted": self.spans_accepted,
                "rows_written": self.rows_written,
                "duplicates": self.duplicates,
                "not_mapped": self.not_mapped,
                "rejected": dict(self.rejected),
                "rejected_examples": {k: list(v) for k, v in self.examples.items()},
                "refused": {str(k): v for k, v in sorted(self.refused.items())},
                "bad_payloads": dict(self.bad_payloads),
                "bad_payload_examples": {k: list(v) for k, v in self.bad_examples.items()},
                "batches": self.batches,
                "pending_rows": pending_rows,
                "last_warehouse_error": self.last_error,
            }

    def line(self, pending_rows: int) -> str:
        """The counts as one log line."""
        s = self.snapshot(pending_rows)
        refused = ", ".join(f"{k} {v}" for k, v in s["refused"].items()) or "none"
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(s["rejected"].items())) or "none"
        return (
            f"spans received {s['spans_received']}, rows written {s['rows_written']}, "
            f"duplicates {s['duplicates']}, not mapped {s['not_mapped']}, rejected: {rejected}; "
            f"requests ok {s['requests_ok']}, refused: {refused}; batches {s['batches']}, "
            f"pending rows {pending_rows}"
        )


def _example(examples: dict[str, list[str]], reason: str, text: str) -> None:
    shown = examples.setdefault(reason, [])
    if len(shown) < EXAMPLES_PER_REASON:
        shown.append(text[:300])


Outcome = Literal["written", "unavailable", "failed"]


@dataclass
class _Job:
    rows: list[InferenceRow]
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    detail: str = ""


class BatchWriter:
    """One thread that commits queued requests' rows in group commits."""

    def __init__(
        self, engine: Engine, table: Table, limits: ReceiverLimits, counts: Counts, log: Log
    ) -> None:
        self.engine, self.table, self.limits, self.counts, self.log = (
            engine,
            table,
            limits,
            counts,
            log,
        )
        self._queue: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._pending = 0  # rows queued or being committed
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="otlp-writer", daemon=True)

    @property
    def pending_rows(self) -> int:
        return self._pending

    def start(self) -> None:
        self._thread.start()

    def submit(self, rows: list[InferenceRow]) -> _Job | Literal["full", "closing"]:
        """Queue a request's rows; "full" past the bound (unless nothing waits: a request
        larger than the bound is still taken alone), "closing" once stopping."""
        with self._cond:
            if self._closing:
                return "closing"
            if self._pending and self._pending + len(rows) > self.limits.max_pending_rows:
                return "full"
            job = _Job(rows)
            self._queue.append(job)
            self._pending += len(rows)
            self._cond.notify()
            return job

    def close(self, timeout: float = 60.0) -> None:
        """Take no more; commit and answer what is queued; stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                jobs = [self._queue.popleft()]
                size = len(jobs[0].rows)
                while self._queue and size + len(self._queue[0].rows) <= self.limits.batch_rows:
                    size += len(self._queue[0].rows)
                    jobs.append(self._queue.popleft())
            try:
                self._commit(jobs)
            except Exception as exc:  # the thread outlives any one batch; its requests get 500
                self.log(f"error committing a batch: {type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    self._pending -= size
                for job in jobs:
                    job.outcome = job.outcome or "failed"
                    job.done.set()

    def _commit(self, jobs: list[_Job]) -> None:
        rows = [row for job in jobs for row in job.rows]
        try:
            new = write_rows(self.engine, self.table, rows)
        except Exception as exc:
            unavailable = _unavailable(exc)
            message = _short(exc)
            with self.counts.lock:
                self.counts.last_error = message
            if not unavailable and len(jobs) > 1:
                for job in jobs:  # find the request that cannot be written; commit the others
                    self._commit([job])
                return
            self.log(f"warehouse write of {len(rows)} row(s) failed: {message}")
            for job in jobs:
                job.outcome, job.detail = ("unavailable" if unavailable else "failed"), message
            if unavailable:
                time.sleep(min(1.0, self.limits.retry_after_s))  # no tight loop on a down store
            return
        with self.counts.lock:
            self.counts.rows_written += len(new)
            self.counts.duplicates += len(rows) - len(new)
            self.counts.batches += 1
            self.counts.last_error = None
        for job in jobs:
            job.outcome = "written"


def _unavailable(exc: BaseException) -> bool:
    """A failure to retry later (connection lost, database locked or down), not the data's."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type, body, extra headers."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Receiver:
    """Decodes OTLP/HTTP trace requests, maps their spans and has them committed."""

    def __init__(
        self,
        engine: Engine,
        table: str,
        columns: Sequence[ColumnSpec] = (),
        limits: ReceiverLimits | None = None,
        log: Log = lambda line: None,
    ) -> None:
        """Raises TraceLoadError when the table cannot be created, inspected or extended."""
        self.limits = limits or ReceiverLimits()
        self.columns = tuple(columns)
        self.counts = Counts(table)
        self.log = log
        target = ensure_table(engine, table, self.columns)
        self.writer = BatchWriter(engine, target, self.limits, self.counts, log)
        self._requests = 0
        self._inflight = 0
        self._inflight_cond = threading.Condition()
        self.writer.start()

    # -- lifecycle ------------------------------------------------------------------------------

    def enter(self) -> None:
        with self._inflight_cond:
            self._inflight += 1
            self._requests += 1

    def leave(self) -> None:
        with self._inflight_cond:
            self._inflight -= 1
            self._inflight_cond.notify_all()

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new requests (503), commit and answer the queued ones, wait for the answers."""
        self.writer.close(timeout)
        deadline = time.monotonic() + timeout
        with self._inflight_cond:
            while self._inflight > 0 and time.monotonic() < deadline:
                self._inflight_cond.wait(0.1)

    def status(self) -> dict[str, Any]:
        return self.counts.snapshot(self.writer.pending_rows)

    # -- one request ----------------------------------------------------------------------------

    def refuse_large(self, content_type: str | None, size: int) -> Answer:
        return self.refuse(
            413,
            _encoding(content_type),
            f"body of {size} bytes is over the receiver's limit of "
            f"{self.limits.max_body_bytes} bytes; send smaller batches",
        )

    def bad_request(self, content_type: str | None, reason: str, detail: str) -> Answer:
        with self.counts.lock:
            self.counts.bad_payloads[reason] += 1
            _example(self.counts.bad_examples, reason, detail)
        return self.refuse(400, _encoding(content_type), f"{BAD_PAYLOAD[reason]}: {detail}")

    def export(self, content_type: str | None, content_encoding: str | None, body: bytes) -> Answer:
        """Answer one ``POST /v1/traces``."""
        where = f"request {self._requests}"
        kind = _encoding(content_type)
        if kind is None:
            return self.bad_request(
                content_type, "content_type", f"got {content_type or '(none)'!r}"
            )
        encoding = (content_encoding or "identity").strip().lower()
        if encoding == "gzip":
            try:
                body = _gunzip(body, self.limits.max_body_bytes)
            except OverflowError:
                return self.refuse(
                    413,
                    kind,
                    f"decompressed body is over the receiver's limit of "
                    f"{self.limits.max_body_bytes} bytes; send smaller batches",
                )
            except (zlib.error, EOFError) as exc:
                return self.bad_request(content_type, "bad_gzip", f"{where}: {exc}")
        elif encoding != "identity":
            return self.bad_request(content_type, "content_encoding", f"got {encoding!r}")
        decoded = self._decode(kind, body, where)
        if isinstance(decoded, Answer):
            return decoded
        return self._write(kind, decoded)

    def _decode(self, kind: str, body: bytes, where: str) -> list[otlp_json.RawSpan] | Answer:
        if kind == PROTOBUF:
            try:
                return otlp_proto.read_request(body, where)
            except otlp_proto.DecodeError as exc:
                return self.bad_request(kind, "bad_protobuf", f"{where}: {exc}")
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return self.bad_request(kind, "bad_json", f"{where}: {exc}")
        if not isinstance(document, dict) or (
            document and otlp_json.field(document, "resourceSpans") is None
        ):
            found = sorted(document)[:5] if isinstance(document, dict) else type(document).__name__
            return self.bad_request(
                kind, "not_otlp", f"{where}: expected an object with 'resourceSpans'; found {found}"
            )
        spans = otlp_json.request_spans(where, document)
        return [s for s in spans if isinstance(s, otlp_json.RawSpan)]

    def _write(self, kind: str, spans: Sequence[object]) -> Answer:
        rows: list[InferenceRow] = []
        rejected: list[Rejected] = []
        not_mapped = 0
        for span in spans:
            if not isinstance(span, otlp_json.RawSpan):
                continue  # a BadDocument cannot occur past _decode's checks
            row = to_row(span, self.columns)
            if row is None:
                not_mapped += 1
            elif isinstance(row, Rejected):
                rejected.append(row)
            else:
                rows.append(row)
        with self.counts.lock:
            self.counts.spans_received += len(spans)
        if rows:
            job = self.writer.submit(rows)
            if job == "full":
                return self.retry_later(kind, 429, "the receiver is behind the warehouse")
            if job == "closing":
                return self.retry_later(kind, 503, "the receiver is stopping")
            assert not isinstance(job, str)
            if not job.done.wait(self.limits.wait_s):
                return self.retry_later(kind, 503, "the warehouse did not commit in time")
            if job.outcome == "unavailable":
                return self.retry_later(kind, 503, f"the warehouse failed: {job.detail}")
            if job.outcome != "written":
                return self.refuse(500, kind, f"the rows could not be written: {job.detail}")
        with self.counts.lock:
            self.counts.requests_ok += 1
            self.counts.spans_accepted += len(spans)
            self.counts.not_mapped += not_mapped
            for item in rejected:
                self.counts.rejected[item.reason] += 1
                _example(self.counts.examples, item.reason, f"{item.where}: {item.detail}")
        message = _partial_message(rejected)
        if kind == PROTOBUF:
            return Answer(200, PROTOBUF, otlp_proto.encode_response(len(rejected), message))
        body: dict[str, Any] = {}
        if rejected:
            body["partialSuccess"] = {"rejectedSpans": str(len(rejected)), "errorMessage": message}
        return Answer(200, JSON, json.dumps(body).encode())

    def retry_later(self, kind: str, status: int, message: str) -> Answer:
        """A 429 or 503 with ``Retry-After``: OTLP exporters send the request again."""
        answer = self.refuse(status, kind, f"{message}; retry after {self.limits.retry_after_s} s")
        return Answer(
            answer.status,
            answer.content_type,
            answer.body,
            {"Retry-After": str(self.limits.retry_after_s)},
        )

    def refuse(self, status: int, kind: str | None, message: str) -> Answer:
        """An error answer (counted): a ``google.rpc.Status`` in the request's encoding."""
        with self.counts.lock:
            self.counts.refused[status] += 1
        code = {400: 3, 413: 3, 429: 8, 503: 14}.get(status, 13)  # google.rpc.Code
        if kind == PROTOBUF:
            return Answer(status, PROTOBUF, otlp_proto.encode_status(code, message))
        return Answer(status, JSON, json.dumps({"code": code, "message": message}).encode())


def _encoding(content_type: str | None) -> str | None:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind if kind in (PROTOBUF, JSON) else None


def _gunzip(body: bytes, limit: int) -> bytes:
    """The decompressed body; OverflowError past ``limit`` bytes, EOFError when truncated."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = inflater.decompress(body, limit + 1)
    if len(data) > limit:
        raise OverflowError(limit)
    if not inflater.eof:
        raise EOFError("the gzip stream is truncated")
    return data


def _partial_message(rejected: Sequence[Rejected]) -> str:
    if not rejected:
        return ""
    reasons = Counter(r.reason for r in rejected)
    first = rejected[0]
    parts = ", ".join(f"{reason} {n} ({REASONS[reason]})" for reason, n in reasons.most_common())
    return f"{len(rejected)} span(s) rejected: {parts}; e.g. {first.where}: {first.detail}"[:1000]


# -- HTTP ---------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # kept-alive idle connections must not hold the process at exit
    request_queue_size = 128
    receiver: Receiver
    stopping = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as exporters reuse their connections
    # The answer's headers and body leave in one write, flushed after each request, with no
    # Nagle delay waiting on the exporter's acknowledgement.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        receiver.enter()
        try:
            self._post(receiver)
        except Exception as exc:  # answer, and keep serving: one request never stops the rest
            receiver.log(f"error answering a request: {type(exc).__name__}: {exc}")
            self.close_connection = True
            self._send(receiver.refuse(500, JSON, f"internal error: {type(exc).__name__}"))
        finally:
            receiver.leave()

    def _post(self, receiver: Receiver) -> None:
        content_type = self.headers.get("Content-Type")
        if self.path.split("?", 1)[0] != TRACES_PATH:
            self._discard_body()
            message = f"no {self.path}; POST {TRACES_PATH}"
            self._send(receiver.refuse(404, _encoding(content_type), message))
            return
        if self.server.stopping:
            self._discard_body()
            kind = _encoding(content_type) or JSON
            self._send(receiver.retry_later(kind, 503, "the receiver is stopping"))
            return
        limit = receiver.limits.max_body_bytes
        body = self._body(receiver, content_type, limit)
        if body is None:
            return
        self._send(receiver.export(content_type, self.headers.get("Content-Encoding"), body))

    def _body(self, receiver: Receiver, content_type: str | None, limit: int) -> bytes | None:
        """The request body; None once an error was answered (the connection then closes)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._chunked(receiver, content_type, limit)
        raw = self.headers.get("Content-Length", "0").strip()
        if not raw.isdigit():
            self.close_connection = True
            self._send(receiver.bad_request(content_type, "bad_length", f"Content-Length {raw!r}"))
            return None
        size = int(raw)
        if size > limit:
            self.close_connection = True
            self._send(receiver.refuse_large(content_type, size))
            return None
        return self.rfile.read(size)

    def _chunked(self, receiver: Receiver, content_type: str | None, limit: int) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self.close_connection = True
                self._send(receiver.bad_request(content_type, "bad_length", f"chunk size {line!r}"))
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                self._send(receiver.refuse_large(content_type, total))
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _discard_body(self) -> None:
        raw = self.headers.get("Content-Length", "0").strip()
        if raw.isdigit() and int(raw) <= 2**20:
            self.rfile.read(int(raw))
        else:
            self.close_connection = True

    def do_GET(self) -> None:
        receiver = self.server.receiver
        path = self.path.split("?", 1)[0]
        if path == "/status":
            body = json.dumps(receiver.status(), indent=2).encode()
            self._send(Answer(200, JSON, body))
        elif path == "/":
            text = f"OTLP/HTTP trace receiver: POST {TRACES_PATH}; counts at GET /status\n"
            self._send(Answer(200, "text/plain; charset=utf-8", text.encode()))
        else:
            self._send(Answer(404, "text/plain; charset=utf-8", b"not found; GET /status\n"))

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the counts are logged instead, one line per interval


@dataclass
class Running:
    """A receiver serving HTTP on a thread of its own."""

    receiver: Receiver
    server: _Server
    thread: threading.Thread
    reporter: threading.Thread
    stop_event: threading.Event

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse new requests, commit and answer the queued ones, then close the socket."""
        self.server.stopping = True
        self.server.shutdown()
        self.receiver.close(timeout)
        self.stop_event.set()
        self.reporter.join(2)
        self.server.server_close()
        self.receiver.log(self.receiver.counts.line(self.receiver.writer.pending_rows))


def serve(receiver: Receiver, host: str, port: int, log_every_s: float = 10.0) -> Running:
    """Listen on ``host:port`` (0: any free port) and serve in a background thread.

    Raises:
        OSError: The address cannot be bound.
    """
    server = _Server((host, port), _Handler)
    server.receiver = receiver
    thread = threading.Thread(target=server.serve_forever, name="otlp-http", daemon=True)
    thread.start()
    stop = threading.Event()

    def report() -> None:
        last = None
        while not stop.wait(log_every_s):
            line = receiver.counts.line(receiver.writer.pending_rows)
            if line != last:
                receiver.log(line)
                last = line

    reporter = threading.Thread(target=report, name="otlp-report", daemon=True)
    reporter.start()
    return Running(receiver, server, thread, reporter, stop)
