"""The `treeport` command line.

Exit codes: 0 ok; 2 user error (bad arguments, data or schema: the message names the file, column
and value); 3 model rejected by the quality gate or the parity check; 4 `doctor --strict` found a
warning, or `monitor` found drift past its threshold; 1 anything else.

A flag with a `TREEPORT_*` twin (`--store`, `--name`, `--version`, `--backend`, `serve --workers`,
`serve --host/--port`) defaults to that variable, then to the built-in default: what the environment says is
what runs, and a flag given on the command line wins over both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, TextIO

from model.errors import DataError, TreeportError, UserError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_WARNED = 4
STORE_ENV = "TREEPORT_MODEL_STORE"
NAME_ENV = "TREEPORT_MODEL_NAME"
VERSION_ENV = "TREEPORT_MODEL_VERSION"
BACKEND_ENV = "TREEPORT_BACKEND"
BIND_ENV = "TREEPORT_BIND"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_DETAILS_SHOWN = 20


def default_store() -> str:
    """Return the store URI: `$TREEPORT_MODEL_STORE`, else `./models` under the working directory."""
    return os.environ.get(STORE_ENV) or (Path.cwd() / "models").as_uri()


def from_env(value: str | None, var: str, default: str) -> str:
    """Return a flag's value: as given, else `$var` when set and not blank, else `default`."""
    if value is not None:
        return value
    return os.environ.get(var, "").strip() or default


