"""The drift benchmark: the product's daily partition beside its peers, in one invocation.

For each size: generate the shared workload (``/work/shared/bench/make_data.py``) into
``benchmarks/data``, then run REPS repetitions, one tool after another, of ``bench_drift.py``
(this product) and the peers' ``bench_*.py`` scripts from their own read-only folder. Every run
appends one JSON line to ``benchmarks/results/results.jsonl`` (tagged with this invocation's
``run_id``); at the end a markdown table of medians and ratios is printed and written to
``benchmarks/results/latest.md``. Evidently and NannyML run in their own virtualenvs under
``benchmarks/.venvs/``, created on first use.

Usage::

    .venv/bin/python benchmarks/run.py                      # 100k and 1M rows, 3 repetitions
    .venv/bin/python benchmarks/run.py --reps 1 --sizes 1000000
    .venv/bin/python benchmarks/run.py --rows-10m           # this product only, 1M and 10M
    .venv/bin/python benchmarks/run.py --summarize RUN_ID   # the table of an earlier run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from report import render

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_BENCH = Path("/work/shared/bench")
VENVS = HERE / ".venvs"
OURS = "monitoring-pipelines"
TEN_MILLION = 10_000_000
# make_data.py holds the live and reference frames in memory: about 1.1 GB per million rows
# (12.3 GB peak for 10M live and 1M reference rows)..
GENERATE_GB_PER_MILLION = 1.15

# Peers whose pins clash with the product's get their own virtualenv (shared README).
PEER_VENVS = {
    # bench_whylogs.py needs whylogs[viz] (IPython and more), which the product does not install.
    "whylogs": ["whylogs[viz]==1.6.4", "numpy<2", "pandas<3", "pyarrow==19.0.1"],
    "evidently": ["evidently==0.7.*", "pandas<3", "pyarrow"],
    "nannyml": ["nannyml", "statsmodels", "pyarrow"],
}


@dataclass(frozen=True)
class Tool:
    """One benchmark script and how to run it."""

    name: str
    script: Path
    timeout_s: int
    venv: str | None = None
    env: dict[str, str] = field(default_factory=dict)


TOOLS = [
    Tool(OURS, HERE / "bench_drift.py", 1800),
    Tool("numpy", PEER_BENCH / "bench_numpy.py", 600),
    Tool("numpy-1thread", PEER_BENCH / "bench_numpy.py", 600, env={"THREADS": "1"}),
    Tool("scipy", PEER_BENCH / "bench_scipy.py", 600),
    Tool("whylogs", PEER_BENCH / "bench_whylogs.py", 900, venv="whylogs"),
    Tool("great_expectations", PEER_BENCH / "bench_gx.py", 600),
    Tool("evidently", PEER_BENCH / "bench_evidently.py", 1200, venv="evidently"),
    Tool("nannyml", PEER_BENCH / "bench_nannyml.py", 900, venv="nannyml"),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_venv(name: str, results: Path) -> Path:
    """The python of a peer's virtualenv, created and installed with pip on first use."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / ".bench-installed"
    wanted = "\n".join(PEER_VENVS[name])
    if marker.exists() and marker.read_text() == wanted:
        return python
    log(f"installing {name} into {venv} ({' '.join(PEER_VENVS[name])})")
    pip_log = results / f"pip_{name}.log"
    with pip_log.open("w") as out:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=out)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
            + PEER_VENVS[name],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        lines = [ln for ln in pip_log.read_text().splitlines() if "ERROR" in ln]
        raise RuntimeError(f"pip install failed (rc={done.returncode}): {lines[-1:]}")
    marker.write_text(wanted)
    return python


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def make_data(rows: int, data: Path, regenerate: bool) -> None:
    """The workload of ``rows`` live rows, unless it is there already (it is seeded)."""
    files = [data / f"ref_{rows}.parquet", data / f"live_{rows}.parquet", data / "truth.json"]
    if all(f.exists() for f in files) and not regenerate:
        return
    data.mkdir(parents=True, exist_ok=True)
    # The product reads at most reference.max_rows (default 1M) reference rows.
    ref_rows = min(rows, 1_000_000)
    need_gb = GENERATE_GB_PER_MILLION * (rows + ref_rows) / 1e6
    log(f"generating {rows:,} live rows and {ref_rows:,} reference rows into {data}")
    if need_gb < 0.75 * mem_available_gb():
        generate(rows, ref_rows, data)
    else:
        log(f"  in parts: about {need_gb:.0f} GB needed at once, {mem_available_gb():.0f} free")
        generate_in_parts(rows, data)


