"""The SageMaker Runtime clients: SigV4 signing checked against AWS's test suite and botocore, the choice of client,
and the direct client's connection handling against a server on 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from model.sagemaker_runtime import (
    BotocoreRuntime,
    DirectRuntime,
    UpstreamError,
    UpstreamTimeout,
    runtime_client,
    sigv4_headers,
)
from tests.lambda_.conftest import botocore_authorization, signature_checks_out
from tests.servers import free_port

# AWS's Signature Version 4 test suite (as botocore ships it: tests/unit/auth/aws4_testsuite/post-vanilla):
# POST / to example.amazonaws.com, empty body, no other header, service "service" in us-east-1.
SUITE_KEY = "AKIDEXAMPLE"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_DATE = "20150830T123600Z"
POST_VANILLA = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
)


def test_post_vanilla_from_aws_test_suite() -> None:
    signed = sigv4_headers(
        "POST",
        "https://example.amazonaws.com/",
        {},
        b"",
        region="us-east-1",
        service="service",
        access_key=SUITE_KEY,
        secret_key=SUITE_SECRET,
        now=time.strptime(SUITE_DATE, "%Y%m%dT%H%M%SZ"),
    )
    assert signed["Authorization"] == POST_VANILLA
    assert signed["X-Amz-Date"] == SUITE_DATE
    assert signed["Host"] == "example.amazonaws.com"


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEXAMPLE//token=="])
@pytest.mark.parametrize(
    "url",
    [
        "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/credit-risk/invocations",
        "http://127.0.0.1:4566/endpoints/credit-risk/invocations",
        "https://proxy.example:8443/sagemaker/endpoints/a-b-9/invocations",
        "http://[::1]:8080/endpoints/credit-risk/invocations",
    ],
)
def test_signature_matches_botocore(url: str, token: str | None) -> None:
    body = b"1.5,,0.25,1.0,0.0\n30,,1,0,1\n"
    headers = {"Content-Type": "text/csv", "Accept": "application/json"}
    signed = sigv4_headers(
        "POST",
        url,
        headers,
        body,
        region="eu-west-1",
        service="sagemaker",
        access_key="AKIDTEST",
        secret_key="secret/test+key",
        session_token=token,
    )
    expected = botocore_authorization(
        url,
        headers,
        body,
        signed["X-Amz-Date"],
        key="AKIDTEST",
        secret="secret/test+key",
        token=token,
        region="eu-west-1",
    )
    assert signed["Authorization"] == expected
    assert ("X-Amz-Security-Token" in signed) == (token is not None)


ENV = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "eu-west-1"}


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        (ENV, "https://runtime.sagemaker.eu-west-1.amazonaws.com"),
        ({**ENV, "AWS_DEFAULT_REGION": "us-east-2"}, "https://runtime.sagemaker.us-east-2.amazonaws.com"),
        ({**ENV, "AWS_REGION": "cn-north-1"}, "https://runtime.sagemaker.cn-north-1.amazonaws.com.cn"),
        ({**ENV, "AWS_REGION": "us-gov-west-1"}, "https://runtime.sagemaker.us-gov-west-1.amazonaws.com"),
        ({**ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, "http://127.0.0.1:5000"),
        (
            {**ENV, "AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://b:2/"},
            "http://b:2",
        ),
        (
            {**ENV, "AWS_ENDPOINT_URL": "http://a:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
            "https://runtime.sagemaker.eu-west-1.amazonaws.com",
        ),
    ],
)
def test_direct_client_from_the_environment(environ: dict[str, str], url: str) -> None:
    client = runtime_client(5.0, environ)
    assert isinstance(client, DirectRuntime)
    assert client.base_url == url


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"AWS_ACCESS_KEY_ID": ""}, "no credentials in the environment (a role, a profile, IRSA)"),
        ({"AWS_SECRET_ACCESS_KEY": ""}, "half the credentials"),
        ({"AWS_REGION": ""}, "no region in the environment (it may be in a config file)"),
        ({"AWS_PROFILE": "prod"}, "a named profile wins over environment credentials in botocore"),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, "FIPS endpoints"),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "dual-stack endpoints"),
        ({"AWS_REGION": "us-iso-east-1"}, "a partition with another DNS suffix"),
        ({"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "ftp://example"}, "an endpoint URL this client cannot speak"),
    ],
)
def test_botocore_client_otherwise(change: dict[str, str], why: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # for botocore's own client
    environ = {k: v for k, v in {**ENV, **change}.items() if v}
    assert isinstance(runtime_client(5.0, environ), BotocoreRuntime), why


# ---- the direct client over real HTTP ---------------------------------------------------------------------


@dataclass
class Server:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 that answers each POST with the next queued answer."""

    url: str = ""
    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    connections: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    close_after_answer: bool = False
    hang_up_unanswered: int = 0  # read the next requests in full, then close without answering


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            state.connections += 1
            super().setup()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if state.hang_up_unanswered:
                state.hang_up_unanswered -= 1
                self.close_connection = True
                return
            status, headers, payload = state.answers.pop(0) if state.answers else (200, {}, b"{}")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            if state.close_after_answer:
                # Close without saying so (no `Connection: close`), as an idle keep-alive connection is closed.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def direct() -> Iterator[Callable[..., DirectRuntime]]:
    """Return `make(url, timeout_s=5.0)`: direct clients, their connections closed after the test."""
    made: list[DirectRuntime] = []

    def make(url: str, timeout_s: float = 5.0) -> DirectRuntime:
        made.append(DirectRuntime(url, "eu-west-1", "AKIDTEST", "secret/test+key", "token", timeout_s))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_signed_request_as_received(server: Server, direct: Callable[..., DirectRuntime]) -> None:
    """What arrives is InvokeEndpoint as botocore would sign it: the signature checks out on the received bytes."""
    client = direct(server.url + "/prefix")
    assert client.invoke("credit-risk", b"1,2,3\n") == b"{}"
    [(path, headers, body)] = server.requests
    assert path == "/prefix/endpoints/credit-risk/invocations"
    assert body == b"1,2,3\n"
    assert headers["x-amz-security-token"] == "token"
    assert signature_checks_out(server.url + path, headers, body, secret="secret/test+key")
    assert set(headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")) == {
        "accept",
        "content-type",
        "host",
        "x-amz-date",
        "x-amz-security-token",
    }


