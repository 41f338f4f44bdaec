"""Liability proofs end to end (issue 36), on SQLite and PostgreSQL: the day's publication job
snapshots every institution from the ledger as of the end of the Beijing day, appends the
roots and the ledger's anchor to the log, signs the checkpoint and has two witnesses (real
HTTP servers) cosign it; a parent's proof then verifies with the independent verifier against
the published keys, and every log endpoint's proofs check."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.app import create_app
from service.config import Settings
from service.jobs.runner import run_job
from service.kit.clock import SHANGHAI
from service.kit.db import make_sessionmaker
from service.proofs import daily
from service.proofs import keys as log_keys
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import START, Clock, World
from tgproof import log, note
from tgproof.errors import ProofError
from tgproof.proof import verify_log_entry, verify_parent_proof
from tgproof.serve import make_server
from tgproof.witness import Witness, public_vkey

WITNESS_NAMES = ("bank.test/witness", "province.test/witness")


@pytest.fixture
def witnessed(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, list[Witness]]]:
    """Settings naming two witnesses, each served over HTTP on its own port with its own key
    and SQLite file."""
    log_verifier = log_keys.log_verifier(settings)
    servers, witnesses, listed = [], [], []
    for name in WITNESS_NAMES:
        key = Ed25519PrivateKey.generate()
        w = Witness(name, key, [log_verifier], str(tmp_path / f"{name.split('.')[0]}.sqlite"))
        server = make_server(w, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        witnesses.append(w)
        port = server.server_address[1]
        listed.append(
            f"{public_vkey(name, key, note.COSIGNATURE_KEY_TYPE)}@http://127.0.0.1:{port}"
        )
    yield settings.model_copy(update={"log_witnesses": ",".join(listed)}), witnesses
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proof_world(engine: Engine, witnessed: tuple[Settings, list[Witness]]) -> Iterator[World]:
    settings, _ = witnessed
    clock = Clock()
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        bank = factories.bank(engine)
        _, reg = factories.regulator(engine, "220000")
        body = factories.institution_body(bank.id)
        inst = client.post("/api/v1/institutions", json=body, headers=bearer(reg)).json()
        course = client.post("/api/v1/courses", json=factories.course_body("2026-11-23", n=40),
                             headers=bearer(inst["api_key"])).json()  # fmt: skip
        yield World(client, clock, bank, reg, inst["id"], inst["api_key"],
                    body["escrow_account_no"], course)  # fmt: skip


def publish(engine: Engine, settings: Settings, at: datetime) -> dict[str, Any]:
    return run_job(make_sessionmaker(engine), "proof_publish", as_of=at, settings=settings, now=at)


def keys_of(client: TestClient) -> note.Keys:
    answer = client.get("/.well-known/tuitionguard-log-keys")
    assert answer.status_code == 200, answer.text
    return note.parse_keys(answer.text)


def test_a_parent_proof_verifies_against_the_published_keys(
    proof_world: World, engine: Engine, witnessed: tuple[Settings, list[Witness]]
) -> None:
    settings, _ = witnessed
    w = proof_world
    first, second = w.enroll(lessons=10, amount="200.00"), w.enroll(lessons=4, amount="75.50")
    assert w.pay(first).status_code == 201 and w.pay(second).status_code == 201
    w.clock.now = START + timedelta(days=2)
    assert w.consume(first["id"], 1).status_code == 201  # 200.00 → 180.00 owed
    day = w.clock.now.astimezone(SHANGHAI).date()
    morning = datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI)
    w.clock.now = morning + timedelta(hours=5)
    # Something after the day's end is not in that day's snapshot.
    assert w.consume(first["id"], 1).status_code == 201
    done = publish(engine, settings, w.clock.now)
    assert done["day"] == day.isoformat() and done["snapshots"] >= 1
    assert done["cosignatures"] == 2

    keys = keys_of(w.client)
    assert keys.quorum == 2 and len(keys.witnesses) == 2
    proof = w.client.get("/api/v1/parent/proof", headers=w.parent(first))
    assert proof.status_code == 200, proof.text
    found = verify_parent_proof(proof.json(), keys)
    assert (found.amount_fen, found.date, found.institution_id) == (
        18000,
        day.isoformat(),
        w.inst_id,
    )
    assert found.total_fen == 18000 + 7550

    mine = w.client.get(f"/api/v1/public/institutions/{w.inst_id}/liabilities")
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["total"], body["date"], body["attested_balance"], body["coverage"]) == (
        "255.50", day.isoformat(), None, None)  # fmt: skip
    assert body["leaf_count"] == 1024 and body["log_index"] == proof.json()["log"]["index"]
    dated = w.client.get(
        f"/api/v1/public/institutions/{w.inst_id}/liabilities?date={day.isoformat()}"
    )
    assert dated.json() == body

    # The day again: nothing new is snapshotted or logged.
    size = int(note.parse_checkpoint(note.split_note(proof.json()["log"]["checkpoint"])[0]).size)
    again = publish(engine, settings, w.clock.now + timedelta(minutes=5))
    assert again["snapshots"] == 0 and again["log_size"] == size


def test_the_log_endpoints_prove_what_they_answer(
    proof_world: World, engine: Engine, witnessed: tuple[Settings, list[Witness]]
) -> None:
    settings, _ = witnessed
    w = proof_world
    assert w.pay(w.enroll(lessons=2, amount="40.00")).status_code == 201
    sizes = []
    for days in (1, 2):
        w.clock.now = START + timedelta(days=days, hours=20)
        sizes.append(publish(engine, settings, w.clock.now)["checkpoint_size"])
    keys = keys_of(w.client)
    old = w.client.get(f"/api/v1/public/log/checkpoints?size={sizes[0]}")
    new = w.client.get("/api/v1/public/log/checkpoint")
    assert old.status_code == new.status_code == 200
    assert new.headers["content-type"].startswith("text/plain")
    a, b = note.verify_checkpoint(old.text, keys), note.verify_checkpoint(new.text, keys)
    assert (a.size, b.size) == (sizes[0], sizes[1]) and a.size < b.size
    proof = w.client.get(f"/api/v1/public/log/proof/consistency?from={a.size}&to={b.size}").json()
    assert (proof["from"], proof["to"]) == (a.size, b.size)
    log.verify_consistency(a.size, b.size, [bytes.fromhex(h) for h in proof["hashes"]],
                           a.root, b.root)  # fmt: skip
    entries = w.client.get(f"/api/v1/public/log/entries?start=0&end={b.size}").json()["items"]
    assert [e["index"] for e in entries] == list(range(b.size))
    for e in (entries[0], entries[-1], entries[b.size // 2]):
        path = w.client.get(
            f"/api/v1/public/log/proof/inclusion?index={e['index']}&size={b.size}"
        ).json()
        part = {"index": e["index"], "entry": e["entry"], "inclusion": path["hashes"],
                "checkpoint": new.text}  # fmt: skip
        assert verify_log_entry(part, keys)[1] == e["index"]
        rewritten = {**part, "entry": e["entry"].replace('"date":"', '"date":"1')}
        with pytest.raises(ProofError):
            verify_log_entry(rewritten, keys)
    kinds = {note_kind(e["entry"]) for e in entries}
    assert kinds == {"liabilities", "ledger_anchor"}


def note_kind(entry: str) -> str:
    return str(json.loads(entry)["kind"])


def test_bad_log_queries_are_refused_not_failed(proof_world: World) -> None:
    c = proof_world.client
    for path in ("/api/v1/public/log/entries?start=5&end=2",
                 "/api/v1/public/log/entries?start=0&end=5000",
                 "/api/v1/public/log/proof/inclusion?index=3&size=2",
                 "/api/v1/public/log/proof/consistency?from=9&to=2",
                 "/api/v1/public/log/proof/consistency?from=-1&to=2",
                 "/api/v1/public/log/checkpoints?size=abc"):  # fmt: skip
        answer = c.get(path)
        assert answer.status_code in (404, 422), (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert c.get("/api/v1/public/log/checkpoints?size=999999").status_code == 404
    assert c.get("/api/v1/public/institutions/inst_nobody/liabilities").status_code == 404


def test_a_parent_without_a_snapshot_gets_404_and_no_one_else_gets_a_proof(
    proof_world: World,
) -> None:
    w = proof_world
    e = w.enroll(lessons=2, amount="40.00")
    assert w.pay(e).status_code == 201
    answer = w.client.get("/api/v1/parent/proof?date=2020-01-01", headers=w.parent(e))
    assert answer.status_code == 404
    assert w.client.get("/api/v1/parent/proof").status_code == 401
    assert w.client.get("/api/v1/parent/proof", headers=bearer(w.key)).status_code == 401


def test_the_banks_balance_is_attested_beside_the_root_and_a_gap_is_a_shortfall(
    proof_world: World, engine: Engine, witnessed: tuple[Settings, list[Witness]]
) -> None:
    """The escrow account's closing balance on the bank's statement of the day stands beside
    the day's root (coverage = attested ÷ total, in the log entry too); under 100% the
    snapshot is evidence of `escrow_shortfall`."""
    settings, _ = witnessed
    w = proof_world
    e = w.enroll(lessons=10, amount="200.00")
    assert w.pay(e, txn="COV-1").status_code == 201
    day = START.date().isoformat()
    statement = {"account_no": w.escrow, "statement_date": day, "opening_balance": "0",
                 "closing_balance": "150.00",
                 "transactions": [{"bank_txn_id": "COV-1", "direction": "credit",
                                   "amount": "200.00", "booked_at": START.isoformat()}]}  # fmt: skip
    assert w.signed("POST", "/api/v1/bank/statements", statement).status_code == 200
    w.clock.now = START + timedelta(days=1)
    publish(engine, settings, w.clock.now)
    body = w.client.get(f"/api/v1/public/institutions/{w.inst_id}/liabilities").json()
    assert (body["date"], body["total"], body["attested_balance"], body["coverage"]) == (
        day, "200.00", "150.00", "0.7500")  # fmt: skip
    proof = w.client.get("/api/v1/parent/proof", headers=w.parent(e)).json()
    entry = json.loads(proof["log"]["entry"])
    assert entry["attested_balance"] == "150.00" and entry["statement_id"].startswith("stm_")
    verify_parent_proof(proof, keys_of(w.client))

    sweep = w.client.post("/api/v1/risk/sweeps", headers=bearer(w.reg),
                          json={"as_of": w.clock.now.isoformat()})  # fmt: skip
    assert sweep.status_code == 200, sweep.text
    inst = w.client.get(f"/api/v1/institutions/{w.inst_id}", headers=bearer(w.reg)).json()
    shortfall = [i for i in inst["risk"]["indicators"] if i["code"] == "escrow_shortfall"]
    assert shortfall and f"{w.inst_id}/{day}" in shortfall[0]["evidence"]


def test_the_public_pages_show_each_institutions_liabilities_and_the_log(
    proof_world: World, engine: Engine, witnessed: tuple[Settings, list[Witness]]
) -> None:
    settings, _ = witnessed
    w = proof_world
    assert w.pay(w.enroll(lessons=10, amount="200.00")).status_code == 201
    w.clock.now = START + timedelta(days=1)
    publish(engine, settings, w.clock.now)
    mine = w.client.get(f"/proofs/institutions/{w.inst_id}?lang=zh")
    assert mine.status_code == 200, mine.text
    assert (
        "¥200.00" in mine.text
        and "对家长的负债" in mine.text
        and START.date().isoformat() in mine.text
    )
    english = w.client.get(f"/proofs/institutions/{w.inst_id}?lang=en")
    assert "Liabilities to parents" in english.text and "¥200.00" in english.text
    log_page = w.client.get("/proofs?lang=zh")
    assert log_page.status_code == 200 and "负债公开日志" in log_page.text
    assert f"/proofs/institutions/{w.inst_id}" in log_page.text and "账本锚点" in log_page.text
    assert w.client.get("/proofs/institutions/inst_nobody").status_code == 404


def test_trees_built_by_a_pool_of_processes_prove_the_same(
    proof_world: World, engine: Engine, witnessed: tuple[Settings, list[Witness]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A day of many institutions is built by a pool of processes (here forced: one
    institution per batch, two cores): the proofs are the same kind, in the log's order."""
    settings, _ = witnessed
    w = proof_world
    paid = [w.enroll(lessons=10, amount="200.00"), w.enroll(lessons=4, amount="75.50")]
    assert all(w.pay(e).status_code == 201 for e in paid)
    other = w.client.post("/api/v1/institutions", headers=bearer(w.reg),
                          json=factories.institution_body(w.bank.id)).json()  # fmt: skip
    pools: list[int] = []

    class Counted(daily.ProcessPoolExecutor):
        def __init__(self, workers: int, **kw: Any) -> None:
            pools.append(workers)
            super().__init__(workers, **kw)

    monkeypatch.setattr(daily, "ProcessPoolExecutor", Counted)
    monkeypatch.setattr(daily, "BATCH", 1)
    monkeypatch.setattr(daily, "POOL_MIN_BATCHES", 2)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    w.clock.now = START + timedelta(days=2)
    done = publish(engine, settings, w.clock.now)
    assert pools == [2] and done["snapshots"] >= 2 and done["cosignatures"] == 2
    keys = keys_of(w.client)
    for e, fen in zip(paid, (20000, 7550), strict=True):
        proof = w.client.get("/api/v1/parent/proof", headers=w.parent(e))
        assert proof.status_code == 200, proof.text
        found = verify_parent_proof(proof.json(), keys)
        assert (found.amount_fen, found.total_fen) == (fen, 27550)
    empty = w.client.get(f"/api/v1/public/institutions/{other['id']}/liabilities").json()
    assert (empty["total"], empty["leaf_count"]) == ("0.00", 1024)
