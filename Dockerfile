# Two babelq images from one file, every service running a `babelq` subcommand:
#   api     the API, Flower, the deliverer and migrations: no model stack (no torch), small
#   worker  the workers and model preparation: the same code with torch and transformers
#
#   docker build --target api -t babelq-api:latest .
#   docker build --target worker -t babelq:latest .
#   docker build --target worker -t babelq:latest-cuda --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements-api.txt ./
RUN pip install -r requirements-api.txt
# A non-root user; /models is the model cache volume shared by the workers (a fresh named
# volume takes this directory's owner).
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin babelq \
    && mkdir -p /models /app/var \
    && chown babelq:babelq /models /app/var
ENV BABELQ_VAR_DIR=/app/var \
    BABELQ_MODEL_CACHE_DIR=/models \
    HF_HOME=/models/huggingface

FROM base AS worker-deps
# Where torch (pinned in requirements.txt) comes from. Empty: PyPI, whose Linux x86_64 wheels are
# built for CUDA 12 and also run on CPU. To match a host's CUDA driver, or for a smaller CPU-only
# image, name a PyTorch wheel index: .../whl/cu126, .../whl/cu128, .../whl/cpu.
ARG TORCH_INDEX_URL=
COPY requirements.txt ./
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" "$(grep -E '^torch==' requirements.txt)"; \
    fi \
    && pip install -r requirements.txt

FROM base AS api
COPY pyproject.toml ./
COPY core ./core
COPY routing ./routing
COPY persistence ./persistence
COPY transport ./transport
COPY producers ./producers
COPY workers ./workers
COPY ops ./ops
RUN pip install --no-deps . && rm -rf build ./*.egg-info
USER babelq
EXPOSE 8000
ENTRYPOINT ["babelq"]
CMD ["--help"]

FROM worker-deps AS worker
COPY pyproject.toml ./
COPY core ./core
COPY routing ./routing
COPY persistence ./persistence
COPY transport ./transport
COPY producers ./producers
COPY workers ./workers
COPY ops ./ops
RUN pip install --no-deps . && rm -rf build ./*.egg-info
USER babelq
EXPOSE 9200
ENTRYPOINT ["babelq"]
CMD ["--help"]
