"""Asking the witnesses to cosign (docs/proofs.md §5; C2SP tlog-witness `add-checkpoint`):
after each append, the newest checkpoint goes to every witness that has not cosigned it, with
a consistency proof from the size that witness last cosigned. A witness that holds another
size says so (409 and its size) and is asked once more from there; one that is down is asked
again after the next append. Runs after the appending transaction has committed: a witness
is never kept waiting on the log's lock."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.proofs import keys as log_keys
from service.proofs.models import Checkpoint, WitnessState
from service.proofs.publog import PublicLog, forget
from tgproof import note

log = logging.getLogger(__name__)

Post = Callable[[str, str], tuple[int, str]]  # (url, body) -> (status, text)


def http_post(timeout: float) -> Post:
    def post(url: str, body: str) -> tuple[int, str]:
        answer = httpx.post(url, content=body.encode(), timeout=timeout,
                            headers={"Content-Type": "text/plain; charset=utf-8"})  # fmt: skip
        return answer.status_code, answer.text

    return post


def request_body(old: int, proof: list[bytes], signed: str) -> str:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return "\n".join(lines) + "\n\n" + signed


def cosign_latest(
    sessions: sessionmaker[Session], settings: Settings, *, now: datetime,
    post: Post | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Every configured witness asked to cosign the newest checkpoint; how many now have."""
    post = post or http_post(settings.log_witness_timeout_seconds)
    witnesses = log_keys.witnesses(settings)
    with sessions.begin() as session:
        checkpoint = session.scalars(
            select(Checkpoint).order_by(Checkpoint.size.desc()).limit(1)
        ).first()
        if checkpoint is None or not witnesses:
            return {"cosignatures": 0}
        size, signed = checkpoint.size, checkpoint.note
        body, _ = note.split_note(signed)
        held = {w.name: w.size for w in session.scalars(select(WitnessState))}
        proofs = {}
        public = PublicLog(session)
        for w in witnesses:
            old = min(held.get(w.verifier.name, 0), size)
            proofs[old] = public.consistency(old, size)
    lines: list[str] = []
    for w in witnesses:
        if note.signed_by(w.verifier, body, note.split_note(signed)[1]):
            continue
        old = min(held.get(w.verifier.name, 0), size)
        line = _ask(sessions, w, old, size, signed, proofs, post)
        if line is not None:
            lines.append(line)
            held[w.verifier.name] = size
    with sessions.begin() as session:
        checkpoint = session.get(Checkpoint, size, with_for_update=True)
        assert checkpoint is not None
        body, _ = note.split_note(checkpoint.note)
        for line in lines:
            if line not in checkpoint.note:
                checkpoint.note += line
        _, signatures = note.split_note(checkpoint.note)
        checkpoint.cosignatures = sum(
            note.signed_by(w.verifier, body, signatures) for w in witnesses
        )
        forget(session)
        for name, at in held.items():
            state = session.get(WitnessState, name)
            if state is None:
                session.add(WitnessState(name=name, size=at, updated_at=now))
            elif state.size != at:
                state.size, state.updated_at = at, now
        return {"checkpoint_size": size, "cosignatures": checkpoint.cosignatures}


def _ask(
    sessions: sessionmaker[Session], w: log_keys.WitnessEndpoint, old: int, size: int,
    signed: str, proofs: dict[int, list[bytes]], post: Post,
) -> str | None:  # fmt: skip
    """The witness's cosignature line, or None (logged) when it does not give one."""
    for _ in range(2):
        if old not in proofs:
            with sessions.begin() as session:
                proofs[old] = PublicLog(session).consistency(old, size)
        try:
            status, text = post(w.url + "/add-checkpoint", request_body(old, proofs[old], signed))
        except httpx.HTTPError as exc:
            log.warning("witness %s unreachable: %s", w.verifier.name, exc)
            return None
        if status == 200:
            return text if text.endswith("\n") else text + "\n"
        if status == 409 and text.strip().isdigit() and int(text.strip()) <= size:
            old = int(text.strip())  # it holds another size: ask once more from there
            continue
        log.warning("witness %s refused checkpoint %d: %d %s", w.verifier.name, size, status,
                    text.strip()[:200])  # fmt: skip
        return None
    return None
