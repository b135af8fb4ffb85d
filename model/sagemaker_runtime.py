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
`UpstreamError` (502) or `UpstreamTimeout` (504), never anything a caller would turn into a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import threading
import time
from typing import Any, Protocol
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


class DirectRuntime:
    """InvokeEndpoint signed here and sent over one kept-alive connection per thread."""

    def __init__(
        self,
        base_url: str,
        region: str,
        access_key: str,
        secret_key: str,
        session_token: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme, self._hostname, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self.region = region
        self._credentials = (access_key, secret_key, session_token or None)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._tls: Any = None

    @classmethod
    def from_environ(cls, timeout_s: float, environ: Any) -> DirectRuntime | None:
        """Return a client built from the environment, or None where botocore must decide instead."""
        access_key = environ.get("AWS_ACCESS_KEY_ID")
        secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
        region = environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION")
        if not access_key or not secret_key or not region:
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
        token = environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN")
        try:
            return cls(url, region, access_key, secret_key, token, timeout_s)
        except ValueError:
            return None

    def invoke(self, endpoint: str, body: bytes) -> bytes:
        operation = f"/endpoints/{endpoint}/invocations"
        access_key, secret_key, token = self._credentials
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
        """POST once; on a kept-alive connection the server had closed, once more on a fresh one."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = self._connect(endpoint)
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except TimeoutError:
                self._drop()
                raise UpstreamTimeout(f"SageMaker endpoint {endpoint!r} did not answer in time") from None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop()
                # A kept-alive connection may have been closed by the far end while idle (or while Lambda
                # froze this environment between invocations): that request never reached the model.
                if reused and attempt == 1:
                    continue
                raise UpstreamError(f"SageMaker endpoint {endpoint!r} unreachable ({type(exc).__name__})") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise UpstreamError(f"SageMaker endpoint {endpoint!r} unreachable ({type(exc).__name__})") from None
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
