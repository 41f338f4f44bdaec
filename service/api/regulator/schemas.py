"""Request and response bodies of the regulator's API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.kit.wire import Strict


class InstitutionIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    credit_code: str = Field(min_length=1, max_length=40)
    region_code: str = Field(min_length=1, max_length=12)
    category: Literal["subject", "non_subject"]
    supervision_mode: Literal["custody", "reserve"]
    bank_id: str = Field(min_length=1, max_length=64)
    escrow_account_no: str = Field(min_length=4, max_length=64)
    operating_account_no: str | None = Field(default=None, min_length=4, max_length=64)
    reserve_account_no: str | None = Field(default=None, min_length=4, max_length=64)
    legal_person: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class NoteIn(Strict):
    note: str = Field(min_length=1, max_length=2000)


class RegistryChangeIn(Strict):
    field: Literal["legal_person", "address"]
    value: str = Field(min_length=1, max_length=300)
    reason: str | None = Field(default=None, max_length=2000)


class StatusIn(Strict):
    status: Literal["blacklisted", "closed"]
    reason: str = Field(min_length=1, max_length=2000)
