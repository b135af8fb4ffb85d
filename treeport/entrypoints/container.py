"""The image's entrypoint (`ENTRYPOINT ["python", "-m", "treeport.entrypoints.container"]`).

    serve [GUNICORN FLAGS...]   gunicorn with api/gunicorn.conf.py on $TREEPORT_BIND (default 0.0.0.0:8080):
                                the EKS pod, the docker-compose API, and SageMaker's `docker run IMAGE serve`
    train                       SageMaker's training contract (`treeport.entrypoints.sagemaker_train`)
    COMMAND [ARGS...]           anything else runs as given, e.g. `treeport train --store s3://...`

No arguments means `serve`. `serve` replaces this process with gunicorn, so gunicorn's master is PID 1 and
gets SIGTERM directly. On a SageMaker endpoint (SageMaker unpacks model.tar.gz into /opt/ml/model) with no
`TREEPORT_MODEL_STORE` set, the store is that folder, and with no `TREEPORT_MODEL_NAME` set, the one model
in it; `SAGEMAKER_BIND_TO_PORT`, which SageMaker sets for some container setups, chooses the port when
`TREEPORT_BIND` is unset.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from treeport.entrypoints.sagemaker_train import default_root


def serve_environment(environ: Mapping[str, str], sagemaker_root: str | None = None) -> dict[str, str]:
    """Return the environment gunicorn runs with: `environ` plus SageMaker's defaults where they apply."""
    env = dict(environ)
    port = env.get("SAGEMAKER_BIND_TO_PORT", "").strip()
    if not env.get("TREEPORT_BIND") and port:
        env["TREEPORT_BIND"] = f"0.0.0.0:{port}"
    model_dir = Path(sagemaker_root or default_root()) / "model"
    if not env.get("TREEPORT_MODEL_STORE") and model_dir.is_dir():
        env["TREEPORT_MODEL_STORE"] = model_dir.resolve().as_uri()
        names = sorted(p.parent.name for p in model_dir.glob("*/LATEST") if p.is_file())
        if not env.get("TREEPORT_MODEL_NAME") and len(names) == 1:
            env["TREEPORT_MODEL_NAME"] = names[0]
    return env


def main(argv: list[str] | None = None) -> int:
    """Dispatch `serve`, `train` or another command; return the exit code where the process is not replaced."""
    args = sys.argv[1:] if argv is None else list(argv)
    command, rest = (args[0], args[1:]) if args else ("serve", [])
    if command == "serve":
        from treeport.cli import gunicorn_command

        env = serve_environment(os.environ)
        command_line = [*gunicorn_command(), *rest]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(command_line[0], command_line, env)  # noqa: S606  (fixed argv: this interpreter running gunicorn)
    if command == "train":
        from treeport.entrypoints.sagemaker_train import main as train_main

        return train_main(rest)
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    sys.stdout.flush()
    try:
        os.execvp(command, args)  # noqa: S606  (the container's command, as docker or Kubernetes was told)
    except FileNotFoundError:
        print(f"treeport: no such command {command!r}; expected serve, train or a program", file=sys.stderr)
        return 127
    except OSError as exc:
        print(f"treeport: cannot run {command!r}: {exc.strerror}", file=sys.stderr)
        return 126
    return 1  # not reached: execvp replaces the process or raises


if __name__ == "__main__":
    sys.exit(main())
