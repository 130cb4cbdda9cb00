"""The payment suites drive a live AIS server (embedded sandbox included) on a real port: the
stripe SDK inside AIS talks to the sandbox over real HTTP, exactly as in embedded mode. Tests
drive it over HTTP and, with delivery off, fetch the sandbox's events with the SDK and deliver
them themselves. The server and the payment flow's steps are `tests.fixtures.payment_flow`
(shared with every suite that needs a paid booking); the suites' own helpers are in
`tests.payments.support`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ais.runtime import Runtime
from ais.wiring import create_runtime
from tests.fixtures.payment_flow import Live, scan_events_from_now


@pytest.fixture(autouse=True)
def _events_of_this_test_only() -> None:
    scan_events_from_now()


@pytest.fixture
async def live_runtime(live: Live) -> AsyncIterator[Runtime]:
    """A runtime in the test's event loop whose gateway talks to the live server's sandbox (for
    running the periodic jobs as the scheduler would)."""
    own = create_runtime(live.settings)
    yield own
    await own.close()
