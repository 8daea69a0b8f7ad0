"""Column types that keep the design's promises on every database.

SQLite has neither timezone-aware timestamps nor exact decimals, so these types store UTC
and decimal text there and hand back aware datetimes and Decimals everywhere.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times are stored as aware UTC")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Money(TypeDecorator):
    """An exact amount: NUMERIC where the database has it, decimal text on SQLite."""

    impl = Numeric(14, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(14, 4))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        amount = Decimal(value)
        # NUMERIC(14, 4) pads 3.99 to 3.9900; keep the amount as the source wrote it.
        return amount.quantize(Decimal("0.01")) if amount == amount.quantize(Decimal("0.01")) else amount


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
