"""README's test command as a user without PostgreSQL runs it: the skipped PostgreSQL half is
one summary line, not a line per test; under CI the same tests fail instead."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SELECTION = "tests/test_cli_tokens.py"  # small, with tests on both backends


def run_pytest(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {  # nothing of the pytest (or xdist worker) running this test
        k: v
        for k, v in os.environ.items()
        if k not in ("SUPPLY_LEDGER_TEST_POSTGRES_URL", "CI") and not k.startswith("PYTEST_")
    }
    environment |= {"PYTHONPATH": str(REPOSITORY), **env}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *arguments, SELECTION]
    return subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=300)


def test_without_postgresql_the_skipped_half_is_one_summary_line() -> None:
    done = run_pytest("-n", "2")
    assert done.returncode == 0, done.stdout[-3000:]
    mentions = [line for line in done.stdout.splitlines() if "PostgreSQL" in line]
    skipped = int(re.search(r"(\d+) skipped", done.stdout.splitlines()[-1]).group(1))  # type: ignore[union-attr]
    assert skipped > 0
    assert mentions == [
        f"SKIPPED [{skipped}] tests/conftest.py:{skip_line()}: PostgreSQL tests need "
        "SUPPLY_LEDGER_TEST_POSTGRES_URL=postgresql://user@host:port/db to run"
    ]


def test_under_ci_the_postgresql_half_fails_instead() -> None:
    done = run_pytest("-q", CI="true")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "SUPPLY_LEDGER_TEST_POSTGRES_URL is not set: CI must run the PostgreSQL tests" in done.stdout
    assert re.search(r"\d+ passed, \d+ errors? in", done.stdout.splitlines()[-1]), done.stdout.splitlines()[-1]
    assert "skipped" not in done.stdout.splitlines()[-1]


def skip_line() -> int:
    from tests.conftest import skip_postgres

    return skip_postgres.__code__.co_firstlineno
