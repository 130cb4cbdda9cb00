"""The harness's own arithmetic and protocols: what wrk and pgbench report turned into results,
work split over load generator processes, verdicts, signatures, timing."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import pytest
from harness.clients import split
from harness.load import Clock, LoadSpec, percentile
from harness.locations import run_async, sleep_until
from harness.pgbench import _read_logs
from harness.report import Target
from harness.webhooks import storm_requests, stripe_signature
from harness.wrk import parse_result

WRK_OUTPUT = """\
duration_us 4000000
requests 1003
bytes 123456
error connect 0
error read 0
error write 0
error status 3
error timeout 0
status 201 500
status 201 500
status 409 3
code SEATS_UNAVAILABLE 3
latency_quantile 0 1000
latency_quantile 0.5 10000
latency_quantile 0.95 50000
latency_quantile 0.99 90000
latency_quantile 1 200000
"""


def test_wrk_result_counts_statuses_codes_and_rate() -> None:
    result = parse_result(WRK_OUTPUT)
    assert result.ok == 1000
    assert result.statuses == {"201": 1000, "409": 3}
    assert result.codes == {"SEATS_UNAVAILABLE": 3}
    assert result.window == 4.0
    assert result.rate == 250.0
    assert result.failures() == 3


def test_wrk_latencies_follow_its_quantiles_one_value_per_request() -> None:
    result = parse_result(WRK_OUTPUT)
    assert len(result.latencies) == 1003
    assert result.latency_ms(0.5) == pytest.approx(10.0, rel=0.02)
    assert result.latency_ms(0.95) == pytest.approx(50.0, rel=0.02)
    assert result.latency_ms(0.99) == pytest.approx(90.0, rel=0.05)
    assert max(result.latencies) <= 0.2


def test_wrk_socket_errors_are_failures() -> None:
    result = parse_result("duration_us 1000000\nerror timeout 2\nerror status 0\nstatus 200 10\n")
    assert result.statuses["wrk timeout error"] == 2
    assert result.failures() == 2


def test_pgbench_logs_become_latencies_and_failures(tmp_path: Path) -> None:
    (tmp_path / "tx.123").write_text("0 1 2500 0 1700000000 1\n1 1 3500 0 1700000000 2\n")
    (tmp_path / "tx.123.1").write_text("2 1 failed 0 1700000000 3\n")
    result = _read_logs(tmp_path, 2.0)
    assert result.ok == 2
    assert result.rate == 1.0
    assert sorted(result.latencies) == [0.0025, 0.0035]
    assert result.statuses["pgbench failed"] == 1


def test_every_body_is_sent_exactly_once_over_the_processes() -> None:
    bodies = [str(i).encode() for i in range(11)]
    headers = [{"X-Index": str(i)} for i in range(11)]
    spec = LoadSpec(kind="http", clients=4, bodies=bodies, body_headers=headers, once=True, attempts=11)
    sent: list[bytes] = []
    for share, _clients in split(spec, 3):
        assert share.attempts == len(share.bodies)
        clock = Clock(share, time.perf_counter())
        n = 0
        while clock.next_request():
            index = clock.next_body(n, len(share.bodies))
            assert share.body_headers[index] == {"X-Index": share.bodies[index].decode()}
            sent.append(share.bodies[index])
            n += 1
    assert sorted(sent) == sorted(bodies)


def test_storm_sends_each_event_twice_each_signed_as_stripe_does() -> None:
    payloads = [b'{"id": "evt_1"}', b'{"id": "evt_2"}']
    bodies, headers = storm_requests(payloads, "whsec_test")
    assert sorted(bodies) == sorted(payloads * 2)
    for body, header in zip(bodies, headers, strict=True):
        timestamp, signature = (part.split("=", 1)[1] for part in header["Stripe-Signature"].split(","))
        expected = hmac.new(b"whsec_test", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert signature == expected


def test_a_storm_sent_in_rounds_sends_the_same_requests() -> None:
    payloads = [f'{{"id": "evt_{i}"}}'.encode() for i in range(7)]
    storm, _ = storm_requests(payloads, "whsec_test")
    slices = [storm_requests(storm[i::3], "whsec_test", shuffle=False)[0] for i in range(3)]
    assert sorted(body for part in slices for body in part) == sorted(payloads * 2)


def test_signature_is_what_the_product_verifies() -> None:
    signing = pytest.importorskip("ais.payments.sandbox.signing")
    assert stripe_signature(b"{}", "whsec_x", 1700000000) == signing.sign_payload(b"{}", "whsec_x", 1700000000)


@pytest.mark.parametrize(("goal", "figure", "reference", "threshold", "met"), [
    ("times", 800.0, 200.0, 4.0, True),
    ("times", 799.0, 200.0, 4.0, False),
    ("share", 250.0, 1000.0, 0.25, True),
    ("share", 249.0, 1000.0, 0.25, False),
    ("below", 149.9, None, 150.0, True),
    ("below", 150.0, None, 150.0, False),
    ("at_least", 1000.0, 231.0, 1000.0, True),
    ("exactly", 1.0, None, 0.0, False),
    ("times", 800.0, None, 4.0, None),  # no reference (baseline not run): not measured
])
def test_target_verdicts(goal: str, figure: float, reference: float | None, threshold: float,
                         met: bool | None) -> None:
    assert Target("m", figure, "/s", goal, threshold, reference).met is met


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0


def test_sleep_until_never_wakes_early() -> None:
    """uvloop (the load generators' loop) rounds a timer to whole milliseconds: a plain sleep of
    less than half a millisecond returns at once, before the moment."""

    async def many() -> list[bool]:
        woke_in_time = []
        for step in range(1, 40):
            moment = time.perf_counter() + step * 0.00005
            await sleep_until(moment)
            woke_in_time.append(time.perf_counter() >= moment)
        return woke_in_time

    assert all(run_async(many()))
