"""Hypothesis drives random accounts, transfers, holds, posts (full and partial), voids, expiries
and replays against the real database, and compares with a model after every step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import Engine

import ledger
from ledger import errors
from tests.integration.ledger.helpers import new_ledger

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500.00"), places=2)


@dataclass
class ModelAccount:
    id: str
    limit: str  # none | dr<=cr | cr<=dr
    dp: Decimal = Decimal("0")
    cp: Decimal = Decimal("0")
    dpend: Decimal = Decimal("0")
    cpend: Decimal = Decimal("0")

    def ok(self) -> bool:
        if self.limit == "dr<=cr":
            return self.dp + self.dpend <= self.cp
        if self.limit == "cr<=dr":
            return self.cp + self.cpend <= self.dp
        return True


@dataclass
class ModelHold:
    id: str
    debit: str
    credit: str
    amount: Decimal
    expires_at: datetime | None
    resolved: bool = False


@dataclass
class Replay:
    key: str
    debit: str
    credit: str
    amount: Decimal
    transfer_id: str = field(default="")


def make_machine(engine: Engine) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        accounts = Bundle("accounts")
        holds = Bundle("holds")
        keys = Bundle("keys")

        @initialize()
        def setup(self) -> None:
            self.name = new_ledger()
            self.now = datetime(2026, 9, 1, tzinfo=UTC)
            self.model: dict[str, ModelAccount] = {}
            self.open_holds: list[ModelHold] = []
            self.n = 0
            # What every account held at the end of each instant the clock has left behind.
            self.past: list[tuple[datetime, dict[str, tuple[Decimal, ...]]]] = []

        def _apply(
            self, debit: ModelAccount, credit: ModelAccount, amount: Decimal, pending: bool
        ) -> bool:
            d = ModelAccount(debit.id, debit.limit, debit.dp, debit.cp, debit.dpend, debit.cpend)
            c = ModelAccount(
                credit.id, credit.limit, credit.dp, credit.cp, credit.dpend, credit.cpend
            )
            if pending:
                d.dpend += amount
                c.cpend += amount
            else:
                d.dp += amount
                c.cp += amount
            if not (d.ok() and c.ok()):
                return False
            self.model[d.id], self.model[c.id] = d, c
            return True

        @rule(target=accounts, limit=st.sampled_from(["none", "dr<=cr", "cr<=dr"]), seed=amounts)
        def open(self, limit: str, seed: Decimal) -> str:
            """Open an account and give it some funds from an unlimited world account, so that
            later holds and transfers succeed often enough to be interesting."""
            self.n += 1
            with engine.begin() as conn:
                world = ledger.open_account(
                    conn, ledger=self.name, kind="world", owner="w", at=self.now
                )
                acc = ledger.open_account(
                    conn,
                    ledger=self.name,
                    kind="k",
                    owner=f"o{self.n}",
                    at=self.now,
                    debits_must_not_exceed_credits=limit == "dr<=cr",
                    credits_must_not_exceed_debits=limit == "cr<=dr",
                )
                self.model.setdefault(world.id, ModelAccount(world.id, "none"))
                self.model[acc.id] = ModelAccount(acc.id, limit)
                debit, credit = (acc.id, world.id) if limit == "cr<=dr" else (world.id, acc.id)
                ledger.transfer(
                    conn, debit=debit, credit=credit, amount=seed * 4, code="seed", at=self.now
                )
                assert self._apply(self.model[debit], self.model[credit], seed * 4, False)
            return acc.id

        @rule(debit=accounts, credit=accounts, amount=amounts)
        def transfer(self, debit: str, credit: str, amount: Decimal) -> None:
            if debit == credit:
                return
            expected = self._apply(self.model[debit], self.model[credit], amount, False)
            with engine.begin() as conn:
                try:
                    ledger.transfer(
                        conn, debit=debit, credit=credit, amount=amount, code="t", at=self.now
                    )
                    got = True
                except (errors.ExceedsCredits, errors.ExceedsDebits):
                    got = False
            assert got == expected

        @rule(target=holds, debit=accounts, credit=accounts, amount=amounts, ttl=st.integers(0, 4))
        def hold(self, debit: str, credit: str, amount: Decimal, ttl: int) -> ModelHold | None:
            if debit == credit:
                return None
            expected = self._apply(self.model[debit], self.model[credit], amount, True)
            expires = self.now + timedelta(hours=ttl) if ttl else None
            with engine.begin() as conn:
                try:
                    t = ledger.hold(
                        conn,
                        debit=debit,
                        credit=credit,
                        amount=amount,
                        code="h",
                        at=self.now,
                        expires_at=expires,
                    )
                except (errors.ExceedsCredits, errors.ExceedsDebits):
                    assert not expected
                    return None
            assert expected
            h = ModelHold(t.id, debit, credit, amount, expires)
            self.open_holds.append(h)
            return h

        def _release(self, h: ModelHold, posted: Decimal) -> None:
            d, c = self.model[h.debit], self.model[h.credit]
            d.dpend -= h.amount
            c.cpend -= h.amount
            d.dp += posted
            c.cp += posted

        def _expired(self, h: ModelHold) -> bool:
            return h.expires_at is not None and self.now >= h.expires_at

        @rule(h=holds, part=st.integers(1, 100), full=st.booleans())
        def post(self, h: ModelHold | None, part: int, full: bool) -> None:
            if h is None:
                return
            amount = (
                None
                if full
                else max(Decimal("0.01"), (h.amount * part / 100).quantize(Decimal("0.01")))
            )
            with engine.begin() as conn:
                try:
                    t = ledger.post(conn, pending_id=h.id, amount=amount, at=self.now)
                except errors.PendingAlreadyResolved:
                    assert h.resolved
                    return
                except errors.PendingExpired:
                    assert self._expired(h) and not h.resolved
                    return
            assert not h.resolved and not self._expired(h)
            h.resolved = True
            self._release(h, t.amount)

        @rule(h=holds)
        def void(self, h: ModelHold | None) -> None:
            if h is None:
                return
            with engine.begin() as conn:
                try:
                    ledger.void(conn, pending_id=h.id, at=self.now)
                except errors.PendingAlreadyResolved:
                    assert h.resolved
                    return
                except errors.PendingExpired:
                    assert self._expired(h) and not h.resolved
                    return
            assert not h.resolved
            h.resolved = True
            self._release(h, Decimal("0"))

        @rule(hours=st.integers(1, 30))
        def tick_and_expire(self, hours: int) -> None:
            state = {i: (m.dp, m.cp, m.dpend, m.cpend) for i, m in self.model.items()}
            self.past.append((self.now, state))
            self.now += timedelta(hours=hours)
            with engine.begin() as conn:
                expired = {t.pending_id for t in ledger.expire_due(conn, now=self.now)}
            mine = {h.id for h in self.open_holds}
            due = {h.id for h in self.open_holds if not h.resolved and self._expired(h)}
            assert expired & mine == due
            for h in self.open_holds:
                if h.id in due:
                    h.resolved = True
                    self._release(h, Decimal("0"))
            event(f"holds expired: {min(len(due), 2)}")

        @rule(target=keys, debit=accounts, credit=accounts, amount=amounts)
        def keyed(self, debit: str, credit: str, amount: Decimal) -> Replay | None:
            if debit == credit:
                return None
            self.n += 1
            r = Replay(f"{self.name}-{self.n}", debit, credit, amount)
            expected = self._apply(self.model[debit], self.model[credit], amount, False)
            with engine.begin() as conn:
                try:
                    r.transfer_id = ledger.transfer(
                        conn,
                        debit=debit,
                        credit=credit,
                        amount=amount,
                        code="k",
                        at=self.now,
                        idempotency_key=r.key,
                    ).id
                except (errors.ExceedsCredits, errors.ExceedsDebits):
                    assert not expected
                    return None
            assert expected
            return r

        @rule(r=keys, other=amounts)
        def replay(self, r: Replay | None, other: Decimal) -> None:
            if r is None:
                return
            with engine.begin() as conn:
                again = ledger.transfer(
                    conn,
                    debit=r.debit,
                    credit=r.credit,
                    amount=r.amount,
                    code="k",
                    at=self.now,
                    idempotency_key=r.key,
                )
                assert again.id == r.transfer_id
                if other != r.amount:
                    with pytest.raises(errors.IdempotencyConflict):
                        ledger.transfer(
                            conn,
                            debit=r.debit,
                            credit=r.credit,
                            amount=other,
                            code="k",
                            at=self.now,
                            idempotency_key=r.key,
                        )

        @invariant()
        def books_agree(self) -> None:
            if not getattr(self, "model", None):
                return
            with engine.connect() as conn:
                stored = ledger.balances(conn, list(self.model))
                for acc_id, m in self.model.items():
                    b = stored[acc_id]
                    assert (
                        b.debits_posted,
                        b.credits_posted,
                        b.debits_pending,
                        b.credits_pending,
                    ) == (m.dp, m.cp, m.dpend, m.cpend), acc_id
                    assert m.ok()
                tb = ledger.trial_balance(conn, ledgers=[self.name])
                assert tb.balanced
                report = ledger.verify(conn, ledgers=[self.name])
                assert report.ok, report.problems

        @invariant()
        def balances_as_of_each_past_instant(self) -> None:
            """Point-in-time balances (kept figures where an account is untouched since, a
            day's close and the entries after it where not; ticks cross Beijing days) agree
            with what the model held at each instant."""
            if not getattr(self, "past", None):
                return
            with engine.connect() as conn:
                for at, state in self.past:
                    found = ledger.balances(conn, list(state), as_of=at)
                    for acc_id, want in state.items():
                        b = found[acc_id]
                        got = (b.debits_posted, b.credits_posted, b.debits_pending,
                               b.credits_pending)  # fmt: skip
                        assert got == want, (acc_id, at)

        @precondition(lambda self: False)
        @rule()
        def never(self) -> None:  # keeps Bundle typing happy on hypothesis versions without rules
            pass

    return LedgerMachine


def test_ledger_state_machine(engine: Engine) -> None:
    machine = make_machine(engine)
    machine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine.TestCase().runTest()
