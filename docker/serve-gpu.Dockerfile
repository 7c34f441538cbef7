# Serving image, GPU: as docker/serve.Dockerfile, with onnxruntime-gpu and the CUDA and cuDNN
# libraries it loads, from pip wheels (no NVIDIA driver in the image: the host's runtime mounts
# it). Without a visible GPU the server logs that it falls back to CPU and serves there.
#   docker build -f docker/serve-gpu.Dockerfile -t headline-serve:gpu .
#   docker run --gpus all -v ARTIFACT:/opt/ml/model -p 127.0.0.1:8080:8080 headline-serve:gpu serve
# onnxruntime-gpu 1.27+ on the index is built for CUDA 13 (driver >= 580). For a CUDA 12 host
# (driver >= 525) build with --build-arg ORT_GPU_VERSION=1.26.0.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG ORT_GPU_VERSION=1.31.1
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY service/ service/
RUN pip install -c constraints.txt ".[gpu]" "onnxruntime-gpu[cuda,cudnn]==${ORT_GPU_VERSION}" \
    && rm -f /opt/venv/bin/train \
    && pip uninstall -q -y pip setuptools

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="headline-serve-gpu" \
      org.opencontainers.image.description="DistilBERT headline classifier on ONNX Runtime CUDA, SageMaker BYOC contract" \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    SERVE_DEVICE=auto
COPY --from=build /opt/venv /opt/venv
# Let the dynamic loader find the CUDA/cuDNN libraries that came as wheels.
RUN find /opt/venv/lib -type d -path "*/site-packages/nvidia/*" -name lib \
        > /etc/ld.so.conf.d/nvidia-wheels.conf \
    && ldconfig
COPY docker/entrypoint.sh /usr/local/bin/entrypoint
COPY docker/healthcheck.py /usr/local/bin/healthcheck
WORKDIR /opt/ml
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=120s --retries=3 \
    CMD ["/opt/venv/bin/python", "/usr/local/bin/healthcheck"]
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["serve"]
