"""A bank's batch body checked at once (`schemas._plain_batch`) gives what the field-by-field
validation gives: the same deposits, to the type and the text, or it steps aside and the full
way answers (every refusal included)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service.api.bank import schemas
from service.api.bank.schemas import DepositBatchIn
from service.kit.money import INSTANT_PATTERN, POSITIVE_MONEY_PATTERN

GOOD = {
    "bank_txn_id": "T-2026-000001",
    "account_no": "6222000011112222",
    "payment_reference": "TG0123456789012345",
    "amount": "1280.50",
    "paid_at": "2026-09-01T18:30:00.250+08:00",
}


def full_way(body: Any, monkeypatch: pytest.MonkeyPatch) -> DepositBatchIn | ValidationError:
    with monkeypatch.context() as m:
        m.setattr(schemas, "_plain_batch", lambda value: None)
        try:
            return DepositBatchIn.model_validate(body)
        except ValidationError as exc:
            return exc


def same(fast: DepositBatchIn, full: DepositBatchIn) -> None:
    assert fast == full
    assert fast.model_fields_set == full.model_fields_set
    for a, b in zip(fast.deposits, full.deposits, strict=True):
        assert a.model_fields_set == b.model_fields_set
        for name in type(a).model_fields:
            x, y = getattr(a, name), getattr(b, name)
            assert type(x) is type(y) and x == y and str(x) == str(y), name
        assert type(a.paid_at.tzinfo) is type(b.paid_at.tzinfo)
        assert a.paid_at.isoformat() == b.paid_at.isoformat()  # what the digest hashes
    assert fast.model_dump_json() == full.model_dump_json()


def test_a_bank_s_plain_batch_is_checked_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {
        "deposits": [
            GOOD,
            {**GOOD, "payment_reference": "", "paid_at": "2026-09-01T10:30:00Z"},
            {**GOOD, "amount": "0.01", "paid_at": "2099-12-31T23:59:59.999999-23:59"},
            {**GOOD, "bank_txn_id": "x" * 80, "account_no": "y" * 64, "amount": "9999999999999"},
            {**GOOD, "bank_txn_id": "T 收款 1", "payment_reference": "a\tb"},  # inside: kept
        ]
    }
    fast = schemas._plain_batch(body)
    assert fast is not None  # the path a bank's batch takes
    full = full_way(body, monkeypatch)
    assert isinstance(full, DepositBatchIn)
    same(fast, full)
    same(DepositBatchIn.model_validate(body), full)


REFUSED = [
    {**GOOD, "bank_txn_id": "x" * 81},
    {**GOOD, "account_no": " " + "y" * 64},  # 65 as sent: refused before the trimming
    {**GOOD, "bank_txn_id": "   "},
    {**GOOD, "bank_txn_id": "a\x00b"},
    {**GOOD, "payment_reference": "a\x85"},
    {**GOOD, "amount": "0.00"},
    {**GOOD, "amount": "1e3"},
    {**GOOD, "amount": 12},
    {**GOOD, "paid_at": "2026-02-30T10:00:00+08:00"},
    {**GOOD, "paid_at": "2026-09-01T10:00:00"},
    {**GOOD, "paid_at": "1999-12-31T23:00:00Z"},
    {**GOOD, "extra": "x"},
    {k: v for k, v in GOOD.items() if k != "amount"},
]


@pytest.mark.parametrize("bad", REFUSED)
def test_a_refusal_is_the_full_way_s(bad: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"deposits": [GOOD, bad]}
    assert schemas._plain_batch(body) is None
    with pytest.raises(ValidationError) as fast:
        DepositBatchIn.model_validate(body)
    full = full_way(body, monkeypatch)
    assert isinstance(full, ValidationError)
    assert fast.value.errors() == full.errors()


def test_trimmed_texts_go_the_full_way(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"deposits": [{**GOOD, "bank_txn_id": " T-1 ", "account_no": "\u3000A1"}]}
    assert schemas._plain_batch(body) is None
    taken = DepositBatchIn.model_validate(body).deposits[0]
    assert (taken.bank_txn_id, taken.account_no) == ("T-1", "A1")


TEXT = st.text(
    alphabet=st.sampled_from(["a", "Z", "0", "-", " ", "\t", "\n", "\x00", "\x1f", "\x7f",
                              "\x85", "\xa0", "\u3000", "收", "\u200b"]),
    max_size=6,
).map(lambda s: s * 14 if s.startswith("0") else s)  # fmt: skip
AMOUNT = st.one_of(
    st.from_regex(POSITIVE_MONEY_PATTERN, fullmatch=True),
    st.sampled_from(["0", "0.00", "01", "1.", " 1", "1 ", "1e3", "NaN", "-1", "１", "1.001"]),
    st.integers(),
)
INSTANT = st.one_of(
    st.from_regex(f"^{INSTANT_PATTERN}$", fullmatch=True),
    st.sampled_from(["2026-09-01T10:00:00", "2026-09-01t10:00:00z", "2026-02-29T00:00:00Z",
                     "2026-09-01T10:00:00+24:00", " 2026-09-01T10:00:00Z"]),
)  # fmt: skip
DEPOSIT = st.fixed_dictionaries(
    {"bank_txn_id": TEXT, "account_no": TEXT, "payment_reference": TEXT,
     "amount": AMOUNT, "paid_at": INSTANT},
    optional={"note": st.text(max_size=2)},
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deposits=st.lists(DEPOSIT, min_size=0, max_size=3), data=st.data())
@example(deposits=[{**GOOD, "paid_at": "2026-09-01T10:00:00.1-00:00"}], data=None)
def test_both_ways_agree(deposits: list[dict[str, Any]], data: st.DataObject | None) -> None:
    if data is not None:  # some deposits with their fields in another order
        deposits = [data.draw(reordered(d)) for d in deposits]
    body = {"deposits": deposits}
    fast = schemas._plain_batch(body)
    with pytest.MonkeyPatch.context() as m:
        full = full_way(body, m)
    if fast is not None:
        assert isinstance(full, DepositBatchIn)
        same(fast, full)
    for way in (schemas._canonical_batch, schemas._plain_deposits):  # each fast way alone
        alone = way(deposits) if deposits else None
        if alone is not None:
            assert isinstance(full, DepositBatchIn)
            same(alone, full)


def reordered(d: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keep = st.just(list(d))
    return st.one_of(keep, keep, st.permutations(list(d))).map(lambda ks: {k: d[k] for k in ks})


def test_a_batch_in_the_fields_order_is_checked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"deposits": [GOOD, {**GOOD, "bank_txn_id": "T-2", "paid_at": "2026-09-01T10:30:00Z"}]}
    whole = schemas._canonical_batch(body["deposits"])
    assert whole is not None  # the path a bank's batch takes
    full = full_way(body, monkeypatch)
    assert isinstance(full, DepositBatchIn)
    same(whole, full)
    # Fields in another order: deposit by deposit, to the same values.
    turned = {"deposits": [dict(reversed(d.items())) for d in body["deposits"]]}
    assert schemas._canonical_batch(turned["deposits"]) is None
    fast = schemas._plain_batch(turned)
    assert fast is not None
    same(fast, full)


@pytest.mark.parametrize(
    "deposits",
    [
        # A key holding NUL that would join into the fields of two deposits.
        [{"bank_txn_id": "T-1", "account_no": "A", "payment_reference": "R", "amount": "1.00",
          "paid_at": "2026-09-01T10:30:00Z\x00bank_txn_id"}],
        # Keys holding NUL that join into three deposits' fields out of two objects of six
        # and four fields, ten texts each (what only the count of NUL tells apart).
        [{**dict(list(GOOD.items())[:4]),
          "paid_at\x00" + GOOD["paid_at"] + "\x00bank_txn_id\x00T-2\x00account_no\x00A-2"
          "\x00payment_reference\x00R-2\x00amount": "1.00", "paid_at": GOOD["paid_at"]},
         {**dict(list(GOOD.items())[:3]),
          "amount\x002.00\x00paid_at": GOOD["paid_at"]}],
        [dict(list(GOOD.items())[:4]), {**GOOD, "extra": "x"}],  # four and six fields
        [{**GOOD, "amount": 1}],
        [GOOD, "not an object"],
        [{**GOOD, "paid_at": "2026-02-30T10:00:00Z"}],
    ],
)  # fmt: skip
def test_a_batch_not_plain_is_not_checked_whole(deposits: list[Any]) -> None:
    assert schemas._canonical_batch(deposits) is None
