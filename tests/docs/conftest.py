from __future__ import annotations

from collections.abc import Iterator

import pytest

from ais.app import create_app
from ais.config import Settings
from tests.payments.sandbox.serving import reserve_socket, serve


@pytest.fixture(scope="module")
def guide_server(settings: Settings) -> Iterator[str]:
    """The API on a real port with its payment sandbox delivering signed webhooks, as a
    development server does: paying on the hosted page confirms the booking by itself."""
    sock, url = reserve_socket()
    with serve(create_app(settings.model_copy(update={"public_base_url": url, "sandbox_webhook_delivery": "on"})),
               sock):
        yield url
