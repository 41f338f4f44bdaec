"""The public pages of the liability proofs (docs/proofs.md), for anyone, no sign-in: each
institution's published liabilities (the latest root, total, the bank's attested balance,
coverage, the log entry) with their history, and the public log's checkpoints and entries.
The same reads as the public API (`service.proofs.serving`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from service.api.deps import SessionDep, SettingsDep
from service.errors import DomainError
from service.pages.web import LangDep, render
from service.proofs import serving
from service.proofs.publog import PublicLog, latest_checkpoint
from service.registry.models import Institution
from tgproof import note

router = APIRouter(prefix="/proofs", include_in_schema=False)
PER_PAGE = 50


@router.get("", response_class=HTMLResponse)
def public_log(
    request: Request, session: SessionDep, settings: SettingsDep, lang: LangDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:  # fmt: skip
    """The newest checkpoint that counts and the log's entries, newest first."""
    checkpoint = latest_checkpoint(session, settings)
    shown = None
    if checkpoint is not None:
        body, signatures = note.split_note(checkpoint.note)
        parsed = note.parse_checkpoint(body)
        shown = {"size": parsed.size, "root": parsed.root.hex(), "note": checkpoint.note,
                 "signers": [s.name for s in signatures],
                 "cosignatures": checkpoint.cosignatures}  # fmt: skip
    size = PublicLog(session).size()
    end = max(size - (page - 1) * PER_PAGE, 0)
    rows = serving.entries(session, max(end - PER_PAGE, 0), end)
    entries = [{"index": r["index"], **json.loads(r["entry"])} for r in reversed(rows)]
    names = _names(session, [e["institution_id"] for e in entries if "institution_id" in e])
    return render(request, "proofs_log.html", lang, checkpoint=shown, entries=entries,
                  names=names, size=size, page=page, more=end - PER_PAGE > 0,
                  coverage=_coverage)  # fmt: skip


@router.get("/institutions/{institution_id}", response_class=HTMLResponse)
def institution(
    request: Request, institution_id: str, session: SessionDep, lang: LangDep
) -> Response:
    """An institution's published liabilities: the latest day, and the days before."""
    name = session.scalar(select(Institution.name).where(Institution.id == institution_id))
    if name is None:
        raise DomainError("not_found", "no such institution")
    history = serving.history(session, institution_id, limit=60)
    return render(request, "proofs_institution.html", lang, name=name,
                  institution_id=institution_id, latest=history[0] if history else None,
                  history=history)  # fmt: skip


def _names(session: Any, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return {i: n for i, n in rows}


def _coverage(entry: dict[str, Any]) -> str:
    """Attested ÷ total of a logged entry, as the pages show a ratio (one decimal)."""
    if entry.get("attested_balance") is None or entry.get("total") in (None, "0.00"):
        return "—"
    attested = int(str(entry["attested_balance"]).replace(".", ""))
    total = int(str(entry["total"]).replace(".", ""))
    return f"{attested * 1000 // total / 10:.1f}%"
