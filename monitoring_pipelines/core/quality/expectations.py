"""The suite's expectations as GX objects: custom metrics and expectations, one per rule over
all of its columns, defined on first use so that importing this module does not import GX."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from monitoring_pipelines.core.quality.counts import (
    category_counts,
    mostly_met,
    null_counts,
    range_counts,
    type_counts,
)
from monitoring_pipelines.core.quality.suite import ExpectationKind, ExpectationSpec


def gx_expectations(expectations: Iterable[ExpectationSpec]) -> list[Any]:
    """The GX expectations of a suite's specs: one per rule over all its columns, in the
    specs' order of first appearance, then the row count."""
    classes = _classes()
    by_kind: dict[ExpectationKind, list[ExpectationSpec]] = {}
    for spec in expectations:
        by_kind.setdefault(spec.kind, []).append(spec)
    built: list[Any] = []
    for kind, specs in by_kind.items():
        meta = {"kind": kind}
        columns = [str(s.column) for s in specs]
        allowed = [s.allowed_share for s in specs]
        if kind == "type":
            built.append(
                classes["type"](
                    columns=columns, type_lists=[list(s.type_list) for s in specs], meta=meta
                )
            )
        elif kind == "nulls":
            built.append(
                classes["nulls"](
                    columns=columns,
                    allowed_shares=allowed,
                    answered_only=[s.answered_only for s in specs],
                    meta=meta,
                )
            )
        elif kind == "range":
            built.append(
                classes["range"](
                    columns=columns,
                    min_values=[s.min_value for s in specs],
                    max_values=[s.max_value for s in specs],
                    allowed_shares=allowed,
                    meta=meta,
                )
            )
        elif kind == "categories":
            built.append(
                classes["categories"](
                    columns=columns,
                    value_sets=[list(s.value_set) for s in specs],
                    allowed_shares=allowed,
                    meta=meta,
                )
            )
        else:
            (spec,) = specs
            built.append(
                classes["row_count"](
                    min_value=int(spec.min_value or 0),
                    max_value=int(spec.max_value) if spec.max_value is not None else None,
                    meta=meta,
                )
            )
    return built


@lru_cache(maxsize=1)
def _classes() -> dict[str, Any]:
    """The suite's GX expectations and their metrics, defined once per process on first use
    (GX registers both by name; this module does not import GX until a day is validated).

    Each metric counts one rule over all of its columns in one pass (:func:`type_counts`,
    :func:`null_counts`, :func:`range_counts`, :func:`category_counts`); each expectation
    judges every column's counts against its allowed share, as GX's ``mostly`` does, and
    reports them per column under ``details``.
    """
    from great_expectations.core.metric_domain_types import MetricDomainTypes
    from great_expectations.execution_engine.pandas_execution_engine import (
        PandasExecutionEngine,
    )
    from great_expectations.expectations.core.expect_table_row_count_to_be_between import (
        ExpectTableRowCountToBeBetween,
    )
    from great_expectations.expectations.expectation import BatchExpectation
    from great_expectations.expectations.metrics.metric_provider import metric_value
    from great_expectations.expectations.metrics.table_metric_provider import (
        TableMetricProvider,
    )

    def counting_metric(name: str, keys: tuple[str, ...], count: Any) -> None:
        def pandas(
            cls: Any,
            execution_engine: Any,
            metric_domain_kwargs: dict[str, Any],
            metric_value_kwargs: dict[str, Any],
            metrics: dict[str, Any],
            runtime_configuration: dict[str, Any],
        ) -> dict[str, dict[str, Any]]:
            frame, _, _ = execution_engine.get_compute_domain(
                metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
            )
            return dict(count(frame, *(metric_value_kwargs[k] for k in keys)))

        type(
            f"Metric_{name.rsplit('.', 1)[-1]}",
            (TableMetricProvider,),
            {
                "metric_name": name,
                "value_keys": keys,
                "_pandas": metric_value(engine=PandasExecutionEngine)(pandas),
            },
        )

    counting_metric("monitoring.column_type_counts", ("columns", "type_lists"), type_counts)
    counting_metric("monitoring.column_null_counts", ("columns", "answered_only"), null_counts)
    counting_metric(
        "monitoring.column_range_counts", ("columns", "min_values", "max_values"), range_counts
    )
    counting_metric("monitoring.column_category_counts", ("columns", "value_sets"), category_counts)

    def judged(self: Any, metrics: dict[str, Any], *_: Any, **__: Any) -> dict[str, Any]:
        (name,) = self.metric_dependencies
        counts: Mapping[str, Mapping[str, Any]] = metrics[name]
        shares = getattr(self, "allowed_shares", None) or [0.0] * len(self.columns)
        details = {
            c: _judged(counts[c], share) for c, share in zip(self.columns, shares, strict=True)
        }
        return {
            "success": all(d["success"] for d in details.values()),
            "result": {
                "observed_value": {c: d.get("unexpected_share") for c, d in details.items()},
                "details": details,
            },
        }

    def expectation(name: str, metric: str, fields: dict[str, Any], doc: str) -> Any:
        keys = ("columns", *fields)
        return type(
            name,
            (BatchExpectation,),
            {
                "__doc__": doc,
                "__annotations__": {"columns": list[str], **fields},
                "__module__": __name__,
                "metric_dependencies": (metric,),
                "success_keys": keys,
                "args_keys": keys,
                "_validate": judged,
            },
        )

    return {
        "type": expectation(
            "ExpectColumnsToHoldTypes",
            "monitoring.column_type_counts",
            {"type_lists": list[list[str]]},
            "Each column's dtype, or else each of its non-null values, is of a listed type.",
        ),
        "nulls": expectation(
            "ExpectColumnNullSharesToBeAtMost",
            "monitoring.column_null_counts",
            {"allowed_shares": list[float], "answered_only": list[bool]},
            "Each column has at most its allowed share of nulls (of a column the model writes, "
            "among the requests that did not fail).",
        ),
        "range": expectation(
            "ExpectColumnValuesToBeWithinRanges",
            "monitoring.column_range_counts",
            {
                "min_values": list[float | None],
                "max_values": list[float | None],
                "allowed_shares": list[float],
            },
            "Each column's numbers lie within its bounds, but for an allowed share of them.",
        ),
        "categories": expectation(
            "ExpectColumnValuesToBeInSets",
            "monitoring.column_category_counts",
            {"value_sets": list[list[str]], "allowed_shares": list[float]},
            "Each column's values are in its set, but for an allowed share of them.",
        ),
        "row_count": ExpectTableRowCountToBeBetween,
    }


def _judged(counts: Mapping[str, Any], allowed_share: float) -> dict[str, Any]:
    """One column's counts with GX's ``mostly`` verdict (a dtype verdict passes through)."""
    if "unexpected_count" not in counts:
        return dict(counts)
    considered = int(counts["element_count"]) - int(counts["missing_count"])
    unexpected = int(counts["unexpected_count"])
    return {
        **counts,
        "unexpected_share": unexpected / considered if considered else None,
        "success": mostly_met(considered, unexpected, 1.0 - allowed_share),
    }
