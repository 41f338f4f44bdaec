"""The workbench's sign-in sessions: kept on the server, named in the browser only by an
HttpOnly cookie; the regulator's API token never reaches the browser after sign-in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import UTCDateTime
from service.kit.db import Base


class PageSession(Base):
    __tablename__ = "page_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # of the cookie
    regulator_id: Mapped[str] = mapped_column(ForeignKey("regulators.id"))
    csrf: Mapped[str] = mapped_column(String(64))  # every form carries it back
    # The regulator's token hash at sign-in: a re-issued token ends the session.
    credential_hash: Mapped[str] = mapped_column(String(64), server_default="")
    # The officer signed in (None: the office's own token, as before officers).
    officer_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_page_sessions_expires", PageSession.expires_at)
