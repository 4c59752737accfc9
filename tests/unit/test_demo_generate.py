"""The demo generator: tables, determinism, and each injected incident inside its window only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from monitoring_pipelines.demo import DemoSummary, generate_demo, texts
from monitoring_pipelines.demo.events import Schedule, Window, build_schedule
from monitoring_pipelines.demo.systems_chatbot import chatbot_tables
from monitoring_pipelines.demo.systems_recommender import canary_window, recommender_tables
from monitoring_pipelines.demo.traffic import add_log_flaws

START = dt.date(2026, 9, 1)
DAYS = 20
SCALE = 0.1
SEED = 7
MONITORS_YAML = pathlib.Path(__file__).resolve().parents[2] / "demo" / "monitors.yaml"
PRICES = {"gpt-4o-mini": (0.00015, 0.0006), "gpt-4o": (0.0025, 0.01)}
CACHED_PRICES = {"gpt-4o-mini": 0.000075, "gpt-4o": 0.00125}  # half the input price

INT, FLOAT, TEXT, TS = sa.Integer, sa.Float, sa.Text, sa.DateTime
REQUEST_LOG = {
    "request_id": TEXT, "ts": TS, "session_id": TEXT, "channel": TEXT, "intent": TEXT,
    "kb_article": TEXT, "llm_model": TEXT, "prompt_tokens": INT, "completion_tokens": INT,
    "latency_ms": FLOAT, "status": TEXT, "question": TEXT, "answer": TEXT,
    "retrieved_context": TEXT, "question_words": INT, "cached_tokens": INT,
}  # fmt: skip
SCHEMA: dict[str, dict[str, type[sa.types.TypeEngine[object]]]] = {
    "sentiment_requests": {
        "request_id": TEXT, "ts": TS, "model_version": TEXT, "channel": TEXT, "language": TEXT,
        "text_length": INT, "word_count": INT, "exclamation_count": INT,
        "uppercase_ratio": FLOAT, "predicted_label": TEXT, "confidence": FLOAT,
        "latency_ms": FLOAT, "http_status": INT,
    },
    "sentiment_training": {
        "text_length": INT, "word_count": INT, "exclamation_count": INT,
        "uppercase_ratio": FLOAT, "channel": TEXT, "language": TEXT, "predicted_label": TEXT,
        "confidence": FLOAT, "label": TEXT,
    },
    "sentiment_labels": {"request_id": TEXT, "true_label": TEXT, "labelled_at": TS},
    "recommendation_events": {
        "request_id": TEXT, "ts": TS, "model_version": TEXT, "user_age": FLOAT,
        "user_tenure_days": INT, "item_popularity": FLOAT, "item_price": FLOAT,
        "session_length_s": FLOAT, "device": TEXT, "region": TEXT, "score": FLOAT,
        "latency_ms": FLOAT, "status": TEXT,
    },
    "recommendation_training": {
        "user_age": FLOAT, "user_tenure_days": INT, "item_popularity": FLOAT,
        "item_price": FLOAT, "session_length_s": FLOAT, "device": TEXT, "region": TEXT,
        "score": FLOAT, "clicked": INT,
    },
    "chatbot_interactions": REQUEST_LOG,
    "chatbot_baseline": REQUEST_LOG,
    "support_tickets": {"day": TEXT, "tickets": INT},
}  # fmt: skip


@dataclass(frozen=True)
class Demo:
    url: str
    summary: DemoSummary
    tables: dict[str, pd.DataFrame]
    schedule: Schedule


def read_tables(url: str) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(url)
    try:
        return {name: pd.read_sql_table(name, engine) for name in SCHEMA}
    finally:
        engine.dispose()


def sqlite_url(path: pathlib.Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo")
    url = sqlite_url(root / "warehouse.db")
    summary = generate_demo(url, root / "out", start=START, days=DAYS, scale=SCALE, seed=SEED)
    return Demo(url, summary, read_tables(url), build_schedule(DAYS))


def day_index(ts: pd.Series) -> np.ndarray:
    return ((ts - pd.Timestamp(START)) // pd.Timedelta(days=1)).to_numpy()


def window_mask(frame: pd.DataFrame, first: int, last: int) -> np.ndarray:
    day = day_index(frame["ts"])
    return (day >= first) & (day <= last)


def drift(values: pd.Series, now: np.ndarray, before: np.ndarray, *, stat: str = "mean") -> float:
    """Relative change of a column's mean (or median) between two sets of rows."""
    return abs(getattr(values[now], stat)() / getattr(values[before], stat)() - 1)


