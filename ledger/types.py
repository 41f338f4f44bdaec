"""Column types for money and time that behave identically on PostgreSQL and SQLite.

PostgreSQL stores money as NUMERIC(18,2). SQLite has no exact decimal type (its NUMERIC
affinity silently becomes a binary float), so there money is stored as an integer number of
fen; SQL arithmetic and SUM stay exact on both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

FEN = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """Yuan with exactly two decimals: NUMERIC(18,2) on PostgreSQL, integer fen on SQLite."""

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    # PostgreSQL's way; SQLite's is `_fen_of` and `_yuan_of_fen` (bind_processor, below).
    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        amount = _checked(value)
        return None if amount is None else amount.quantize(FEN)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(FEN)

    # On SQLite one function each way instead of this type's and its integer impl's, chained
    # (what TypeDecorator does): money is read and written a million times in a year's replay.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _fen_of

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _yuan_of_fen


def _checked(value: Any) -> Decimal | None:
    """An amount as money may be written: never a float, at most two decimals."""
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("money must never be a float")
    amount = Decimal(value)
    if amount != amount.quantize(FEN):
        raise ValueError(f"money has more than two decimals: {amount}")
    return amount


def _fen_of(value: Any) -> int | None:
    """Integer fen, what SQLite stores."""
    amount = _checked(value)
    return None if amount is None else int(amount * 100)


def _yuan_of_fen(value: Any) -> Decimal | None:
    """Yuan with two decimals from SQLite's integer fen (exact: a shift of the exponent)."""
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("SQLite returned a float for a money column")
    return Decimal(int(value)).scaleb(-2)


class MoneyTotal(Money):
    """A sum of many accounts (a district's escrow): wider than any one account may hold,
    NUMERIC(24,2) on PostgreSQL; integer fen on SQLite, like Money."""

    impl = Numeric(24, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(24, 2, asdecimal=True))


class UTCDateTime(TypeDecorator[datetime]):
    """An aware instant, stored in UTC; naive datetimes are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    # PostgreSQL's way; SQLite's is `_sqlite_text_of` and `_utc_of_sqlite_text` (below).
    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else _aware(value).astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # On SQLite the text is written and parsed here in one step, in the very format
    # SQLAlchemy's own DATETIME stores ("2026-12-06 08:00:00.000000"), instead of its
    # processor and this type's chained: instants are read a million times in a year's replay.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text_of

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _utc_of_sqlite_text


def _aware(value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError("naive datetime refused: instants must carry an offset")
    return value


def _sqlite_text_of(value: Any) -> str | None:
    if value is None:
        return None
    return _aware(value).astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _utc_of_sqlite_text(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
