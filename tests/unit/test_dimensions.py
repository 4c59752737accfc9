"""The dimensions codec: stored keys round-trip, fit 255 characters, and keep today's bytes."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from monitoring_pipelines.core.dimensions import (
    MAX_CHARS,
    decode,
    dimensions,
    encode,
    fit,
    fit_value,
    fits,
    known_prefix,
    shortened,
)
from monitoring_pipelines.core.quality.schema import previous_snapshot
from monitoring_pipelines.core.store.results import MetricRecord

HOSTILE = [
    "",
    "gpt-4o",
    '"' * 300,
    "\\" * 300,
    "😀" * 200,
    "東" * 200,
    "\x00\n\t\u2028",
    "\ud800 lone surrogate",
    "…#0123abcd",
    "x" * 1000,
    "a" * 240,
]


def random_values(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    pools = [(0x20, 0x7E), (0x00, 0x1F), (0x80, 0x7FF), (0x4E00, 0x9FFF), (0x1F600, 0x1F64F)]
    out = []
    for _ in range(count):
        low, high = rng.choice(pools)
        out.append("".join(chr(rng.randint(low, high)) for _ in range(rng.randint(0, 400))))
    return out


CASES = [{"model": v} for v in HOSTILE + random_values(1, 40)] + [
    {"intent": a, "model": b, "z": c}
    for a, b, c in zip(
        random_values(2, 30), random_values(3, 30), random_values(4, 30), strict=True
    )
]


@pytest.mark.parametrize("dims", CASES)
def test_any_mapping_round_trips_or_fits_deterministically(dims: dict[str, str]) -> None:
    key = encode(dims)
    assert len(key) <= MAX_CHARS
    assert encode(dims) == key  # deterministic
    stored = decode(key)
    assert set(stored) == set(dims)
    if fits(dims):
        assert stored == dims
    for name, value in dims.items():
        assert value.startswith(known_prefix(stored[name]))
    assert encode(stored) == key  # the stored form is stored as itself


def test_keys_that_fit_are_byte_identical_to_the_canonical_json() -> None:
    dims = {"model": "gpt-4o", "intent": "réfund ✓"}
    assert dimensions(**dims) == json.dumps(dims, sort_keys=True, separators=(",", ":"))
    assert dimensions() == "" and decode("") == {}


def test_distinct_long_values_stay_distinct() -> None:
    a, b = "x" * 500, "x" * 499 + "y"
    assert encode({"m": a}) != encode({"m": b})
    assert fit_value(a, 110) != fit_value(b, 110)
    assert len(json.dumps(fit_value(a, 110))) - 2 <= 110


def test_values_share_the_room_shortest_first() -> None:
    fitted = fit({"a": "short", "b": "y" * 300})
    assert fitted["a"] == "short" and fitted["b"].startswith("y" * 200)


def test_names_that_leave_no_room_are_refused() -> None:
    with pytest.raises(ValueError, match="dimension names"):
        encode({"n" * 250: "value that does not fit" * 3})


def test_schema_rows_stored_with_raw_unicode_read_back_the_same() -> None:
    raw = json.dumps({"column": "ümlaut", "type": "TEXT"}, sort_keys=True, ensure_ascii=False)
    row = MetricRecord("2026-09-01", "column_type", raw, 0.0)
    assert previous_snapshot([row], "2026-09-02") == ("2026-09-01", {"ümlaut": "TEXT"})


def test_shortened_from_a_known_start_is_what_fit_value_gives_and_needs_a_hex_digest() -> None:
    value = "m" * 120
    full = hashlib.sha256(value.encode()).hexdigest()
    assert shortened(value[:100], full[:12], 110) == fit_value(value, 110)
    with pytest.raises(ValueError, match="8 hex digits"):
        shortened(value, "ABCDEF12", 110)
    with pytest.raises(ValueError, match="8 hex digits"):
        shortened(value, full[:7], 110)