def unsupported(frame: pd.DataFrame) -> pd.Series:
    """Whether each answer states a value its retrieved context lacks."""
    pairs = zip(frame["answer"], frame["retrieved_context"], strict=True)
    return pd.Series([bool(texts.unsupported_claims(a, c)) for a, c in pairs], index=frame.index)


# --- contract -------------------------------------------------------------------------------


def test_tables_have_exactly_the_contract_columns_and_types(demo: Demo) -> None:
    inspector = sa.inspect(sa.create_engine(demo.url))
    assert set(inspector.get_table_names()) == set(SCHEMA)
    for table, expected in SCHEMA.items():
        columns = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        assert list(columns) == list(expected), table
        for name, kind in expected.items():
            assert isinstance(columns[name], kind), f"{table}.{name} is {columns[name]!r}"


def test_every_table_and_column_the_demo_config_names_exists(demo: Demo) -> None:
    config = yaml.safe_load(MONITORS_YAML.read_text(encoding="utf-8"))
    named: list[tuple[str, str]] = []
    for monitor in config["monitors"].values():
        table = monitor["source"]["table"]
        source_columns = [
            monitor["source"]["timestamp_column"],
            monitor["source"]["request_id_column"],
            *monitor["features"].get("numeric", []),
            *monitor["features"].get("categorical", []),
            *monitor.get("segments", []),
            monitor["service"]["latency_column"],
            monitor["service"]["status_column"],
        ]
        if "prediction" in monitor:
            source_columns.append(monitor["prediction"]["column"])
        llm = monitor.get("llm", {})
        source_columns += [v for k, v in llm.items() if k.endswith("_column")]
        named += [(table, column) for column in source_columns]
        reference = monitor["reference"]["table"]
        named += [(reference, c) for c in monitor["features"].get("numeric", [])]
        named += [(reference, c) for c in monitor["features"].get("categorical", [])]
        if "labels" in monitor:
            labels = monitor["labels"]
            named += [(labels["table"], labels[k]) for k in labels if k.endswith("_column")]
    missing = [(t, c) for t, c in named if t not in demo.tables or c not in demo.tables[t]]
    assert len(named) > 40
    assert missing == []


def test_summary_counts_the_rows_written(demo: Demo) -> None:
    assert demo.summary.rows == {name: len(frame) for name, frame in demo.tables.items()}
    # scale 0.1: about 250, 400 and 120 requests a day
    assert 4500 < demo.summary.rows["sentiment_requests"] < 5500
    assert 7200 < demo.summary.rows["recommendation_events"] < 8800
    assert 2100 < demo.summary.rows["chatbot_interactions"] < 2700
    labelled = len(demo.tables["sentiment_labels"]) / len(demo.tables["sentiment_requests"])
    assert 0.27 < labelled < 0.33


