"""Score 0-100 and level: low < 25 <= medium < 50 <= high < 75 <= critical; the floors of the
indicators override the score (a failed refund is critical whatever else is true)."""

from __future__ import annotations

from dataclasses import dataclass

from service.risk.indicators import Indicator

LEVELS = ("low", "medium", "high", "critical")
EDGES = ((75, "critical"), (50, "high"), (25, "medium"))


@dataclass(frozen=True, kw_only=True)
class Verdict:
    score: int
    level: str
    indicators: list[Indicator]


def level_of(score: int) -> str:
    for edge, level in EDGES:
        if score >= edge:
            return level
    return "low"


def rank(level: str) -> int:
    return LEVELS.index(level)


def judge(indicators: list[Indicator]) -> Verdict:
    score = min(100, sum(i.contribution for i in indicators))
    level = level_of(score)
    for i in indicators:
        if i.floor and rank(i.floor) > rank(level):
            level = i.floor
    return Verdict(
        score=score, level=level, indicators=sorted(indicators, key=lambda i: -i.contribution)
    )
