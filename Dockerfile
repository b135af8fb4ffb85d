# syntax=docker/dockerfile:1
# Treeport's serving and training images: the EKS pod, the SageMaker endpoint and training job, and the
# docker-compose API and trainer. Two targets of one file:
#
#   docker build -t treeport .                          serve (the last stage, the default): the app, daal4py and
#                                                       XGBoost; no pandas, pyarrow, matplotlib or scikit-learn
#   docker build --target train -t treeport-train .     train: everything Treeport has (it also serves)
#
#   docker run -p 8080:8080 IMAGE            serve: gunicorn on 0.0.0.0:8080 (TREEPORT_BIND, TREEPORT_WORKERS)
#   docker run IMAGE train                   SageMaker's training contract under /opt/ml (train target)
#   docker run IMAGE treeport train ...      any other command, e.g. a training run into s3:// (train target)
#
# BASE_IMAGE: the official python:3.12-slim-bookworm unless told otherwise (`make images` passes a stand-in built
# from Debian packages where no image registry can be reached). Every dependency comes from a lock file with
# hashes (requirements/*.lock, `make lock`), as binary wheels, with --no-deps: the lock is the whole closure.

# checkov:skip=CKV_DOCKER_7:FROM names ARG BASE_IMAGE, whose default is the tagged python:3.12-slim-bookworm
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS wheel

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Treeport's own wheel, built offline (--no-build-isolation) with the hashed setuptools of requirements/build.lock.
COPY requirements/build.lock requirements/
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: -r requirements/build.lock
COPY pyproject.toml README.md ./
COPY model ./model
COPY api ./api
COPY treeport ./treeport
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheel .


# One environment per image, each at /opt/venv (its scripts' #! lines name that path). The dependencies come first,
# from the lock alone, so that source edits reuse that layer; requirements/slim-venv.sh then trims what no process
# of that image loads, and each stage imports (serving: also runs) what its image needs.
FROM ${BASE_IMAGE} AS serve-env
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY requirements/serve.lock /tmp/requirements.lock
COPY requirements/slim-venv.sh /usr/local/bin/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock
COPY --from=wheel /wheel /tmp/wheel
RUN /opt/venv/bin/pip install --no-deps --no-index /tmp/wheel/treeport-*.whl \
 && slim-venv.sh /opt/venv serving \
 && /opt/venv/bin/python -c "import api.app, model.backends, model.onedal, treeport.entrypoints.container, xgboost; model.onedal.daal4py_core(); import numpy; xgboost.DMatrix(numpy.zeros((2, 3)))"

FROM ${BASE_IMAGE} AS train-env
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY requirements/train.lock /tmp/requirements.lock
COPY requirements/slim-venv.sh /usr/local/bin/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock
COPY --from=wheel /wheel /tmp/wheel
RUN /opt/venv/bin/pip install --no-deps --no-index /tmp/wheel/treeport-*.whl \
 && slim-venv.sh /opt/venv \
 && /opt/venv/bin/python -c "import api.app, model.pipeline, treeport.entrypoints.sagemaker_train, daal4py, xgboost, pandas"


FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="treeport" \
      org.opencontainers.image.description="XGBoost served with daal4py (oneDAL): EKS, SageMaker and local" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it without a passwd lookup. SageMaker runs training
# as this user too: /opt/ml belongs to it, so that a job (or `docker run IMAGE train`) can write /opt/ml/model and
# /opt/ml/output where SageMaker (or docker) has not mounted them already.
RUN groupadd --system --gid 10001 treeport \
 && useradd --system --uid 10001 --gid treeport --create-home --home-dir /home/treeport \
      --shell /usr/sbin/nologin treeport \
 && mkdir -p /opt/ml/model /opt/ml/output /opt/ml/input/config /opt/ml/input/data \
 && chown -R 10001:10001 /opt/ml

WORKDIR /home/treeport
EXPOSE 8080

# Liveness only (the process serves HTTP); readiness (/ready, a model loaded) is the orchestrator's probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; port = (os.environ.get('TREEPORT_BIND') or ':8080').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]

ENTRYPOINT ["python", "-m", "treeport.entrypoints.container"]
CMD ["serve"]


FROM runtime AS train

COPY --from=train-env /opt/venv /opt/venv
USER 10001:10001


FROM runtime AS serve

COPY --from=serve-env /opt/venv /opt/venv
USER 10001:10001
