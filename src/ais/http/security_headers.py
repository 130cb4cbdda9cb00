"""Security headers on every response (SPEC §6), whatever produced it: routes, error handlers,
the body limit, the mounted sandbox.

- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (checkout URLs carry session
  ids), `X-Frame-Options: DENY` plus CSP `frame-ancestors 'none'` (nothing of ours is framed).
- JSON and other non-HTML answers: `default-src 'none'` — a browser that is tricked into
  rendering one runs nothing.
- HTML pages: scripts, styles and images only from this origin; an inline `<script>` runs only
  if it is byte-for-byte one the page was served with (its SHA-256 is put in the policy), so
  the docs page keeps its inline start-up script while injected markup stays inert. A page that
  sets its own policy (the sandbox checkout) keeps it.
- No `server` header, whoever would add one.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# Pages are small; a larger one is sent on without hashing (its inline scripts then do not run).
MAX_HASHED_PAGE_BYTES = 2 * 1024 * 1024


def page_policy(script_hashes: list[str]) -> str:
    scripts = " ".join(["'self'", *(f"'sha256-{digest}'" for digest in script_hashes)])
    return ("default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; "  # style attributes cannot run code
            "img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class _InlineScripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.bodies: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._current = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.bodies.append("".join(self._current))
            self._current = None


def inline_script_hashes(html: bytes) -> list[str]:
    if b"<script" not in html.lower():
        return []  # no script element at all (tag names are case-insensitive): nothing to parse
    parser = _InlineScripts()
    parser.feed(html.decode("utf-8", errors="replace"))
    parser.close()
    return [base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() for body in parser.bodies]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held_start: Message | None = None
        held_body: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal held_start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                del headers["server"]
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
                if "content-security-policy" in headers:
                    await send(message)
                elif headers.get("content-type", "").startswith("text/html"):
                    held_start = message  # the policy depends on the page's inline scripts
                else:
                    headers["Content-Security-Policy"] = API_POLICY
                    await send(message)
                return
            if held_start is None or message["type"] != "http.response.body":
                await send(message)
                return
            held_body.append(message.get("body", b""))
            size = sum(len(part) for part in held_body)
            if message.get("more_body", False) and size <= MAX_HASHED_PAGE_BYTES:
                return
            page = b"".join(held_body)
            hashes = inline_script_hashes(page) if size <= MAX_HASHED_PAGE_BYTES else []
            MutableHeaders(scope=held_start)["Content-Security-Policy"] = page_policy(hashes)
            await send(held_start)
            held_start = None
            held_body.clear()
            await send({"type": "http.response.body", "body": page, "more_body": message.get("more_body", False)})

        await self.app(scope, receive, send_with_headers)
