"""The two-node cluster a maintenance test runs against."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ais.runtime import Runtime
from tests.factories import TestUser
from tests.fixtures.payment_flow import Live


@dataclass
class Node:
    """One API process: a live server on a real port (`pay` reaches its sandbox over HTTP)."""

    url: str
    http: httpx.AsyncClient
    live: Live  # its address and settings, for paying through its sandbox


@dataclass
class Cluster:
    first: Node
    second: Node
    runtime: Runtime  # this test's own, on the same database: factories write through it
    admin: TestUser
    passenger: TestUser
