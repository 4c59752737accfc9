"""SQLAlchemy Core expressions for one day's aggregates, compiled by SQLite, PostgreSQL and
DuckDB alike.

Every row of the day is either *regular*, which SQL classifies exactly as
:func:`~.cleaning.clean_chunk` would (its timestamp is a plain UTC one on the day, its
request id is not repeated, each numeric value is null or a plain finite decimal, each text
value is text or an integer), or *residual*: everything else, which is pulled and cleaned by
the pull path's own code. Regular rows are aggregated where they live; residual rows are few
on a healthy day, and bounded (:data:`RESIDUAL_CAP`) on any day that is pushed down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Double,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

DIALECTS = ("sqlite", "postgresql", "duckdb")

# A decimal both the warehouse's cast and pandas' parser read as the same double: no blanks,
# no exponent and at most 15 digits (DECIMAL_DIGITS), which the warehouses round correctly and
# pandas exactly (its parser is off by one unit in the last place for about a third of
# Python's own 17-digit reprs, and for exponents past 10^22). Other text is residual.
DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
DECIMAL_DIGITS = 15
# A plain UTC text timestamp of the day's own range: the range fixes the date, so only the
# time of day needs checking. Anything else (offsets, odd forms) is left to pandas.
PLAIN_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|\+00:00)?$"
)
INTEGER = r"^-?[1-9][0-9]{0,14}$|^0$"
# An id with a blank at either end: pandas' notion of "blank" (str.strip) is wider than SQL's.
EDGE_BLANK = r"^\s|\s$"
# The code points pandas' ``str.strip`` removes (Python's blanks; the last is U+3000).
BLANK_CODES = tuple(c for c in range(0x3001) if chr(c).isspace())
FINITE = 1.7976931348623157e308
NUMBER_TYPES = ("INT", "FLOAT", "DOUBLE", "REAL", "NUMERIC", "DECIMAL")
TEXT_TYPES = ("CHAR", "TEXT", "STRING", "CLOB")


def is_number_type(sql_type: str) -> bool:
    return any(t in sql_type.upper() for t in NUMBER_TYPES)


def is_text_type(sql_type: str) -> bool:
    return any(t in sql_type.upper() for t in TEXT_TYPES)


@dataclass(frozen=True)
class ColumnForms:
    """How each raw column is read: its SQL type as the warehouse reports it, and the dialect."""

    dialect: str
    types: dict[str, str]

    def dynamic(self) -> bool:
        """SQLite keeps any value in any column: every value is looked at by its own type."""
        return self.dialect == "sqlite"


def day_table(name: str, schema: str | None, columns: Sequence[str], ts: str, kind: str) -> Table:
    """The source table with ``columns``, typed loosely: values are classified by SQL here."""
    stamp: Any = String() if kind == "text" else DateTime(timezone=kind == "aware")
    return Table(
        name,
        MetaData(),
        *(Column(c, stamp if c == ts else _Loose()) for c in columns),
        schema=schema,
    )


class _Loose(String):
    """A column of any type: compared and cast by the expressions here, never bound."""

    cache_ok = True


def plain_decimal(col: ColumnElement[Any]) -> ColumnElement[bool]:
    """Text that is a decimal both sides read alike (see :data:`DECIMAL`)."""
    digits = func.replace(func.replace(func.replace(col, "-", ""), "+", ""), ".", "")
    return and_(col.regexp_match(DECIMAL), func.length(digits) <= DECIMAL_DIGITS)


def number(col: ColumnElement[Any], forms: ColumnForms, name: str) -> ColumnElement[Any]:
    """The value as a double where it is a regular one (null otherwise)."""
    if forms.dynamic():
        kind = func.typeof(col)
        return case(
            (kind.in_(("integer", "real")), cast(col, Double())),
            (and_(kind == "text", plain_decimal(col)), cast(col, Double())),
            else_=None,
        )
    if is_number_type(forms.types.get(name, "")):
        return cast(col, Double())
    return case((plain_decimal(col), cast(col, Double())), else_=None)


def irregular_number(
    col: ColumnElement[Any], value: ColumnElement[Any], forms: ColumnForms, name: str
) -> ColumnElement[bool]:
    """A present value SQL does not read as pandas would: text that is no plain decimal, NaN,
    an infinity (pandas counts those)."""
    if forms.dynamic() or not is_number_type(forms.types.get(name, "")):
        finite = value.between(double(-FINITE), double(FINITE))
        return and_(col.is_not(None), or_(value.is_(None), ~finite))
    return and_(col.is_not(None), ~value.between(double(-FINITE), double(FINITE)))


def as_text(col: ColumnElement[Any], forms: ColumnForms, name: str) -> ColumnElement[Any]:
    """A category as the slice holds it: text as it is, an integer in decimal."""
    if forms.dynamic() or is_number_type(forms.types.get(name, "")):
        return cast(col, String())
    return col


def any_nonfinite(values: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
    """Whether any of these doubles is NaN or infinite, in one comparison: ``v * 0`` is 0 for a
    finite value and NaN otherwise (a null counts as finite)."""
    if not values:
        return false()
    total: ColumnElement[Any] = func.coalesce(values[0] * double(0.0), double(0.0))
    for value in values[1:]:
        total = total + func.coalesce(value * double(0.0), double(0.0))
    return ~(total == double(0.0))


def irregular_text(col: ColumnElement[Any], forms: ColumnForms, name: str) -> ColumnElement[bool]:
    """A category SQL would not spell as pandas does (a float, a blob, a huge integer)."""
    if forms.dynamic():
        kind = func.typeof(col)
        return or_(
            kind.in_(("real", "blob")),
            and_(kind == "integer", ~cast(col, String()).regexp_match(INTEGER)),
        )
    sql_type = forms.types.get(name, "")
    if is_number_type(sql_type):
        return and_(col.is_not(None), ~cast(col, String()).regexp_match(INTEGER))
    return false()


def irregular_timestamp(ts: ColumnElement[Any], kind: str) -> ColumnElement[bool]:
    """A timestamp of the day's own range SQL cannot place on the day alone."""
    if kind != "text":
        return false()
    return ~ts.regexp_match(PLAIN_TIME)


