"""Performance from delayed labels, materialized in process on a small SQLite warehouse, and the
labels sensor that re-requests days when late labels land.

The ``clf`` monitor is a three-class classifier segmented by ``tenant``: every fourth request
is ``acme``'s (25 %), the others ``globex``'s. Its days (400 requests each) are built with a
known number of correct predictions, so every expected number is exact:

=========== ===================== ===============================================
day         correct / labelled    role
=========== ===================== ===============================================
2026-09-01  360 / 400             reference period (first two days)
2026-09-02  360 / 380             reference period; its last 20 labels arrive late
2026-09-03  240 / 400             a bad release, worst at acme: 10 / 100 right there,
                                  230 / 300 at globex; accuracy 0.60
2026-09-04  20 / 20 of 400 rows   5 % coverage: not evaluated yet (380 labels late)
2026-09-05  356 / 380             normal; its last 20 labels arrive late
2026-09-06  no labels             never sliced (the sensor leaves it to the daily job)
2026-09-07  344 / 400             acme alone drops: 50 / 100 (0.5), globex 294 / 300;
                                  0.86 in all, within 0.05 of the training set's 0.90
=========== ===================== ===============================================

The Definitions are built here: the monitor's assets from ``monitor_parts``, with its
``performance`` asset made with this test's own spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from assets.factory import monitor_parts
from assets.parts import assemble
from assets.performance import make_performance
from monitoring_pipelines.core.config import LabelsConfig, MonitorConfig, SourceConfig
from monitoring_pipelines.core.config_loading import parse_config
from monitoring_pipelines.core.ingest.labels import labels_by_day, read_day_labels
from monitoring_pipelines.core.performance.metrics import scoped_rows
from monitoring_pipelines.core.performance.policy import PerformancePolicy, PerformanceSpec
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.definitions import resources
from monitoring_pipelines.partitions import daily_partitions
from monitoring_pipelines.sensors.labels import labels_sensor
from tests.assets.conftest import (
    METADATA_REL,
    QUIET,
    check_evaluations,
    materialization,
    stored_metrics,
    write_table,
)

CONFIG = """
version: 1
monitors:
  clf:
    start_date: 2026-09-01
    source: {table: clf_requests, timestamp_column: ts, request_id_column: request_id}
    reference: {table: clf_training}
    features: {numeric: [confidence]}
    prediction: {column: predicted, type: label}
    segments: [tenant]
    labels:
      {table: clf_labels, request_id_column: request_id, label_column: truth,
       timestamp_column: labelled_at}
"""

CLASSES = np.array(["negative", "neutral", "positive"], dtype=object)
ROWS = 400
D1, D2, D3, D4, D5, D6, D7 = (date(2026, 9, 1) + timedelta(days=i) for i in range(7))
DAYS = (D1, D2, D3, D4, D5, D6, D7)
CORRECT = {D1: 360, D2: 360, D3: 240, D4: 360, D5: 356, D6: 360, D7: 344}
TENANT = np.where(np.arange(ROWS) % 4 == 0, "acme", "globex").astype(object)
CORRECT_PER_TENANT = {D3: {"acme": 10, "globex": 230}, D7: {"acme": 50, "globex": 294}}
HELD_BACK = {D2: 20, D4: 380, D5: 20, D6: ROWS}  # the last labels of a day, not there at first
REFERENCE_ACCURACY = (360 + 360) / (400 + 380)  # the first two days, pooled
ERROR = dg.AssetCheckSeverity.ERROR
PERFORMANCE = "clf/performance"


def day_requests(rng: np.random.Generator, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's requests and all their labels; the first ``CORRECT[day]`` are right (or the
    first of each tenant, ``CORRECT_PER_TENANT[day]``)."""
    index = rng.integers(0, 3, ROWS)
    predicted = CLASSES[index]
    correct = np.arange(ROWS) < CORRECT[day]
    if day in CORRECT_PER_TENANT:
        rank = pd.Series(TENANT).groupby(TENANT).cumcount().to_numpy()
        wanted = np.array([CORRECT_PER_TENANT[day][t] for t in TENANT])
        correct = rank < wanted
    truth = np.where(correct, predicted, CLASSES[(index + rng.integers(1, 3, ROWS)) % 3])
    confidence = np.where(correct, rng.uniform(0.6, 1.0, ROWS), rng.uniform(0.34, 0.8, ROWS))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ids = [f"{day:%m%d}-{i:04d}" for i in range(ROWS)]
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "ts": [(start + timedelta(seconds=60 * i + 7)).isoformat() for i in range(ROWS)],
            "predicted": predicted,
            "confidence": np.round(confidence, 4),
            "tenant": TENANT,
        }
    )
    labelled = start + timedelta(days=2)
    stamps = [(labelled + timedelta(seconds=i)).isoformat() for i in range(ROWS)]
    return requests, pd.DataFrame({"request_id": ids, "truth": truth, "labelled_at": stamps})


