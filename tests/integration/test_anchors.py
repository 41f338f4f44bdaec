"""The ledger anchor as a domain use case (`service.flows.anchors`), whoever calls it: taken,
written, read back and trusted only with its digest and this service's signature; on both
databases. The CLI's files: tests/integration/test_cli.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

import ledger
from service.flows import anchors

KEY = "anchor-test-key-0123456789"


def _taken(engine: Engine) -> anchors.Anchor:
    with engine.begin() as conn:
        return anchors.take(conn, secret_key=KEY, now=datetime(2026, 12, 7, tzinfo=UTC))


def test_an_anchor_round_trips_and_its_ledger_verifies_against_it(engine: Engine) -> None:
    anchor = _taken(engine)
    doc = json.loads(json.dumps(anchor.document()))  # as a file holds it
    heads = anchors.trusted_heads(doc, secret_key=KEY)
    assert heads == anchor.heads
    with engine.begin() as conn:
        report = anchors.verify(conn, anchor=heads)
    assert report.ok, report.problems


def _forged(doc: dict[str, Any]) -> dict[str, Any]:
    heads = dict(doc["heads"]) or {"acc_forged": [1, "0" * 64]}
    first = next(iter(heads))
    heads[first] = [heads[first][0], "f" * 64]
    return {**doc, "heads": heads}


def test_an_anchor_is_trusted_only_with_its_digest_and_this_services_signature(
    engine: Engine,
) -> None:
    doc = _taken(engine).document()
    with pytest.raises(anchors.UntrustedAnchor, match="digest"):
        anchors.trusted_heads(_forged(doc), secret_key=KEY)
    forged = _forged(doc)
    heads = {a: (int(s), str(h)) for a, (s, h) in forged["heads"].items()}
    redigested = {**forged, "digest": ledger.anchor_digest(heads)}
    with pytest.raises(anchors.UntrustedAnchor, match="signature"):
        anchors.trusted_heads(redigested, secret_key=KEY)
    with pytest.raises(anchors.UntrustedAnchor, match="signature"):
        anchors.trusted_heads(doc, secret_key="another-key-0123456789")
    for garbage in ({}, {"heads": 3, "digest": "x", "signature": "y"}, [], "anchor"):
        with pytest.raises(anchors.UntrustedAnchor):
            anchors.trusted_heads(garbage, secret_key=KEY)
