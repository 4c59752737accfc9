"""Push-down: one day's exact aggregates computed in the warehouse; only aggregates, the few
residual rows SQL cannot classify alone, and one bounded deterministic sample leave it.

The queries of a day (each a scan of the day's rows, or of an index range of them):

1. repeated request ids: ``count(id) - count(DISTINCT id)`` (in byte order on PostgreSQL),
   and only when that is not 0
   the ids themselves (``GROUP BY id HAVING count(*) > 1``, twice the cost); neither where
   the table declares the id unique;
2. one aggregate pass (no ``GROUP BY``) over every row read: rows, the text columns' nulls,
   the numeric columns' moments (sum and sum of squares about the reference mean, min, max),
   missing ids, usable latencies, and the residual rows (:mod:`.sql`) among them. A typed
   numeric column's NaNs and infinities are residual too, but are not looked for row by
   row: the pass's minimum and maximum show whether there are any. When there
   are residual rows they are pulled and cleaned by :func:`~.cleaning.clean_chunk`, so every
   bad value is counted exactly as the pull path counts it, with the same examples, and the
   pass is run again over the regular rows alone;
3. the numeric columns' bin counts and bin sums, values and nulls: one ``GROUP BY`` of the
   joint bins of :data:`JOINT_COLUMNS` columns per query;
4. the categorical columns and the status: one ``GROUP BY GROUPING SETS`` whose groups are
   ranked and bounded per column by ``row_number()`` (PostgreSQL, DuckDB; on SQLite one
   ``GROUP BY`` each), and (model, intent): one ``GROUP BY``, bounded;
5. latency order statistics: ``percentile_disc`` (PostgreSQL), ``quantile_disc`` (DuckDB), or
   ``ORDER BY .. LIMIT .. OFFSET`` (SQLite), interpolated here as numpy interpolates, so the
   percentiles are the pull path's to the last bit;
6. the sample: the day's rows with the smallest hash of their request id
   (:func:`.sql.sample_hash`), cleaned as slice rows.

On PostgreSQL the first two run side by side (the pass as if no id repeated, again when some
do), and so do the others, which read the regular rows alone: ``plan.parallel_queries`` at a
time, each on its own connection, all reading the first connection's exported
repeatable-read snapshot.

A day whose residual rows or repeated ids exceed their caps is declined
(:class:`PushdownDeclined`): the caller pulls it instead.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, String, and_, case, cast, desc, func, inspect, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from monitoring_pipelines.core.config import SourceConfig
from monitoring_pipelines.core.errors import SourceError
from monitoring_pipelines.core.ingest.cleaning import (
    OWN_DAY,
    SeenKeys,
    SliceQuality,
    Window,
    clean_chunk,
)
from monitoring_pipelines.core.ingest.pushdown import sql as sq
from monitoring_pipelines.core.ingest.pushdown.model import (
    GROUP_CAP,
    JOINT_COLUMNS,
    KEPT_NEW_CATEGORIES,
    NEW_CATEGORIES,
    REPEATED_ID_CAP,
    SEGMENT_MARGIN,
    DayAggregates,
    DayScan,
    NumericAggregate,
    PushdownDeclined,
    PushdownPlan,
    SegmentAggregate,
    Usage,
)
from monitoring_pipelines.core.ingest.statuses import classify_status
from monitoring_pipelines.core.ingest.warehouse import (
    column_types,
    day_bounds,
    text_day,
    timestamp_kind,
)


def pushdown_problems(engine: Engine, source: SourceConfig, plan: PushdownPlan) -> list[str]:
    """Why the monitor's days cannot be pushed down on this warehouse (empty: they can)."""
    dialect = engine.dialect.name
    if dialect not in sq.DIALECTS:
        return [f"dialect '{dialect}' is not one of {', '.join(sq.DIALECTS)}"]
    types = column_types(engine, source.table, source.db_schema)
    problems = []
    if dialect != "sqlite":
        for column in plan.spec.numeric:
            sql_type = str(types.get(column, ""))
            if not (sq.is_number_type(sql_type) or sq.is_text_type(sql_type)):
                problems.append(f"numeric column '{column}' has type {sql_type}")
        for column in plan.spec.text:
            sql_type = str(types.get(column, ""))
            if not (sq.is_text_type(sql_type) or "INT" in sql_type.upper()):
                problems.append(f"text column '{column}' has type {sql_type}")
    return problems


def day_aggregates(
    engine: Engine,
    source: SourceConfig,
    plan: PushdownPlan,
    day: date,
    window: Window | None = None,
) -> DayAggregates:
    """Compute one day's aggregates in the warehouse.

    Raises:
        PushdownDeclined: When the day cannot be pushed down (see :func:`pushdown_problems`,
            or too many residual rows or repeated ids).
        SourceError: When the warehouse fails.
    """
    problems = pushdown_problems(engine, source, plan)
    if problems:
        raise PushdownDeclined("; ".join(problems))
    try:
        with engine.connect() as conn:
            return _Day(conn, source, plan, day, window).run()
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot aggregate table '{source.table}' on {day}: {exc}") from exc


