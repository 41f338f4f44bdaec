"""A replayed morning: the enrollments and deposits between two events of other kinds, read
one by one and written together, each at its own instant.

Each line is resolved when it is read, against what the lines before it made: a deposit that
names an enrollment made after it is unknown, as it would be alone. Nothing an enrollment or
a deposit writes is read by the enrollments among them (they read the course and the
institution), so writing the enrollments first and then the deposits gives each line the
outcome it would have had alone; a deposit naming an enrollment of the morning that was
refused is then as unknown as it would have been.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

import ledger
from service.config import Settings
from service.errors import DomainError
from service.flows import deposits, enrollments
from service.registry.models import Bank

Skipped = Callable[[int, dict[str, Any], Exception], None]


@dataclass(frozen=True)
class DepositDue:
    line: int
    event: dict[str, Any]
    item: deposits.DepositIn
    # The enrollments of the morning made so far under the label it names (their places),
    # if any: it pays the last one made, and otherwise the reference in `item` (of an
    # enrollment made before the morning, or none).
    morning: tuple[int, ...] = ()


class Unknown(Exception):
    """A deposit for an enrollment of the morning that was refused."""


@dataclass
class Morning:
    settings: Settings
    skipped: Skipped
    orders: list[tuple[int, dict[str, Any], enrollments.Order]] = field(default_factory=list)
    deposits: list[DepositDue] = field(default_factory=list)

    def order(self, line: int, event: dict[str, Any], order: enrollments.Order) -> int:
        """Keep an enrollment for the morning's write; its place among them."""
        self.orders.append((line, event, order))
        return len(self.orders) - 1

    def deposit(self, due: DepositDue) -> None:
        self.deposits.append(due)

    def write(self, s: Session, bank: Bank) -> list[enrollments.Enrolled | None]:
        """The morning's enrollments, then its deposits; what each enrollment made (None if
        refused), in order."""
        made = self._enroll(s) if self.orders else []
        if self.deposits:
            self._pay(s, bank, made)
        self.orders, self.deposits = [], []
        return made

    def _enroll(self, s: Session) -> list[enrollments.Enrolled | None]:
        orders = [o for _, _, o in self.orders]
        try:
            with s.begin_nested():
                out = enrollments.create_many(s, orders, settings=self.settings)
        except ledger.LedgerError:
            out = [self._enroll_alone(s, o) for o in orders]
        made: list[enrollments.Enrolled | None] = []
        for (line, event, _), result in zip(self.orders, out, strict=True):
            if isinstance(result, DomainError):
                self.skipped(line, event, result)
                made.append(None)
            else:
                made.append(result)
        return made

    def _enroll_alone(self, s: Session, o: enrollments.Order) -> enrollments.Enrolled | DomainError:
        try:
            with s.begin_nested():
                return enrollments.create_many(s, [o], settings=self.settings)[0]
        except ledger.LedgerError as exc:
            return DomainError("ledger_refused", str(exc))

    def _pay(self, s: Session, bank: Bank, made: list[enrollments.Enrolled | None]) -> None:
        due: list[DepositDue] = []
        for d in self.deposits:
            try:
                due.append(_with_reference(d, made))
            except Unknown as exc:
                self.skipped(d.line, d.event, exc)
        if not due:
            return
        items = [d.item for d in due]
        try:
            with s.begin_nested():
                out = deposits.receive_many(
                    s, bank=bank, items=items, now=items[-1].paid_at,
                    received=[i.paid_at for i in items], limit=self.settings.max_deposit_amount,
                )  # fmt: skip
        except (DomainError, ledger.LedgerError):
            out = [_receive_alone(s, bank, i, self.settings.max_deposit_amount) for i in items]
        for d, result in zip(due, out, strict=True):
            if isinstance(result, DomainError):
                self.skipped(d.line, d.event, result)


def _with_reference(d: DepositDue, made: list[enrollments.Enrolled | None]) -> DepositDue:
    found = [made[i] for i in d.morning if made[i] is not None]
    if not found:
        if d.item.payment_reference:
            return d
        raise Unknown(f"unknown enrollment {d.event.get('enrollment')!r}")
    paid = found[-1]
    assert paid is not None
    item = replace(d.item, payment_reference=paid.enrollment.payment_reference)
    return replace(d, item=item)


def _receive_alone(
    s: Session, bank: Bank, item: deposits.DepositIn, limit: Decimal
) -> deposits.Outcome:
    try:
        with s.begin_nested():
            return deposits.receive(s, bank=bank, now=item.paid_at, data=item, limit=limit)
    except DomainError as exc:
        return exc
    except ledger.LedgerError as exc:
        return DomainError("ledger_refused", str(exc))
