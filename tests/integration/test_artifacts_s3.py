"""Artefacts in object storage: every file the product writes (slices, daily reports,
fine-tuning sets, review exports) written to and read back from a real S3 server (moto's
server mode, in its own process), the pruning of old ones, the errors of a missing bucket and of
refused credentials, and the local folder unchanged as the default.

Day profiles are rows of the result store (``profiles``), not files: on PostgreSQL they need no
object storage.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from assets.daily_report import report_path, report_url, reports_dir, write_report
from assets.finetuning_dataset import finetuning_path
from monitoring_pipelines.cli import main
from monitoring_pipelines.core.artifacts import artifact_path, child, is_remote
from monitoring_pipelines.core.errors import ConfigError, StoreError
from monitoring_pipelines.core.hallucination.finetune import FinetuneDataset, write_jsonl
from monitoring_pipelines.core.hallucination.review import ReviewQueue, ReviewStatus
from monitoring_pipelines.core.hallucination.store import save_scores
from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, ROW_KEY, TIMESTAMP, SliceSpec
from monitoring_pipelines.core.ingest.slice_store import SliceStore
from monitoring_pipelines.core.retention.files import prune_files
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.web.app import create_app
from tests.fakes.s3_server import S3Server, s3_server
from tests.integration.test_review_queue import DAY, run_of, scored

BUCKET = "monitoring-artifacts"
DAY_1 = date(2026, 10, 1)
SPEC = SliceSpec("ts", None, numeric=("latency_ms",), text=("intent",))


def _clear_filesystems() -> None:
    """fsspec keeps one filesystem per set of options; a test's endpoint is new each time."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    with s3_server() as running:
        running.create_bucket(BUCKET)
        yield running


@pytest.fixture
def s3_env(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = server.environ()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _clear_filesystems()
    yield env
    _clear_filesystems()


@pytest.fixture
def prefix(s3_env: dict[str, str], request: pytest.FixtureRequest) -> str:
    """A URL of its own for each test in the shared bucket."""
    return f"s3://{BUCKET}/{request.node.name}"


def slice_frame(rows: int, seed: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            TIMESTAMP: pd.date_range("2026-10-01", periods=rows, freq="min", tz="UTC"),
            ROW_KEY: pd.Series(range(seed, seed + rows), dtype="uint64"),
            GROUP_KEY: pd.Series([i % 7 for i in range(rows)], dtype="uint64"),
            "latency_ms": [float(i * seed % 97) for i in range(rows)],
            "intent": [("billing", "refund", "other")[i % 3] for i in range(rows)],
        }
    )


def test_slices_round_trip_through_s3(prefix: str) -> None:
    store = SliceStore(artifact_path(child(prefix, "slices")))
    assert is_remote(store.base_dir)
    first, second = slice_frame(500, 3), slice_frame(250, 11)
    with store.writer("bot", DAY_1, SPEC) as writer:
        writer.write(first)
        writer.write(second)
    assert writer.rows == 750
    expected = pd.concat([first, second], ignore_index=True)

    assert store.rows("bot", DAY_1) == 750
    assert store.column_names("bot", DAY_1) == [
        TIMESTAMP,
        ROW_KEY,
        GROUP_KEY,
        "latency_ms",
        "intent",
    ]
    whole = store.frame("bot", DAY_1, [ROW_KEY, "latency_ms", "intent"])
    pd.testing.assert_frame_equal(whole, expected[[ROW_KEY, "latency_ms", "intent"]])
    batches = list(
        store.batches(
            "bot",
            DAY_1,
            [ROW_KEY, "intent"],
            batch_rows=100,
            keep=lambda keys: keys % 2 == 0,
            categorical=["intent"],
        )
    )
    kept = pd.concat(batches, ignore_index=True)
    even = expected[expected[ROW_KEY] % 2 == 0]
    assert kept[ROW_KEY].tolist() == even[ROW_KEY].tolist()
    assert isinstance(kept["intent"].dtype, pd.CategoricalDtype)
    assert kept["intent"].astype(str).tolist() == even["intent"].tolist()
    assert str(store.path("bot", DAY_1)) == f"{prefix}/slices/bot/2026-10-01.parquet"

    with pytest.raises(StoreError, match=r"no slice for monitor 'bot' on 2026-10-02: s3://"):
        store.frame("bot", date(2026, 10, 2), [ROW_KEY])
    with pytest.raises(StoreError, match=r"has no column \['missing'\]"):
        store.frame("bot", DAY_1, ["missing"])


