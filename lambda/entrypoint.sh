#!/bin/sh
# The Lambda image's ENTRYPOINT, as AWS documents it for images not built on its Lambda base image: in Lambda,
# AWS_LAMBDA_RUNTIME_API is set and the runtime interface client talks to the service; anywhere else (docker run,
# docker compose, the tests) the Runtime Interface Emulator runs in front of it and serves the invoke URL,
# POST http://HOST:8080/2015-03-31/functions/function/invocations.
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec /usr/local/bin/aws-lambda-rie /opt/venv/bin/python -m awslambdaric "$@"
fi
exec /opt/venv/bin/python -m awslambdaric "$@"
