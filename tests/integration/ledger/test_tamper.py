"""Tamper evidence: rows changed behind the ledger's back, directly in SQL, are found."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

import ledger
from tests.integration.ledger.helpers import D, liability, new_ledger, world

AT = datetime(2026, 9, 1, tzinfo=UTC)


def _books(engine: Engine) -> tuple[str, list[ledger.Transfer], str]:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, AT)
        a = liability(c, name, "a", AT)
        b = liability(c, name, "b", AT)
        made = [
            ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=AT),
            ledger.transfer(
                c, debit=a.id, credit=b.id, amount=D("30.00"), code="consumption", at=AT
            ),
            ledger.transfer(
                c, debit=a.id, credit=b.id, amount=D("20.00"), code="consumption", at=AT
            ),
            ledger.transfer(c, debit=w.id, credit=a.id, amount=D("5.00"), code="deposit", at=AT),
        ]
        assert ledger.verify(c).ok
    return name, made, a.id


def _disable_guard(conn) -> None:
    """What an attacker with database access does first."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("ALTER TABLE ledger_transfers DISABLE TRIGGER ledger_transfers_no_update")
        )
    else:
        conn.execute(text("DROP TRIGGER ledger_transfers_no_update"))
        conn.execute(text("DROP TRIGGER ledger_transfers_no_delete"))


def test_transfers_are_append_only(fresh_engine: Engine) -> None:
    _, made, _ = _books(fresh_engine)
    with pytest.raises(DBAPIError), fresh_engine.begin() as c:
        c.execute(text("UPDATE ledger_transfers SET amount = 1 WHERE id = :i"), {"i": made[1].id})
    with pytest.raises(DBAPIError), fresh_engine.begin() as c:
        c.execute(text("DELETE FROM ledger_transfers WHERE id = :i"), {"i": made[1].id})


def test_accounts_cannot_be_deleted(fresh_engine: Engine) -> None:
    """Transfers have no foreign keys to accounts; this is what keeps their sides in place."""
    _, _, account_id = _books(fresh_engine)
    with pytest.raises(DBAPIError, match="never deleted"), fresh_engine.begin() as c:
        c.execute(text("DELETE FROM ledger_accounts WHERE id = :i"), {"i": account_id})


def test_changed_amount_is_found(fresh_engine: Engine) -> None:
    _, made, _ = _books(fresh_engine)
    with fresh_engine.begin() as c:
        _disable_guard(c)
        c.execute(
            text("UPDATE ledger_transfers SET amount = amount * 2 WHERE id = :i"), {"i": made[1].id}
        )
    with fresh_engine.connect() as c:
        report = ledger.verify(c)
    assert not report.ok
    assert report.first_bad_entry == made[1].id
    assert {p.kind for p in report.problems} >= {"bad_hash", "balance_differs"}


def test_changed_balance_is_found(fresh_engine: Engine) -> None:
    _, _, account_id = _books(fresh_engine)
    with fresh_engine.begin() as c:
        c.execute(
            text("UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE id = :i"),
            {"i": account_id},
        )
    with fresh_engine.connect() as c:
        report = ledger.verify(c)
        assert not report.ok and report.first_bad_entry == account_id
        assert not ledger.trial_balance(c).balanced


def test_deleted_transfer_is_found(fresh_engine: Engine) -> None:
    _, made, _ = _books(fresh_engine)
    # made[1] and made[2] are links 1 and 2 of account a's chain (a is their debit side).
    with fresh_engine.begin() as c:
        _disable_guard(c)
        c.execute(text("DELETE FROM ledger_transfers WHERE id = :i"), {"i": made[1].id})
    with fresh_engine.connect() as c:
        report = ledger.verify(c)
    assert not report.ok
    assert report.first_bad_entry == made[2].id  # the link after the hole
    assert {"chain_gap", "bad_link"} <= {p.kind for p in report.problems}


def test_deleted_last_link_is_found_at_the_head(fresh_engine: Engine) -> None:
    """Deleting a chain's newest transfer leaves no gap; the head on the account still counts it."""
    _, made, account_id = _books(fresh_engine)
    with fresh_engine.begin() as c:
        _disable_guard(c)
        c.execute(text("DELETE FROM ledger_transfers WHERE id = :i"), {"i": made[2].id})
    with fresh_engine.connect() as c:
        report = ledger.verify(c)
    assert not report.ok and report.first_bad_entry == account_id
    assert {"head", "balance_differs"} <= {p.kind for p in report.problems}


