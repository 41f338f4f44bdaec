"""Refunds and disputed lessons on the workbench (issue 30, item 5), on SQLite and PostgreSQL:
paged, filtered by institution and district, grouped by institution, every row labelled with
its course, its student's enrollment, the lesson and the amount; decided a selection at once
with one reason, each item by its own audited call of the use case."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from service.flows import consumptions
from service.flows.models import Consumption, Enrollment
from service.kit.db import make_sessionmaker
from service.registry.models import AuditEvent, Institution
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)
from tests.api.told import told

ROW = re.compile(r'<tr id="(con_[^"]+)">(.*?)</tr>', re.S)


def _dispute_many(site: Site, per_enrollment: int) -> int:  # noqa: F811
    """Each enrollment of the disputed school reports lessons this morning, all disputed."""
    inst_id = site.shown.institutions["disputed"]
    now = site.clock.now
    with make_sessionmaker(site.engine)() as s, s.begin():
        inst = s.get(Institution, inst_id)
        assert inst is not None
        enrolled = s.scalars(select(Enrollment.id).where(Enrollment.institution_id == inst_id))
        for e in list(enrolled):
            for k in range(per_enrollment):
                made = consumptions.report(
                    s, institution=inst, enrollment_id=e, lessons=1,
                    occurred_at=now - timedelta(hours=3, minutes=k), session_ref=None,
                    now=now - timedelta(hours=2),
                )  # fmt: skip
                consumptions.dispute(s, consumption_id=made.consumption.id, enrollment_id=e,
                                     reason="孩子当天请假", now=now - timedelta(hours=1))  # fmt: skip
        return int(
            s.scalar(
                select(func.count())
                .select_from(Consumption)
                .where(Consumption.status == "disputed")
            )
            or 0
        )


def test_disputed_lessons_are_paged_grouped_filtered_and_labelled(site: Site) -> None:  # noqa: F811
    disputed = _dispute_many(site, 9)
    assert disputed > 50
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    first = c.get("/workbench/disputes?kind=lessons&lang=en").text
    assert f"Found: {disputed}" in first and "Page 1 / 2" in first
    rows = ROW.findall(first)
    assert len(rows) == 50
    for _id, row in rows:  # course, student and enrollment, when held, lessons, amount
        assert "少儿篮球" in row and "学生" in row and "…" in row and "¥20.00" in row, row
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row)
    second = ROW.findall(c.get("/workbench/disputes?kind=lessons&page=2").text)
    assert len(second) == disputed - 50
    assert not {i for i, _r in rows} & {i for i, _r in second}
    # Grouped: one heading for the school, however many of its lessons the page shows.
    assert first.count(">二道区青苗体育培训中心</a>") == 1
    # Filtered by district (the school is in 二道区 220105) and by institution.
    inst = site.shown.institutions["disputed"]
    assert (
        f"Found: {disputed}"
        in c.get("/workbench/disputes?kind=lessons&district=220105&lang=en").text
    )
    elsewhere = c.get("/workbench/disputes?kind=lessons&district=220102&lang=en").text
    assert "Found: 0" in elsewhere and not ROW.findall(elsewhere)
    mine = c.get(f"/workbench/disputes?kind=lessons&institution={inst}&lang=en").text
    assert f"Found: {disputed}" in mine
    other = site.shown.institutions["overdue"]
    assert "Found: 0" in c.get(f"/workbench/disputes?kind=lessons&institution={other}&lang=en").text
    # The refunds: the overdue one, labelled with its course and student.
    refunds = c.get("/workbench/disputes?lang=en").text
    assert "Found: 1" in refunds and "初中数学" in refunds and "孩子转学" in refunds


def test_a_selection_is_decided_with_one_reason_each_its_own_audited_call(
    site: Site,  # noqa: F811
) -> None:
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    page = c.get("/workbench/disputes?kind=lessons&lang=en").text  # the notes: in English
    if len(ROW.findall(page)) < 4:  # run apart from the first test (another xdist worker)
        _dispute_many(site, 1)
        page = c.get("/workbench/disputes?kind=lessons&lang=en").text
    chosen = [i for i, _row in ROW.findall(page)][:3]
    assert len(chosen) == 3
    before = site.audit_count()
    r = c.post("/workbench/lessons/decide", data={
        "csrf": csrf, "ids": chosen, "decision": "reverse", "reason": "机构未能提供签到记录",
        "back_to": "/workbench/disputes?kind=lessons"})  # fmt: skip
    assert told(c, r) == ("done", "Decided: 3.")
    assert site.audit_count() == before + 3
    with make_sessionmaker(site.engine)() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.subject.in_(chosen))))
        assert sorted(e.subject for e in events) == sorted(chosen)
        assert {e.action for e in events} == {"consumption:reverse"}
        assert {e.detail["reason"] for e in events} == {"机构未能提供签到记录"}
        assert {s.get(Consumption, i).status for i in chosen} == {"reversed"}  # type: ignore[union-attr]
    # Decided ones again, with a fresh one: the fresh one is decided, the others are refused.
    fresh = next(i for i, _row in ROW.findall(c.get("/workbench/disputes?kind=lessons").text))
    r = c.post("/workbench/lessons/decide", data={
        "csrf": csrf, "ids": [*chosen[:2], fresh], "decision": "uphold", "reason": "有签到记录"})  # fmt: skip
    kind, text = told(c, r) or ("", "")
    assert kind == "problem" and text.startswith("Decided: 1. Refused: 2"), text
    assert site.audit_count() == before + 4
    # Another region's regulator: not found, and nothing of the selection is kept.
    siping = site.client()
    csrf = sign_in(siping, site.shown.tokens["220300"])
    rest = [i for i, _row in ROW.findall(c.get("/workbench/disputes?kind=lessons").text)][:2]
    r = siping.post("/workbench/lessons/decide", data={
        "csrf": csrf, "ids": rest, "decision": "uphold", "reason": "x"})  # fmt: skip
    assert r.status_code == 404

    def untouched() -> bool:
        with make_sessionmaker(site.engine)() as s:
            audited = s.scalar(select(func.count()).where(AuditEvent.subject.in_(rest)))
            states = set(s.scalars(select(Consumption.status).where(Consumption.id.in_(rest))))
            return audited == 0 and states == {"disputed"}

    assert untouched()
    # No decision chosen, or nothing selected: the form is refused, nothing changes.
    csrf = sign_in(c, site.shown.tokens["220100"])
    for body in ({"ids": rest, "reason": "x"}, {"decision": "uphold", "reason": "x"}):
        assert c.post("/workbench/lessons/decide", data={"csrf": csrf, **body}).status_code == 422
    assert untouched()


def test_disputed_refunds_are_decided_as_a_selection(site: Site) -> None:  # noqa: F811
    from service.flows import refunds
    from service.flows.models import Refund

    inst_id = site.shown.institutions["reserve"]
    now = site.clock.now
    with make_sessionmaker(site.engine)() as s, s.begin():
        inst = s.get(Institution, inst_id)
        assert inst is not None
        made = []
        for e in list(s.scalars(select(Enrollment.id).where(Enrollment.institution_id == inst_id)))[
            :2
        ]:
            r = refunds.request(
                s, enrollment_id=e, lessons=2, reason="搬家", now=now - timedelta(hours=5)
            )
            refunds.respond(s, institution=inst, refund_id=r.id, decision="dispute",
                           reason="课程已开始", now=now - timedelta(hours=4))  # fmt: skip
            made.append(r.id)
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    page = c.get(f"/workbench/disputes?institution={inst_id}&lang=en").text
    assert "Found: 2" in page and all(f'name="ids" value="{r}"' in page for r in made)
    r = c.post("/workbench/refunds/decide", data={
        "csrf": csrf, "ids": made, "decision": "approve", "reason": "合同约定可退"})  # fmt: skip
    assert told(c, r) == ("done", "Decided: 2.")
    with make_sessionmaker(site.engine)() as s:
        statuses = set(s.scalars(select(Refund.status).where(Refund.id.in_(made))))
        assert (
            statuses <= {"accepted", "instructed", "paid", "failed"} and "disputed" not in statuses
        )
        audited = s.scalars(select(AuditEvent.subject).where(AuditEvent.subject.in_(made)))
        assert sorted(audited) == sorted(made)
