"""Swagger UI in headless Chromium: every operation listed, Authorize, Try it out on GET /v1/trades."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask
from playwright import sync_api as playwright

from tests.api import conftest as api_fixtures

# The API tests' app factory, so the served app is built exactly as theirs are.
issuer_key_pem = api_fixtures.issuer_key_pem
make_app = api_fixtures.make_app
live_server = api_fixtures.live_server
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def served(live_server: tuple[Flask, int]) -> tuple[Flask, str]:
    app, port = live_server
    return app, f"http://127.0.0.1:{port}"


@pytest.mark.deep  # `make test-deep` installs Debian's chromium first
def test_swagger_ui_lists_every_operation_and_tries_one(served: tuple[Flask, str], tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "needs Debian's chromium: `make test-deep` installs it"
    app, base = served
    spec = app.test_client().get("/v1/openapi.json").get_json()
    expected = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    token = app.extensions["tradeapp"].issuer.issue("browser")

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            page = browser.new_page()
            # GIVEN Swagger UI, its assets served by the app itself
            page.goto(f"{base}/v1/docs", wait_until="networkidle")
            page.wait_for_selector(".opblock", timeout=15_000)
            listed = set()
            for block in page.locator(".opblock").all():
                method = block.locator(".opblock-summary-method").inner_text().strip().upper()
                path = block.locator(".opblock-summary-path").get_attribute("data-path")
                listed.add((method, path))
            assert listed == expected

            # WHEN the user authorizes with a token and tries GET /v1/trades
            page.click("button.authorize")
            page.fill(".modal-ux input[type=text], .modal-ux input:not([type])", token)
            page.click(".modal-ux button.modal-btn.authorize")
            page.click(".modal-ux button.btn-done")
            operation = (
                page.locator("#operations-trades-get_v1_trades, .opblock-get")
                .filter(has=page.locator('[data-path="/v1/trades"]'))
                .first
            )
            operation.locator(".opblock-summary").click()
            operation.locator("button.try-out__btn").click()
            operation.locator("button.execute").click()
            status = operation.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for(timeout=15_000)
            page.screenshot(path=str(tmp_path / "swagger-ui.png"), full_page=True)

            # THEN the live response is a 200
            assert status.inner_text().strip() == "200"
        finally:
            browser.close()