def missing_id(rid: ColumnElement[Any], forms: ColumnForms, name: str) -> ColumnElement[bool]:
    """A request id that is no identity: null or empty (blank-edged ones are residual)."""
    if is_number_type(forms.types.get(name, "")) and not forms.dynamic():
        return rid.is_(None)
    return or_(rid.is_(None), cast(rid, String()) == "")


def irregular_id(rid: ColumnElement[Any], forms: ColumnForms, name: str) -> ColumnElement[bool]:
    if is_number_type(forms.types.get(name, "")) and not forms.dynamic():
        return false()
    text = cast(rid, String())
    irregular = text.regexp_match(EDGE_BLANK)
    if forms.dialect in ("postgresql", "duckdb"):
        # The code points of the first and last characters against Python's blanks: a
        # third of the regular expression's cost per row on PostgreSQL, and exact where
        # the warehouse's ``\s`` is narrower than Python's (PostgreSQL's misses U+001C to
        # U+001F, U+0085, U+00A0 and U+202F; DuckDB's is [\t\n\f\r ] alone).
        first, last = func.ascii(text), func.ascii(func.right(text, 1))
        irregular = or_(first.in_(BLANK_CODES), last.in_(BLANK_CODES))
    if forms.dynamic():
        irregular = or_(irregular, func.typeof(rid).in_(("real", "blob")))
    return and_(rid.is_not(None), irregular)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.count().filter(condition)


def sum_if(value: ColumnElement[Any], condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(value).filter(condition)


def double(value: float) -> ColumnElement[Any]:
    """A constant typed as a double: an untyped decimal constant is NUMERIC to PostgreSQL,
    which would compare every row's double as an arbitrary-precision number."""
    return cast(literal(value), Double())


def any_of(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*conditions) if conditions else false()


def all_of(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    return and_(*conditions) if conditions else true()


def bin_index(
    value: ColumnElement[Any], edges: Sequence[float], dialect: str = ""
) -> ColumnElement[Any]:
    """The bin of ``value`` among interior ``edges``: how many edges lie below it
    (``np.searchsorted(edges, value, side="left")``), by a balanced tree of comparisons; on
    PostgreSQL by ``width_bucket`` (about twice as fast), which counts the thresholds at or
    below its operand. A double lies above an edge exactly when it is at or above the next
    double up, so the thresholds are the edges moved up by one unit in the last place (with
    an infinite or NaN edge: ``-value`` among the negated edges, the edges at or above
    ``value``)."""
    if dialect == "postgresql" and edges:
        from sqlalchemy.dialects.postgresql import ARRAY, array

        if all(math.isfinite(e) for e in edges):
            above = [math.nextafter(float(e), math.inf) for e in edges]
            return func.width_bucket(value, cast(array(above), ARRAY(Double())))
        negated: ColumnElement[Any] = cast(
            array([-float(e) for e in reversed(edges)]), ARRAY(Double())
        )
        return literal(len(edges)) - func.width_bucket(-value, negated)

    def tree(lo: int, hi: int) -> ColumnElement[Any]:
        if lo == hi:
            return literal(lo)
        mid = (lo + hi) // 2  # bins lo..mid hold the values at or below edges[mid]
        return case((value <= double(edges[mid]), tree(lo, mid)), else_=tree(mid + 1, hi))

    return tree(0, len(edges))


def bin_index_keeps_null(edges: Sequence[float], dialect: str) -> bool:
    """Whether :func:`bin_index` is null for a null value (``width_bucket`` is; the tree of
    comparisons puts a null in its last bin)."""
    return dialect == "postgresql" and bool(edges)


def sample_hash(
    rid: ColumnElement[Any] | None, ts: ColumnElement[Any], forms: ColumnForms
) -> ColumnElement[Any]:
    """The hash of ``"id:" + request id`` (of the timestamp's text without an id) that orders
    the sample: the hex MD5, the same order on SQLite and DuckDB for the same ids; on
    PostgreSQL its own 64-bit ``hashtextextended`` (a quarter of MD5's cost per row, and
    :func:`sample_prefix` bounds it as a number)."""
    stamp = literal("row:") + cast(ts, String())
    text = (
        stamp
        if rid is None
        else case((rid.is_(None), stamp), else_=literal("id:") + cast(rid, String()))
    )
    if forms.dialect == "postgresql":
        return func.hashtextextended(text, 0)
    return func.md5(text)


def sample_prefix(key: ColumnElement[Any], share: float, forms: ColumnForms) -> ColumnElement[bool]:
    """Rows whose :func:`sample_hash` lies in its lowest ``share`` of values."""
    if forms.dialect == "postgresql":
        return key <= literal(-(2**63) + int(min(share, 1.0) * (2**64 - 1)))
    return func.substr(key, 1, 8) <= f"{int(0xFFFFFFFF * min(share, 1.0)):08x}"
