"""Admin accounts made from the command line (`ais create-admin`): create, or promote and reset."""

from __future__ import annotations

from ais.audit.service import Actor, record
from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.identity import repository
from ais.identity.models import Role
from ais.identity.security import hash_password
from ais.identity.service import register
from ais.runtime import Runtime


async def create_or_promote(runtime: Runtime, email: str, password: str | None, full_name: str) -> str:
    """Create the admin `email` (a password is then required), or make the existing user an admin;
    a given password replaces theirs and revokes every refresh token. Audited. One unit of work
    (the command's one transaction). Returns what was done, in one sentence."""
    actor = Actor.system("cli")
    async with UnitOfWork(runtime) as uow:
        session = uow.session
        user = await repository.user_by_email(session, email)
        if user is None:
            if password is None:
                raise ValueError("a new admin needs a password")
            user = await register(session, email=email, password=password, full_name=full_name, role=Role.ADMIN)
            record(session, actor, action="admin.create", resource_type="user", resource_id=str(user.id),
                   changes={"role": Role.ADMIN.value})
            outcome = f"Created admin {email} ({user.id})."
        else:
            changes: dict[str, object] = {}
            if user.role != Role.ADMIN:
                changes["role"] = {"from": user.role.value, "to": Role.ADMIN.value}
                user.role = Role.ADMIN
            if password is not None:
                user.password_hash = await hash_password(password)
                await repository.revoke_all(session, user.id, utcnow())
                changes["password_reset"] = True  # and every session revoked
            if changes:
                action = "admin.promote" if "role" in changes else "admin.reset_password"
                record(session, actor, action=action, resource_type="user", resource_id=str(user.id),
                       changes=changes)
            done = ", ".join(
                ["promoted to admin" if "role" in changes else "already an admin"]
                + (["password reset, sessions revoked"] if password is not None else [])
            )
            outcome = f"{email} ({user.id}): {done}."
            if not user.is_active:
                outcome += " Note: this account is deactivated and cannot sign in."
    return outcome


async def exists(runtime: Runtime, email: str) -> bool:
    async with runtime.session_factory() as session:
        return await repository.user_by_email(session, email) is not None
