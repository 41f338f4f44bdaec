"""Guidance prices (发改价格〔2021〕1279号): a base price per student per standard class hour,
an upward float cap, and the ceiling of a lesson of any length.

ceiling = base × (1 + float%) × lesson_minutes / standard_minutes, rounded half up to the fen.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.fees.models import PriceGuide, PriceGuideItem
from service.kit.ids import new_id
from service.registry.institutions import audit, region_of_regulator
from service.registry.models import Regulator
from service.registry.regions import ancestry, is_valid_region

FEN = Decimal("0.01")


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    """The guides of `regions` (a filing's region and the divisions enclosing it: all that
    `band_for` reads for it), not the whole country's."""
    items: dict[str, list[Band]] = defaultdict(list)
    for it in session.scalars(
        select(PriceGuideItem)
        .join(PriceGuide, PriceGuide.id == PriceGuideItem.guide_id)
        .where(PriceGuide.region_code.in_(list(regions)))
    ):
        items[it.guide_id].append(
            Band(
                it.mode,
                it.grade_band,
                it.class_size_min,
                it.class_size_max,
                it.standard_minutes,
                it.base_price,
                it.max_float_pct,
            )
        )
    return GuideBook(
        Guide(g.id, g.region_code, g.effective_from, tuple(items[g.id]))
        for g in session.scalars(
            select(PriceGuide).where(PriceGuide.region_code.in_(list(regions)))
        )
    )


def create_guide(
    session: Session,
    *,
    region_code: str,
    effective_from: date,
    bands: list[Band],
    now: datetime,
    source: str | None = None,
) -> PriceGuide:
    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    _check_bands(bands)
    guide = PriceGuide(
        id=new_id("pg"),
        region_code=region_code,
        effective_from=effective_from,
        source=source,
        created_at=now,
    )
    session.add(guide)
    session.flush()
    session.add_all(
        PriceGuideItem(id=new_id("pgi"), guide_id=guide.id, **b.__dict__) for b in bands
    )
    session.flush()
    return guide


def _check_bands(bands: list[Band]) -> None:
    if not bands:
        raise DomainError("validation_error", "a guide needs at least one item")
    for b in bands:
        if b.class_size_max is not None and b.class_size_max < b.class_size_min:
            raise DomainError("validation_error", "class_size_max is below class_size_min")
    # Overlapping bands for the same mode and grade would make a price ambiguous.
    for i, a in enumerate(bands):
        for b in bands[i + 1 :]:
            if (a.mode, a.grade_band) != (b.mode, b.grade_band):
                continue
            a_hi = a.class_size_max if a.class_size_max is not None else 10**9
            b_hi = b.class_size_max if b.class_size_max is not None else 10**9
            if a.class_size_min <= b_hi and b.class_size_min <= a_hi:
                raise DomainError(
                    "validation_error",
                    f"bands overlap for {a.mode}/{a.grade_band}: class sizes "
                    f"{a.class_size_min}-{a.class_size_max} and "
                    f"{b.class_size_min}-{b.class_size_max}",
                )


def guide_items(session: Session, guide_id: str) -> list[PriceGuideItem]:
    """A guide's bands, by mode then class size."""
    rows = session.scalars(select(PriceGuideItem).where(PriceGuideItem.guide_id == guide_id))
    return sorted(rows, key=lambda i: (i.mode, i.class_size_min))


def publish(
    session: Session,
    *,
    regulator: Regulator,
    region_code: str,
    effective_from: date,
    bands: list[Band],
    source: str | None,
    now: datetime,
) -> PriceGuide:
    """A regulator publishes a guidance price table for a region of theirs. Audited."""
    region_of_regulator(regulator, region_code)
    guide = create_guide(
        session,
        region_code=region_code,
        effective_from=effective_from,
        bands=bands,
        now=now,
        source=source,
    )
    audit(session, actor=f"regulator:{regulator.id}", action="price_guide:publish",
          subject=guide.id, detail={"region_code": region_code,
                                    "effective_from": effective_from.isoformat()},
          now=now, region_code=region_code)  # fmt: skip
    return guide


@dataclass(frozen=True)
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
                .where(PriceGuide.region_code == code)
                .order_by(PriceGuide.effective_from.desc())
            )
        )
        in_force = next((g for g in guides if g.effective_from <= today), None)
        for g in guides:
            if g.effective_from > today or g is in_force:
                out.append(Applicable(g, guide_items(session, g.id), g is in_force))
    return out


def import_for(
    session: Session, *, regulator: Regulator, text: str, now: datetime
) -> list[PriceGuide]:
    """A regulator imports guides (the CSV format of shared/data/price_guides.csv) for regions
    of theirs only; all or nothing. Audited."""
    guides = import_csv(
        session, text, now=now, region_check=lambda r: region_of_regulator(regulator, r)
    )
    audit(session, actor=f"regulator:{regulator.id}", action="price_guide:import",
          subject=regulator.region_code, detail={"created": [g.id for g in guides]}, now=now,
          region_code=regulator.region_code)  # fmt: skip
    return guides


def import_csv(
    session: Session,
    text: str,
    *,
    now: datetime,
    region_check: Callable[[str], object] | None = None,
) -> list[PriceGuide]:
    """Import guides in the format of shared/data/price_guides.csv; a guide (region and
    effective date) that exists already is skipped, so importing twice changes nothing."""
    groups: dict[tuple[str, date], list[Band]] = defaultdict(list)
    notes: dict[tuple[str, date], str] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            key = (row["region_code"], date.fromisoformat(row["effective_from"]))
            groups[key].append(
                Band(
                    mode=row["mode"],
                    grade_band=row["grade_band"] or "any",
                    class_size_min=int(row["class_size_min"]),
                    class_size_max=int(row["class_size_max"]) if row["class_size_max"] else None,
                    standard_minutes=int(row["standard_minutes"]),
                    base_price=Decimal(row["base_price"]).quantize(FEN),
                    max_float_pct=Decimal(row["max_float_pct"]).quantize(FEN),
                )
            )
            notes[key] = " ".join(filter(None, [row.get("region_name"), row.get("note")]))
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise DomainError("validation_error", f"line {line}: {exc}") from exc
    for region, _ in groups:
        if region_check is not None:
            region_check(region)
    created = []
    for (region, effective), bands in groups.items():
        exists = session.scalar(
            select(PriceGuide.id).where(
                PriceGuide.region_code == region, PriceGuide.effective_from == effective
            )
        )
        if exists:
            continue
        created.append(
            create_guide(
                session,
                region_code=region,
                effective_from=effective,
                bands=bands,
                now=now,
                source=notes[(region, effective)][:200],
            )
        )
    return created


def seed_published(session: Session, *, now: datetime) -> int:
    text = resources.files("service.data").joinpath("price_guides.csv").read_text(encoding="utf-8")
    return len(import_csv(session, text, now=now))
