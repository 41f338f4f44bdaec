"""Request (`…In`) and response (`…Read`) bodies of the custody bank's API."""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import Field, ModelWrapValidatorHandler, model_validator

from service.api.schemas import BreakRead, Read
from service.flows.deposits import DepositAnswer
from service.flows.statements import Reconciled
from service.kit.db import collector_paused
from service.kit.money import (
    INSTANT_PATTERN,
    POSITIVE_MONEY_PATTERN,
    Day,
    Instant,
    Money,
    PositiveMoney,
    instant_of,
    money_of,
)
from service.kit.wire import Strict, flat_and_clean


class DepositIn(Strict):
    bank_txn_id: str = Field(min_length=1, max_length=80)
    account_no: str = Field(min_length=1, max_length=64)
    payment_reference: str = Field(max_length=80)
    amount: PositiveMoney
    paid_at: Instant


class DepositBatchIn(Strict):
    deposits: list[DepositIn] = Field(min_length=1, max_length=1000)

    @model_validator(mode="wrap")
    @classmethod
    def _plain_batch_at_once(
        cls, value: Any, handler: ModelWrapValidatorHandler[DepositBatchIn]
    ) -> DepositBatchIn:
        # A bank's batch is a thousand deposits: validated field by field, each through this
        # API's Python checks (control characters, lengths before trimming, money, instants),
        # that is ten thousand calls, the largest part of the request's Python. A batch as
        # banks send it is checked here at once instead, to the same values; anything else,
        # every refusal included, is validated the full way (and refused as before).
        # The collector paused: a thousand models and their dicts, made on a heap as large as
        # the service's, would start collections that walk all of it (as in the batch itself).
        with collector_paused():
            plain = _plain_batch(value)
        return plain if plain is not None else handler(value)


_DEPOSIT_FIELDS = frozenset(DepositIn.model_fields)
M = TypeVar("M", bound=Strict)


def _text(shortest: int, longest: int) -> str:
    """A text `Strict` takes as it is, as a pattern: within its bounds and nothing to trim
    (it begins and ends with a printable ASCII character, which no definition of whitespace
    includes; any other text goes the full way). No NUL: it separates the fields below."""
    one = f"[!-~](?:[^\\x00]{{0,{longest - 2}}}[!-~])?"
    return one if shortest else f"(?:{one})?"


# One deposit's five texts joined by NUL (which none can hold once the batch is found free of
# control characters), in `DepositIn`'s order: each field as the full way takes it. Money: the
# positive money pattern the document states, without its anchors. Instant: as the document
# states it (the parser then refuses the days the calendar has not).
_DEPOSIT_ORDER = tuple(DepositIn.model_fields)  # the order of _FIELD_PATTERNS
_FIELD_PATTERNS = (
    _text(1, 80),
    _text(1, 64),
    _text(0, 80),
    POSITIVE_MONEY_PATTERN.removeprefix("^").removesuffix("$"),
    INSTANT_PATTERN,
)
_PLAIN_DEPOSIT = re.compile("\x00".join(_FIELD_PATTERNS))