def generate(rows: int, ref_rows: int, out: Path, seed: int = 42) -> None:
    subprocess.run(
        [
            *(sys.executable, "make_data.py", "--rows", str(rows), "--ref-rows", str(ref_rows)),
            *("--seed", str(seed), "--out", str(out)),
        ],
        cwd=PEER_BENCH,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def generate_in_parts(rows: int, data: Path, part_rows: int = 1_000_000) -> None:
    """Live days of ``part_rows`` with different seeds, their row groups concatenated; the
    reference is the first part's (seed 42, the same as the 1M workload's)."""
    parts = data / "parts"
    writer: pq.ParquetWriter | None = None
    target = data / f"live_{rows}.parquet"
    for i in range(-(-rows // part_rows)):
        shutil.rmtree(parts, ignore_errors=True)
        generate(part_rows, part_rows, parts, seed=42 + i)
        source = pq.ParquetFile(parts / f"live_{part_rows}.parquet")
        writer = writer or pq.ParquetWriter(target, source.schema_arrow)
        for group in range(source.num_row_groups):
            writer.write_table(source.read_row_group(group))
        if i == 0:
            shutil.copy(parts / f"ref_{part_rows}.parquet", data / f"ref_{rows}.parquet")
            shutil.copy(parts / "truth.json", data / "truth.json")
    assert writer is not None
    writer.close()
    shutil.rmtree(parts, ignore_errors=True)


def run_tool(tool: Tool, python: Path, rows: int, data: Path, results: Path) -> dict[str, Any]:
    """One repetition of one tool: its JSON line, or an error record."""
    command = [str(python), str(tool.script), str(rows)]
    if tool.name == OURS:
        command += ["--data", str(data)]
    env = {**os.environ, "BENCHDATA": str(data), "WHYLOGS_NO_ANALYTICS": "True", **tool.env}
    stderr_path = results / "stderr" / f"{tool.name}_{rows}.txt"
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    cwd = ROOT if tool.name == OURS else PEER_BENCH
    start = time.perf_counter()
    try:
        with stderr_path.open("w") as stderr:
            done = subprocess.run(
                command,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                timeout=tool.timeout_s,
            )
    except subprocess.TimeoutExpired:
        return {"tool": tool.name, "rows": rows, "error": f"timeout after {tool.timeout_s} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode == 0 and lines:
        record: dict[str, Any] = json.loads(lines[-1])
        record["tool"] = tool.name  # numpy-1thread reports itself as such; keep ours uniform
        record["wall_s"] = round(time.perf_counter() - start, 2)
        return record
    tail = [ln for ln in stderr_path.read_text().splitlines() if ln.strip()][-1:]
    return {"tool": tool.name, "rows": rows, "error": f"rc={done.returncode} {tail}"}


def benchmark(args: argparse.Namespace, run_id: str, command: str) -> None:
    results: Path = args.results
    results.parent.mkdir(parents=True, exist_ok=True)
    folder = results.parent
    tools = [t for t in TOOLS if t.name in args.tools]
    pythons: dict[str, Path | str] = {}
    for tool in tools:
        if tool.venv is None:
            pythons[tool.name] = Path(sys.executable)
            continue
        try:
            pythons[tool.name] = ensure_venv(tool.venv, folder)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            pythons[tool.name] = str(exc)
            log(f"{tool.name}: {exc}")
    with results.open("a") as out:
        for rows in args.sizes:
            make_data(rows, args.data, args.regenerate)
            for rep in range(1, args.reps + 1):
                for tool in tools:
                    python = pythons[tool.name]
                    if isinstance(python, str):
                        record = {"tool": tool.name, "rows": rows, "error": python}
                    else:
                        record = run_tool(tool, python, rows, args.data, folder)
                    record.update(run_id=run_id, rep=rep, command=command)
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                    shown = record.get("error") or (
                        f"compute {record['compute_s']} s, peak {record['peak_rss_mb']} MB, "
                        f"found {record['drifted_found']}/5, fp {record['false_positives']}"
                    )
                    log(f"{tool.name} @ {rows:,} rep {rep}: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--reps", type=int, default=int(os.environ.get("REPS", "3")))
    parser.add_argument("--tools", nargs="+", default=[t.name for t in TOOLS])
    parser.add_argument(
        "--rows-10m", action="store_true", help="this product only, at 1M and 10M rows"
    )
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "results.jsonl")
    parser.add_argument("--regenerate", action="store_true", help="rewrite the workload")
    parser.add_argument("--summarize", metavar="RUN_ID", help="only print an earlier run's table")
    args = parser.parse_args()
    args.data = args.data.resolve()
    command = "benchmarks/run.py " + " ".join(sys.argv[1:])
    if args.rows_10m:
        args.tools, args.sizes = [OURS], [1_000_000, TEN_MILLION]
        if "--reps" not in sys.argv and "REPS" not in os.environ:
            args.reps = 1
    run_id = args.summarize or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not args.summarize:
        benchmark(args, run_id, command)
    records = [json.loads(line) for line in args.results.open()]
    records = [r for r in records if r.get("run_id") == run_id]
    command = next((r["command"] for r in records if "command" in r), command)
    table = render(records, run_id, command)
    (args.results.parent / "latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