def test_a_failed_slice_write_leaves_the_old_object(prefix: str) -> None:
    store = SliceStore(artifact_path(child(prefix, "slices")))
    with store.writer("bot", DAY_1, SPEC) as writer:
        writer.write(slice_frame(40, 1))
    with pytest.raises(RuntimeError), store.writer("bot", DAY_1, SPEC) as writer:
        writer.write(slice_frame(10, 2))
        raise RuntimeError("the warehouse went away mid-day")
    assert store.rows("bot", DAY_1) == 40
    assert [p.name for p in (artifact_path(prefix) / "slices" / "bot").iterdir()] == [
        "2026-10-01.parquet"
    ]


def test_reports_are_written_to_s3_and_served_from_there(
    prefix: str, tmp_path: Path, s3_env: dict[str, str]
) -> None:
    slices = child(prefix, "slices")
    path = report_path(reports_dir(slices), "bot", DAY_1)
    assert str(path) == f"{prefix}/reports/bot/2026-10-01.html"
    html = "<html><body><h1>bot — 2026-10-01</h1></body></html>"
    assert write_report(html, path) == len(html.encode("utf-8"))
    assert path.read_text(encoding="utf-8") == html
    assert report_url(None, "bot", DAY_1, path) == str(path)

    environ = {**s3_env, "MONITORING_HOME": str(tmp_path), "MONITORING_ARTIFACTS_URL": prefix}
    settings = Settings.from_env(environ)
    with TestClient(create_app(settings)) as client:
        page = client.get("/reports/bot/2026-10-01")
        assert page.status_code == 200 and page.text == html
        assert client.get("/reports/bot/2026-10-02").status_code == 404
        assert "/reports/bot/2026-10-01" in client.get("/").text


def test_finetuning_sets_are_written_to_s3(prefix: str) -> None:
    path = finetuning_path(child(prefix, "slices"), "bot")
    assert str(path) == f"{prefix}/finetuning/bot.jsonl"
    record = {"messages": [{"role": "user", "content": "Frais de retard ?"}], "metadata": {}}
    dataset = FinetuneDataset((record,), 0, {}, {"email": 0})
    write_jsonl(dataset, path)
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [record]
    write_jsonl(FinetuneDataset((), 0, {}, {}), path)  # replaced whole
    assert path.read_bytes() == b""


def test_the_review_export_goes_to_an_s3_url(
    prefix: str, results: ResultRepository, store_url: str, tmp_path: Path, s3_env: dict[str, str]
) -> None:
    save_scores(results, "support_bot", DAY, run_of(scored(1, 0.02), scored(2, 0.1)))
    first = ReviewQueue(results).items("support_bot")[0]
    ReviewQueue(results).review(
        first.id, ReviewStatus.CORRECTED, "ann", corrected_answer="A $5 fee."
    )
    out = f"{prefix}/exports/support_bot.jsonl"
    env = {**s3_env, "MONITORING_STORE_URL": store_url, "MONITORING_HOME": str(tmp_path)}
    done = CliRunner().invoke(
        main, ["review", "export", "--monitor", "support_bot", "--out", out], env=env
    )
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"{out}: 1 record(s) from 1 reviewed item(s)")
    records = [json.loads(line) for line in artifact_path(out).read_text().splitlines()]
    assert [r["messages"][-1]["content"] for r in records] == ["A $5 fee."]


def test_old_slices_are_pruned_in_s3(prefix: str) -> None:
    store = SliceStore(artifact_path(child(prefix, "slices")))
    for day in (date(2026, 9, 1), date(2026, 9, 2), DAY_1):
        with store.writer("bot", day, SPEC) as writer:
            writer.write(slice_frame(20, day.day))
    size = store.path("bot", date(2026, 9, 1)).stat().st_size
    dry = prune_files(store.base_dir, "bot", ".parquet", date(2026, 9, 15), dry_run=True)
    assert (dry.files, dry.bytes > size) == (2, True)
    gone = prune_files(store.base_dir, "bot", ".parquet", date(2026, 9, 15))
    assert gone == dry
    assert [p.name for p in (store.base_dir / "bot").iterdir()] == ["2026-10-01.parquet"]


def test_a_missing_bucket_is_named(s3_env: dict[str, str]) -> None:
    store = SliceStore(artifact_path("s3://no-such-bucket/monitoring/slices"))
    with pytest.raises(StoreError) as raised, store.writer("bot", DAY_1, SPEC) as writer:
        writer.write(slice_frame(5, 1))
    assert "cannot write s3://no-such-bucket/monitoring/slices/bot/2026-10-01.parquet" in str(
        raised.value
    )
    assert "does the bucket 'no-such-bucket' exist?" in str(raised.value)
    with pytest.raises(StoreError, match="does the bucket 'no-such-bucket' exist"):
        write_report("<html></html>", artifact_path("s3://no-such-bucket/r/bot/2026-10-01.html"))