def _plain_batch(value: Any) -> DepositBatchIn | None:
    """What validating a batch body gives, for a body of plain deposits only: one object
    `{"deposits": [...]}` of 1 to 1,000 objects with exactly `DepositIn`'s five fields, each a
    text with no control character that needs no trimming, a positive amount and an instant
    as the full way takes them. None for anything else (then validated the full way).
    tests/unit/test_batch_body.py checks that both ways agree."""
    if not isinstance(value, dict) or value.keys() != {"deposits"}:
        return None
    raw = value["deposits"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= 1000:
        return None
    whole = _canonical_batch(raw)
    return whole if whole is not None else _plain_deposits(raw)


# A whole batch as banks send it, its fields in `DepositIn`'s order: every key and value joined
# by NUL, in one text that this pattern matches whole. The deposit's own pattern, each field
# after its key.
_CANONICAL_DEPOSIT = "\x00".join(
    f"{name}\x00(?:{field})" for name, field in zip(_DEPOSIT_ORDER, _FIELD_PATTERNS, strict=True)
)
_CANONICAL_BATCH = re.compile(f"{_CANONICAL_DEPOSIT}(?:\x00{_CANONICAL_DEPOSIT})*")
# Control characters but NUL, which joins the texts (the pattern takes none inside a text).
_CONTROL_BUT_NUL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _canonical_batch(raw: list[Any]) -> DepositBatchIn | None:
    """`_plain_deposits` for a batch whose deposits all list their five fields in
    `DepositIn`'s order (JSON writers keep the order they were given): checked by one search
    and one match of the batch's texts joined, and each value converted once however many
    deposits carry it. None for any other body (then checked deposit by deposit).

    Why the joined text tells the deposits apart: with no NUL inside any text (the count),
    it is keys and values in turn, the five keys over and over; an object has no key twice,
    so none has more than five, and with five on average every one has exactly these."""
    try:
        texts = [t for d in raw for kv in d.items() for t in kv]
        joined = "\x00".join(texts)
    except (AttributeError, TypeError):  # not all objects, or a value that is not a text
        return None
    if (
        len(texts) != 10 * len(raw)
        or joined.count("\x00") != len(texts) - 1
        or _CONTROL_BUT_NUL.search(joined) is not None
        or _CANONICAL_BATCH.fullmatch(joined) is None
    ):
        return None
    amounts, paid = texts[7::10], texts[9::10]
    money = {a: money_of(a) for a in set(amounts)}
    instants = {p: instant_of(p) for p in set(paid)}
    if None in instants.values():  # a day the calendar has not: the full way refuses it
        return None
    made = [
        _validated(
            DepositIn,
            {
                "bank_txn_id": t,
                "account_no": a,
                "payment_reference": r,
                "amount": money[m],
                "paid_at": instants[p],
            },
        )
        for t, a, r, m, p in zip(
            texts[1::10], texts[3::10], texts[5::10], amounts, paid, strict=True
        )
    ]
    return _validated(DepositBatchIn, {"deposits": made})


def _plain_deposits(raw: list[Any]) -> DepositBatchIn | None:
    """`_plain_batch` deposit by deposit, their fields in any order."""
    if not flat_and_clean(raw):
        return None
    items = []
    for d in raw:
        if d.keys() != _DEPOSIT_FIELDS:
            return None
        txn, account, ref = d["bank_txn_id"], d["account_no"], d["payment_reference"]
        amount, paid_at = d["amount"], d["paid_at"]
        if (
            _PLAIN_DEPOSIT.fullmatch(f"{txn}\x00{account}\x00{ref}\x00{amount}\x00{paid_at}")
            is None
        ):
            return None
        at = instant_of(paid_at)
        if at is None:
            return None
        fields = {
            "bank_txn_id": txn,
            "account_no": account,
            "payment_reference": ref,
            "amount": money_of(amount),
            "paid_at": at,
        }
        items.append(_validated(DepositIn, fields))
    return _validated(DepositBatchIn, {"deposits": items})


_set = object.__setattr__


def _validated(model: type[M], fields: dict[str, Any]) -> M:
    """A model of values already validated, with every field set: what `model_construct`
    makes (the same four attributes), at a fifth of its cost (it looks each field up for
    aliases and defaults, a thousand times a batch)."""
    made = model.__new__(model)
    _set(made, "__dict__", fields)
    _set(made, "__pydantic_fields_set__", set(fields))
    _set(made, "__pydantic_extra__", None)  # `extra="forbid"`: none kept
    _set(made, "__pydantic_private__", None)
    return made


class ResultIn(Strict):
    status: Literal["executed", "rejected"]
    bank_txn_id: str = Field(min_length=1, max_length=80)
    executed_at: Instant
    reason: str | None = Field(default=None, max_length=500)


class StatementLineIn(Strict):
    bank_txn_id: str = Field(min_length=1, max_length=80)
    direction: Literal["credit", "debit"]
    amount: PositiveMoney
    booked_at: Instant


class StatementIn(Strict):
    account_no: str = Field(min_length=1, max_length=64)
    statement_date: Day
    opening_balance: Money
    closing_balance: Money
    transactions: list[StatementLineIn] = Field(max_length=100_000)


class WhoAmIRead(Read):
    bank_id: str
    name: str
    code: str


class DepositRead(Read):
    """201 `posted` (it paid `enrollment_id`), or 202 `suspense` with its `reason`."""

    status: Literal["posted", "suspense"]
    deposit_id: str
    enrollment_id: str | None = None
    reason: Literal["unknown_reference", "amount_mismatch", "institution_frozen"] | None = None

    @classmethod
    def of(cls, a: DepositAnswer) -> DepositRead:
        return cls.model_validate(a, from_attributes=True)


class DepositResultRead(Read):
    """One deposit of a batch: what it would get alone (with that `http_status`), or
    `status: "error"` with the refusal's `code` (it changed nothing)."""

    status: Literal["posted", "suspense", "error"]
    deposit_id: str | None = None
    enrollment_id: str | None = None
    reason: str | None = None
    http_status: int | None = None
    code: str | None = None
    detail: str | None = None


class DepositBatchRead(Read):
    results: list[DepositResultRead]


class StatementRead(Read):
    status: Literal["matched", "breaks"]
    statement_id: str
    breaks: list[BreakRead]

    @classmethod
    def of(cls, r: Reconciled) -> StatementRead:
        return cls(
            status=r.statement.status,  # type: ignore[arg-type]
            statement_id=r.statement.id,
            breaks=[BreakRead.of(b) for b in r.breaks],
        )
