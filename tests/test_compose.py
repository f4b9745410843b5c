"""docker-compose.yml refuses to start without a database password, instead of falling back
to one written in the file: every reference to SUPPLY_LEDGER_DB_PASSWORD is `${...:?...}`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

COMPOSE_FILE = Path(__file__).resolve().parent.parent / "docker-compose.yml"
VARIABLE = "SUPPLY_LEDGER_DB_PASSWORD"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def test_every_password_in_the_compose_file_is_the_required_variable() -> None:
    text = COMPOSE_FILE.read_text()
    references = re.findall(r"\$\{" + VARIABLE + r"([^}]*)\}", text)
    assert len(references) == 4
    assert all(reference.startswith(":?") and VARIABLE in reference for reference in references), references
    required = "${" + VARIABLE + references[0] + "}"
    services = yaml.safe_load(text)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == required
    for name in ("api", "projections", "deliver"):
        url = services[name]["environment"]["SUPPLY_LEDGER_DATABASE_URL"]
        assert url.startswith(f"postgresql://ledger:{required}@postgres:5432/supply_ledger?")
        assert urlparse(url.replace(required, "x")).password == "x"  # no other password in the URL


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def test_docker_compose_refuses_the_file_without_a_password(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        if IN_CI:
            pytest.fail("docker-compose is not installed: CI must check the file with it (.ci/run installs it)")
        pytest.skip("docker compose is not installed (the file itself is checked above)")
    no_dotenv = tmp_path / "empty.env"
    no_dotenv.write_text("")
    config = [*command, "-f", str(COMPOSE_FILE), "--env-file", str(no_dotenv), "config"]
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    refused = subprocess.run(config, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert f"set {VARIABLE} to the database password" in refused.stderr
    accepted = subprocess.run(config, env={**env, VARIABLE: "s3cret-test"}, capture_output=True, text=True, timeout=60)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.count("s3cret-test") == 4
