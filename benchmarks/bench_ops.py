"""Daily operations metrics of one day at a million requests, beside a plain numpy floor.

Measures, on the same seeded day (``--rows`` requests, default 1,000,000):

* ``floor``: ``np.percentile`` of the latencies (p50, p95, p99; NaN dropped) and the error share
  of integer status codes: the least any exact computation of the day's numbers costs;
* ``whole_day``: ``core.service.compute_service_metrics``: the same numbers as the product
  computes them, from text statuses as the day's slice holds them (missing, negative and
  unknown values counted);
* ``service_day``: ``core.service_day.compute_service_day`` with 3 dimension columns
  (``model_version`` 4 values, ``endpoint`` 12, ``tenant`` 60, of which 40 fold into
  ``(other)``) and the 24-hour breakdown: exact p50/p95/p99, error rate and volume per
  group, and the day's SLO counts: what ``<monitor>/service_metrics`` computes;
* ``service_day_rows``: the same plus building its result-store rows and plotted values.

Each variant runs in its own process (spawned), which generates the day, then times ``--reps``
runs (the median is reported) and reads its peak RSS (``ru_maxrss``); ``rss_data_mb`` is the
process before the first run, so ``peak - data`` is what the computation adds. Reading the
slice's parquet and writing the result store are not measured.

Prints one JSON line and a markdown table. Usage::

    .venv/bin/python benchmarks/bench_ops.py [--rows 1000000] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitoring_pipelines.core.config import ServiceConfig, SloConfig  # noqa: E402
from monitoring_pipelines.core.service.day import (  # noqa: E402
    ServiceDay,
    compute_service_day,
    service_day_rows,
    service_day_values,
)
from monitoring_pipelines.core.service.metrics import compute_service_metrics  # noqa: E402

VARIANTS = ("floor", "whole_day", "service_day", "service_day_rows")
CONFIG = ServiceConfig(
    latency_column="latency_ms",
    status_column="http_status",
    slo=SloConfig(latency_ms=300, latency_percentile=95, error_rate=0.01),
)


def make_day(rows: int, seed: int) -> dict[str, Any]:
    """One day of requests as the slice gives them: float latencies (a few missing), text
    statuses (a few missing), text dimensions, and the UTC hour of each request."""
    rng = np.random.default_rng(seed)
    latency = rng.lognormal(np.log(80.0), 0.5, rows)
    latency[rng.random(rows) < 0.001] = np.nan
    codes = rng.choice([200, 201, 404, 500, 503], rows, p=[0.9, 0.07, 0.02, 0.002, 0.008])
    names = {c: str(c) for c in (200, 201, 404, 500, 503)}
    status = np.array([names[c] for c in codes.tolist()], dtype=object)
    status[rng.random(rows) < 0.0005] = None
    seconds = np.sort(rng.integers(0, 86_400, rows))

    def text(prefix: str, k: int, weights: npt.NDArray[np.float64] | None = None) -> Any:
        values = np.array([f"{prefix}{i}" for i in range(k)], dtype=object)
        return values[rng.choice(k, rows, p=weights)]

    zipf = 1.0 / np.arange(1, 61)
    return {
        "latency": latency,
        "status": status,
        "codes": codes,
        "hours": seconds // 3600,
        "dimensions": {
            "model_version": text("v3.", 4, np.array([0.5, 0.3, 0.15, 0.05])),
            "endpoint": text("/v1/route", 12),
            "tenant": text("tenant-", 60, zipf / zipf.sum()),
        },
    }


def run_variant(variant: str, day: dict[str, Any]) -> Callable[[], object]:
    rows = len(day["latency"])
    if variant == "floor":

        def floor() -> object:
            latency = day["latency"]
            p = np.percentile(latency[~np.isnan(latency)], [50, 95, 99])
            return p, np.mean(day["codes"] >= 500)

        return floor
    if variant == "whole_day":
        return lambda: compute_service_metrics(day["latency"], day["status"], CONFIG, rows)

    def service_day() -> object:
        result = compute_service_day(
            day["latency"],
            day["status"],
            CONFIG,
            rows,
            hours=day["hours"],
            dimensions=day["dimensions"],
        )
        if variant == "service_day_rows":
            return service_day_rows(result), service_day_values(result)
        return result

    return service_day


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(variant: str, rows: int, reps: int, seed: int) -> dict[str, Any]:
    """In a child process: the variant's median seconds and peak RSS."""
    day = make_day(rows, seed)
    run = run_variant(variant, day)
    data = rss_mb()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    groups = len(result.groups) + len(result.hours) if isinstance(result, ServiceDay) else None
    return {
        "variant": variant,
        "seconds": statistics.median(times),
        "seconds_min": min(times),
        "rss_data_mb": round(data, 1),
        "rss_peak_mb": round(peak, 1),
        "groups": groups,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20260901)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    results = []
    for variant in VARIANTS:
        with context.Pool(1) as pool:
            results.append(pool.apply(measure, (variant, args.rows, args.reps, args.seed)))
    floor = results[0]["seconds"]
    for r in results:
        r["ratio_to_floor"] = r["seconds"] / floor
    line = {
        "benchmark": "ops_daily",
        "rows": args.rows,
        "reps": args.reps,
        "dimensions": 3,
        "hours": 24,
        "results": results,
    }
    print(json.dumps(line))
    print()
    print(f"{args.rows:,} requests, 3 dimension columns + 24 hours, median of {args.reps} runs")
    print()
    print("| variant | seconds | vs floor | peak RSS MB | data RSS MB | added MB |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['variant']} | {r['seconds']:.3f} | {r['ratio_to_floor']:.1f}x | "
            f"{r['rss_peak_mb']:.0f} | {r['rss_data_mb']:.0f} | "
            f"{r['rss_peak_mb'] - r['rss_data_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
