"""A use case checks its own decision (issue 31, one path): a decision outside its enum is
refused with `invalid_choice` whoever calls it (a tool, a job, a page), and nothing moves — the
typo that fell into the branch that pays (`refunds.respond` paid on anything but "dispute",
`refunds.decide` denied on anything but "approve", `consumptions.decide` returned money on
anything but "uphold", `set_status` took any string) is gone. On both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from service.api.institution.schemas import RespondIn
from service.api.regulator.schemas import ConsumptionDecisionIn, RefundDecisionIn
from service.errors import DomainError
from service.flows import consumptions, refunds
from service.flows.models import Consumption, Instruction, Refund
from service.kit.choices import choose
from service.kit.db import make_sessionmaker
from service.registry import institutions
from service.registry.models import AuditEvent, Institution, InstitutionStatus, Regulator
from tests.api.conftest import bearer
from tests.api.test_flows import START, World, world  # noqa: F401 - the fixture

TYPOS = ["aprove", "Approve", "APPROVE", "accept ", "Dispute", "", "deny\x00", "uphold\n", "1"]


def _state(engine: Engine, w: World) -> tuple[Any, ...]:
    """Everything a decision could move: the refunds' and lessons' statuses, the
    instructions, the audit trail and the institution's balances."""
    balances = w.balances()  # before a session of our own (SQLite: one writer at a time)
    with make_sessionmaker(engine)() as s:
        return (
            sorted(s.execute(select(Refund.id, Refund.status)).all()),
            sorted(s.execute(select(Consumption.id, Consumption.status)).all()),
            s.scalar(select(func.count()).select_from(Instruction)),
            s.scalar(select(func.count()).select_from(AuditEvent)),
            sorted(s.execute(select(Institution.id, Institution.status)).all()),
            balances,
        )


def _refused(engine: Engine, w: World, act: Callable[[Session], object]) -> None:
    before = _state(engine, w)
    with make_sessionmaker(engine)() as session:
        with pytest.raises(DomainError) as raised:
            act(session)
        session.rollback()
    assert raised.value.code == "invalid_choice" and raised.value.status == 422
    assert _state(engine, w) == before


