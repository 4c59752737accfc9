"""The service metrics and token costs of a pushed-down day against the pull path's, on the
hostile day of ``test_pushdown_equivalence`` (datetime timestamps on PostgreSQL and DuckDB,
text ones on SQLite): the same counts, foldings, percentiles, SLO counts, drivers and costs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.config import (
    LlmConfig,
    PriceConfig,
    ServiceConfig,
    SloConfig,
    SourceConfig,
)
from monitoring_pipelines.core.costs.day import compute_costs, costs_of_sums
from monitoring_pipelines.core.costs.pushed import CostQuery, pushed_sums
from monitoring_pipelines.core.ingest.cleaning import TIMESTAMP, SliceSpec, write_day_slice
from monitoring_pipelines.core.ingest.pushdown import PushdownPlan, day_aggregates
from monitoring_pipelines.core.ingest.warehouse import read_day
from monitoring_pipelines.core.service.day import compute_service_day
from monitoring_pipelines.core.service.drivers import ServiceUsual
from monitoring_pipelines.core.service.pushed import ServiceQuery, pushed_service, usual_thresholds
from tests.fakes.warehouses import dialect_warehouse
from tests.integration.test_pushdown_equivalence import (
    DAY,
    WINDOW,
    hostile_rows,
    load,
    plan_for,
    pulled,
    reference_sketches,
    warehouse,  # noqa: F401 (a fixture)
)

SERVICE = ServiceConfig(
    latency_column="latency",
    status_column="status",
    dimensions=["model", "cat"],
    slo=SloConfig(latency_ms=50.0, latency_percentile=90.0, error_rate=0.01),
)
LLM = LlmConfig(
    model_column="model",
    prompt_tokens_column="prompt",
    completion_tokens_column="completion",
    intent_column="intent",
    prices=[
        PriceConfig(
            model="gpt-a", input_per_1k=0.5, output_per_1k=1.5, effective_from=date(2024, 1, 1)
        )
    ],
)
# A usual of fast days: every value's p90 was 40 ms, a's 30 ms (the day fails both objectives).
USUAL = ServiceUsual(
    latency_days=5,
    percentile_ms=40.0,
    percentiles={"cat": {"a": 30.0}, "model": {"gpt-a": 35.0}},
    error_days=5,
    error_rates={"model": {"gpt-a": 0.001}},
    status_shares={"503": 0.001},
)


def test_service_and_costs_pushed_down_equal_the_pull_path(
    warehouse: tuple[sa.Engine, str | None],  # noqa: F811
) -> None:
    engine, schema = warehouse
    text_stamps = engine.dialect.name == "sqlite"
    load(engine, schema, hostile_rows(7, 6000, text_stamps), text_stamps)
    source = SourceConfig(
        table="pushdown_log",
        schema=schema,
        timestamp_column="ts",
        request_id_column="rid",
        chunk_rows=700,
    )
    frame, _ = pulled(engine, source)
    default, thresholds = usual_thresholds(USUAL, SERVICE)
    # Five values of "cat" kept, the rest folded: the residual rows' values are ranked in.
    query = ServiceQuery(SERVICE, ("model", "cat"), default, thresholds, max_values=5)
    plan = replace(
        plan_for(reference_sketches()),
        percentiles=(50.0, 95.0, 99.0, 90.0),
        extra={"service": query, "costs": CostQuery(LLM)},
    )
    pushed = day_aggregates(engine, source, plan, DAY, WINDOW)
    assert len(pushed.residual), "the hostile day has residual rows to merge"

    expected = compute_service_day(
        frame["latency"].to_numpy(np.float64, na_value=np.nan),
        frame["status"].to_numpy(dtype=object),
        SERVICE,
        len(frame),
        hours=frame[TIMESTAMP].dt.hour.to_numpy(dtype=np.int64),
        dimensions={c: frame[c].to_numpy(dtype=object) for c in ("model", "cat")},
        max_values=5,
        usual=USUAL,
    )
    service = pushed_service(
        pushed.extra["service"], SERVICE, len(frame), pushed.latency_percentiles, query.dimensions
    )
    got = service.with_drivers(SERVICE, USUAL)
    assert got.metrics == expected.metrics
    assert got.slo == expected.slo
    assert got.foldings == expected.foldings
    assert any(f.folded_values for f in got.foldings)
    assert got.groups == expected.groups  # percentiles per group bit for bit
    assert got.hours == expected.hours
    assert got.by_status == expected.by_status
    assert sorted(got.unknown_examples) == sorted(expected.unknown_examples)
    assert expected.latency_driver is not None and expected.error_driver is not None
    assert got.latency_driver == expected.latency_driver
    assert got.error_driver == expected.error_driver
    # Another usual than the day was pushed down with: no latency driver, and a note.
    other = replace(USUAL, percentile_ms=45.0)
    assert service.with_drivers(SERVICE, other).latency_driver is None
    assert "usual percentiles changed" in service.driver_note(SERVICE, other)

    costs = compute_costs(
        frame["model"],
        frame["prompt"],
        frame["completion"],
        LLM.prices,
        DAY,
        intents=frame["intent"],
    )
    from_sums = costs_of_sums(
        pushed_sums(pushed.extra["costs"]),
        LLM.prices,
        DAY,
        cached_priced=False,
        with_intents=True,
    )
    assert from_sums == costs
    assert costs.total.rows_missing_tokens > 0


@pytest.mark.postgres
def test_hours_of_a_timestamptz_day_are_utc_whatever_the_session_zone(
    postgres_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A ``timestamptz`` column read on a session in Tokyo: the day's rows, and each hour's
    requests and percentiles, are the UTC ones the pull path finds."""
    with dialect_warehouse("postgresql", tmp_path, request) as (plain, schema):
        table = sa.Table(
            "aware_log",
            sa.MetaData(),
            sa.Column("ts", sa.DateTime(timezone=True)),
            sa.Column("rid", sa.Text()),
            sa.Column("latency", sa.Double()),
            sa.Column("status", sa.Text()),
            schema=schema,
        )
        table.create(plain)
        rng = np.random.default_rng(3)
        start = datetime(2024, 3, 4, 12, tzinfo=UTC)
        rows = [
            {
                "ts": start + timedelta(seconds=float(s)),
                "rid": f"r{i}",
                "latency": float(rng.gamma(2, 50)),
                "status": "503" if i % 13 == 0 else "200",
            }
            for i, s in enumerate(rng.uniform(0, 2 * 86400, 3000))
        ]
        with plain.begin() as conn:
            conn.execute(table.insert(), rows)
        tokyo = sa.create_engine(
            plain.url.render_as_string(hide_password=False),
            connect_args={"options": "-c timezone=Asia/Tokyo"},
        )
        try:
            spec = SliceSpec("ts", "rid", ("latency",), ("status",))
            source = SourceConfig(table="aware_log", schema=schema, timestamp_column="ts",
                                  request_id_column="rid")  # fmt: skip
            frames: list[pd.DataFrame] = []
            write_day_slice(
                read_day(tokyo, source, spec.columns, DAY, WINDOW), spec, DAY, frames.append,
                WINDOW,
            )  # fmt: skip
            frame = pd.concat(frames, ignore_index=True)
            config = ServiceConfig(latency_column="latency", status_column="status", dimensions=[])
            query = ServiceQuery(config, ())
            plan = PushdownPlan(spec=spec, latency_column="latency", status_column="status",
                                extra={"service": query})  # fmt: skip
            pushed = day_aggregates(tokyo, source, plan, DAY, WINDOW)
        finally:
            tokyo.dispose()
    expected = compute_service_day(
        frame["latency"].to_numpy(np.float64),
        frame["status"].to_numpy(dtype=object),
        config,
        len(frame),
        hours=frame[TIMESTAMP].dt.hour.to_numpy(dtype=np.int64),
    )
    got = pushed_service(
        pushed.extra["service"], config, len(frame), pushed.latency_percentiles, query.dimensions
    ).day
    assert len(frame) > 1000
    assert got.hours == expected.hours
    assert got.metrics == expected.metrics


