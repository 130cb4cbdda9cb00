"""SPEC §7: /docs works offline, in a real browser (Debian's headless Chromium): every request
to another host is refused, and Swagger UI still renders every operation of our document."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from ais.app import create_app
from ais.config import Settings
from tests.payments.sandbox.serving import reserve_socket, serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (CI installs it)")


@pytest.fixture(scope="module")
def docs_server(settings: Settings) -> Iterator[str]:
    sock, url = reserve_socket()
    with serve(create_app(settings.model_copy(update={"public_base_url": url})), sock):
        yield url


async def test_docs_render_with_no_network_but_the_app(docs_server):
    page, rendered = "/docs", ".opblock"
    from playwright.async_api import async_playwright

    assert CHROMIUM, "CI must install Debian's chromium package"
    own_host = urlsplit(docs_server).netloc
    refused: list[str] = []
    failed: list[str] = []

    async def only_the_app(route):  # type: ignore[no-untyped-def]
        url = route.request.url
        if urlsplit(url).netloc == own_host or url.startswith("data:"):
            await route.continue_()
        else:
            refused.append(url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        try:
            context = await browser.new_context()
            await context.route("**/*", only_the_app)
            tab = await context.new_page()
            tab.on("requestfailed", lambda request: failed.append(request.url))
            await tab.goto(f"{docs_server}{page}")
            await tab.wait_for_selector(rendered, timeout=30_000)
            shown = await tab.locator(rendered).count()
        finally:
            await browser.close()

    async with httpx.AsyncClient() as http:
        operations = sum(len(item) for item in (await http.get(f"{docs_server}/openapi.json")).json()["paths"].values())
    assert not refused, f"{page} tried to load from outside the app: {refused}"
    assert not failed, failed
    assert shown == operations