def test_the_signature_check_can_fail(server: Server, direct: Callable[..., DirectRuntime]) -> None:
    """`signature_checks_out` refuses a request changed after signing, or checked with another secret."""
    direct(server.url).invoke("credit-risk", b"1,2,3\n")
    [(path, headers, body)] = server.requests
    assert signature_checks_out(server.url + path, headers, body, secret="secret/test+key")
    assert not signature_checks_out(server.url + path, headers, b"1,2,4\n", secret="secret/test+key")
    assert not signature_checks_out(server.url + path, headers, body, secret="another secret")
    assert not signature_checks_out(
        server.url + path, {**headers, "accept": "text/csv"}, body, secret="secret/test+key"
    )


def test_one_connection_kept_alive(server: Server, direct: Callable[..., DirectRuntime]) -> None:
    client = direct(server.url)
    for _ in range(3):
        assert client.invoke("e", b"1\n") == b"{}"
    assert server.connections == 1


def test_a_connection_closed_while_idle_is_replaced(server: Server, direct: Callable[..., DirectRuntime]) -> None:
    """The far end closed the kept-alive connection after answering: the next call sends once more, on a new one."""
    client = direct(server.url)
    server.close_after_answer = True
    assert client.invoke("e", b"1\n") == b"{}"
    time.sleep(0.05)  # let the server close its end
    assert client.invoke("e", b"2\n") == b"{}"
    assert [r[2] for r in server.requests] == [b"1\n", b"2\n"]
    assert server.connections == 2


def test_a_request_the_endpoint_received_is_not_sent_again(
    server: Server, direct: Callable[..., DirectRuntime]
) -> None:
    """The endpoint read the request, then the connection dropped: it may have run the model, so no resend."""
    client = direct(server.url)
    assert client.invoke("e", b"1\n") == b"{}"  # the connection is now kept alive
    server.hang_up_unanswered = 1
    with pytest.raises(UpstreamError, match="unreachable"):
        client.invoke("e", b"2\n")
    assert [r[2] for r in server.requests] == [b"1\n", b"2\n"]
    assert client.invoke("e", b"3\n") == b"{}"  # and the next call opens a fresh connection


@pytest.mark.parametrize(
    ("status", "headers", "body", "code"),
    [
        (
            424,
            {"x-amzn-ErrorType": "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"},
            b"{}",
            "ModelError",
        ),
        (400, {}, json.dumps({"__type": "com.amazon.sagemaker#ValidationError"}).encode(), "ValidationError"),
        (429, {}, json.dumps({"code": "ThrottlingException"}).encode(), "ThrottlingException"),
        (502, {}, b"<html>bad gateway</html>", "HTTP 502"),
    ],
)
def test_errors_name_their_code(
    server: Server, direct: Callable[..., DirectRuntime], status: int, headers: dict[str, str], body: bytes, code: str
) -> None:
    server.answers.append((status, headers, body))
    with pytest.raises(UpstreamError, match=f"failed \\({code}\\)"):
        direct(server.url).invoke("e", b"1\n")


def test_nothing_listening_is_upstream_error(direct: Callable[..., DirectRuntime]) -> None:
    with pytest.raises(UpstreamError, match="unreachable"):
        direct(f"http://127.0.0.1:{free_port()}").invoke("e", b"1\n")