PARTIAL = {
    "latency in seconds": ServiceConfig(
        latency_column="latency", latency_unit="s", dimensions=["intent"],
        slo=SloConfig(latency_ms=90_000.0),
    ),
    "named error statuses": ServiceConfig(
        status_column="status", error_statuses=["timeout", 503], dimensions=["model"],
        slo=SloConfig(error_rate=0.01),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(PARTIAL))
def test_a_service_section_with_one_column_pushed_down_equals_the_pull_path(
    name: str,
    warehouse: tuple[sa.Engine, str | None],  # noqa: F811
) -> None:
    engine, schema = warehouse
    text_stamps = engine.dialect.name == "sqlite"
    load(engine, schema, hostile_rows(5, 2000, text_stamps), text_stamps)
    source = SourceConfig(table="pushdown_log", schema=schema, timestamp_column="ts",
                          request_id_column="rid")  # fmt: skip
    frame, _ = pulled(engine, source)
    config = PARTIAL[name]
    dims = tuple(config.dimensions or ())
    query = ServiceQuery(config, dims)
    percentiles = (50.0, 95.0, 99.0, config.slo.latency_percentile)
    base = plan_for(reference_sketches())
    plan = replace(
        base,
        percentiles=percentiles,
        latency_column=config.latency_column,
        latency_scale=1000.0 if config.latency_unit == "s" else 1.0,
        status_column=config.status_column,
        error_statuses=config.error_statuses,
        extra={"service": query},
    )
    pushed = day_aggregates(engine, source, plan, DAY, WINDOW)
    expected = compute_service_day(
        frame[config.latency_column].to_numpy(np.float64) if config.latency_column else None,
        frame[config.status_column].to_numpy(dtype=object) if config.status_column else None,
        config,
        len(frame),
        hours=frame[TIMESTAMP].dt.hour.to_numpy(dtype=np.int64),
        dimensions={c: frame[c].to_numpy(dtype=object) for c in dims},
    )
    got = pushed_service(
        pushed.extra["service"], config, len(frame), pushed.latency_percentiles, query.dimensions
    ).day
    assert (got.metrics, got.slo, got.groups, got.hours) == (
        expected.metrics, expected.slo, expected.groups, expected.hours,
    )  # fmt: skip
    assert (got.foldings, got.by_status) == (expected.foldings, expected.by_status)
