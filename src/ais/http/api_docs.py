"""Interactive API docs that work offline (SPEC §7): /docs (Swagger UI).

FastAPI's own pages load their scripts from a CDN, so they are blank without internet access
(a plane, a locked-down network). Swagger UI comes instead from the `fastapi-offline` package
and is served by the app under /static/vendor; the page starts it from our own script file,
never an inline one, so it runs under a strict Content-Security-Policy. Our own stylesheets
and scripts are under /static.

There is no /redoc: ReDoc's bundle (in the same package) always shows a logo from Redocly's CDN,
so it would never be offline; Swagger UI shows the same document.
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

STATIC_PATH = "/static"
VENDOR_PATH = "/static/vendor"


@lru_cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("ais", "templates/pages"), autoescape=select_autoescape())


def install_api_docs(app: FastAPI, *, docs_url: str = "/docs") -> None:
    """Serve the static assets and the docs page. The app must be built with `docs_url=None,
    redoc_url=None` so that FastAPI's CDN pages are not registered."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    # The more specific mount first: Starlette matches mounts in order.
    app.mount(VENDOR_PATH, StaticFiles(packages=[("fastapi_offline", "static")]), name="vendor-static")
    app.mount(STATIC_PATH, StaticFiles(packages=[("ais", "static")]), name="static")

    def page(template: str, request: Request) -> HTMLResponse:
        html = _templates().get_template(template).render(
            title=app.title, root=request.scope.get("root_path", "").rstrip("/"), openapi_url=openapi_url,
        )
        return HTMLResponse(html)

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page("swagger_ui.html", request)
