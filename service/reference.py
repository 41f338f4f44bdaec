"""Reference data loaded after every migration: region codes and the published guidance
price tables. Idempotent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.fees.prices import seed_published
from service.registry.regions import sync_regions


def load(session: Session, *, now: datetime) -> dict[str, int]:
    return {"regions": sync_regions(session), "price_guides": seed_published(session, now=now)}
