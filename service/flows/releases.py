"""`release_batch`: one instruction per institution per run, releasing the fees of lessons
whose confirmation window has passed and that nobody disputed, as far as the region's pack
allows (its cadence, complaints, minimum balance and payout cap: service.flows.release_rules).

Judged as the clock read `as_of` (never later than now: see `service.jobs.runner.check_as_of`), so a
run for a past instant releases only what a run at that instant would have, and recorded at
`now`: the instruction and its ledger hold are made when they are made."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.fees.working_days import add_working_days_at
from service.flows import instructions
from service.flows.balances import institution_balances
from service.flows.models import Complaint, Consumption, Enrollment, Instruction
from service.flows.release_rules import Due, Facts, needs_facts, releasable
from service.kit.clock import local_date, start_of_local_day
from service.kit.db import update_many
from service.policy import packs
from service.registry.models import Institution


def release_batch(
    session: Session, *, as_of: datetime, now: datetime, region_prefix: str | None = None
) -> dict[str, Any]:
    """One release instruction per active institution in scope, for its lessons due by
    `as_of`: read for every institution at once through the index of unreleased lessons, so
    a run costs what is due, never the lessons released before."""
    due = _due_lessons(session, as_of, region_prefix)
    insts = sorted(
        session.scalars(select(Institution).where(Institution.id.in_(list(due)))),
        key=lambda i: i.id,
    )
    for inst in insts:
        due[inst.id] = _by_pack(session, inst, due[inst.id], as_of)
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
        [{"id": d.id, "release_instruction_id": ins.id}
         for ins in made for d in due[ins.institution_id]],
    )  # fmt: skip
    session.flush()
    return {
        "instructions": len(made),
        "amount": f"{sum((o.amount for o in orders), Decimal('0.00')):.2f}",
        "frozen_skipped": _frozen(session, region_prefix),
    }


def _due_lessons(
    session: Session, as_of: datetime, region_prefix: str | None
) -> dict[str, list[Due]]:
    """Every active institution's lessons past their confirmation window by `as_of`, locked,
    read at once through the index of unreleased lessons."""
    scope = select(Institution.id).where(Institution.status == "active")
    if region_prefix is not None:
        scope = scope.where(Institution.region_code.startswith(region_prefix))
    due: dict[str, list[Due]] = {}
    for inst_id, c_id, amount, e_id, reported_at in session.execute(
        select(
            Consumption.institution_id,
            Consumption.id,
            Consumption.amount,
            Consumption.enrollment_id,
            Consumption.reported_at,
        )
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
        due.setdefault(inst_id, []).append(
            Due(id=c_id, enrollment_id=e_id, amount=amount, reported_at=reported_at)
        )
    return due


def _by_pack(session: Session, inst: Institution, due: list[Due], as_of: datetime) -> list[Due]:
    """What the institution's rule pack of the day lets go of `due` (its cadence, minimum
    balance, payout cap, complaint hold); facts are read only where the pack asks for them."""
    pack = packs.resolve(session, inst.region_code, packs.sector_of(inst.category),
                         on=local_date(as_of))  # fmt: skip
    if needs_facts(pack.values):
        facts = _facts(session, inst, due, as_of)
        return releasable(pack.values, due, facts, as_of=as_of, order_end=_working_days_after)
    if pack.values.release_cadence.mode == "weekly":
        return releasable(pack.values, due, Facts(), as_of=as_of, order_end=_working_days_after)
    return due


_CONSUMPTIONS = Consumption.metadata.tables[Consumption.__tablename__]


def _total(due: list[Due]) -> Decimal:
    return sum((d.amount for d in due), Decimal("0.00"))


def _working_days_after(at: datetime, n: int) -> datetime:
    return add_working_days_at(at, n).at


def _facts(session: Session, inst: Institution, due: list[Due], as_of: datetime) -> Facts:
    """What the pack's rules beyond the per-lesson cadence read of one institution."""
    complained = set(
        session.scalars(
            select(Complaint.enrollment_id).where(
                Complaint.institution_id == inst.id,
                Complaint.handled_at.is_(None),
                Complaint.created_at <= as_of,
            )
        )
    )
    enrolled = {d.enrollment_id for d in due}
    finished = set(
        session.scalars(
            select(Enrollment.id).where(
                Enrollment.id.in_(enrolled), Enrollment.status.in_(("completed", "refunded"))
            )
        )
    )
    owed = session.scalar(
        select(func.coalesce(func.sum(Enrollment.amount_paid - Enrollment.amount_refunded), 0))
        .where(Enrollment.institution_id == inst.id, Enrollment.status == "active")
    )  # fmt: skip
    month_start = start_of_local_day(local_date(as_of).replace(day=1))
    released = session.scalar(
        select(func.coalesce(func.sum(Instruction.amount), 0)).where(
            Instruction.institution_id == inst.id,
            Instruction.kind == "release",
            Instruction.status != "rejected",
            Instruction.created_at >= month_start,
        )
    )
    balances = institution_balances(session.connection(), inst.id, as_of=as_of)
    return Facts(
        complained=complained,
        finished=finished,
        escrow=balances.escrow - balances.suspense,
        owed=Decimal(owed or 0),
        released_this_month=Decimal(released or 0),
    )


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
