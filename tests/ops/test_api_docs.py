"""SPEC §7: the interactive docs work offline. Every script, stylesheet and icon that /docs
references is served by the app itself, and nothing points at a CDN. ReDoc is switched off: its
bundle always loads a logo from a CDN."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

from tests.ops.contract import assert_error


class _References(HTMLParser):
    """Every URL a browser would fetch while loading the page (scripts, stylesheets, icons, images)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(values["src"] or "")
        elif tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")
        elif tag in ("img", "iframe", "source") and values.get("src"):
            self.urls.append(values["src"] or "")


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def is_external(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


async def test_docs_page_loads_only_assets_the_app_serves(client):
    page = "/docs"
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "cdn" not in response.text.lower()
    assert "fonts.googleapis" not in response.text

    urls = references(response.text)
    assert urls, "the page references no script or stylesheet at all"
    external = [url for url in urls if is_external(url)]
    assert not external, f"{page} loads from outside the app: {external}"
    kinds = set()
    for url in urls:
        asset = await client.get(urljoin(f"http://test{page}", url))
        assert asset.status_code == 200, (url, asset.status_code)
        assert asset.content, url
        kinds.add(asset.headers["content-type"].split(";")[0])
    assert "text/javascript" in kinds or "application/javascript" in kinds


async def test_swagger_ui_is_started_by_a_script_file_pointing_at_our_document(client):
    html = (await client.get("/docs")).text
    assert "<script>" not in html.replace(" ", ""), "an inline script would need 'unsafe-inline' in the CSP"
    assert 'data-openapi-url="/openapi.json"' in html
    starter = [url for url in references(html) if url.startswith("/static/docs/")]
    assert starter
    script = (await client.get(starter[0])).text
    assert "SwaggerUIBundle(" in script
    # Swagger UI's default validator badge is an image from validator.swagger.io.
    assert "validatorUrl: null" in script


async def test_the_docs_assets_are_the_full_bundles(client):
    bundle = await client.get("/static/vendor/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 500_000
    assert b"SwaggerUIBundle" in bundle.content
    assert_error(await client.get("/static/vendor/no-such-file.js"), 404, "NOT_FOUND")


async def test_redoc_is_switched_off_rather_than_served_from_a_cdn(client):
    assert_error(await client.get("/redoc"), 404, "NOT_FOUND")
