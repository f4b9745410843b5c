"""README's "Using it" commands, run as written by bash against `supply-ledger serve --demo`
on a fresh ledger, as a new user would after the first command.

The block runs under `set -euo pipefail` with `curl` wrapped so that an HTTP error fails it
(`--fail-with-body`) and every call is logged: the test fails if any command fails, if a
variable is undefined, or if fewer calls ran than the block has. Only the port differs
from README (a free one instead of 8000). Needs curl and jq (README says so); under CI a
missing one is a failure, never a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import free_port, wait_healthy

REPOSITORY = Path(__file__).resolve().parent.parent
README_URL = "http://127.0.0.1:8000"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
START_SECONDS = 240  # the demo loads before the server answers
RUN_SECONDS = 600

CURL_WRAPPER = """
set -euo pipefail
curl() {
  local status=0
  command curl --fail-with-body --max-time 120 "$@" || status=$?
  printf '%s %s\\n' "$status" "${@: -1}" >> "$CURL_LOG"
  return "$status"
}
"""


def using_it_block() -> str:
    """The first ```sh block after README's "## Using it" heading."""
    readme = (REPOSITORY / "README.md").read_text()
    section = readme[readme.index("\n## Using it\n") :]
    match = re.search(r"\n```sh\n(.*?)\n```\n", section, re.DOTALL)
    assert match is not None, "README's Using it section has no ```sh block"
    return match.group(1)


def curl_calls(block: str) -> int:
    return sum(len(re.findall(r"\bcurl\b", line)) for line in block.splitlines() if not line.lstrip().startswith("#"))


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    """`supply-ledger serve --demo` on the default ledger of an empty directory, as README starts it."""
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            if IN_CI:
                pytest.fail(f"{tool} is not installed: CI must run README's commands (.ci/run installs it)")
            pytest.skip(f"README's commands need {tool}")
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SUPPLY_LEDGER_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "api", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, START_SECONDS, lambda: log.read_text(errors="replace"))
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def test_every_command_of_readme_runs_as_written_on_a_fresh_demo(demo_server: str, tmp_path: Path) -> None:
    block = using_it_block()
    calls = curl_calls(block)
    assert calls >= 25 and README_URL in block
    shutil.copytree(REPOSITORY / "scenarios", tmp_path / "scenarios")  # README runs in the repository
    log = tmp_path / "curl.log"
    script = CURL_WRAPPER + block.replace(README_URL, demo_server)
    env = {**os.environ, "CURL_LOG": str(log)}
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_SECONDS
    )
    ran = log.read_text().splitlines() if log.exists() else []
    assert done.returncode == 0, f"README's commands stopped after {ran[-1:]}: {done.stderr[-2000:]}"
    assert len(ran) == calls
    assert [line for line in ran if not line.startswith("0 ")] == []
    assert '"valid":true' in done.stdout  # the digest kept earlier verifies
    assert '"corrects":{"event_id":' in done.stdout  # the correction names the receipt
    assert "<html" in (tmp_path / "replay.html").read_text().lower()
    assert "<html" in (tmp_path / "review.html").read_text().lower()
