"""DuckDB lets a user monitor parquet files where they lie: a view over the files is the
source table, and the day is pushed down into DuckDB like any warehouse's."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.config import SourceConfig
from monitoring_pipelines.core.ingest.cleaning import SliceSpec, write_day_slice
from monitoring_pipelines.core.ingest.pushdown import PushdownPlan, day_aggregates
from monitoring_pipelines.core.ingest.warehouse import read_day

pytest.importorskip("duckdb_engine")

DAY = date(2024, 6, 2)


def test_a_view_over_parquet_files_is_pushed_down(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for part in range(3):  # three hourly files of a day and its neighbours
        start = datetime(2024, 6, 1, 12) + timedelta(hours=12 * part)
        n = 500
        pd.DataFrame(
            {
                "ts": [start + timedelta(minutes=float(m)) for m in rng.uniform(0, 720, n)],
                "request_id": [f"p{part}-{i}" for i in range(n)],
                "latency_ms": rng.gamma(2, 40, n),
                "model": rng.choice(["a", "b"], n),
            }
        ).to_parquet(tmp_path / f"log-{part}.parquet")
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'monitor.duckdb'}")
    with engine.begin() as conn:
        files = (tmp_path / "log-*.parquet").as_posix()
        conn.execute(sa.text(f"CREATE VIEW inference_log AS SELECT * FROM read_parquet('{files}')"))
    source = SourceConfig(
        table="inference_log", timestamp_column="ts", request_id_column="request_id"
    )
    spec = SliceSpec("ts", "request_id", ("latency_ms",), ("model",))
    frames: list[pd.DataFrame] = []
    quality = write_day_slice(read_day(engine, source, spec.columns, DAY), spec, DAY, frames.append)
    plan = PushdownPlan(spec=spec, latency_column="latency_ms", sample_rows=100)
    pushed = day_aggregates(engine, source, plan, DAY)
    pulled = pd.concat(frames, ignore_index=True)
    assert pushed.quality.rows_kept == quality.rows_kept == len(pulled) > 0
    usable = pulled["latency_ms"].to_numpy(np.float64)
    for q, value in pushed.latency_percentiles.items():
        assert value == float(np.percentile(usable, q))
    assert len(pushed.sample) == 100
    assert pushed.numeric["latency_ms"].count == len(pulled)
