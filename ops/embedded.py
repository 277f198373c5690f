"""The single-machine stack (`babelq run`): API and worker in one process on an in-memory broker.

The worker runs in the main thread (Celery wants its signal handlers there) and the API in a
thread beside it; jobs still travel as real Celery messages over kombu's memory transport.
"""

from __future__ import annotations

import logging
import threading

import uvicorn

from core.deployment_key import deployment_key
from core.settings import Settings
from ops.deliverer import delivering
from ops.logs import uvicorn_log_config
from persistence import job_lifecycle
from persistence.migrate import upgrade
from producers.api import create_app
from producers.stack import Stack, build_stack
from transport.queues import DELIVERY_QUEUE, publish_job
from workers.launcher import Shared, WorkerOptions, run_worker

log = logging.getLogger(__name__)


def run_embedded(settings: Settings) -> int:
    """Migrate the store, start the API thread, and run the worker until interrupted."""
    upgrade(settings.store_url)
    stack = build_stack(settings, secret=deployment_key(settings))
    _republish_unfinished(stack)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(stack),
            host=settings.api_host,
            port=settings.api_port,
            log_level="info",
            log_config=uvicorn_log_config(settings.log_format),
            **settings.proxy_options,  # type: ignore[arg-type]
        )
    )
    api = threading.Thread(target=server.run, name="babelq-api", daemon=True)
    api.start()
    _announce(settings)
    try:
        with delivering(stack):  # answers pushed to channels, by the same worker's pool
            # one of each: the worker uses the API half's broker app, store engine, cache,
            # notices and partial answers, which the stack closes
            shared = Shared(stack.celery, stack.factory, stack.cache, stack.notices, stack.partials)
            options = WorkerOptions(name="embedded", extra_queues=[DELIVERY_QUEUE])
            return run_worker(settings, stack.table, options, shared)
    finally:
        server.should_exit = True
        api.join(timeout=10)
        stack.close()


def _republish_unfinished(stack: Stack) -> None:
    """The in-memory broker forgets jobs when the process stops; the store does not. Jobs it
    still holds as queued or running go back on their queues (answers stay idempotent)."""
    jobs = job_lifecycle.unfinished_jobs(stack.factory)
    for job in jobs:
        publish_job(stack.celery, job)
    if jobs:
        log.info("re-published %d unfinished jobs from the store", len(jobs))


def _announce(settings: Settings) -> None:
    url = f"http://{settings.api_host}:{settings.api_port}"
    print(f"\nbabelq is starting on {url}  (OpenAPI docs: {url}/docs)", flush=True)
    print(
        f"  try: curl -s -X POST '{url}/v1/messages?wait=30' -H 'Content-Type: application/json' "
        '-d \'{"text": "¿Dónde está mi pedido?"}\'\n',
        flush=True,
    )
