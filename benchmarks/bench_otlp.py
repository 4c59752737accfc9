"""`monitoring otel serve` under load: sustained spans per second, on SQLite and PostgreSQL.

The receiver runs in one process, behind either of two HTTP servers:

* ``threading``: the product's (the standard library's ThreadingHTTPServer, what
  ``monitoring otel serve`` runs);
* ``uvicorn``: the same receiver behind uvicorn (uvloop and httptools), its blocking export in
  a thread pool: the alternative measured before choosing.

A second process sends OTLP/HTTP protobuf requests of ``--batch`` spans (512, the SDK batch
processor's default export size) from ``--senders`` connections as fast as the receiver
accepts them, each request retried after ``Retry-After`` on a 429 or 503 as an exporter does.
Every span is an HTTP server span with the example service's attributes, mapped with two
``--column`` options. After the run, the rows in the table are counted: spans sent (answered
200) must equal rows stored.

Each (backend, server) pair runs ``--reps`` times, interleaved; the table shows the median run
(``answers_429`` summed over the runs). Prints one JSON line per run and a markdown table::

    .venv/bin/python benchmarks/bench_otlp.py [--requests 200] [--reps 3] [--senders 4]
        [--backends sqlite postgres] [--fronts threading uvicorn] [--max-pending 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitoring_pipelines.core.integrations.otlp_receiver import (  # noqa: E402
    JSON,
    Receiver,
    ReceiverLimits,
    serve,
)
from monitoring_pipelines.core.integrations.span_rows import ColumnSpec  # noqa: E402

PORT = 14329
TABLE = "bench_spans"
COLUMNS = (
    ColumnSpec("label", "sentiment.label"),
    ColumnSpec("confidence", "sentiment.confidence", "float"),
)
POSTGRES_URL = os.environ.get(
    "MONITORING_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


# -- the receiver process -------------------------------------------------------------------


def run_receiver(url: str, front: str, port: int, max_pending: int) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url, pool_pre_ping=True)
    receiver = Receiver(engine, TABLE, COLUMNS, ReceiverLimits(max_pending_rows=max_pending))
    if front == "threading":
        running = serve(receiver, "127.0.0.1", port, log_every_s=3600)
        print("ready", flush=True)
        sys.stdin.read()  # until the parent closes stdin
        running.stop()
    else:
        import uvicorn

        config = uvicorn.Config(
            asgi_app(receiver),
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        threading.Thread(target=lambda: (sys.stdin.read(), setattr(server, "should_exit", True)),
                         daemon=True).start()  # fmt: skip
        print("ready", flush=True)
        server.run()
        receiver.close()
    engine.dispose()


Send = Callable[[dict[str, Any]], Awaitable[None]]


def asgi_app(receiver: Receiver) -> Callable[..., Awaitable[None]]:
    pool = ThreadPoolExecutor(32)

    async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["method"] == "GET":
            body = json.dumps(receiver.status()).encode()
            status, content_type, extra = 200, JSON, {}
        else:
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(
                pool,
                receiver.export,
                headers.get("content-type"),
                headers.get("content-encoding"),
                b"".join(chunks),
            )
            status, content_type, body = answer.status, answer.content_type, answer.body
            extra = dict(answer.headers)
        raw = [(b"content-type", content_type.encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    return app


# -- the sender -----------------------------------------------------------------------------


def make_bodies(requests: int, batch: int) -> list[bytes]:
    """Protobuf ExportTraceServiceRequests of ``batch`` HTTP server spans with unique ids."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def kv(key: str, value: object) -> KeyValue:
        if isinstance(value, str):
            return KeyValue(key=key, value=AnyValue(string_value=value))
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        return KeyValue(key=key, value=AnyValue(int_value=int(value)))  # type: ignore[call-overload]

    now = time.time_ns()
    labels = ("positive", "neutral", "negative")
    bodies = []
    for r in range(requests):
        request = ExportTraceServiceRequest()
        resource = request.resource_spans.add()
        resource.resource.attributes.extend(
            [kv("service.name", "sentiment-api"), kv("telemetry.sdk.language", "python")]
        )
        scope = resource.scope_spans.add()
        scope.scope.name = "opentelemetry.instrumentation.fastapi"
        for i in range(batch):
            n = r * batch + i
            code = 503 if n % 100 == 0 else 200
            start = now + n * 1_000_000
            scope.spans.append(
                Span(
                    trace_id=os.urandom(16),
                    span_id=os.urandom(8),
                    name="POST /predict",
                    kind=Span.SPAN_KIND_SERVER,
                    start_time_unix_nano=start,
                    end_time_unix_nano=start + 5_000_000 + n % 7_000_000,
                    attributes=[
                        kv("http.request.method", "POST"),
                        kv("http.route", "/predict"),
                        kv("url.scheme", "http"),
                        kv("server.address", "127.0.0.1"),
                        kv("network.protocol.version", "1.1"),
                        kv("http.response.status_code", code),
                        kv("sentiment.label", labels[n % 3]),
                        kv("sentiment.confidence", (n % 1000) / 1000),
                    ],
                    status=Status(code=Status.STATUS_CODE_ERROR if code >= 500 else 0),
                )
            )
        bodies.append(request.SerializeToString())
    return bodies


