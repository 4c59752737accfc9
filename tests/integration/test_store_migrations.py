"""Cost keys stored before the dimensions codec are rewritten to its form on connect."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_pipelines.core.config import PriceConfig
from monitoring_pipelines.core.costs import stored as cost_rows
from monitoring_pipelines.core.costs.day import compute_costs
from monitoring_pipelines.core.costs.repricing import stale_days
from monitoring_pipelines.core.store import migrations
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.engine import make_engine
from monitoring_pipelines.core.store.results import ResultRepository

MONITOR = "support_bot"
DAYS = [date(2026, 10, 10), date(2026, 10, 11)]
LONG = "projects/p/locations/us/publishers/acme/models/" + "x" * 70
# Escapes that make the old and the new prefix stop at different characters.
ESCAPED = 'publishers/acme/"quoted"/' + "é東" * 10 + "\U0001f600" * 3 + "y" * 60
INTENT = "billing/" + "refund-" * 20
VERBATIM = "m~0123456789ab"  # looks like the old form, but fits and was stored as is
PRICES = [
    PriceConfig(model=m, input_per_1k=0.001, output_per_1k=0.002) for m in (LONG, ESCAPED, VERBATIM)
]


def old_stored_value(value: str) -> str:
    """The rule ``token_costs`` stored long values with before the dimensions codec."""
    if len(json.dumps(value)) - 2 <= 110:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
    prefix = ""
    for char in value:
        if len(json.dumps(prefix + char)) - 2 > 97:
            break
        prefix += char
    return f"{prefix}~{digest}"


def day_metrics(day: date, tokens: int = 1000) -> dict[tuple[str, str], float | None]:
    models = [LONG, ESCAPED, VERBATIM, LONG]
    costs = compute_costs(
        pd.Series(models),
        pd.Series([tokens] * len(models)),
        pd.Series([100] * len(models)),
        PRICES,
        day,
        intents=pd.Series([INTENT, "other", INTENT, "other"]),
    )
    return cost_rows.cost_metrics(costs)


def insert_raw(url: str, day: date, metrics: dict[tuple[str, str], float | None]) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO metrics (monitor, asset, partition_key, name, dimensions, value) "
                "VALUES (:monitor, :asset, :partition, :name, :dimensions, :value)"
            ),
            [
                {"monitor": MONITOR, "asset": "token_costs", "partition": day.isoformat()}
                | {"name": n, "dimensions": d, "value": v}
                for (n, d), v in metrics.items()
            ],
        )
    engine.dispose()


def all_rows(store: ResultRepository) -> set[tuple[Any, ...]]:
    with store.transaction() as conn:
        return {
            tuple(r) for r in conn.execute(sa.select(sa.text("*")).select_from(sa.table("metrics")))
        }


def test_cost_keys_of_the_old_form_read_back_in_the_codec_form(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tables, empty, as a release before schema versions made them: no version recorded
    engine = make_engine(store_url)
    t.metadata.create_all(engine)
    engine.dispose()
    new = {day: day_metrics(day) for day in DAYS}
    with monkeypatch.context() as patch:
        patch.setattr(cost_rows, "stored_value", old_stored_value)
        old = {day: day_metrics(day) for day in DAYS}
        rewritten_day = day_metrics(DAYS[1], tokens=2000)
    assert old[DAYS[0]].keys() != new[DAYS[0]].keys()  # the keys did change
    insert_raw(store_url, DAYS[0], old[DAYS[0]])
    # a partition holding both forms of one key: the codec-form row is the newer and stays
    insert_raw(store_url, DAYS[1], new[DAYS[1]])
    insert_raw(
        store_url, DAYS[1], {k: v for k, v in rewritten_day.items() if k not in new[DAYS[1]]}
    )

    unmigrated = ResultRepository(Database(make_engine(store_url)))
    before = cost_rows.load_price_stamps(unmigrated, MONITOR)
    assert [s.day for s in stale_days(PRICES, before, cached_priced=False)] == DAYS
    unmigrated.dispose()

    store = ResultRepository.connect(store_url)
    for day in DAYS:
        rows = store.load_metrics(MONITOR, "token_costs", day.isoformat())
        assert {(r.name, r.dimensions): r.value for r in rows} == new[day]
    stamps = cost_rows.load_price_stamps(store, MONITOR)
    assert set(stamps[DAYS[0]]) == {cost_rows.stored_value(p.model) for p in PRICES}
    assert stale_days(PRICES, stamps, cached_priced=False) == []
    snapshot = all_rows(store)
    store.dispose()

    again = ResultRepository.connect(store_url)
    with again.transaction() as conn:
        assert migrations.migrate(conn) == 0
    assert all_rows(again) == snapshot
    again.dispose()


@pytest.mark.parametrize("value", [LONG, ESCAPED, LONG + "東", "é" * 30, "\U0001f600" * 20])
def test_the_new_key_follows_from_the_old_key_alone(value: str) -> None:
    assert migrations.cost_value(old_stored_value(value)) == cost_rows.stored_value(value)
    assert migrations.cost_value(cost_rows.stored_value(value)) == cost_rows.stored_value(value)


def test_values_stored_verbatim_are_left_alone() -> None:
    assert migrations.cost_value(VERBATIM) == VERBATIM
    assert migrations.cost_value("a" * 97 + "~0123456789AB") == "a" * 97 + "~0123456789AB"


def test_the_migration_knows_the_cost_rule() -> None:
    assert migrations.COST_VALUE_CHARS == cost_rows.MAX_VALUE_CHARS
