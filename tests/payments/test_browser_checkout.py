"""A passenger in a real browser (Debian's headless Chromium): open the checkout URL, press
Pay, land on the success page; the sandbox's signed webhooks then confirm the booking."""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.factories import book, new_flight, new_user
from tests.fixtures.payment_flow import open_checkout, wait_for_status

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not __import__("os").environ.get("CI"),
                                reason="Debian's chromium is not installed (CI installs it)")


async def test_pay_in_headless_chromium(live_delivering, runtime, tmp_path):
    from playwright.async_api import async_playwright

    assert CHROMIUM, "CI must install Debian's chromium package"
    async with httpx.AsyncClient(base_url=live_delivering.url, timeout=30) as http:
        user = await new_user(http)
        booking = (await book(http, user, await new_flight(runtime, economy_fare_minor=15000, currency="JPY"))).json()
        checkout = await open_checkout(http, user, booking["id"])

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            )
            try:
                page = await browser.new_page()
                await page.goto(checkout["checkoutUrl"])
                assert "15,000" in await page.content()
                await page.get_by_role("button", name="Pay").first.click()
                await page.wait_for_url(f"{live_delivering.url}/payments/success*")
                assert await page.locator("#result").inner_text() == "Payment received"
                await page.screenshot(path=str(tmp_path / "success.png"))
            finally:
                await browser.close()

        confirmed = await wait_for_status(http, user, booking["id"], "confirmed")
        assert confirmed["status"] == "confirmed"
        assert all(p["ticketNumber"] for p in confirmed["passengers"])
