# Training image: torch, transformers, optimum and the training code, implementing SageMaker's
# training-job contract (`docker run IMAGE train` reads /opt/ml/input, writes /opt/ml/model).
# GPU-capable: on Linux x86-64 the index's torch is the CUDA build; run with `--gpus all`.
# Build: docker build -f docker/train.Dockerfile -t headline-serve-train .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Empty for real users. A machine that must not fetch the CUDA build puts a torch wheel here
# first (scripts/torch-wheelhouse.sh); pip prefers it, as its local version sorts higher.
COPY docker/wheelhouse/ /wheelhouse/
RUN pip install --find-links /wheelhouse "torch==${TORCH_VERSION}"
COPY pyproject.toml constraints.txt README.md ./
COPY service/ service/
COPY training/ training/
# This image cannot serve: drop the `serve` script so the entrypoint says so in one line.
RUN pip install --find-links /wheelhouse -c constraints.txt ".[train]" \
    && rm -f /opt/venv/bin/serve

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="headline-serve-train" \
      org.opencontainers.image.description="Fine-tune and export the headline classifier (SageMaker training job)"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    TOKENIZERS_PARALLELISM=false
COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/entrypoint
WORKDIR /opt/ml
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["train"]
