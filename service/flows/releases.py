"""`release_batch`: one instruction per institution per run, releasing the fees of lessons
whose confirmation window has passed and that nobody disputed.

Judged as the clock read `as_of` (never later than now: see `service.jobs.runner.check_as_of`), so a
run for a past instant releases only what a run at that instant would have, and recorded at
`now`: the instruction and its ledger hold are made when they are made."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.flows import instructions
from service.flows.models import Consumption, Instruction
from service.kit.db import update_many
from service.registry.models import Institution


def release_batch(
    session: Session, *, as_of: datetime, now: datetime, region_prefix: str | None = None
) -> dict[str, Any]:
    """One release instruction per active institution in scope, for its lessons due by
    `as_of`: read for every institution at once through the index of unreleased lessons, so
    a run costs what is due, never the lessons released before."""
    scope = select(Institution.id).where(Institution.status == "active")
    if region_prefix is not None:
        scope = scope.where(Institution.region_code.startswith(region_prefix))
    due: dict[str, list[tuple[str, Decimal]]] = {}
    for inst_id, c_id, amount in session.execute(
        select(Consumption.institution_id, Consumption.id, Consumption.amount)
        .where(
            Consumption.release_instruction_id.is_(None),
            Consumption.status.in_(("pending", "upheld")),
            Consumption.confirm_until <= as_of,
            Consumption.reported_at <= as_of,
            Consumption.institution_id.in_(scope.scalar_subquery()),
        )
        .order_by(Consumption.institution_id, Consumption.id)
        .with_for_update()
    ):
        due.setdefault(inst_id, []).append((c_id, amount))
    insts = sorted(
        session.scalars(select(Institution).where(Institution.id.in_(list(due)))),
        key=lambda i: i.id,
    )
    payable = [i for i in insts if _total(due[i.id]) > 0 and i.operating_account_no]
    orders = [
        instructions.Order(
            institution=inst,
            purpose="release",
            kind="release",
            subject_id=None,
            debit_kind_or_account="earned",
            amount=_total(due[inst.id]),
            payee={"account_no": inst.operating_account_no},
        )
        for inst in payable
    ]
    # One instruction per institution, their holds in one ledger batch.
    made = instructions.create_many(session, orders, now=now) if orders else []
    update_many(
        session,
        _CONSUMPTIONS,
        [{"id": c, "release_instruction_id": ins.id}
         for ins in made for c, _ in due[ins.institution_id]],
    )  # fmt: skip
    session.flush()
    return {
        "instructions": len(made),
        "amount": f"{sum((o.amount for o in orders), Decimal('0.00')):.2f}",
        "frozen_skipped": _frozen(session, region_prefix),
    }


_CONSUMPTIONS = Consumption.metadata.tables[Consumption.__tablename__]


def _total(due: list[tuple[str, Decimal]]) -> Decimal:
    return sum((a for _, a in due), Decimal("0.00"))


def _frozen(session: Session, region_prefix: str | None) -> int:
    """Frozen institutions in scope: nothing is released to them."""
    stmt = select(func.count()).where(Institution.status == "frozen")
    if region_prefix is not None:
        stmt = stmt.where(Institution.region_code.startswith(region_prefix))
    return int(session.scalar(stmt) or 0)


def on_paid(session: Session, ins: Instruction, now: datetime) -> None:
    """The fees reached the institution: the ledger's posting is all there is to it."""


def on_rejected(session: Session, ins: Instruction, now: datetime) -> None:
    """The lessons become releasable again on the next run."""
    session.execute(
        update(Consumption)
        .where(Consumption.release_instruction_id == ins.id)
        .values(release_instruction_id=None)
    )
