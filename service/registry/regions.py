"""Administrative division codes (GB/T 2260) and regulators' scopes."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.registry.models import Region


@dataclass(frozen=True, kw_only=True)
class RegionInfo:
    code: str
    name: str
    superseded_by: str | None


@lru_cache
def known_regions() -> dict[str, RegionInfo]:
    text = resources.files("service.data").joinpath("regions.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {
        r["code"]: RegionInfo(
            code=r["code"], name=r["name"], superseded_by=r["superseded_by"] or None
        )
        for r in rows
    }


def is_valid_region(code: str) -> bool:
    """A current or superseded 6-digit code (institutions registered under a retired code
    keep it)."""
    return len(code) == 6 and code.isdigit() and code in known_regions()


def scope_prefix(region_code: str) -> str:
    """`220000` → `22`, `220400` → `2204`, `220402` → `220402`."""
    prefix = region_code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return prefix


def in_scope(regulator_region: str, region_code: str) -> bool:
    return region_code.startswith(scope_prefix(regulator_region))


def ancestry(region_code: str) -> list[str]:
    """The code and its enclosing divisions, most specific first: 220402, 220400, 220000."""
    out = [region_code]
    if region_code[4:] != "00":
        out.append(region_code[:4] + "00")
    if region_code[2:] != "0000":
        out.append(region_code[:2] + "0000")
    return out


def sync_regions(session: Session) -> int:
    """Load the shipped code list into the `regions` table (idempotent)."""
    regions = known_regions()
    present = session.scalar(select(func.count()).select_from(Region)) or 0
    if present == len(regions):
        return 0
    existing = set(session.scalars(select(Region.code)))
    new = [
        Region(code=r.code, name=r.name, superseded_by=r.superseded_by)
        for r in regions.values()
        if r.code not in existing
    ]
    session.add_all(new)
    session.flush()
    return len(new)
