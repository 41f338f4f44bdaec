"""The error table: docs/errors.md is what it generates, every ledger error code is in it, and
every code raised in the service is registered (issue: architecture, guard rails)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from ledger import errors as ledger_errors
from service import errors

ROOT = Path(__file__).resolve().parents[2]


def test_docs_errors_md_is_generated_from_the_table() -> None:
    assert (ROOT / "docs" / "errors.md").read_text(encoding="utf-8") == errors.markdown(), (
        "regenerate it: python -m service.errors > docs/errors.md"
    )


def test_every_ledger_code_is_answered_by_its_own_code() -> None:
    codes = {
        cls.code
        for _, cls in inspect.getmembers(ledger_errors, inspect.isclass)
        if issubclass(cls, ledger_errors.LedgerError) and cls is not ledger_errors.LedgerError
    }
    assert codes - set(errors.CODES) == set()


def test_every_code_the_service_raises_is_in_the_table() -> None:
    raised = set()
    for path in (ROOT / "service").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        raised |= set(re.findall(r'DomainError\(\s*"([a-z_]+)"', text))
        raised |= set(re.findall(r'problem_response\(\s*"([a-z_]+)"', text))
    assert raised and raised - set(errors.CODES) == set()


def test_every_entry_says_when_and_whether_a_retry_helps() -> None:
    for code, c in errors.CODES.items():
        assert c.when and c.retry, code
        assert 400 <= c.status < 600, code
