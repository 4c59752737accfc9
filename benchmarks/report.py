"""The drift benchmark's markdown report: medians per tool and size, ratios, and the targets.

Ratios are taken within one invocation (the machine is shared and noisy): compute seconds
against the numpy floor's compute seconds (exact KS/chi2 on frames already in memory).
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

OURS = "monitoring-pipelines"
ORDER = [
    OURS,
    "numpy",
    "numpy-1thread",
    "scipy",
    "whylogs",
    "great_expectations",
    "evidently",
    "nannyml",
]
FLOOR = "numpy"
TARGET_COMPUTE_X = 2.0
TARGET_PARTITION_X = 5.0
TARGET_EVIDENTLY_X = 10.0
TARGET_RSS_1M_MB = 1200.0
TARGET_RSS_10M_MB = 2000.0
LINEAR_SLACK = 1.2

Record = dict[str, Any]


def median(records: Sequence[Record], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return statistics.median(values) if values else None


def stage(records: Sequence[Record], group: str, key: str) -> float | None:
    values = [r[group][key] for r in records if r.get(group, {}).get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def values(records: Sequence[Record], key: str) -> str:
    return ", ".join(str(v) for v in sorted({r[key] for r in records}))


def render(records: Sequence[Record], run_id: str, command: str) -> str:
    runs: dict[tuple[str, int], list[Record]] = defaultdict(list)
    errors: dict[tuple[str, int], list[str]] = defaultdict(list)
    for r in records:
        (errors if "error" in r else runs)[(r["tool"], r["rows"])].append(
            r.get("error") or r  # type: ignore[arg-type]
        )
    sizes = sorted({k[1] for k in [*runs, *errors]})
    floor = {n: median(runs.get((FLOOR, n), []), "compute_s") for n in sizes}
    lines = [
        f"Measured {run_id} on {os.cpu_count()} cores with `{command.strip()}`; "
        "medians over the repetitions; compute = profile + drift seconds.",
        "",
        "| tool | rows | runs | compute s | / numpy | peak RSS MB | drifted found /5 | FP /15 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    tools = ORDER + sorted({k[0] for k in runs} - set(ORDER))
    for n in sizes:
        for tool in tools:
            rs = runs.get((tool, n), [])
            if not rs:
                if (tool, n) in errors:
                    lines.append(
                        f"| {tool} | {n:,} | 0 | failed: {errors[(tool, n)][0][:100]} ||||"
                    )
                continue
            compute = median(rs, "compute_s")
            scored = rs[0]["n_verdicts"] > 0
            lines.append(
                f"| {tool} | {n:,} | {len(rs)} | {fmt(compute)} | "
                f"{fmt(ratio(compute, floor[n]), 1, 'x')} | {fmt(median(rs, 'peak_rss_mb'), 0)} | "
                f"{values(rs, 'drifted_found') if scored else 'n/a'} | "
                f"{values(rs, 'false_positives') if scored else 'n/a'} |"
            )
    if any(tool == OURS for tool, _ in runs):
        lines += ["", *ours_table(runs, sizes, floor), "", *targets(runs, sizes, floor)]
    lines += ["", *findings(runs, sizes)]
    versions = sorted({r["core_source"] for r in records if r.get("core_source")})
    if len(versions) > 1:
        lines += [
            "",
            f"WARNING: the product's core modules changed during this run ({len(versions)} "
            f"versions: {', '.join(versions)}); its rows mix them.",
        ]
    return "\n".join(lines) + "\n"


def ours_table(
    runs: dict[tuple[str, int], list[Record]], sizes: list[int], floor: dict[int, float | None]
) -> list[str]:
    lines = [
        f"{OURS}, per stage (seconds; the reference fit is done once, apart):",
        "",
        "| rows | fit s | read s | profile s | = sketch + whylogs + slice read | drift s | "
        "quality s | partition s | / numpy | drift engine s | / numpy | "
        "Evidently compute / partition | peak RSS MB (fit) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        rs = runs.get((OURS, n), [])
        if not rs:
            continue
        partition = median(rs, "partition_s")
        engine = median(rs, "drift_engine_s")
        evidently = median(runs.get(("evidently", n), []), "compute_s")
        versus = ratio(evidently, partition)
        lines.append(
            f"| {n:,} | {fmt(median(rs, 'fit_s'))} | {fmt(median(rs, 'read_s'))} | "
            f"{fmt(median(rs, 'profile_s'))} | {fmt(stage(rs, 'profile_stages', 'sketch_s'))} + "
            f"{fmt(stage(rs, 'profile_stages', 'whylogs_s'))} + "
            f"{fmt(stage(rs, 'profile_stages', 'read_slice_s'))} | "
            f"{fmt(median(rs, 'drift_s'), 3)} | {fmt(median(rs, 'quality_s'))} | "
            f"{fmt(partition)} | {fmt(ratio(partition, floor[n]), 1, 'x')} | {fmt(engine)} | "
            f"{fmt(ratio(engine, floor[n]), 1, 'x')} | {fmt(versus, 1, 'x')} | "
            f"{fmt(median(rs, 'peak_rss_mb'), 0)} ({fmt(median(rs, 'fit_peak_rss_mb'), 0)}) |"
        )
    lines += [
        "",
        "read = live file in batches + typing (write_day_slice) + slice parquet written; "
        "drift engine = sketch + drift (exact bin counts, p-value sample, statistics); "
        "partition = read + profile + drift + quality.",
    ]
    notes = {r.get("quality_note") for rs in runs.values() for r in rs if r["tool"] == OURS}
    lines += [f"quality: {note}" for note in sorted(n for n in notes if n)]
    return lines


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def targets(
    runs: dict[tuple[str, int], list[Record]], sizes: list[int], floor: dict[int, float | None]
) -> list[str]:
    lines = ["Targets:", ""]
    for n in sizes:
        rs = runs.get((OURS, n), [])
        if not rs:
            continue
        compute, partition = median(rs, "compute_s"), median(rs, "partition_s")
        evidently = median(runs.get(("evidently", n), []), "compute_s")
        checks: list[tuple[str, bool | None, str]] = []
        if floor[n]:
            x = compute / floor[n]  # type: ignore[operator]
            checks.append(
                ("compute <= 2x numpy", x <= TARGET_COMPUTE_X, f"{x:.1f}x (of {floor[n]:.2f} s)")
            )
            y = partition / floor[n]  # type: ignore[operator]
            checks.append(("partition <= 5x numpy", y <= TARGET_PARTITION_X, f"{y:.1f}x"))
        if evidently:
            z = evidently / partition  # type: ignore[operator]
            checks.append(
                ("partition >= 10x faster than Evidently", z >= TARGET_EVIDENTLY_X, f"{z:.1f}x")
            )
        all_found = all(r["drifted_found"] == 5 and r["false_positives"] == 0 for r in rs)
        checks.append(
            (
                "5/5 found, 0/15 FP",
                all_found,
                f"{values(rs, 'drifted_found')}/5, FP {values(rs, 'false_positives')}",
            )
        )
        limit = TARGET_RSS_1M_MB if n <= 1_000_000 else TARGET_RSS_10M_MB
        peak = max(median(rs, "peak_rss_mb") or 0, median(rs, "fit_peak_rss_mb") or 0)
        checks.append((f"peak RSS <= {limit:.0f} MB", peak <= limit, f"{peak:.0f} MB"))
        for name, ok, detail in checks:
            lines.append(f"- {n:,} rows: {name}: {verdict(ok)} ({detail})")
    big = [n for n in sizes if runs.get((OURS, n))]
    if len(big) >= 2 and big[-1] >= 10_000_000 and big[-1] >= 10 * big[-2]:
        small, large = big[-2], big[-1]
        a = median(runs[(OURS, small)], "partition_s")
        b = median(runs[(OURS, large)], "partition_s")
        growth, factor = b / a, large / small  # type: ignore[operator]
        ok = growth <= factor * LINEAR_SLACK
        lines.append(
            f"- linear time {small:,} -> {large:,} rows: {verdict(ok)} "
            f"(partition x{growth:.1f} for x{factor:.0f} rows)"
        )
    return lines


def findings(runs: dict[tuple[str, int], list[Record]], sizes: list[int]) -> list[str]:
    """Missed and falsely flagged columns of every scored tool, with the product's numbers."""
    lines = ["Misses and false positives (last repetition):", ""]
    for n in sizes:
        for tool in ORDER:
            rs = runs.get((tool, n), [])
            if not rs or not rs[-1]["n_verdicts"]:
                continue
            last = rs[-1]
            if not last["missed"] and not last["fp_cols"]:
                continue
            text = f"- {tool} @ {n:,}: missed {last['missed']}, false positives {last['fp_cols']}"
            if tool == OURS:
                detail = last["verdicts"]
                text += "; " + "; ".join(
                    f"{c}: {detail[c]['statistic']} {detail[c]['score']}, p {detail[c]['p']}, "
                    f"adjusted {detail[c]['p_adj']}"
                    for c in [*last["missed"], *last["fp_cols"]]
                )
            lines.append(text)
    if len(lines) == 2:
        lines.append("- none")
    return lines
