"""Every page of the workbench and of the parent, and every CSV export, in Chinese: nothing a
person reads is an English word or a code. The living demo (`make run`'s history, forty days of
it) after a regulator's day of work; the workbench is crawled from the overview by following
its links (as a city's office and as the province's), the parent's pages from the sign-in,
and each export linked from a page is read. What may be ASCII is data: an identifier a person
uses (a credit code, a bank's reference, the parent's own enrollment number), numbers, money,
days, and the names of the product, of the language switch and of the CSV format."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.app import create_app
from service.config import Settings
from service.kit.clock import SHANGHAI, local_date, utcnow
from service.kit.db import make_sessionmaker, session_scope
from service.registry.regions import known_regions
from tests.api.approving import approve_pending, engine_of, office_of_region
from tests.conftest import migrated_engine, new_database
from tools import demo, living

NAMES = {"TuitionGuard", "English", "CSV"}  # the product, the switch to English, the format
INTERNAL_ID = re.compile(r"^[a-z]{2,5}_[0-9a-f]{12,}$")  # ours: never shown but asked for
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.:/+]*")
REGION = re.compile(r"(?<![0-9A-Za-z])\d{6}(?![0-9A-Za-z])")
READ_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


class _Page(HTMLParser):
    """The text a person reads (and the links to follow) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("script", "style"):
            self._hidden += 1
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        self.texts.extend(a[k] for k in READ_ATTRIBUTES if a.get(k))
        if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
            self.texts.append(a["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(data.strip())


def foreign(texts: list[str], asked: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """The ASCII words and division codes of `texts` that are not data."""
    found = []
    regions = known_regions()
    for text in texts:
        for word in WORD.findall(text):
            if word in NAMES or word in asked:
                continue
            if not re.search(r"[A-Za-z]", word):  # a number, an amount, a day, a time
                continue
            if re.search(r"\d", word) and not INTERNAL_ID.match(word):
                continue  # an identifier people use: a credit code, a bank's reference
            found.append(f"{word!r} in {text[:80]!r}")
        found += [
            f"division code {c} in {text[:80]!r}" for c in REGION.findall(text) if c in regions
        ]
    return found


@dataclass
class Crawl:
    client: TestClient
    prefix: str
    asked: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    found: dict[str, list[str]] = field(default_factory=dict)
    variants: dict[tuple[str, tuple[str, ...]], int] = field(default_factory=dict)

    def run(self, start: str, most: int = 800) -> None:
        todo = [start]
        while todo and len(self.seen) < most:
            url = todo.pop(0)
            if url in self.seen or not self._worth(url):
                continue
            self.seen.add(url)
            todo += [u for u in self.visit(url) if u not in self.seen]

    def _worth(self, url: str) -> bool:
        """Each object's page; of one listing, a few of each combination of its filters."""
        parts = urlsplit(url)
        keys = tuple(sorted(p.split("=", 1)[0] for p in parts.query.split("&") if p))
        n = self.variants[(parts.path, keys)] = self.variants.get((parts.path, keys), 0) + 1
        return n <= 3

    def visit(self, url: str) -> list[str]:
        r = self.client.get(url)
        assert r.status_code < 500, (url, r.status_code)
        kind = r.headers.get("content-type", "")
        if r.status_code != 200:
            return []
        if kind.startswith("text/csv"):
            rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
            # A wind-down's ledger names the ids a bank or a court traces: data, not words.
            traced = {c for row in rows for c in row if INTERNAL_ID.match(c)} if (
                "/wind-downs/" in url) else set()  # fmt: skip
            self._note(url, foreign([c for row in rows for c in row], self.asked | traced))
            return []
        if not kind.startswith("text/html"):
            return []
        page = _Page()
        page.feed(r.text)
        self._note(url, foreign(page.texts, self.asked))
        out = []
        for link in page.links:
            target = urlsplit(urljoin(url, link))
            if target.netloc not in ("", "testserver") or not target.path.startswith(self.prefix):
                continue
            if "lang=en" in target.query or target.path.endswith(".svg"):
                continue
            out.append(target.path + (f"?{target.query}" if target.query else ""))
        return out

    def _note(self, url: str, words: list[str]) -> None:
        if words:
            self.found[url] = words


@dataclass(frozen=True)
class Demo:
    app: Any
    credentials: dict[str, Any]
    parent: living.Parent


@pytest.fixture(scope="module")
def living_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    url = new_database("sqlite", str(tmp_path_factory.mktemp("chinese")))
    engine = migrated_engine(url)
    settings = Settings(environment="development", database_url=url, scheduler_enabled=False,
                        secret_key="chinese-pages-0123456789", rate_limit_per_second=0)  # fmt: skip
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        credentials = demo.seed(s, settings=settings, now=utcnow(), bank_url=None)
        province = s.scalar(select(demo.Regulator.id).where(demo.Regulator.region_code == "220000"))
    parent = living.replay(sessions, settings, bank_id=demo.DEMO_BANK_ID,
                           regulator_id=str(province), today=local_date(utcnow()), days=40)  # fmt: skip
    assert parent is not None
    yield Demo(create_app(settings, engine=engine), credentials, parent)
    engine.dispose()


def _exports() -> list[str]:
    """Every export of the pages (the API's own, e.g. a wind-down's claims.csv for a machine
    client, answers a token, not a page's session: its twin on the workbench is crawled)."""
    from fastapi.routing import APIRoute

    from service.app import routers

    return sorted(
        prefix + r.path
        for router, prefix, _ in routers()
        for r in router.routes
        if isinstance(r, APIRoute) and r.path.endswith(".csv") and prefix == ""
    )


def _reached(export: str, seen: set[str]) -> bool:
    """Whether a URL of the export's route (its path parameters any id) was crawled."""
    pattern = re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/?]+", re.escape(export)) + r"(\?|$)")
    return any(pattern.match(u) for u in seen)


def _signed_in(d: Demo, region: str) -> TestClient:
    c = TestClient(d.app, raise_server_exceptions=False, follow_redirects=False)
    c.get("/workbench/sign-in?lang=zh")
    token = d.credentials["regulators"][region]["token"]
    r = c.post("/workbench/sign-in", data={"token": token, "csrf": c.cookies["tg_csrf"]})
    assert r.status_code == 303
    return c


def _csrf(c: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', c.get(path).text)
    assert found, path
    return found.group(1)


def _a_day_of_work(c: TestClient) -> None:
    """What an office does in a day, so that the audit log and the pages have each kind of
    entry: a freeze and its end, a case raised, claimed, acknowledged, snoozed, escalated and
    closed, a threshold changed and one refused, a disputed refund and lesson decided."""
    csrf = _csrf(c, "/workbench/institutions")
    listed = c.get("/workbench/institutions").text
    inst = re.findall(r'href="/workbench/institutions/(inst_[0-9a-f]+)"', listed)[0]
    posts: list[tuple[str, dict[str, str]]] = [
        (f"/workbench/institutions/{inst}/freeze", {"reason": "多名家长反映机构停课"}),
        (f"/workbench/institutions/{inst}/unfreeze", {"reason": "机构已恢复上课"}),
        (f"/workbench/institutions/{inst}/raise", {"note": "现场检查发现未备案的课程"}),
        ("/workbench/rules", {"region_code": "220421", "knob": "refund_overdue:weight",
                              "value": "20", "effective_from": "2099-01-01",
                              "reason": "东丰县退费投诉增多"}),
        ("/workbench/rules", {"region_code": "220400", "knob": "refund_overdue:floor",
                              "value": "很高", "effective_from": "2099-01-01", "reason": "试"}),
    ]  # fmt: skip
    cases = re.findall(r'href="/workbench/alerts/(alr_[0-9a-f]+)"', c.get("/workbench/alerts").text)
    assert len(cases) >= 3
    first, second, third = cases[:3]
    posts += [
        (f"/workbench/alerts/{first}/claim", {}),
        (f"/workbench/alerts/{first}/acknowledge", {"note": "已约谈机构负责人"}),
        (f"/workbench/alerts/{first}/snooze", {"until": "2099-01-01", "reason": "等待整改"}),
        (f"/workbench/alerts/{second}/escalate", {"reason": "涉及金额较大，请省厅督办"}),
        (f"/workbench/alerts/{third}/close", {"outcome": "rectified", "note": "机构已整改"}),
    ]
    disputes = c.get("/workbench/disputes").text
    for refund in re.findall(r'action="/workbench/refunds/(ref_[0-9a-f]+)/decide"', disputes)[:1]:
        posts.append((f"/workbench/refunds/{refund}/decide",
                      {"decision": "approve", "reason": "家长提供了缺课证明"}))  # fmt: skip
    for lesson in re.findall(r'action="/workbench/lessons/(con_[0-9a-f]+)/decide"', disputes)[:1]:
        posts.append((f"/workbench/lessons/{lesson}/decide",
                      {"decision": "reverse", "reason": "签到表上没有这名学生"}))  # fmt: skip
    for path, body in posts:
        r = c.post(path, data={**body, "csrf": csrf})
        assert r.status_code == 303, (path, r.status_code)
        assert c.get(r.headers["location"]).status_code == 200  # the page with its note
    # A school wound up (issue 34): the one that vanished with the money, opened from its file,
    # and a round distributed from the wind-down's page.
    gone = re.findall(r'href="/workbench/institutions/(inst_[0-9a-f]+)"', listed)[1]
    at = utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    r = c.post(f"/workbench/institutions/{gone}/wind-down",
               data={"reason": "absconded", "effective_at": at, "note": "负责人失联", "csrf": csrf})  # fmt: skip
    assert r.status_code == 303 and c.get(r.headers["location"]).status_code == 200
    # Four eyes (wind_down_open, wind_down_round): another supervisor of the office approves.
    engine, office = engine_of(c), office_of_region(engine_of(c), "220400")
    (opened,) = approve_pending(engine, office, utcnow, "wind_down_open", "已核实")
    assert opened is not None and opened["ok"], opened
    wd_page = f"/workbench/wind-downs/{opened['answer']['wind_down_id']}"
    r = c.post(wd_page + "/rounds", data={"amount": "", "csrf": csrf})
    assert r.status_code == 303 and c.get(r.headers["location"]).status_code == 200
    (made,) = approve_pending(engine, office, utcnow, "wind_down_round", "已核实")
    assert made is not None and made["ok"], made
    # A successor school offered from the wind-down's page (four eyes: successor_offer), so
    # the page shows each successor's tally.
    offered = re.findall(r'<option value="(inst_[0-9a-f]+)"', c.get(wd_page).text)
    assert offered and gone not in offered
    for successor in offered:
        r = c.post(wd_page + "/successor-offers",
                   data={"successor_institution_id": successor, "enrollment_ids": "", "csrf": csrf})  # fmt: skip
        assert r.status_code == 303 and c.get(r.headers["location"]).status_code == 200
        done = approve_pending(engine, office, utcnow, "successor_offer", "已核实")
        if done and done[0] is not None and done[0]["ok"]:
            break  # a school with a course that takes the lessons
    else:
        raise AssertionError("no demo school could take the wound-up school's pupils")


@pytest.mark.parametrize("region", ["220400", "220000"])
def test_every_workbench_page_and_export_is_chinese(living_demo: Demo, region: str) -> None:
    c = _signed_in(living_demo, region)
    if region == "220400":
        _a_day_of_work(c)
    crawl = Crawl(c, "/workbench")
    # The supervisor who approved the wind-down was made by tests.factories (audit actor "test").
    crawl.asked.add("test")
    crawl.run("/workbench")
    pages = {urlsplit(u).path.rsplit("/", 1)[0] for u in crawl.seen}
    assert {"/workbench/institutions", "/workbench/alerts"} <= pages  # it went deep
    for export in _exports():  # every export the service has, reached from a page
        if "/wind-downs/" in export and region != "220400":
            continue  # the wind-down is opened in the district's day of work only
        assert _reached(export, crawl.seen), export
    assert crawl.found == {}, "\n".join(f"{u}: {w[:6]}" for u, w in crawl.found.items())


def test_every_parent_page_is_chinese(living_demo: Demo) -> None:
    p = living_demo.parent
    c = TestClient(living_demo.app, raise_server_exceptions=False, follow_redirects=False)
    crawl = Crawl(c, "/parent", asked={p.enrollment_id, "enr_"})
    crawl.run(f"/parent/e/{p.enrollment_id}?lang=zh")
    form = {"enrollment_id": p.enrollment_id, "csrf": c.cookies["tg_pcsrf"]}
    for _ in range(12):  # a wrong code, again and again: the page says what to do, in Chinese
        wrong = c.post("/parent/sign-in", data={**form, "access_code": "WRONG-CODE"})
        crawl.visit(wrong.headers["location"])
    c.cookies.clear()
    c.get(f"/parent/e/{p.enrollment_id}")
    form["csrf"] = c.cookies["tg_pcsrf"]
    signed = c.post("/parent/sign-in", data={**form, "access_code": p.access_code})
    assert signed.status_code == 303
    crawl.seen.clear()
    crawl.run("/parent")
    crawl.run("/parent/refund?lessons=1")  # the refund's confirmation (a form asks for it)
    assert "/parent/refund" in {urlsplit(u).path for u in crawl.seen}
    assert crawl.found == {}, "\n".join(f"{u}: {w[:6]}" for u, w in crawl.found.items())


def test_the_demo_history_speaks_chinese() -> None:
    """Every text the demo's history gives a dispute, a refund request and its answer, a
    complaint, a registry change, a closure and a school is realistic Chinese, varied, never
    'backtest' (the replay's default for a recorded history without its own words)."""
    history = living.events(local_date(utcnow()), days=120)
    worded = {"dispute": "reason", "refund_request": "reason", "refund_answer": "reason",
              "complaint": "text", "registry_change": "new", "closure_notice": "reason",
              "institution": "address"}  # fmt: skip
    said: dict[str, set[str]] = {kind: set() for kind in worded}
    for e in history:
        if e["type"] in worded:
            text = str(e.get(worded[e["type"]]) or "")
            assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"[A-Za-z]", text), e
            said[e["type"]].add(text)
        if e["type"] == "institution":
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", str(e.get("legal_person"))), e
        if e["type"] == "enrollment":  # the workbench's 学员 column: a name, not "I0003-E6"
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", str(e.get("student"))), e
            said.setdefault("student", set()).add(str(e["student"]))
    assert all(len(said[k]) >= 2 for k in ("dispute", "refund_request", "complaint")), said
    assert len(said["student"]) >= 20, said["student"]
    # An address names its city: 西安区 alone is as much 牡丹江's (黑龙江) as 辽源's.
    cities = ("吉林省辽源市", "吉林省四平市")
    moved = {str(e["new"]) for e in history if e.get("field") == "address"}
    assert moved and said["institution"]
    for address in said["institution"] | moved:
        assert address.startswith(cities), address
