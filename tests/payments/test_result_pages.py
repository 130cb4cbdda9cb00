"""SPEC §7 item 25: the pages the hosted checkout returns to name the booking (reference, flight,
route, local times), nothing personal, and look like the checkout page (the same stylesheet,
served by the app). The hosted checkout itself shows the booking reference and readable labels."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest

from tests.factories import idempotency_key, new_flight, new_user
from tests.fixtures.payment_flow import complete_checkout, open_checkout


class _Page(HTMLParser):
    """The stylesheets a page links, whether it has inline <style>, and its <dt>/<dd> pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.stylesheets: list[str] = []
        self.inline_style = False
        self.labels: dict[str, str] = {}
        self._open: str | None = None
        self._label: str | None = None
        self._value: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href") or "")
        if tag == "style" or values.get("style"):
            self.inline_style = True
        if tag in ("dt", "dd"):
            self._open, self._value = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "dt" and self._open == "dt":
            self._label = " ".join("".join(self._value).split())
        elif tag == "dd" and self._open == "dd" and self._label is not None:
            self.labels[self._label] = " ".join("".join(self._value).split())
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self._value.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


async def _booking(client, runtime):
    user = await new_user(client, runtime)
    flight = await new_flight(runtime, origin="RUH", destination="NRT", duration=timedelta(hours=9, minutes=20))
    body = {"flightId": flight.id, "cabin": "economy", "contactEmail": "private.person@example.com",
            "passengers": [{"firstName": "Hidden", "lastName": "Passenger", "type": "adult"}]}
    booking = (await client.post("/api/v1/bookings", json=body, headers={**user.headers, **idempotency_key()})).json()
    return user, flight, booking


@pytest.mark.parametrize(("path", "title"), [("/payments/success", "Payment received"),
                                             ("/payments/cancelled", "Payment not completed")])
async def test_result_page_names_the_booking_with_local_times_and_nothing_personal(client, runtime, path, title):
    _, flight, booking = await _booking(client, runtime)
    shown = (await client.get(f"/api/v1/flights/{flight.id}")).json()
    departure, arrival = (datetime.fromisoformat(shown[key]) for key in ("departureTime", "arrivalTime"))

    response = await client.get(path, params={"booking": booking["id"], "session_id": "cs_test_123"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.text
    assert f'<h1 id="result">{title}</h1>' in html
    assert f'id="booking-reference">{booking["reference"]}<' in html
    labels = parse(html).labels
    assert labels["Flight"] == f"{flight.flight_number}, RUH → NRT"
    assert labels["Departs RUH"] == f"{departure:%a} {departure.day} {departure:%b %Y, %H:%M} (UTC+03:00, Asia/Riyadh)"
    assert labels["Arrives NRT"] == f"{arrival:%a} {arrival.day} {arrival:%b %Y, %H:%M} (UTC+09:00, Asia/Tokyo)"
    for personal in ("Hidden", "Passenger", "private.person", booking["totalAmount"]):
        assert personal not in html


async def test_the_success_page_says_confirmed_once_it_is(client, runtime, pay_and_confirm):
    user, _, booking = await _booking(client, runtime)
    await pay_and_confirm(user, booking["id"])
    html = (await client.get("/payments/success", params={"booking": booking["id"]})).text
    assert "Your booking is confirmed;" in html and booking["reference"] in html


@pytest.mark.parametrize("booking", [None, "not-a-uuid", str(uuid.uuid4()), "'><script>alert(1)</script>"])
async def test_an_unknown_booking_gets_the_plain_page(client, booking):
    params = {} if booking is None else {"booking": booking}
    response = await client.get("/payments/success", params=params)
    assert response.status_code == 200
    assert '<h1 id="result">Payment received</h1>' in response.text
    assert "booking-reference" not in response.text
    assert "<script>" not in response.text


@pytest.mark.parametrize("path", ["/payments/success", "/payments/cancelled"])
async def test_result_pages_use_the_checkout_stylesheet_served_by_the_app(client, runtime, path):
    _, _, booking = await _booking(client, runtime)
    page = parse((await client.get(path, params={"booking": booking["id"]})).text)
    assert page.stylesheets == ["/static/pages.css"]
    assert not page.inline_style, "inline styles would need 'unsafe-inline' in the CSP"
    css = await client.get("/static/pages.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ".card" in css.text and ".reference" in css.text


async def test_the_hosted_checkout_shows_the_reference_and_readable_labels(http, runtime):
    """Through a live server: the AIS gateway creates the session with the stripe SDK, exactly as
    in production, and the passenger's browser opens it, pays, and lands on the result page."""
    user, _, booking = await _booking(http, runtime)
    checkout = await open_checkout(http, user, booking["id"])
    response = await http.get(checkout["checkoutUrl"])
    assert response.status_code == 200
    html = response.text
    page = parse(html)

    assert f'id="booking-reference">{booking["reference"]}<' in html
    # The same look as the result pages: the same stylesheet, served by the sandbox itself.
    assert page.stylesheets == ["../static/pages.css"] and not page.inline_style
    css = await http.get(urljoin(checkout["checkoutUrl"], "../static/pages.css"))
    assert css.status_code == 200 and css.text == (await http.get("/static/pages.css")).text
    assert "style-src 'self'" in response.headers["content-security-policy"]
    # Labels are words, not metadata keys; the booking's UUID is not called its "Reference".
    assert all(re.fullmatch(r"[A-Z][A-Za-z-]*( [A-Za-z]+)*", label) for label in page.labels), page.labels
    assert not {"bookingId", "paymentId", "reference", "Reference"} & set(page.labels)
    assert page.labels["Booking ID"] == booking["id"]
    assert page.labels["Client reference ID"] == booking["id"]
    assert "Payment ID" in page.labels and "Session ID" in page.labels

    landed = await complete_checkout(http, checkout["checkoutUrl"])
    result = await http.get(landed.headers["location"])
    assert result.status_code == 200
    assert f'id="booking-reference">{booking["reference"]}<' in result.text
