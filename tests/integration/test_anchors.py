"""The ledger's daily anchor in the public log (`service.proofs.anchors`), whoever calls it:
appended by the day's publication, served as `{index, entry, inclusion, checkpoint}`, trusted
only when its inclusion and the checkpoint's signatures hold against the log's keys, and
checked against the ledger's chain heads at the end of its day; on both databases. The CLI's
files: tests/integration/test_cli.py."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

import ledger
from service.config import Settings
from service.kit.db import make_sessionmaker
from service.proofs import anchors
from service.proofs import keys as log_keys
from service.proofs.daily import day_end, publish_day
from tests.integration.ledger.helpers import D, liability, new_ledger, world
from tests.integration.ledger.test_tamper import _disable_guard

AT = datetime(2026, 9, 1, 2, tzinfo=UTC)  # 10:00 in Beijing, 2026-09-01
DAY = date(2026, 9, 1)


def _books(engine: Engine) -> tuple[str, list[ledger.Transfer]]:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, AT)
        a = liability(c, name, "a", AT)
        b = liability(c, name, "b", AT)
        made = [
            ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=AT),
            ledger.transfer(c, debit=a.id, credit=b.id, amount=D("30.00"), code="use", at=AT),
            ledger.transfer(c, debit=a.id, credit=b.id, amount=D("20.00"), code="use", at=AT),
        ]
    return name, made


def _publish(engine: Engine, settings: Settings, day: date) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        publish_day(s, settings, day=day, now=day_end(day) + timedelta(hours=5))


def _logged(engine: Engine, settings: Settings, day: date) -> dict[str, Any]:
    with make_sessionmaker(engine).begin() as s:
        return anchors.logged_anchor(s, settings, day)


def _verify(engine: Engine, settings: Settings, doc: Any) -> ledger.VerifyReport:
    entry = anchors.trusted_entry(json.loads(json.dumps(doc)), log_keys.keys(settings))
    with engine.connect() as c:
        return anchors.verify(c, anchor=entry)


def test_the_heads_at_a_days_end_are_what_they_were_then(fresh_engine: Engine) -> None:
    """Taken the next days, after more transfers, they equal the heads as they stood at the
    day's end (the closes that later days' first entries wrote)."""
    name, made = _books(fresh_engine)
    with fresh_engine.connect() as c:
        then = ledger.chain_heads(c)
    later = AT + timedelta(days=2)
    with fresh_engine.begin() as c:
        ledger.transfer(c, debit=made[1].debit_account_id, credit=made[1].credit_account_id,
                        amount=D("1.00"), code="use", at=later)  # fmt: skip
        ledger.transfer(c, debit=made[0].debit_account_id, credit=made[0].credit_account_id,
                        amount=D("2.00"), code="deposit", at=later)  # fmt: skip
        late = liability(c, name, "late", later)
    with fresh_engine.connect() as c:
        assert ledger.chain_heads_at_day_end(c, day_end=day_end(DAY)) == then
        now = ledger.chain_heads_at_day_end(c, day_end=day_end(DAY + timedelta(days=2)))
        assert now == ledger.chain_heads(c) and late.id in now and now != then


def test_a_logged_anchor_verifies_and_a_perfect_rewrite_is_found(
    fresh_engine: Engine, settings: Settings
) -> None:
    """The attacker changes an amount and recomputes that link, every later link, the chain
    head and both balances: `ledger.verify` alone accepts it; the logged anchor does not."""
    from ledger.chain import link_hash
    from ledger.schema import accounts, transfers

    _, made = _books(fresh_engine)
    _publish(fresh_engine, settings, DAY)
    doc = _logged(fresh_engine, settings, DAY)
    report = _verify(fresh_engine, settings, doc)
    assert report.ok, report.problems

    target = made[1]
    with fresh_engine.begin() as c:
        _disable_guard(c)
        prev = target.prev_hash
        for t in (made[1], made[2]):
            fields = {k: getattr(t, k) for k in ledger.Transfer.__dataclass_fields__}
            if t.id == target.id:
                fields["amount"] = D("3.00")
            fields["prev_hash"] = prev
            fields["hash"] = link_hash(**{k: v for k, v in fields.items() if k != "hash"})
            c.execute(transfers.update().where(transfers.c.id == t.id)
                      .values(amount=fields["amount"], prev_hash=prev, hash=fields["hash"]))  # fmt: skip
            prev = fields["hash"]
        c.execute(accounts.update().where(accounts.c.id == target.debit_account_id)
                  .values(last_hash=prev,
                          debits_posted=accounts.c.debits_posted - D("27.00")))  # fmt: skip
        c.execute(accounts.update().where(accounts.c.id == target.credit_account_id)
                  .values(credits_posted=accounts.c.credits_posted - D("27.00")))  # fmt: skip
    with fresh_engine.connect() as c:
        assert ledger.verify(c).ok  # the forgery is self-consistent
    report = _verify(fresh_engine, settings, doc)
    assert not report.ok
    assert {p.kind for p in report.problems} == {"anchor_differs"}


def test_an_anchor_is_trusted_only_with_its_inclusion_and_the_logs_signatures(
    fresh_engine: Engine, settings: Settings
) -> None:
    _books(fresh_engine)
    _publish(fresh_engine, settings, DAY)
    doc = _logged(fresh_engine, settings, DAY)
    keys = log_keys.keys(settings)
    entry = json.loads(doc["entry"])
    forged = {**doc, "entry": json.dumps({**entry, "digest": "f" * 64}, separators=(",", ":"),
                                         sort_keys=True)}  # fmt: skip
    with pytest.raises(anchors.UntrustedAnchor, match="inclusion"):
        anchors.trusted_entry(forged, keys)
    other = settings.model_copy(update={"log_signing_key": "cd" * 32})
    with pytest.raises(anchors.UntrustedAnchor, match="signature"):
        anchors.trusted_entry(doc, log_keys.keys(other))
    wanting = log_keys.keys(settings.model_copy(update={"log_quorum": 1}))
    with pytest.raises(anchors.UntrustedAnchor, match="quorum"):
        anchors.trusted_entry(doc, wanting)
    for garbage in ({}, {"index": "x"}, [], "anchor", {**doc, "inclusion": "no"}):
        with pytest.raises(anchors.UntrustedAnchor):
            anchors.trusted_entry(garbage, keys)
    with pytest.raises(LookupError):
        _logged(fresh_engine, settings, DAY - timedelta(days=400))
