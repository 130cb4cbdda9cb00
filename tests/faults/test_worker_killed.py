"""A worker SIGKILLed while it sends an e-mail (SPEC §8, §10): the SMTP server stalls in the
middle of the first send, the worker sending it is killed, and the e-mail arrives once another
worker has taken the job over (stalled-job recovery: the dead worker stops beating): at most
twice, never zero times. On a private PostgreSQL, with real `ais worker` processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid

import pytest

from ais.config import Settings
from ais.db.base import utcnow
from ais.db.unit_of_work import UnitOfWork
from ais.notifications.models import MessageStatus, OutboxMessage
from ais.notifications.service import defer_sending
from ais.wiring import create_runtime
from tests.faults.jobs_support import Inbox, eventually, migrate, smtp_server, workers
from tests.fixtures.services import AIS_COMMAND, LIVE_DEFAULTS, ais_environment

pytestmark = [pytest.mark.postgres_only, pytest.mark.faults]


async def test_an_email_cut_mid_send_by_sigkill_arrives_after_another_worker_takes_over(private_postgres, tmp_path):
    url = private_postgres.create_database()
    settings = {"database_url": url, "ais_data_dir": tmp_path / "var", "public_base_url": "http://127.0.0.1:9"}
    migrate(tmp_path, **settings)
    inbox = Inbox(stall_first=True)
    address = f"passenger-{uuid.uuid4().hex[:8]}@example.com"
    with smtp_server(inbox) as smtp_port, workers(tmp_path, **settings, smtp_url=f"smtp://127.0.0.1:{smtp_port}") \
            as group:
        first = group.start()
        runtime = create_runtime(Settings(_env_file=None, database_url=url, db_pool_size=2,  # type: ignore[call-arg]
                                          ais_data_dir=tmp_path / "var"))
        try:
            message_id = uuid.uuid4()
            async with UnitOfWork(runtime) as uow:
                uow.session.add(OutboxMessage(
                    id=message_id, kind="booking_confirmed", dedupe_key=f"test:{message_id}", booking_id=None,
                    recipient=address, subject="Your booking ABC123 is confirmed", body_text="Have a good flight.",
                    body_html=None, status=MessageStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
                    created_at=utcnow()))
            await defer_sending(runtime, message_id)

            stalled = await eventually(inbox.stalling.is_set, 30)
            assert stalled, group.output()
            first.kill()  # SIGKILL in the middle of the SMTP conversation
            first.wait(10)
            killed_at = time.time()
            group.start()  # another worker
            arrived = await eventually(lambda: bool(inbox.to(address)), 120, step=0.2)
            assert arrived, group.output()
            taken_over_after = time.time() - killed_at
            await asyncio.sleep(3)
            assert 1 <= len(inbox.to(address)) <= 2, inbox.to(address)
            print(f"e-mail delivered {taken_over_after:.1f} s after its worker was killed; "
                  f"{len(inbox.to(address))} copy")
            async with UnitOfWork(runtime) as uow:
                message = await uow.session.get(OutboxMessage, message_id)
                assert message is not None and message.status == MessageStatus.SENT
        finally:
            await runtime.close()
        env = ais_environment(**{**LIVE_DEFAULTS, **settings})
        listed = await asyncio.to_thread(subprocess.run, [str(AIS_COMMAND), "jobs", "--json"], env=env,
                                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert listed.returncode == 0, listed.stderr
        # The killed worker's job, retried by the survivor (and perhaps a second one the outbox sweep
        # deferred meanwhile, which found the message sent): none failed, none left running.
        jobs = [item for item in json.loads(listed.stdout)["items"] if item["task"] == "send_email"]
        assert jobs and {job["status"] for job in jobs} == {"succeeded"}, jobs
        assert "Traceback" not in group.output()
