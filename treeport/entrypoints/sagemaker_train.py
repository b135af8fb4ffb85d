"""SageMaker's training contract: `docker run IMAGE train` inside a SageMaker training job.

SageMaker lays out, under /opt/ml:

    input/data/<channel>/...                 the channel's S3 objects (File or FastFile mode)
    input/config/hyperparameters.json        {"name": "value", ...}: every value a string
    input/config/inputdataconfig.json        the channels and their input modes
    input/config/resourceconfig.json         the job's instances: `current_host` and `hosts`
    model/                                   what the job leaves here becomes model.tar.gz
    output/failure                           the reason a job failed (its first 1024 characters are shown)

Channels: `train` holds the CSV and/or Parquet file(s) to train on (several are read as one table; names
starting with `.` or `_`, like Spark's `_SUCCESS`, are skipped); `schema` (optional) holds one schema YAML.
Treeport splits train/valid/test itself, so there is no validation channel. Without a `train` channel,
the hyperparameter `data=synthetic` trains on the bundled synthetic credit-risk set.

A job with several instances trains on the first host listed in resourceconfig.json only (the primary,
`algo-1`); every other host logs that and exits 0 without writing to /opt/ml/model.

Hyperparameters: `name`, `target`, `positive_class`, `task`, `rows`, `seed`, `threads`, `drop_unlabelled`,
`data`; `gate_<metric>` sets a quality-gate threshold (e.g. `gate_auc=0.8`), and `default_gate=false` leaves
out Treeport's default thresholds, so the given ones are the only gate (the SageMaker Pipeline passes its own
gate that way); the XGBoost parameters in
`INT_PARAMS`, `FLOAT_PARAMS` and `CHOICE_PARAMS` (`num_round`, the built-in algorithm's name, is accepted
for `num_boost_round`). Keys SageMaker or its SDK add (`sagemaker_*`, `_tuning_objective_metric`) are ignored;
any other key is an error, so a typo fails the job instead of being silently dropped.

The bundle is published to a file store at /opt/ml/model (`<name>/<version>/...` and `<name>/LATEST`),
which is what the same image's `serve` loads on a SageMaker endpoint. Exit codes as the CLI: 0 ok,
2 user error, 3 rejected by the gate or the parity check, 1 anything else; on failure the reason is also
written to output/failure. The root is /opt/ml unless `--root` or `$TREEPORT_SAGEMAKER_ROOT` says otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import DataError, TreeportError, UserError

ROOT_ENV = "TREEPORT_SAGEMAKER_ROOT"
DEFAULT_ROOT = "/opt/ml"
TRAIN_CHANNEL = "train"
SCHEMA_CHANNEL = "schema"
CHANNELS = (TRAIN_CHANNEL, SCHEMA_CHANNEL)
DATA_SUFFIXES = (".csv", ".parquet", ".pq")
SCHEMA_SUFFIXES = (".yaml", ".yml")
SYNTHETIC = "synthetic"
GATE_PREFIX = "gate_"
DEFAULT_GATE = "default_gate"  # false: only the gate_<metric> thresholds given apply, not the task's defaults
# What training imports beyond serving (the serving image lacks them).
TRAINING_LIBRARIES = ("pandas", "pyarrow", "sklearn")

EXIT_OK = 0
EXIT_FAILURE = 1

# XGBoost parameters a training job may set, with the smallest value each accepts; XGBoost checks the rest.
INT_PARAMS = {
    "num_boost_round": 1,
    "early_stopping_rounds": 0,
    "max_depth": 0,
    "max_leaves": 0,
    "max_bin": 2,
    "num_parallel_tree": 1,
}
FLOAT_PARAMS = (
    "eta",
    "learning_rate",
    "gamma",
    "min_split_loss",
    "min_child_weight",
    "max_delta_step",
    "subsample",
    "colsample_bytree",
    "colsample_bylevel",
    "colsample_bynode",
    "lambda",
    "reg_lambda",
    "alpha",
    "reg_alpha",
    "scale_pos_weight",
)
CHOICE_PARAMS = {"tree_method": ("hist", "approx", "exact"), "grow_policy": ("depthwise", "lossguide")}
ALIASES = {"num_round": "num_boost_round"}
TASKS = ("binary", "multiclass", "regression")
TEXT_KEYS = ("name", "target", "positive_class")


@dataclass(frozen=True)
class SageMakerPaths:
    """Where SageMaker puts a training job's inputs and collects its outputs, under one root."""

    root: Path

    @property
    def data(self) -> Path:
        """The folder holding one sub-folder per channel."""
        return self.root / "input" / "data"

    @property
    def hyperparameters(self) -> Path:
        """The hyperparameters file (string values)."""
        return self.root / "input" / "config" / "hyperparameters.json"

    @property
    def input_data_config(self) -> Path:
        """The channel descriptions (input mode, content type)."""
        return self.root / "input" / "config" / "inputdataconfig.json"

    @property
    def resource_config(self) -> Path:
        """The instances of the job (`current_host`, `hosts`); absent outside SageMaker."""
        return self.root / "input" / "config" / "resourceconfig.json"

    @property
    def model(self) -> Path:
        """The folder SageMaker uploads as model.tar.gz."""
        return self.root / "model"

    @property
    def failure(self) -> Path:
        """The file whose text becomes the job's FailureReason."""
        return self.root / "output" / "failure"