def test_ground_truth_file_matches_the_summary(demo: Demo) -> None:
    truth = json.loads(demo.summary.ground_truth_path.read_text(encoding="utf-8"))
    assert demo.summary.ground_truth_path.name == "ground_truth.json"
    assert {k: truth[k] for k in ("start", "days", "scale", "seed")} == {
        "start": "2026-09-01", "days": DAYS, "scale": SCALE, "seed": SEED,
    }  # fmt: skip
    assert truth["events"] == [event.to_json() for event in demo.summary.events]
    by_id = {e["id"]: e for e in truth["events"]}
    assert set(by_id) == {
        "gradual-age-drift", "channel-shift", "neutral-spike", "canary-latency",
        "latency-regression", "error-burst", "token-spike", "kb-hallucination",
    }  # fmt: skip
    # one event, every check expected to see it (the bad release: shifted labels, lost accuracy)
    assert by_id["neutral-spike"]["checks"] == ["prediction_drift", "performance"]
    assert by_id["latency-regression"]["checks"][0] == "latency_slo"
    last_day = (START + dt.timedelta(days=DAYS - 1)).isoformat()
    for event in truth["events"]:
        first = dt.date.fromisoformat(event["first_day"])
        last = dt.date.fromisoformat(event["last_day"])
        assert START <= first < last <= START + dt.timedelta(days=DAYS - 1), event["id"]
    assert by_id["gradual-age-drift"]["first_day"] == "2026-09-06"  # round(0.25 * 20)
    assert by_id["gradual-age-drift"]["last_day"] == last_day
    assert (by_id["neutral-spike"]["first_day"], by_id["neutral-spike"]["last_day"]) == (
        "2026-09-13", "2026-09-15",
    )  # fmt: skip
    assert (by_id["token-spike"]["first_day"], by_id["token-spike"]["last_day"]) == (
        "2026-09-07", "2026-09-09",
    )  # fmt: skip
    assert by_id["kb-hallucination"]["subject"] == "article=KB-204"
    assert by_id["kb-hallucination"]["intent"] == "billing"
    assert "intent" not in by_id["error-burst"]
    assert by_id["latency-regression"]["subject"] is None
    assert {e["monitor"] for e in truth["events"]} == {"sentiment", "recommender", "support_bot"}


def test_schedule_keeps_every_window_at_least_two_days_and_inside_the_run() -> None:
    for days in (20, 21, 29, 30, 45, 60, 365):
        schedule = build_schedule(days)
        for name in ("age_drift", "channel_shift", "neutral_spike", "latency_regression",
                     "error_burst", "token_spike", "kb_hallucination"):  # fmt: skip
            window = getattr(schedule, name)
            assert 0 < window.first < window.last <= days - 1, (days, name)
        spike = schedule.token_spike
        assert spike.last - spike.first + 1 == (5 if days >= 30 else 3)
    with pytest.raises(ValueError, match="days=19"):
        build_schedule(19)


def test_rejects_a_run_too_short_or_a_scale_not_positive(tmp_path: pathlib.Path) -> None:
    url = sqlite_url(tmp_path / "w.db")
    with pytest.raises(ValueError, match=">= 20 days"):
        generate_demo(url, tmp_path, days=10)
    with pytest.raises(ValueError, match="scale=0"):
        generate_demo(url, tmp_path, scale=0)
    assert not (tmp_path / "w.db").exists()


@pytest.mark.postgres
def test_writes_plain_types_to_postgresql(
    tmp_path: pathlib.Path, postgres_url: str, postgres_schema: str
) -> None:
    url = f"{postgres_url}?options=-csearch_path%3D{postgres_schema}"
    summary = generate_demo(url, tmp_path, days=DAYS, scale=0.05)
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        columns = {c["name"]: c["type"] for c in inspector.get_columns("chatbot_interactions")}
        assert isinstance(columns["ts"], sa.DateTime) and not columns["ts"].timezone
        assert isinstance(columns["prompt_tokens"], sa.Integer)
        assert isinstance(columns["answer"], sa.Text)
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT count(*) FROM recommendation_events"))
            assert rows.scalar_one() == summary.rows["recommendation_events"]
    finally:
        engine.dispose()


# --- determinism and reruns -----------------------------------------------------------------


def test_same_seed_writes_identical_tables_and_another_seed_does_not(
    demo: Demo, tmp_path: pathlib.Path
) -> None:
    again = sqlite_url(tmp_path / "again.db")
    generate_demo(again, tmp_path, start=START, days=DAYS, scale=SCALE, seed=SEED)
    for name, frame in read_tables(again).items():
        pd.testing.assert_frame_equal(frame, demo.tables[name], obj=name)

    other = sqlite_url(tmp_path / "other.db")
    generate_demo(other, tmp_path, start=START, days=DAYS, scale=SCALE, seed=SEED + 1)
    for name, frame in read_tables(other).items():
        assert not frame.equals(demo.tables[name]), name


def test_rerun_replaces_tables_instead_of_appending(tmp_path: pathlib.Path) -> None:
    url = sqlite_url(tmp_path / "w.db")
    generate_demo(url, tmp_path, days=DAYS, scale=0.1)
    second = generate_demo(url, tmp_path, days=DAYS, scale=0.05, seed=3)
    counts = {name: len(frame) for name, frame in read_tables(url).items()}
    assert counts == dict(second.rows)
    truth = json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))
    assert (truth["scale"], truth["seed"]) == (0.05, 3)