def training(rng: np.random.Generator, n: int = 2000) -> pd.DataFrame:
    predicted = CLASSES[rng.integers(0, 3, n)]
    wrong = np.arange(n) >= int(0.9 * n)
    truth = np.where(wrong, CLASSES[(np.searchsorted(CLASSES, predicted) + 1) % 3], predicted)
    confidence = np.where(wrong, rng.uniform(0.34, 0.8, n), rng.uniform(0.6, 1.0, n))
    return pd.DataFrame({"predicted": predicted, "confidence": confidence, "truth": truth})


@dataclass
class Install:
    """One installation: warehouse, result store, Definitions with the performance asset."""

    home: Path
    warehouse_url: str
    store_url: str
    monitor: MonitorConfig
    defs: dg.Definitions
    instance: dg.DagsterInstance
    held: dict[date, pd.DataFrame] = field(default_factory=dict)

    def run(self, day: date) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def("clf_performance_day")
        return job.execute_in_process(
            instance=self.instance, partition_key=day.isoformat(), run_config=QUIET
        )

    def reference(self) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def("clf_reference_profile")
        return job.execute_in_process(instance=self.instance, run_config=QUIET)

    def add_labels(self, frame: pd.DataFrame) -> None:
        engine = sa.create_engine(self.warehouse_url)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(sa.table("clf_labels", *(sa.column(c) for c in frame))),
                frame.to_dict("records"),
            )
        engine.dispose()

    def stored(self, day: date) -> dict[str, float | None]:
        return stored_metrics(self.store_url, "clf", "performance", day.isoformat())


def install(home: Path, spec: PerformanceSpec | None = None) -> Install:
    rng = np.random.default_rng(20260901)
    requests, labels, held = [], [], {}
    for day in DAYS:
        day_rows, day_labels = day_requests(rng, day)
        requests.append(day_rows)
        keep = len(day_labels) - HELD_BACK.get(day, 0)
        labels.append(day_labels.iloc[:keep])
        held[day] = day_labels.iloc[keep:]
    warehouse_url = f"sqlite:///{home / 'warehouse.db'}"
    write_table(warehouse_url, "clf_requests", pd.concat(requests, ignore_index=True))
    write_table(warehouse_url, "clf_labels", pd.concat(labels, ignore_index=True))
    write_table(warehouse_url, "clf_training", training(rng))
    environ = {
        "MONITORING_HOME": str(home),
        "MONITORING_CONFIG": str(home / "monitors.yaml"),
        "MONITORING_WAREHOUSE_URL": warehouse_url,
    }
    config = parse_config(CONFIG, environ, source="monitors.yaml")
    settings = Settings.from_env(environ)
    monitor = config.monitors["clf"]
    partitions = daily_partitions(monitor)
    performance = make_performance("clf", monitor, partitions, spec)
    # The factory's own performance asset is replaced by one with this test's spec.
    built = monitor_parts("clf", monitor, partitions)
    assets = assemble("clf", [p for p in built if p.key != performance.key] + [performance])
    jobs = [
        dg.define_asset_job(
            "clf_performance_day",
            selection=dg.AssetSelection.assets(["clf", "live_slice"], ["clf", "performance"]),
            executor_def=dg.in_process_executor,
        ),
        dg.define_asset_job(
            "clf_reference_profile",
            selection=dg.AssetSelection.assets(["clf", "reference_profile"]),
            executor_def=dg.in_process_executor,
        ),
    ]
    defs = dg.Definitions(
        assets=assets,
        jobs=jobs,
        sensors=[labels_sensor(config.monitors)],
        resources=resources(config, settings, environ),
    )
    return Install(
        home=home,
        warehouse_url=warehouse_url,
        store_url=settings.store_url,
        monitor=monitor,
        defs=defs,
        instance=dg.DagsterInstance.ephemeral(),
        held=held,
    )