class _Day:
    """The queries of one day on one connection."""

    def __init__(
        self,
        conn: Connection,
        source: SourceConfig,
        plan: PushdownPlan,
        day: date,
        window: Window | None,
    ) -> None:
        self.conn, self.plan, self.day, self.window = conn, plan, day, window
        self.dialect = conn.dialect.name
        types = column_types(conn.engine, source.table, source.db_schema)
        self.kind = timestamp_kind(types[source.timestamp_column], self.dialect)
        self.forms = sq.ColumnForms(self.dialect, {k: str(v) for k, v in types.items()})
        spec = plan.spec
        self.columns = spec.columns
        self.table = sq.day_table(
            source.table, source.db_schema, self.columns, spec.timestamp_column, self.kind
        )
        self.ts = self.table.c[spec.timestamp_column]
        self.rid = self.table.c[spec.request_id_column] if spec.request_id_column else None
        if self.kind == "text":
            self.own, self.read = text_day(self.ts, day, window)
        else:
            lower, upper = day_bounds(self.kind, day, day + timedelta(days=1))
            self.own = and_(self.ts >= lower, self.ts < upper)
            self.read = self.own
        self.values = {
            c: sq.number(self.table.c[c], self.forms, c) for c in dict.fromkeys(spec.numeric)
        }
        self.queries = 0
        self.fetched = 0
        self.residual_rows = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self.unique_ids = self.rid is not None and _declared_unique(
            conn.engine, source, self.rid.name
        )
        self.snapshot = self._share_snapshot()

    def run(self) -> DayAggregates:
        # The aggregate pass over every row read also counts the residual rows: on the common
        # day there are none, and that pass is the regular rows' own, so the later scans test
        # only the timestamp's range, not every column's form again. Otherwise the residual
        # rows are pulled and the pass is run again over the regular rows alone. It runs
        # beside the count of repeated ids, as if none repeated, and again when some do.
        # The typed numeric columns' NaNs and infinities are not looked for row by row: the
        # pass's minimum and maximum show whether there are any (NaN sorts above every number),
        # and only then is the pass run again with them counted as residual.
        regular = self._regular([], nonfinite=False)
        first = self._run_jobs(
            {
                "repeats": self._repeats,
                "plain": partial(self._plain, self.read, and_(self.read, ~regular), counts=False),
            }
        )
        plain = first["plain"]
        repeated = self._repeated_ids(first["repeats"])
        nonfinite = self._nonfinite_seen(plain)
        if repeated or nonfinite:
            regular = self._regular(repeated, nonfinite=nonfinite)
            plain = self._plain(self.read, and_(self.read, ~regular), counts=False)
        residual, quality = self._residual(regular, int(plain["irregular"] or 0))
        if self.residual_rows:
            plain = self._plain(regular, counts=False)
        else:
            regular = self.read
        names = list(self.values)
        chunks = [names[i : i + JOINT_COLUMNS] for i in range(0, len(names), JOINT_COLUMNS)]
        # Every query from here on reads the regular rows alone, each its own scan: on
        # PostgreSQL they run ``plan.parallel_queries`` at a time, on connections that share
        # this one's snapshot.
        jobs: dict[str, Callable[[], Any]] = {
            f"bins:{i}": partial(self._binned, chunk, regular, moments=False)
            for i, chunk in enumerate(chunks)
        }
        jobs["grouped"] = partial(self._grouped, regular)
        jobs["usage"] = partial(self._usage, regular, residual)
        jobs["segments"] = partial(self._segments, regular)
        regular_rows = int(plain["rows"])
        jobs["sample"] = partial(self._sample, regular_rows + len(residual))
        jobs["percentiles"] = partial(self._percentiles, regular, plain, residual)
        scan = DayScan(
            self.dialect, self.day, self.table, self.ts, self.kind, self.forms, self.values,
            regular, residual, self._execute,
        )  # fmt: skip
        for label, query in self.plan.extra.items():
            jobs[f"extra:{label}"] = partial(query, scan)
        done = self._run_jobs(jobs)
        aggregate = dict(plain)
        for i in range(len(chunks)):
            aggregate.update(done[f"bins:{i}"].get(None, {}))
        for name in names:
            if not aggregate.get(f"init:{name}"):  # no regular rows
                aggregate.update({f"null:{name}": 0, f"n:{name}": 0, f"lo:{name}": None})
                aggregate.update({f"hi:{name}": None, f"sum:{name}": 0.0, f"sq:{name}": 0.0})
        quality.rows_read += regular_rows
        quality.rows_kept += regular_rows
        for column in (*self.plan.spec.numeric, *self.plan.spec.text):
            nulls = int(aggregate[f"null:{column}"] or 0)
            if nulls:
                quality.values[column]["null"] += nulls
        if self.rid is not None:
            quality.missing_request_id += int(aggregate["missing_id"] or 0)
        numeric = {c: self._numeric(c, aggregate) for c in self.values}
        grouped = done["grouped"]
        statuses, status_classes = self._statuses(regular, residual, grouped)
        return DayAggregates(
            dialect=self.dialect,
            quality=quality,
            regular_rows=regular_rows,
            numeric=numeric,
            categories={
                c: self._categories(c, regular, grouped.get(c)) for c in self.plan.categories
            },
            residual=residual,
            sample=done["sample"],
            latency_percentiles=done["percentiles"],
            latency_rows=int(aggregate.get("latency_rows") or 0) + _usable(residual, self.plan),
            status_counts=statuses,
            errors=status_classes[0],
            status_unknown=status_classes[1],
            status_missing=status_classes[2],
            usage=done["usage"],
            segments=done["segments"],
            queries=self.queries,
            bytes_fetched=self.fetched,
            extra={label: done[f"extra:{label}"] for label in self.plan.extra},
        )

    def _execute(self, query: Any) -> list[Any]:
        conn = getattr(self._local, "conn", None) or self.conn
        rows = list(conn.execute(query).all())
        with self._lock:
            self.queries += 1
            self.fetched += sum(len(repr(tuple(r))) for r in rows)
        return rows

    def _share_snapshot(self) -> str | None:
        """On PostgreSQL with ``parallel_queries`` above 1: this connection's transaction made
        repeatable-read and its snapshot exported, for the other connections to read the same
        rows (None where the warehouse refuses: the queries then run one after another)."""
        if self.dialect != "postgresql" or self.plan.parallel_queries < 2:
            return None
        try:
            self.conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return str(self.conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
        except SQLAlchemyError:
            self.conn.rollback()
            return None

    def _run_jobs(self, jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Each job's result; on connections of the exported snapshot when there is one."""
        if self.snapshot is None:
            return {name: job() for name, job in jobs.items()}
        opened: list[Connection] = []

        def attach() -> None:
            conn = self.conn.engine.connect()
            opened.append(conn)
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{self.snapshot}'")
            self._local.conn = conn

        try:
            workers = min(self.plan.parallel_queries, len(jobs))
            with ThreadPoolExecutor(workers, initializer=attach) as pool:
                futures = {name: pool.submit(job) for name, job in jobs.items()}
                return {name: future.result() for name, future in futures.items()}
        finally:
            for conn in opened:
                conn.close()

    def _present_ids(self) -> ColumnElement[bool]:
        assert self.rid is not None
        return and_(self.read, ~sq.missing_id(self.rid, self.forms, self.rid.name))

    def _repeats(self) -> int:
        """Rows whose request id another row of the day has too (less one per id).

        Counting distinct ids costs about half of listing the repeated ones (a sort or hash
        of every id either way, without the per-group counts): they are listed only when
        this is not 0. None are counted where the table declares the id unique (its primary
        key, a unique constraint or a unique index of no predicate)."""
        if self.rid is None or self.unique_ids:
            return 0
        rid = self.rid
        distinct: ColumnElement[Any] = rid
        if self.dialect == "postgresql" and sq.is_text_type(self.forms.types.get(rid.name, "")):
            # Byte order: the same ids are equal (PostgreSQL's collations here are
            # deterministic), and the sort skips the locale's comparison.
            distinct = rid.collate("C")
        query = select(func.count(rid) - func.count(distinct.distinct())).where(self._present_ids())
        return int(self._execute(query)[0][0] or 0)

    def _repeated_ids(self, repeats: int) -> list[Any]:
        if self.rid is None or not repeats:
            return []
        rid = self.rid
        present = self._present_ids()
        query = (
            select(rid)
            .where(present)
            .group_by(rid)
            .having(func.count() > 1)
            .limit(REPEATED_ID_CAP + 1)
        )
        ids = [r[0] for r in self._execute(query)]
        if len(ids) > REPEATED_ID_CAP:
            raise PushdownDeclined(f"more than {REPEATED_ID_CAP} request ids repeat on {self.day}")
        return ids

    def _typed(self) -> list[str]:
        """The numeric columns the warehouse itself types as numbers."""
        forms = self.forms
        return [n for n in self.values if not forms.dynamic() and sq.is_number_type(forms.types[n])]

    def _nonfinite_seen(self, plain: dict[str, Any]) -> bool:
        """Whether a typed numeric column holds a NaN or an infinity among the rows of the
        aggregate pass ``plain``: its minimum or maximum is one then."""
        return any(
            v is not None and not np.isfinite(float(v))
            for n in self._typed()
            for v in (plain[f"lo:{n}"], plain[f"hi:{n}"])
        )

    def _regular(self, repeated: list[Any], nonfinite: bool = True) -> ColumnElement[bool]:
        """The regular rows' condition; without ``nonfinite`` it leaves out the typed numeric
        columns' NaNs and infinities (for a day known to have none)."""
        c, forms = self.table.c, self.forms
        irregular = [sq.irregular_timestamp(self.ts, self.kind)]
        typed = self._typed()
        if nonfinite:
            irregular.append(sq.any_nonfinite([self.values[n] for n in typed]))
        irregular += [
            sq.irregular_number(c[n], v, forms, n) for n, v in self.values.items() if n not in typed
        ]
        irregular += [sq.irregular_text(c[n], forms, n) for n in self.plan.spec.text]
        if self.rid is not None:
            irregular.append(sq.irregular_id(self.rid, forms, self.rid.name))
            if repeated:
                irregular.append(and_(self.rid.is_not(None), self.rid.in_(repeated)))
        return and_(self.own, ~sq.any_of(irregular))

    def _residual(
        self, regular: ColumnElement[bool], count: int
    ) -> tuple[pd.DataFrame, SliceQuality]:
        """The ``count`` residual rows (counted by :meth:`_plain`), pulled and cleaned."""
        condition = and_(self.read, ~regular)
        self.residual_rows = count
        if count > self.plan.residual_cap:
            raise PushdownDeclined(
                f"{count} rows of {self.day} need cleaning row by row (more than "
                f"{self.plan.residual_cap})"
            )
        raw = self._rows(condition) if count else self._no_rows()
        quality = SliceQuality()
        frame = clean_chunk(raw, self.plan.spec, self.day, quality, SeenKeys(), 0, self.window)
        return frame, quality

    def _no_rows(self) -> pd.DataFrame:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in self.columns})
        frame[OWN_DAY] = pd.Series([], dtype=bool)
        return frame

    def _rows(self, condition: ColumnElement[bool], order: Any = None, limit: int = 0) -> Any:
        selected: list[Any] = [self.table.c[c] for c in self.columns]
        if self.kind == "text":
            selected.append(case((self.own, 1), else_=0).label(OWN_DAY))
        query = select(*selected).where(condition)
        if order is not None:
            query = query.order_by(*order).limit(limit)
        rows = self._execute(query)
        frame = pd.DataFrame.from_records(
            rows, columns=[*self.columns, *([OWN_DAY] if self.kind == "text" else [])]
        )
        if OWN_DAY in frame:
            frame[OWN_DAY] = frame[OWN_DAY].astype(bool)
        else:
            frame[OWN_DAY] = True
        return frame

    def _plain(
        self,
        rows: ColumnElement[bool],
        irregular: ColumnElement[bool] | None = None,
        counts: bool = True,
    ) -> dict[str, Any]:
        """One aggregate pass (no ``GROUP BY``) over ``rows``: rows, nulls, the numeric
        columns' moments, missing ids, usable latencies, and with ``irregular`` the rows it
        holds. Without ``counts`` the numeric columns' values and nulls are left to the bins'
        ``GROUP BY``s, whose groups count them (two aggregates less per column and row)."""
        c, plan = self.table.c, self.plan
        parts: dict[str, ColumnElement[Any]] = {"rows": func.count()}
        if irregular is not None:
            parts["irregular"] = sq.count_if(irregular)
        for name in plan.spec.text:
            parts[f"null:{name}"] = sq.count_if(c[name].is_(None))
        if self.rid is not None:
            parts["missing_id"] = sq.count_if(sq.missing_id(self.rid, self.forms, self.rid.name))
        if plan.latency_column:
            parts["latency_rows"] = sq.count_if(self.values[plan.latency_column] >= 0)
        for name, value in self.values.items():
            moved = value - sq.double(plan.shifts.get(name, 0.0))
            if counts:
                parts[f"null:{name}"] = sq.count_if(value.is_(None))
                parts[f"n:{name}"] = func.count(value)
            parts[f"lo:{name}"] = func.min(value)
            parts[f"hi:{name}"] = func.max(value)
            parts[f"sum:{name}"] = func.sum(moved)
            parts[f"sq:{name}"] = func.sum(moved * moved)
        labels = list(parts)
        query = select(*(parts[k].label(f"a{i}") for i, k in enumerate(labels))).where(rows)
        row = self._execute(query)[0]
        return dict(zip(labels, row, strict=True))

    def _segments(self, regular: ColumnElement[bool]) -> dict[str, list[SegmentAggregate]]:
        """Per value of each segment column (the largest ``segment_values`` plus a margin for
        the residual rows): the binned columns' aggregates and the categories' counts."""
        out: dict[str, list[SegmentAggregate]] = {}
        binned = [n for n in self.values if n in self.plan.edges]
        for segment in self.plan.segments:
            label = sq.as_text(self.table.c[segment], self.forms, segment)
            parts: dict[str, ColumnElement[Any]] = {"rows": func.count()}
            for name in self.plan.categories:
                parts[f"null:{name}"] = sq.count_if(self.table.c[name].is_(None))
            labels = list(parts)
            query = (
                select(label, *(parts[k].label(f"a{i}") for i, k in enumerate(labels)))
                .where(regular, self.table.c[segment].is_not(None))
                .group_by(label)
                .order_by(desc(func.count()), label)
                .limit(self.plan.segment_values + SEGMENT_MARGIN)
            )
            values: list[SegmentAggregate] = []
            found = self._execute(query)
            per_value = self._binned(binned, regular, label, [str(r[0]) for r in found])
            for row in found:
                a = dict(zip(labels, row[1:], strict=True)) | per_value.get(str(row[0]), {})
                for name in binned:
                    if not a.get(f"init:{name}"):
                        a.update({f"null:{name}": 0, f"n:{name}": 0, f"lo:{name}": None})
                        a.update({f"hi:{name}": None, f"sum:{name}": 0.0, f"sq:{name}": 0.0})
                values.append(
                    SegmentAggregate(
                        value=str(row[0]),
                        rows=int(a["rows"]),
                        numeric={n: self._numeric(n, a) for n in binned},
                        categories={},
                        nulls={n: int(a[f"null:{n}"] or 0) for n in self.plan.categories},
                    )
                )
            for name in self.plan.categories:
                self._segment_categories(segment, label, name, regular, values)
            out[segment] = values
        return out

    def _segment_categories(
        self,
        segment: str,
        label: ColumnElement[Any],
        name: str,
        regular: ColumnElement[bool],
        values: list[SegmentAggregate],
    ) -> None:
        if not values:
            return
        category = sq.as_text(self.table.c[name], self.forms, name)
        query = (
            select(label, category, func.count())
            .where(regular, label.in_([v.value for v in values]), self.table.c[name].is_not(None))
            .group_by(label, category)
            .limit(GROUP_CAP + 1)
        )
        rows = self._execute(query)
        if len(rows) > GROUP_CAP:
            raise PushdownDeclined(
                f"more than {GROUP_CAP} (segment, category) pairs of '{segment}', '{name}'"
            )
        by_value = {v.value: v for v in values}
        for value, cat, n in rows:
            by_value[str(value)].categories.setdefault(name, {})[str(cat)] = int(n)

    def _add_bin(
        self,
        a: dict[str, Any],
        name: str,
        b: int,
        n: int,
        lo: float | None,
        hi: float | None,
        total: float | None,
        shifted: float | None,
        squares: float | None,
    ) -> None:
        """Add one group's rows of a column (its bin ``b``, -1 for nulls) to ``a``."""
        edges = self.plan.edges.get(name, ())
        if not a.get(f"init:{name}"):
            a[f"init:{name}"] = True
            a.update({f"null:{name}": 0, f"n:{name}": 0, f"lo:{name}": None})
            a.update({f"hi:{name}": None, f"sum:{name}": 0.0, f"sq:{name}": 0.0})
            bins = len(edges) + 1 if edges else 0
            a[f"bins:{name}"] = [0] * bins
            a[f"bsums:{name}"] = [0.0] * bins
        if b < 0:
            a[f"null:{name}"] += n
            return
        a[f"n:{name}"] += n
        a[f"lo:{name}"] = _min(a[f"lo:{name}"], lo)
        a[f"hi:{name}"] = _max(a[f"hi:{name}"], hi)
        a[f"sum:{name}"] += float(shifted or 0.0)
        a[f"sq:{name}"] += float(squares or 0.0)
        if edges:
            a[f"bins:{name}"][b] += n
            a[f"bsums:{name}"][b] += float(total or 0.0)

    def _binned(
        self,
        names: list[str],
        regular: ColumnElement[bool],
        segment: ColumnElement[Any] | None = None,
        values: list[str] | None = None,
        moments: bool = True,
    ) -> dict[str | None, dict[str, Any]]:
        """Each numeric column's bin counts and bin sums, and with ``moments`` its nulls and
        moments, in the keys :meth:`_numeric` reads, from one ``GROUP BY`` of the bins of
        :data:`JOINT_COLUMNS` columns together (whose marginals are each column's), or per
        segment value and bin with ``segment``. A row store evaluates a few aggregates per
        row far faster than one aggregate per bin (on PostgreSQL, one scan of a ``FILTER``
        aggregate per bin edge and per bin sum took about 1.6 times these queries' time on
        three processes, and 6 times with its JIT on), and each query is a scan; without
        ``moments`` (the whole day's, which :meth:`_plain` takes) each group keeps its count
        and a bin sum per column with edges, and the groups count the values and nulls."""
        out: dict[str | None, dict[str, Any]] = defaultdict(dict)
        joint = 1 if segment is not None else JOINT_COLUMNS
        for first in range(0, len(names), joint):
            group = names[first : first + joint]
            keys: list[ColumnElement[Any]] = []
            measures: list[ColumnElement[Any]] = [func.count()]
            for name in group:
                value = self.values[name]
                edges = self.plan.edges.get(name, ())
                moved = value - sq.double(self.plan.shifts.get(name, 0.0))
                index = sq.bin_index(value, edges, self.dialect)
                if sq.bin_index_keeps_null(edges, self.dialect):
                    keys.append(index)  # null for a null value, read as bin -1
                else:
                    keys.append(case((value.is_(None), -1), else_=index))
                if moments:
                    measures += [func.min(value), func.max(value), func.sum(value)]
                    measures += [func.sum(moved), func.sum(moved * moved)]
                elif edges:  # a column without edges has one bin and no bin sums
                    measures.append(func.sum(value))
            where = [regular]
            if segment is not None:
                keys.insert(0, segment)
                where.append(segment.in_(values or []))
            query = select(*keys, *measures).where(*where).group_by(*keys)
            for row in self._execute(query):
                key = str(row[0]) if segment is not None else None
                bins_of_row = row[len(keys) - len(group) : len(keys)]
                n = int(row[len(keys)])
                bin_sums = iter(row[len(keys) + 1 :])
                for i, name in enumerate(group):
                    if moments:
                        lo, hi, total, shifted, squares = row[len(keys) + 1 + 5 * i :][:5]
                    else:
                        lo = hi = shifted = squares = None
                        total = next(bin_sums) if self.plan.edges.get(name) else None
                    b = -1 if bins_of_row[i] is None else int(bins_of_row[i])
                    self._add_bin(out[key], name, b, n, lo, hi, total,
                                  shifted, squares)  # fmt: skip
        for a in out.values():
            for name in names:
                if not a.get(f"init:{name}"):
                    continue
                counts = a.pop(f"bins:{name}")
                cumulative = np.cumsum(counts[:-1]).tolist() if counts else []
                for i, at_or_below in enumerate(cumulative):
                    a[f"le:{name}:{i}"] = at_or_below
                for i, total in enumerate(a.pop(f"bsums:{name}")):
                    a[f"bs:{name}:{i}"] = total
                if not moments:  # the counts are the groups' own; the rest is the pass's
                    for part in ("lo", "hi", "sum", "sq"):
                        a.pop(f"{part}:{name}")
        return out

    def _numeric(self, name: str, a: dict[str, Any]) -> NumericAggregate:
        edges = self.plan.edges.get(name, ())
        return NumericAggregate(
            count=int(a[f"n:{name}"] or 0),
            nulls=int(a[f"null:{name}"] or 0),
            lo=_float(a[f"lo:{name}"]),
            hi=_float(a[f"hi:{name}"]),
            shift=self.plan.shifts.get(name, 0.0),
            shifted_sum=float(a[f"sum:{name}"] or 0.0),
            shifted_squares=float(a[f"sq:{name}"] or 0.0),
            at_or_below=tuple(int(a.get(f"le:{name}:{i}") or 0) for i in range(len(edges))),
            bin_sums=tuple(
                float(a.get(f"bs:{name}:{i}") or 0.0) for i in range(len(edges) + 1 if edges else 0)
            ),
        )

    def _grouped(self, regular: ColumnElement[bool]) -> dict[str, list[tuple[Any, int]]]:
        """Every categorical column's and the status's counts from one scan, by ``GROUPING
        SETS`` (PostgreSQL, DuckDB; SQLite has none: empty, each is counted by a query of its
        own), each column's groups ranked and bounded as :meth:`_categories` and
        :meth:`_statuses` bound theirs."""
        names = list(self.plan.categories)
        status = self.plan.status_column
        if status in names:
            status = None  # counted as a status by a query of its own
        if self.dialect == "sqlite" or len(names) + (status is not None) < 2:
            return {}
        c = self.table.c
        keys = [sq.as_text(c[n], self.forms, n) for n in names]
        if status is not None:
            keys.append(c[status])
        grouped = [func.grouping(k) == 0 for k in keys]
        which = case(*((g, i) for i, g in enumerate(grouped)))
        known = case(
            *(
                (and_(g, k.in_(self.plan.categories[n])), 1)
                for n, k, g in zip(names, keys[: len(names)], grouped[: len(names)], strict=True)
            ),
            else_=0,
        )
        text = case(*((g, cast(k, String())) for k, g in zip(keys, grouped, strict=True)))
        labels = [k.label(f"k{i}") for i, k in enumerate(keys)]
        groups = (
            select(
                which.label("g"),
                known.label("known"),
                text.label("t"),
                *labels,
                func.count().label("n"),
            )
            .where(regular)
            .group_by(func.grouping_sets(*keys))
            .subquery()
        )
        # A category column's null group is its nulls, counted elsewhere; the status keeps its.
        listed = or_(*(and_(groups.c.g == i, groups.c.t.is_not(None)) for i in range(len(names))))
        if status is not None:
            listed = or_(listed, groups.c.g == len(names))
        rank = func.row_number().over(
            partition_by=groups.c.g,
            order_by=[desc(groups.c.known), desc(groups.c.n), groups.c.t],
        )
        ranked = select(groups, rank.label("rank")).where(listed).subquery()
        bound = case(
            *(
                (ranked.c.g == i, len(self.plan.categories[n]) + NEW_CATEGORIES)
                for i, n in enumerate(names)
            ),
            else_=GROUP_CAP + 1,
        )
        query = select(ranked.c.g, *(ranked.c[f"k{i}"] for i in range(len(keys))), ranked.c.n)
        query = query.where(ranked.c.rank <= bound).order_by(ranked.c.g, ranked.c.rank)
        out: dict[str, list[tuple[Any, int]]] = {
            n: [] for n in [*names, *([status] if status else [])]
        }
        for row in self._execute(query):
            g = int(row[0])
            out[[*names, status][g]].append((row[1 + g], int(row[-1])))  # type: ignore[index]
        return out

    def _categories(
        self, name: str, regular: ColumnElement[bool], grouped: list[tuple[Any, int]] | None
    ) -> dict[str, int]:
        """Counts of the reference's categories, and of the largest new ones (from
        :meth:`_grouped` where it counted them)."""
        label = sq.as_text(self.table.c[name], self.forms, name)
        known = list(self.plan.categories[name])
        rows = func.count().label("n")
        in_reference = case((label.in_(known), 1), else_=0)
        query = (
            select(label.label("v"), rows)
            .where(regular, self.table.c[name].is_not(None))
            .group_by(label)
            .order_by(desc(func.max(in_reference)), desc(rows), label)
            .limit(len(known) + NEW_CATEGORIES)
        )
        found = grouped if grouped is not None else self._execute(query)
        counts = {str(v): int(n) for v, n in found}
        new = [n for v, n in counts.items() if v not in set(known)]
        if len(new) == NEW_CATEGORIES and new[KEPT_NEW_CATEGORIES - 1] == new[-1]:
            # Ties across the limit: the warehouse's collation picked among them, so every
            # category of that count is listed, and the kept ones are chosen by label here.
            tied = (
                select(label, rows)
                .where(regular, self.table.c[name].is_not(None), label.not_in(known))
                .group_by(label)
                .having(func.count() == new[-1])
                .limit(GROUP_CAP + 1)
            )
            extra = self._execute(tied)
            if len(extra) > GROUP_CAP:
                raise PushdownDeclined(f"more than {GROUP_CAP} categories of '{name}' tie")
            counts.update({str(v): int(n) for v, n in extra})
        return counts

    def _statuses(
        self,
        regular: ColumnElement[bool],
        residual: pd.DataFrame,
        grouped: dict[str, list[tuple[Any, int]]],
    ) -> tuple[dict[Any, int], tuple[int, int, int]]:
        name = self.plan.status_column
        if name is None:
            return {}, (0, 0, 0)
        col = self.table.c[name]
        query = select(col, func.count()).where(regular).group_by(col).limit(GROUP_CAP + 1)
        rows = grouped[name] if name in grouped else self._execute(query)
        if len(rows) > GROUP_CAP:
            raise PushdownDeclined(f"more than {GROUP_CAP} distinct statuses on {self.day}")
        counts: dict[Any, int] = {}
        for value, n in rows:
            counts[value] = counts.get(value, 0) + int(n)
        for value, n in residual[name].value_counts(dropna=False).items():
            key = None if pd.isna(value) else value
            counts[key] = counts.get(key, 0) + int(n)
        values = np.array(list(counts), dtype=object)
        weights = np.array(list(counts.values()), dtype=np.int64)
        is_error, unknown, missing = classify_status(values, self.plan.error_statuses)
        classes = (int(weights[is_error].sum()), int(weights[unknown].sum()))
        return counts, (*classes, int(weights[missing].sum()))

    def _usage(
        self, regular: ColumnElement[bool], residual: pd.DataFrame
    ) -> dict[tuple[str | None, str | None], Usage]:
        plan, c = self.plan, self.table.c
        if not (plan.model_column and plan.prompt_column and plan.completion_column):
            return {}
        prompt, completion = self.values[plan.prompt_column], self.values[plan.completion_column]
        keys = [sq.as_text(c[plan.model_column], self.forms, plan.model_column)]
        if plan.intent_column:
            keys.append(sq.as_text(c[plan.intent_column], self.forms, plan.intent_column))
        valid = and_(prompt >= 0, completion >= 0)
        query = (
            select(
                *keys,
                func.count(),
                func.sum(case((valid, prompt), else_=None)),
                func.sum(case((valid, completion), else_=None)),
                sq.count_if(~valid | prompt.is_(None) | completion.is_(None)),
            )
            .where(regular)
            .group_by(*keys)
            .limit(GROUP_CAP + 1)
        )
        rows = self._execute(query)
        if len(rows) > GROUP_CAP:
            raise PushdownDeclined(f"more than {GROUP_CAP} (model, intent) pairs on {self.day}")
        usage: dict[tuple[str | None, str | None], Usage] = {}

        def add(key: tuple[Any, Any], part: Usage) -> None:
            old = usage.get(key, Usage(0, 0.0, 0.0, 0))
            usage[key] = Usage(
                old.rows + part.rows,
                old.prompt_tokens + part.prompt_tokens,
                old.completion_tokens + part.completion_tokens,
                old.rows_missing_tokens + part.rows_missing_tokens,
            )

        for row in rows:
            model = row[0]
            intent = row[1] if plan.intent_column else None
            n, p, q, bad = row[-4:]
            add((model, intent), Usage(int(n), float(p or 0), float(q or 0), int(bad or 0)))
        if len(residual):
            p = residual[plan.prompt_column].to_numpy(np.float64)
            q = residual[plan.completion_column].to_numpy(np.float64)
            ok = (p >= 0) & (q >= 0) & np.isfinite(p) & np.isfinite(q)
            models = residual[plan.model_column].tolist()
            intents = (
                residual[plan.intent_column].tolist()
                if plan.intent_column
                else [None] * len(models)
            )
            for i in range(len(residual)):
                part = Usage(1, p[i] if ok[i] else 0.0, q[i] if ok[i] else 0.0, int(not ok[i]))
                add((models[i], intents[i]), part)
        return usage

    def _percentiles(
        self, regular: ColumnElement[bool], aggregate: dict[str, Any], residual: pd.DataFrame
    ) -> dict[float, float | None]:
        name = self.plan.latency_column
        if name is None:
            return {}
        scale = self.plan.latency_scale
        extra = residual[name].to_numpy(np.float64) * scale if len(residual) else np.zeros(0)
        extra = np.sort(extra[np.isfinite(extra) & (extra >= 0)])
        n_sql = int(aggregate["latency_rows"] or 0)
        n = n_sql + extra.size
        if n == 0:
            return {q: None for q in self.plan.percentiles}
        wanted: dict[float, tuple[int, int, float]] = {}
        ranks: set[int] = set()
        for q in self.plan.percentiles:
            virtual = (n - 1) * np.true_divide(q, 100)
            below = int(np.floor(virtual))
            above = min(below + 1, n - 1)
            wanted[q] = (below, above, float(virtual - below))
            for k in (below, above):
                ranks.update(range(max(0, k - extra.size), min(k, n_sql - 1) + 1))
        value = self.values[name]
        stats = self._order_statistics(value, and_(regular, value >= 0), n_sql, sorted(ranks))
        out: dict[float, float | None] = {}
        for q, (below, above, gamma) in wanted.items():
            a, b = (_union_rank(k, stats, extra, scale) for k in (below, above))
            diff = b - a
            out[q] = float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
        return out

    def _order_statistics(
        self, value: ColumnElement[Any], where: ColumnElement[bool], n: int, ranks: list[int]
    ) -> dict[int, float]:
        """The values of 0-based ``ranks`` among ``n`` sorted values."""
        if not ranks:
            return {}
        fractions = [(k + 0.5) / n for k in ranks]
        if self.dialect in ("postgresql", "duckdb"):
            from sqlalchemy.dialects.postgresql import array

            stat: ColumnElement[Any]
            if self.dialect == "postgresql":
                stat = func.percentile_disc(array(fractions)).within_group(value)
            else:
                stat = func.quantile_disc(value, array(fractions))
            row = self._execute(select(stat).where(where))[0][0]
            return {k: float(v) for k, v in zip(ranks, row, strict=True)}
        out: dict[int, float] = {}
        for first, count in _runs(ranks):
            query = select(value).where(where).order_by(value).limit(count).offset(first)
            for i, (v,) in enumerate(self._execute(query)):
                out[first + i] = float(v)
        return out

    def _sample(self, rows: int) -> pd.DataFrame:
        """The day's sampled rows (smallest hash of the request id first), cleaned.

        Only residual rows can be dropped by cleaning, so ``sample_rows`` plus the residual
        rows are read; when the day is large, only keys below a prefix that about three times
        the wanted share of the rows pass, which spares the warehouse sorting the whole day
        (and the full order is read when too few pass)."""
        if self.dialect == "sqlite":
            raw = self.conn.connection.driver_connection
            raw.create_function("md5", 1, _md5, deterministic=True)  # type: ignore[union-attr]
        key = sq.sample_hash(self.rid, self.ts, self.forms)
        wanted = self.plan.sample_rows
        limit = wanted + self.residual_rows + 1
        condition = self.read
        if rows > 4 * wanted:
            condition = and_(self.read, sq.sample_prefix(key, 3 * wanted / rows, self.forms))
        raw_rows = self._rows(condition, order=[key, self.ts], limit=limit)
        if len(raw_rows) < limit and condition is not self.read:
            raw_rows = self._rows(self.read, order=[key, self.ts], limit=limit)
        frame = clean_chunk(
            raw_rows, self.plan.spec, self.day, SliceQuality(), SeenKeys(), 0, self.window
        )
        return frame.head(wanted).reset_index(drop=True)


