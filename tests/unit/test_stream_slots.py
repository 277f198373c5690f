"""Connections held open (event streams, `?wait=`) are capped per caller and per process: past
a cap, 429 with Retry-After before anything is held; a slot comes back when its stream ends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from core.errors import RateLimited
from core.settings import load_settings
from producers.client import Client
from producers.stream_slots import StreamSlots
from tests.unit.test_api_access import api


def test_a_caller_and_the_process_each_have_a_cap():
    slots = StreamSlots(per_owner=2, per_process=3)
    first, _second = slots.take("key:a"), slots.take("key:a")
    with pytest.raises(RateLimited, match="one caller's cap"):
        slots.take("key:a")
    slots.take("key:b")
    with pytest.raises(RateLimited, match="its cap") as full:
        slots.take(None)  # an open request counts against the process's cap only
    assert full.value.retry_after_s > 0
    first.release()
    first.release()  # once only
    assert slots.total == 2
    slots.take("key:a")


def test_the_shipped_caps():
    settings = load_settings()
    assert (settings.max_streams_per_caller, settings.max_streams) == (100, 2000)


def test_waits_past_a_keys_cap_are_429_and_its_slots_come_back(tmp_path: Path):
    with api(tmp_path, max_streams_per_caller=2) as (http, keys):
        shop = Client(http=http, api_key=keys["shop"])
        job = shop.send("Where is my parcel?", user_ref="ana")  # no worker: it stays queued
        auth = {"Authorization": f"Bearer {keys['shop']}"}
        waiting = [
            threading.Thread(
                target=http.get, args=(f"/v1/jobs/{job.job_id}?wait=2",), kwargs={"headers": auth}
            )
            for _ in range(2)
        ]
        for thread in waiting:
            thread.start()
        time.sleep(0.5)
        over = http.get(f"/v1/jobs/{job.job_id}/events", headers=auth)
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        bank = Client(http=http, api_key=keys["bank"])
        assert bank.job(bank.send("Where is my money?", user_ref="ben").job_id, wait=0.1)  # its own cap
        for thread in waiting:
            thread.join()
        assert http.get(f"/v1/jobs/{job.job_id}?wait=0.1", headers=auth).status_code == 200


def test_a_stream_the_client_leaves_gives_its_slot_back(tmp_path: Path):
    with api(tmp_path, max_streams_per_caller=1) as (http, keys):
        job = Client(http=http, api_key=keys["shop"]).send("Where is my parcel?", user_ref="ana")
        auth = {"Authorization": f"Bearer {keys['shop']}"}
        for _ in range(3):  # a cap of one, three streams one after the other
            with http.stream("GET", f"/v1/jobs/{job.job_id}/events", headers=auth) as events:
                assert events.status_code == 200
                assert next(events.iter_lines()).startswith("event: status")


def test_a_post_that_would_wait_past_the_cap_is_refused_before_it_is_stored(tmp_path: Path):
    with api(tmp_path, max_streams_per_caller=1) as (http, keys):
        shop = Client(http=http, api_key=keys["shop"])
        job = shop.send("Where is my parcel?", user_ref="ana")
        auth = {"Authorization": f"Bearer {keys['shop']}"}
        holder = threading.Thread(
            target=http.get, args=(f"/v1/jobs/{job.job_id}?wait=2",), kwargs={"headers": auth}
        )
        holder.start()
        time.sleep(0.5)
        body = {"text": "And now?", "conversation_id": job.conversation_id, "user_ref": "ana"}
        refused = http.post("/v1/messages?wait=5", json=body, headers=auth)
        holder.join()
        assert refused.status_code == 429
        assert len(shop.conversation(job.conversation_id).turns) == 1  # nothing of it was stored
