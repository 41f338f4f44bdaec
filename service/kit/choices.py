"""A use case's closed set of answers, checked where it is used.

A decision that moves money (pay a refund, return a lesson's amount) is an enum of the domain,
and the use case turns whatever it was given into a member before anything else: a typo
(`"aprove"`, `"Dispute"`) is refused with `invalid_choice` and moves nothing, instead of
falling into an `else` branch that pays.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from service.errors import DomainError

E = TypeVar("E", bound=StrEnum)


def choose(kind: type[E], value: object, *, field: str) -> E:
    """`value` as a member of `kind`, or `invalid_choice` naming the field and the members."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = [m.value for m in kind]
    raise DomainError(
        "invalid_choice",
        f"{field} must be one of {', '.join(allowed)}",
        extra={"field": field, "allowed": allowed},
    )
