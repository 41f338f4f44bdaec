"""Replaying a recorded history (docs/backtest.md) through the live service's domain code.

Each event is applied with its own `at` as the clock, in its own transaction; a line that
cannot be applied is reported with its line number and skipped. At the end of every Beijing day
the bank settles what it would have settled and sends its statements, through the use cases
the bank's API calls (a rejected payment or an alarming statement re-evaluates its institution
at once, as there), and every job of the catalogue runs in the scheduler's order
(`service.jobs.runner.run_day`) as if the clock read 23:59:59.999999 that day; then each
institution's level is written. Each event goes through the use case its API route calls.
"""

from __future__ import annotations

import gc
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import IO, Any, TypeVar, cast

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import ledger
from service.config import Settings
from service.errors import DomainError
from service.fees import filings, guides
from service.flows import (
    consumptions,
    deposits,
    enrollments,
    onboarding,
    parents,
    refunds,
    settlement,
)
from service.flows import statements as stmts
from service.flows.models import Consumption, Deposit, Enrollment, Instruction, Refund
from service.jobs.runner import run_day
from service.kit.clock import end_of_local_day, local_date, start_of_local_day
from service.kit.db import refresh_statistics, session_scope
from service.kit.ids import new_id
from service.kit.money import parse_instant, parse_money
from service.registry import closures
from service.registry import institutions as registry
from service.registry.credentials import create_bank
from service.registry.identifiers import make_credit_code
from service.registry.models import Bank, Institution, Regulator
from service.risk import triggers
from service.risk.models import RiskEvaluation
from tools.morning import DepositDue, Morning

ZERO = Decimal("0.00")
_Held = TypeVar("_Held", Institution, Bank, Regulator)


class Skip(Exception):
    """This line cannot be applied; say why and go on."""