def test_a_decision_outside_its_enum_moves_nothing(world: World, engine: Engine) -> None:  # noqa: F811
    w = world
    e1, e2, e3 = (w.enroll(lessons=2, amount="40.00") for _ in range(3))
    for e in (e1, e2, e3):
        assert w.pay(e).status_code == 201
    requested = w.client.post("/api/v1/parent/refunds", headers=w.parent(e1), json={"reason": "a"})
    disputed = w.client.post("/api/v1/parent/refunds", headers=w.parent(e2), json={"reason": "b"})
    r = w.client.post(f"/api/v1/refunds/{disputed.json()['id']}/respond", headers=bearer(w.key),
                      json={"decision": "dispute", "reason": "given"})  # fmt: skip
    assert r.status_code == 200, r.text
    w.clock.now = START + timedelta(hours=8)
    lesson = w.consume(e3["id"], 1).json()
    r = w.client.post(f"/api/v1/parent/consumptions/{lesson['id']}/dispute",
                      headers=w.parent(e3), json={"reason": "no lesson"})  # fmt: skip
    assert r.status_code == 200, r.text
    with make_sessionmaker(engine)() as s:
        reg = s.scalars(select(Regulator).where(Regulator.region_code == "220000")).first()
        inst = s.get(Institution, w.inst_id)
        assert reg is not None and inst is not None
        s.expunge_all()
    now = w.clock.now
    for typo in TYPOS:
        _refused(engine, w, lambda s, t=typo: refunds.respond(
            s, institution=inst, refund_id=requested.json()["id"], decision=t, reason="x",
            now=now))  # type: ignore[arg-type]  # fmt: skip
        _refused(engine, w, lambda s, t=typo: refunds.decide(
            s, regulator=reg, refund_id=disputed.json()["id"], decision=t, reason="x",
            now=now))  # type: ignore[arg-type]  # fmt: skip
        _refused(engine, w, lambda s, t=typo: consumptions.decide(
            s, regulator=reg, consumption_id=lesson["id"], decision=t, reason="x",
            now=now))  # type: ignore[arg-type]  # fmt: skip
        _refused(engine, w, lambda s, t=typo: institutions.change_status(
            s, regulator=reg, institution_id=w.inst_id, status=t, reason="x",
            now=now))  # type: ignore[arg-type]  # fmt: skip
        _refused(engine, w, lambda s, t=typo: institutions.set_status(
            s, institution=s.get(Institution, w.inst_id), status=t, reason="x", actor="tool",
            now=now))  # type: ignore[arg-type]  # fmt: skip
    # The right words still work, as strings from a caller that has no enum to hand; and
    # nothing is left awaiting an answer for the next test's jobs in this region.
    with make_sessionmaker(engine).begin() as s:
        answered = refunds.respond(s, institution=inst, refund_id=requested.json()["id"],
                                   decision="dispute", reason="x", now=now)  # type: ignore[arg-type]  # fmt: skip
        assert answered.status == "disputed"
        for refund_id in (requested.json()["id"], disputed.json()["id"]):
            done = refunds.decide(s, regulator=reg, refund_id=refund_id, decision="deny",
                                  reason="x", now=now)  # type: ignore[arg-type]  # fmt: skip
            assert done.status == "denied"
        upheld = consumptions.decide(s, regulator=reg, consumption_id=lesson["id"],
                                     decision="uphold", reason="x", now=now)  # type: ignore[arg-type]  # fmt: skip
        assert upheld.status == "upheld"
    # Both kinds are audited in the one form, and a decision on what is no longer disputed is
    # refused naming its state, changing nothing (institutions.refuse_unless_disputed).
    decided = {requested.json()["id"]: "refund:deny", disputed.json()["id"]: "refund:deny",
               lesson["id"]: "consumption:uphold"}  # fmt: skip
    with make_sessionmaker(engine)() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.subject.in_(decided))).all()
        written = {(e.subject, e.action, e.actor): e.detail for e in events if ":" in e.action
                   and e.action.split(":")[1] in ("deny", "uphold")}  # fmt: skip
    assert written == {
        (subject, action, f"regulator:{reg.id}"): {
            "reason": "x", "before": "disputed", "after": action.split(":")[1]}
        for subject, action in decided.items()
    }  # fmt: skip
    again = _state(engine, w)
    for call, state in (
        (lambda s: refunds.decide(s, regulator=reg, refund_id=disputed.json()["id"],
                                  decision="approve", reason="y", now=now), "denied"),
        (lambda s: consumptions.decide(s, regulator=reg, consumption_id=lesson["id"],
                                       decision="reverse", reason="y", now=now), "upheld"),
    ):  # fmt: skip
        with make_sessionmaker(engine).begin() as s, pytest.raises(DomainError) as refused:
            call(s)
        assert refused.value.code == "invalid_state" and refused.value.extra == {"state": state}
    assert _state(engine, w) == again


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        (RespondIn.model_fields["decision"], refunds.Answer),
        (RefundDecisionIn.model_fields["decision"], refunds.Decision),
        (ConsumptionDecisionIn.model_fields["decision"], consumptions.Decision),
    ],
)
def test_the_api_offers_exactly_the_domains_decisions(field: Any, kind: type[StrEnum]) -> None:
    assert set(get_args(field.annotation)) == {m.value for m in kind}


@given(st.text(max_size=12))
def test_choose_takes_a_member_or_refuses(value: str) -> None:
    try:
        chosen = choose(InstitutionStatus, value, field="status")
    except DomainError as exc:
        assert exc.code == "invalid_choice"
        assert value not in {m.value for m in InstitutionStatus}
    else:
        assert chosen.value == value
