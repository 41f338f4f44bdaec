"""Indicator thresholds and weights (DOMAIN.md §5): defaults here, overridable per region with
the `risk_thresholds` policy ({code: {field: value}}), the most specific region winning."""

from __future__ import annotations

from copy import deepcopy
from decimal import Decimal
from typing import Any

DEFAULTS: dict[str, dict[str, Any]] = {
    "refund_failed": {"window_days": 90, "threshold": 1, "weight": 40, "floor": "critical"},
    "escrow_shortfall": {"window_days": 90, "threshold": 1, "weight": 50, "floor": "critical"},
    "refund_overdue": {
        "window_days": 90,
        "threshold": 1,
        "high_count": 3,
        "weight": 15,
        "floor": "medium",
        "high_floor": "high",
    },
    "refund_velocity": {
        "window_days": 14,
        "baseline_days": 90,
        "threshold": "3",
        "min_requests": 3,
        "weight": 20,
        "floor": "medium",
    },
    "prepay_surge": {
        "window_days": 14,
        "baseline_days": 90,
        "threshold": "3",
        "high_threshold": "5",
        "min_amount": "20000",
        "weight": 20,
        "high_weight": 35,
        "floor": "medium",
        "high_floor": "high",
    },
    "deep_discount": {
        "window_days": 30,
        "price_share": "0.7",
        "threshold": "0.3",
        "min_enrollments": 5,
        "weight": 15,
        "floor": "medium",
    },
    "off_platform": {
        "suspense_days": 7,
        "window_days": 30,
        "threshold": 1,
        "weight": 30,
        "floor": "high",
    },
    "consumption_pace": {"window_days": 30, "threshold": 1, "weight": 30, "floor": "high"},
    "consumption_stall": {
        "window_days": 14,
        "threshold": 14,
        "min_sessions": 3,
        "min_days": 7,
        "weight": 15,
        "floor": "medium",
    },
    "complaint_surge": {
        "window_days": 14,
        "baseline_days": 90,
        "threshold": "3",
        "min_count": 3,
        "weight": 20,
        "floor": "medium",
    },
    "statement_missing": {"threshold": 3, "weight": 10, "floor": "medium"},
    "reserve_shortfall": {"threshold": "0", "weight": 30, "floor": "high"},
    "registry_change": {"window_days": 90, "threshold": 1, "weight": 10, "floor": None},
}

LEVELS = ("low", "medium", "high", "critical")
EDGES = ((75, "critical"), (50, "high"), (25, "medium"))


def merged(overrides: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    cfg = deepcopy(DEFAULTS)
    for code, fields in (overrides or {}).items():
        if code in cfg:
            cfg[code].update(fields)
    return cfg


def dec(value: Any) -> Decimal:
    return Decimal(str(value))
