"""Where the hosted checkout sends the passenger back (the session's success and cancel URLs).

The pages say only what happened in general: the booking's state is read in the app, behind
the passenger's token, and a URL carries nothing that lets a stranger read a booking."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

router = APIRouter(include_in_schema=False)


@lru_cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("ais", "templates/pages"), autoescape=select_autoescape())


def _page(title: str, message: str) -> HTMLResponse:
    html = _templates().get_template("payment_result.html").render(title=title, message=message)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get("/payments/success")
async def payment_success() -> HTMLResponse:
    return _page("Payment received", "Thank you. Your booking is confirmed as soon as the payment is settled, "
                                     "usually within seconds; your e-tickets follow by e-mail.")


@router.get("/payments/cancelled")
async def payment_cancelled() -> HTMLResponse:
    return _page("Payment not completed", "No money was taken. Your seats stay held until the time shown in the "
                                          "app; you can try paying again before then.")
