"""Loading tabular data (CSV or Parquet, local path or `s3://`) and the bundled synthetic credit-risk set."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import numpy as np

from model.errors import DataError, UserError
from model.store import parse_s3_uri, s3_client, s3_errors

if TYPE_CHECKING:
    import pandas as pd

PARQUET_MAGIC = b"PAR1"
CREDIT_RISK_TARGET = "loan_status"
DEFAULT_ROWS = 50_000
DEFAULT_SEED = 42

HOME_OWNERSHIP = ("RENT", "MORTGAGE", "OWN", "OTHER")
LOAN_INTENTS = ("EDUCATION", "MEDICAL", "VENTURE", "PERSONAL", "DEBTCONSOLIDATION", "HOMEIMPROVEMENT")
LOAN_GRADES = ("A", "B", "C", "D", "E", "F", "G")

# One applicant of the credit-risk schema, complete and valid: the README's curl example, and the record the
# smoke test, the benchmarks and the tests send. Copy it before changing it.
EXAMPLE_RECORD: dict[str, Any] = {
    "person_age": 30,
    "person_income": 50000,
    "person_home_ownership": "RENT",
    "person_emp_length": 3.0,
    "loan_intent": "EDUCATION",
    "loan_grade": "B",
    "loan_amnt": 8000,
    "loan_int_rate": 11.5,
    "loan_percent_income": 0.16,
    "cb_person_default_on_file": "N",
    "cb_person_cred_hist_length": 4,
}


def read_table(uri: str) -> pd.DataFrame:
    """Read a CSV or Parquet file from a local path or an `s3://bucket/key` URI.

    The format is taken from the extension (`.parquet`/`.pq` or `.csv`), else from the Parquet
    magic bytes. Raises `UserError`/`DataError` naming the file for anything unreadable.
    """
    if uri.startswith("s3://"):
        loc = parse_s3_uri(uri)
        if not loc.key or loc.key.endswith("/"):
            raise UserError(f"malformed S3 URI {uri!r}: expected s3://bucket/key naming one file")
        with s3_errors(uri):
            data = s3_client().get_object(Bucket=loc.bucket, Key=loc.key)["Body"].read()
    else:
        path = local_path(uri)
        if not path.exists():
            raise UserError(f"data file not found: {path}")
        if path.is_dir():
            raise UserError(f"data path is a directory, not a file: {path}")
        data = path.read_bytes()
    return parse_table(data, uri)


def local_path(uri: str) -> Path:
    """Return the path of a plain path or a `file:///abs/path` URI (percent-escapes decoded, as in the store)."""
    if not uri.startswith("file://"):
        return Path(uri)
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost") or parsed.query or parsed.fragment:
        raise UserError(f"malformed file URI {uri!r}: expected file:///absolute/path")
    return Path(unquote(parsed.path))


def parse_table(data: bytes, source: str) -> pd.DataFrame:
    """Parse CSV or Parquet bytes into a DataFrame; `source` names the file in errors."""
    import pandas as pd

    if not data.strip():
        raise DataError(f"{source}: file is empty")
    lower = source.lower()
    is_parquet = lower.endswith((".parquet", ".pq")) or data[:4] == PARQUET_MAGIC
    try:
        if is_parquet:
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            frame = pd.read_csv(io.BytesIO(data), skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: file is empty") from None
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        kind = "Parquet" if is_parquet else "CSV"
        raise DataError(f"{source}: cannot read as {kind}: {_first_line(exc)}") from None
    if frame.empty:
        raise DataError(f"{source}: no data rows (only a header)")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def credit_risk(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Generate the synthetic credit-risk data set (the columns of the public `credit_risk_dataset`).

    Deterministic for a given `rows` and `seed`. Feature marginals follow the public data set's
    (about 22% defaults, 2.7% missing `person_emp_length`, 9.6% missing `loan_int_rate`). The label
    is drawn from a logistic risk function plus noise, so no model can separate it perfectly:

        logit = -5.1 + 0.95*grade + 8.0*loan_percent_income + 0.90*[RENT] + 0.25*[OTHER]
                - 0.50*[OWN] + 0.50*[default on file] - 0.06*min(emp_length, 15)
                - 0.40*log(income / 55,000) + 0.45*[MEDICAL or DEBTCONSOLIDATION] - 0.40*[VENTURE]
                + 0.02*|age - 35| + N(0, 0.3)

    where `grade` is 0 for A to 6 for G. `loan_int_rate` is driven by the grade, so it carries
    signal even though it is not in the formula.
    """
    import pandas as pd

    if rows < 1:
        raise UserError(f"--rows must be at least 1, got {rows}")
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(20 + rng.gamma(2.2, 4.2, rows)), 20, 94).astype(np.int64)
    income = np.clip(np.round(np.exp(rng.normal(np.log(55_000), 0.55, rows)), -2), 4_000, 2_000_000).astype(np.int64)
    home = rng.choice(HOME_OWNERSHIP, rows, p=(0.505, 0.412, 0.079, 0.004))
    emp_length = np.minimum(np.floor(rng.exponential(4.8, rows)), np.maximum(age - 16, 0)).astype(np.float64)
    intent = rng.choice(LOAN_INTENTS, rows, p=(0.198, 0.186, 0.175, 0.17, 0.16, 0.111))
    grade_idx = rng.choice(7, rows, p=(0.33, 0.32, 0.2, 0.11, 0.03, 0.008, 0.002))
    grade = np.asarray(LOAN_GRADES)[grade_idx]
    amount = np.clip(np.round(np.exp(rng.normal(np.log(8_000), 0.65, rows)), -2), 500, 35_000).astype(np.int64)
    int_rate = np.round(np.clip(7.3 + 2.6 * grade_idx + rng.normal(0, 1.2, rows), 5.42, 23.22), 2)
    percent_income = np.round(np.minimum(amount / income, 0.83), 2)
    default_p = np.clip(0.05 + 0.08 * grade_idx, 0, 0.9)
    default_on_file = np.where(rng.random(rows) < default_p, "Y", "N")
    cred_hist = np.clip(np.round((age - 18) * rng.uniform(0.25, 0.55, rows) + rng.normal(0, 1.0, rows)), 2, 30)

    logit = (
        -5.1
        + 0.95 * grade_idx
        + 8.0 * percent_income
        + 0.90 * (home == "RENT")
        + 0.25 * (home == "OTHER")
        - 0.50 * (home == "OWN")
        + 0.50 * (default_on_file == "Y")
        - 0.06 * np.minimum(emp_length, 15)
        - 0.40 * np.log(income / 55_000)
        + 0.45 * np.isin(intent, ("MEDICAL", "DEBTCONSOLIDATION"))
        - 0.40 * (intent == "VENTURE")
        + 0.02 * np.abs(age - 35)
        + rng.normal(0, 0.3, rows)
    )
    status = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    emp_length[rng.random(rows) < 0.0275] = np.nan
    int_rate[rng.random(rows) < 0.0956] = np.nan
    return pd.DataFrame(
        {
            "person_age": age,
            "person_income": income,
            "person_home_ownership": home,
            "person_emp_length": emp_length,
            "loan_intent": intent,
            "loan_grade": grade,
            "loan_amnt": amount,
            "loan_int_rate": int_rate,
            "loan_percent_income": percent_income,
            "cb_person_default_on_file": default_on_file,
            "cb_person_cred_hist_length": cred_hist.astype(np.int64),
            CREDIT_RISK_TARGET: status,
        }
    )
