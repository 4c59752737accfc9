"""A pushed-down day's record: the later stages' results, and a clear error for a day pushed
down before the section a stage needs was configured (its slice is only a sample)."""

from __future__ import annotations

import pytest

from monitoring_pipelines.core.errors import StoreError
from monitoring_pipelines.core.profile.pushed_day import PushedDay


def day(**sections: object) -> PushedDay:
    return PushedDay(
        rows=10, dialect="sqlite", sample_rows=5, sketches=(), reference="r", sections=sections
    )


def test_a_stage_reads_its_section() -> None:
    assert day(service={"hours": []}).section("service", "service") == {"hours": []}


@pytest.mark.parametrize(("name", "configured"), [("service", "service"), ("costs", "llm")])
def test_a_day_pushed_down_before_the_section_existed_names_the_fix(
    name: str, configured: str
) -> None:
    with pytest.raises(StoreError) as raised:
        day(other={}).section(name, configured)
    assert f"'{configured}' section" in str(raised.value)
    assert "materialize its live_slice again" in str(raised.value)