@dataclass
class Replay:
    sessions: sessionmaker[Session]
    settings: Settings
    out: IO[str]
    err: IO[str] = sys.stderr
    default_statements: bool = True
    bank_id: str = ""
    ids: dict[str, dict[str, str]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # kind → label → id
    stolen: dict[str, list[tuple[str, Decimal, datetime]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    explicit_statements: set[str] = field(default_factory=set)
    rejected_releases: set[str] = field(default_factory=set)
    # The enrollments and deposits read since the last event of another kind (tools/morning).
    morning: Morning | None = None
    morning_labels: dict[str, list[int]] = field(default_factory=dict)  # label → places
    references: dict[str, str] = field(default_factory=dict)  # enrollment id → its reference
    course_owners: dict[str, str] = field(default_factory=dict)  # course id → institution id
    counter: int = 0
    events: int = 0
    skipped: int = 0
    days: int = 0
    on_day: Callable[[int], None] | None = None  # told each day replayed
    # A region kept to be served (the demo) gives its own bank and province regulator.
    regulator_id: str = ""
    access_codes: dict[str, str] = field(default_factory=dict)  # enrollment id → code

    # ---------------------------------------------------------------- the run
    def run(self, lines: Iterable[str]) -> dict[str, int]:
        with _fewer_collections():
            return self._run(lines)

    def _run(self, lines: Iterable[str]) -> dict[str, int]:
        if not self.bank_id:
            self._own_bank()
        self.morning = Morning(self.settings, self._skipped)
        current: date | None = None
        # A day's events in one transaction, each in a savepoint of its own: an event the
        # domain refuses changes nothing, and a day costs one commit, not one per event.
        # Lessons reported at the same instant (a class's lesson, a Friday's reports) go to the
        # domain as one batch, each judged as if reported alone in the file's order; so do
        # the deposits between two events of other kinds than deposits and enrollments.
        lessons: list[tuple[int, dict[str, Any]]] = []
        s = self.sessions()
        try:
            for number, event in self._parse(lines):
                at: datetime = event["_at"]
                if lessons and at != lessons[0][1]["_at"]:
                    self._apply_lessons(s, lessons)
                    lessons = []
                if event["type"] not in _MORNING:
                    self._write_morning(s)
                day = local_date(at)
                if current is not None and current < day:
                    self._write_morning(s)
                    s.commit()
                while current is not None and current < day:
                    self.end_of_day(current)
                    current += timedelta(days=1)
                current = current or day
                self.events += 1
                if event["type"] == "consumption":
                    lessons.append((number, event))
                else:
                    if lessons:
                        self._apply_lessons(s, lessons)
                        lessons = []
                    self._apply_one(s, number, event, at)
            self._apply_lessons(s, lessons)
            self._write_morning(s)
            s.commit()
        finally:
            s.close()
        if current is not None:
            self.end_of_day(current)
        summary = {
            "days": self.days,
            "institutions": len(self.ids["institution"]),
            "events": self.events,
            "skipped": self.skipped,
        }
        self.out.write(json.dumps({"summary": summary}) + "\n")
        return summary

    def _own_bank(self) -> None:
        with session_scope(self.sessions) as s:
            self.bank_id = create_bank(
                s,
                name="backtest bank",
                code=f"BT{new_id('x')[-8:]}",
                instruction_url=None,
                secret_key=self.settings.secret_key,
                now=datetime(2000, 1, 1).astimezone(),
            ).id

    def _apply_one(self, s: Session, number: int, event: dict[str, Any], at: datetime) -> None:
        try:
            with s.begin_nested():
                self.apply(s, event, at)
        except (Skip, DomainError, KeyError, ValueError, InvalidOperation, ValidationError) as exc:
            self._skipped(number, event, exc)

    def _skipped(self, number: int, event: dict[str, Any], exc: Exception) -> None:
        self.skipped += 1
        reason = exc.detail if isinstance(exc, DomainError) else str(exc)
        code = f"{exc.code}: " if isinstance(exc, DomainError) else ""
        print(f"line {number}: {event.get('type')} skipped: {code}{reason}", file=self.err)

    def _apply_lessons(self, s: Session, lines: list[tuple[int, dict[str, Any]]]) -> None:
        """Consumption lines of one instant: one `report_classes` for every institution's.
        Should the ledger refuse it, each institution's class is reported alone, and then,
        if need be, each line."""
        if not lines:
            return
        at: datetime = lines[0][1]["_at"]
        named: dict[int, str] = {}
        for number, event in lines:
            try:
                named[number] = self._id("enrollment", event["enrollment"])
            except (Skip, KeyError) as exc:
                self._skipped(number, event, exc)
        owners = dict(
            s.execute(
                select(Enrollment.id, Enrollment.institution_id).where(
                    Enrollment.id.in_(set(named.values()))
                )
            )
            .tuples()
            .all()
        )
        by_inst: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for number, event in lines:
            if number in named:
                by_inst[owners[named[number]]].append((number, event))
        classes = {}
        for inst_id, mine in by_inst.items():
            try:
                classes[inst_id] = [
                    consumptions.LessonReport(
                        enrollment_id=named[n], lessons=int(e["lessons"]), occurred_at=at
                    )
                    for n, e in mine
                ]
            except (ValueError, TypeError, KeyError):
                for number, event in mine:
                    self._apply_one(s, number, event, at)
        try:
            with s.begin_nested():
                out = consumptions.report_classes(
                    s, classes=[(self._institution(s, i), c) for i, c in classes.items()], now=at
                )
        except (DomainError, ledger.LedgerError):
            for inst_id in classes:  # one class at a time, and if need be one line
                self._report(s, inst_id, by_inst[inst_id], named, at)
            return
        for inst_id, results in zip(classes, out, strict=True):
            for (number, event), result in zip(by_inst[inst_id], results, strict=True):
                if isinstance(result, DomainError):
                    self._skipped(number, event, result)

    def _institution(self, s: Session, inst_id: str) -> Institution:
        inst = self._held(s, Institution, inst_id)
        assert inst is not None
        return inst

    def _report(
        self,
        s: Session,
        inst_id: str,
        lines: list[tuple[int, dict[str, Any]]],
        named: dict[int, str],
        at: datetime,
    ) -> None:
        inst = self._institution(s, inst_id)
        try:
            items = [
                consumptions.LessonReport(
                    enrollment_id=named[n], lessons=int(e["lessons"]), occurred_at=at
                )
                for n, e in lines
            ]
            with s.begin_nested():
                out = consumptions.report_many(s, institution=inst, items=items, now=at)
        except (DomainError, ValueError, TypeError, KeyError, ledger.LedgerError):
            for number, event in lines:
                self._apply_one(s, number, event, at)
            return
        for (number, event), result in zip(lines, out, strict=True):
            if isinstance(result, DomainError):
                self._skipped(number, event, result)

    def _parse(self, lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                event["_at"] = _instant(event["at"])
                event["type"]
            except (ValueError, KeyError, TypeError) as exc:
                self.skipped += 1
                print(f"line {number}: unreadable: {exc}", file=self.err)
                continue
            event["_line"] = number
            yield number, event

    # ---------------------------------------------------------------- events
    def apply(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        handler: Callable[[Session, dict[str, Any], datetime], None] | None = getattr(
            self, f"on_{e['type']}", None
        )
        if handler is None:
            raise Skip(f"unknown event type {e['type']!r}")
        handler(s, e, at)

    def _id(self, kind: str, label: Any) -> str:
        found = self.ids[kind].get(str(label))
        if found is None:
            raise Skip(f"unknown {kind} {label!r}")
        return found

    @staticmethod
    def _held(s: Session, model: type[_Held], key: str) -> _Held | None:
        """`s.get`, with the row kept for the session's life: its identity map holds objects
        weakly, so an institution or the bank no longer referenced was read again by every
        event that named it (one query in twelve of the replay). Kept objects still expire at
        each commit and at a savepoint's rollback, and are then read again as `get` would."""
        held: dict[tuple[type[Any], str], Any] = s.info.setdefault("held", {})
        found = held.get((model, key))
        if found is None:
            found = held[(model, key)] = s.get(model, key)
        return cast(_Held | None, found)

    def _inst(self, s: Session, label: Any) -> Institution:
        inst = self._held(s, Institution, self._id("institution", label))
        assert inst is not None
        return inst

    def on_price_guide(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        """The guide as any publisher's: the same checks, audited (by the backtest)."""
        items = [{"grade_band": "any", "class_size_max": None, **i} for i in e["items"]]
        fields = {k: e[k] for k in ("region_code", "effective_from", "source") if k in e}
        draft = guides.GuideDraft.model_validate({**fields, "items": items})
        by = guides.Publisher(actor="service:backtest", via="backtest")
        guides.publish_guide(s, by=by, draft=draft, existing="supersede", now=at)

    def on_institution(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        if str(e["id"]) in self.ids["institution"]:
            raise Skip(f"institution {e['id']!r} twice")
        region = e["region_code"]
        reg = self._regulator(s, region, at)
        self.counter += 1
        n = self.counter
        inst, _ = onboarding.register_institution(
            s,
            regulator=reg,
            now=at,
            data=registry.NewInstitution(
                name=str(e.get("name") or e["id"]),
                credit_code=make_credit_code("52", region, f"BT{n:06d}"),
                region_code=region,
                category=e.get("category", "subject"),
                supervision_mode=e.get("supervision_mode", "custody"),
                bank_id=self.bank_id,
                # A history may name the accounts (the demo's look like a bank's).
                escrow_account_no=str(e.get("escrow_account_no") or f"BT-ESC-{n:08d}"),
                operating_account_no=str(e.get("operating_account_no") or f"BT-OPR-{n:08d}"),
                reserve_account_no=f"BT-RSV-{n:08d}"
                if e.get("supervision_mode") == "reserve"
                else None,
                legal_person=str(e["legal_person"]) if e.get("legal_person") else None,
                address=str(e["address"]) if e.get("address") else None,
                sponsor=str(e["sponsor"])[:200] if e.get("sponsor") else None,
            ),
        )
        self.ids["institution"][str(e["id"])] = inst.id

    def _regulator(self, s: Session, region: str, at: datetime) -> Regulator:
        """The province's regulator the history's institutions are registered and supervised
        by: the one given (a region kept to be served), else the replay's own."""
        province = region[:2] + "0000"
        reg = (
            self._held(s, Regulator, self.regulator_id)
            if self.regulator_id
            else s.scalar(
                select(Regulator).where(
                    Regulator.region_code == province, Regulator.name == "backtest"
                )
            )
        )
        if reg is None:
            reg = Regulator(
                id=new_id("reg"),
                name="backtest",
                region_code=province,
                token_hash=new_id("t"),
                created_at=at,
            )
            s.add(reg)
            s.flush()
        return reg

    def on_course(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        inst = self._inst(s, e["institution"])
        sessions = tuple((_instant(x["starts_at"]), _instant(x["ends_at"])) for x in e["sessions"])
        data = filings.CourseData(
            title=str(e.get("title", e["id"])),
            subject=str(e.get("subject", "general")),
            category=e.get("category", inst.category),
            grade_band=e["grade_band"],
            mode=e["mode"],
            class_size=int(e["class_size"]),
            lesson_minutes=int(e["lesson_minutes"]),
            lessons_total=len(sessions),
            price_per_lesson=parse_money(e["price_per_lesson"]),
            list_price_per_lesson=parse_money(e["list_price_per_lesson"])
            if e.get("list_price_per_lesson")
            else None,
            sessions=sessions,
        )
        course = filings.file_course(s, institution=inst, data=data, now=at)
        if course.status != "approved":
            rules = ", ".join(sorted({v["rule"] for v in course.violations}))
            raise Skip(f"course {e['id']!r} rejected: {rules}")
        self.ids["course"][str(e["id"])] = course.id
        self.course_owners[course.id] = inst.id

    def on_enrollment(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        """Read now, made with the rest of the morning (tools/morning)."""
        course_id = self._id("course", e["course"])
        inst = self._institution(s, self.course_owners.get(course_id) or self._owner(s, course_id))
        student = str(e.get("student") or e["id"])  # the line's label when it names nobody
        order = enrollments.Order(
            institution=inst,
            course_id=course_id,
            student_ref=student,
            lessons=int(e["lessons"]),
            amount=parse_money(e["amount"]),
            at=at,
        )
        assert self.morning is not None
        place = self.morning.order(e["_line"], e, order)
        self.morning_labels.setdefault(str(e["id"]), []).append(place)

    @staticmethod
    def _owner(s: Session, course_id: str) -> str:
        from service.fees.models import Course

        course = s.get(Course, course_id)
        assert course is not None
        return course.institution_id

    def on_deposit(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        """Read now, against the lines before it (an enrollment named before it is made is
        unknown), and paid with the rest of the morning, at its own instant."""
        inst = self._inst(s, e["institution"])
        reference, morning = "UNMATCHED", tuple[int, ...]()
        if e.get("enrollment") is not None:
            label = str(e["enrollment"])
            morning = tuple(self.morning_labels.get(label, ()))
            known = self.ids["enrollment"].get(label)
            if known is None and not morning:
                raise Skip(f"unknown enrollment {label!r}")
            reference = "" if known is None else self._reference(s, known)
        item = deposits.DepositIn(
            bank_txn_id=str(e["bank_txn_id"]),
            account_no=inst.escrow_account_no,
            payment_reference=reference,
            amount=parse_money(e["amount"]),
            paid_at=at,
        )
        assert self.morning is not None
        self.morning.deposit(DepositDue(e["_line"], e, item, morning))

    def _reference(self, s: Session, enrollment_id: str) -> str:
        found = self.references.get(enrollment_id)
        if found is None:
            enr = s.get(Enrollment, enrollment_id)
            assert enr is not None
            found = enr.payment_reference
        return found

    def _write_morning(self, s: Session) -> None:
        """The morning's enrollments and deposits, written; its enrollments' labels named."""
        assert self.morning is not None
        if not (self.morning.orders or self.morning.deposits):
            return
        orders = self.morning.orders
        bank = self._held(s, Bank, self.bank_id)
        assert bank is not None
        made = self.morning.write(s, bank)
        for (_, event, _), enrolled in zip(orders, made, strict=True):
            if enrolled is not None:
                enr = enrolled.enrollment
                self.ids["enrollment"][str(event["id"])] = enr.id
                self.access_codes[enr.id] = enrolled.access_code
                self.references[enr.id] = enr.payment_reference
        self.morning_labels.clear()

    def on_reserve_deposit(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        """Money paid into a reserve-mode institution's reserve account."""
        inst = self._inst(s, e["institution"])
        if not inst.reserve_account_no:
            raise Skip(f"institution {e['institution']!r} has no reserve account")
        self._receive(s, e, inst.reserve_account_no, "RESERVE", at)

    def _receive(
        self, s: Session, e: dict[str, Any], account_no: str, reference: str, at: datetime
    ) -> None:
        """The bank reports the event's money paid into a supervised account."""
        bank = self._held(s, Bank, self.bank_id)
        assert bank is not None
        item = deposits.DepositIn(
            bank_txn_id=str(e["bank_txn_id"]),
            account_no=account_no,
            payment_reference=reference,
            amount=parse_money(e["amount"]),
            paid_at=at,
        )
        deposits.receive(s, bank=bank, now=at, data=item, limit=self.settings.max_deposit_amount)

    def on_closure_notice(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        """The institution announces it closes on `effective` and refunds what is left (as
        its API route records it: audited, in the institution's name)."""
        inst = self._inst(s, e["institution"])
        closures.announce(
            s,
            institution=inst,
            effective=date.fromisoformat(str(e["effective"])),
            reason=str(e.get("reason") or "closure notice in the history"),
            actor=f"institution:{inst.id}",
            now=at,
        )

    def on_consumption(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        enr = s.get(Enrollment, self._id("enrollment", e["enrollment"]))
        assert enr is not None
        inst = self._held(s, Institution, enr.institution_id)
        assert inst is not None
        consumptions.report(
            s,
            institution=inst,
            enrollment_id=enr.id,
            lessons=int(e["lessons"]),
            occurred_at=at,
            session_ref=None,
            now=at,
        )

    def on_dispute(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        enr_id = self._id("enrollment", e["enrollment"])
        last = s.scalar(
            select(Consumption)
            .where(Consumption.enrollment_id == enr_id, Consumption.status == "pending")
            .order_by(Consumption.reported_at.desc())
            .limit(1)
        )
        if last is None:
            raise Skip("no undisputed lesson to dispute")
        consumptions.dispute(
            s,
            consumption_id=last.id,
            enrollment_id=enr_id,
            reason=str(e.get("reason") or "backtest"),
            now=at,
        )

    def on_refund_request(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        lessons = None if e.get("lessons") is None else int(e["lessons"])
        r = refunds.request(
            s,
            enrollment_id=self._id("enrollment", e["enrollment"]),
            lessons=lessons,
            reason=str(e.get("reason") or "backtest"),
            now=at,
        )
        self.ids["refund"][str(e["id"])] = r.id

    def on_refund_answer(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        refund = refunds.lock(s, self._id("refund", e["refund"]))
        inst = self._held(s, Institution, refund.institution_id)
        assert inst is not None
        refunds.respond(
            s,
            institution=inst,
            refund_id=refund.id,
            decision=refunds.Answer(e["decision"]),
            reason=str(e.get("reason") or "backtest"),
            now=at,
        )

    def on_refund_result(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        refund = s.get(Refund, self._id("refund", e["refund"]))
        if refund is None or refund.instruction_id is None:
            raise Skip("the refund has no instruction yet")
        self._settle(
            s, refund.instruction_id, "executed" if e["status"] == "executed" else "rejected", at
        )

    def on_release_result(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        inst_id = self._id("institution", e["institution"])
        pending = s.scalars(
            select(Instruction).where(
                Instruction.institution_id == inst_id,
                Instruction.purpose == "release",
                Instruction.status == "pending",
            )
        )
        found = False
        for ins in pending:
            self._settle(s, ins.id, "rejected", at)
            found = True
        if not found:
            raise Skip("no pending release to reject")

    def on_bank_debit(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        self._id("institution", e["institution"])
        self.stolen[str(e["institution"])].append(
            (str(e["bank_txn_id"]), parse_money(e["amount"]), at)
        )

    def on_statement(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        self._id("institution", e["institution"])
        self.explicit_statements.add(str(e["institution"]))

    def on_complaint(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        parents.complain(
            s,
            institution_id=self._id("institution", e["institution"]),
            enrollment_id=None,
            category=str(e["category"]),
            text=str(e.get("text") or "backtest"),
            now=at,
        )

    def on_registry_change(self, s: Session, e: dict[str, Any], at: datetime) -> None:
        """Recorded by the regulator, as its API route records it (scoped, audited)."""
        inst = self._inst(s, e["institution"])
        if e["field"] not in ("legal_person", "address"):
            raise Skip(f"unknown registry field {e['field']!r}")
        registry.change_registry(
            s,
            regulator=self._regulator(s, inst.region_code, at),
            institution_id=inst.id,
            field=e["field"],
            value=str(e.get("new") or f"changed {at.date()}"),
            reason=str(e.get("reason") or "backtest"),
            now=at,
        )

    def _settle(self, s: Session, instruction_id: str, status: str, at: datetime) -> None:
        """The bank's result, as its API takes it: a rejection re-evaluates the institution."""
        triggers.result_applied(
            s,
            bank_id=self.bank_id,
            instruction_id=instruction_id,
            status=status,
            bank_txn_id=_txn(instruction_id, status),
            executed_at=at,
            reason=None if status == "executed" else "rejected in the history",
            now=at,
        )

    # ---------------------------------------------------------------- the end of a day
    def end_of_day(self, day: date) -> None:
        self.days += 1
        if self.on_day is not None:
            self.on_day(self.days)
        eod = end_of_local_day(day)
        if self.days % 7 == 1:  # the tables grow a little every day: a week's is enough
            with session_scope(self.sessions) as s:
                refresh_statistics(s.connection())
        # The bank's day, then every job of the catalogue in the scheduler's order, in one
        # transaction: a day costs one commit, not one per job. Each starts from the rows, as
        # its own session would.
        with session_scope(self.sessions) as s:
            for bank_side in (self._settle_due, self._statements):
                bank_side(s, day, eod)
                s.flush()
                s.expire_all()
            run_day(s, as_of=eod, settings=self.settings)
            self._write_levels(s, day, eod)
        self.explicit_statements.clear()

    def _settle_due(self, s: Session, day: date, eod: datetime) -> None:
        """The bank executes what was instructed, as one file of results taken as its API takes
        each: releases the same day, refunds the next."""
        due = [
            settlement.Result(
                instruction_id=ins.id,
                status="executed",
                bank_txn_id=_txn(ins.id, "executed"),
                executed_at=eod,
                reason=None,
            )
            for ins in s.scalars(
                select(Instruction).where(
                    Instruction.status == "pending", Instruction.bank_id == self.bank_id
                )
            )
            if ins.purpose != "refund" or local_date(ins.created_at) < day
        ]
        if due:
            triggers.results_applied(s, bank_id=self.bank_id, results=due, now=eod)

    def _statements(self, s: Session, day: date, eod: datetime) -> None:
        """The bank's statements of the day, one per escrow account it holds for the history's
        institutions (all of them, or those the history names), reconciled as one file as its
        API reconciles each: one showing a warning sign re-evaluates its institution."""
        wanted = {
            inst_id: label
            for label, inst_id in self.ids["institution"].items()
            if self.default_statements or label in self.explicit_statements
        }
        if not wanted:
            return
        bank = s.get(Bank, self.bank_id)
        assert bank is not None
        start, end = start_of_local_day(day), end_of_local_day(day)
        accounts = dict(
            s.execute(
                select(Institution.id, Institution.escrow_account_no).where(
                    Institution.id.in_(list(wanted))
                )
            )
            .tuples()
            .all()
        )
        lines = self._lines_of_day(s, set(accounts.values()), start, end)
        conn = s.connection()
        keys = {i: (i, "escrow_cash", i) for i in accounts}
        ids = ledger.account_ids(conn, set(keys.values()))
        ours = ledger.balances(conn, list(ids.values()), as_of=end)
        items = []
        for inst_id, account in accounts.items():
            label = wanted[inst_id]
            stolen = self.stolen[label]
            mine = lines.get(account, [])
            mine += [
                stmts.Line(bank_txn_id=txn, direction="debit", amount=a, booked_at=t)
                for txn, a, t in stolen
                if start <= t <= end
            ]
            closing = ours[ids[keys[inst_id]]].debit_balance - sum(
                (a for _, a, t in stolen if t <= end), ZERO
            )
            day_net = sum(
                (ln.amount if ln.direction == "credit" else -ln.amount for ln in mine), ZERO
            )
            items.append(
                stmts.StatementIn(
                    account_no=account,
                    statement_date=day,
                    opening_balance=closing - day_net,
                    closing_balance=closing,
                    transactions=tuple(mine),
                )
            )
        triggers.statements_reconciled(s, bank=bank, items=items, now=end)

    @staticmethod
    def _lines_of_day(
        s: Session, accounts: set[str], start: datetime, end: datetime
    ) -> dict[str, list[stmts.Line]]:
        """What the bank booked on the accounts that day: deposits in, executed payments out."""
        out: dict[str, list[stmts.Line]] = defaultdict(list)
        for account, txn, amount, at in s.execute(
            select(Deposit.account_no, Deposit.bank_txn_id, Deposit.amount, Deposit.paid_at).where(
                Deposit.account_no.in_(accounts), Deposit.paid_at >= start, Deposit.paid_at <= end
            )
        ):
            out[account].append(
                stmts.Line(bank_txn_id=txn, direction="credit", amount=amount, booked_at=at)
            )
        for account, txn, amount, at in s.execute(
            select(
                Instruction.account_no,
                Instruction.result_bank_txn_id,
                Instruction.amount,
                Instruction.executed_at,
            ).where(
                Instruction.account_no.in_(accounts),
                Instruction.status == "executed",
                Instruction.executed_at >= start,
                Instruction.executed_at <= end,
            )
        ):
            out[account].append(
                stmts.Line(
                    bank_txn_id=str(txn), direction="debit", amount=amount, booked_at=at or end
                )
            )
        return out

    def _write_levels(self, s: Session, day: date, eod: datetime) -> None:
        by_id = {v: k for k, v in self.ids["institution"].items()}
        rows = s.scalars(select(RiskEvaluation).where(RiskEvaluation.as_of == eod))
        for r in sorted(rows, key=lambda r: by_id.get(r.institution_id, "")):
            if r.institution_id not in by_id:
                continue
            self.out.write(
                json.dumps(
                    {
                        "date": day.isoformat(),
                        "institution": by_id[r.institution_id],
                        "level": r.level,
                        "score": r.score,
                        "indicators": [
                            {
                                "code": i["code"],
                                "value": i["value"],
                                "threshold": i["threshold"],
                                "contribution": i["contribution"],
                            }
                            for i in r.indicators
                        ],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )


# Objects allocated between two collections of the youngest generation while a day is replayed
# (Python's default is 700): see `_fewer_collections`.
REPLAY_GC_THRESHOLD = 10_000


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cycle collector run less often while a history is replayed, and kept off what
    existed before (modules, mappers, compiled schemas): a replay allocates ORM rows by the
    hundred thousand and a collection every 700 walked them, and every full one the whole heap.
    Measured on a 10-school, 120-day replay (CPU, in one process): the collector's own time
    0.78 s in 990 collections before, 0.42 s in 218 after, about 2% of the replay. Collecting
    still happens (only less often), so nothing is kept that would have been freed for long.
    The collector's settings are the process's: restored as the replay ends, however it ends."""
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(REPLAY_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if not frozen:  # a process that froze its heap itself (the app) keeps it frozen
            gc.unfreeze()


def _txn(instruction_id: str, status: str) -> str:
    """The bank's transaction id for an instruction's result, as the history's bank gives it."""
    return f"BT-{instruction_id[-12:]}-{status[0]}"


# The kinds of event a morning is made of (tools/morning); any other ends it.
_MORNING = frozenset({"deposit", "enrollment"})


def _instant(value: Any) -> datetime:
    parsed = parse_instant(value)
    if isinstance(parsed, datetime):
        return parsed
    out = datetime.fromisoformat(str(parsed).replace("Z", "+00:00"))
    if out.tzinfo is None:
        raise ValueError("timestamps need an offset")
    return out


def first_and_last_day(lines: list[str]) -> tuple[date, date] | None:
    """The Beijing days of a history's first and last events that parse, if any do."""

    def day(line: str) -> date | None:
        try:
            return local_date(_instant(json.loads(line)["at"]))
        except (ValueError, KeyError, TypeError):
            return None

    first = next((d for d in map(day, lines) if d is not None), None)
    last = next((d for d in map(day, reversed(lines)) if d is not None), None)
    return (first, last) if first is not None and last is not None else None
