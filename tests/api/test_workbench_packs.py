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
