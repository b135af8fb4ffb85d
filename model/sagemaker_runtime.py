"""SageMaker Runtime's InvokeEndpoint, the one call the `sagemaker` backend makes, in two clients.

- `DirectRuntime`: AWS Signature Version 4 over `http.client`, with credentials, region and endpoint
  taken from the environment. This is what a Lambda function has (its runtime sets AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION), and it is why this module exists: importing
  botocore and building its client takes about 0.3 s on these machines (`bench/cold_start.py`'s `init`
  phase), more than half of the backend's 0.5 s cold-start budget; this client takes about a millisecond.
  The signature is checked in the tests against botocore's own `SigV4Auth` for the same request.
- `BotocoreRuntime`: botocore's `sagemaker-runtime` client, for everything else: credentials from a
  profile, SSO, an instance or container role, web identity (IRSA on EKS); FIPS or dual-stack
  endpoints; regions outside the aws, aws-cn and aws-us-gov partitions.

`runtime_client()` picks the first when the environment holds everything it needs, else the second.
Both make one attempt (a retry after a timeout would double the wait `timeout_s` promises) and raise
`UpstreamError` (502) or `UpstreamTimeout` (504), never anything a caller would turn into a 500. The direct
client sends a request again only where it provably did not go out: a kept-alive connection the far end had
already closed is replaced before sending, and a send that failed part-way is repeated once on a fresh one; once
a request has gone out in full, a lost connection is an `UpstreamError`, since the endpoint may have run the model.

Credentials: the environment's keys as they are (a Lambda function's last as long as its environment), or
the container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` / `_RELATIVE_URI`, as Lambda SnapStart,
ECS and EKS Pod Identity provide), fetched when first needed and again `REFRESH_BEFORE_SECONDS` before they expire.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import threading
import time
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

from model.errors import TreeportError

SERVICE = "sagemaker"  # the signing name of SageMaker Runtime
ALGORITHM = "AWS4-HMAC-SHA256"
# Regions of the partitions whose endpoint is runtime.sagemaker.<region>.<suffix>; others go through botocore.
_REGION = re.compile(r"^(?:(?P<cn>cn)|[a-z]{2})(?:-gov)?-[a-z]+-\d+$")
_TRUE = ("true", "1", "yes")


class UpstreamError(TreeportError):
    """The SageMaker endpoint failed or answered something unusable: 502."""

    code = "upstream_error"
    status = 502


class UpstreamTimeout(TreeportError):
    """The SageMaker endpoint did not answer in time: 504."""

    code = "upstream_timeout"
    status = 504


class Runtime(Protocol):
    def invoke(self, endpoint: str, body: bytes) -> bytes:
        """Send `body` (CSV) to the endpoint; return its answer (JSON bytes), or raise an upstream error."""
        ...


def runtime_client(timeout_s: float, environ: dict[str, str] | None = None) -> Runtime:
    """Return `DirectRuntime` when the environment holds credentials and a region it can use, else `BotocoreRuntime`."""
    direct = DirectRuntime.from_environ(timeout_s, os.environ if environ is None else environ)
    return direct if direct is not None else BotocoreRuntime(timeout_s)


def sigv4_headers(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    region: str,
    service: str,
    access_key: str,
    secret_key: str,
    session_token: str | None = None,
    now: time.struct_time | None = None,
) -> dict[str, str]:
    """Return `headers` plus Host, X-Amz-Date, X-Amz-Security-Token and Authorization, signed with SigV4.

    Every header given is signed, as botocore does for a request without a query string. The path is
    used as given: it must already be in canonical form (no `.`/`..` segments, no characters that need quoting).
    """
    parts = urlsplit(url)
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", now or time.gmtime())
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed["host"] = _host(parts.scheme, parts.hostname or "", parts.port)
    signed["x-amz-date"] = amz_date
    if session_token:
        signed["x-amz-security-token"] = session_token
    names = sorted(signed)
    signed_headers = ";".join(names)
    canonical = "\n".join(
        (
            method,
            parts.path or "/",
            "",
            "".join(f"{name}:{signed[name]}\n" for name in names),
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + secret_key).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = dict(headers)
    out["Host"] = signed["host"]
    out["X-Amz-Date"] = amz_date
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    out["Authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
    return out


def _host(scheme: str, hostname: str, port: int | None) -> str:
    """Return the Host header value: the port only when it is not the scheme's default; IPv6 in brackets."""
    if ":" in hostname:
        hostname = f"[{hostname}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return hostname
    return f"{hostname}:{port}"


# botocore refreshes 15 minutes before expiry (advisory) and insists 10 minutes before (mandatory); the same here.
REFRESH_BEFORE_SECONDS = 15 * 60
MANDATORY_BEFORE_SECONDS = 10 * 60
_ECS_HOST = "http://169.254.170.2"
# The hosts botocore allows for a container credentials endpoint over plain HTTP.
_LOOPBACK_OR_LINK_LOCAL = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|::1|169\.254\.170\.(2|23)|fd00:ec2::23)$")