def test_volumes_scale_and_follow_the_week_and_the_day(demo: Demo, tmp_path: pathlib.Path) -> None:
    half = generate_demo(sqlite_url(tmp_path / "half.db"), tmp_path, days=DAYS, scale=SCALE / 2)
    for table in ("sentiment_requests", "recommendation_events", "chatbot_interactions"):
        assert 0.45 < half.rows[table] / demo.summary.rows[table] < 0.55, table
    events = demo.tables["recommendation_events"]
    daily = events.groupby(events["ts"].dt.date).size()
    weekend = np.array([d.weekday() >= 5 for d in daily.index])
    assert 0.68 < daily[weekend].mean() / daily[~weekend].mean() < 0.82
    hours = events["ts"].dt.hour
    assert hours.between(8, 19).mean() > 0.65
    assert len(daily) == DAYS and daily.index.min() == START


def test_timestamps_lie_in_their_days_and_baseline_precedes_start(demo: Demo) -> None:
    end = pd.Timestamp(START + dt.timedelta(days=DAYS))
    for table in ("sentiment_requests", "recommendation_events", "chatbot_interactions"):
        ts = demo.tables[table]["ts"]
        assert ts.min() >= pd.Timestamp(START) and ts.max() < end, table
        assert ts.is_monotonic_increasing, table
    baseline = demo.tables["chatbot_baseline"]["ts"]
    assert baseline.min() >= pd.Timestamp(START - dt.timedelta(days=7))
    assert baseline.max() < pd.Timestamp(START)
    requests = demo.tables["sentiment_requests"]
    labels = demo.tables["sentiment_labels"].merge(requests, on="request_id")
    delay = (labels["labelled_at"] - labels["ts"]) / pd.Timedelta(days=1)
    assert delay.between(1, 10).all()


# --- background imperfections -----------------------------------------------------------------


def test_log_flaws_are_rare_and_retries_are_exact_copies(demo: Demo) -> None:
    for table in ("sentiment_requests", "recommendation_events", "chatbot_interactions"):
        frame = demo.tables[table]
        assert frame["latency_ms"].isna().mean() < 0.003, table
        repeated = frame[frame["request_id"].duplicated(keep=False)]
        assert len(repeated) < 0.002 * len(frame), table
        assert len(repeated.drop_duplicates()) == repeated["request_id"].nunique(), table
        assert frame.drop(columns="latency_ms").notna().all().all(), table
    for table in ("sentiment_training", "recommendation_training", "chatbot_baseline"):
        assert demo.tables[table].notna().all().all(), table


def test_add_log_flaws_rates_and_adjacent_copies() -> None:
    n = 200_000
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(n)], "latency_ms": np.ones(n)})
    flawed = add_log_flaws(np.random.default_rng(0), frame, "latency_ms")
    extra = len(flawed) - n
    assert 10 <= extra <= 80  # 0.02% of 200k = 40
    assert 50 <= flawed["latency_ms"].isna().sum() <= 160  # 0.05% = 100
    dup = flawed["request_id"].duplicated()
    assert dup.sum() == extra
    assert (flawed["request_id"].shift()[dup] == flawed["request_id"][dup]).all()


# --- injected incidents, each inside its window and nowhere else --------------------------------


def test_neutral_spike_comes_with_release_v320_and_an_accuracy_drop(demo: Demo) -> None:
    requests = demo.tables["sentiment_requests"].drop_duplicates("request_id")
    window = demo.schedule.neutral_spike
    inside = window_mask(requests, window.first, window.last)
    neutral = requests["predicted_label"] == "neutral"
    assert neutral[inside].mean() > 0.38
    assert 0.16 < neutral[~inside].mean() < 0.24
    assert (requests["model_version"][inside] == "v3.2.0").all()
    assert (requests["model_version"][~inside] == "v3.1.4").all()
    assert requests["confidence"][inside].mean() < requests["confidence"][~inside].mean() - 0.04
    assert drift(requests["text_length"], inside, ~inside) < 0.1

    joined = requests.merge(demo.tables["sentiment_labels"], on="request_id")
    correct = joined["predicted_label"] == joined["true_label"]
    joined_inside = window_mask(joined, window.first, window.last)
    assert correct[joined_inside].mean() < 0.75
    assert 0.84 < correct[~joined_inside].mean() < 0.92


