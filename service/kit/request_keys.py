"""The store behind `Idempotency-Key` (service/api/idempotency.py): each caller's keys, the
request each was used for, and the response to replay; purged after the retention."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, LargeBinary, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

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


def purge_expired(session: Session, *, now: datetime, retention: timedelta) -> int:
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - retention)
    )
    return int(getattr(result, "rowcount", 0) or 0)