def local_backend(value: str | None) -> str:
    """Return the local inference backend: `--backend`, else `$TREEPORT_BACKEND` (`local` = daal4py), else daal4py."""
    from model.backends import BACKENDS

    backend = from_env(value, BACKEND_ENV, "daal4py")
    backend = "daal4py" if backend == "local" else backend
    if backend not in BACKENDS:
        raise UserError(
            f"{BACKEND_ENV}={backend!r} is not a local backend (expected one of {list(BACKENDS)}); pass --backend"
        )
    return backend


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every subcommand."""
    from model.data import DEFAULT_ROWS, DEFAULT_SEED
    from model.pipeline import DEFAULT_NAME

    parser = argparse.ArgumentParser(
        prog="treeport", description="Train, verify and serve XGBoost models with daal4py."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def store_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store",
            default=None,
            help=f"model store URI: file:///abs/path or s3://bucket/prefix (default ${STORE_ENV} or ./models)",
        )

    train = sub.add_parser("train", help="train, gate, convert and publish a model bundle")
    train.add_argument("--data", help="CSV or Parquet path or s3:// URI (default: the synthetic credit-risk set)")
    schema = train.add_mutually_exclusive_group()
    schema.add_argument("--schema", help="schema YAML file")
    schema.add_argument("--target", help="target column (schema inferred from the data)")
    train.add_argument("--positive-class", help="positive class of a binary target")
    train.add_argument("--task", choices=("binary", "multiclass", "regression"), help="override the inferred task")
    store_arg(train)
    train.add_argument("--name", help=f"model name (default ${NAME_ENV}, else {DEFAULT_NAME})")
    train.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows of synthetic data (default %(default)s)")
    train.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed for the split and the synthetic data")
    train.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="XGBoost parameter override")
    train.add_argument("--gate", action="append", default=[], metavar="METRIC=VALUE", help="gate threshold override")
    train.add_argument("--threads", type=int, help="training threads (default: the CPUs the cgroup allows)")
    train.add_argument("--drop-unlabelled", action="store_true", help="drop rows whose target is missing")
    train.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local: this process; dask: xgboost.dask on a Dask cluster, --data may name many files (default local)",
    )
    cluster = train.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS", help="--engine dask: scheduler address, tcp://host:8786")
    cluster.add_argument(
        "--workers",
        type=int,
        help="--engine dask without --scheduler: worker processes of the LocalCluster started on 127.0.0.1 "
        "(default: the CPUs the cgroup allows)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress on stderr while boosting")

    predict = sub.add_parser("predict", help="predict a CSV (with header) or JSON-lines file; JSON lines to stdout")
    store_arg(predict)
    predict.add_argument("--name", help=f"model name (default ${NAME_ENV}, else {DEFAULT_NAME})")
    predict.add_argument("--version", help=f"version id (default ${VERSION_ENV}, else LATEST)")
    predict.add_argument(
        "--backend", choices=("daal4py", "xgboost"), help=f"inference engine (default ${BACKEND_ENV}, else daal4py)"
    )
    predict.add_argument("file", help="input file, or - for standard input")

    models = sub.add_parser("models", help="list, show or promote model versions")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    mlist = msub.add_parser("list", help="list models, or the versions of one model")
    store_arg(mlist)
    mlist.add_argument("name", nargs="?")
    mshow = msub.add_parser("show", help="verify a version and print its summary (or its manifest with --json)")
    store_arg(mshow)
    mshow.add_argument("name")
    mshow.add_argument("version", nargs="?", default="LATEST")
    mshow.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    mpromote = msub.add_parser("promote", help="verify a version and point LATEST at it")
    store_arg(mpromote)
    mpromote.add_argument("name")
    mpromote.add_argument("version")

    report = sub.add_parser("report", help="verify a version and print its report: metrics and the report's files")
    store_arg(report)
    report.add_argument("name")
    report.add_argument("version", nargs="?", default="LATEST")

    serve = sub.add_parser("serve", help="serve the HTTP API under gunicorn (foreground; Ctrl-C or SIGTERM stops it)")
    serve.add_argument(
        "--host", help=f"address to listen on (default: ${BIND_ENV}'s host, else {DEFAULT_HOST}; 0.0.0.0 for all)"
    )
    serve.add_argument("--port", type=int, help=f"port to listen on (default: ${BIND_ENV}'s port, else {DEFAULT_PORT})")
    serve.add_argument(
        "--workers", type=int, help="worker processes (default $TREEPORT_WORKERS, else the CPUs the cgroup allows)"
    )
    store_arg(serve)
    serve.add_argument("--name", help=f"model name (default ${NAME_ENV}, else {DEFAULT_NAME})")
    serve.add_argument(
        "--version", help=f"version id, or LATEST to follow the promoted one (default ${VERSION_ENV}, else LATEST)"
    )
    serve.add_argument(
        "--backend",
        choices=("daal4py", "xgboost"),
        help=f"inference engine (default ${BACKEND_ENV}, else daal4py; sagemaker only through the variable)",
    )

    bench = sub.add_parser(
        "bench",
        help="benchmark against XGBoost, a plain Flask server and MLServer (a source checkout's bench/)",
        description="Run bench/ (model, http, cold_start, memory, train); print tables and write one JSON report.",
    )
    bench.add_argument("--quick", action="store_true", help="every part at tiny sizes (about two minutes)")
    bench.add_argument(
        "--json", default=None, metavar="FILE", help="report file (default build/bench/bench.json in the checkout)"
    )
    bench.add_argument(
        "--parts", default=None, help="comma-separated parts (default: model,http,cold_start,memory,train)"
    )
    bench.add_argument(
        "--store",
        dest="bench_store",
        metavar="URI",
        help="store URI holding credit-risk (default: train it into a temporary store)",
    )
    doctor = sub.add_parser(
        "doctor",
        help="report the CPUs, memory, ISA and oneDAL code path this would serve on, and time both engines",
        description="Print the hardware report (what GET /metadata shows as `hardware`) and a 2-second micro-benchmark "
        "of daal4py against XGBoost on the model, at batch 1 and 1,000. Warns when an Intel-targeted instance type "
        "($TREEPORT_INSTANCE_TYPE, e.g. c7i.large) runs without AVX-512.",
    )
    store_arg(doctor)
    doctor.add_argument("--name", help=f"model to time (default ${NAME_ENV}, else {DEFAULT_NAME})")
    doctor.add_argument("--version", help=f"version id (default ${VERSION_ENV}, else LATEST)")
    doctor.add_argument(
        "--seconds", type=float, default=2.0, help="micro-benchmark length in seconds (default %(default)s)"
    )
    doctor.add_argument("--no-bench", action="store_true", help="the hardware report only, no model needed")
    doctor.add_argument("--json", action="store_true", help="print the report as one JSON document")
    doctor.add_argument("--strict", action="store_true", help=f"exit {EXIT_WARNED} if the report warns")
    monitor = sub.add_parser(
        "monitor",
        help="drift of served rows (SageMaker data capture, CSV or JSON lines) against a bundle's baseline",
        description="Read SageMaker data capture files (JSON Lines), a CSV of served rows with a header, or JSON "
        "lines of records, from local paths or s3:// objects and prefixes; compare them with the bundle's baseline "
        "(PSI per feature and of the score, as GET /monitoring does); write a PNG per drifting feature to --out. "
        f"Exit {EXIT_WARNED} when a PSI passes --threshold, {EXIT_USER_ERROR} for input that cannot be read.",
    )
    monitor.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="file, folder, s3://bucket/key or s3://bucket/prefix/"
    )
    store_arg(monitor)
    monitor.add_argument("--name", help=f"model name (default ${NAME_ENV}, else {DEFAULT_NAME})")
    monitor.add_argument(
        "--version", help=f"version id whose baseline to compare with (default ${VERSION_ENV}, else LATEST)"
    )
    monitor.add_argument(
        "--threshold", type=float, default=0.2, help="PSI past which a feature drifts (default %(default)s)"
    )
    monitor.add_argument(
        "--format", choices=("auto", "capture", "csv", "jsonl"), default="auto", help="input format (default: per file)"
    )
    monitor.add_argument("--out", help="folder for the plots (default ./drift-<name>-<version>)")
    monitor.add_argument("--json", action="store_true", help="print the report as one JSON document")
    from treeport import batch, deploy

    deploy.add_parser(sub)
    batch.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "store", "unset") is None:
        args.store = default_store()
    try:
        return int(COMMANDS[args.command](args, sys.stdout))
    except TreeportError as exc:
        print(f"treeport: error: {exc.message}", file=sys.stderr)
        for detail in exc.details[1:MAX_DETAILS_SHOWN]:
            where = ", ".join(f"{k} {detail[k]!r}" for k in ("row", "field") if detail.get(k) is not None)
            print(f"  {where}: {detail['problem']}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001  (a bug: show it, exit 1)
        traceback.print_exc()
        return EXIT_FAILURE


def parse_assignments(items: list[str], flag: str) -> dict[str, Any]:
    """Parse KEY=VALUE strings, reading each value as JSON when it parses (numbers, booleans), else text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def cmd_train(args: argparse.Namespace, out: TextIO) -> int:
    """Train and publish; print the summary."""
    from model.evaluate import parse_thresholds
    from model.pipeline import DEFAULT_NAME, TrainConfig, run_training

    if args.rows < 1:
        raise UserError(f"--rows must be at least 1, got {args.rows}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    if args.positive_class is not None and args.schema:
        raise UserError("--positive-class goes with --target; put positive_class in the schema file instead")
    if args.engine != "dask" and (args.scheduler is not None or args.workers is not None):
        raise UserError("--scheduler and --workers go with --engine dask")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.scheduler is not None and not args.scheduler.strip():
        raise UserError("--scheduler must not be empty (omit it to start a LocalCluster)")
    config = TrainConfig(
        store=args.store,
        name=from_env(args.name, NAME_ENV, DEFAULT_NAME),
        data=args.data,
        schema_path=args.schema,
        target=args.target,
        positive_class=args.positive_class,
        task=args.task,
        rows=args.rows,
        seed=args.seed,
        params=parse_assignments(args.param, "--param"),
        thresholds=parse_thresholds(args.gate),
        threads=args.threads,
        drop_unlabelled=args.drop_unlabelled,
        engine=args.engine,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not args.quiet,
    )
    result = run_training(config)
    for note in result.notes:
        print(f"note: {note}", file=out)
    print(f"trained {result.name} version {result.version}", file=out)
    print(summary_of_manifest(result.manifest, result.location + " (promoted to LATEST)"), file=out)
    return EXIT_OK


def summary_of_manifest(manifest: dict[str, Any], location: str) -> str:
    """Return the human summary of a bundle: data, test metrics, parity, trees, timings and location."""
    from model.evaluate import summary_of

    training = manifest["training"]
    parity = manifest["parity"]
    seconds = training["seconds"]
    engine = training.get("engine", {})
    on = ""
    if engine.get("name") == "dask":
        workers = engine["workers"]
        on = f"; engine: dask, {workers} worker{'' if workers == 1 else 's'} ({engine['scheduler']})"
    return "\n".join(
        [
            f"  data:    {training['source']} ({training['rows']} rows: {training['train_rows']} train / "
            f"{training['valid_rows']} valid / {training['test_rows']} test)",
            f"  metrics: {summary_of(manifest['metrics'])} (test split)",
            f"  parity:  daal4py vs xgboost on {parity['rows']} test rows: max |diff| "
            f"{parity['max_abs_diff']:.3g}, label agreement {parity['label_agreement']:.2%}",
            f"  trees:   {manifest['trees']['rounds']}; time: train {seconds['train_s']:.2f} s, "
            f"total {seconds['total_s']:.2f} s{on}",
            f"  store:   {location}",
        ]
    )


def read_predict_input(path: str, predictor: Any) -> tuple[Any, str]:
    """Return the rows of a CSV (header row) or JSON-lines input and its source name."""
    from model.data import parse_table
    from model.schema import CategoricalFeature, category_text

    source = "<stdin>" if path == "-" else path
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise UserError(f"input file not found: {path}") from None
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if not data.strip():
        raise DataError(f"{source}: file is empty")
    if data.lstrip()[:1] == b"[":
        try:
            records = json.loads(data)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}: not valid JSON at line {exc.lineno} ({exc.msg})") from None
        except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit limit
            raise DataError(f"{source}: not usable JSON ({exc})") from None
        if not isinstance(records, list):
            raise DataError(f"{source}: expected a JSON array of objects")
        return records, source
    if data.lstrip()[:1] == b"{":
        records = []
        for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{source}: line {lineno} is not valid JSON ({exc.msg})") from None
            except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit limit
                raise DataError(f"{source}: line {lineno} is not usable JSON ({exc})") from None
        return records, source
    frame = parse_table(data, source)
    for feature in predictor.schema.features:
        if isinstance(feature, CategoricalFeature) and feature.name in frame.columns:
            column = frame[feature.name]
            frame[feature.name] = column.map(category_text, na_action="ignore")
    return frame, source


