"""One day of the shared drift workload in PostgreSQL: the pull path, the push-down path and the
one-scan floor, side by side in one invocation, one JSON line per path and size.

The live day of ``/work/shared/bench/make_data.py`` (20 features, 5 of them drifted) is loaded
into ``pushdown_bench.live_<rows>`` with a timestamp spread over the day, a request id, a latency
and a status (kept between runs: the load is seeded and checked by its row count). Then, each in
a fresh process (so that its peak RSS is its own):

* ``pull``: what the ``live_slice`` and ``daily_profile`` assets do today: ``read_day`` through
  a server-side cursor in chunks, ``write_day_slice`` into the slice store, ``profile_day`` (bin
  counts, p-value samples, the whylogs profile of a 25,000-row sample) and ``compute_drift``.
* ``pushdown``: ``day_aggregates`` in the warehouse, ``pushed_sketches``, the whylogs profile of
  the day's sample, and ``compute_drift``.
* ``floor``: one aggregate query reading every column once
  (``SELECT status, count(*), sum(x), ..., sum(length(c)) ... GROUP BY status``).

``db_bytes`` is what the process received from the database
(``tcpi_bytes_received`` of its connections' sockets): the rows or aggregates that left the
database, in PostgreSQL's wire format.

``query_s`` sums the push-down's statements' wall seconds by what they compute (its queries run
two at a time on PostgreSQL, so the sum exceeds ``db_s``).

``--url duckdb:////path/to/file.duckdb`` runs the same in DuckDB, a columnar engine in the
process itself: nothing crosses a socket (``db_bytes`` is null) and ``db_cpu_s`` is the
process's own CPU over the database stage (DuckDB's threads and the Python around them).

``--before CHECKOUT`` runs the push-down of another checkout of the product too, in the same
invocation (``pushdown-before``), and ``--repeat N`` runs every path N times, interleaved;
``load_avg`` is the machine's one-minute load average as each path ended.

Usage::

    .venv/bin/python benchmarks/bench_warehouse.py [--sizes 1000000 10000000] [--url URL]
        [--before ../other-checkout] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_drift  # noqa: E402  (the drift benchmark's monitor, reference fit and live day)
import run as bench_run  # noqa: E402  (the shared workload's generation)

SCHEMA = "pushdown_bench"
DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def log(message: str) -> None:
    print(f"[bench-warehouse] {message}", file=sys.stderr, flush=True)


def monitor_for(truth: dict[str, Any], data: Path, rows: int) -> Any:
    from monitoring_pipelines.core.config import MonitorConfig

    return MonitorConfig.model_validate(
        {
            "start_date": bench_drift.DAY.isoformat(),
            "source": {
                "table": f"live_{rows}",
                "schema": SCHEMA,
                "timestamp_column": "ts",
                "request_id_column": "request_id",
                "chunk_rows": 50_000,
            },
            "reference": {"path": str(data / f"ref_{rows}.parquet")},
            "features": {"numeric": truth["numeric"], "categorical": truth["categorical"]},
            "service": {"latency_column": "latency_ms", "status_column": "status"},
        }
    )


def load(url: str, data: Path, rows: int, truth: dict[str, Any]) -> float:
    """The live day in the warehouse (seconds it took; 0 when it was there already)."""
    engine = sa.create_engine(url)
    table = f"{SCHEMA}.live_{rows}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        tables = sa.inspect(conn).get_table_names(schema=SCHEMA)
        exists = f"live_{rows}" in tables
        if exists and conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == rows:
            return 0.0
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        numeric = [*truth["numeric"]]
        columns = ["ts timestamp", "request_id text"]
        columns += [f"{c} double precision" for c in numeric]
        columns += [f"{c} text" for c in truth["categorical"]]
        columns += ["latency_ms double precision", "status text"]
        conn.execute(sa.text(f"CREATE TABLE {table} ({', '.join(columns)})"))
    names = ["ts", "request_id", *truth["numeric"], *truth["categorical"], "latency_ms", "status"]
    rng = np.random.default_rng(7)
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        first = 0
        path = data / f"live_{rows}.parquet"
        for frame in bench_drift.live_batches(path, 200_000, bench_drift.DAY):
            n = len(frame)
            frame["ts"] = frame["ts"].dt.tz_localize(None)
            frame["request_id"] = [f"r{i}" for i in range(first, first + n)]
            frame["latency_ms"] = rng.gamma(2.0, 60.0, n)
            frame["status"] = rng.choice(["200", "503", "404"], n, p=[0.98, 0.01, 0.01])
            first += n
            if engine.dialect.name == "duckdb":  # the frame itself, registered as a view
                duck = raw.driver_connection
                duck.register("batch", frame[names])
                duck.execute(f"INSERT INTO {table} SELECT * FROM batch")
                duck.unregister("batch")
            else:
                buffer = __import__("io").StringIO()
                frame[names].to_csv(buffer, header=False, index=False)
                buffer.seek(0)
                columns = ", ".join(names)
                cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH CSV", buffer)
            raw.commit()
        cursor.execute(f"ANALYZE {table}")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    return time.perf_counter() - start


class Received:
    """Bytes the process received from PostgreSQL: each pooled connection's TCP socket's
    ``tcpi_bytes_received`` (Linux ``TCP_INFO``), counted from checkout to checkin."""

    def __init__(self, engine: sa.Engine) -> None:
        # A database in the process (DuckDB): nothing crosses a socket.
        in_process = engine.dialect.name != "postgresql"
        self.total: int | None = None if in_process else 0
        self._open: dict[int, int] = {}
        if in_process:
            return
        sa.event.listen(engine, "checkout", self._checkout)
        sa.event.listen(engine, "checkin", self._checkin)

    @staticmethod
    def _bytes(dbapi_connection: Any) -> int:
        with socket.socket(fileno=os.dup(dbapi_connection.fileno())) as sock:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        return int(struct.unpack_from("Q", info, TCPI_BYTES_RECEIVED)[0])

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        self._open[id(dbapi_connection)] = self._bytes(dbapi_connection)

    def _checkin(self, dbapi_connection: Any, _record: Any) -> None:
        start = self._open.pop(id(dbapi_connection), None)
        if start is not None and self.total is not None:
            self.total += self._bytes(dbapi_connection) - start


class ServerCPU:
    """CPU seconds PostgreSQL spent for the process, when it runs on this machine: its
    connections' backends (``/proc/<pid>/stat`` from first checkout to last checkin) and their
    parallel workers (found by their title, ``parallel worker for PID <backend>``, every
    0.1 s while they run, so the last tenth of a second of each may be missed). A measure of
    the work that the machine's other load inflates far less than wall time."""

    def __init__(self, engine: sa.Engine) -> None:
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._workers: dict[int, float] = {}
        self._stop = threading.Event()
        # A database in the process (DuckDB): the process's own CPU, its threads included.
        self._in_process = time.process_time() if engine.dialect.name != "postgresql" else None
        if self._in_process is not None:
            self._thread: threading.Thread | None = None
            return
        sa.event.listen(engine, "checkout", self._checkout)
        sa.event.listen(engine, "checkin", self._checkin)
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        pid = int(dbapi_connection.get_backend_pid())
        cpu = self._cpu(pid)
        if cpu is not None:
            self._start.setdefault(pid, cpu)

    def _checkin(self, dbapi_connection: Any, _record: Any) -> None:
        pid = int(dbapi_connection.get_backend_pid())
        cpu = self._cpu(pid)
        if cpu is not None:
            self._last[pid] = cpu

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            titles = {f"parallel worker for PID {pid}" for pid in self._start}
            if not titles:
                continue
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    title = (entry / "cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if any(t in title for t in titles):
                    cpu = self._cpu(int(entry.name))
                    if cpu is not None:
                        self._workers[int(entry.name)] = cpu

    def total(self) -> float:
        if self._in_process is not None:
            return round(time.process_time() - self._in_process, 2)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        backends = sum(self._last.get(pid, start) - start for pid, start in self._start.items())
        return round(backends + sum(self._workers.values()), 2)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Offset of tcpi_bytes_received in Linux's struct tcp_info (after tcpi_bytes_acked).
TCPI_BYTES_RECEIVED = 128


def peak_rss_mb() -> float:
    """The process's peak RSS (``VmHWM``: ``ru_maxrss`` keeps the parent's across the spawn)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _warm() -> None:
    """Import what the paths import before their clocks start (a daily run pays it once)."""
    import pandas as pd

    from monitoring_pipelines.core.profile import whylogs_adapter as profiling

    for module in bench_drift.SCIPY_MODULES:
        __import__(module)
    profiling.ProfileBuilder().add(pd.DataFrame({"warm": [1.0]}))


def pull(url: str, monitor: Any, reference: dict[str, Any]) -> dict[str, Any]:
    from monitoring_pipelines.core.drift.engine import compute_drift
    from monitoring_pipelines.core.ingest.cleaning import (
        GROUP_KEY,
        ROW_KEY,
        SliceSpec,
        write_day_slice,
    )
    from monitoring_pipelines.core.ingest.engine import warehouse_engine
    from monitoring_pipelines.core.ingest.slice_store import SliceStore
    from monitoring_pipelines.core.ingest.warehouse import read_day
    from monitoring_pipelines.core.profile.fitting import ColumnPlan, profile_day

    _warm()
    engine = warehouse_engine(url)
    received, server = Received(engine), ServerCPU(engine)
    spec, plan = SliceSpec.for_monitor(monitor), ColumnPlan.for_monitor(monitor)
    day = bench_drift.DAY
    with tempfile.TemporaryDirectory(prefix="pushdown-slices-") as tmp:
        store = SliceStore(Path(tmp))
        start = time.perf_counter()
        with store.writer("bench", day, spec) as writer:
            quality = write_day_slice(
                read_day(engine, monitor.source, spec.columns, day), spec, day, writer.write
            )
        read_s, db_bytes, db_cpu = time.perf_counter() - start, received.total, server.total()
        start = time.perf_counter()
        profile_columns = [*plan.columns]
        columns = list(dict.fromkeys([ROW_KEY, GROUP_KEY, *plan.columns]))
        profiled = profile_day(
            store.batches("bench", day, columns, categorical=plan.categorical),
            plan,
            reference,
            profile_columns,
            monitor.drift.p_value_sample,
            total_rows=store.rows("bench", day),
            profile_rows=monitor.profile.sample_rows,
        )
        profile_s = time.perf_counter() - start
        latency = store.frame("bench", day, ["latency_ms"])["latency_ms"].to_numpy()
        p95 = float(np.percentile(latency[latency >= 0], 95))
    start = time.perf_counter()
    roles = {c: "feature" for c in monitor.drifted_columns()}
    current = {s.column: s for s in profiled.sketches}
    results = compute_drift(reference, current, roles, monitor.drift)  # type: ignore[arg-type]
    drift_s = time.perf_counter() - start
    return {
        "rows": quality.rows_kept,
        "db_s": round(read_s, 3),
        "profile_s": round(profile_s, 3),
        "drift_s": round(drift_s, 3),
        "partition_s": round(read_s + profile_s + drift_s, 3),
        "db_bytes": db_bytes,
        "db_cpu_s": db_cpu,
        "p95_ms": p95,
        "verdicts": {r.column: bool(r.drifted) for r in results},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


class StatementTimes:
    """Wall seconds of each statement the engine runs, summed by what it computes (the
    push-down's queries run two at a time on PostgreSQL, so the sum exceeds the day's time)."""

    KINDS = (
        ("GROUPING SETS", "categories and statuses (grouping sets)"),
        ("percentile_disc", "latency percentiles"),
        ("quantile_disc", "latency percentiles"),
        ("count(DISTINCT", "repeated ids"),
        ("width_bucket", "numeric bins"),
        ("hashtextextended", "sample"),
        ("md5(", "sample"),
        ("pg_catalog", "catalog"),
        ("FILTER (WHERE", "counts, nulls, moments (one pass)"),
    )

    def __init__(self, engine: sa.Engine) -> None:
        self.seconds: dict[str, float] = {}
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    @staticmethod
    def _before(conn: Any, _cursor: Any, _sql: str, *_args: Any) -> None:
        conn.info.setdefault("statement_started", []).append(time.perf_counter())

    def _after(self, conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        took = time.perf_counter() - conn.info["statement_started"].pop()
        kind = next((k for marker, k in self.KINDS if marker in sql), "other")
        self.seconds[kind] = round(self.seconds.get(kind, 0.0) + took, 3)


def pushdown(url: str, monitor: Any, reference: dict[str, Any]) -> dict[str, Any]:
    from monitoring_pipelines.core.drift.engine import compute_drift
    from monitoring_pipelines.core.ingest.engine import warehouse_engine
    from monitoring_pipelines.core.ingest.pushdown import PushdownPlan, day_aggregates
    from monitoring_pipelines.core.profile import whylogs_adapter as profiling
    from monitoring_pipelines.core.profile.fitting import ColumnPlan
    from monitoring_pipelines.core.profile.pushed import pushed_sketches

    _warm()
    engine = warehouse_engine(url)
    received, server = Received(engine), ServerCPU(engine)
    statements = StatementTimes(engine)
    plan = ColumnPlan.for_monitor(monitor)
    edges = {c: tuple(s.edges) for c, s in reference.items() if s.edges is not None}
    categories = {c: s.categories for c, s in reference.items() if s.categories is not None}
    shifts = {c: float(s.mean) for c, s in reference.items() if s.kind == "numeric"}
    sample_rows = max(monitor.drift.p_value_sample, monitor.profile.sample_rows)
    pushed_plan = PushdownPlan.for_monitor(monitor, edges, categories, shifts, sample_rows)
    start = time.perf_counter()
    day = day_aggregates(engine, monitor.source, pushed_plan, bench_drift.DAY)
    db_s, db_bytes, db_cpu = time.perf_counter() - start, received.total, server.total()
    start = time.perf_counter()
    sketches = pushed_sketches(
        day, reference, plan.numeric, plan.categorical, monitor.drift.p_value_sample
    )
    profile = profiling.ProfileBuilder()
    profile.add(day.sample[list(plan.columns)])
    profiling.serialize(profile.build())
    profile_s = time.perf_counter() - start
    start = time.perf_counter()
    roles = {c: "feature" for c in monitor.drifted_columns()}
    current = {s.column: s for s in sketches}
    results = compute_drift(reference, current, roles, monitor.drift)  # type: ignore[arg-type]
    drift_s = time.perf_counter() - start
    return {
        "rows": day.quality.rows_kept,
        "db_s": round(db_s, 3),
        "profile_s": round(profile_s, 3),
        "drift_s": round(drift_s, 3),
        "partition_s": round(db_s + profile_s + drift_s, 3),
        "db_bytes": db_bytes,
        "db_cpu_s": db_cpu,
        "queries": day.queries,
        "query_s": statements.seconds,
        "residual_rows": len(day.residual),
        "sample_rows": len(day.sample),
        "p95_ms": day.latency_percentiles.get(95.0),
        "verdicts": {r.column: bool(r.drifted) for r in results},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def floor(url: str, monitor: Any, reference: dict[str, Any]) -> dict[str, Any]:
    from monitoring_pipelines.core.ingest.engine import warehouse_engine

    engine = warehouse_engine(url)
    received, server = Received(engine), ServerCPU(engine)
    numeric = [*monitor.features.numeric, "latency_ms"]
    parts = ["count(*)", *(f"sum({c})" for c in numeric)]
    parts += [f"sum(length({c}))" for c in (*monitor.features.categorical, "request_id")]
    parts.append("min(ts)")
    table = f"{SCHEMA}.{monitor.source.table}"
    query = f"SELECT status, {', '.join(parts)} FROM {table} GROUP BY status"
    start = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(sa.text(query)).all()
    db_s = time.perf_counter() - start
    return {
        "rows": int(sum(r[1] for r in rows)),
        "db_s": round(db_s, 3),
        "partition_s": round(db_s, 3),
        "db_bytes": received.total,
        "db_cpu_s": server.total(),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


PATHS: dict[str, Callable[[str, Any, dict[str, Any]], dict[str, Any]]] = {
    "floor": floor,
    "pushdown": pushdown,
    "pull": pull,
}


def _child(name: str, url: str, monitor_json: str, sketches: list[bytes], out: Any) -> None:
    from monitoring_pipelines.core.config import MonitorConfig
    from monitoring_pipelines.core.profile.sketch import ColumnSketch

    monitor = MonitorConfig.model_validate_json(monitor_json)
    reference = {s.column: s for s in (ColumnSketch.from_bytes(b) for b in sketches)}
    out.send(PATHS[name](url, monitor, reference))
    out.close()


def in_child(
    name: str, url: str, monitor: Any, sketches: list[bytes], code: Path | None = None
) -> dict[str, Any]:
    """``name``'s line, run in a fresh process (importing the product from ``code`` when
    given: another checkout's code, measured beside this one's)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    args = (name, url, monitor.model_dump_json(by_alias=True), sketches, send)
    child = context.Process(target=_child, args=args)
    saved = os.environ.get("PYTHONPATH")
    if code is not None:
        os.environ["PYTHONPATH"] = str(code)
    try:
        child.start()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    send.close()
    result: dict[str, Any] = receive.recv()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout of the product: its push-down runs too, after this one's, "
        "as the path 'pushdown-before' (a before/after under the same load)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each path per size, interleaved"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(bench_drift.PEER_BENCH))
    import bench_common

    for rows in args.sizes:
        bench_run.make_data(rows, args.data, False)
        bench_common.DATA = str(args.data)
        truth = bench_common.truth()
        monitor = monitor_for(truth, args.data, rows)
        log(f"{rows:,} rows: loading into PostgreSQL")
        load_s = load(args.url, args.data, rows, truth)
        log(f"{rows:,} rows: fitting the reference")
        fitted = bench_drift.fit_in_child(monitor, args.data)
        runs: list[tuple[str, str, Path | None]] = [(n, n, None) for n in args.paths]
        if args.before is not None and "pushdown" in args.paths:
            at = args.paths.index("pushdown") + 1
            runs.insert(at, ("pushdown-before", "pushdown", args.before.resolve()))
        for (label, name, code), run_index in ((r, i) for i in range(args.repeat) for r in runs):
            log(f"{rows:,} rows: {label} (run {run_index + 1})")
            result = in_child(name, args.url, monitor, fitted["sketches"], code)
            verdicts = result.pop("verdicts", None)
            line = {"path": label, "day_rows": rows, "load_s": round(load_s, 1), **result}
            line["load_avg"] = round(os.getloadavg()[0], 1)
            if verdicts is not None:
                line.update(bench_common.score(verdicts))
            print(json.dumps(line), flush=True)
    live = pq.ParquetFile(args.data / f"live_{args.sizes[0]}.parquet").metadata.num_rows
    log(f"done ({live:,} rows in the first workload file)")


if __name__ == "__main__":
    main()