@dataclass(frozen=True)
class JobOptions:
    """The hyperparameters, parsed and checked."""

    treeport: dict[str, Any]
    params: dict[str, Any]
    thresholds: dict[str, float]
    default_thresholds: bool = True


def default_root() -> str:
    """Return the SageMaker root: `$TREEPORT_SAGEMAKER_ROOT`, else /opt/ml."""
    return os.environ.get(ROOT_ENV) or DEFAULT_ROOT


def read_hyperparameters(path: Path) -> dict[str, Any]:
    """Return the hyperparameters file as a dict; a job without the file has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON at line {exc.lineno} ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a JSON object of hyperparameters, got {type(raw).__name__}")
    return raw


def _text(key: str, value: Any) -> str:
    """Return a hyperparameter's value as text, undoing the SDK's JSON quoting of strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        text = str(value).strip()
    else:
        raise UserError(f"hyperparameter {key!r} must be a string, got {type(value).__name__} {value!r}")
    # Framework estimators of the SageMaker Python SDK json.dumps every value: "yes" arrives as "\"yes\"".
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            return text
        if isinstance(decoded, str):
            return decoded.strip()
    return text


def _integer(key: str, text: str, minimum: int) -> int:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number != int(number) or number < minimum:
        raise UserError(f"hyperparameter {key!r} must be a whole number >= {minimum}, got {text!r}")
    return int(number)


