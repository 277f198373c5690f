"""People answer the jobs the routing table hands them (`unanswered: {action: human}`):
`GET /v1/human/jobs` lists those waiting, with the customer's message, and
`POST /v1/jobs/{id}/answer` ends one like a worker's answer: stored once, the waiting callers and
streams woken, the answer pushed to a delivering channel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, field_validator

from core.jobs import ChatAnswer, JobStatus, keepable_text
from persistence import deliveries, job_lifecycle, views
from persistence.api_keys import Caller
from producers.access import require_scope
from producers.api_auth import CallerOf, ReaderOf
from producers.api_context import Api
from producers.messages import storable
from producers.route_ids import uuid_or_404
from producers.schemas import JobOut
from routing.table import RoutingTable

HUMAN_WORKER = "human"


class HandedJobOut(BaseModel):
    """A job waiting for a person, with the customer's message."""

    job_id: str
    conversation_id: str
    channel: str
    user_ref: str | None
    language: str
    text: str
    created_at: datetime


class HumanAnswerIn(BaseModel):
    """What a person answers."""

    text: str = Field(min_length=1, max_length=16_000, description="The answer the customer gets.")
    agent: str = Field(default="", max_length=64, description="Who answered (shown as the job's model).")

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank: a customer would get an empty answer")
        return storable(value, "text")

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        return storable(value, "agent")


router = APIRouter()


@router.get("/v1/human/jobs", response_model=list[HandedJobOut])
async def handed_jobs(
    api: Api,
    caller: ReaderOf,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many, the oldest first.")] = 50,
) -> list[HandedJobOut]:
    """The jobs waiting for people, with the customer's message (agent keys: their channel's;
    admin keys: every channel's)."""
    require_scope(caller, "agent", "admin")
    channel = caller.channel if caller is not None and caller.scope == "agent" else None
    queue = api.stack.table.unanswered.human_queue
    rows = await api.run(views.handed_jobs, api.stack.factory, queue, channel, limit)
    return [HandedJobOut(**row.__dict__) for row in rows]


@router.post(
    "/v1/jobs/{job_id}/answer",
    response_model=JobOut,
    responses={404: {"description": "Unknown job"}, 409: {"description": "Not for people, or ended"}},
)
async def answer_job(api: Api, job_id: str, answer: HumanAnswerIn, caller: CallerOf) -> JobOut:
    """Answer a job handed to people; it ends `done` with this text, signed with the agent
    key's name."""
    require_scope(caller, "agent", "admin")
    stack = api.stack
    view = await api.run(views.get_job, stack.factory, uuid_or_404(job_id, "job"))
    if view is None or not stack.access.may_read(caller, view.channel):
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    _check_answerable(view, stack.table)
    stored = await api.run(job_lifecycle.store_answers, stack.factory, [_outcome(view, answer, caller)])
    if stored[0] is not True:  # another person (or a retry) answered first
        raise HTTPException(status_code=409, detail=f"job {job_id} has ended already")
    stack.notices.announce([view.job_id])
    if await api.run(deliveries.get, stack.factory, view.job_id) is not None:
        await api.run(stack.request_delivery, view.job_id)
    ended = await api.run(views.get_job, stack.factory, view.job_id)
    return JobOut.of(ended or view, stack.table)


def _check_answerable(view: views.JobView, table: RoutingTable) -> None:
    """Only a job on the people's queue: decided by where it was sent, so a table changed since
    (a language added to answers_in) does not strand a job no worker will ever take."""
    if view.status.final:
        raise HTTPException(status_code=409, detail=f"job {view.job_id} has ended already ({view.status})")
    if view.queue != table.unanswered.human_queue:
        raise HTTPException(
            status_code=409, detail=f"job {view.job_id} is answered by the model, not by people"
        )


def _outcome(view: views.JobView, answer: HumanAnswerIn, caller: Caller | None) -> ChatAnswer:
    # A key's answers carry its own name (an agent's, or "admin"), whatever the body says:
    # nobody answers as another. Only a stack that needs no keys takes the body's name.
    agent = answer.agent if caller is None else (caller.name if caller.scope == "agent" else caller.scope)
    return ChatAnswer(
        job_id=view.job_id,
        text=keepable_text(answer.text),
        language=view.language,
        status=JobStatus.DONE,
        model=f"{HUMAN_WORKER}:{agent}" if agent else HUMAN_WORKER,
        worker=HUMAN_WORKER,
    )
