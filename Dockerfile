# nlp_lib as an HTTP service: `nlp_lib serve "$ARTIFACT"` on port 8000 (POST /predict; GET /health, /ready, /model, /metrics, /docs).
#
#   docker build --build-arg ARTIFACT=s3://bucket/models/sst2/latest -t nlp-lib-serve .
#   docker run -p 8000:8000 -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_DEFAULT_REGION nlp-lib-serve
#   docker run -p 8000:8000 -v "$PWD/results/store/v1:/models/artifact:ro" nlp-lib-serve          # a local artifact, mounted
#   docker run -p 8000:8000 -e ARTIFACT=s3://bucket/models/sst2/v2 nlp-lib-serve --workers 2     # extra arguments go to nlp_lib serve
#
# The image holds the code, not the model: ARTIFACT (a build argument, and the environment variable of the same name, which
# `docker run -e ARTIFACT=...` overrides) is read when the container starts: a directory inside the container, file://...,
# s3://... (the s3 extra is installed; credentials from the usual AWS_* variables or an instance role) or models:/... (needs
# MLflow: build with --build-arg EXTRAS=serve,s3,mlflow, and run with -e MLFLOW_TRACKING_URI=https://your-tracking-server).
# A fetched artifact is verified and cached in $NLP_LIB_CACHE. Set NLP_LIB_API_KEY to require a bearer token.
FROM python:3.11-slim

# torch first, the CPU build from PyTorch's own index (about 200 MB, instead of about 2.5 GB of CUDA libraries);
# nlp_lib's own `torch>=2.1` is then already met. Keep the version in step with tests/conftest.py (base_python).
ARG TORCH_VERSION=2.13.0
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

# nlp_lib with the serve extra (FastAPI, uvicorn, prometheus-client) and s3 (s3fs); the context holds only what the
# package needs (.dockerignore), so editing notebooks or tests does not invalidate this layer.
ARG EXTRAS=serve,s3
COPY pyproject.toml README.md LICENSE /tmp/src/
COPY nlp_lib /tmp/src/nlp_lib
RUN pip install --no-cache-dir "/tmp/src[${EXTRAS}]" && rm -rf /tmp/src

RUN useradd --create-home --uid 10001 nlp
USER 10001
WORKDIR /home/nlp

ARG ARTIFACT=/models/artifact
ENV ARTIFACT=${ARTIFACT} \
    NLP_LIB_CACHE=/home/nlp/.cache/nlp_lib \
    PYTHONUNBUFFERED=1

EXPOSE 8000
# Liveness: /health answers as soon as the process does (/ready says when the model is loaded). No curl in a slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
# exec: nlp_lib is PID 1 and gets docker stop's SIGTERM (a graceful shutdown); arguments of docker run are added to serve's.
ENTRYPOINT ["/bin/sh", "-c", "exec nlp_lib serve \"$ARTIFACT\" --host 0.0.0.0 --port 8000 \"$@\"", "nlp_lib serve"]