def _number(key: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise UserError(f"hyperparameter {key!r} must be a number, got {text!r}")
    return number


def _boolean(key: str, text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("1", "0", "true", "false", "yes", "no"):
        raise UserError(f"hyperparameter {key!r} must be true or false, got {text!r}")
    return lowered in ("1", "true", "yes")


def _choice(key: str, text: str, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise UserError(f"hyperparameter {key!r} must be one of {list(choices)}, got {text!r}")
    return text


def parse_hyperparameters(raw: dict[str, Any]) -> JobOptions:
    """Check and convert SageMaker's string hyperparameters; raise `UserError` naming the key and value."""
    treeport: dict[str, Any] = {}
    params: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    default_thresholds = True
    unknown = []
    for key in sorted(raw):
        if key.startswith(("sagemaker_", "_")):
            continue
        text = _text(key, raw[key])
        name = ALIASES.get(key, key)
        if name != key and name in raw:
            raise UserError(f"hyperparameters {key!r} and {name!r} mean the same thing; set one")
        if key in TEXT_KEYS:
            if not text:
                raise UserError(f"hyperparameter {key!r} must not be empty")
            treeport[key] = text
        elif key == "task":
            treeport[key] = _choice(key, text, TASKS)
        elif key == "data":
            treeport[key] = _choice(key, text, (SYNTHETIC,))
        elif key == "rows":
            treeport[key] = _integer(key, text, minimum=1)
        elif key == "seed":
            treeport[key] = _integer(key, text, minimum=0)
        elif key == "threads":
            treeport[key] = _integer(key, text, minimum=1)
        elif key == "drop_unlabelled":
            treeport[key] = _boolean(key, text)
        elif key == DEFAULT_GATE:
            default_thresholds = _boolean(key, text)
        elif key.startswith(GATE_PREFIX) and len(key) > len(GATE_PREFIX):
            thresholds[key[len(GATE_PREFIX) :]] = _number(key, text)
        elif name in INT_PARAMS:
            params[name] = _integer(key, text, INT_PARAMS[name])
        elif name in FLOAT_PARAMS:
            params[name] = _number(key, text)
        elif name in CHOICE_PARAMS:
            params[name] = _choice(key, text, CHOICE_PARAMS[name])
        else:
            unknown.append(key)
    if unknown:
        known = [*TEXT_KEYS, "task", "data", "rows", "seed", "threads", "drop_unlabelled", f"{GATE_PREFIX}<metric>"]
        known.append(DEFAULT_GATE)
        known += [*INT_PARAMS, *FLOAT_PARAMS, *CHOICE_PARAMS, *ALIASES]
        raise UserError(f"unknown hyperparameter(s) {unknown}; known: {', '.join(known)}")
    return JobOptions(treeport=treeport, params=params, thresholds=thresholds, default_thresholds=default_thresholds)


def check_input_modes(path: Path) -> None:
    """Refuse Pipe-mode channels: Treeport reads whole files (File or FastFile mode)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(config, dict):
        return
    piped = sorted(
        name for name, spec in config.items() if isinstance(spec, dict) and spec.get("TrainingInputMode") == "Pipe"
    )
    if piped:
        raise UserError(f"channel(s) {piped} use Pipe mode; Treeport reads files: use File or FastFile mode")


def channel_files(directory: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Return a channel's files with one of `suffixes`, sorted; other visible files are an error."""
    found: list[Path] = []
    strange: list[Path] = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or any(part.startswith((".", "_")) for part in path.relative_to(directory).parts):
            continue
        (found if path.suffix.lower() in suffixes else strange).append(path)
    if strange:
        names = [str(p.relative_to(directory)) for p in strange[:5]]
        raise DataError(f"channel {directory}: file(s) {names} are not {' or '.join(suffixes)}")
    if not found:
        raise DataError(f"channel {directory} holds no {' or '.join(suffixes)} file")
    return found


def list_channels(paths: SageMakerPaths) -> dict[str, Path]:
    """Return the channels present, by name; an unknown channel is an error."""
    if not paths.data.is_dir():
        return {}
    channels = {p.name: p for p in sorted(paths.data.iterdir()) if p.is_dir()}
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise UserError(
            f"unknown channel(s) {unknown} in {paths.data}: Treeport reads {list(CHANNELS)} "
            f"(it splits train/valid/test from the {TRAIN_CHANNEL!r} channel itself)"
        )
    return channels


def combine_files(files: list[Path], workdir: Path) -> str:
    """Return one data path for the pipeline: the file itself, or the files read as one table into `workdir`."""
    if len(files) == 1:
        return str(files[0])
    import pandas as pd

    from model.data import read_table

    frames = [read_table(str(path)) for path in files]
    columns = list(frames[0].columns)
    for path, frame in zip(files[1:], frames[1:], strict=True):
        if set(frame.columns) != set(columns):
            missing = sorted(set(columns) - set(frame.columns))
            extra = sorted(set(frame.columns) - set(columns))
            raise DataError(
                f"{path}: columns differ from {files[0]} (missing {missing}, extra {extra}); "
                "every file of the train channel must have the same columns"
            )
    combined = pd.concat([frame[columns] for frame in frames], ignore_index=True)
    target = workdir / f"train-channel-{len(files)}-files.parquet"
    combined.to_parquet(target, index=False)
    return str(target)


def build_config(paths: SageMakerPaths, options: JobOptions, workdir: Path) -> Any:
    """Return the `TrainConfig` of the job: data and schema from the channels, the rest from hyperparameters."""
    from model.pipeline import TrainConfig

    channels = list_channels(paths)
    values = dict(options.treeport)
    synthetic = values.pop("data", None) == SYNTHETIC
    data: str | None = None
    if TRAIN_CHANNEL in channels:
        if synthetic:
            raise UserError(f"hyperparameter data=synthetic and a {TRAIN_CHANNEL!r} channel: pick one")
        data = combine_files(channel_files(channels[TRAIN_CHANNEL], DATA_SUFFIXES), workdir)
    elif not synthetic:
        raise UserError(
            f"no {TRAIN_CHANNEL!r} channel: {paths.data / TRAIN_CHANNEL} does not exist "
            f"(give the training job a {TRAIN_CHANNEL!r} channel, or set the hyperparameter data=synthetic)"
        )
    schema_path = None
    if SCHEMA_CHANNEL in channels:
        schemas = channel_files(channels[SCHEMA_CHANNEL], SCHEMA_SUFFIXES)
        if len(schemas) > 1:
            raise UserError(f"channel {channels[SCHEMA_CHANNEL]} holds {len(schemas)} schema files; give it one")
        schema_path = str(schemas[0])
        if "target" in values or "positive_class" in values:
            raise UserError("hyperparameters target/positive_class go without a schema; put them in the schema file")
    return TrainConfig(
        store=paths.model.resolve().as_uri(),
        data=data,
        schema_path=schema_path,
        params=options.params,
        thresholds=options.thresholds,
        default_thresholds=options.default_thresholds,
        **values,
    )


def write_failure(paths: SageMakerPaths, message: str) -> None:
    """Write the failure reason where SageMaker reads it; say so on stderr if that is impossible."""
    try:
        paths.failure.parent.mkdir(parents=True, exist_ok=True)
        paths.failure.write_text(message + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"treeport: cannot write {paths.failure}: {exc.strerror}", file=sys.stderr)


def primary_host(path: Path) -> tuple[str, str] | None:
    """Return (this host, the primary host) from resourceconfig.json, or None where there is no such file.

    The primary is the first host SageMaker lists (`algo-1` in practice). Raise `UserError` for a file that does
    not say both.
    """
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path.name} is not valid JSON") from None
    hosts = config.get("hosts") if isinstance(config, dict) else None
    current = config.get("current_host") if isinstance(config, dict) else None
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise UserError(f"{path.name}: hosts must list the job's instances by name")
    if not isinstance(current, str) or current not in hosts:
        raise UserError(f"{path.name}: current_host {str(current)[:64]} is not among the hosts {hosts[:8]}")
    return current, hosts[0]


def train(paths: SageMakerPaths) -> int:
    """Run the training job; raise on failure."""
    # The serving image has no pandas, pyarrow or scikit-learn: training runs in the train target's image.
    missing = [name for name in TRAINING_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"this image cannot train ({', '.join(missing)} not installed): "
            "use the training image (Dockerfile target train)"
        )
    from model.pipeline import run_training
    from treeport.cli import summary_of_manifest

    hosts = primary_host(paths.resource_config)
    if hosts is not None and hosts[0] != hosts[1]:
        # Treeport trains on one instance (--engine dask is its way to scale out). On a job with several, the
        # primary trains and publishes; the others succeed without writing anything, so the job's model is the
        # primary's and no instance fails the job.
        print(f"treeport: {hosts[0]} is not the primary host {hosts[1]}: only the primary trains; nothing to do")
        return EXIT_OK
    check_input_modes(paths.input_data_config)
    options = parse_hyperparameters(read_hyperparameters(paths.hyperparameters))
    paths.model.mkdir(parents=True, exist_ok=True)
    if not os.access(paths.model, os.W_OK):
        raise UserError(f"{paths.model} is not writable by uid {os.getuid()}: the bundle cannot be saved")
    with tempfile.TemporaryDirectory(prefix="treeport-train-") as workdir:
        config = build_config(paths, options, Path(workdir))
        result = run_training(config)
    for note in result.notes:
        print(f"note: {note}")
    print(f"trained {result.name} version {result.version}")
    print(summary_of_manifest(result.manifest, result.location + " (promoted to LATEST)"))
    # One line per metric, for the training job's metric definitions (Regex: `test:auc=([0-9.eE+-]+)`).
    for metric, value in result.metrics.items():
        print(f"test:{metric}={value:.6f}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run SageMaker's `train` command; return the exit code (0, 1, 2 or 3)."""
    parser = argparse.ArgumentParser(
        prog="train", description="SageMaker training contract: channels and hyperparameters in, bundle out."
    )
    parser.add_argument("--root", default=default_root(), help=f"SageMaker root (default ${ROOT_ENV} or /opt/ml)")
    args = parser.parse_args(argv)
    paths = SageMakerPaths(Path(args.root))
    try:
        code = train(paths)
    except TreeportError as exc:
        message = exc.message
        for detail in exc.details[1:5]:
            where = ", ".join(f"{k} {detail[k]!r}" for k in ("row", "field") if detail.get(k) is not None)
            message += f"\n  {where}: {detail['problem']}"
        print(f"treeport: error: {message}", file=sys.stderr)
        write_failure(paths, message)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001  (a bug: keep the traceback in the log, the summary in the reason)
        traceback.print_exc()
        write_failure(paths, f"internal error: {type(exc).__name__}: {exc}")
        return EXIT_FAILURE
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
