# syntax=docker/dockerfile:1
# Treeport's serving and training image: one image for the EKS pod, the SageMaker endpoint and training job,
# and the docker-compose API and trainer.
#
#   docker run -p 8080:8080 IMAGE            serve: gunicorn on 0.0.0.0:8080 (TREEPORT_BIND, TREEPORT_WORKERS)
#   docker run IMAGE train                   SageMaker's training contract under /opt/ml
#   docker run IMAGE treeport train ...      any other command, e.g. a training run into s3://
#
# The builder stage resolves every dependency as a binary wheel and builds Treeport's own wheel into a
# virtual environment; the final stage copies only that environment: no compiler, no pip cache, no sources.

FROM python:3.12-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so source edits reuse this layer.
COPY pyproject.toml README.md ./
RUN python -m venv /opt/venv \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: -r /tmp/requirements.txt

COPY model ./model
COPY api ./api
COPY treeport ./treeport
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
 && /opt/venv/bin/python -c "import api.app, model.backends, treeport.container, daal4py, xgboost"


FROM python:3.12-slim-bookworm

LABEL org.opencontainers.image.title="treeport" \
      org.opencontainers.image.description="XGBoost served with daal4py (oneDAL): EKS, SageMaker and local" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 treeport \
 && useradd --system --uid 10001 --gid treeport --create-home --home-dir /home/treeport \
      --shell /usr/sbin/nologin treeport

COPY --from=builder /opt/venv /opt/venv

WORKDIR /home/treeport
USER 10001:10001
EXPOSE 8080

# Liveness only (the process serves HTTP); readiness (/ready, a model loaded) is the orchestrator's probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; port = (os.environ.get('TREEPORT_BIND') or ':8080').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]

ENTRYPOINT ["python", "-m", "treeport.container"]
CMD ["serve"]