def cmd_predict(args: argparse.Namespace, out: TextIO) -> int:
    """Predict each input row and print one JSON line per row."""
    from model.bundle import LATEST
    from model.errors import ValidationError
    from model.pipeline import DEFAULT_NAME
    from model.predictor import Predictor

    name = from_env(args.name, NAME_ENV, DEFAULT_NAME)
    version = from_env(args.version, VERSION_ENV, LATEST)
    predictor = Predictor.load(args.store, name, version, backend=local_backend(args.backend))
    rows, source = read_predict_input(args.file, predictor)
    try:
        results = predictor.predict(rows)
    except ValidationError as exc:
        raise DataError(f"{source}: {exc.message}", details=exc.details) from None
    for result in results:
        out.write(json.dumps(result) + "\n")
    return EXIT_OK


def cmd_models(args: argparse.Namespace, out: TextIO) -> int:
    """List, show or promote versions."""
    from model import bundle as bundle_io
    from model.errors import NotFound
    from model.store import open_store

    store = open_store(args.store)
    if args.models_command == "list":
        if not args.name:
            for name in bundle_io.list_models(store):
                print(name, file=out)
            return EXIT_OK
        versions = bundle_io.list_versions(store, args.name)
        if not versions:
            raise NotFound(f"no model {args.name!r} in {store.uri}")
        try:
            latest = bundle_io.resolve_version(store, args.name)
        except NotFound:
            latest = None
        for version in versions:
            print(f"{version}{'  LATEST' if version == latest else ''}", file=out)
        return EXIT_OK
    if args.models_command == "show":
        bundle = bundle_io.load_bundle(store, args.name, args.version)
        if args.json:
            print(json.dumps(bundle.manifest, indent=2, sort_keys=True), file=out)
        else:
            latest = bundle_io.resolve_version(store, args.name)
            marker = " (LATEST)" if latest == bundle.version else ""
            print(f"{bundle.name} version {bundle.version}{marker}, {bundle.task}, checksums verified", file=out)
            print(summary_of_manifest(bundle.manifest, store.location(f"{bundle.name}/{bundle.version}")), file=out)
        return EXIT_OK
    bundle = bundle_io.promote(store, args.name, args.version)
    print(f"promoted {bundle.name} version {bundle.version} to LATEST in {store.uri}", file=out)
    return EXIT_OK


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Verify a version and print its summary, top features by gain, and where each report file is."""
    from model import bundle as bundle_io
    from model.report import describe
    from model.store import open_store

    store = open_store(args.store)
    bundle = bundle_io.load_bundle(store, args.name, args.version)
    prefix = f"{bundle.name}/{bundle.version}"
    print(f"{bundle.name} version {bundle.version}, {bundle.task}, checksums verified", file=out)
    print(summary_of_manifest(bundle.manifest, store.location(prefix)), file=out)
    files = sorted(f for f in bundle.files if f.startswith(bundle_io.REPORT_PREFIX))
    if bundle_io.METRICS_FILE in bundle.files:
        top = describe(bundle.json(bundle_io.METRICS_FILE))
        if top:
            print(f"  gain:    {', '.join(top)}", file=out)
    print(f"  report:  {len(files)} file(s)", file=out)
    for filename in files:
        print(f"    {store.location(f'{prefix}/{filename}')}  ({len(bundle.files[filename]):,} bytes)", file=out)
    return EXIT_OK


def serve_environment(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, str]:
    """Return `environ` plus the `TREEPORT_*` variables the serve flags set, validated as the app will read them.

    A flag left out leaves its variable as the environment has it (the app's own default if unset), so
    `TREEPORT_MODEL_NAME=churn treeport serve` serves churn.
    """
    from api.settings import Settings

    if args.port is not None and not 1 <= args.port <= 65535:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.host is not None and not args.host.strip():
        raise UserError("--host must not be empty")
    env = dict(environ)
    env[BIND_ENV] = bind_address(args.host, args.port, environ.get(BIND_ENV, "").strip())
    for value, var in (
        (args.workers, "TREEPORT_WORKERS"),
        (args.store, STORE_ENV),
        (args.name, NAME_ENV),
        (args.version, VERSION_ENV),
        (args.backend, BACKEND_ENV),
    ):
        if value is not None:
            env[var] = str(value)
    # Fail here with exit code 2, not in every worker as it boots.
    Settings.from_env(env)
    return env


def bind_address(host: str | None, port: int | None, bind: str) -> str:
    """Return gunicorn's `host:port` from the flags, taking what they leave out from `$TREEPORT_BIND` (`bind`)."""
    if bind.startswith(("unix:", "fd://")):  # gunicorn's other two forms: a socket file or an inherited fd
        if host is None and port is None:
            return bind
        raise UserError(f"--host/--port cannot combine with {BIND_ENV}={bind!r} (a socket, not HOST:PORT)")
    bind_host, bind_port = DEFAULT_HOST, DEFAULT_PORT
    if bind:
        head, sep, tail = bind.rpartition(":")
        if not sep or not head or not tail.isdigit() or not 1 <= int(tail) <= 65535:
            raise UserError(f"{BIND_ENV} must be HOST:PORT (port 1-65535), unix:PATH or fd://N, got {bind!r}")
        bind_host, bind_port = head.strip("[]"), int(tail)
    host = bind_host if host is None else host
    port = bind_port if port is None else port
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_command() -> list[str]:
    """Return the argv that runs gunicorn with Treeport's config and app factory, on this interpreter."""
    import api

    config = Path(api.__file__).resolve().parent / "gunicorn.conf.py"
    return [sys.executable, "-m", "gunicorn", "--config", str(config), "api.app:create_app()"]


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """Replace this process with gunicorn serving the app (so signals reach gunicorn's master directly)."""
    env = serve_environment(args, dict(os.environ))
    argv = gunicorn_command()
    out.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)  # noqa: S606  (a fixed argv: this interpreter running gunicorn, no shell)
    return EXIT_FAILURE  # not reached: execve replaces the process or raises


