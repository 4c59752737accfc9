"""The product's daily partition on the shared peer drift workload, as one JSON line.

Runs what a monitor's Dagster assets run, through the same core functions, on the workload of
``/work/shared/bench/make_data.py`` (20 features, 5 of them drifted):

* ``fit`` (the ``reference_profile`` asset, done once and reported apart as ``fit_s``): the
  reference parquet read in chunks by ``warehouse.read_reference`` (at most
  ``reference.max_rows`` rows) and ``fitting.fit_reference``. It runs in a child process, so
  the parent's peak RSS is the daily partition's alone; the sketches cross over as the bytes
  the result store keeps.
* ``read`` (the ``live_slice`` asset): the live file read with pyarrow in batches (bounded
  memory), a timestamp column added (the workload has none; every row falls in one day),
  ``slicing.write_day_slice`` typing every batch and the product's slice store writing the
  day's parquet, then ``quality.slice_checks``.
* ``profile`` (the ``daily_profile`` asset): ``fitting.profile_day`` over the slice's batches:
  exact counts over the reference's bins and the bounded p-value sample (``sketch_s``), and
  the whylogs profile (``whylogs_s``, timed by wrapping the whylogs adapter's entry points).
* ``drift`` (the ``feature_drift`` asset): ``drift.compute_drift`` with the documented
  defaults. A column is drifted when its verdict is warn or critical. The incident policy's
  persistence across days is not applied: the single day's verdicts are scored, as the
  peers' are.
* ``quality``: the Great Expectations step of ``monitoring_pipelines.core.quality``
  (``derive_suite`` from the reference, ``validate_day`` over the slice's batches,
  ``quality_check``), GX's import timed apart; when it fails ``quality_s`` is null and
  ``quality_note`` says why.

Not measured: Dagster's per-run cost (``make bench``) and the result-store writes.

The line has the fields of the peers' ``bench_common.emit`` (``load_s`` is the read stage,
``compute_s`` = profile + drift) plus ``fit_s``, ``read_s``, ``quality_s``, ``partition_s``
(read + profile + drift + quality), per-stage breakdowns and a per-column verdict dict.

Usage::

    .venv/bin/python benchmarks/bench_drift.py ROWS [--data benchmarks/data]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import multiprocessing
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import create_engine

from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.drift.engine import ColumnDrift, Role, compute_drift
from monitoring_pipelines.core.ingest.cleaning import (
    GROUP_KEY,
    ROW_KEY,
    SliceSpec,
    write_day_slice,
)
from monitoring_pipelines.core.ingest.live_checks import slice_checks
from monitoring_pipelines.core.ingest.slice_store import SliceStore
from monitoring_pipelines.core.ingest.warehouse import read_reference
from monitoring_pipelines.core.profile import whylogs_adapter as profiling
from monitoring_pipelines.core.profile.fitting import ColumnPlan, fit_reference, profile_day
from monitoring_pipelines.core.profile.sketch import ColumnSketch
from monitoring_pipelines.core.quality.batches import day_batches
from monitoring_pipelines.core.quality.check import quality_check
from monitoring_pipelines.core.quality.suite import derive_suite
from monitoring_pipelines.core.quality.validate import validate_day

HERE = Path(__file__).resolve().parent
PEER_BENCH = Path("/work/shared/bench")
TOOL = "monitoring-pipelines"
MONITOR = "bench"
DAY = date(2026, 10, 1)
TIMESTAMP_COLUMN = "ts"
QUALITY_MODULE = "monitoring_pipelines.core.quality"
SCIPY_MODULES = ("scipy.special", "scipy.stats")

T = TypeVar("T")


class Clock:
    """Seconds accumulated per stage name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> T:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        return timed

    def iterate(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """Yield from ``items``, timing only the production of each item."""
        iterator = iter(items)
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.seconds[stage] += time.perf_counter() - start
                return
            self.seconds[stage] += time.perf_counter() - start
            yield item

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.seconds.items()}


def whylogs_timed(clock: Clock) -> ExitStack:
    """Time every call into the whylogs adapter that fitting makes (profile, serialize,
    summarize); the product's code is unchanged, only wrapped for this process."""
    stack = ExitStack()
    builder = profiling.ProfileBuilder
    for owner, name in (
        (builder, "add"),
        (builder, "build"),
        (profiling, "serialize"),
        (profiling, "summarize"),
    ):
        stack.enter_context(
            mock.patch.object(owner, name, clock.wrap("whylogs", getattr(owner, name)))
        )
    return stack


