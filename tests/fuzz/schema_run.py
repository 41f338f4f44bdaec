"""Schemathesis against the service's own `/openapi.json`, in process, authenticated as each
operation's caller (the security its document declares): a regulator's token, an
institution's key, a parent's session, a bank's HMAC signature computed over the very bytes
sent. Every check, positive and negative data. Shared by the bounded run in `make test`
(`tests/fuzz/test_schema.py`) and the long one (`bench/fuzz.py`)."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis
import requests
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from sqlalchemy import Engine

from service.app import create_app
from service.config import Settings
from tests import factories


@dataclass(frozen=True)
class Callers:
    regulator: str
    institution: str
    parent: str
    bank: factories.BankCred


class BankSignature(requests.auth.AuthBase):
    """Signs a request as docs/api.md says, over the body as it is sent: only where the request
    still carries the placeholder `call` gave it, so a probe with other headers (a check
    that auth is not ignored) goes out unsigned, as the check means it to."""

    PLACEHOLDER = "sign-me"

    def __init__(self, bank: factories.BankCred) -> None:
        self.bank = bank

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if r.headers.get("X-Signature") != self.PLACEHOLDER:
            return r
        if r.headers.get("X-Bank-Id") != self.bank.id:
            return r
        body = r.body or b""
        raw = body.encode() if isinstance(body, str) else bytes(body)
        url = requests.utils.urlparse(r.url or "")
        path = url.path + (f"?{url.query}" if url.query else "")
        ts = str(r.headers.get("X-Timestamp"))
        message = f"{ts}\n{r.method}\n{path}\n{hashlib.sha256(raw).hexdigest()}".encode()
        r.headers["X-Signature"] = hmac.new(
            self.bank.secret.encode(), message, hashlib.sha256
        ).hexdigest()
        return r


def world(engine: Engine, settings: Settings) -> tuple[FastAPI, Callers]:
    """The app, and one credential of each kind with something behind it."""
    from fastapi.testclient import TestClient

    app = create_app(settings, engine=engine)
    bank = factories.bank(engine)
    _, reg = factories.regulator(engine, "220000")
    with TestClient(app) as c:
        inst = c.post("/api/v1/institutions", json=factories.institution_body(bank.id),
                      headers={"Authorization": f"Bearer {reg}"}).json()  # fmt: skip
        key = {"Authorization": f"Bearer {inst['api_key']}"}
        course = c.post("/api/v1/courses", json=factories.course_body(n=20), headers=key).json()
        e = c.post("/api/v1/enrollments", headers=key, json={
            "course_id": course["id"], "student_ref": "fuzz", "lessons": 2, "amount": "40.00"},
        ).json()  # fmt: skip
        token = c.post("/api/v1/parent/sessions", json={
            "enrollment_id": e["id"], "access_code": e["access_code"]}).json()["token"]  # fmt: skip
    return app, Callers(reg, inst["api_key"], token, bank)


# Valid data may still meet a business rule no schema can say (a credit code's check digits,
# a closure not dated in the past, an `as_of` inside the re-run window): those operations,
# and only they, may answer it 422, each with its reason in the repository's
# schemathesis.toml, which `st run` reads too: one statement of it.
ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "schemathesis.toml"


def load(app: FastAPI, *, examples: int) -> Any:
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=SchemathesisConfig.from_path(CONFIG)
    )
    schema.config.generation.update(
        max_examples=examples,
        modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
        database="none",
    )
    return schema


def mutated_headers(case: Any) -> set[str]:
    """Headers a negative case's mutations changed or removed (lower case). A credential among
    them goes out as the case made it: supplying a valid one in its place would send a valid
    request the checks believe invalid (seen in the long run: a missing `Authorization`
    mutation answered 200 because the token was put back)."""
    data = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
    return {
        str(m.parameter).lower()
        for m in getattr(data, "mutations", None) or ()
        if getattr(m.parameter_location, "value", None) == "header" and m.parameter
    }


BANK_HEADERS = {"x-bank-id", "x-timestamp", "x-signature"}


def call(case: Any, who: Callers) -> Any:
    """Call as the operation's caller, and run every check on the answer."""
    security = case.operation.definition.raw.get("security") or []
    schemes = {name for requirement in security for name in requirement}
    mutated = mutated_headers(case)
    if "bankSignature" in schemes and not mutated & BANK_HEADERS:
        session = requests.Session()
        session.auth = BankSignature(who.bank)
        bank = {"X-Bank-Id": who.bank.id, "X-Timestamp": str(int(time.time())),
                "X-Signature": BankSignature.PLACEHOLDER}  # fmt: skip
        return case.call_and_validate(session=session, headers=bank)
    token = (
        who.regulator if "regulatorToken" in schemes
        else who.institution if "institutionKey" in schemes
        else who.parent if "parentSession" in schemes
        else None
    )  # fmt: skip
    if "bankSignature" in schemes or "authorization" in mutated:
        token = None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return case.call_and_validate(headers=headers)


@dataclass(frozen=True)
class Failure:
    operation: str
    mode: str
    error: str


def fuzz(schema: Any, who: Callers, *, examples: int, seed: int = 0) -> tuple[int, list[Failure]]:
    """Every operation, positive then negative data, `examples` cases each: the cases run and
    what failed (the smallest failing case's error, as Hypothesis shrinks it)."""
    ran, failures = 0, []
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            cases = _cases(op, mode, who, examples=examples, seed=seed)
            try:
                ran += cases()
            except (Exception, BaseExceptionGroup) as exc:  # a failed check, with its operation
                if type(exc).__name__ in NOTHING_TO_GENERATE:
                    continue
                failures.append(
                    Failure(op.label, mode.value, f"{type(exc).__name__}: {exc}"[:3000])
                )
    return ran, failures


def _cases(op: Any, mode: Any, who: Callers, *, examples: int, seed: int) -> Any:
    count = 0

    @hypothesis.settings(max_examples=examples, database=None, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck),
                         derandomize=seed == 0, phases=FUZZ_PHASES)  # fmt: skip
    @hypothesis.given(op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal count
        count += 1
        call(case, who)

    def go() -> int:
        (hypothesis.seed(seed)(run) if seed else run)()
        return count

    return go


# No case of this kind exists (negative data for an operation that takes no input at all).
NOTHING_TO_GENERATE = {"Unsatisfiable", "SkipTest", "Skipped"}
FUZZ_PHASES = [hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink]


def now() -> datetime:
    return datetime.now(UTC)
