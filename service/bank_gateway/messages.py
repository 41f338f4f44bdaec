"""What the service tells a bank about an instruction, pushed to its `instruction_url` and
listed to it on `GET /bank/instructions`: one shape for both."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from service.flows.models import Instruction
from service.kit.money import InstantOut, MoneyOut


class InstructionMessage(BaseModel):
    """An order to move money out of a supervised account. The `id` is the bank's key for
    deduplication: the same instruction is always sent with the same id."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str  # release | refund
    account_no: str  # the supervised account to pay from
    amount: MoneyOut
    payee: dict[str, Any]  # {"account_no": …} or {"original_bank_txn_ids": […]}
    created_at: InstantOut
    status: str  # pending | executed | rejected

    @classmethod
    def of(cls, ins: Instruction) -> InstructionMessage:
        return cls.model_validate(ins, from_attributes=True)
