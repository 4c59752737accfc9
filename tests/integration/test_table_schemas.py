"""Every table a monitor reads can live in a schema of its own: the inference log, the
reference, the labels and the business KPI (PostgreSQL, where schemas are common)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.hallucination.kpi_source import read_kpi
from monitoring_pipelines.core.ingest.labels import labels_by_day
from monitoring_pipelines.core.ingest.warehouse import (
    read_reference,
    reference_columns,
    reference_problems,
    table_columns,
)
from monitoring_pipelines.core.profile.reference_source import reference_fingerprint


@pytest.fixture
def warehouse(postgres_url: str, postgres_schema: str) -> sa.Engine:
    """Tables with spaces and capitals in their names, in a schema that is not on the search
    path: only the configured schema finds them."""
    engine = sa.create_engine(postgres_url)
    requests = pd.DataFrame(
        {
            "Request ID": ["r1", "r2", "r3"],
            "ts": pd.to_datetime(["2026-11-01 10:00", "2026-11-01 11:00", "2026-11-02 09:00"]),
            "age": [30.0, 41.0, 52.0],
            "predicted": ["a", "a", "b"],
        }
    )
    requests.to_sql("Inference Log", engine, schema=postgres_schema, index=False)
    reference = pd.DataFrame({"age": [20.0, 30.0, 40.0, 50.0], "predicted": ["a", "b", "a", "b"]})
    reference.to_sql("Training Set", engine, schema=postgres_schema, index=False)
    labels = pd.DataFrame({"Request ID": ["r1", "r3"], "truth": ["a", "b"]})
    labels.to_sql("Labels", engine, schema=postgres_schema, index=False)
    kpi = pd.DataFrame({"day": ["2026-11-01", "2026-11-02"], "tickets": [4, 6]})
    kpi.to_sql("Tickets", engine, schema=postgres_schema, index=False)
    yield engine
    engine.dispose()


def _monitor(schema: str, reference_schema: str | None = None) -> MonitorConfig:
    reference = {"schema": reference_schema} if reference_schema else {}
    return MonitorConfig.model_validate(
        {
            "start_date": "2026-11-01",
            "source": {
                "table": "Inference Log",
                "schema": schema,
                "timestamp_column": "ts",
                "request_id_column": "Request ID",
            },
            "reference": {"table": "Training Set", **reference},
            "features": {"numeric": ["age"]},
            "prediction": {"column": "predicted", "type": "label"},
            "labels": {
                "table": "Labels",
                "schema": schema,
                "request_id_column": "Request ID",
                "label_column": "truth",
            },
        }
    )


def test_reference_labels_and_kpi_tables_are_read_from_their_schema(
    warehouse: sa.Engine, postgres_schema: str, tmp_path: Path
) -> None:
    monitor = _monitor(postgres_schema, reference_schema=postgres_schema)
    assert monitor.reference is not None and monitor.labels is not None
    assert reference_problems("m", monitor, warehouse, tmp_path) == []
    assert set(reference_columns(warehouse, monitor.reference, tmp_path)) == {"age", "predicted"}
    rows = pd.concat(read_reference(warehouse, monitor.reference, ["age"], tmp_path))
    assert sorted(rows["age"]) == [20.0, 30.0, 40.0, 50.0]
    assert reference_fingerprint(warehouse, monitor, tmp_path)
    assert labels_by_day(warehouse, monitor.source, monitor.labels) == {
        "2026-11-01": 1,
        "2026-11-02": 1,
    }
    from monitoring_pipelines.core.config import KpiConfig

    kpi = KpiConfig.model_validate(
        {
            "table": "Tickets",
            "schema": postgres_schema,
            "date_column": "day",
            "value_column": "tickets",
        }
    )
    assert read_kpi(warehouse, kpi).values == {date(2026, 11, 1): 4.0, date(2026, 11, 2): 6.0}


def test_a_table_found_only_in_another_schema_names_the_schema_to_set(
    warehouse: sa.Engine, postgres_schema: str, tmp_path: Path
) -> None:
    monitor = _monitor(postgres_schema)  # the reference's schema left out
    (problem,) = reference_problems("m", monitor, warehouse, tmp_path)
    assert "key 'reference.table'" in problem
    assert f"'{postgres_schema}'" in problem and "set the key's 'schema'" in problem
    with pytest.raises(SourceError, match="set the key's 'schema'"):
        table_columns(warehouse, "Labels")