def send_all(port: int, bodies: list[bytes], senders: int) -> dict[str, Any]:
    """Send every body, retrying 429/503 after Retry-After; the counts and the elapsed time."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    seen: dict[int, int] = {}
    ok_spans = 0

    def worker() -> None:
        nonlocal ok_spans
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            while True:
                conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                answer = conn.getresponse()
                answer.read()
                with lock:
                    seen[answer.status] = seen.get(answer.status, 0) + 1
                if answer.status == 200:
                    with lock:
                        ok_spans += BATCH
                    break
                if answer.status not in (429, 503):
                    raise RuntimeError(f"answer {answer.status}")
                time.sleep(float(answer.getheader("Retry-After") or 1))
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"elapsed_s": time.perf_counter() - started, "answers": seen, "spans_ok": ok_spans}


BATCH = 512


def sender_main(port: int, requests: int, senders: int) -> None:
    bodies = make_bodies(requests, BATCH)
    print(json.dumps(send_all(port, bodies, senders)), flush=True)


# -- one run --------------------------------------------------------------------------------


def one_run(backend: str, front: str, args: argparse.Namespace) -> dict[str, Any]:
    import sqlalchemy as sa

    folder = tempfile.mkdtemp(prefix="bench_otlp_")
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{folder}/warehouse.db"
    else:
        schema = f"bench_otlp_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    here = [sys.executable, __file__]
    receiver = subprocess.Popen(
        [*here, "--receive", url, "--front", front, "--max-pending", str(args.max_pending)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        sender = subprocess.run(
            [*here, "--send", str(args.requests), "--senders", str(args.senders)],
            capture_output=True,
            text=True,
            check=True,
        )
        sent = json.loads(sender.stdout.strip().splitlines()[-1])
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/status", timeout=30) as answer:
            status = json.loads(answer.read())
    finally:
        assert receiver.stdin is not None
        receiver.stdin.close()
        receiver.wait(60)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text(f"select count(*) from {TABLE}")).scalar_one()
    engine.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    spans = sent["spans_ok"]
    return {
        "backend": backend,
        "front": front,
        "requests": args.requests,
        "batch": BATCH,
        "senders": args.senders,
        "spans_sent": spans,
        "rows_stored": stored,
        "elapsed_s": round(sent["elapsed_s"], 2),
        "spans_per_s": round(spans / sent["elapsed_s"]),
        "answers_429": sent["answers"].get("429", 0),
        "answers_503": sent["answers"].get("503", 0),
        "batches": status["batches"],
        "rows_per_commit": round(status["rows_written"] / max(1, status["batches"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests of 512 spans")
    parser.add_argument("--senders", type=int, default=4, help="concurrent connections")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--fronts", nargs="+", default=["threading", "uvicorn"])
    parser.add_argument("--max-pending", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=3, help="runs of each; the median shown")
    parser.add_argument("--receive", help=argparse.SUPPRESS)
    parser.add_argument("--front", default="threading", help=argparse.SUPPRESS)
    parser.add_argument("--send", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        run_receiver(args.receive, args.front, PORT, args.max_pending)
        return
    if args.send:
        sender_main(PORT, args.send, args.senders)
        return
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rep in range(args.reps):
        for backend in args.backends:
            # Interleaved, the order alternating, so that a busy moment of the machine does
            # not land on one server only.
            fronts = args.fronts if rep % 2 == 0 else list(reversed(args.fronts))
            for front in fronts:
                result = one_run(backend, front, args)
                print(json.dumps(result), flush=True)
                runs.setdefault((backend, front), []).append(result)
    results = []
    for done in runs.values():
        median = sorted(done, key=lambda r: r["spans_per_s"])[len(done) // 2]
        results.append(
            median
            | {
                "reps": len(done),
                "spans_per_s_all": "/".join(str(r["spans_per_s"]) for r in done),
                "answers_429": sum(r["answers_429"] for r in done),
                "sent_equals_stored": all(r["spans_sent"] == r["rows_stored"] for r in done),
            }
        )
    keys = list(results[0])
    print("\n| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in results:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
