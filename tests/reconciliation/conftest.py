"""A runtime in the test's event loop whose gateway talks to the live AIS server (sandbox inside,
webhook delivery off; `tests.fixtures.payment_flow`): reconciliation runs in the test, the passenger and
the provider act over HTTP, and nothing delivers a webhook unless the test does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ais.runtime import Runtime
from ais.wiring import create_runtime


@pytest.fixture
async def live_runtime(live) -> AsyncIterator[Runtime]:
    runtime = create_runtime(live.settings)
    yield runtime
    await runtime.close()
