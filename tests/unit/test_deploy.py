"""docker-compose.yml describes a real deployment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_has_db_api_scheduler() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"db", "api", "scheduler"} <= services.keys()
    assert "healthcheck" in services["db"] and "pgdata" in spec["volumes"]
    for name in ("api", "scheduler"):
        assert services[name]["build"] == "."
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
        assert "DATABASE_URL" in services[name]["environment"]


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return (
        subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )


@pytest.mark.skipif(not _compose_available(), reason="no docker compose client on this machine")
def test_docker_compose_config_is_valid() -> None:
    out = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        env={
            "POSTGRES_PASSWORD": "x",
            "SECRET_KEY": "y" * 32,
            "LOG_SIGNING_KEY": "ab" * 32,
            "LOG_ORIGIN": "log.example",
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
