"""SPEC §7/§10: /metrics in Prometheus text format, behind `Authorization: Bearer $METRICS_TOKEN`
when that token is set (issue 7, item 18). The multiprocess aggregation over `ais serve --workers 2`
is tested through the real command in tests/cli/test_serve.py."""

from __future__ import annotations

import secrets
import subprocess
import sys

from tests.ops.contract import assert_error
from tests.ops.test_health import app_client


async def test_metrics_are_open_without_a_token(client):
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "ais_http_request_duration_seconds" in response.text
    assert response.headers["content-type"].startswith("text/plain")


async def test_metrics_token_guards_the_endpoint(settings):
    token = secrets.token_urlsafe(32)
    async with app_client(settings, metrics_token=token) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": f"Bearer {secrets.token_urlsafe(32)}"})
        basic = await http.get("/metrics", headers={"Authorization": f"Basic {token}"})
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        live = await http.get("/health/live")

    for refused in (missing, wrong, basic):
        body = assert_error(refused, 401, "UNAUTHORIZED")
        assert token not in refused.text and "METRICS_TOKEN" in body["message"]
    assert right.status_code == 200 and "ais_http_request_duration_seconds" in right.text
    assert live.status_code == 200  # only /metrics is guarded


def test_the_ais_command_loads_without_prometheus_client():
    """`ais serve` points prometheus-client at its multiprocess directory before the client is
    first imported (it picks its storage at import time): loading the command must not import it,
    whatever a domain module imports at its top (a gateway's metrics did once, and serve refused
    to start)."""
    probe = "import sys, ais.cli; sys.exit('prometheus_client' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0