class Credentials(NamedTuple):
    """Access key, secret key, session token and expiry (epoch seconds; None: does not expire)."""

    access_key: str
    secret_key: str
    token: str | None = None
    expires_at: float | None = None


class StaticCredentials:
    """Credentials given once (the environment's): never refreshed."""

    def __init__(self, access_key: str, secret_key: str, token: str | None = None) -> None:
        self._credentials = Credentials(access_key, secret_key, token or None)

    def get(self) -> Credentials:
        """Return the credentials."""
        return self._credentials


class ContainerCredentials:
    """Credentials from the container credentials endpoint, refreshed before they expire (thread-safe)."""

    def __init__(
        self,
        url: str,
        authorization: str | None = None,
        authorization_file: str | None = None,
        clock: Any = time.time,
        timeout_s: float = 2.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) credentials URL: {url!r}")
        if parts.scheme == "http" and not _LOOPBACK_OR_LINK_LOCAL.match(parts.hostname):
            raise ValueError(f"credentials over plain HTTP only from a loopback or link-local host, not {url!r}")
        self.url = url
        self._parts = parts
        self._authorization = authorization
        self._authorization_file = authorization_file
        self._clock = clock
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._current: Credentials | None = None

    def get(self) -> Credentials:
        """Return credentials valid for a while yet, fetching new ones when these are about to expire."""
        with self._lock:
            current = self._current
            now = self._clock()
            if current is not None and (
                current.expires_at is None or current.expires_at - now > REFRESH_BEFORE_SECONDS
            ):
                return current
            try:
                self._current = self._fetch()
            except UpstreamError:
                # Inside the advisory window the old ones still serve; inside the mandatory one they do not.
                if current is not None and (current.expires_at or 0) - now > MANDATORY_BEFORE_SECONDS:
                    return current
                raise
            return self._current

    def _fetch(self) -> Credentials:
        headers = {"Accept": "application/json"}
        token = self._authorization
        if self._authorization_file:
            try:
                with open(self._authorization_file, encoding="utf-8") as fh:
                    token = fh.read().strip()
            except OSError as exc:
                raise UpstreamError(
                    f"SageMaker credentials unavailable: cannot read the token file ({exc.strerror})"
                ) from None
        if token:
            headers["Authorization"] = token
        parts = self._parts
        conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(parts.hostname or "", parts.port, timeout=self._timeout_s)
        try:
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise UpstreamError(f"SageMaker credentials unavailable ({type(exc).__name__})") from None
        finally:
            conn.close()
        if response.status != 200:
            raise UpstreamError(f"SageMaker credentials unavailable (credentials endpoint answered {response.status})")
        try:
            body = json.loads(payload)
            expires = body.get("Expiration")
            expires_at = calendar.timegm(time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ")) if expires else None
            return Credentials(body["AccessKeyId"], body["SecretAccessKey"], body.get("Token") or None, expires_at)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UpstreamError(
                "SageMaker credentials unavailable (the credentials endpoint answered no credentials)"
            ) from None


class DirectRuntime:
    """InvokeEndpoint signed here and sent over one kept-alive connection per thread."""

    def __init__(
        self,
        base_url: str,
        region: str,
        access_key: str = "",
        secret_key: str = "",
        session_token: str | None = None,
        timeout_s: float = 10.0,
        credentials: StaticCredentials | ContainerCredentials | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme, self._hostname, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self.region = region
        self.credentials = credentials or StaticCredentials(access_key, secret_key, session_token)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._tls: Any = None

    @classmethod
    def from_environ(cls, timeout_s: float, environ: Any, clock: Any = time.time) -> DirectRuntime | None:
        """Return a client built from the environment, or None where botocore must decide instead.

        `clock` (epoch seconds) decides when container credentials are due for a refresh.
        """
        access_key = environ.get("AWS_ACCESS_KEY_ID")
        secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
        region = environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION")
        if not region:
            return None
        credentials: StaticCredentials | ContainerCredentials
        if access_key and secret_key:
            token = environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN")
            credentials = StaticCredentials(access_key, secret_key, token)
        else:
            full = environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            relative = environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            if not full and not relative:
                return None
            try:
                credentials = ContainerCredentials(
                    f"{_ECS_HOST}{relative}" if relative else full,
                    authorization=environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
                    authorization_file=environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                    clock=clock,
                )
            except ValueError:
                return None
        # A named profile takes precedence over environment credentials in botocore; so do these settings.
        if environ.get("AWS_PROFILE") or any(
            environ.get(v, "").lower() in _TRUE for v in ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT")
        ):
            return None
        url = None
        if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() not in _TRUE:
            url = environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME") or environ.get("AWS_ENDPOINT_URL")
        if not url:
            match = _REGION.match(region)
            if match is None:
                return None
            suffix = "amazonaws.com.cn" if match.group("cn") else "amazonaws.com"
            url = f"https://runtime.sagemaker.{region}.{suffix}"
        try:
            return cls(url, region, timeout_s=timeout_s, credentials=credentials)
        except ValueError:
            return None

    def invoke(self, endpoint: str, body: bytes) -> bytes:
        operation = f"/endpoints/{endpoint}/invocations"
        access_key, secret_key, token, _ = self.credentials.get()
        headers = sigv4_headers(
            "POST",
            self.base_url + operation,
            {"Content-Type": "text/csv", "Accept": "application/json"},
            body,
            region=self.region,
            service=SERVICE,
            access_key=access_key,
            secret_key=secret_key,
            session_token=token,
        )
        headers["User-Agent"] = "treeport"
        status, error_type, payload = self._send(endpoint, self._prefix + operation, headers, body)
        if status == 200:
            return payload
        code = error_type.split(":", 1)[0] or _error_code(payload) or f"HTTP {status}"
        raise UpstreamError(f"SageMaker endpoint {endpoint!r} failed ({code})")

    def _send(self, endpoint: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        """POST once; again on a fresh connection only where the request provably did not go out in full."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is not None and _closed_by_peer(conn):
                # Closed by the far end while idle (or while Lambda froze this environment): replace it first.
                self._drop()
                conn = None
            if conn is None:
                conn = self._local.conn = self._connect(endpoint)
            try:
                conn.request("POST", path, body=body, headers=headers)
            except TimeoutError:
                self._drop()
                raise UpstreamTimeout(f"SageMaker endpoint {endpoint!r} did not take the request in time") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                # The request did not leave in full, so the endpoint cannot have acted on it: one more try.
                if attempt == 1:
                    continue
                raise UpstreamError(f"SageMaker endpoint {endpoint!r} unreachable ({type(exc).__name__})") from None
            try:
                response = conn.getresponse()
                payload = response.read()
            except TimeoutError:
                self._drop()
                raise UpstreamTimeout(f"SageMaker endpoint {endpoint!r} did not answer in time") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                # Sent in full: the endpoint may have run the model, so this is not sent again.
                raise UpstreamError(
                    f"SageMaker endpoint {endpoint!r} unreachable after the request was sent ({type(exc).__name__})"
                ) from None
            if response.will_close:
                self._drop()
            return response.status, response.getheader("x-amzn-ErrorType", ""), payload
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self, endpoint: str) -> http.client.HTTPConnection:
        """Open a connection: the connect timeout is at most 5 s, then reads wait up to `timeout_s`."""
        connect_timeout = min(self.timeout_s, 5.0)
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            if self._tls is None:  # loading the CA certificates takes milliseconds: once per client
                import ssl

                self._tls = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
            conn = http.client.HTTPSConnection(self._hostname, self._port, timeout=connect_timeout, context=self._tls)
        else:
            conn = http.client.HTTPConnection(self._hostname, self._port, timeout=connect_timeout)
        try:
            conn.connect()
        except TimeoutError:
            raise UpstreamTimeout(f"SageMaker endpoint {endpoint!r} did not accept a connection in time") from None
        except OSError as exc:
            raise UpstreamError(f"SageMaker endpoint {endpoint!r} unreachable ({type(exc).__name__})") from None
        assert conn.sock is not None
        conn.sock.settimeout(self.timeout_s)
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next call opens another)."""
        self._drop()

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """Return whether an idle kept-alive connection is readable: the far end closed it (or sent what it should not)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _error_code(payload: bytes) -> str:
    """Return the error code a restJson1 error body names (`__type` or `code`), or ""."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(body, dict):
        return ""
    code = body.get("__type") or body.get("code") or body.get("Code") or ""
    return str(code).rsplit("#", 1)[-1].split(":", 1)[0]


class BotocoreRuntime:
    """botocore's `sagemaker-runtime` client (without boto3, which would add s3transfer's import time)."""

    def __init__(self, timeout_s: float) -> None:
        from botocore.config import Config
        from botocore.session import get_session

        config = Config(
            read_timeout=timeout_s,
            connect_timeout=min(timeout_s, 5),
            retries={"mode": "standard", "total_max_attempts": 1},
        )
        self._client = get_session().create_client("sagemaker-runtime", config=config)

    def invoke(self, endpoint: str, body: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

        try:
            response = self._client.invoke_endpoint(
                EndpointName=endpoint, ContentType="text/csv", Accept="application/json", Body=body
            )
            payload: bytes = response["Body"].read()
        except (ReadTimeoutError, ConnectTimeoutError):
            raise UpstreamTimeout(f"SageMaker endpoint {endpoint!r} did not answer in time") from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise UpstreamError(f"SageMaker endpoint {endpoint!r} failed ({code})") from None
        except BotoCoreError as exc:
            raise UpstreamError(f"SageMaker endpoint {endpoint!r} unreachable ({type(exc).__name__})") from None
        return payload
