"""The counting behind the GX metrics: one pass per rule over all of its columns, in pandas
and numpy, with GX's ``mostly`` verdict on the counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from monitoring_pipelines.core.ingest.cleaning import all_strings

# Unexpected values kept as examples per expectation.
MAX_EXAMPLES = 5


def type_counts(
    frame: pd.DataFrame, columns: list[str], type_lists: list[list[str]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per column: a verdict on its dtype (``observed_value``, ``success``) when the dtype
    decides (any but object, or an object column of strings only where strings are listed),
    else its non-null values whose Python type is not listed."""
    for column, type_list in zip(columns, type_lists, strict=True):
        values = frame[column]
        dtype = values.dtype
        if "str" in type_list and all_strings(values):
            yield column, {"observed_value": "str", "success": True}
            continue
        if isinstance(dtype, pd.CategoricalDtype):  # judged by its values, one by one
            values = values.astype(object)
        elif not pd.api.types.is_object_dtype(dtype):
            name = "StringDtype" if isinstance(dtype, pd.StringDtype) else str(dtype)
            yield column, {"observed_value": name, "success": name in type_list}
            continue
        null = values.isna().to_numpy(dtype=bool)
        names = values.map(lambda v: type(v).__name__).to_numpy(dtype=object)
        wrong = ~null & ~np.isin(names, type_list)
        yield column, _counted(values, int(null.sum()), wrong)


# The column a frame may carry marking the rows of requests that failed (``answered_only``).
FAILED = "__failed"


def null_counts(
    frame: pd.DataFrame, columns: list[str], answered_only: list[bool] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per column: its nulls among all rows, or, for an ``answered_only`` column of a frame
    with a :data:`FAILED` column, among the rows of requests that did not fail (the others
    are not considered)."""
    only = answered_only or [False] * len(columns)
    failed = frame[FAILED].to_numpy(dtype=bool) if FAILED in frame.columns else None
    for column, answered in zip(columns, only, strict=True):
        null = frame[column].isna().to_numpy(dtype=bool)
        if answered and failed is not None:
            yield column, _counted(frame[column], int(failed.sum()), null & ~failed)
        else:
            yield column, _counted(frame[column], 0, null)


def range_counts(
    frame: pd.DataFrame,
    columns: list[str],
    min_values: list[float | None],
    max_values: list[float | None],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per column: its numbers outside [min, max] (an unset bound is open). Nulls and values
    that are not numbers are not considered (the nulls and type rules count those)."""
    for column, low, high in zip(columns, min_values, max_values, strict=True):
        raw = frame[column]
        if raw.dtype.kind in "fiub":
            numbers = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            numbers = pd.to_numeric(raw, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        outside = np.zeros(len(numbers), dtype=bool)
        if low is not None:
            outside |= numbers < low
        if high is not None:
            outside |= numbers > high
        missing = int(np.isnan(numbers).sum())  # NaN compares false: never outside
        yield column, _counted(pd.Series(numbers), missing, outside)


def category_counts(
    frame: pd.DataFrame, columns: list[str], value_sets: list[list[str]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per column: its non-null values outside the set."""
    for column, value_set in zip(columns, value_sets, strict=True):
        values = frame[column]
        null = values.isna().to_numpy(dtype=bool)
        unseen = ~null & ~values.isin(value_set).to_numpy(dtype=bool)
        yield column, _counted(values, int(null.sum()), unseen)


def _counted(values: pd.Series, missing: int, unexpected: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """GX's counts of a column rule: the values considered (all but ``missing`` of them), the
    ``unexpected`` ones among them (a mask over ``values``), the first few as examples."""
    first = np.flatnonzero(unexpected)[:MAX_EXAMPLES]
    return {
        "element_count": len(values),
        "missing_count": missing,
        "unexpected_count": int(np.count_nonzero(unexpected)),
        "partial_unexpected_list": [_plain(v) for v in values.iloc[first]],
    }


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (GX results are JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def mostly_met(considered: int, unexpected: int, mostly: float) -> bool:
    """GX's own rule for ``mostly`` (vacuously true when nothing is considered)."""
    if considered == 0:
        return True
    return (float(considered) - float(unexpected)) / float(considered) >= mostly
