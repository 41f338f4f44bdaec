"""`release_batch`: one instruction per institution per run, releasing the fees of lessons
whose confirmation window has passed and that nobody disputed.

Judged as the clock read `as_of` (never later than now: see `service.jobs.runner.check_as_of`), so a
run for a past instant releases only what a run at that instant would have, and recorded at
`now`: the instruction and its ledger hold are made when they are made."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.flows import instructions
from service.flows.models import Consumption, Instruction
from service.registry.models import Institution


def release_batch(
    session: Session, *, as_of: datetime, now: datetime, region_prefix: str | None = None
) -> dict[str, Any]:
    released, skipped_frozen, amount_total = 0, 0, Decimal("0.00")
    scope = select(Institution).where(Institution.status.in_(("active", "frozen")))
    if region_prefix is not None:
        scope = scope.where(Institution.region_code.startswith(region_prefix))
    for inst in session.scalars(scope.order_by(Institution.id)):
        if inst.status == "frozen":
            skipped_frozen += 1
            continue
        if not inst.operating_account_no:
            continue
        due = list(
            session.scalars(
                select(Consumption)
                .where(
                    Consumption.institution_id == inst.id,
                    Consumption.status.in_(("pending", "upheld")),
                    Consumption.release_instruction_id.is_(None),
                    Consumption.confirm_until <= as_of,
                    Consumption.reported_at <= as_of,
                )
                .order_by(Consumption.id)
                .with_for_update()
            )
        )
        amount = sum((c.amount for c in due), Decimal("0.00"))
        if amount <= 0:
            continue
        ins = instructions.create(
            session,
            institution=inst,
            purpose="release",
            kind="release",
            subject_id=None,
            debit_kind_or_account="earned",
            amount=amount,
            payee={"account_no": inst.operating_account_no},
            now=now,
        )
        for c in due:
            c.release_instruction_id = ins.id
        released += 1
        amount_total += amount
    session.flush()
    return {
        "instructions": released,
        "amount": f"{amount_total:.2f}",
        "frozen_skipped": skipped_frozen,
    }


def on_paid(session: Session, ins: Instruction, now: datetime) -> None:
    """The fees reached the institution: the ledger's posting is all there is to it."""


def on_rejected(session: Session, ins: Instruction, now: datetime) -> None:
    """The lessons become releasable again on the next run."""
    session.execute(
        update(Consumption)
        .where(Consumption.release_instruction_id == ins.id)
        .values(release_instruction_id=None)
    )
