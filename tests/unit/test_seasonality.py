"""Weekly seasonality: the reference sketched per weekday, and the baseline a day is given."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from monitoring_pipelines.core.config import DriftConfig
from monitoring_pipelines.core.drift.engine import compute_drift
from monitoring_pipelines.core.drift.seasonality import choose_baseline
from monitoring_pipelines.core.ingest.cleaning import GROUP_KEY, ROW_KEY, hash_positions
from monitoring_pipelines.core.profile.fitting import ColumnPlan, fit_reference, profile_day
from monitoring_pipelines.core.seasons import WEEKDAYS

MONDAY = date(2026, 5, 4)
WEEKDAY_MIX = {"billing": 0.5, "returns": 0.2, "product": 0.3}
WEEKEND_MIX = {"billing": 0.2, "returns": 0.4, "product": 0.4}
PLAN = ColumnPlan(numeric=("tokens",), categorical=("intent",))


def _day(rng: np.random.Generator, day: date, n: int, mix: dict[str, float]) -> pd.DataFrame:
    labels = rng.choice(list(mix), size=n, p=list(mix.values()))
    tokens = rng.normal(np.where(labels == "returns", 900.0, 600.0), 50.0)
    ts = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(rng.uniform(0, 86_399, n), unit="s")
    return pd.DataFrame({"ts": ts, "intent": labels, "tokens": tokens})


def _weeks(rng: np.random.Generator, start: date, days: int) -> pd.DataFrame:
    frames = []
    for i in range(days):
        day = start + timedelta(days=i)
        weekend = day.weekday() >= 5
        frames.append(
            _day(rng, day, 1200 if weekend else 3000, WEEKEND_MIX if weekend else WEEKDAY_MIX)
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    reference = _weeks(rng, MONDAY - timedelta(days=14), 14)
    return fit_reference([reference], PLAN, bins=20, sample_size=5000, time_column="ts")


def _drift(fitted, frame: pd.DataFrame, season: str | None):  # type: ignore[no-untyped-def]
    whole = {s.column: s for s in fitted.sketches}
    keys = hash_positions(0, len(frame), "day")
    batch = frame.assign(**{GROUP_KEY: keys, ROW_KEY: keys})
    day = profile_day([batch], PLAN, whole, ["intent", "tokens"], sample_size=5000)
    reference = {
        s.column: s for s in (fitted.seasons[season].sketches if season else fitted.sketches)
    }
    current = {s.column: s for s in day.sketches}
    results = compute_drift(
        reference, current, {"intent": "feature", "tokens": "feature"}, DriftConfig()
    )
    return {r.column: r for r in results}


def test_each_weekday_is_sketched_over_the_whole_references_bins(fitted) -> None:  # type: ignore[no-untyped-def]
    assert set(fitted.seasons) == {f"weekday={w}" for w in WEEKDAYS}
    assert all(s.days == 2 for s in fitted.seasons.values())
    assert sum(s.rows for s in fitted.seasons.values()) == fitted.rows
    whole = {s.column: s for s in fitted.sketches}
    for season in fitted.seasons.values():
        for sketch in season.sketches:
            assert len(sketch.counts) == len(whole[sketch.column].counts)
    saturday = {s.column: s for s in fitted.seasons["weekday=Sat"].sketches}["intent"]
    assert saturday.n == fitted.seasons["weekday=Sat"].rows


def test_a_weekend_that_recurs_is_not_drift_but_a_weekday_mix_change_is(fitted) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    saturday = MONDAY + timedelta(days=5)
    weekend = _day(rng, saturday, 1200, WEEKEND_MIX)
    against_all = _drift(fitted, weekend, None)
    against_saturdays = _drift(fitted, weekend, "weekday=Sat")
    assert against_all["intent"].drifted  # the whole reference calls a normal Saturday drift
    assert not against_saturdays["intent"].drifted
    assert not against_saturdays["tokens"].drifted
    # A real change on a Wednesday: returns doubles.
    changed = _day(
        rng, MONDAY + timedelta(days=2), 3000, {"billing": 0.35, "returns": 0.4, "product": 0.25}
    )
    assert _drift(fitted, changed, "weekday=Wed")["intent"].drifted


def test_baseline_choice_states_why() -> None:
    two_each = {f"weekday={w}": 2 for w in WEEKDAYS}
    saturday = MONDAY + timedelta(days=5)
    assert choose_baseline("auto", saturday, two_each).season == "weekday=Sat"
    assert (
        "Sats of the reference (2 dates" in choose_baseline("auto", saturday, two_each).explanation
    )
    one_week = {f"weekday={w}": 1 for w in WEEKDAYS}
    fallback = choose_baseline("auto", saturday, one_week)
    assert fallback.season is None and "fewer than 2 dates" in fallback.explanation
    assert choose_baseline("weekly", saturday, one_week).season == "weekday=Sat"
    assert choose_baseline("none", saturday, two_each).season is None
    assert choose_baseline("auto", saturday, {}).season is None
    assert "no timestamp" in choose_baseline("weekly", saturday, {}).explanation
    no_saturday = {k: v for k, v in two_each.items() if k != "weekday=Sat"}
    assert choose_baseline("weekly", saturday, no_saturday).season is None


def test_rows_without_a_readable_timestamp_belong_to_no_weekday() -> None:
    frame = _day(np.random.default_rng(1), MONDAY, 500, WEEKDAY_MIX).astype({"ts": object})
    frame.loc[:9, "ts"] = "not a time"
    frame.loc[10:19, "ts"] = None
    fitted = fit_reference([frame], PLAN, bins=10, sample_size=500, time_column="ts")
    assert fitted.rows == 500
    assert fitted.seasons["weekday=Mon"].rows == 480


def test_the_seasonal_chatbots_usual_days_are_drift_only_against_the_whole_reference() -> None:
    """The scenario's own chatbot (tests/scenarios): two reference weeks with weekends, then a
    live Saturday and a live Wednesday of their usual mix. Against the whole reference both
    read as intent drift (the weekday mix is not the weeks' average either); against their
    weekday, neither does."""
    from tests.scenarios import seasonal_chatbot as bot

    plan = ColumnPlan(numeric=("prompt_tokens",), categorical=("intent",))
    start = bot.START - timedelta(days=bot.REFERENCE_DAYS)
    reference = bot.interactions(start, bot.REFERENCE_DAYS, seed=1, events=False)
    fitted = fit_reference([reference], plan, bins=20, sample_size=5000, time_column="ts")
    roles = {"intent": "feature", "prompt_tokens": "feature"}
    for offset in (5, 2):  # Saturday, Wednesday of the first week
        day = bot.START + timedelta(days=offset)
        live = bot.interactions(day, 1, seed=2, events=False)
        keys = hash_positions(0, len(live), "day")
        batch = live.assign(**{GROUP_KEY: keys, ROW_KEY: keys})
        whole = {s.column: s for s in fitted.sketches}
        sketches = profile_day([batch], plan, whole, list(roles), sample_size=5000).sketches
        current = {s.column: s for s in sketches}
        baseline = choose_baseline("auto", day, {k: v.days for k, v in fitted.seasons.items()})
        assert baseline.season is not None
        season = {s.column: s for s in fitted.seasons[baseline.season].sketches}
        seasonal = compute_drift(season, current, roles, DriftConfig())
        assert not any(r.drifted for r in seasonal), seasonal
        flat = compute_drift(whole, current, roles, DriftConfig())
        assert [r.column for r in flat if r.drifted] == ["intent"], flat
