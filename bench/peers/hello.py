"""The ceiling of the stack: a hello-world Flask route under Treeport's gunicorn config.

It reads the request body (as every server here must) and answers a small JSON document; nothing else.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request


def create_app() -> Flask:
    """Return the app: `POST /predict` answers `{"hello": "world"}`."""
    app = Flask("hello")

    @app.post("/predict")
    def hello() -> Response:
        request.get_data()
        return jsonify({"hello": "world"})

    return app
