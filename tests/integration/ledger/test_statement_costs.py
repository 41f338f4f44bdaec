"""Costs per call that must not grow with the books: looking accounts up by natural key reads
only the keys asked for, and the upserts on every money path are compiled once, not per run."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, String, event, literal_column, select, text

import ledger
from ledger.accounts import _open
from ledger.lists import one_of, text_array
from ledger.postings import MAX_AMOUNT, _numerics
from service.flows import counters
from service.flows.statements import _latest_upsert
from service.risk.sweep import _district_upsert
from tests.integration.ledger.helpers import new_ledger

AT = datetime(2026, 9, 1, 2, tzinfo=UTC)


def test_accounts_by_key_are_probed_not_scanned(engine: Engine) -> None:
    """On SQLite a row-value IN list scanned every account ever opened; the lookup must
    search the natural-key index, whatever the number of accounts."""
    name = new_ledger()
    with engine.begin() as c:
        for n in range(30):
            ledger.open_account(c, ledger=name, kind="prepaid", owner=f"o{n}", at=AT)
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    keys = [(name, "prepaid", "o3"), (name, "prepaid", "o17"), (name, "prepaid", "none")]
    with engine.connect() as c:
        event.listen(c, "before_cursor_execute", keep)
        found = ledger.account_ids(c, keys)
        event.remove(c, "before_cursor_execute", keep)
        assert set(found) == set(keys[:2])
        statement, params = seen[-1]
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        plan = " ".join(str(r) for r in c.exec_driver_sql(explain + statement, params))
    if engine.dialect.name == "sqlite":
        assert "SCAN ledger_accounts" not in plan and "SEARCH a USING INDEX" in plan, plan


def test_the_upserts_are_compiled_once(engine: Engine) -> None:
    """SQLAlchemy cannot key `ON CONFLICT` statements for its cache; these are kept as the
    text they compile to, which it can."""
    name = engine.dialect.name
    for stmt in (_open(name), counters._upsert(name), _latest_upsert(name), _district_upsert(name)):
        assert stmt._generate_cache_key() is not None


def test_balance_changes_travel_as_exact_numeric_literals(engine: Engine) -> None:
    """A batch's balance changes go to PostgreSQL as numeric[] text literals (`_numerics`),
    not dumped one Decimal at a time: every value arrives exactly, negative (a hold resolved),
    zero, the largest balance, and a Decimal whose `str` is in exponent notation."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's arrays")
    values = [Decimal("0.00"), Decimal("-30.00"), MAX_AMOUNT, -MAX_AMOUNT, Decimal("0.01"),
              Decimal("1E+2"), Decimal("200.00")]  # fmt: skip
    with engine.connect() as c:
        back = c.exec_driver_sql("SELECT %(v)t::numeric[]", {"v": _numerics(values)}).scalar()
    assert back == values and [str(v) for v in back[:5]] == [str(v) for v in values[:5]]


def test_string_lists_travel_as_exact_text_literals(engine: Engine) -> None:
    """Lists of strings (ids, keys, references) go to PostgreSQL as one text[] literal
    (`text_array`): every value arrives as it was, whatever it holds — a comma, a brace, a
    quote, a backslash, spaces, nothing, the word NULL — and a None arrives as NULL; and
    `one_of` matches by it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's arrays")
    values = ["acc_1", "a,b", "{x}", 'say "hi"', "back\\slash", " pad ", "", "NULL", "null",
              "中文", "tab\there"]  # fmt: skip
    with engine.connect() as c:
        for sent in (values, [*values, None], ["plain", "ids"], []):
            back = c.exec_driver_sql("SELECT %(v)s::text[]", {"v": text_array(sent)}).scalar()
            assert back == sent
        table = select(literal_column("v").label("v")).select_from(
            text("unnest(CAST(:vs AS text[])) AS v").bindparams(vs=text_array(values))
        )
        column = literal_column("v", String())
        found = c.execute(
            select(column).select_from(table.subquery()).where(one_of(c, column, values[1:4]))
        ).scalars()
        assert sorted(found) == sorted(values[1:4])


def test_the_replay_read_takes_its_keys_once(engine: Engine) -> None:
    """The replay read's thousand keys reach the plan as one array, not as a literal that
    PostgreSQL converts again for every row it tests (a CAST of a text[] literal to varchar[]
    is not folded: two seconds a batch of 1,000 on a table of 26,000 transfers)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner")
    from ledger.postings import _BY_KEYS

    keys = [f"deposit:bank:{n}" for n in range(1000)]
    with engine.connect() as c:
        stmt = "EXPLAIN " + str(_BY_KEYS[True].compile(c))
        plan = " ".join(r[0] for r in c.exec_driver_sql(stmt, {"keys": keys}))
    assert "cstring" not in plan, plan
