"""The front door says where to go, and the API documents itself with no internet: /docs and
/redoc load only the project's own copies of their scripts."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_the_front_door_links_every_audience(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for href in ("/workbench", "/parent", "/docs"):
        assert f'href="{href}"' in page.text
    assert '<html lang="zh-CN"' in page.text  # Chinese by default
    assert 'href="/docs"' in client.get("/?lang=en").text


def test_the_documentation_needs_nothing_from_elsewhere(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200, path
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/") for s in sources), (path, sources)
        assert "fonts.googleapis" not in page.text and "cdn." not in page.text
        for source in sources:
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 500, source
    assert client.get("/static/vendor/redoc/..%2F..%2Fstyle.css").status_code == 404
    assert client.get("/static/vendor/swagger-ui/index.html").status_code == 404
