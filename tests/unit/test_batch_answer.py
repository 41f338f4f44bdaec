"""A bank's batch answer encoded at once (`routes.batch_answer`) is what the route's documented
model, `DepositBatchRead`, makes of the same slots: the same JSON value, and the same bytes for
printable ASCII texts."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.bank.routes import batch_answer
from service.api.bank.schemas import DepositBatchRead, DepositRead
from service.errors import DomainError
from service.flows.deposits import DepositAnswer, Outcome


def posted(n: int) -> DepositAnswer:
    return DepositAnswer(status="posted", deposit_id=f"dep_{n}", enrollment_id=f"enr_{n}",
                         reason=None)  # fmt: skip


def held(n: int, reason: str) -> DepositAnswer:
    return DepositAnswer(status="suspense", deposit_id=f"dep_{n}", enrollment_id=None,
                         reason=reason)  # fmt: skip


def documented(outcomes: list[Outcome]) -> bytes:
    """The slots as the route's response model validates and dumps them."""
    slots: list[dict[str, object]] = []
    for o in outcomes:
        if isinstance(o, DomainError):
            slots.append({"status": "error", "code": o.code, "detail": o.detail})
        else:
            slot = DepositRead.of(o).model_dump()
            slots.append({**slot, "http_status": 201 if o.status == "posted" else 202})
    return DepositBatchRead.model_validate({"results": slots}).model_dump_json().encode()


REASONS = ["unknown_reference", "amount_mismatch", "institution_frozen"]


def test_the_answer_is_the_documented_model_s() -> None:
    outcomes: list[Outcome] = [
        posted(1),
        *(held(2 + k, r) for k, r in enumerate(REASONS)),
        DomainError("foreign_account", "account 6222 is not supervised at this bank"),
        DomainError("idempotency_conflict", 'bank_txn_id "T-1" \\ was reported / <again>'),
    ]
    response = batch_answer(outcomes)
    assert response.media_type == "application/json"
    assert response.body == documented(outcomes)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(max_size=12), max_size=4),
    reasons=st.lists(st.sampled_from(REASONS), max_size=3),
)
def test_any_text_is_the_same_json(texts: list[str], reasons: list[str]) -> None:
    outcomes: list[Outcome] = [posted(0), *(held(k, r) for k, r in enumerate(reasons))]
    outcomes += [
        DomainError("idempotency_conflict", f"bank_txn_id {t} was reported") for t in texts
    ]
    body = batch_answer(outcomes).body
    assert body.isascii()
    assert json.loads(body) == json.loads(documented(outcomes))


def test_a_reason_the_document_has_not_is_refused() -> None:
    try:
        batch_answer([held(1, "made_up")])
    except ValueError:
        return
    raise AssertionError("an undocumented reason was answered")
