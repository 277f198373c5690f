# The one babelq image: API, workers, Flower, migrations and model preparation.
# Every service runs a `babelq` subcommand (see compose/docker-compose.yml).
#
#   docker build -t babelq:latest .
#   docker build -t babelq:latest --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim-bookworm

# Where torch (pinned in requirements.txt) comes from. Empty: PyPI, whose Linux x86_64 wheels are
# built for CUDA 12 and also run on CPU. To match a host's CUDA driver, or for a smaller CPU-only
# image, name a PyTorch wheel index: .../whl/cu126, .../whl/cu128, .../whl/cpu.
ARG TORCH_INDEX_URL=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall torch.
COPY requirements.txt ./
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" "$(grep -E '^torch==' requirements.txt)"; \
    fi \
    && pip install -r requirements.txt

COPY pyproject.toml ./
COPY core ./core
COPY routing ./routing
COPY persistence ./persistence
COPY transport ./transport
COPY producers ./producers
COPY workers ./workers
COPY ops ./ops
RUN pip install --no-deps . && rm -rf build ./*.egg-info

# Run as a non-root user; /models is the model cache volume shared by the workers, and a fresh
# named volume takes this directory's owner.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin babelq \
    && mkdir -p /models /app/var \
    && chown babelq:babelq /models /app/var
ENV BABELQ_VAR_DIR=/app/var \
    BABELQ_MODEL_CACHE_DIR=/models \
    HF_HOME=/models/huggingface
USER babelq

EXPOSE 8000
ENTRYPOINT ["babelq"]
CMD ["--help"]
