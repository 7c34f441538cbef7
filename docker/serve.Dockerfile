# Serving image, CPU: ONNX Runtime, tokenizers and the service. No torch, no transformers and
# no compilers in the final stage. Runs the way SageMaker runs it:
#   docker run -v ARTIFACT:/opt/ml/model -p 127.0.0.1:8080:8080 IMAGE serve
# Build: docker build -f docker/serve.Dockerfile -t headline-serve .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY service/ service/
# This image cannot train: drop the `train` script so the entrypoint says so in one line.
# pip and setuptools stay out of the final image (nothing installs at run time).
RUN pip install -c constraints.txt ".[serve]" \
    && rm -f /opt/venv/bin/train \
    && pip uninstall -q -y pip setuptools

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="headline-serve" \
      org.opencontainers.image.description="DistilBERT headline classifier on ONNX Runtime, SageMaker BYOC contract" \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      com.amazonaws.sagemaker.capabilities.multi-models=true
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/entrypoint
COPY docker/healthcheck.py /usr/local/bin/healthcheck
WORKDIR /opt/ml
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/opt/venv/bin/python", "/usr/local/bin/healthcheck"]
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["serve"]