def _declared_unique(engine: Engine, source: SourceConfig, column: str) -> bool:
    """Whether the table itself keeps ``column`` unique (not read on DuckDB, whose views over
    files declare nothing; False where the warehouse does not say)."""
    if engine.dialect.name == "duckdb":
        return False
    try:
        inspector = inspect(engine)
        table, schema = source.table, source.db_schema
        key = inspector.get_pk_constraint(table, schema=schema).get("constrained_columns")
        if key == [column]:
            return True
        if any(u.get("column_names") == [column] for u in inspector.get_unique_constraints(
                table, schema=schema)):  # fmt: skip
            return True
        return any(
            index.get("unique")
            and index.get("column_names") == [column]
            and not any(k.endswith("_where") for k in index.get("dialect_options", {}))
            for index in inspector.get_indexes(table, schema=schema)
        )
    except (SQLAlchemyError, NotImplementedError):
        return False


def _union_rank(
    k: int, stats: dict[int, float], extra: npt.NDArray[np.float64], scale: float
) -> float:
    """The ``k``-th smallest value of the SQL values (``stats`` holds the ranks it needs) and
    ``extra`` together: the ``k - lo``-th of the SQL ranks ``lo..k`` and ``extra``."""
    lo = max(0, k - extra.size)
    window = [stats[r] * scale for r in range(lo, k + 1) if r in stats]
    merged = np.sort(np.concatenate([np.asarray(window, dtype=np.float64), extra]))
    return float(merged[k - lo])


def _usable(residual: pd.DataFrame, plan: PushdownPlan) -> int:
    if plan.latency_column is None or not len(residual):
        return 0
    return int((residual[plan.latency_column].to_numpy(np.float64) >= 0).sum())


def _runs(ranks: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for r in ranks:
        if runs and runs[-1][0] + runs[-1][1] == r:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((r, 1))
    return runs


def _md5(value: object) -> str | None:
    if value is None:
        return None
    return hashlib.md5(str(value).encode(), usedforsecurity=False).hexdigest()


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
