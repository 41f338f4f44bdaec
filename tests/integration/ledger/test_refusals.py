"""The ledger's promises held against TigerBeetle's transfer reference, on SQLite and PostgreSQL:
time never runs backwards in an account, a void is whole, holds are not born expired, expiry
goes in time order, codes are required and bounded, overflow is a typed refusal, and a
resolved hold says how it was resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

import ledger
from ledger import NewTransfer, Resolve, errors
from tests.integration.ledger.helpers import D, liability, new_ledger, world

T9 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def hours(h: float) -> datetime:
    return T9 + timedelta(hours=h)


def test_a_back_dated_spend_cannot_rewrite_the_past(engine: Engine) -> None:
    """Opened 09:59, 100.00 in at 10:00 and 50.00 at 13:00; a spend of 150.00 dated 09:00 must
    not make the balance as of 11:00 read -50.00 (or as of 09:30, before the account existed,
    -150.00): it is recorded at 13:00, the account's latest entry."""
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", hours(59 / 60))
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=hours(1))
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("50.00"), code="deposit", at=hours(4))
        spend = ledger.transfer(c, debit=a.id, credit=w.id, amount=D("150.00"), code="x", at=T9)
        assert spend.created_at == hours(4)
        assert ledger.balance(c, a.id, as_of=hours(2)).credit_balance == D("100.00")
        assert ledger.balance(c, a.id, as_of=hours(0.5)).credit_balance == D("0.00")
        assert ledger.balance(c, a.id, as_of=hours(4)).credit_balance == D("0.00")
        assert ledger.verify(c, ledgers=[name]).ok


def test_a_transfer_never_predates_its_accounts(engine: Engine) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, hours(2))
        a = liability(c, name, "parent", hours(3))
        t = ledger.transfer(c, debit=w.id, credit=a.id, amount=D("5.00"), code="deposit", at=T9)
        assert t.created_at == hours(3)
        assert ledger.balance(c, a.id, as_of=hours(2.5)).credit_balance == D("0.00")


def test_a_resolution_never_predates_its_hold(engine: Engine) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        b = liability(c, name, "school", T9)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("80.00"), code="deposit", at=T9)
        hold = ledger.hold(c, debit=a.id, credit=b.id, amount=D("80.00"), code="x", at=hours(6))
        post = ledger.post(c, pending_id=hold.id, at=hours(5))
        assert post.created_at == hours(6)
        assert ledger.balance(c, b.id, as_of=hours(5.5)).credit_balance == D("0.00")
        assert ledger.verify(c, ledgers=[name]).ok


def test_a_late_single_transfer_takes_the_general_path_on_postgresql(
    engine: Engine, backend: str
) -> None:
    """The one-round-trip path on PostgreSQL answers `late` and the general path records the
    transfer at the later instant, chained like any other."""
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("1.00"), code="deposit", at=hours(2))
        late = ledger.transfer(c, debit=w.id, credit=a.id, amount=D("1.00"), code="deposit", at=T9)
        again = ledger.transfer(
            c, debit=w.id, credit=a.id, amount=D("1.00"), code="deposit", at=hours(3)
        )
        assert (late.created_at, again.created_at) == (hours(2), hours(3))
        assert [late.chain_seq, again.chain_seq] == [2, 3]
        assert ledger.verify(c, ledgers=[name]).ok


def test_a_partial_void_is_refused(engine: Engine) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        b = liability(c, name, "school", T9)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("80.00"), code="deposit", at=T9)
        hold = ledger.hold(c, debit=a.id, credit=b.id, amount=D("80.00"), code="x", at=T9)
        with pytest.raises(errors.VoidAmountDiffers) as info:
            ledger.batch(c, [Resolve(pending_id=hold.id, action="void", amount=D("30.00"))], at=T9)
        assert info.value.code == "void_amount_differs"
        assert ledger.balance(c, a.id).debits_pending == D("80.00")
        whole = ledger.batch(
            c, [Resolve(pending_id=hold.id, action="void", amount=D("80.00"))], at=T9
        )[0]
        assert whole.kind == "void_pending" and whole.amount == D("80.00")
        assert ledger.balance(c, a.id).credit_available == D("80.00")


@pytest.mark.parametrize("expires", [timedelta(0), timedelta(seconds=-1), timedelta(days=-30)])
def test_a_hold_cannot_be_born_expired(engine: Engine, expires: timedelta) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        with pytest.raises(errors.InvalidExpiry):
            ledger.hold(
                c,
                debit=w.id,
                credit=a.id,
                amount=D("1.00"),
                code="x",
                at=T9,
                expires_at=T9 + expires,
            )
        assert ledger.balance(c, a.id).credits_pending == D("0.00")


def test_a_hold_recorded_late_cannot_be_born_expired_either(engine: Engine) -> None:
    """Given 10:00 and expiring at 12:00, but the account's latest entry is 13:00: recorded at
    13:00 it would be born expired."""
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("1.00"), code="deposit", at=hours(4))
        with pytest.raises(errors.InvalidExpiry):
            ledger.batch(
                c,
                [
                    NewTransfer(
                        debit_account_id=w.id,
                        credit_account_id=a.id,
                        amount=D("1.00"),
                        code="x",
                        pending=True,
                        expires_at=hours(3),
                    )
                ],
                at=hours(1),
            )


