"""The store's tables as SQL Core handles, and the statements more than one module runs.

The hot paths (one user turn in, one job started, one answer out) are plain SQL statements on
these tables: the ORM's unit of work cost more CPU than the database did, per job.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, insert, select

from core.jobs import JobStatus
from persistence.models import Conversation, Job, Message

USER = "user"
ASSISTANT = "assistant"
FINAL_STATUSES = [JobStatus.DONE.value, JobStatus.FAILED.value, JobStatus.EXPIRED.value]

conversations = cast(Table, Conversation.__table__)
jobs = cast(Table, Job.__table__)
messages = cast(Table, Message.__table__)

INSERT_MESSAGE = insert(messages)
JOB_STATUS = select(jobs.c.status).where(jobs.c.job_id == bindparam("b_id"))