def monitor_config(truth: dict[str, Any], reference: Path, chunk_rows: int) -> MonitorConfig:
    """The monitor a user would write for this workload: features only, documented defaults."""
    return MonitorConfig.model_validate(
        {
            "start_date": DAY.isoformat(),
            "source": {
                "table": "live",
                "timestamp_column": TIMESTAMP_COLUMN,
                "chunk_rows": chunk_rows,
            },
            "reference": {"path": str(reference)},
            "features": {"numeric": truth["numeric"], "categorical": truth["categorical"]},
        }
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fit(monitor: MonitorConfig, base_dir: Path) -> dict[str, Any]:
    """The reference_profile asset: read the reference in chunks and fit it (child process)."""
    plan = ColumnPlan.for_monitor(monitor)
    assert monitor.reference is not None
    clock = Clock()
    start = time.perf_counter()
    with whylogs_timed(clock):
        chunks = read_reference(
            create_engine("sqlite://"), monitor.reference, plan.columns, base_dir
        )
        fitted = fit_reference(
            clock.iterate("read", chunks),
            plan,
            bins=monitor.drift.bins,
            sample_size=monitor.drift.p_value_sample,
            profile_rows=monitor.profile.sample_rows,
        )
    fit_s = time.perf_counter() - start
    return {
        "sketches": [s.to_bytes() for s in fitted.sketches],
        "rows": fitted.rows,
        "fit_s": fit_s,
        "fit_stages": clock.rounded(),
        "fit_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _fit_child(monitor_json: str, base_dir: str, out: Any) -> None:
    out.send(fit(MonitorConfig.model_validate_json(monitor_json), Path(base_dir)))
    out.close()


def fit_in_child(monitor: MonitorConfig, base_dir: Path) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_fit_child, args=(monitor.model_dump_json(by_alias=True), str(base_dir), send)
    )
    child.start()
    send.close()
    result: dict[str, Any] = receive.recv()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"the reference fit failed in its process (exit {child.exitcode})")
    return result


def live_batches(path: Path, batch_rows: int, day: date) -> Iterator[pd.DataFrame]:
    """The live day as the warehouse would hand it over: batches with an event timestamp."""
    parquet = pq.ParquetFile(path)
    total = parquet.metadata.num_rows
    start_us = int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp() * 1e6)
    step_us = 86_400_000_000 // max(total, 1)
    first = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        frame = batch.to_pandas()
        offsets = np.arange(first, first + len(frame), dtype=np.int64) * step_us
        frame[TIMESTAMP_COLUMN] = pd.to_datetime(start_us + offsets, unit="us", utc=True)
        first += len(frame)
        yield frame


def quality_step(
    monitor: MonitorConfig, reference: dict[str, ColumnSketch], store: SliceStore
) -> dict[str, Any]:
    """The ``data_quality`` asset's Great Expectations step on the day's slice: the suite
    derived from the reference, the day validated batch by batch, the check built. GX's
    import is timed apart (a per-process cost, as ``validate_day`` itself counts it); the
    asset's schema-change check needs the warehouse and is not run."""
    start = time.perf_counter()
    importlib.import_module("great_expectations")
    import_s = time.perf_counter() - start
    try:
        start = time.perf_counter()
        suite = derive_suite(monitor, reference)
        # As the asset runs it: a day larger than checks.quality_sample_rows is validated on a
        # uniform sample of that many rows chosen by the rows' key hash.
        sample_rows = monitor.checks.quality_sample_rows
        batches, day_rows = day_batches(store, MONITOR, DAY, suite, sample_rows)
        report = validate_day(suite, batches, day_rows=day_rows, sample_rows=sample_rows)
        outcome = quality_check(report)
        quality_s = time.perf_counter() - start
    except (AttributeError, TypeError, ValueError) as exc:  # its API is still being written
        return {"quality_s": None, "quality_note": f"{QUALITY_MODULE} failed: {exc!r}"[:300]}
    return {
        "quality_s": round(quality_s, 4),
        "quality_note": f"{QUALITY_MODULE}.validate_day: {outcome.summary}"[:300],
        "quality_detail": {
            "gx_import_s": round(import_s, 4),
            "expectations": len(report.results),
            "failed": [r.name for r in report.failed],
            "batches": report.batches,
            "gx_seconds": round(report.seconds, 4),
        },
    }


