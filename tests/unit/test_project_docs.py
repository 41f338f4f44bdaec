"""The project stands on its own: docs/api.md is what the OpenAPI document generates, every
endpoint is described there, no tracked file sends a reader to contract files a clone does not
have, and the README's figures of the demo are the demo's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from service.app import create_app
from service.config import Settings
from tools import apidoc, demo, living

ROOT = Path(__file__).resolve().parents[2]
# Built from pieces, so that this file does not name what it looks for.
SHARED = re.compile(r"(?<![\w/.-])(" + "|".join(("API", "DOMAIN", "BACKTEST")) + r")\.md")


def test_docs_api_md_is_generated_from_the_openapi_document() -> None:
    assert (ROOT / "docs" / "api.md").read_text(encoding="utf-8") == apidoc.markdown(), (
        "regenerate it: .venv/bin/python -m tools.apidoc > docs/api.md"
    )


def test_every_endpoint_says_what_it_does() -> None:
    settings = Settings(
        environment="test", log_signing_key="ab" * 32, database_url="sqlite://", secret_key="x" * 20
    )
    doc = create_app(settings).openapi()
    ops = {f"{m.upper()} {p}": op for p, item in doc["paths"].items() for m, op in item.items()}
    undescribed = [k for k, op in ops.items() if not op.get("description") and k not in apidoc.WHAT]
    assert undescribed == [], "give it a docstring, or a line in tools/apidoc.py's WHAT"
    assert sorted(set(apidoc.WHAT) - set(ops)) == []  # no line for an endpoint that is gone
    assert sorted(k for k in apidoc.WHAT if ops[k].get("description")) == []  # one source each


def test_no_tracked_file_points_at_the_shared_contract_files() -> None:
    """A clone has no ../shared: the project's own docs/api.md, docs/domain.md and
    docs/backtest.md say what those files said, in its own words."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    found = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".ico", ".mo", ".gz"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        found += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}" for m in SHARED.finditer(text)]
        if "../shared/" + "API" in text or "../shared/" + "DOMAIN" in text:
            found.append(name)
    assert found == []
    for doc in ("api.md", "domain.md", "backtest.md"):
        assert (ROOT / "docs" / doc).stat().st_size > 2000, doc


def test_the_readme_counts_the_demo_s_schools_as_the_demo_makes_them() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    schools = [r for _, r, category, *_ in demo.INSTITUTIONS if category != "fitness"]
    districts = schools + [r for _, r in living.SCHOOLS]
    liaoyuan = sum(r.startswith("2204") for r in districts)
    siping = sum(r.startswith("2203") for r in districts)
    said = re.search(r"holds (\d+) schools: (\d+) of Liaoyuan .*?and (\d+) of Siping", readme, re.S)
    assert said, "the README no longer says how many schools the demo has"
    assert tuple(map(int, said.groups())) == (len(districts), liaoyuan, siping)
    gyms = [r for _, r, category, *_ in demo.INSTITUTIONS if category == "fitness"]
    assert gyms == ["310104"] and "gym in Shanghai's Xuhui district (310104)" in readme
