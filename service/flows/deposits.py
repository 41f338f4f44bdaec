"""Deposits reported by custody banks: matched and posted, or held in suspense with a reason.

Idempotent on (bank, bank_txn_id): the same deposit again returns the first answer and
changes nothing; the same id with other content is `idempotency_conflict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy import Connection, Select, bindparam, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import ledger
from ledger.bulk import fetch_rows
from service.errors import DomainError
from service.flows import chart, enrollments
from service.flows import counters as rollups
from service.flows.models import Deposit, Enrollment, Instruction, WindDown
from service.kit.db import insert_many, update_many
from service.kit.ids import new_ids
from service.kit.paging import Paged, Paging, page_rows
from service.registry.institutions import audit, in_regulator_scope
from service.registry.models import Bank, Institution, Regulator


class Deposited(Protocol):
    """What a bank says of one deposit: the flows' `DepositIn`, or a request body's deposit
    as it was validated (a batch's thousand are taken as they are, not copied)."""

    @property
    def bank_txn_id(self) -> str: ...
    @property
    def account_no(self) -> str: ...
    @property
    def payment_reference(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def paid_at(self) -> datetime: ...


def content_digest(item: Deposited) -> str:
    """The deposit's content, hashed: a replay with other content is a conflict."""
    # The text `json.dumps` makes of these five strings, made without its machinery (a
    # thousand times a batch, at twice the cost): stored digests must stay equal.
    fields = (
        item.bank_txn_id,
        item.account_no,
        item.payment_reference,
        f"{item.amount:.2f}",
        item.paid_at.isoformat(),
    )
    text = "[" + ", ".join(map(_json_string, fields)) + "]"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class DepositIn:
    bank_txn_id: str
    account_no: str
    payment_reference: str
    amount: Decimal
    paid_at: datetime

    def digest(self) -> str:
        return content_digest(self)


@dataclass(frozen=True, kw_only=True)
class DepositAnswer:
    """What became of a deposit: `posted` to the enrollment it paid, or held in `suspense`
    with its reason."""

    status: Literal["posted", "suspense"]
    deposit_id: str
    enrollment_id: str | None
    reason: str | None

    @classmethod
    def of(cls, d: Mapping[Any, Any]) -> DepositAnswer:
        """From a row of `deposits`."""
        status: Literal["posted", "suspense"] = "suspense" if d["reason"] else "posted"
        return cls(
            status=status, deposit_id=d["id"], enrollment_id=d["enrollment_id"], reason=d["reason"]
        )


Outcome = DepositAnswer | DomainError


def receive(
    session: Session,
    *,
    bank: Bank,
    data: Deposited,
    now: datetime,
    limit: Decimal | None = None,
) -> DepositAnswer:
    outcome = receive_many(session, bank=bank, items=[data], now=now, limit=limit)[0]
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _replay(seen: Mapping[Any, Any], bank_txn_id: str, digest: str) -> Outcome:
    if seen["request_hash"] == digest:
        return DepositAnswer.of(seen)
    return DomainError(
        "idempotency_conflict", f"bank_txn_id {bank_txn_id} was reported with other content"
    )


_DEPOSITS = Deposit.metadata.tables[Deposit.__tablename__]
_ENROLLMENTS = Enrollment.metadata.tables[Enrollment.__tablename__]


class _Payee(NamedTuple):
    """What a deposit needs to know of the enrollment it pays. A batch reads a thousand and
    looks at each several times: a plain tuple's fields cost a tenth of a row's attributes."""

    id: str
    institution_id: str
    payment_reference: str
    status: str
    amount_due: Decimal
    lessons: int
    lessons_consumed: int
    lessons_refunded: int
    pay_by: datetime | None


_PAYEE = select(*(getattr(Enrollment, f) for f in _Payee._fields))


def receive_many(
    session: Session,
    *,
    bank: Bank,
    items: Sequence[Deposited],
    now: datetime,
    limit: Decimal | None = None,
    received: Sequence[datetime] | None = None,
) -> list[Outcome]:
    """Deposits in bulk, in one transaction: a few set-based reads, one ledger call for all the
    transfers, one write per table. Each item gets the answer it would get alone; an item
    refused on its own (foreign account, conflicting replay) changes nothing.

    `received` gives each item the instant it reached the service, when they arrived apart
    and are written together (a replayed history's deposits of a morning, each with its own
    clock); by default all arrived `now`. The ledger records the batch at `now`, the latest.

    A bank that sends the same deposit in two requests at once (a retry while the first is
    still being written) gets one answer for both. Deposits that pay an enrollment queue on its
    lock and find the first as a replay; others (suspense) meet the first request's row in the
    unique index on (bank, bank_txn_id) once it commits, and are then read again, as
    replays.

    A deposit above `limit` (no parent pays that much for lessons: a broken or hostile caller)
    is refused in its slot, `deposit_above_limit`, and changes nothing."""
    clocks = list(received) if received is not None else [now] * len(items)
    if len(clocks) != len(items) or any(c > now for c in clocks):
        raise ValueError("one arrival per deposit, none after now")
    single = len(items) == 1 and session.get_bind().dialect.name == "postgresql"
    for attempt in range(1, _ATTEMPTS + 1):
        if single:
            # One deposit writes one row, after everything it reads: its insert skips a row
            # another request has just committed (`_Taken`, nothing of this one written yet)
            # and it is read again, as a replay. No savepoint: two statements fewer on the
            # commonest request of a bank.
            try:
                return _receive_many(
                    session, bank, items, clocks, now=now, limit=limit, fresh=attempt == 1
                )
            except _Taken:
                continue
        savepoint = session.begin_nested()
        try:
            answers = _receive_many(session, bank, items, clocks, now=now, limit=limit)
        except IntegrityError as exc:
            savepoint.rollback()
            if attempt == _ATTEMPTS or _constraint(exc) != "uq_deposits_bank_txn":
                raise
            continue
        savepoint.commit()
        return answers
    raise AssertionError("unreachable: a replay is read once the other request's row is")


class _Taken(Exception):
    """A single deposit's row was written by another request first (its bank's retry)."""


_ATTEMPTS = 3  # each further request carrying the same deposits can cost one more read


def _constraint(exc: IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def _receive_many(
    session: Session,
    bank: Bank,
    items: Sequence[Deposited],
    clocks: list[datetime],
    *,
    now: datetime,
    limit: Decimal | None,
    fresh: bool = False,
) -> list[Outcome]:
    """A bank sends these a thousand at a time, so the work is done on plain rows, not ORM
    objects (which cost more than all of the statements together).

    `fresh`: a single deposit's first attempt (PostgreSQL) takes it for new and does not read
    for a replay: its insert finds any earlier row with its (bank, bank_txn_id) (`_Taken`), and
    a refusal, which writes nothing, is judged again after that read (`_Taken` too), since a
    replay is answered before any refusal. One statement fewer on a bank's commonest request;
    a replay costs one attempt more."""
    session.flush()  # the reads below bypass the ORM: it must have written what it holds
    conn = session.connection()
    insts = _institutions(conn, bank, {i.account_no for i in items})
    payees = _payees(conn, {i.payment_reference for i in items})
    # Read after the enrollments are locked: a concurrent batch carrying the same deposits
    # (a bank's retry) has then committed them, and they are answered as replays.
    existing = {} if fresh else _existing(conn, bank, {i.bank_txn_id for i in items})
    batch = _Batch(bank, limit, insts, payees, _wind_downs(conn, insts), len(items))
    for n, item in enumerate(items):
        batch.take(n, item, existing.get(item.bank_txn_id), clocks[n])
    if fresh and batch.refused:
        raise _Taken
    if batch.fresh:
        _post(session, bank=bank, deposits=list(batch.fresh.values()), payees=payees, now=now)
    return [batch.answer(n, item) for n, item in enumerate(items)]


class _Inst(NamedTuple):
    """What a deposit needs to know of the institution whose account it names: not the ORM
    object (the institution is a wide row, of which a deposit needs four columns), and a
    plain tuple, looked at several times for each of a batch's thousand deposits."""

    id: str
    status: str
    escrow_account_no: str
    reserve_account_no: str | None


_INSTITUTION = select(*(getattr(Institution, f) for f in _Inst._fields))


def _institutions(conn: Connection, bank: Bank, accounts: set[str]) -> dict[str, _Inst]:
    """The bank's institutions by the supervised account numbers named (escrow or reserve)."""
    insts: dict[str, _Inst] = {}
    for row in conn.execute(
        _INSTITUTION.where(
            Institution.bank_id == bank.id,
            or_(
                Institution.escrow_account_no.in_(accounts),
                Institution.reserve_account_no.in_(accounts),
            ),
        )
    ):
        found = _Inst._make(row)
        insts[found.escrow_account_no] = found
        if found.reserve_account_no:
            insts[found.reserve_account_no] = found
    return insts


def _wind_downs(conn: Connection, insts: dict[str, _Inst]) -> dict[str, str]:
    """The payment reference of each named institution being wound up, by institution."""
    winding = {i.id for i in insts.values() if i.status == "winding_down"}
    if not winding:
        return {}
    return {
        k: v
        for k, v in conn.execute(
            select(WindDown.institution_id, WindDown.payment_reference).where(
                WindDown.institution_id.in_(sorted(winding))
            )
        )
    }


_BY_DRIVER = 64  # payees from which a batch's are fetched by the driver (`_payees`)


def _payees(conn: Connection, references: set[str]) -> dict[str, _Payee]:
    """The enrollments the payment references name, locked in id order.

    A batch's are fetched by the driver itself on PostgreSQL, without SQLAlchemy's rows and
    result processing (1,000 rows: 5.4 -> 3.4 ms of CPU, least of 15); the driver's own values
    are the same for what a deposit does with them: `amount_due` is NUMERIC(18,2), a Decimal
    with its two places either way, and `pay_by` an aware instant either way (in the session's
    zone rather than UTC), only compared. A few go SQLAlchemy's way, whose compiled statement
    is cached (`fetch_rows` compiles it each time: a single deposit would pay for that)."""
    stmt = (
        _PAYEE.where(ledger.one_of(conn, Enrollment.payment_reference, references))
        .order_by(Enrollment.id)
        .with_for_update()
    )
    rows = fetch_rows(conn, stmt) if len(references) >= _BY_DRIVER else conn.execute(stmt)
    payees = map(_Payee._make, rows)
    return {p.payment_reference: p for p in payees}


def _existing(conn: Connection, bank: Bank, txns: set[str]) -> dict[str, Mapping[Any, Any]]:
    rows = conn.execute(
        select(_DEPOSITS).where(
            Deposit.bank_id == bank.id, ledger.one_of(conn, Deposit.bank_txn_id, txns)
        )
    )
    return {r.bank_txn_id: r._mapping for r in rows}


class _Batch:
    """Deciding each deposit of a batch in order: a replay, a refusal, or a fresh row."""

    def __init__(
        self,
        bank: Bank,
        limit: Decimal | None,
        insts: dict[str, _Inst],
        payees: dict[str, _Payee],
        wind_downs: dict[str, str],
        size: int,
    ) -> None:
        self.bank, self.limit, self.insts, self.payees = bank, limit, insts, payees
        self.bank_id = bank.id  # an ORM attribute: read once, not for every deposit
        self.ids = new_ids("dep", size)  # one draw of random bits, not one per deposit
        self.wind_downs = wind_downs  # institution → the wind-down's payment reference
        self.refused: dict[int, DomainError] = {}
        self.replays: dict[int, tuple[Mapping[Any, Any], str]] = {}  # answered at the end
        self.claimed: set[str] = set()  # enrollments paid here: a second payment mismatches
        self.fresh: dict[str, dict[str, Any]] = {}  # by bank_txn_id, the first time here

    def take(
        self, n: int, item: Deposited, existing: Mapping[Any, Any] | None, now: datetime
    ) -> None:
        digest = content_digest(item)
        seen = existing or self.fresh.get(item.bank_txn_id)
        if seen is not None:
            self.replays[n] = (seen, digest)
            return
        inst = self.insts.get(item.account_no)
        if inst is None:
            self.refused[n] = DomainError(
                "foreign_account", f"account {item.account_no} is not supervised at this bank"
            )
            return
        if self.limit is not None and item.amount > self.limit:
            self.refused[n] = DomainError(
                "deposit_above_limit", f"a single deposit is at most {self.limit:.2f} yuan"
            )
            return
        target = "reserve" if item.account_no == inst.reserve_account_no else "escrow"
        recovery = inst.id in self.wind_downs and target == "escrow"
        if recovery and item.payment_reference != self.wind_downs[inst.id]:
            # Nobody pays fees to an institution being wound up: the bank returns the money.
            self.refused[n] = DomainError(
                "institution_winding_down",
                f"the institution is being wound up: deposit {item.bank_txn_id} is refused, "
                "return it to its payer",
            )
            return
        reason, enrollment_id = (
            self._matched(item, inst, now) if target == "escrow" and not recovery else (None, None)
        )
        self.fresh[item.bank_txn_id] = {
            "id": self.ids.pop(),
            "bank_id": self.bank_id,
            "bank_txn_id": item.bank_txn_id,
            "request_hash": digest,
            "account_no": item.account_no,
            "institution_id": inst.id,
            "payment_reference": item.payment_reference,
            "amount": item.amount,
            "paid_at": item.paid_at,
            "received_at": now,
            "status": "recovered" if recovery else "suspense" if reason else "posted",
            "reason": reason,
            "target": target,
            "enrollment_id": enrollment_id,
            "resolved_at": None,
        }

    def _matched(
        self, item: Deposited, inst: _Inst, now: datetime
    ) -> tuple[str | None, str | None]:
        """(suspense reason, None), or (None, the enrollment the deposit pays). An order that
        lapsed unpaid awaits no payment (`amount_mismatch`, as a cancelled one): its room
        under a per-consumer cap may already be taken by another order. Lapsed is judged at
        the parent's payment (`paid_at`, the bank's record), not at a late report of it: an
        order still awaiting payment has kept its room (any later order of the consumer, and
        the job, cancel it first), so a payment made in time pays it."""
        e = self.payees.get(item.payment_reference)
        if inst.status == "frozen":
            return "institution_frozen", None
        if e is None or e.institution_id != inst.id:
            return "unknown_reference", None
        if e.status != "awaiting_payment" or item.amount != e.amount_due or e.id in self.claimed:
            return "amount_mismatch", None
        if enrollments.lapsed(e.pay_by, min(now, item.paid_at)):
            return "amount_mismatch", None
        self.claimed.add(e.id)
        return None, e.id

    def answer(self, n: int, item: Deposited) -> Outcome:
        if n in self.refused:
            return self.refused[n]
        if n in self.replays:
            seen, digest = self.replays[n]
            return _replay(seen, item.bank_txn_id, digest)
        return DepositAnswer.of(self.fresh[item.bank_txn_id])


def _post(
    session: Session,
    *,
    bank: Bank,
    deposits: list[dict[str, Any]],
    payees: dict[str, _Payee],
    now: datetime,
) -> None:
    """Write the batch's rows, then move its money. The ledger call and the day's rollups come
    last because they lock rows every concurrent batch for the same institutions needs (its
    escrow cash account, its day): held from there to the commit, those locks are what
    serialises batches, so they are taken when nothing but the commit is left."""
    ops = _transfers(session.connection(), bank, deposits, now)
    if len(deposits) == 1 and session.get_bind().dialect.name == "postgresql":
        _insert_one(session, deposits[0])
    else:
        insert_many(session, _DEPOSITS, deposits)
    paid, counted = _paid_and_counted(deposits, {e.id: e for e in payees.values()})
    update_many(session, _ENROLLMENTS, paid)
    ledger.apply(session.connection(), ops, at=now)
    rollups.bump_many(session, counted)


# A single deposit's row, unless one with its (bank, bank_txn_id) is there. As text with each
# column's type (so money and instants are checked and converted as everywhere): SQLAlchemy's
# PostgreSQL INSERT … ON CONFLICT is never cached, and compiling it for every request cost
# more than the rest of the deposit's Python; a text statement is compiled once.
_INSERT_ONE = (
    text(
        f"INSERT INTO {_DEPOSITS.name} ({', '.join(_DEPOSITS.c.keys())}) "
        f"VALUES ({', '.join(':' + k for k in _DEPOSITS.c.keys())}) "
        "ON CONFLICT ON CONSTRAINT uq_deposits_bank_txn DO NOTHING RETURNING id"
    )
    .bindparams(*(bindparam(c.key, type_=c.type) for c in _DEPOSITS.c))
    .columns(_DEPOSITS.c.id)
)


def _insert_one(session: Session, deposit: dict[str, Any]) -> None:
    """A single deposit's row, unless another request has written its (bank, bank_txn_id)
    first: then `_Taken`, before anything else of this request is written."""
    if session.execute(_INSERT_ONE, deposit).first() is None:
        raise _Taken


def _transfers(
    conn: Connection, bank: Bank, deposits: list[dict[str, Any]], now: datetime
) -> list[ledger.Operation]:
    """Each deposit's transfer: into the parent's prepaid account, suspense, or the reserve."""
    ledgers = sorted({d["institution_id"] for d in deposits})
    kinds = ("escrow_cash", "suspense", "reserve_cash", "reserve", "earned", "receivable")
    keys = [(lg, kind, lg) for lg in ledgers for kind in kinds]
    keys += [
        (d["institution_id"], "prepaid", d["enrollment_id"]) for d in deposits if d["enrollment_id"]
    ]
    ids = ledger.account_ids(conn, keys)
    owed = _receivables(conn, ids, deposits)
    ops: list[ledger.Operation] = []
    for d in deposits:
        lg, code = d["institution_id"], "deposit"
        if d["status"] == "recovered":
            ops += _recovery(d, ids, owed, bank)
            continue
        if d["target"] == "reserve":
            debit, credit = ids[(lg, "reserve_cash", lg)], ids[(lg, "reserve", lg)]
            code = "reserve_deposit"
        elif d["reason"]:
            debit, credit = ids[(lg, "escrow_cash", lg)], ids[(lg, "suspense", lg)]
        else:
            e_id = d["enrollment_id"]
            debit = ids[(lg, "escrow_cash", lg)]
            credit = (
                ids.get((lg, "prepaid", e_id)) or chart.prepaid_account(conn, lg, e_id, at=now).id
            )
        ops.append(
            ledger.NewTransfer(
                debit_account_id=debit,
                credit_account_id=credit,
                amount=d["amount"],
                code=code,
                reference=f"deposit:{d['id']}",
                idempotency_key=f"deposit:{bank.id}:{d['bank_txn_id']}",
            )
        )
    return ops


def _receivables(
    conn: Connection, ids: dict[tuple[str, str, str], str], deposits: list[dict[str, Any]]
) -> dict[str, Decimal]:
    """What each institution receiving a recovery still owes its wind-down (the receivable
    booked for money that left escrow with no instruction)."""
    out: dict[str, Decimal] = {}
    for lg in sorted({d["institution_id"] for d in deposits if d["status"] == "recovered"}):
        account = ids.get((lg, "receivable", lg))
        out[lg] = ledger.balance(conn, account).debit_available if account else Decimal("0.00")
    return out


def _recovery(
    d: dict[str, Any], ids: dict[tuple[str, str, str], str], owed: dict[str, Decimal], bank: Bank
) -> list[ledger.Operation]:
    """Money recovered for a wind-down: it pays the owner's debt to the wind-down first (the
    receivable), and what is beyond it is the institution's own money put in (earned); either
    way it is escrow cash the next round can pay parents with."""
    lg = d["institution_id"]
    to_receivable = min(d["amount"], owed[lg])
    owed[lg] -= to_receivable
    parts = [("receivable", to_receivable), ("earned", d["amount"] - to_receivable)]
    return [
        ledger.NewTransfer(
            debit_account_id=ids[(lg, "escrow_cash", lg)],
            credit_account_id=ids[(lg, kind, lg)],
            amount=amount,
            code="recovery",
            reference=f"deposit:{d['id']}",
            idempotency_key=f"recovery:{bank.id}:{d['bank_txn_id']}:{kind}",
        )
        for kind, amount in parts
        if amount > 0
    ]


def _paid_and_counted(
    deposits: list[dict[str, Any]], payees: dict[str, _Payee]
) -> tuple[list[dict[str, Any]], list[tuple[str, datetime, rollups.Deltas]]]:
    """The enrollments the batch pays (their new rows), and what the deposits add to their
    institutions' day counters, summed here by institution and arrival (a batch's thousand
    deposits arrived together: a few sums for `bump_many`, not a thousand)."""
    paid: list[dict[str, Any]] = []
    counted: dict[tuple[str, datetime], dict[str, Any]] = {}
    for d in deposits:
        if d["target"] != "escrow":
            continue
        amount, key = d["amount"], (d["institution_id"], d["received_at"])
        sums = counted.get(key)
        if sums is None:
            sums = counted[key] = {"deposits_amount": _ZERO, "deposits_count": 0}
        sums["deposits_amount"] += amount
        sums["deposits_count"] += 1
        if d["enrollment_id"]:
            e = payees[d["enrollment_id"]]
            status = enrollments.settled_status(
                "active", e.lessons, e.lessons_consumed, e.lessons_refunded
            )
            paid.append(
                {"id": e.id, "status": status, "amount_paid": amount, "paid_at": d["received_at"]}
            )
            sums["enrollments_paid"] = sums.get("enrollments_paid", 0) + 1
            sums["prepaid_delta"] = sums.get("prepaid_delta", _ZERO) + amount
    return paid, [(inst, at, sums) for (inst, at), sums in counted.items()]


_ZERO = Decimal("0")


def _settle(e: Enrollment) -> None:
    e.status = "active"
    enrollments.settle_status(e)


def fund(
    session: Session,
    *,
    enrollment: Enrollment,
    amount: Decimal,
    at: datetime,
    debit: str,
    reference: str,
    idempotency_key: str,
) -> None:
    """Suspense cash matched to its enrollment by a regulator."""
    conn = session.connection()
    prepaid = chart.prepaid_account(conn, enrollment.institution_id, enrollment.id, at=at)
    ledger.transfer(
        conn,
        debit=debit,
        credit=prepaid.id,
        amount=amount,
        code="suspense_match",
        at=at,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    enrollment.amount_paid = amount
    enrollment.paid_at = at
    _settle(enrollment)
    rollups.bump(
        session,
        institution_id=enrollment.institution_id,
        at=at,
        enrollments_paid=1,
        prepaid_delta=amount,
    )


def _suspense_deposit(
    session: Session, regulator: Regulator, deposit_id: str
) -> tuple[Deposit, Institution]:
    """A deposit held in suspense at an institution of the regulator's region, locked."""
    deposit = session.get(Deposit, deposit_id, with_for_update=True)
    if deposit is None:
        raise DomainError("not_found", f"no deposit {deposit_id}")
    inst = in_regulator_scope(session, regulator, deposit.institution_id)
    if deposit.status != "suspense":
        raise DomainError(
            "deposit_not_in_suspense", f"deposit {deposit_id} is {deposit.status}, not in suspense"
        )
    return deposit, inst


def match_suspense(
    session: Session, *, regulator: Regulator, deposit_id: str, enrollment_id: str, now: datetime
) -> Deposit:
    """A regulator attaches cash held in suspense to the enrollment it was meant for (of the
    same institution, awaiting exactly that amount). Audited."""
    deposit, inst = _suspense_deposit(session, regulator, deposit_id)
    enrollment = enrollments.lock(session, enrollment_id)
    if enrollment.institution_id != deposit.institution_id:
        raise DomainError("not_found", f"no enrollment {enrollment_id} at this institution")
    if enrollment.status != "awaiting_payment" or enrollment.amount_due != deposit.amount:
        raise DomainError(
            "deposit_does_not_pay",
            f"the enrollment is {enrollment.status} and owes {enrollment.amount_due}; "
            f"the deposit is {deposit.amount}",
        )
    if enrollments.lapsed(enrollment.pay_by, min(now, deposit.paid_at)):
        raise DomainError(
            "deposit_does_not_pay",
            f"the order lapsed unpaid at {enrollment.pay_by}: it takes no payment",
        )
    conn = session.connection()
    fund(
        session,
        enrollment=enrollment,
        amount=deposit.amount,
        at=now,
        debit=chart.institution_account(conn, deposit.institution_id, "suspense").id,
        reference=f"deposit:{deposit.id}",
        idempotency_key=f"suspense_match:{deposit.id}",
    )
    deposit.status, deposit.enrollment_id, deposit.resolved_at = "matched", enrollment.id, now
    audit(session, actor=f"regulator:{regulator.id}", action="deposit:match",
          subject=deposit.id, detail={"enrollment_id": enrollment.id, "before": "suspense",
                                      "after": "matched"},
          now=now, institution=inst)  # fmt: skip
    session.flush()
    return deposit


def return_suspense(
    session: Session, *, regulator: Regulator, deposit_id: str, now: datetime
) -> Deposit:
    """A regulator orders cash held in suspense sent back the way it came. Audited."""
    from service.flows import instructions

    deposit, inst = _suspense_deposit(session, regulator, deposit_id)
    instructions.create(
        session,
        institution=inst,
        purpose="suspense_return",
        kind="refund",
        subject_id=deposit.id,
        debit_kind_or_account="suspense",
        amount=deposit.amount,
        payee={"original_bank_txn_ids": [deposit.bank_txn_id]},
        now=now,
    )
    deposit.status, deposit.resolved_at = "returning", now
    audit(session, actor=f"regulator:{regulator.id}", action="deposit:return",
          subject=deposit.id, detail={"amount": f"{deposit.amount:.2f}", "before": "suspense",
                                      "after": "returning"},
          now=now, institution=inst)  # fmt: skip
    session.flush()
    return deposit


def listed(
    session: Session, *, institutions: Select[tuple[str]], status: str | None, paging: Paging
) -> Paged[Deposit]:
    stmt = select(Deposit).where(Deposit.institution_id.in_(institutions))
    if status is not None:
        stmt = stmt.where(Deposit.status == status)
    return page_rows(session, stmt, Deposit.id, paging)


def on_returned(session: Session, ins: Instruction, now: datetime) -> None:
    deposit = session.get(Deposit, ins.subject_id, with_for_update=True)
    assert deposit is not None
    deposit.status = "returned"


def on_return_rejected(session: Session, ins: Instruction, now: datetime) -> None:
    deposit = session.get(Deposit, ins.subject_id, with_for_update=True)
    assert deposit is not None
    deposit.status, deposit.resolved_at = "suspense", None
