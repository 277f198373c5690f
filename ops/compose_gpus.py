"""`babelq compose-gpus N`: a compose override with one worker per GPU (8-16 GPU hosts), each
reserving its own device and seeing it as device 0, built like the base file's CPU worker.

    babelq compose-gpus 8 > compose/gpus.yml
    docker compose -f compose/docker-compose.yml -f compose/gpus.yml up -d --scale worker-cpu=0
"""

from __future__ import annotations

QUEUES = "chat.zh,chat.en,chat.es,chat.default"
MAX_GPUS = 16  # the Prometheus config scrapes worker-gpu0 … worker-gpu15


def compose_gpus(count: int, queues: str = QUEUES) -> str:
    if not 1 <= count <= MAX_GPUS:
        raise ValueError(f"between 1 and {MAX_GPUS} GPUs, got {count}")
    header = (
        f"# One babelq worker per GPU, {count} GPUs (written by `babelq compose-gpus {count}`).\n"
        "# Use beside the base file: docker compose -f compose/docker-compose.yml -f compose/gpus.yml up -d\n"
        "services:\n"
    )
    return header + "".join(_service(index, queues) for index in range(count))


def _service(index: int, queues: str) -> str:
    # `extends` the CPU worker (environment, volumes, healthcheck), takes the GPU image (vLLM's
    # CUDA build) and `!reset`s the base file's profile of worker-gpu0/1, so that every generated
    # worker starts without a profile.
    return f"""  worker-gpu{index}:
    extends: {{file: docker-compose.yml, service: worker-cpu}}
    image: ${{BABELQ_GPU_IMAGE:-babelq:latest-cuda}}
    build: {{context: .., dockerfile: Dockerfile, target: worker-gpu}}
    profiles: !reset []
    command: ["worker", "--queues", "{queues}", "--gpus", "0"]
    depends_on:
      redis: {{condition: service_healthy}}
      postgres: {{condition: service_healthy}}
      migrate: {{condition: service_completed_successfully}}
      model: {{condition: service_completed_successfully}}
    deploy:
      resources:
        reservations:
          devices:
            - {{driver: nvidia, device_ids: ["{index}"], capabilities: [gpu]}}
"""
