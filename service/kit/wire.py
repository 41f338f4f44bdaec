"""The base of every request body: unknown fields refused, whitespace trimmed, and no control
characters in any text (PostgreSQL refuses NUL in text, and no field of this API has a use for
the others); tabs and line breaks stay allowed in free text."""

from __future__ import annotations

import re
from typing import Annotated, Any

import annotated_types
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control(value: Any) -> bool:
    """Whether `value`, or any text nested in it, holds a control character."""
    if isinstance(value, str):
        return _CONTROL.search(value) is not None
    if isinstance(value, dict):
        return any(has_control(k) or has_control(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        flat = _flat_text(value)
        if flat is not None:
            return _CONTROL.search(flat) is not None
        return any(has_control(v) for v in value)
    return False


def _flat_text(values: list[Any] | tuple[Any, ...]) -> str | None:
    """The keys and values of a list of flat objects of texts (a bank's batch: a thousand
    deposits), joined into one text, or None for anything else. One search of it finds what
    a search of each would, at a fraction of the cost (the pattern matches single characters)."""
    try:
        return "".join([t for d in values for kv in d.items() for t in kv])
    except (AttributeError, TypeError):  # not all objects, or a value that is not a text
        return None


def flat_and_clean(values: Any) -> bool:
    """Whether `values` is a list of flat objects of texts (keys and values) none of which
    holds a control character: for a body's fast path, which validates the full way when not."""
    if not isinstance(values, list):
        return False
    flat = _flat_text(values)
    return flat is not None and _CONTROL.search(flat) is None


def no_control(value: Any) -> Any:
    """The one refusal of control characters, for a body's fields (`Strict`) and for a page's
    form fields and filters (`Clean`)."""
    if has_control(value):
        raise PydanticCustomError(
            "control_character", "text may not hold control characters (NUL and the like)"
        )
    return value


# For a lone field (a form's, a query's): `Annotated[str, Form(...), Clean]`.
Clean = BeforeValidator(no_control)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        # Run for every field of every item (five thousand times in a bank's batch of a
        # thousand deposits): a text, the common case, is searched once and its bound read
        # from a cache, not from the model's fields each time.
        if isinstance(value, str):
            if _CONTROL.search(value) is not None:
                no_control(value)  # raises the one refusal
            if info.field_name is not None:
                _within_length(value, _max_lengths(cls, info.field_name))
            return value
        return no_control(value)


_MAX_LENGTHS: dict[tuple[type[BaseModel], str], tuple[int, ...]] = {}


def _max_lengths(model: type[BaseModel], field: str) -> tuple[int, ...]:
    """The `maxLength` bounds of a model's field, in their order (read once per field)."""
    key = (model, field)
    found = _MAX_LENGTHS.get(key)
    if found is None:
        rules = model.model_fields[field].metadata
        found = _MAX_LENGTHS[key] = tuple(
            r.max_length for r in rules if isinstance(r, annotated_types.MaxLen)
        )
    return found


def _within_length(value: str, bounds: tuple[int, ...]) -> None:
    """A text's `maxLength` holds for what was sent, before the trimming: the document says
    at most N characters, so N + 1 with a space in front is refused, not trimmed and taken
    (schemathesis: a schema-violating request accepted)."""
    for bound in bounds:
        if len(value) > bound:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": bound},
            )


def _whole(value: Any) -> Any:
    """A JSON integer: JSON Schema's `integer` is any number with no fraction, so 2070.0 is
    one (a client's serializer may write it so); a string, a bool or 2070.5 is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# An integer field of a request body: what the document's `integer` admits, and nothing else.
WholeNumber = Annotated[int, BeforeValidator(_whole)]


# A region code a caller sends: six digits, and the document lists the codes that exist (the
# component `RegionCode`, service.api.openapi_doc, from the shipped GB/T 2260 list), so a
# client (or a fuzzer) is told which codes the service takes. Checked against that list by the
# domain, whatever the caller: one outside it is 422 `invalid_region_code`. (Pydantic cannot
# point at a component it did not make: the document turns the mark into the reference.)
REGION_CODE_MARK = "x-tg-region-code"
RegionCode = Annotated[
    str,
    Field(pattern=r"^\d{6}$"),
    WithJsonSchema({"type": "string", REGION_CODE_MARK: True}, mode="validation"),
]
