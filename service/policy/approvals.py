"""Four eyes: the actions a region's rule pack lists are not carried out when one person asks;
the request becomes an approval, pending, that a supervisor (or admin) of the same office or of
an office above, other than the requester, approves or rejects with a note. On approval the
action runs once, as the approver's act on the requester's request, as if asked at that moment:
its preconditions are judged again then, and a refusal then is the approval's `result`, not an
error. Approvals expire after 72 hours (judged by the service clock when decided or listed, and
marked by the `approval_expiry` job).

The actions that can wait for a second person are registered here by the domain that owns them
(`register`): a name, how to run it from its payload and how to describe in full what it will
do. Protective acts (a freeze, opening a case) are never registered: they are never delayed.
Every door to an action (API, workbench, CLI) asks through `submit`, so none skips the rule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.clock import local_date
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.policy import packs
from service.policy.rules import FOUR_EYES_ACTIONS
from service.registry import officers
from service.registry.institutions import ACTING_OFFICER, ON_REQUEST_OF, audit
from service.registry.models import Approval, Officer, Regulator
from service.registry.regions import scope_prefix

LIFETIME = timedelta(hours=72)
PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
STATUSES = (PENDING, APPROVED, REJECTED, EXPIRED)
# docs/api.md "Officers and approvals": what four eyes covers where no region's pack says
# otherwise (the national pack's `four_eyes`).
DEFAULT_FOUR_EYES = frozenset(FOUR_EYES_ACTIONS)
# Acts that protect parents' money run at once whatever a pack lists: waiting for a second
# person would only give the money time to leave.
PROTECTIVE = frozenset({"freeze", "case_open"})


def four_eyes_actions(session: Session, region_code: str, on: date) -> frozenset[str]:
    """The actions that need a second person in `region_code` on the Beijing day `on`: the
    region's rule pack `four_eyes` rule (service.policy.packs: inherited down the region tree,
    the most specific region's list winning; the national pack's is docs/api.md's default
    list, `DEFAULT_FOUR_EYES`). The one place that decides; protective acts are taken out of
    whatever it answers (`required`)."""
    return packs.four_eyes(session, region_code, on=on)


# Running an action: (session, the office it runs as, the payload, now) -> its answer as JSON.
Runner = Callable[[Session, Regulator, Mapping[str, Any], datetime], dict[str, Any]]
# Describing it: (session, the approval) -> what it will do, fact by fact.
Describer = Callable[[Session, Approval], list["Fact"]]


@dataclass(frozen=True, kw_only=True)
class Fact:
    """One line of what an approval will do: `label` a stable key the pages name in their
    language (service.pages.labels.APPROVAL_FACTS), `value` text, a code, a number, a JSON
    value, or a list of lines."""

    label: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value}


@dataclass(frozen=True, kw_only=True)
class Approvable:
    name: str
    run: Runner
    describe: Describer


_REGISTRY: dict[str, Approvable] = {}


def register(action: Approvable) -> Approvable:
    """Make an action approvable (its domain module does this when imported). Registering a
    name twice replaces it (a module reloaded in a test); a protective act is refused."""
    if action.name in PROTECTIVE:
        raise ValueError(f"{action.name} is protective: it is never delayed")
    _REGISTRY[action.name] = action
    return action


def registered() -> frozenset[str]:
    return frozenset(_REGISTRY)


def _spec(name: str) -> Approvable:
    spec = _REGISTRY.get(name)
    if spec is None:  # a stored approval of an action no longer offered: a deployment's bug
        raise LookupError(f"no approvable action {name!r} is registered")
    return spec


def required(session: Session, action: str, region_code: str, now: datetime) -> bool:
    """Whether `action` on something of `region_code` waits for a second person now."""
    if action in PROTECTIVE or action not in _REGISTRY:
        return False
    return action in four_eyes_actions(session, region_code, local_date(now))


@dataclass(frozen=True, kw_only=True)
class Done:
    """The action ran at once (no four eyes): its answer."""

    answer: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Pending:
    """The action waits for a second person."""

    approval: Approval


def submit(
    session: Session,
    *,
    action: str,
    office: Regulator,
    target: str,
    region_code: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> Done | Pending:
    """Ask for `action`: run at once where four eyes does not apply, else a pending approval.
    The request is judged as the action would be now (it is run in a savepoint and rolled
    back), so what would be refused (another region's object, a school not frozen, a bad
    value) is refused at once, not approved to fail later."""
    spec = _spec(action)
    if not required(session, action, region_code, now):
        return Done(answer=spec.run(session, office, payload, now))
    trial = session.begin_nested()
    try:
        spec.run(session, office, payload, now)
    finally:
        trial.rollback()
    return Pending(approval=request(session, action=action, office=office, target=target,
                                    region_code=region_code, payload=payload, now=now))  # fmt: skip


def request(
    session: Session,
    *,
    action: str,
    office: Regulator,
    target: str,
    region_code: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> Approval:
    """A pending approval of `action`, asked by the officer the request acts as (None: the
    office's own token). Audited."""
    _spec(action)
    officer_id = session.info.get(ACTING_OFFICER)
    approval = Approval(
        id=new_id("apr"),
        action=action,
        target=target[:80],
        payload=dict(payload),
        region_code=region_code,
        office_id=office.id,
        office_region_code=office.region_code,
        requested_by=officer_id,
        requested_at=now,
        expires_at=now + LIFETIME,
        status=PENDING,
    )
    session.add(approval)
    session.flush()
    audit(session, actor=f"regulator:{office.id}", action="approval:request",
          subject=approval.id, now=now, region_code=region_code,
          detail={"action": action, "target": target, "payload": approval.payload,
                  "expires_at": approval.expires_at.isoformat()})  # fmt: skip
    return approval


def decidable_by(office: Regulator) -> ColumnElement[bool]:
    """The approvals an office sees and decides: its own and those of the offices below it (a
    region inside its own). Another office of the same region, or one beside or below, does
    not: an officer of Siping neither sees nor decides Liaoyuan's."""
    below = and_(
        Approval.office_region_code.startswith(scope_prefix(office.region_code)),
        Approval.office_region_code != office.region_code,
    )
    return or_(Approval.office_id == office.id, below)


def status_of(approval: Approval, now: datetime) -> str:
    """Its status as of now: a pending one past its expiry is expired, marked or not yet."""
    if approval.status == PENDING and approval.expires_at <= now:
        return EXPIRED
    return approval.status


def listed(
    session: Session, *, office: Regulator, status: str | None, now: datetime, paging: Paging
) -> Paged[Approval]:
    """The office's approvals (its own and its offices' below), oldest first, by status as of
    now."""
    stmt = select(Approval).where(decidable_by(office))
    if status == PENDING:
        stmt = stmt.where(Approval.status == PENDING, Approval.expires_at > now)
    elif status == EXPIRED:
        stmt = stmt.where(
            or_(Approval.status == EXPIRED,
                and_(Approval.status == PENDING, Approval.expires_at <= now))
        )  # fmt: skip
    elif status is not None:
        stmt = stmt.where(Approval.status == status)
    return page_rows(session, stmt, Approval.id, paging)


def pending_count(session: Session, *, office: Regulator, now: datetime) -> int:
    stmt = select(func.count()).where(
        decidable_by(office), Approval.status == PENDING, Approval.expires_at > now
    )
    return int(session.scalar(stmt) or 0)


def in_office_scope(session: Session, office: Regulator, approval_id: str) -> Approval:
    """The approval if the office sees it; 404 otherwise (its existence is not revealed)."""
    found = session.scalar(select(Approval).where(Approval.id == approval_id, decidable_by(office)))
    if found is None:
        raise DomainError("not_found", f"no approval {approval_id} for your office")
    return found


def describe(session: Session, approval: Approval) -> list[Fact]:
    return _spec(approval.action).describe(session, approval)


def may_decide(officer: Officer | None) -> Officer:
    """The person, if their role approves (a supervisor or an admin); the office's own token
    and every other role may request but never decide: 403 `role_cannot_approve`."""
    if officer is None or not officers.may(officer.role, officers.Permission.APPROVE):
        who = f"the role {officer.role}" if officer is not None else "the office's own token"
        raise DomainError("role_cannot_approve", f"{who} may request but not approve")
    return officer


@dataclass(frozen=True, kw_only=True)
class Decided:
    approval: Approval
    result: dict[str, Any] | None


def decide(
    session: Session,
    *,
    office: Regulator,
    officer: Officer | None,
    approval_id: str,
    approve: bool,
    note: str,
    now: datetime,
) -> Decided:
    """Approve (the action runs, once) or reject a pending approval. Only a person whose role
    approves (a supervisor or an admin; never the office's own token), of the requesting office
    or one above, other than the requester. Two deciding at once: the conditional update lets
    exactly one through (the other waits on the row, then finds it decided)."""
    # The role first: whoever may not decide is told so for any id, theirs or not (nothing
    # about another office's requests is revealed either way).
    officer = may_decide(officer)
    approval = in_office_scope(session, office, approval_id)
    if approval.requested_by == officer.id:
        raise DomainError("approval_by_requester", "a request is decided by another person")
    _still_pending(approval, now)
    status = APPROVED if approve else REJECTED
    outcome = session.execute(
        update(Approval)
        .where(Approval.id == approval.id, Approval.status == PENDING, Approval.expires_at > now)
        .values(status=status, decided_by=officer.id, decided_at=now, note=note)
        .execution_options(synchronize_session=False)
    )
    won = cast("CursorResult[Any]", outcome).rowcount
    session.refresh(approval)
    if won != 1:  # someone decided it between our read and our update
        _still_pending(approval, now)
        raise DomainError("approval_decided", f"the approval is {approval.status} already")
    result = _run(session, office, approval, now) if approve else None
    approval.result = result
    requester = approval.requested_by or f"regulator:{approval.office_id}"
    audit(session, actor=f"regulator:{office.id}", action=f"approval:{status}",
          subject=approval.id, now=now, region_code=approval.region_code,
          detail={"action": approval.action, "target": approval.target,
                  "requested_by": requester, "decided_by": officer.id, "note": note,
                  "ok": None if result is None else result["ok"]})  # fmt: skip
    session.flush()
    return Decided(approval=approval, result=result)


def _still_pending(approval: Approval, now: datetime) -> None:
    current = status_of(approval, now)
    if current == EXPIRED:
        raise DomainError("approval_expired", f"the approval expired at {approval.expires_at}")
    if current != PENDING:
        raise DomainError("approval_decided", f"the approval is {current} already")


def _run(session: Session, office: Regulator, approval: Approval, now: datetime) -> dict[str, Any]:
    """The action, as the approver's office and person, on the requester's request, as if
    asked now. A refusal now (the school was closed meanwhile, the day has passed) is the
    result, and the action leaves nothing behind: it ran in a savepoint."""
    spec = _spec(approval.action)
    session.info[ON_REQUEST_OF] = {
        "approval_id": approval.id,
        "requested_by": approval.requested_by or f"regulator:{approval.office_id}",
    }
    try:
        with session.begin_nested():
            answer = spec.run(session, office, approval.payload, now)
    except DomainError as exc:
        return {"ok": False, "code": exc.code, "detail": exc.detail}
    finally:
        session.info.pop(ON_REQUEST_OF, None)
    return {"ok": True, "answer": answer}


def expire_due(session: Session, *, now: datetime) -> int:
    """Mark expired every pending approval past its 72 hours (the `approval_expiry` job);
    how many. Judged by the service clock."""
    due = list(
        session.scalars(
            select(Approval).where(Approval.status == PENDING, Approval.expires_at <= now)
        )
    )
    for a in due:
        a.status = EXPIRED
        audit(session, actor="job:approval_expiry", action="approval:expired", subject=a.id,
              now=now, region_code=a.region_code,
              detail={"action": a.action, "target": a.target})  # fmt: skip
    session.flush()
    return len(due)


def requester_label(approval: Approval) -> str:
    """Who asked, as the audit log names actors: an officer's id, else the office's."""
    return approval.requested_by or f"regulator:{approval.office_id}"
