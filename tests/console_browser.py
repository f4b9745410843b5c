"""What the console's browser tests share: a real `supply-ledger serve` (tests/live_server.py)
on the test's backend, a token per role, Debian's chromium driven by playwright, every
request a page makes recorded (any that leaves 127.0.0.1 is aborted and reported), and
a screenshot of each page kept under `test-artefacts/console/` (not in git).

Under CI (CI=true) a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from api.app import Stores
from ledger.settings import Database
from tests.live_server import LiveServer, live_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TIMEOUT_MS = 30_000
LOCAL_HOST = "127.0.0.1"
NOT_NETWORK = ("data", "blob", "about")
ARTEFACTS = Path(os.environ.get("SUPPLY_LEDGER_TEST_ARTEFACTS", Path(__file__).parents[1] / "test-artefacts"))
ROLES = {
    "admin": ("console-admin", "admin", ()),
    "coordinator": ("console-coordinator", "coordinator", ()),
    "auditor": ("console-auditor", "auditor", ()),
    "operator": ("console-operator", "operator", ("org-a",)),
}
"""Tokens the console tests sign in with; the operator belongs to org-a (tests/api_helpers.py's world)."""


def chromium_path() -> str:
    path = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else shutil.which("chromium")
    if path is None:
        if IN_CI:
            pytest.fail("chromium is not installed: CI must run the console's browser tests (.ci/run installs it)")
        pytest.skip("the console's browser tests need chromium: apt-get install -y chromium")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per test module (each test opens its own contexts in it)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Console:
    """A running service with a token per role, a JSON client, and browser pages signed in per role."""

    server: LiveServer
    tokens: dict[str, str]
    browser: Any
    shots: Path
    requested: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    # --- the JSON API, to set up a world and to compare figures (as tests/api_helpers.py's `api`)

    def headers(self, role: str = "coordinator", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    def post(self, path: str, json: object = None, role: str = "coordinator", **headers: str) -> httpx.Response:
        return httpx.post(self.base_url + path, json=json, headers=self.headers(role, **headers), timeout=60)

    def put(self, path: str, json: object = None, role: str = "coordinator", **headers: str) -> httpx.Response:
        return httpx.put(self.base_url + path, json=json, headers=self.headers(role, **headers), timeout=60)

    def get(self, path: str, role: str = "auditor", **params: object) -> httpx.Response:
        return httpx.get(self.base_url + path, params=params, headers=self.headers(role), timeout=60)  # type: ignore[arg-type]

    # --- the browser

    def page(self, role: str | None = "coordinator", language: str = "en", **options: Any) -> Any:
        """A new browser context (its own cookies) with one page, signed in as `role` through
        the sign-in form (None: not signed in). Every request it makes is recorded."""
        context = self.browser.new_context(locale=language, **options)
        self.contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", self._only_local)
        page = context.new_page()
        if role is not None:
            sign_in(page, self.base_url, self.tokens[role])
        return page

    def shot(self, page: Any, name: str) -> Path:
        """A full-page screenshot kept as a test artefact."""
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def outside(self) -> list[str]:
        """Requests any page made to a host other than 127.0.0.1 (each was aborted)."""
        return [
            url
            for url in self.requested
            if urlparse(url).scheme not in NOT_NETWORK and urlparse(url).hostname != LOCAL_HOST
        ]

    def _only_local(self, route: Any) -> None:
        url = route.request.url
        self.requested.append(url)
        if urlparse(url).scheme not in NOT_NETWORK and urlparse(url).hostname != LOCAL_HOST:
            route.abort()
        else:
            route.continue_()

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def sign_in(page: Any, base_url: str, token: str) -> None:
    page.goto(f"{base_url}/sign-in")
    page.fill("#token", token)
    page.click("form.sign-in button[type=submit]")
    page.wait_for_load_state()
    assert "/sign-in" not in page.url, page.inner_text("main")


def issue_tokens(database_url: str) -> dict[str, str]:
    stores = Stores.open(Database(database_url))
    try:
        return {role: stores.access.issue(name, kind, orgs) for role, (name, kind, orgs) in ROLES.items()}
    finally:
        stores.close()


@pytest.fixture
def console(database_url: str, tmp_path: Path, browser: Any, request: pytest.FixtureRequest) -> Iterator[Console]:
    """A service on the test's backend (SQLite, or PostgreSQL with two workers), empty but for tokens."""
    with live_server(database_url, tmp_path) as server:
        tokens = issue_tokens(database_url)
        shots = ARTEFACTS / "console" / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        found = Console(server, tokens, browser, shots)
        try:
            yield found
        finally:
            found.close()
