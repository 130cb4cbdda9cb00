"""SQL of maintenance mode: the single switch row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ais.maintenance.models import SWITCH_ID, MaintenanceSwitch


async def read_switch(session: AsyncSession) -> MaintenanceSwitch | None:
    """The switch as committed (None when the row is missing, e.g. a database restored from
    before the table existed: that means off)."""
    return await session.scalar(select(MaintenanceSwitch).where(MaintenanceSwitch.id == SWITCH_ID))


async def lock_switch(session: AsyncSession) -> MaintenanceSwitch:
    """The switch row, locked for this transaction (created when missing), so that two admins
    switching at once are audited in the order they took effect."""
    row = await session.scalar(
        select(MaintenanceSwitch).where(MaintenanceSwitch.id == SWITCH_ID).with_for_update())
    if row is None:
        row = MaintenanceSwitch(id=SWITCH_ID, enabled=False)
        session.add(row)
        await session.flush()
    return row