def test_refused_credentials_are_told_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with s3_server(authenticate=True) as guarded:
        for key, value in guarded.environ(AWS_SECRET_ACCESS_KEY="not-the-secret-4242").items():
            monkeypatch.setenv(key, value)
        _clear_filesystems()
        try:
            path = finetuning_path(f"s3://{BUCKET}/p/slices", "bot")
            with pytest.raises(StoreError) as raised:
                write_jsonl(FinetuneDataset((), 0, {}, {}), path)
        finally:
            _clear_filesystems()
    message = str(raised.value)
    assert message.startswith(f"cannot write s3://{BUCKET}/p/finetuning/bot.jsonl: access denied")
    assert "AWS_ACCESS_KEY_ID" in message and "not-the-secret-4242" not in message


def test_urls_with_credentials_or_without_a_bucket_are_refused(tmp_path: Path) -> None:
    home = {"MONITORING_HOME": str(tmp_path)}
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**home, "MONITORING_ARTIFACTS_URL": "s3://key:hunter2@bucket/p"})
    assert "hunter2" not in str(raised.value) and "s3://bucket/p" in str(raised.value)
    with pytest.raises(ConfigError, match="names no bucket"):
        Settings.from_env({**home, "MONITORING_ARTIFACTS_URL": "s3:///prefix"})
    with pytest.raises(ConfigError, match=r"distributed extra"):
        artifact_path("nosuchfs://bucket/prefix")


def test_the_local_folder_stays_the_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings.from_env({"MONITORING_HOME": str(home)})
    assert settings.artifacts_url is None and settings.artifacts == str(home.resolve())
    assert Settings.from_env(
        {"MONITORING_HOME": str(home), "MONITORING_ARTIFACTS_URL": f"file://{home}"}
    ).artifacts == str(home.resolve())
    slices = child(settings.artifacts, "slices")
    assert slices == str(home.resolve() / "slices")  # the resource's value, as before

    store = SliceStore(artifact_path(slices))
    assert type(store.base_dir) is type(Path())  # a plain path: no fsspec on the local disk
    with store.writer("bot", DAY_1, SPEC) as writer:
        writer.write(slice_frame(30, 5))
    assert sorted(os.listdir(home / "slices" / "bot")) == ["2026-10-01.parquet"]
    assert store.rows("bot", DAY_1) == 30

    report = report_path(reports_dir(slices), "bot", DAY_1)
    assert report == home.resolve() / "reports" / "bot" / "2026-10-01.html"
    write_report("<p>é</p>", report)
    assert report.read_bytes() == "<p>é</p>".encode()
    assert stat.S_IMODE(report.stat().st_mode) == 0o644
    assert report_url(None, "bot", DAY_1, report) == report.as_uri()

    tuning = finetuning_path(slices, "bot")
    assert tuning == home.resolve() / "finetuning" / "bot.jsonl"
    write_jsonl(FinetuneDataset(({"messages": []},), 0, {}, {}), tuning)
    assert tuning.read_bytes() == b'{"messages":[]}\n'
    assert sorted(os.listdir(tuning.parent)) == ["bot.jsonl"]  # no temporary file left


def test_a_pushed_down_days_record_lives_beside_its_slice_in_s3(prefix: str) -> None:
    """A pushed-down day's record (its whole-day counts and sketches) is written, read and
    forgotten where its slice is."""
    from monitoring_pipelines.core.profile.pushed_day import (
        PushedDay,
        forget_pushed,
        load_pushed,
        save_pushed,
    )
    from monitoring_pipelines.core.profile.sketch import ColumnSketch

    store = SliceStore(artifact_path(child(prefix, "slices")))
    path = store.path("bot", DAY_1)
    sketch = ColumnSketch("x", "numeric", np.array([1, 2, 0], np.int64), edges=np.array([1.5, 3.5]))
    record = PushedDay(
        rows=1_000_000, dialect="postgresql", sample_rows=100, sketches=(sketch,), reference="r"
    )
    assert load_pushed(path) is None
    save_pushed(path, record)
    loaded = load_pushed(path)
    assert loaded is not None
    assert (loaded.rows, loaded.dialect, loaded.reference) == (1_000_000, "postgresql", "r")
    assert loaded.sketches[0].to_bytes() == sketch.to_bytes()
    forget_pushed(path)
    assert load_pushed(path) is None
    forget_pushed(path)  # nothing left to forget: no error
