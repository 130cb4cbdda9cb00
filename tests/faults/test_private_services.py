"""The private services the fault tests break do what they promise: a killed redis-server refuses
connections and comes back empty on the same port; a stopped cluster refuses and comes back."""

from __future__ import annotations

import psycopg
import pytest
import redis

pytestmark = [pytest.mark.postgres_only, pytest.mark.faults]


def test_private_redis_kill_and_restart(private_redis):
    client = redis.Redis.from_url(private_redis.url(), socket_connect_timeout=1)
    client.set("left-behind", b"1")
    private_redis.kill()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    private_redis.restart()
    assert client.ping() and client.get("left-behind") is None  # no persistence: nothing survives a kill


def test_private_postgres_stop_and_start(private_postgres):
    url = private_postgres.create_database()
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT current_setting('port')").fetchone() == (str(private_postgres.port),)
    private_postgres.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    private_postgres.start()
    psycopg.connect(url, connect_timeout=5).close()
