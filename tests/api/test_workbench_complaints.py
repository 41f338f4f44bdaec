"""The complaint queue (issue 31, finding 3): a flood hid everyone else's complaints, since the
queue showed the newest 200 with no paging. Now it is grouped by institution and category with
the parents behind each group, and every complaint is reachable page by page. Over HTTP, on
SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from sqlalchemy import select

from service.flows.models import Complaint, Enrollment
from service.kit.db import make_sessionmaker
from service.kit.ids import new_id
from service.registry.models import AuditEvent, Institution
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)

REAL = "老师三周没来上课了"


def _flood(site: Site) -> tuple[str, str]:  # noqa: F811
    """One real complaint at one school, then 200 spam complaints from one enrollment of
    another, all newer; the two schools' ids."""
    sessions = make_sessionmaker(site.engine)
    with sessions.begin() as s:
        schools = list(s.scalars(select(Institution.id).where(
            Institution.region_code.startswith("2201")).order_by(Institution.id)))  # fmt: skip
        real_at, spam_at = schools[0], schools[1]
        spammer = s.scalar(select(Enrollment.id).where(Enrollment.institution_id == spam_at))
        t0 = site.clock.now - timedelta(hours=2)
        s.add(Complaint(id=new_id("cmp"), institution_id=real_at, enrollment_id=None,
                        category="teaching_stopped", text=REAL, created_at=t0))  # fmt: skip
        for n in range(200):
            s.add(Complaint(id=new_id("cmp"), institution_id=spam_at, enrollment_id=spammer,
                            category="other", text=f"spam {n}",
                            created_at=t0 + timedelta(seconds=n + 1)))  # fmt: skip
    return real_at, spam_at


def test_a_flood_hides_no_one_and_counts_as_one_parent(site: Site) -> None:  # noqa: F811
    real_at, spam_at = _flood(site)
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    first = c.get("/workbench/complaints?lang=en")
    assert first.status_code == 200
    rows = re.findall(r'<tr><th scope="row"><a href="/workbench/complaints\?institution_id='
                      r'([^&]+)&amp;category=(\w+)">.*?</a></th><td>.*?</td><td>(\d+)</td>'
                      r"<td>(\d+)</td>", first.text)  # fmt: skip
    groups = {(i, cat): (int(p), int(n)) for i, cat, p, n in rows}
    assert groups[(spam_at, "other")] == (1, 200)  # 200 complaints, one parent
    assert groups[(real_at, "teaching_stopped")][0] >= 1

    # Page by page, newest first: the real complaint is reached, each complaint once.
    seen: list[str] = []
    page, pages = first.text, 0
    while True:
        seen += re.findall(r'<li id="(cmp_[0-9a-f]+)">', page)
        older = re.search(r'<a href="([^"]+)#latest" rel="next">', page)
        if older is None:
            break
        pages += 1
        assert pages < 20
        page = c.get(unescape(older.group(1))).text
    assert len(seen) == len(set(seen)) >= 201
    assert REAL in "".join(c.get(f"/workbench/complaints?institution_id={real_at}").text)
    with make_sessionmaker(site.engine)() as s:
        real = s.scalar(select(Complaint.id).where(Complaint.text == REAL))
    assert real in seen


def test_a_cursor_the_page_did_not_give_is_refused(site: Site) -> None:  # noqa: F811
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    for bad in (
        "x",
        "2026-01-01T00:00:00|cmp_1",
        "not-a-date|cmp_1",
        "2026-01-01T00:00:00+00:00|x",
        "0001-01-01T00:00:00+01:00|cmp_1",
        "9999-12-31T23:59:59-01:00|cmp_1",
    ):
        r = c.get("/workbench/complaints", params={"cursor": bad})
        assert 400 <= r.status_code < 500, (bad, r.status_code)


def test_a_complaint_is_handled_from_the_queue_by_its_region_only(site: Site) -> None:  # noqa: F811
    """Marked handled by a regulator of its region (audited; its parent may then file another
    of its kind); another city's regulator gets 404 and changes nothing."""
    with make_sessionmaker(site.engine).begin() as s:
        school = s.scalar(select(Institution.id).where(Institution.region_code.startswith("2201")))
        cid = new_id("cmp")
        s.add(Complaint(id=cid, institution_id=school, enrollment_id=None, category="quality",
                        text="没有消防通道", created_at=site.clock.now))  # fmt: skip
    siping = site.client()
    csrf = sign_in(siping, site.shown.tokens["220300"])
    r = siping.post(f"/workbench/complaints/{cid}/handle", data={"csrf": csrf})
    assert r.status_code == 404
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    page = c.get("/workbench/complaints", params={"institution_id": school}).text
    assert f'action="/workbench/complaints/{cid}/handle"' in page
    assert c.post(f"/workbench/complaints/{cid}/handle", data={"csrf": "forged"}).status_code == 403
    with make_sessionmaker(site.engine)() as s:
        assert s.get(Complaint, cid).handled_at is None
    r = c.post(f"/workbench/complaints/{cid}/handle", data={"csrf": csrf})
    assert r.status_code == 303
    with make_sessionmaker(site.engine)() as s:
        done = s.get(Complaint, cid)
        assert done.handled_at is not None and done.handled_by
        audited = s.scalar(select(AuditEvent).where(AuditEvent.subject == cid))
        assert audited is not None and audited.action == "complaint:handle"
    page = c.get("/workbench/complaints", params={"institution_id": school}).text
    assert f'action="/workbench/complaints/{cid}/handle"' not in page