def test_channel_shift_moves_only_the_channel_mix(demo: Demo) -> None:
    requests = demo.tables["sentiment_requests"]
    after = window_mask(requests, demo.schedule.channel_shift.first, DAYS - 1)
    api = requests["channel"] == "api"
    assert api[~after].mean() < 0.09
    assert api[after].mean() > 0.18
    spike = demo.schedule.neutral_spike
    stable = ~window_mask(requests, spike.first, spike.last)
    neutral = requests["predicted_label"] == "neutral"
    assert abs(neutral[after & stable].mean() - neutral[~after].mean()) < 0.04
    for column in ("text_length", "exclamation_count", "uppercase_ratio"):
        assert drift(requests[column], after & stable, ~after) < 0.08, column


def test_error_burst_is_503s_on_its_two_days_only(demo: Demo) -> None:
    requests = demo.tables["sentiment_requests"]
    window = demo.schedule.error_burst
    inside = window_mask(requests, window.first, window.last)
    status = requests["http_status"]
    assert 0.035 < (status[inside] == 503).mean() < 0.09
    assert (status[~inside] == 503).sum() == 0
    outside = status[~inside]
    server_errors = outside >= 500
    client_errors = outside.isin([400, 422])
    assert server_errors.mean() < 0.005
    assert 0.004 < client_errors.mean() < 0.02
    assert (outside[~server_errors & ~client_errors] == 200).all()