def source_fingerprint() -> str:
    """A hash of the product's core modules this process ran: other engineers edit them while
    benchmarks run, and a table mixing two versions should say so."""
    core = Path(profiling.__file__).resolve().parent
    loaded = {
        Path(module.__file__).resolve()
        for module in list(sys.modules.values())
        if getattr(module, "__file__", None)
    }
    digest = hashlib.sha256()
    for path in sorted(p for p in loaded if p.is_relative_to(core)):
        digest.update(str(path.relative_to(core)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def verdict_detail(r: ColumnDrift) -> dict[str, Any]:
    def sig(x: float | None, digits: int) -> float | None:
        return None if x is None else float(f"{x:.{digits}g}")

    return {
        "verdict": r.verdict,
        "statistic": r.statistic,
        "score": sig(r.score, 4),
        "warn": r.warn,
        "p": sig(r.p_value, 3),
        "p_adj": sig(r.p_adjusted, 3),
        "p_rows": r.p_value_rows,
        "rows": r.rows,
    }


def run(rows: int, data: Path, batch_rows: int) -> dict[str, Any]:
    sys.path.insert(0, str(PEER_BENCH))
    import bench_common  # the peers' scoring and line shape, used from its own location

    bench_common.DATA = str(data)
    truth = bench_common.truth()
    live_path = data / f"live_{rows}.parquet"
    monitor = monitor_config(truth, data / f"ref_{rows}.parquet", batch_rows)
    plan = ColumnPlan.for_monitor(monitor)
    spec = SliceSpec.for_monitor(monitor)

    # The engine imports scipy and whylogs lazily; the peers import their libraries before
    # their clocks start, and so does this benchmark (the cost is reported apart: a daily run
    # pays it once per process).
    start = time.perf_counter()
    for module in SCIPY_MODULES:
        importlib.import_module(module)
    scipy_import_s = time.perf_counter() - start
    start = time.perf_counter()
    profiling.ProfileBuilder().add(pd.DataFrame({"warm": [1.0]}))
    whylogs_import_s = time.perf_counter() - start

    fitted = fit_in_child(monitor, data)
    reference = {s.column: s for s in (ColumnSketch.from_bytes(b) for b in fitted.pop("sketches"))}

    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="slices-", dir=data) as tmp:
        store = SliceStore(Path(tmp))
        start = time.perf_counter()
        with store.writer(MONITOR, DAY, spec) as writer:
            slice_quality = write_day_slice(
                clock.iterate("read_file", live_batches(live_path, batch_rows, DAY)),
                spec,
                DAY,
                clock.wrap("write_slice", writer.write),
            )
        checks = slice_checks(slice_quality, monitor.checks, has_request_id=False)
        read_s = time.perf_counter() - start

        profile_columns = [*spec.numeric, *spec.text]
        columns = list(dict.fromkeys([ROW_KEY, GROUP_KEY, *plan.columns, *profile_columns]))
        start = time.perf_counter()
        with whylogs_timed(clock):
            profiled = profile_day(
                clock.iterate(
                    "read_slice",
                    store.batches(MONITOR, DAY, columns, categorical=plan.categorical),
                ),
                plan,
                reference,
                profile_columns,
                monitor.drift.p_value_sample,
                total_rows=store.rows(MONITOR, DAY),
                profile_rows=monitor.profile.sample_rows,
            )
        profile_s = time.perf_counter() - start

        current = {s.column: s for s in profiled.sketches}
        roles: dict[str, Role] = {c: "feature" for c in monitor.drifted_columns()}
        start = time.perf_counter()
        results = compute_drift(reference, current, roles, monitor.drift)
        drift_s = time.perf_counter() - start

        quality = quality_step(monitor, reference, store)
    quality_s = quality["quality_s"]

    stages = clock.rounded()
    whylogs_s = stages.get("whylogs", 0.0)
    read_slice_s = stages.get("read_slice", 0.0)
    sketch_s = profile_s - whylogs_s - read_slice_s
    verdicts = {r.column: r.drifted for r in results}
    extra = {
        "fit_s": round(fitted["fit_s"], 4),
        "fit_stages": fitted["fit_stages"],
        "fit_peak_rss_mb": fitted["fit_peak_rss_mb"],
        "reference_rows": fitted["rows"],
        "read_s": round(read_s, 4),
        "read_stages": {
            "read_file_s": stages.get("read_file", 0.0),
            "clean_s": round(
                read_s - stages.get("read_file", 0.0) - stages.get("write_slice", 0.0), 4
            ),
            "write_slice_s": stages.get("write_slice", 0.0),
        },
        "profile_stages": {
            "read_slice_s": read_slice_s,
            "sketch_s": round(sketch_s, 4),
            "whylogs_s": whylogs_s,
        },
        "drift_engine_s": round(sketch_s + drift_s, 4),
        "scipy_import_s": round(scipy_import_s, 4),
        "whylogs_import_s": round(whylogs_import_s, 4),
        **quality,
        "partition_s": round(read_s + profile_s + drift_s + (quality_s or 0.0), 4),
        "rows_kept": slice_quality.rows_kept,
        "profiled_rows": profiled.profiled_rows,
        "profile_sample_rows": monitor.profile.sample_rows,
        "slice_checks": {o.name: o.passed for o in checks},
        "batch_rows": batch_rows,
        "core_source": source_fingerprint(),
        "drift_config": monitor.drift.model_dump(mode="json", exclude={"columns"}),
        "verdicts": {r.column: verdict_detail(r) for r in results},
    }
    out: dict[str, Any] = bench_common.emit(TOOL, rows, read_s, profile_s, drift_s, verdicts, extra)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--data", type=Path, default=HERE / "data", help="make_data.py output")
    parser.add_argument("--batch-rows", type=int, default=100_000, help="rows per live batch")
    args = parser.parse_args()
    run(args.rows, args.data.resolve(), args.batch_rows)


if __name__ == "__main__":
    main()
