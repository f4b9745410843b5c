"""`/docs` in a real headless browser, as an operator opens it on a network without
the internet: every script, style and image comes from the service itself.
(There is no `/redoc`: ReDoc's bundle always loads its vendor's logo from the internet.)

Playwright drives Debian's chromium (/usr/bin/chromium); every request the page makes is
recorded, and any that leaves 127.0.0.1 is aborted and fails the test. Under CI (CI=true)
a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.live_server import LiveServer, live_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TIMEOUT_MS = 30_000
LOCAL_HOST = "127.0.0.1"
NOT_NETWORK = ("data", "blob", "about")  # drawn by the page itself, nothing fetched


@pytest.fixture(scope="module")
def chromium() -> str:
    path = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else shutil.which("chromium")
    if path is None:
        if IN_CI:
            pytest.fail("chromium is not installed: CI must run the /docs browser test (.ci/run installs it)")
        pytest.skip("the /docs browser test needs chromium: apt-get install -y chromium")
    return path


def open_docs(chromium: str, server: LiveServer) -> tuple[str, int, list[str]]:
    """The page's text and number of operations once Swagger UI has drawn them, and the URL of
    every request the page made."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    requested: list[str] = []

    def only_local(route) -> None:  # type: ignore[no-untyped-def]
        requested.append(route.request.url)
        if outside([route.request.url]):
            route.abort()
        else:
            route.continue_()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.route("**/*", only_local)
            page.goto(f"{server.base_url}/docs", wait_until="networkidle", timeout=TIMEOUT_MS)
            try:
                page.wait_for_selector(".opblock-summary-path", timeout=TIMEOUT_MS)
            except PlaywrightTimeout:
                pass  # a blank page: the assertions say what it asked for
            return page.inner_text("body"), page.locator(".opblock").count(), requested
        finally:
            browser.close()


def outside(requested: list[str]) -> list[str]:
    return [
        url for url in requested if urlparse(url).scheme not in NOT_NETWORK and urlparse(url).hostname != LOCAL_HOST
    ]


def test_swagger_ui_draws_every_operation_without_leaving_the_machine(chromium: str, tmp_path: Path) -> None:
    with live_server(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path) as server:
        document = httpx.get(f"{server.base_url}/openapi.json").json()
        text, drawn, requested = open_docs(chromium, server)
    # Swagger UI draws an operation once under each of its tags (exercise routes have two)
    listed = sum(len(operation["tags"]) for path in document["paths"].values() for operation in path.values())
    assert outside(requested) == []
    assert f"{server.base_url}/openapi.json" in requested
    assert f"{server.base_url}/static-offline-docs/swagger-ui-bundle.js" in requested
    assert "Supply Ledger" in text
    assert "/v1/depots" in text.split() and "/v1/stock" in text.split()
    assert drawn == listed > 0