FIRST_TWO_DAYS = PerformanceSpec(
    kind="label",
    prediction_column="predicted",
    score_column="confidence",
    policy=PerformancePolicy(reference_days=2, min_labelled=15),
    segments=("tenant",),
)
TRAINING_LABELS = PerformanceSpec(
    "label", "predicted", "confidence", reference_label_column="truth", segments=("tenant",)
)


@pytest.fixture(scope="module")
def first_days(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[date, Any]]:
    """Baseline = the first two days; D1..D5 materialized in order."""
    inst = install(tmp_path_factory.mktemp("perf"), FIRST_TWO_DAYS)
    results = {day: inst.run(day) for day in (D1, D2, D3, D4, D5)}
    yield {"install": inst, **results}
    inst.instance.dispose()


def test_a_day_with_a_known_accuracy_drop_fails_critical(first_days: dict[Any, Any]) -> None:
    result = first_days[D3]
    meta = materialization(result, PERFORMANCE)
    stored = first_days["install"].stored(D3)
    assert stored["accuracy"] == 240 / 400
    assert stored["coverage"] == 1.0
    assert stored["reference"] == pytest.approx(REFERENCE_ACCURACY, rel=1e-12)
    assert stored["delta"] == pytest.approx(0.6 - REFERENCE_ACCURACY, rel=1e-12)
    assert meta["accuracy"] == pytest.approx(0.6)
    assert meta["reference"] == pytest.approx(REFERENCE_ACCURACY, rel=1e-5)
    assert meta["metric"] == "accuracy"
    assert meta["reference_source"] == (
        "first 2 days, 2026-09-01..2026-09-02: 2 days, 780 labelled rows"
    )
    assert meta["labels_unmatched"] == 0
    check = check_evaluations(result, PERFORMANCE)["performance"]
    assert not check.passed
    assert check.severity == ERROR
    assert check.partition == D3.isoformat()
    assert check.summary.startswith("accuracy 0.6000 vs reference 0.9231 (-0.3231): critical")
    (finding,) = check.findings
    assert finding["value"] == pytest.approx(0.6)
    # critical: the threshold is the critical tolerance (0.10 drop), as its summary says
    assert finding["threshold"] == pytest.approx(REFERENCE_ACCURACY - 0.10)


def test_per_class_and_confidence_metrics_are_stored(first_days: dict[Any, Any]) -> None:
    stored = scoped(first_days["install"].stored(D3))
    support = sum(v or 0 for k, v in stored.items() if k.startswith('support{"class"'))
    assert support == 400
    confusion = {k: v for k, v in stored.items() if k.startswith("confusion{")}
    right = sum(v or 0 for k, v in confusion.items() if _diagonal(k))
    assert (sum(v or 0 for v in confusion.values()), right) == (400, 240)
    # right rows are drawn from confidence 0.6-1.0, wrong ones from 0.34-0.8
    assert stored["confidence_auc"] is not None and stored["confidence_auc"] > 0.75
    assert stored["macro_f1"] is not None and 0.4 < stored["macro_f1"] < 0.8


def test_each_segment_value_stores_its_own_statistics(first_days: dict[Any, Any]) -> None:
    stored = first_days["install"].stored(D3)
    for tenant, rows, correct in (("acme", 100, 10), ("globex", 300, 230)):
        mine = scoped(stored, segment="tenant", value=tenant)
        confusion = {k: v for k, v in mine.items() if k.startswith("confusion{")}
        right = sum(v or 0 for k, v in confusion.items() if _diagonal(k))
        assert (sum(v or 0 for v in confusion.values()), right) == (rows, correct)
        assert (mine["rows"], mine["labelled"], mine["accuracy"]) == (rows, rows, correct / rows)
        assert mine["reference"] == pytest.approx(REFERENCE_ACCURACY, rel=1e-12)
        assert mine["p_adjusted"] is not None and mine["p_adjusted"] < 1e-6
    meta = materialization(first_days[D3], PERFORMANCE)
    assert meta["accuracy@tenant=acme"] == pytest.approx(0.1)
    assert meta["accuracy@tenant=globex"] == pytest.approx(230 / 300, rel=METADATA_REL)
    assert (meta["labelled@tenant=acme"], meta["labelled@tenant=globex"]) == (100, 300)