def test_relinked_chain_is_found(fresh_engine: Engine) -> None:
    _, made, _ = _books(fresh_engine)
    with fresh_engine.begin() as c:
        _disable_guard(c)
        # Point link 3 at link 1, skipping 2, with a consistent-looking sequence number.
        c.execute(
            text("UPDATE ledger_transfers SET prev_hash = :h WHERE id = :i"),
            {"h": made[0].hash, "i": made[2].id},
        )
    with fresh_engine.connect() as c:
        report = ledger.verify(c)
    assert not report.ok and report.first_bad_entry == made[2].id
    assert {"bad_link", "bad_hash"} <= {p.kind for p in report.problems}


def test_rewritten_row_with_recomputed_balances_is_still_found(fresh_engine: Engine) -> None:
    """Even if the attacker also fixes up the account balances, the hash gives it away."""
    _, made, _ = _books(fresh_engine)
    t = made[3]
    with fresh_engine.begin() as c:
        _disable_guard(c)
        c.execute(text("UPDATE ledger_transfers SET amount = 50 WHERE id = :i"), {"i": t.id})
        c.execute(
            text("UPDATE ledger_accounts SET debits_posted = debits_posted + 45 WHERE id = :i"),
            {"i": t.debit_account_id},
        )
        c.execute(
            text("UPDATE ledger_accounts SET credits_posted = credits_posted + 45 WHERE id = :i"),
            {"i": t.credit_account_id},
        )
    with fresh_engine.connect() as c:
        report = ledger.verify(c)
        assert ledger.trial_balance(c).balanced  # the sums alone cannot see it
    assert not report.ok and report.first_bad_entry == t.id


def test_a_perfect_rewrite_is_found_only_against_an_anchor(fresh_engine: Engine) -> None:
    """The attacker changes an amount and recomputes that link, every later link, the chain
    head and both balances: the chain alone cannot see it; the heads written down before can."""
    from ledger.chain import link_hash
    from ledger.schema import accounts, transfers

    name, made, _ = _books(fresh_engine)
    with fresh_engine.connect() as c:
        anchor = ledger.chain_heads(c, ledgers=[name])
    digest = ledger.anchor_digest(anchor)
    target = made[1]  # link 1 of account a's chain; made[2] is link 2
    with fresh_engine.begin() as c:
        _disable_guard(c)
        prev = target.prev_hash
        for t in (made[1], made[2]):
            fields = {k: getattr(t, k) for k in ledger.Transfer.__dataclass_fields__}
            if t.id == target.id:
                fields["amount"] = D("3.00")
            fields["prev_hash"] = prev
            fields["hash"] = link_hash(**{k: v for k, v in fields.items() if k != "hash"})
            c.execute(
                transfers.update()
                .where(transfers.c.id == t.id)
                .values(amount=fields["amount"], prev_hash=prev, hash=fields["hash"])
            )
            prev = fields["hash"]
        c.execute(
            accounts.update()
            .where(accounts.c.id == target.debit_account_id)
            .values(last_hash=prev, debits_posted=accounts.c.debits_posted - D("27.00"))
        )
        c.execute(
            accounts.update()
            .where(accounts.c.id == target.credit_account_id)
            .values(credits_posted=accounts.c.credits_posted - D("27.00"))
        )
    with fresh_engine.connect() as c:
        assert ledger.verify(c, ledgers=[name]).ok  # the forgery is self-consistent
        assert ledger.anchor_digest(ledger.chain_heads(c, ledgers=[name])) != digest
        report = ledger.verify(c, ledgers=[name], anchor=anchor)
    assert not report.ok
    assert report.first_bad_entry == target.debit_account_id
    assert {p.kind for p in report.problems} == {"anchor_differs"}


def test_an_anchor_of_honest_books_still_holds_after_more_transfers(fresh_engine: Engine) -> None:
    name, made, account_id = _books(fresh_engine)
    with fresh_engine.connect() as c:
        anchor = ledger.chain_heads(c, ledgers=[name])
    with fresh_engine.begin() as c:
        ledger.transfer(
            c, debit=account_id, credit=made[0].debit_account_id, amount=D("1"), code="t", at=AT
        )
        assert ledger.verify(c, ledgers=[name], anchor=anchor).ok
