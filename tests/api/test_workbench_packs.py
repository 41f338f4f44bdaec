"""The workbench's pack page: the pack in force for an institution and a day, rule by rule
with its source and where it was defined, in Chinese and in English; another region's
institution is the 404 page."""

from __future__ import annotations

import re

from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)


def test_an_institutions_pack_rule_by_rule_in_both_languages(site: Site) -> None:  # noqa: F811
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    inst = site.shown.institutions["disputed"]  # a non-subject school in Changchun
    zh = c.get("/workbench/packs", params={"institution_id": inst, "on": "2026-10-08"})
    assert zh.status_code == 200, zh.text[:300]
    row = re.search(r'<tr id="rule-prepay_caps">(.*?)</tr>', zh.text, re.S)
    assert row, zh.text[:500]
    assert "¥5,000.00" in row.group(1) and "吉林省" in row.group(1)  # defined by Jilin
    assert "第七条" in row.group(1)
    window = re.search(r'<tr id="rule-confirmation_window">(.*?)</tr>', zh.text, re.S)
    assert window and "7 个自然日" in window.group(1) and "全国" in window.group(1)
    en = c.get("/workbench/packs", params={"institution_id": inst, "lang": "en"})
    assert "Window to dispute a lesson" in en.text and "7 calendar days" in en.text
    assert "Non-subject training" in en.text


def test_a_region_and_sector_of_ones_own_and_no_other(site: Site) -> None:  # noqa: F811
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    ok = c.get("/workbench/packs", params={"region_code": "220102", "sector": "fitness",
                                           "lang": "en"})  # fmt: skip
    assert ok.status_code == 200 and "Fitness" in ok.text
    assert c.get("/workbench/packs", params={"region_code": "330106"}).status_code == 404
    other = site.shown.institutions["elsewhere"]  # in Siping: not Changchun's
    assert c.get("/workbench/packs", params={"institution_id": other}).status_code == 404


def test_a_change_proposed_waits_beside_the_rule_in_force(site: Site) -> None:  # noqa: F811
    """The page's form: one rule, its value, source, day and reason; under four eyes a request,
    shown beside the value in force until a supervisor approves; then a version of its own. A
    value the rule refuses is said on the page and asks nobody."""
    from datetime import timedelta

    from tests.api.approving import approve_pending, office_of_region

    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    page = "/workbench/packs?region_code=220102&sector=all"
    assert "没有待审批的变更" in c.get(page).text
    later = (site.clock.now + timedelta(days=30)).date().isoformat()
    form = {"csrf": csrf, "region_code": "220102", "sector": "all", "back_to": page,
            "rule": "confirmation_window", "value": '{"working_days": 7}',
            "source_title": "南关区预收费管理细则", "source_issuer": "南关区教育局",
            "effective_from": later, "reason": "改为工作日"}  # fmt: skip
    bad = c.post("/workbench/packs/proposals", data={**form, "value": '{"working_days": 900}'})
    assert bad.status_code == 303 and 'role="alert"' in c.get(bad.headers["location"]).text
    r = c.post("/workbench/packs/proposals", data=form)
    assert r.status_code == 303 and r.headers["location"].startswith(page)
    shown = c.get(r.headers["location"]).text
    assert "已提交审批" in shown
    proposal = re.search(r'data-testid="proposal">(.*?)</table>', shown, re.S)
    assert proposal, shown[:500]
    assert "7 个自然日" in proposal.group(1) and "7 个工作日" in proposal.group(1)
    assert "改为工作日" in proposal.group(1)
    office = office_of_region(site.engine, "220100")
    done = approve_pending(site.engine, office, lambda: site.clock.now, "rule_pack_change")
    assert [x and x["ok"] for x in done] == [True]
    after = c.get(page + f"&on={later}").text
    assert "没有待审批的变更" in after
    window = re.search(r'<tr id="rule-confirmation_window">(.*?)</tr>', after, re.S)
    assert window and "7 个工作日" in window.group(1) and "南关区预收费管理细则" in window.group(1)
