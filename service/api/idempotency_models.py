"""Stored responses for `Idempotency-Key` replays."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import UTCDateTime
from service.kit.db import Base


class IdempotencyRecord(Base):
    """One (caller, key): the request's hash and, once finished, the response to replay."""

    __tablename__ = "idempotency_records"
    caller: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # While a request runs: its claim token and the end of its lease (renewed while it runs);
    # a claim whose lease has lapsed belonged to a request that died, and is taken over.
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