def test_silence_is_upstream_timeout(direct: Callable[..., DirectRuntime]) -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        client = direct(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            client.invoke("e", b"1\n")
        assert time.monotonic() - started < 1.4  # one attempt


# ---- TLS: the endpoint's certificate is verified ------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a certificate for `localhost` from a test CA; yield its URL and CA file."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{httpd.server_address[1]}", ca_file
    httpd.shutdown()
    httpd.server_close()


def test_https_with_the_ca_bundle(
    tls_server: tuple[str, Path], direct: Callable[..., DirectRuntime], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ca_file = tls_server
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca_file))
    client = direct(url)
    assert client.invoke("e", b"1\n") == b"{}"
    assert client.invoke("e", b"2\n") == b"{}"  # the kept-alive TLS connection, or a fresh one with the same context


def test_https_refuses_an_unknown_certificate(
    tls_server: tuple[str, Path], direct: Callable[..., DirectRuntime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the test CA in AWS_CA_BUNDLE the system's CAs decide, and they do not know it: no request is sent."""
    url, _ = tls_server
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    with pytest.raises(UpstreamError, match=r"unreachable \(SSLCertVerificationError\)"):
        direct(url).invoke("e", b"1\n")


# ---- credentials that expire: the container credentials endpoint (Lambda SnapStart, ECS, EKS Pod Identity) -----


@dataclass
class CredentialsServer:
    """The container credentials endpoint on 127.0.0.1: answers the next queued credentials, checks the token."""

    url: str = ""
    issued: list[dict[str, str]] = field(default_factory=list)
    fetches: int = 0
    failing: bool = False


@pytest.fixture
def credentials_server() -> Iterator[CredentialsServer]:
    state = CredentialsServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            if state.failing or self.headers.get("Authorization") != "pod-token":
                self.send_response(500 if state.failing else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            payload = json.dumps(state.issued[min(state.fetches, len(state.issued)) - 1]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/credentials"
    yield state
    httpd.shutdown()
    httpd.server_close()


def issued(key: str, expires_at: float) -> dict[str, str]:
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
    return {"AccessKeyId": key, "SecretAccessKey": f"secret-{key}", "Token": f"token-{key}", "Expiration": expiration}


def test_credentials_are_refreshed_before_they_expire(server: Server, credentials_server: CredentialsServer) -> None:
    now = [1_800_000_000.0]
    credentials_server.issued = [issued("AKIDFIRST", now[0] + 3600), issued("AKIDSECOND", now[0] + 7200)]
    environ = {
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": server.url,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": credentials_server.url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "pod-token",
    }
    client = DirectRuntime.from_environ(5.0, environ, clock=lambda: now[0])
    assert client is not None
    try:
        client.invoke("e", b"1\n")
        now[0] += 1800  # half an hour on: the first credentials still have 30 minutes
        client.invoke("e", b"2\n")
        now[0] += 1500  # five minutes before they expire: refreshed before this request is signed
        client.invoke("e", b"3\n")
    finally:
        client.close()
    keys = [h["authorization"].split("Credential=")[1].split("/")[0] for _, h, _ in server.requests]
    assert keys == ["AKIDFIRST", "AKIDFIRST", "AKIDSECOND"]
    assert [h["x-amz-security-token"] for _, h, _ in server.requests][-1] == "token-AKIDSECOND"
    assert credentials_server.fetches == 2
    path, headers, body = server.requests[-1]
    assert signature_checks_out(server.url + path, headers, body, secret="secret-AKIDSECOND")


def test_expired_credentials_that_cannot_be_refreshed_are_upstream_error(
    server: Server, credentials_server: CredentialsServer
) -> None:
    now = [1_800_000_000.0]
    credentials_server.issued = [issued("AKIDFIRST", now[0] + 3600)]
    environ = {
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": server.url,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": credentials_server.url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "pod-token",
    }
    client = DirectRuntime.from_environ(5.0, environ, clock=lambda: now[0])
    assert client is not None
    try:
        client.invoke("e", b"1\n")
        credentials_server.failing = True
        now[0] += 2900  # under 12 minutes left: the refresh fails, the old credentials still serve
        client.invoke("e", b"2\n")
        now[0] += 800  # expired, and still no new ones
        with pytest.raises(UpstreamError, match="credentials"):
            client.invoke("e", b"3\n")
    finally:
        client.close()
    assert [r[2] for r in server.requests] == [b"1\n", b"2\n"]


def test_a_credentials_endpoint_off_loopback_over_http_goes_to_botocore() -> None:
    environ = {"AWS_REGION": "eu-west-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/creds"}
    assert DirectRuntime.from_environ(5.0, environ) is None
