"""Generate the demo warehouse: three production systems' logs with known, injected incidents.

``generate_demo`` writes the tables ``demo/monitors.yaml`` names into any SQLAlchemy database,
and a ground-truth file of the injected incidents; the same seed writes identical tables.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from monitoring_pipelines.demo.events import DemoEvent, build_schedule, describe_events
from monitoring_pipelines.demo.systems_chatbot import chatbot_tables
from monitoring_pipelines.demo.systems_recommender import recommender_tables
from monitoring_pipelines.demo.systems_sentiment import sentiment_tables

DEFAULT_START = dt.date(2026, 9, 1)
GROUND_TRUTH_FILE = "ground_truth.json"
WRITE_CHUNK_ROWS = 10_000

# Each system draws from its own stream, so changing one never changes another's data.
_SENTIMENT, _RECOMMENDER, _CHATBOT, _CHATBOT_BASELINE = range(4)


@dataclass(frozen=True)
class DemoSummary:
    """What ``generate_demo`` wrote.

    Attributes:
        rows: Rows written per table, in the order written.
        events: The injected incidents.
        ground_truth_path: The JSON file describing them.
    """

    rows: Mapping[str, int]
    events: tuple[DemoEvent, ...]
    ground_truth_path: pathlib.Path


def generate_demo(
    warehouse_url: str,
    out_dir: pathlib.Path,
    *,
    start: dt.date = DEFAULT_START,
    days: int = 60,
    scale: float = 1.0,
    seed: int = 7,
) -> DemoSummary:
    """Write the demo's tables into a warehouse and its ground truth into ``out_dir``.

    Existing tables of the same names are dropped and replaced, so rerunning is safe. All
    tables are written in one transaction.

    Args:
        warehouse_url: SQLAlchemy URL of the warehouse (e.g. ``sqlite:///warehouse.db``).
        out_dir: Directory for ``ground_truth.json`` (created if missing).
        start: First day of the live logs (UTC); the chatbot baseline is the week before.
        days: Number of days of live logs, at least 20.
        scale: Volume multiplier; 1.0 is about 2500, 4000 and 1200 requests a day.
        seed: Seed of every random draw.

    Returns:
        The rows written per table, the incidents and the ground-truth path.

    Raises:
        ValueError: If ``days`` is under 20 or ``scale`` is not positive.
    """
    if not scale > 0:
        raise ValueError(f"scale={scale} must be positive (1.0 is the documented volume)")
    schedule = build_schedule(days)
    events = describe_events(schedule, start)
    tables = {
        **sentiment_tables(_rng(seed, _SENTIMENT), start, schedule, scale),
        **recommender_tables(_rng(seed, _RECOMMENDER), start, schedule, scale),
        **chatbot_tables(
            _rng(seed, _CHATBOT), _rng(seed, _CHATBOT_BASELINE), start, schedule, scale
        ),
    }
    write_tables(warehouse_url, tables)

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / GROUND_TRUTH_FILE
    truth = {
        "start": start.isoformat(),
        "days": days,
        "scale": scale,
        "seed": seed,
        "events": [event.to_json() for event in events],
    }
    path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return DemoSummary(
        rows={name: len(frame) for name, frame in tables.items()},
        events=events,
        ground_truth_path=path,
    )


def write_tables(warehouse_url: str, tables: Mapping[str, pd.DataFrame]) -> None:
    """Replace each table with its frame, all in one transaction.

    Column types are the plain ones every SQL database has: TEXT, INTEGER, FLOAT and TIMESTAMP
    (without time zone, holding UTC). A SQLite file's directory is created if missing.

    Args:
        warehouse_url: SQLAlchemy URL of the warehouse.
        tables: Frames by table name.
    """
    url = sa.make_url(warehouse_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # The embedded warehouse is a file under MONITORING_HOME, which may not exist yet.
        pathlib.Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for name, frame in tables.items():
                frame.to_sql(
                    name,
                    connection,
                    if_exists="replace",
                    index=False,
                    chunksize=WRITE_CHUNK_ROWS,
                    dtype=column_types(name, frame),
                )
    finally:
        engine.dispose()


def column_types(table: str, frame: pd.DataFrame) -> dict[str, TypeEngine[Any]]:
    """The SQL type of each column of ``frame``.

    Args:
        table: Table name, for the error message.
        frame: The table's rows.

    Returns:
        SQLAlchemy types by column name.

    Raises:
        TypeError: If a column has a dtype the demo does not write.
    """
    types: dict[str, TypeEngine[Any]] = {}
    for column, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            types[str(column)] = sa.DateTime(timezone=False)
        elif pd.api.types.is_integer_dtype(dtype):
            types[str(column)] = sa.Integer()
        elif pd.api.types.is_float_dtype(dtype):
            types[str(column)] = sa.Float()
        elif pd.api.types.is_object_dtype(dtype):
            types[str(column)] = sa.Text()
        else:
            raise TypeError(
                f"{table}.{column} has dtype {dtype}; expected datetime, integer, float or text"
            )
    return types


def _rng(seed: int, system: int) -> np.random.Generator:
    return np.random.default_rng([seed, system])