def test_a_whole_day_drop_names_the_segment_where_it_drops_most(
    first_days: dict[Any, Any],
) -> None:
    check = check_evaluations(first_days[D3], PERFORMANCE)["performance"]
    driver = "tenant=acme (accuracy 0.1000, -0.8231; 25% of labelled rows)"
    assert check.metadata["segment_drivers"] == f"accuracy: {driver}"
    assert check.summary.endswith(f"; strongest in {driver}")
    # globex drops too (0.77), less; the segments raise no findings of their own: one incident
    assert check.metadata["segments_failing"] == 2
    (finding,) = check.findings
    assert finding["subject"] == "" and not finding["passed"]
    assert finding["summary"].endswith(f"; strongest in {driver}")


def scoped(stored: dict[str, float | None], **scope: str) -> dict[str, float | None]:
    """Stored metrics of one segment value (the whole day without ``scope``), keyed as
    ``stored_metrics`` keys them, without the segment's dimensions."""
    rows = {(k.split("{", 1)[0], k[len(k.split("{", 1)[0]) :]): v for k, v in stored.items()}
    return {name + dims: v for (name, dims), v in scoped_rows(rows, scope).items()}


def _diagonal(key: str) -> bool:
    dims = json.loads(key[len("confusion") :])
    return bool(dims["true"] == dims["predicted"])


def test_reference_days_are_not_compared(first_days: dict[Any, Any]) -> None:
    check = check_evaluations(first_days[D1], PERFORMANCE)["performance"]
    assert check.passed
    assert check.findings == []
    assert "part of the reference (first 2 days" in check.summary


def test_a_day_with_5_percent_coverage_is_not_evaluated_yet(first_days: dict[Any, Any]) -> None:
    check = check_evaluations(first_days[D4], PERFORMANCE)["performance"]
    assert check.passed
    assert check.findings == []
    assert check.summary.startswith("not evaluated yet: coverage 5.0% (20 of 400 rows labelled)")
    assert first_days["install"].stored(D4)["coverage"] == 0.05


def test_a_normal_day_passes(first_days: dict[Any, Any]) -> None:
    check = check_evaluations(first_days[D5], PERFORMANCE)["performance"]
    assert check.passed
    subjects = {f["subject"]: f["passed"] for f in check.findings}
    # every segment value is a passing finding too, so a segment's incident can resolve
    assert subjects == {
        "": True,
        "performance@tenant=acme": True,
        "performance@tenant=globex": True,
    }
    assert "within the 0.05 drop tolerance" in check.summary
    assert "segment_drivers" not in check.metadata


@pytest.fixture(scope="module")
def acme_drop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.ExecuteInProcessResult]:
    """D7 against the training set's labels (accuracy 0.90): acme alone drops."""
    inst = install(tmp_path_factory.mktemp("perf_acme"), TRAINING_LABELS)
    inst.reference()
    yield inst.run(D7)
    inst.instance.dispose()


def test_a_segment_dropping_alone_is_a_finding_of_its_own(
    acme_drop: dg.ExecuteInProcessResult,
) -> None:
    check = check_evaluations(acme_drop, PERFORMANCE)["performance"]
    assert not check.passed and check.severity == ERROR
    findings = {f["subject"]: f for f in check.findings}
    assert set(findings) == {"", "performance@tenant=acme", "performance@tenant=globex"}
    whole, acme, globex = (
        findings[s] for s in ("", "performance@tenant=acme", "performance@tenant=globex")
    )
    assert whole["passed"] and whole["value"] == pytest.approx(0.86)
    assert "accuracy 0.8600 vs reference 0.9000 (-0.0400): within the 0.05 drop" in whole["summary"]
    assert not acme["passed"] and acme["severity"] == "critical"
    assert (acme["value"], acme["threshold"]) == (pytest.approx(0.5), pytest.approx(0.8))
    assert acme["summary"].startswith(
        "tenant=acme: accuracy 0.5000 vs reference 0.9000 (-0.4000): critical: beyond the "
        "0.1 drop tolerance (adjusted p"
    )
    assert globex["passed"] and globex["value"] == pytest.approx(294 / 300)
    assert check.summary.startswith(
        "accuracy drops in tenant=acme (accuracy 0.5000, -0.4000; 25% of labelled rows); "
        "the whole day: accuracy 0.8600"
    )
    assert "segment_drivers" not in check.metadata