def test_age_drifts_gradually_and_nothing_else_in_the_recommender_moves(demo: Demo) -> None:
    events = demo.tables["recommendation_events"]
    day = day_index(events["ts"])
    first, ramp_end = demo.schedule.age_drift.first, demo.schedule.age_ramp_end
    age = events["user_age"]
    assert 37.0 < age[day < first].mean() < 39.0
    assert 29.5 < age[day >= ramp_end].mean() < 31.5
    middle = age[day == (first + ramp_end) // 2].mean()
    assert 31.5 < middle < 36.5
    training = demo.tables["recommendation_training"]
    assert 37.0 < training["user_age"].mean() < 39.0
    for column in ("item_price", "item_popularity", "session_length_s", "score"):
        assert drift(events[column], day >= ramp_end, day < first, stat="median") < 0.1, column


def test_latency_regression_arrives_with_rank_24(demo: Demo) -> None:
    events = demo.tables["recommendation_events"]
    after = window_mask(events, demo.schedule.latency_regression.first, DAYS - 1)
    canary = canary_window(demo.schedule)
    before = ~after & ~window_mask(events, canary.first, canary.last)
    latency = events["latency_ms"]
    assert 70 < latency[before].median() < 90
    assert 130 < latency[before].quantile(0.95) < 170
    assert 125 < latency[after].median() < 155
    assert 260 < latency[after].quantile(0.95) < 340
    assert (events["model_version"][after] == "rank-2.4").all()
    assert (events["model_version"][before] == "rank-2.3").all()
    errors = events["status"] != "ok"
    assert errors[after].mean() < 0.01 and errors[~after].mean() < 0.01
    assert drift(events["user_tenure_days"], after, ~after, stat="median") < 0.1
    assert drift(events["item_price"], after, ~after, stat="median") < 0.1


def test_rank_24_is_canaried_on_a_tenth_of_the_three_days_before_its_rollout(
    demo: Demo,
) -> None:
    events = demo.tables["recommendation_events"]
    canary = canary_window(demo.schedule)
    assert (canary.first, canary.last) == (
        demo.schedule.latency_regression.first - 3, demo.schedule.latency_regression.first - 1,
    )  # fmt: skip
    inside = window_mask(events, canary.first, canary.last)
    on_canary = inside & (events["model_version"] == "rank-2.4")
    day = day_index(events["ts"])
    for d in range(canary.first, canary.last + 1):
        assert 0.06 < on_canary[day == d].mean() < 0.14, d  # about 40 of 400 requests
    latency = events["latency_ms"]
    stable = inside & ~on_canary
    assert 125 < latency[on_canary].median() < 155
    assert 250 < latency[on_canary].quantile(0.95) < 350
    assert 130 < latency[stable].quantile(0.95) < 170


def test_the_canary_changes_only_the_version_and_latency_of_its_requests() -> None:
    schedule = build_schedule(DAYS)

    def tables(schedule: Schedule) -> pd.DataFrame:
        rng = np.random.default_rng([SEED, 1])
        return recommender_tables(rng, START, schedule, SCALE)["recommendation_events"]

    canary = canary_window(schedule)
    with_canary = tables(schedule)
    no_canary = dataclasses.replace(schedule, canary=Window(canary.first, canary.first - 1))
    without = tables(no_canary)
    routed = (with_canary["model_version"] != without["model_version"]).to_numpy()
    assert window_mask(with_canary, canary.first, canary.last)[routed].all()
    assert routed.sum() > 0
    rest = with_canary.drop(columns=["model_version", "latency_ms"])
    pd.testing.assert_frame_equal(rest, without.drop(columns=["model_version", "latency_ms"]))
    pd.testing.assert_frame_equal(with_canary[~routed], without[~routed])
    assert with_canary["latency_ms"][routed].median() > without["latency_ms"][routed].median()


def test_token_spike_multiplies_prompt_tokens_only(demo: Demo) -> None:
    bot = demo.tables["chatbot_interactions"]
    window = demo.schedule.token_spike
    inside = window_mask(bot, window.first, window.last)
    ratio = bot["prompt_tokens"][inside].mean() / bot["prompt_tokens"][~inside].mean()
    assert 2.0 < ratio < 2.4
    assert 1700 < bot["prompt_tokens"][~inside].mean() < 2000
    assert drift(bot["completion_tokens"], inside, ~inside) < 0.1
    billing = bot["intent"] == "billing"
    assert abs(billing[inside].mean() - billing[~inside].mean()) < 0.08
    assert bot["latency_ms"][inside].quantile(0.95) < 8000
    assert bot["latency_ms"][~inside].quantile(0.95) < 6000


@pytest.mark.parametrize("cached", [False, True], ids=["all-input", "cached-priced"])
def test_daily_cost_stays_under_budget_except_on_spike_days(cached: bool) -> None:
    schedule = build_schedule(30)
    tables = chatbot_tables(
        np.random.default_rng([SEED, 2]), np.random.default_rng([SEED, 3]), START, schedule, 1.0
    )
    bot = tables["chatbot_interactions"].drop_duplicates("request_id")  # retries are billed once
    prices = np.array([PRICES[m] for m in bot["llm_model"]])
    cached_tokens = bot["cached_tokens"] if cached else 0
    cached_prices = bot["llm_model"].map(CACHED_PRICES)
    cost = (
        (bot["prompt_tokens"] - cached_tokens) * prices[:, 0]
        + cached_tokens * cached_prices
        + bot["completion_tokens"] * prices[:, 1]
    ) / 1000
    daily = cost.groupby(day_index(bot["ts"])).sum()
    spike = daily.index.isin(range(schedule.token_spike.first, schedule.token_spike.last + 1))
    assert daily[~spike].max() < 4.0
    assert (2.4 < daily[~spike].mean() < 3.4) if not cached else (2.3 < daily[~spike].mean() < 3.0)
    assert daily[spike].min() > 4.0
    assert 0.29 < (bot["llm_model"] == "gpt-4o").mean() < 0.35


def test_cached_tokens_are_the_system_prompt_of_most_requests_but_not_during_the_spike(
    demo: Demo,
) -> None:
    bot = demo.tables["chatbot_interactions"]
    window = demo.schedule.token_spike
    inside = window_mask(bot, window.first, window.last)
    cached = bot["cached_tokens"]
    assert (cached <= bot["prompt_tokens"]).all()
    assert set(cached.unique()) == {0, 1024}  # 1024 tokens and 128-token steps: one step here
    assert (cached[inside] == 0).all()  # the bloated template shares no prefix
    hit = cached[~inside] > 0
    assert 0.8 < hit.mean() < 0.9
    share = (cached / bot["prompt_tokens"])[~inside][hit]
    assert share.quantile(0.05) > 0.4 and share.quantile(0.95) < 0.65
    baseline = demo.tables["chatbot_baseline"]
    assert 0.8 < (baseline["cached_tokens"] > 0).mean() < 0.9


def test_kb204_answers_go_unsupported_inside_the_window_only(demo: Demo) -> None:
    bot = demo.tables["chatbot_interactions"]
    window = demo.schedule.kb_hallucination
    inside = window_mask(bot, window.first, window.last)
    flagged = unsupported(bot)
    kb204 = bot["kb_article"] == "KB-204"
    assert flagged[inside & kb204].mean() > 0.4
    assert flagged[~inside & kb204].mean() < 0.15
    assert flagged[inside & ~kb204].mean() < 0.1
    assert 0.02 < flagged[~inside].mean() < 0.09
    assert abs(kb204[inside].mean() - kb204[~inside].mean()) < 0.05
    assert (bot["intent"][kb204] == "billing").all()

    assert 0.02 < unsupported(demo.tables["chatbot_baseline"]).mean() < 0.09


def test_support_tickets_follow_the_unsupported_answers_of_the_day_before(demo: Demo) -> None:
    tickets = demo.tables["support_tickets"]
    assert len(tickets) == DAYS and tickets["tickets"].ge(0).all()
    days = pd.to_datetime(tickets["day"]).dt.date
    assert days.iloc[0] == dt.date(2026, 9, 1) and days.is_monotonic_increasing
    window = demo.schedule.kb_hallucination
    per_day = tickets["tickets"].to_numpy()
    after = per_day[window.first + 1 : window.last + 2]  # the day after each outdated day
    quiet = np.delete(per_day, np.arange(window.first + 1, window.last + 2))
    assert after.mean() > quiet.mean()


def test_chatbot_rows_are_consistent(demo: Demo) -> None:
    bot = demo.tables["chatbot_interactions"]
    assert (bot["question_words"] == bot["question"].str.split().str.len()).all()
    articles = {a.article_id: a for a in texts.KNOWLEDGE_BASE}
    for row in bot.head(300).itertuples():
        article = articles[row.kb_article]
        assert article.intent == row.intent
        sentences = [f.text for f in article.facts if f.text in row.retrieved_context]
        assert 2 <= len(sentences) <= 4
        assert " ".join(sentences) == row.retrieved_context
    sessions = bot.groupby("session_id")
    assert (sessions["intent"].nunique() == 1).all()
    assert (sessions["channel"].nunique() == 1).all()
    assert 1.3 < len(bot) / bot["session_id"].nunique() < 1.7


# --- texts ------------------------------------------------------------------------------------


def test_every_answer_variant_is_judged_by_its_context() -> None:
    for article in texts.KNOWLEDGE_BASE:
        for i, fact in enumerate(article.facts):
            article_text = " ".join(f.text for f in article.facts)
            assert fact.value in fact.text
            assert all(wrong not in article_text for wrong in fact.wrong), (article.article_id, i)
            contexts = [texts.render_context(article, c) for c in texts.context_choices(article, i)]
            assert {len(c) for c in texts.context_choices(article, i)} == {2, 3, 4}
            for context in contexts:
                for answer in texts.answer_variants(fact, supported=True):
                    assert texts.unsupported_claims(answer, context) == [], answer
                    assert fact.text not in answer
                for answer in texts.answer_variants(fact, supported=False):
                    claims = texts.unsupported_claims(answer, context)
                    assert len(claims) == 1 and claims[0] in fact.wrong, (answer, context)


def test_each_intent_owns_two_to_four_articles_and_kb204_is_billing() -> None:
    kb = texts.KNOWLEDGE_BASE
    owned = {intent: [a for a in kb if a.intent == intent] for intent in texts.INTENTS}
    assert all(2 <= len(articles) <= 4 for articles in owned.values())
    assert "KB-204" in {a.article_id for a in owned["billing"]}
    ids = [a.article_id for a in texts.KNOWLEDGE_BASE]
    assert len(ids) == len(set(ids))
    questions = texts.question_variants(texts.KNOWLEDGE_BASE[0].facts[0])
    assert len(set(questions)) == len(questions) > 20
    every_question = [q for a in kb for f in a.facts for q in texts.question_variants(f)]
    assert not any("{" in q or "  " in q or " a order" in q for q in every_question)
