"""The faults: each starts its workers, publishes the load, does its harm, and says when the fault
cleared (and anything the reader of its row should know)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from core.jobs import new_id
from ops.faults.harness import FaultRun, wait_for
from ops.faults.services import CuttableProxy, PrivateRedis
from producers.messages import MessageIn
from producers.stack import Stack
from transport.queues import ANSWER_TASK

Cleared = tuple[float, str]  # when the fault cleared (epoch s), a note for its row
POISON = "POISON-PILL"  # a worker program that poisons (the test suite's) fails every batch with it


@dataclass(frozen=True)
class Scenario:
    name: str
    brokers: tuple[str, ...]
    run: Callable[[FaultRun], tuple[list[str], float, str]]
    about: str


def _two_workers_one_dies(run: FaultRun, how: signal.Signals) -> tuple[list[str], float, str]:
    doomed, _survivor = run.worker("doomed"), run.worker("survivor")
    ids = run.publish_load()
    wait_for(lambda: run.running_on(doomed) > 0, 60)
    held = run.running_on(doomed)
    doomed.send_signal(how)
    doomed.wait(60)
    return ids, time.time(), f"{held} running on the worker when it got {how.name}"


def worker_kill_9(run: FaultRun) -> tuple[list[str], float, str]:
    return _two_workers_one_dies(run, signal.SIGKILL)


def worker_frozen_then_killed(run: FaultRun) -> tuple[list[str], float, str]:
    """A lone worker frozen (SIGSTOP) while it waits on its queues, so that the broker hands the
    first message of the load to a socket nobody reads, then killed -9 (a node lost, an OOM kill
    after a stall); a second worker starts after. On Redis that message is in no Redis structure
    any more: only the store can bring it back."""
    doomed = run.worker("doomed")
    first, tries = _hand_one_to_the_frozen(run, doomed)
    rest = [f"Question {i}: where is my parcel {new_id()[:8]}?" for i in range(1, run.setup.jobs)]
    ids = [first, *run.publish_load(rest)]
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(60)
    killed_at = time.time()
    run.worker("survivor")
    return ids, killed_at, f"1 message handed to the frozen worker (after {tries} freeze(s)), then kill -9"


def _hand_one_to_the_frozen(run: FaultRun, doomed: subprocess.Popen[bytes]) -> tuple[str, int]:
    """Freeze the worker and publish one job, until the broker hands that job to the frozen worker
    (a worker frozen between two waits takes nothing: it runs the job, and is frozen again)."""
    for tries in range(1, 21):
        time.sleep(0.5)
        doomed.send_signal(signal.SIGSTOP)
        [job_id] = run.publish_load([f"Question 0.{tries}: where is my parcel?"])
        if run.waiting("chat.en") == 0:
            return job_id, tries
        doomed.send_signal(signal.SIGCONT)
        wait_for(lambda: run.waiting("chat.en") == 0, 30)
        run.wait_final([job_id], 30)
    raise RuntimeError("the frozen worker never had a message handed to it")


def worker_sigterm(run: FaultRun) -> tuple[list[str], float, str]:
    return _two_workers_one_dies(run, signal.SIGTERM)


def broker_restart(run: FaultRun) -> tuple[list[str], float, str]:
    """Redis (the run's own, append-only file on) killed -9 and started again; RabbitMQ's app
    stopped and started (`rabbitmqctl stop_app`)."""
    run.worker("worker")
    ids = run.publish_load()
    time.sleep(1.0)
    if run.values["broker_url"].startswith("redis"):
        redis = run.services["redis"]
        assert isinstance(redis, PrivateRedis)
        redis.crash()
        time.sleep(5)
        redis.start()
        return ids, time.time(), "redis-server killed -9, down 5 s, AOF fsync always"
    _rabbitmqctl("stop_app")
    time.sleep(5)
    _rabbitmqctl("start_app")
    return ids, time.time(), "rabbitmqctl stop_app, down 5 s, start_app"


def store_down(run: FaultRun) -> tuple[list[str], float, str]:
    """The workers' store connections cut and refused for 10 s while batches run (a proxy in
    front of the store; the store itself keeps running for the harness to read)."""
    proxy = run.services["proxy"]
    assert isinstance(proxy, CuttableProxy)
    worker = run.worker("worker", database_url=_through(run.values["database_url"], proxy.port))
    ids = run.publish_load()
    wait_for(lambda: run.running_on(worker) > 0, 60)
    proxy.cut()
    time.sleep(10)
    proxy.mend()
    return ids, time.time(), "workers' store connections dropped and refused for 10 s mid-batch"


def store_down_publishing(run: FaultRun) -> tuple[list[str], float, str]:
    """The producers' store cut for 10 s while the load is being published: each refused request
    is sent again by its client under the same idempotency key until it is taken."""
    proxy = run.services["proxy"]
    assert isinstance(proxy, CuttableProxy)
    run.worker("worker")
    producer = run.producer(database_url=_through(run.values["database_url"], proxy.port))
    cleared: list[float] = []

    def mend() -> None:
        proxy.mend()
        cleared.append(time.time())

    mended = threading.Timer(10.0, mend)
    ids, refused = [], 0
    for i in range(run.setup.jobs):
        if i == run.setup.jobs // 5:
            proxy.cut()
            mended.start()
        job_id, tries = _submit_until_taken(producer, f"Question {i}: where is my parcel?", new_id())
        ids.append(job_id)
        refused += tries - 1
    mended.join()
    return ids, cleared[0], f"{refused} requests refused while the store was down, each sent again"


def _submit_until_taken(producer: Stack, text: str, key: str) -> tuple[str, int]:
    """What a client does: send again, under the same idempotency key, until the API takes it."""
    tries = 1
    while True:
        try:
            taken = producer.intake.submit_once(MessageIn(text=text, language="en"), key)
        except Exception:  # a 503 (store down) or a 409 (the key's request still in progress)
            tries += 1
            time.sleep(0.5)
            continue
        return (taken if isinstance(taken, str) else taken.job.job_id), tries


def poison(run: FaultRun) -> tuple[list[str], float, str]:
    """One prompt among the load makes generation raise whatever batch it is in."""
    run.worker("worker")
    texts = [f"Question {i}: where is my parcel?" for i in range(run.setup.jobs - 1)]
    ids = run.publish_load([*texts[:7], f"{POISON}: this one breaks the model", *texts[7:]])
    return ids, time.time(), "1 poison prompt among the load"


def bad_messages(run: FaultRun) -> tuple[list[str], float, str]:
    """A malformed job, a job of a newer wire version, an unknown task and an undecodable body,
    among the load."""
    run.worker("worker")
    ids = run.publish_load()
    app, queue = run.stack.celery, "chat.en"
    app.send_task(ANSWER_TASK, args=[{"v": 1, "text": 3}], queue=queue, routing_key=queue)
    app.send_task(
        ANSWER_TASK, args=[{"v": 99, "job_id": "newer", "text": "hi"}], queue=queue, routing_key=queue
    )
    app.send_task("babelq.no_such_task", args=[{}], queue=queue, routing_key=queue)
    with app.producer_or_acquire() as producer:
        producer.publish(
            b"{not json",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"task": ANSWER_TASK, "id": "garbled", "lang": "py"},
            exchange="",
            routing_key=queue,
            declare=[app.amqp.queues[queue]],
        )
    return ids, time.time(), "4 bad messages: expect 4 other letters"


def embedded_kill_9(run: FaultRun) -> tuple[list[str], float, str]:
    """`babelq run` (memory broker, SQLite) killed -9 with jobs queued and running, then restarted."""
    env = run.env(**run.services["embedded"])  # type: ignore[arg-type]
    process = run.start(["run"], "embedded", env)
    ids = run.publish_over_http(int(run.services["embedded"]["api_port"]))  # type: ignore[index]
    wait_for(lambda: run.running_count(ids) > 0, 60)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    run.start(["run"], "embedded-again", env)
    return ids, time.time(), "killed -9 with jobs queued and running; restarted at once"


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _rabbitmqctl(command: str) -> None:
    subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)


SCENARIOS = [
    Scenario("worker-kill-9", ("redis", "amqp"), worker_kill_9, "a worker killed -9 mid-batch"),
    Scenario(
        "worker-frozen-kill-9",
        ("redis", "amqp"),
        worker_frozen_then_killed,
        "a worker frozen with a message on its way to it, then killed -9",
    ),
    Scenario("worker-sigterm", ("redis", "amqp"), worker_sigterm, "a worker stopped with SIGTERM mid-batch"),
    Scenario("broker-restart", ("redis", "amqp"), broker_restart, "the broker crashes and comes back"),
    Scenario("store-down-10s", ("redis",), store_down, "the store unreachable for 10 s during a batch"),
    Scenario(
        "store-down-publishing",
        ("redis",),
        store_down_publishing,
        "the producers' store unreachable for 10 s while the load is published",
    ),
    Scenario("poison-prompt", ("redis",), poison, "a prompt that makes generation raise"),
    Scenario(
        "bad-messages", ("redis", "amqp"), bad_messages, "malformed, newer-version, unknown-task, undecodable"
    ),
    Scenario("embedded-kill-9", ("memory",), embedded_kill_9, "`babelq run` killed -9 and restarted"),
]
