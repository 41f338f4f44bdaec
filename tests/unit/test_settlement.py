"""Settlement is one explicit table, complete for every instruction purpose (issue:
architecture, explicit settlement): a purpose with no handler stops the app from starting
instead of settling silently half."""

from __future__ import annotations

import pytest

from service.flows import settlement
from service.flows.instructions import PURPOSES


def test_every_purpose_has_its_settlement() -> None:
    assert set(settlement.SETTLEMENTS) == set(PURPOSES)
    settlement.check_complete()


def test_a_missing_handler_is_an_error_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(settlement.SETTLEMENTS)
    del table["refund"]
    monkeypatch.setattr(settlement, "SETTLEMENTS", table)
    with pytest.raises(RuntimeError, match="refund"):
        settlement.check_complete()
    from service.app import create_app
    from service.config import Settings

    with pytest.raises(RuntimeError, match="refund"):
        create_app(
            Settings(
                environment="test",
                log_signing_key="ab" * 32,
                database_url="sqlite://",
                secret_key="x" * 20,
            )
        )
