"""The ledger's API, one guarantee at a time, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

import ledger
from ledger import NewTransfer, Resolve, errors
from ledger.schema import transfers
from tests.integration.ledger.helpers import D, asset, liability, new_ledger, world

T0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def books(engine: Engine):
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T0)
        a = liability(c, name, "parent", T0)
        b = liability(c, name, "school", T0)
        cash = asset(c, name, "cash", T0)
    return name, w, a, b, cash


def test_transfer_moves_money_and_respects_limits(engine: Engine, books) -> None:
    _, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=T0)
        ledger.transfer(c, debit=a.id, credit=b.id, amount=D("60.00"), code="consumption", at=T0)
        with pytest.raises(errors.ExceedsCredits) as info:
            ledger.transfer(
                c, debit=a.id, credit=b.id, amount=D("40.01"), code="consumption", at=T0
            )
        assert info.value.code == "insufficient_funds"
        assert ledger.balance(c, a.id).credit_balance == D("40.00")
        assert ledger.balance(c, b.id).credit_balance == D("60.00")


def test_asset_cannot_pay_out_more_than_it_holds(engine: Engine, books) -> None:
    _, w, a, b, cash = books
    with engine.begin() as c:
        ledger.transfer(c, debit=cash.id, credit=a.id, amount=D("10.00"), code="deposit", at=T0)
        ledger.transfer(c, debit=w.id, credit=b.id, amount=D("50.00"), code="deposit", at=T0)
        with pytest.raises(errors.ExceedsDebits):
            ledger.hold(c, debit=b.id, credit=cash.id, amount=D("10.01"), code="refund", at=T0)
        ledger.hold(c, debit=b.id, credit=cash.id, amount=D("10.00"), code="refund", at=T0)


def test_limits_count_pending_pessimistically(engine: Engine, books) -> None:
    _, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=T0)
        ledger.hold(c, debit=a.id, credit=b.id, amount=D("70.00"), code="x", at=T0)
        with pytest.raises(errors.ExceedsCredits):
            ledger.hold(c, debit=a.id, credit=b.id, amount=D("30.01"), code="x", at=T0)
        ledger.hold(c, debit=a.id, credit=b.id, amount=D("30.00"), code="x", at=T0)


def test_hold_posts_in_part_and_returns_the_rest(engine: Engine, books) -> None:
    _, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=T0)
        h = ledger.hold(c, debit=a.id, credit=b.id, amount=D("80.00"), code="x", at=T0)
        p = ledger.post(c, pending_id=h.id, amount=D("30.00"), at=T0)
        assert p.kind == "post_pending" and p.amount == D("30.00")
        bal = ledger.balance(c, a.id)
        assert bal.debits_pending == 0 and bal.credit_balance == D("70.00")
        with pytest.raises(errors.PendingAlreadyResolved):
            ledger.void(c, pending_id=h.id, at=T0)
        with pytest.raises(errors.PendingAlreadyResolved):
            ledger.post(c, pending_id=h.id, at=T0)


def test_post_cannot_exceed_hold(engine: Engine, books) -> None:
    _, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=T0)
        h = ledger.hold(c, debit=a.id, credit=b.id, amount=D("10.00"), code="x", at=T0)
        with pytest.raises(errors.PostExceedsPending):
            ledger.post(c, pending_id=h.id, amount=D("10.01"), at=T0)


def test_hold_expires_once(engine: Engine, books) -> None:
    _, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=T0)
        h = ledger.hold(
            c,
            debit=a.id,
            credit=b.id,
            amount=D("10.00"),
            code="x",
            at=T0,
            expires_at=T0 + timedelta(hours=1),
        )
        assert [t.pending_id for t in ledger.expire_due(c, now=T0 + timedelta(minutes=59))] == []
        with pytest.raises(errors.PendingExpired):
            ledger.post(c, pending_id=h.id, at=T0 + timedelta(hours=1))
        expired = ledger.expire_due(c, now=T0 + timedelta(hours=2))
        assert h.id in [t.pending_id for t in expired]
        assert h.id not in [t.pending_id for t in ledger.expire_due(c, now=T0 + timedelta(hours=3))]
        assert ledger.balance(c, a.id).debits_pending == 0


def test_idempotent_replay_and_conflict(engine: Engine, books) -> None:
    name, w, a, _, _ = books
    key = f"dep-{name}"
    with engine.begin() as c:
        t1 = ledger.transfer(
            c, debit=w.id, credit=a.id, amount=D("5.00"), code="deposit", at=T0, idempotency_key=key
        )
        t2 = ledger.transfer(
            c,
            debit=w.id,
            credit=a.id,
            amount=D("5.00"),
            code="deposit",
            at=T0 + timedelta(seconds=5),
            idempotency_key=key,
        )
        assert t1 == t2
        with pytest.raises(errors.IdempotencyConflict):
            ledger.transfer(
                c,
                debit=w.id,
                credit=a.id,
                amount=D("6.00"),
                code="deposit",
                at=T0,
                idempotency_key=key,
            )
        assert ledger.balance(c, a.id).credit_balance == D("5.00")


def test_batch_is_all_or_nothing(engine: Engine, books) -> None:
    name, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("50.00"), code="deposit", at=T0)
        before = c.execute(
            select(func.count()).select_from(transfers).where(transfers.c.ledger == name)
        ).scalar()
        ops = [
            NewTransfer(
                debit_account_id=w.id, credit_account_id=a.id, amount=D("10.00"), code="deposit"
            ),
            NewTransfer(
                debit_account_id=a.id,
                credit_account_id=b.id,
                amount=D("100.00"),
                code="consumption",
            ),  # refused: a has only 60
            NewTransfer(
                debit_account_id=w.id, credit_account_id=b.id, amount=D("1.00"), code="deposit"
            ),
        ]
        with pytest.raises(errors.ExceedsCredits) as info:
            ledger.batch(c, ops, at=T0)
        assert info.value.index == 1
        after = c.execute(
            select(func.count()).select_from(transfers).where(transfers.c.ledger == name)
        ).scalar()
        assert after == before
        assert ledger.balance(c, a.id).credit_balance == D("50.00")
        assert ledger.balance(c, b.id).credit_balance == D("0.00")
        assert ledger.verify(c, ledgers=[name]).ok


def test_batch_is_sequential(engine: Engine, books) -> None:
    """Within a batch, a later transfer may spend what an earlier one brought in."""
    _, w, a, b, _ = books
    with engine.begin() as c:
        out = ledger.batch(
            c,
            [
                NewTransfer(
                    debit_account_id=w.id, credit_account_id=a.id, amount=D("10.00"), code="deposit"
                ),
                NewTransfer(
                    debit_account_id=a.id,
                    credit_account_id=b.id,
                    amount=D("10.00"),
                    code="consumption",
                ),
            ],
            at=T0,
        )
        assert [t.chain_seq for t in out] == sorted(t.chain_seq for t in out)
        assert ledger.balance(c, b.id).credit_balance == D("10.00")


def test_resolving_twice_in_one_batch_is_refused(engine: Engine, books) -> None:
    _, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("50.00"), code="deposit", at=T0)
        h = ledger.hold(c, debit=a.id, credit=b.id, amount=D("5.00"), code="x", at=T0)
        with pytest.raises(errors.PendingAlreadyResolved):
            ledger.batch(
                c,
                [Resolve(pending_id=h.id, action="post"), Resolve(pending_id=h.id, action="void")],
                at=T0,
            )


def test_accounts_of_different_ledgers_cannot_transact(engine: Engine, books) -> None:
    _, _, a, _, _ = books
    other = new_ledger()
    with engine.begin() as c:
        foreign = world(c, other, T0)
        with pytest.raises(errors.LedgerMismatch):
            ledger.transfer(c, debit=foreign.id, credit=a.id, amount=D("1.00"), code="x", at=T0)


@pytest.mark.parametrize("amount", [D("0"), D("-1.00"), D("0.001")])
def test_bad_amounts(engine: Engine, books, amount) -> None:
    _, w, a, _, _ = books
    with engine.begin() as c, pytest.raises(errors.InvalidAmount):
        ledger.transfer(c, debit=w.id, credit=a.id, amount=amount, code="x", at=T0)


def test_balance_as_of_and_history(engine: Engine, books) -> None:
    _, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=T0)
        h = ledger.hold(
            c, debit=a.id, credit=b.id, amount=D("30.00"), code="x", at=T0 + timedelta(days=1)
        )
        ledger.post(c, pending_id=h.id, at=T0 + timedelta(days=2))
        assert ledger.balance(c, a.id, as_of=T0 - timedelta(seconds=1)).credit_balance == 0
        mid = ledger.balance(c, a.id, as_of=T0 + timedelta(days=1, hours=1))
        assert mid.credit_balance == D("100.00") and mid.debits_pending == D("30.00")
        end = ledger.balance(c, a.id, as_of=T0 + timedelta(days=3))
        assert end == ledger.balance(c, a.id)
        lines = ledger.history(c, a.id)
        assert [line.running_credit_balance for line in lines] == [D("100.00"), D("70.00")]


def test_closed_account_takes_nothing(engine: Engine, books) -> None:
    _, w, a, _, _ = books
    with engine.begin() as c:
        ledger.close_account(c, a.id)
        with pytest.raises(errors.AccountClosed):
            ledger.transfer(c, debit=w.id, credit=a.id, amount=D("1.00"), code="x", at=T0)


def test_open_account_is_idempotent(engine: Engine) -> None:
    name = new_ledger()
    with engine.begin() as c:
        a1 = liability(c, name, "x", T0)
        a2 = liability(c, name, "x", T0)
        assert a1.id == a2.id
        with pytest.raises(errors.LedgerMismatch):
            ledger.open_account(
                c,
                ledger=name,
                kind="liability",
                owner="x",
                at=T0,
                credits_must_not_exceed_debits=True,
            )


def test_trial_balance_balances(engine: Engine, books) -> None:
    name, w, a, b, _ = books
    with engine.begin() as c:
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("12.34"), code="deposit", at=T0)
        ledger.hold(c, debit=a.id, credit=b.id, amount=D("2.34"), code="x", at=T0)
        tb = ledger.trial_balance(c, ledgers=[name])
        assert tb.balanced and tb.total_debits == D("12.34") and tb.pending_debits == D("2.34")


def test_hash_does_not_depend_on_the_offset_of_the_clock(engine: Engine, books) -> None:
    from zoneinfo import ZoneInfo

    name, w, a, _, _ = books
    beijing = T0.astimezone(ZoneInfo("Asia/Shanghai"))
    with engine.begin() as c:
        ledger.hold(
            c,
            debit=w.id,
            credit=a.id,
            amount=D("1.00"),
            code="x",
            at=beijing,
            expires_at=beijing + timedelta(days=1),
        )
        assert ledger.verify(c, ledgers=[name]).ok


def test_credit_fen_as_of_is_every_ledgers_balance_as_it_stood(engine: Engine) -> None:
    """The publication's one-statement read (integers, every ledger at once) agrees with the
    per-ledger Decimal read at every instant: before, between and after movements, for an
    account moved since and one opened after."""
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, T0)
        a = ledger.open_account(c, ledger=name, kind="prepaid", owner="enr_a", at=T0,
                                debits_must_not_exceed_credits=True)  # fmt: skip
        b = ledger.open_account(c, ledger=name, kind="prepaid", owner="enr_b", at=T0,
                                debits_must_not_exceed_credits=True)  # fmt: skip
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.25"), code="d", at=T0)
        ledger.transfer(c, debit=w.id, credit=b.id, amount=D("7.00"), code="d", at=T0)
        ledger.transfer(c, debit=a.id, credit=w.id, amount=D("40.10"), code="c",
                        at=T0 + timedelta(days=2))  # fmt: skip
        ledger.open_account(c, ledger=name, kind="prepaid", owner="enr_c",
                            at=T0 + timedelta(days=3))  # fmt: skip
    for at, expected in (
        (T0 + timedelta(days=1), {"enr_a": 10025, "enr_b": 700}),
        (T0 + timedelta(days=2, hours=1), {"enr_a": 6015, "enr_b": 700}),
        (T0 + timedelta(days=4), {"enr_a": 6015, "enr_b": 700, "enr_c": 0}),
    ):
        with engine.connect() as c:
            fast = {o: f for lg, o, f in ledger.kind_credit_fen_as_of(c, "prepaid", as_of=at)
                    if lg == name}  # fmt: skip
            slow = ledger.kind_balances_as_of(c, [name], "prepaid", as_of=at)[name]
        assert fast == expected
        assert fast == {o: int(x.credit_balance * 100) for o, x in slow.items()}