def test_a_single_phase_transfer_cannot_expire(engine: Engine) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        with pytest.raises(errors.InvalidExpiry):
            ledger.batch(
                c,
                [
                    NewTransfer(
                        debit_account_id=w.id,
                        credit_account_id=a.id,
                        amount=D("1.00"),
                        code="x",
                        expires_at=hours(1),
                    )
                ],
                at=T9,
            )


def test_holds_expire_in_the_order_they_fall_due(engine: Engine) -> None:
    """Under a backlog (limit 1) the earliest hold expires first, whatever its ledger's name."""
    first, second = "z" + new_ledger(), "a" + new_ledger()
    with engine.begin() as c:
        holds = {}
        for name, due in ((first, hours(1)), (second, hours(2))):
            w = world(c, name, T9)
            a = liability(c, name, "parent", T9)
            holds[name] = ledger.hold(
                c, debit=w.id, credit=a.id, amount=D("1.00"), code="x", at=T9, expires_at=due
            )
        expired = ledger.expire_due(c, now=hours(3), limit=1)
        mine = [t.pending_id for t in expired if t.pending_id in {h.id for h in holds.values()}]
        assert mine == [holds[first].id]


@pytest.mark.parametrize("code", ["", "x" * 33, "tab\there", "nul\x00"])
def test_a_code_is_required_and_bounded(engine: Engine, code: str) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        with pytest.raises(errors.InvalidCode):
            ledger.transfer(c, debit=w.id, credit=a.id, amount=D("1.00"), code=code, at=T9)
        # Refused before the database saw it: the caller's transaction goes on.
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("1.00"), code="x" * 32, at=T9)


@pytest.mark.parametrize("field", ["reference", "idempotency_key"])
def test_references_and_keys_are_bounded(engine: Engine, field: str) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        with pytest.raises(errors.InvalidCode):
            ledger.transfer(
                c, debit=w.id, credit=a.id, amount=D("1.00"), code="x", at=T9, **{field: "r" * 129}
            )


def test_an_amount_past_numeric_18_2_is_a_typed_refusal(engine: Engine) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        with pytest.raises(errors.Overflow):
            ledger.transfer(
                c, debit=w.id, credit=a.id, amount=D("10000000000000000.00"), code="x", at=T9
            )


@pytest.mark.parametrize("size", [1, 70])  # the single-transfer path and the batch (COPY) path
def test_a_balance_past_numeric_18_2_is_a_typed_refusal(engine: Engine, size: int) -> None:
    name = new_ledger()
    big = D("9000000000000000.00")
    with engine.begin() as c:
        w = world(c, name, T9)
        a = liability(c, name, "parent", T9)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=big, code="deposit", at=T9)
        ops = [
            NewTransfer(debit_account_id=w.id, credit_account_id=a.id, amount=big, code="deposit")
        ] + [
            NewTransfer(
                debit_account_id=w.id, credit_account_id=a.id, amount=D("0.01"), code="deposit"
            )
            for _ in range(size - 1)
        ]
        with pytest.raises(errors.Overflow):
            ledger.batch(c, ops, at=T9)
        # The caller's transaction is still usable, and nothing of the batch was written.
        assert ledger.balance(c, a.id).credit_balance == big
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("1.00"), code="deposit", at=T9)
        assert ledger.verify(c, ledgers=[name]).ok


def _hold(c, name: str, expires_at: datetime | None = None):
    w = world(c, name, T9)
    a = liability(c, name, "parent", T9)
    b = liability(c, name, "school", T9)
    ledger.transfer(c, debit=w.id, credit=a.id, amount=D("10.00"), code="deposit", at=T9)
    return ledger.hold(
        c, debit=a.id, credit=b.id, amount=D("10.00"), code="x", at=T9, expires_at=expires_at
    )


def test_an_expired_hold_says_it_expired(engine: Engine) -> None:
    """A caller must tell from the error whether the money went to the institution or back."""
    with engine.begin() as c:
        hold = _hold(c, new_ledger(), expires_at=hours(1))
        ledger.expire_due(c, now=hours(2))
        for resolve in (ledger.post, ledger.void):
            with pytest.raises(errors.PendingAlreadyExpired) as info:
                resolve(c, pending_id=hold.id, at=hours(3))
            assert info.value.code == "pending_already_expired"


def test_a_posted_or_voided_hold_says_which(engine: Engine) -> None:
    with engine.begin() as c:
        posted = _hold(c, new_ledger())
        ledger.post(c, pending_id=posted.id, at=T9)
        with pytest.raises(errors.PendingAlreadyPosted):
            ledger.void(c, pending_id=posted.id, at=T9)
        voided = _hold(c, new_ledger())
        ledger.void(c, pending_id=voided.id, at=T9)
        with pytest.raises(errors.PendingAlreadyVoided):
            ledger.post(c, pending_id=voided.id, at=T9)
        with pytest.raises(errors.PendingAlreadyVoided):
            ledger.batch(c, [Resolve(pending_id=voided.id, action="void")], at=T9)