def test_a_segment_the_slice_does_not_have_is_reported_not_fatal(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # as after `segments` gained a column: the days sliced before lack it
    spec = replace(FIRST_TWO_DAYS, segments=("tenant", "plan"))
    inst = install(tmp_path_factory.mktemp("perf_plan"), spec)
    try:
        meta = materialization(inst.run(D1), PERFORMANCE)
        assert meta["segments_missing"].startswith("plan: not in the day's slice")
        assert meta["labelled@tenant=acme"] == 100
        assert not any("plan" in k for k in inst.stored(D1))
    finally:
        inst.instance.dispose()


def test_the_reference_table_labels_are_the_baseline_and_cached(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    inst = install(tmp_path_factory.mktemp("perf_ref"), TRAINING_LABELS)
    try:
        inst.reference()
        first = inst.run(D3)
        check = check_evaluations(first, PERFORMANCE)["performance"]
        assert not check.passed and check.severity == ERROR
        assert inst.stored(D3)["reference"] == 0.9  # 1800 of the 2000 training rows
        cached = stored_metrics(inst.store_url, "clf", "performance", "reference")
        assert cached["accuracy"] == 0.9
        assert any(k.startswith("source{") for k in cached)
        # a cached reference is not read again: emptying the table changes nothing
        engine = sa.create_engine(inst.warehouse_url)
        with engine.begin() as conn:
            conn.execute(sa.text("delete from clf_training"))
        engine.dispose()
        inst.run(D1)
        assert inst.stored(D1)["reference"] == 0.9
    finally:
        inst.instance.dispose()


def test_a_rerun_replaces_the_partition_rows_and_sees_late_labels(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    inst = install(tmp_path_factory.mktemp("perf_rerun"), FIRST_TWO_DAYS)
    try:
        for day in (D1, D2):
            inst.run(day)
        inst.run(D4)
        before = inst.stored(D4)
        inst.run(D4)
        assert inst.stored(D4) == before  # same labels: the same rows, not twice as many
        assert _row_count(inst, D4) == len(before)
        inst.add_labels(inst.held[D4])  # the other 380 labels land
        result = inst.run(D4)
        after = inst.stored(D4)
        assert after["coverage"] == 1.0
        assert after["accuracy"] == 360 / 400
        assert _row_count(inst, D4) == len(after)
        check = check_evaluations(result, PERFORMANCE)["performance"]
        assert check.passed and len(check.findings) == 3  # evaluated now, with two tenants
    finally:
        inst.instance.dispose()


def _row_count(inst: Install, day: date) -> int:
    engine = sa.create_engine(inst.store_url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.text(
                "select count(*) from metrics where asset = 'performance' and partition_key = :p"
            ),
            {"p": day.isoformat()},
        ).scalar_one()
    engine.dispose()
    return int(count)


# -- the labels sensor -----------------------------------------------------------------------------


def tick(inst: Install, cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
    """One evaluation of the labels sensor, run requests resolved as the daemon resolves them."""
    sensor = inst.defs.resolve_sensor_def("labels")
    with dg.build_sensor_context(
        instance=inst.instance,
        cursor=cursor,
        definitions=inst.defs,
        resources={"warehouse": inst.defs.resources["warehouse"]},  # type: ignore[index]
    ) as context:
        data = sensor.evaluate_tick(context)
    assert data.skip_message or data.run_requests
    return list(data.run_requests or []), data.cursor


def mark_sliced(inst: Install, *days: date) -> None:
    for day in days:
        inst.instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=["clf", "live_slice"], partition=day.isoformat())
        )


def test_late_labels_request_exactly_their_days_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    inst = install(tmp_path_factory.mktemp("perf_sensor"))
    try:
        mark_sliced(inst, D1, D2, D3, D4, D5)  # D6 is never sliced
        requests, cursor = tick(inst, None)
        assert requests == []  # the first tick only records where the labels stand
        late = pd.concat([inst.held[D2], inst.held[D5], inst.held[D6].iloc[:5]])
        late = late.assign(
            labelled_at=[
                f"2026-09-20T08:{i // 60:02d}:{i % 60:02d}+00:00" for i in range(len(late))
            ]
        )
        inst.add_labels(late)
        requests, cursor = tick(inst, cursor)
        assert sorted(r.partition_key for r in requests) == [D2.isoformat(), D5.isoformat()]
        performance = dg.AssetKey(["clf", "performance"])
        for r in requests:
            assert r.asset_selection == [performance]
            # resolved as the daemon resolves it: the asset with its check, in one run
            assert r.asset_check_keys == [dg.AssetCheckKey(performance, "performance")]
            assert r.run_key == f"labels:clf:{r.partition_key}:{late['labelled_at'].max()}"
        assert len({r.run_key for r in requests}) == 2
        again, cursor = tick(inst, cursor)
        assert again == []
    finally:
        inst.instance.dispose()


def test_without_a_label_timestamp_the_sensor_compares_counts_per_day(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    inst = install(tmp_path_factory.mktemp("perf_counts"))
    try:
        assert inst.monitor.labels is not None
        untimed = inst.monitor.model_copy(
            update={
                "labels": LabelsConfig(
                    table="clf_labels", request_id_column="request_id", label_column="truth"
                )
            }
        )
        sensor = labels_sensor({"clf": untimed})
        defs = dg.Definitions(
            assets=list(inst.defs.assets or []),  # type: ignore[arg-type]
            sensors=[sensor],
            resources=inst.defs.resources,
        )
        inst.defs = defs
        mark_sliced(inst, D1, D2, D3, D4, D5)
        requests, cursor = tick(inst, None)
        assert requests == []
        inst.add_labels(inst.held[D4].iloc[:3])
        requests, cursor = tick(inst, cursor)
        assert [r.partition_key for r in requests] == [D4.isoformat()]
        assert requests[0].run_key == "labels:clf:2026-09-04:23"  # 20 + 3 labels now
        again, _ = tick(inst, cursor)
        assert again == []
    finally:
        inst.instance.dispose()


# -- the same SQL on PostgreSQL (timestamptz requests and labels) --------------------------------


@pytest.mark.postgres
def test_labels_are_read_and_grouped_by_utc_day_on_postgres(
    postgres_url: str, postgres_schema: str
) -> None:
    # The session runs in New York time: days must still be UTC days.
    engine = sa.create_engine(
        postgres_url,
        connect_args={"options": f"-csearch_path={postgres_schema} -ctimezone=America/New_York"},
    )
    meta = sa.MetaData()
    aware = sa.DateTime(timezone=True)
    requests = sa.Table("reqs", meta, sa.Column("rid", sa.Text), sa.Column("ts", aware))
    labels = sa.Table(
        "labs", meta, sa.Column("rid", sa.Text), sa.Column("truth", sa.Text), sa.Column("at", aware)
    )
    meta.create_all(engine)
    at = [datetime(2026, 9, d, tzinfo=UTC) for d in (5, 6, 7)]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(requests),
            [
                {"rid": "a", "ts": datetime(2026, 9, 1, 23, 30, tzinfo=UTC)},
                {"rid": "b", "ts": datetime(2026, 9, 2, 0, 30, tzinfo=UTC)},  # Sep 1 in NY
                {"rid": "c", "ts": datetime(2026, 9, 2, 12, 0, tzinfo=UTC)},
            ],
        )
        conn.execute(
            sa.insert(labels),
            [
                {"rid": "a", "truth": "pos", "at": at[0]},
                {"rid": "b", "truth": "neg", "at": at[1]},
                {"rid": "c", "truth": "neu", "at": at[2]},
                {"rid": "zz", "truth": "neg", "at": at[2]},  # labels no known request
            ],
        )
    source = SourceConfig(table="reqs", timestamp_column="ts", request_id_column="rid")
    config = LabelsConfig(
        table="labs", request_id_column="rid", label_column="truth", timestamp_column="at"
    )
    try:
        day2 = read_day_labels(engine, source, config, D2, numeric=False)
        assert sorted(day2.values.tolist()) == ["neg", "neu"]
        assert labels_by_day(engine, source, config) == {"2026-09-01": 1, "2026-09-02": 2}
        assert labels_by_day(engine, source, config, after=at[0], upto=at[2]) == {"2026-09-02": 2}
    finally:
        engine.dispose()