def bench_checkout() -> Path:
    """Return the source checkout this command runs from, which holds bench/ (benchmarks are not installed)."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "bench" / "__main__.py").is_file():
        raise UserError(f"treeport bench runs from a source checkout; no bench/ folder beside {checkout / 'treeport'}")
    return checkout


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    """Run the benchmarks (`python -m bench` in the checkout, its own process: the CLI does not import bench/);
    the exit code is bench's: 1 if a part failed (missed targets are reported, not failures), 2 for bad arguments."""
    checkout = bench_checkout()
    argv = ["--quick"] if args.quick else []
    # bench runs in the checkout: a relative report path still means one relative to where the user is.
    report = str(Path(args.json).resolve()) if args.json is not None else None
    for flag, value in (("--json", report), ("--parts", args.parts), ("--store", args.bench_store)):
        if value is not None:
            argv += [flag, value]
    out.flush()
    sys.stderr.flush()
    with subprocess.Popen(
        [sys.executable, "-m", "bench", *argv],
        cwd=checkout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        errors = proc.stderr

        def forward_errors() -> None:
            for line in errors:
                sys.stderr.write(line)

        relay = threading.Thread(target=forward_errors, daemon=True)
        relay.start()
        for line in proc.stdout:
            out.write(line)
            out.flush()
        code = proc.wait()
        relay.join()
    return code


MAX_DOCTOR_SECONDS = 60.0


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    """Print the hardware report and the micro-benchmark; exit 4 with --strict when it warns."""
    from model.bundle import LATEST
    from model.hardware import hardware_report, serving_layout
    from model.onedal import dispatch_info
    from model.pipeline import DEFAULT_NAME

    if not 0 < args.seconds <= MAX_DOCTOR_SECONDS:
        raise UserError(f"--seconds must be above 0 and at most {MAX_DOCTOR_SECONDS:g}, got {args.seconds:g}")
    workers, threads = serving_layout(os.environ)
    bench: dict[str, Any] | None = None
    failure: TreeportError | None = None
    if not args.no_bench:
        try:
            bench = doctor_benchmark(
                args.store,
                from_env(args.name, NAME_ENV, DEFAULT_NAME),
                from_env(args.version, VERSION_ENV, LATEST),
                threads,
                args.seconds,
            )
        except TreeportError as exc:
            failure = exc  # the hardware report is still worth printing
    # Asked after the benchmark, so oneDAL's thread count is the one serving sets (daalinit per worker).
    report = hardware_report(os.environ, dispatch_info(), workers=workers, threads=threads)
    if bench is not None:
        report["benchmark"] = bench
    if args.json:
        print(json.dumps(report, indent=2), file=out)
    else:
        print(format_doctor(report), file=out)
    if failure is not None:
        raise failure
    return EXIT_WARNED if args.strict and report["warnings"] else EXIT_OK


def doctor_benchmark(store_uri: str, name: str, version: str, threads: int, seconds: float) -> dict[str, Any]:
    """Load a bundle and time daal4py against XGBoost on it; return the benchmark part of the report."""
    from model.bundle import MODEL_FILE, PREPROCESSOR_FILE, load_bundle
    from model.microbench import compare_engines
    from model.preprocess import Preprocessor
    from model.store import open_store

    bundle = load_bundle(open_store(store_uri), name, version, only=(MODEL_FILE, PREPROCESSOR_FILE))
    columns = Preprocessor.from_dict(bundle.json(PREPROCESSOR_FILE)).n_columns
    n_classes = len(bundle.schema.target.classes) if bundle.task == "multiclass" else 2
    timings = compare_engines(bundle.files[MODEL_FILE], bundle.task, n_classes, columns, threads, seconds)
    return {
        "model": {
            "name": bundle.name,
            "version": bundle.version,
            "task": bundle.task,
            "trees": int(bundle.manifest["trees"]["rounds"]),
            "columns": columns,
        },
        "threads": threads,
        "seconds": seconds,
        "results": [t.to_dict() for t in timings],
    }


def format_doctor(report: dict[str, Any]) -> str:
    """Return the human form of the doctor report."""
    from model.hardware import gib

    cpu, limits, onedal = report["cpu"], report["cgroup"], report["onedal"] or {}
    quota = limits["cpu_quota"]
    memory = limits["memory_limit_bytes"]
    total = report["memory_total_bytes"]
    cgroup = f"cgroup v{limits['version']}" if limits["version"] else "no cgroup filesystem"
    isa = cpu["isa"]
    lines = [
        "treeport doctor: the machine this would serve on",
        f"  cpu:       {cpu['model']} ({cpu['vendor'] or 'vendor unknown'}, {cpu['machine']})",
        f"  cpus:      {cpu['cpus_allowed']} allowed (affinity and {cgroup} quota: "
        f"{f'{quota:g} CPUs' if quota else 'none'}), {cpu['cpus_online']} online",
        f"  memory:    limit {gib(memory) if memory else 'none'} ({cgroup}); machine {gib(total) if total else '?'}",
        "  isa:       " + (", ".join(f"{flag} {'yes' if ok else 'no'}" for flag, ok in isa.items()) or "none found"),
    ]
    if "dispatch" in onedal:
        features = ", ".join(onedal["features"]) or "none"
        lines.append(
            f"  oneDAL:    {onedal['version']} (run version {onedal['run_version']}), dispatch {onedal['dispatch']} "
            f"(Intel CPU: {'yes' if onedal['intel_cpu'] else 'no'}; extra features: {features}), "
            f"{onedal['threads']} thread{'' if onedal['threads'] == 1 else 's'}"
        )
    else:
        lines.append(f"  oneDAL:    {onedal.get('version', '')} {onedal.get('dispatch_error') or onedal.get('error')}")
    serving = report["serving"]
    lines.append(f"  serving:   {serving['workers']} worker(s) x {serving['threads_per_worker']} inference thread(s)")
    instance = report["instance_type"]
    lines.append(
        f"  instance:  {instance['value']} (from {instance['source']})" if instance["value"] else "  instance:  unknown"
    )
    bench = report.get("benchmark")
    if bench is not None:
        model = bench["model"]
        lines.append(
            f"  benchmark: {model['name']} {model['version']} ({model['trees']} trees, {model['columns']} columns), "
            f"{bench['threads']} thread(s), {bench['seconds']:g} s; median µs per call, calls interleaved"
        )
        lines.append(f"    {'batch':>7}  {'daal4py':>10}  {'xgboost':>10}  {'daal4py speedup':>15}  {'calls':>7}")
        for row in bench["results"]:
            lines.append(
                f"    {row['batch']:>7,}  {row['daal4py_us']:>10,.1f}  {row['xgboost_us']:>10,.1f}  "
                f"{row['speedup']:>14.2f}x  {row['calls']:>7,}"
            )
    lines += [f"  note: {note}" for note in report["notes"]]
    lines += [f"  WARNING: {warning}" for warning in report["warnings"]]
    return "\n".join(lines)


def cmd_deploy(args: argparse.Namespace, out: TextIO) -> int:
    """Drive a target's Terraform stack (see treeport/deploy.py)."""
    from treeport import deploy

    return deploy.run(args, out)


def cmd_monitor(args: argparse.Namespace, out: TextIO) -> int:
    """Report drift of served rows against a bundle's baseline; exit 4 when a PSI passes the threshold."""
    from model.bundle import BASELINE_FILE, LATEST, MODEL_FILE, PREPROCESSOR_FILE, load_bundle
    from model.pipeline import DEFAULT_NAME
    from model.predictor import Predictor
    from model.store import open_store
    from treeport import monitor

    name = from_env(args.name, NAME_ENV, DEFAULT_NAME)
    version = from_env(args.version, VERSION_ENV, LATEST)
    bundle = load_bundle(
        open_store(args.store), name, version, only=(MODEL_FILE, PREPROCESSOR_FILE), optional=(BASELINE_FILE,)
    )
    predictor = Predictor(bundle, backend=local_backend(None))
    where = Path(args.out) if args.out else Path.cwd() / f"drift-{bundle.name}-{bundle.version}"
    report, tally, plots = monitor.run(predictor, args.inputs, args.threshold, where, args.format)
    if args.json:
        print(json.dumps(monitor.document(predictor, report, tally, plots), indent=2), file=out)
    else:
        print(monitor.format_report(report, tally, f"{bundle.name} {bundle.version}", plots), file=out)
    return EXIT_WARNED if report.alarm else EXIT_OK


def cmd_batch(args: argparse.Namespace, out: TextIO) -> int:
    """Score S3 files with a SageMaker Batch Transform job (see treeport/batch.py)."""
    from treeport import batch

    return batch.run(args, out)


COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "models": cmd_models,
    "report": cmd_report,
    "serve": cmd_serve,
    "bench": cmd_bench,
    "deploy": cmd_deploy,
    "batch": cmd_batch,
    "monitor": cmd_monitor,
    "doctor": cmd_doctor,
}


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
