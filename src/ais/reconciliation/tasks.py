"""The daily reconciliation job (SPEC §8: 02:00 UTC), run by `ais scheduler` or in process."""

from __future__ import annotations

from ais.audit.service import Actor
from ais.reconciliation.service import reconcile
from ais.runtime import Runtime

ACTOR = Actor.system("reconciliation")


async def daily_reconciliation(runtime: Runtime) -> int:
    """A real run under the job's correlation id; the payments it fixed."""
    result = await reconcile(runtime, dry_run=False, actor=ACTOR)
    return result.fixed
