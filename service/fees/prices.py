"""Guidance prices (发改价格〔2021〕1279号): a base price per student per standard class hour,
an upward float cap, and the ceiling of a lesson of any length.

ceiling = base × (1 + float%) × lesson_minutes / standard_minutes, rounded half up to the fen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.fees.models import PriceGuide, PriceGuideItem
from service.registry.institutions import region_of_regulator
from service.registry.models import Regulator
from service.registry.regions import ancestry

FEN = Decimal("0.01")


@dataclass(frozen=True, kw_only=True)
class Band:
    mode: str
    grade_band: str
    class_size_min: int
    class_size_max: int | None
    standard_minutes: int
    base_price: Decimal
    max_float_pct: Decimal

    def matches(self, mode: str, grade_band: str, class_size: int) -> bool:
        return (
            self.mode == mode
            and self.grade_band in (grade_band, "any")
            and self.class_size_min <= class_size
            and (self.class_size_max is None or class_size <= self.class_size_max)
        )

    def ceiling(self, lesson_minutes: int) -> Decimal:
        factor = (1 + self.max_float_pct / 100) * lesson_minutes / self.standard_minutes
        return (self.base_price * factor).quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, kw_only=True)
class Guide:
    id: str
    region_code: str
    effective_from: date
    bands: tuple[Band, ...]


class GuideBook:
    """Every guide, indexed by region, for lookups without the database (the rule engine's
    hot path)."""

    def __init__(self, guides: Iterable[Guide]) -> None:
        self.by_region: dict[str, list[Guide]] = defaultdict(list)
        for g in guides:
            self.by_region[g.region_code].append(g)
        for lst in self.by_region.values():
            lst.sort(key=lambda g: g.effective_from, reverse=True)

    def band_for(
        self, region_code: str, on: date, *, mode: str, grade_band: str, class_size: int
    ) -> tuple[Guide, Band] | None:
        """The most specific region's latest guide in force on `on` that prices this course;
        an exact grade band beats `any`. A city without an online price falls back to its
        province's."""
        for code in ancestry(region_code):
            for guide in self.by_region.get(code, ()):
                if guide.effective_from > on:
                    continue
                bands = [b for b in guide.bands if b.matches(mode, grade_band, class_size)]
                if bands:
                    bands.sort(key=lambda b: b.grade_band == "any")
                    return guide, bands[0]
                break  # the latest guide in force here does not price it: ask the parent region
        return None


def load_guidebook(session: Session, regions: Collection[str]) -> GuideBook:
    """The current guides of `regions` (a filing's region and the divisions enclosing it:
    all that `band_for` reads for it), not the whole country's; superseded ones are history."""
    items: dict[str, list[Band]] = defaultdict(list)
    for it in session.scalars(
        select(PriceGuideItem)
        .join(PriceGuide, PriceGuide.id == PriceGuideItem.guide_id)
        .where(PriceGuide.region_code.in_(list(regions)), PriceGuide.superseded_by.is_(None))
    ):
        items[it.guide_id].append(
            Band(
                mode=it.mode,
                grade_band=it.grade_band,
                class_size_min=it.class_size_min,
                class_size_max=it.class_size_max,
                standard_minutes=it.standard_minutes,
                base_price=it.base_price,
                max_float_pct=it.max_float_pct,
            )
        )
    return GuideBook(
        Guide(
            id=g.id,
            region_code=g.region_code,
            effective_from=g.effective_from,
            bands=tuple(items[g.id]),
        )
        for g in session.scalars(
            select(PriceGuide).where(
                PriceGuide.region_code.in_(list(regions)), PriceGuide.superseded_by.is_(None)
            )
        )
    )


def guide_items(session: Session, guide_id: str) -> list[PriceGuideItem]:
    """A guide's bands, by mode then class size."""
    rows = session.scalars(select(PriceGuideItem).where(PriceGuideItem.guide_id == guide_id))
    return sorted(rows, key=lambda i: (i.mode, i.class_size_min))


@dataclass(frozen=True, kw_only=True)
class Applicable:
    guide: PriceGuide
    items: list[PriceGuideItem]
    in_force: bool  # else scheduled to take effect later


def applicable(
    session: Session, *, regulator: Regulator, region_code: str, today: date
) -> list[Applicable]:
    """The guides that apply to a region of the regulator's (its own and its parents'): the
    one in force today for each, and any scheduled later."""
    region_of_regulator(regulator, region_code)
    out = []
    for code in ancestry(region_code):
        guides = list(
            session.scalars(
                select(PriceGuide)
                .where(PriceGuide.region_code == code, PriceGuide.superseded_by.is_(None))
                .order_by(PriceGuide.effective_from.desc())
            )
        )
        in_force = next((g for g in guides if g.effective_from <= today), None)
        for g in guides:
            if g.effective_from > today or g is in_force:
                out.append(
                    Applicable(guide=g, items=guide_items(session, g.id), in_force=g is in_force)
                )
    return out
