# syntax=docker/dockerfile:1
# docker-compose's S3 emulator: moto's server (a real HTTP S3 API; MinIO publishes no community images any more),
# built on the same base as Treeport's images from the hash-pinned requirements/s3.lock. A local stand-in for S3
# only: it keeps objects in memory and accepts any credentials. Compose builds it from the repository root.
# checkov:skip=CKV_DOCKER_7:FROM names ARG BASE_IMAGE, whose default is the tagged python:3.12-slim-bookworm
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements/s3.lock /tmp/s3.lock
RUN python -m venv /opt/moto \
 && /opt/moto/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/s3.lock \
 && rm /tmp/s3.lock
USER 10001:10001
EXPOSE 9000
HEALTHCHECK --interval=2s --timeout=3s --retries=30 \
  CMD ["/opt/moto/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/moto-api/', timeout=2)"]
ENTRYPOINT ["/opt/moto/bin/moto_server", "--host", "0.0.0.0", "--port", "9000"]
