"""S3Result, GCSResult and AzureResult under network faults: a fault-injecting proxy (tests/fault_proxy.py) sits
between a Result and its emulator (moto_server, gcp-storage-emulator, Azurite) and breaks the payload's upload or
download: a connection reset mid-upload or mid-download, a 503, a stalled response, a truncated body. Once (the
SDK's retry may absorb it) or on every attempt (the retries run out).

The invariants, for every store and fault:

* a write commits whole, or raises a ``ResultWriteError``, and the location still reads (verified) the previous
  value v1, or the new value v2 where the upstream applied the upload and only its response was lost;
* a read returns exactly the stored value or raises a ``ResultError`` subclass: never another exception type,
  never wrong or partial data;
* retries are bounded (small timeouts and retry budgets below; each case must end within ``_BOUND`` seconds);
* nothing else stays behind: the prefix holds just the payload and its sidecar (no lease, no stray object) and,
  on S3, no multipart upload is left open.

The faulty Results use connections of their own that point at the proxy (``aws_faults``, ``wasb_faults``,
``google_cloud_faults``); v1 is written, and everything is checked, through the default connections, which talk to
the emulators directly. These cases found four bugs, now fixed: S3 network errors (``response=None``) raised
``AttributeError``; S3, GCS and Azure streams raised SDK exceptions mid-body (now the store's ``ResultError``, and a
broken-off read is read again up to three times).

What the emulators do differently from the services (accepted by the checks, not skipped):

* gcp-storage-emulator forgets a resumable session once it is finalized, so the retry of a final chunk whose
  response was lost is answered 404 (GCS answers with the object) and GCSResult raises ``ResultWriteError``
  although v2 landed; a re-sent non-final chunk is answered 400 (GCS answers 308 with the persisted range);
* gcp-storage-emulator gives an object's ``mediaLink`` as it was written (the proxy rewrites it to itself);
* moto enforces S3's 5 MiB minimum part, so the large S3 value is two parts of a 5 MiB ``part_size``.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_results_provider.exceptions import ResultError, ResultWriteError
from airflow_results_provider.serializers import JSONSerializer, PickleSerializer
from tests import local_servers
from tests.fault_proxy import FaultProxy, Request

pytestmark = pytest.mark.airflow
BUCKET = "results-test"
#: The client's read timeout under the proxy (seconds), and how long a stalled response stalls (longer).
_READ_TIMEOUT = 0.75
_STALL = 1.5
#: Seconds any one faulty write or read may take, retries included.
_BOUND = 15.0
#: Large values: more than one S3 part (moto enforces S3's 5 MiB minimum part), GCS chunk and Azure block.
_S3_PART = 5 * 1024 * 1024
_LARGE = {"s3": _S3_PART + 300_000, "gcs": 700_000, "azure": 300_000}
_SMALL = 2_000

Matcher = Callable[[Request], bool]


class WrongErrorType(AssertionError):
    """A failed write or read raised something other than the documented ``ResultError`` subclasses."""


# ------------------------------------------------------------------------------------------- the proxy itself


class _Echo(http.server.BaseHTTPRequestHandler):
    """An upstream that answers every request with what it received (JSON, padded to 4 KB)."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        seen = {
            "method": self.command,
            "path": self.path,
            "body": self.rfile.read(length).decode(),
            "content_length": self.headers.get("Content-Length"),
            "chunked": self.headers.get("Transfer-Encoding"),
            "expect": self.headers.get("Expect"),
        }
        self.server.seen.append(seen)
        body = json.dumps({**seen, "pad": "p" * 4000}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_proxy() -> Iterator[tuple[FaultProxy, list[dict]]]:
    server = http.server.ThreadingHTTPServer((local_servers.HOST, 0), _Echo)
    server.seen = []
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with FaultProxy(f"http://{local_servers.HOST}:{server.server_address[1]}", flavor="s3") as proxy:
            yield proxy, server.seen
    finally:
        server.shutdown()
        server.server_close()


def _recv_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One response's head and (Content-Length) body from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))[15:]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_the_proxy_relays_chunked_bodies_100_continue_and_keep_alive(echo_proxy):
    proxy, seen = echo_proxy
    with socket.create_connection((local_servers.HOST, proxy.port), timeout=5) as sock:
        sock.sendall(
            b"PUT /b/k?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
        head, body = _recv_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and b"Connection: keep-alive" in head
        assert json.loads(body)["body"] == "hello world"
        sock.sendall(b"GET /b/k HTTP/1.1\r\nHost: h\r\n\r\n")  # the same connection
        head, body = _recv_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["method"] == "GET"
    # Forwarded de-chunked, with a Content-Length, and without the Expect the proxy already answered.
    assert seen[0]["content_length"] == "11" and seen[0]["chunked"] is None and seen[0]["expect"] is None
    assert proxy.injected == {}


def test_the_proxy_injects_each_fault_once_and_counts_it(echo_proxy):
    proxy, seen = echo_proxy

    def request(method: str, path: str, body: bytes | None = None, timeout: float = 5) -> bytes:
        conn = http.client.HTTPConnection(local_servers.HOST, proxy.port, timeout=timeout)
        try:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            return f"{response.status} ".encode() + response.read()
        finally:
            conn.close()

    proxy.arm("status_503", method="GET", match="/slow")
    answer = request("GET", "/slow")
    assert answer.startswith(b"503 ") and b"<Code>SlowDown</Code>" in answer
    assert request("GET", "/slow").startswith(b"200 ")  # armed once: the next one goes through

    proxy.arm("truncate", match=lambda q: q.path == "/t")
    with pytest.raises(http.client.IncompleteRead) as truncated:
        request("GET", "/t")
    assert 0 < len(truncated.value.partial) < len(truncated.value.partial) + truncated.value.expected

    proxy.arm("reset_download", method="GET", match="/r")
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        request("GET", "/r")

    before = len(seen)
    proxy.arm("reset_upload", method="PUT", match="/u")
    with pytest.raises((ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        request("PUT", "/u", body=b"x" * 200_000)
    assert len(seen) == before  # never forwarded

    proxy.arm("stall", method="GET", match="/s", stall=1.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        request("GET", "/s", timeout=0.3)
    assert time.monotonic() - started < 1.0

    assert proxy.injected == {
        "status_503": 1,
        "truncate": 1,
        "reset_download": 1,
        "reset_upload": 1,
        "stall": 1,
    }


# ---------------------------------------------------------------------------------------------------- stores


@dataclass
class Store:
    """One emulator, a proxy in front of it, and a Result of each connection (copies share their clients)."""

    name: str
    proxy: FaultProxy
    clean: Any  # a Result on the default connection (the emulator directly)
    faulty: Any  # a Result on the proxy's connection
    sdk: Any  # the emulator's own SDK client

    def results(self, serializer) -> tuple[Any, Any]:
        """(clean, faulty) copies under a fresh prefix, with ``serializer``."""
        prefix = f"f-{uuid.uuid4().hex[:10]}"
        pair = []
        for base in (self.clean, self.faulty):
            result = base.copy()
            result.prefix, result.serializer = prefix, serializer
            pair.append(result)
        return pair[0], pair[1]

    # The requests that carry the payload of ``key`` (never its sidecar ``.meta.json`` or lease ``.lock``).

    def upload(self, key: str) -> tuple[str, Matcher]:
        """Every request that uploads payload bytes: S3 PutObject/UploadPart, GCS resumable chunks, Azure
        Put Blob/Put Block."""
        if self.name == "s3":
            return "PUT", lambda q: q.path == f"/{BUCKET}/{key}"
        if self.name == "gcs":
            # The chunk PUTs name the session, not the object (one payload upload at a time per test).
            return "PUT", lambda q: "uploadType=resumable" in q.query and "upload_id=" in q.query
        path = f"/{local_servers.AZURITE_ACCOUNT}/{BUCKET}/{key}"
        return "PUT", lambda q: q.path == path and "comp=blocklist" not in q.query

    def commit(self, key: str) -> tuple[str, Matcher]:
        """The request that makes a multi-part payload visible."""
        if self.name == "s3":
            return "POST", lambda q: q.path == f"/{BUCKET}/{key}" and "uploadId=" in q.query
        if self.name == "gcs":  # the last chunk names the total size (the others "/*")
            return (
                "PUT",
                lambda q: "upload_id=" in q.query and not (q.header("content-range") or "").endswith("*"),
            )
        path = f"/{local_servers.AZURITE_ACCOUNT}/{BUCKET}/{key}"
        return "PUT", lambda q: q.path == path and "comp=blocklist" in q.query

    def download(self, key: str, later_chunk: bool = False) -> tuple[str, Matcher]:
        """The GET(s) of the payload; with ``later_chunk`` only ranged GETs that do not start at byte 0."""
        if self.name == "s3":
            match: Matcher = lambda q: q.path == f"/{BUCKET}/{key}"  # noqa: E731
        elif self.name == "gcs":
            match = lambda q: q.path.endswith(f"/o/{key}") and "alt=media" in q.query  # noqa: E731
        else:
            path = f"/{local_servers.AZURITE_ACCOUNT}/{BUCKET}/{key}"
            match = lambda q: q.path == path  # noqa: E731
        if not later_chunk:
            return "GET", match

        def later(q: Request) -> bool:
            ranged = q.header("x-ms-range") or q.header("range") or ""
            return match(q) and bool(ranged) and not ranged.startswith("bytes=0-")

        return "GET", later

    def listing(self, prefix: str) -> list[str]:
        """Every object under ``prefix``, listed by the emulator's own client."""
        if self.name == "s3":
            pages = self.sdk.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/")
            return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))
        if self.name == "gcs":
            return sorted(blob.name for blob in self.sdk.bucket(BUCKET).list_blobs(prefix=f"{prefix}/"))
        container = self.sdk.get_container_client(BUCKET)
        return sorted(blob.name for blob in container.list_blobs(name_starts_with=f"{prefix}/"))

    def open_uploads(self, prefix: str) -> list[str]:
        """S3 multipart uploads still open under ``prefix`` (GCS sessions and Azure uncommitted blocks are
        never visible and expire on their own)."""
        if self.name != "s3":
            return []
        uploads = self.sdk.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{prefix}/").get("Uploads", [])
        return [upload["Key"] for upload in uploads]


@pytest.fixture(scope="module")
def s3_store(s3_server) -> Iterator[Store]:
    from airflow_results_provider.results.s3_result import S3Result

    with FaultProxy(s3_server.endpoint, flavor="s3") as proxy, pytest.MonkeyPatch.context() as mp:
        extra = {
            "endpoint_url": proxy.endpoint,
            "region_name": "us-east-1",
            # botocore's standard retry mode: 2 attempts, small timeouts.
            "config_kwargs": {
                "retries": {"max_attempts": 2, "mode": "standard"},
                "connect_timeout": 2,
                "read_timeout": _READ_TIMEOUT,
            },
        }
        conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
        mp.setenv("AIRFLOW_CONN_AWS_FAULTS", json.dumps(conn))
        clean = S3Result(BUCKET, part_size=_S3_PART)
        faulty = S3Result(BUCKET, aws_conn_id="aws_faults", part_size=_S3_PART)
        yield Store("s3", proxy, clean, faulty, s3_server)


@pytest.fixture(scope="module")
def gcs_store(gcs_server) -> Iterator[Store]:
    from google.cloud.storage.retry import DEFAULT_RETRY

    from airflow_results_provider.results.gcs_result import GCSResult

    with FaultProxy(os.environ["STORAGE_EMULATOR_HOST"]) as proxy, pytest.MonkeyPatch.context() as mp:
        # GCSHook has no endpoint, timeout or retry settings: the storage client takes its endpoint from
        # STORAGE_EMULATOR_HOST when it is made (so the faulty Result's client is made while it names the
        # proxy), every call's timeout is a default argument (60 s; capped below on the client's session) and
        # every call retries under the shared DEFAULT_RETRY (a 120 s deadline; shortened here, for this module).
        mp.setattr(DEFAULT_RETRY, "_timeout", 1.5)
        mp.setattr(DEFAULT_RETRY, "_deadline", 1.5)
        mp.setattr(DEFAULT_RETRY, "_initial", 0.1)
        mp.setattr(DEFAULT_RETRY, "_maximum", 0.5)
        conn = {"conn_type": "google_cloud_platform", "extra": {"project": "test", "is_anonymous": True}}
        mp.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_FAULTS", json.dumps(conn))
        clean = GCSResult(BUCKET, chunk_size=256 * 1024)
        faulty = GCSResult(BUCKET, gcp_conn_id="google_cloud_faults", chunk_size=256 * 1024)
        with pytest.MonkeyPatch.context() as endpoint:
            endpoint.setenv("STORAGE_EMULATOR_HOST", proxy.endpoint)
            client = faulty.client
        assert client.api_endpoint == proxy.endpoint
        _cap_timeouts(client._http, _READ_TIMEOUT)
        yield Store("gcs", proxy, clean, faulty, gcs_server)


def _cap_timeouts(session, cap: float) -> None:
    """Make every request of a requests session time out after at most ``cap`` seconds."""
    request = session.request

    def capped(method, url, *args, timeout=None, **kwargs):
        if isinstance(timeout, tuple):
            timeout = tuple(cap if t is None else min(t, cap) for t in timeout)
        else:
            timeout = cap if timeout is None else min(timeout, cap)
        return request(method, url, *args, timeout=timeout, **kwargs)

    session.request = capped


@pytest.fixture(scope="module")
def azure_store(azure_server) -> Iterator[Store]:
    from airflow_results_provider.results.azure_result import AzureResult

    upstream = f"http://{local_servers.HOST}:{urlsplit(azure_server.url).port}"
    with FaultProxy(upstream) as proxy, pytest.MonkeyPatch.context() as mp:
        # WasbHook hands the extras to BlobServiceClient: a retry policy of 1 quick retry, small timeouts,
        # and 64 KiB downloads, so a payload of a few hundred KiB is read in several ranged GETs (by default
        # only payloads over 32 MiB are).
        extra = {
            "connection_string": local_servers.azurite_connection_string(proxy.port),
            "retry_total": 1,
            "initial_backoff": 0.1,
            "increment_base": 0,
            "random_jitter_range": 0,
            "connection_timeout": 2,
            "read_timeout": _READ_TIMEOUT,
            "max_single_get_size": 64 * 1024,
            "max_chunk_get_size": 64 * 1024,
        }
        mp.setenv("AIRFLOW_CONN_WASB_FAULTS", json.dumps({"conn_type": "wasb", "extra": extra}))
        clean = AzureResult(BUCKET, block_size=128 * 1024)
        faulty = AzureResult(BUCKET, wasb_conn_id="wasb_faults", block_size=128 * 1024)
        yield Store("azure", proxy, clean, faulty, azure_server)


# ----------------------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    id: str
    op: str  # "write" (the fault hits the upload of v2) or "read" (the fault hits the read of v1)
    fault: str
    times: int | None = 1  # None: every matching request (the SDK's retries run out)
    target: str = "payload"  # "commit": the request that makes a multi-part upload visible
    large: bool = False
    json: bool = False
    after_headers: bool = True  # stall: after the response headers, or before any response
    later_chunk: bool = False


CASES = [
    # writes: the fault hits the upload of v2
    Case("write-reset-upload", "write", "reset_upload"),
    Case("write-reset-upload-large", "write", "reset_upload", large=True),
    Case("write-503-json", "write", "status_503", json=True),
    Case("write-stall-response-lost", "write", "stall", after_headers=False),
    Case("write-reset-upload-always", "write", "reset_upload", times=None),
    Case("write-reset-upload-large-always", "write", "reset_upload", times=None, large=True),
    Case("write-reset-commit-always", "write", "reset_upload", times=None, target="commit", large=True),
    Case("write-503-always-json", "write", "status_503", times=None, json=True),
    Case("write-stall-response-lost-always", "write", "stall", times=None, after_headers=False),
    # reads: the fault hits the read of v1
    Case("read-reset-download", "read", "reset_download"),
    Case("read-reset-download-json", "read", "reset_download", json=True),
    Case("read-truncate", "read", "truncate"),
    Case("read-stall-body", "read", "stall"),
    Case("read-stall-headers", "read", "stall", after_headers=False),
    Case("read-503-json", "read", "status_503", json=True),
    Case("read-reset-later-chunk", "read", "reset_download", large=True, later_chunk=True),
    Case("read-reset-download-always", "read", "reset_download", times=None),
    Case("read-503-always", "read", "status_503", times=None),
    Case("read-stall-headers-always", "read", "stall", times=None, after_headers=False),
    Case("read-truncate-later-chunk-always", "read", "truncate", times=None, large=True, later_chunk=True),
]

_ONE_GET = "{} reads a payload with one streaming GET: there is no later ranged chunk to fault"
SKIPS = {
    ("s3", "read-reset-later-chunk"): _ONE_GET.format("S3Result"),
    ("s3", "read-truncate-later-chunk-always"): _ONE_GET.format("S3Result"),
    ("gcs", "read-reset-later-chunk"): _ONE_GET.format("GCSResult"),
    ("gcs", "read-truncate-later-chunk-always"): _ONE_GET.format("GCSResult"),
}


def _params():
    for name in ("s3", "gcs", "azure"):
        for case in CASES:
            marks = []
            if (name, case.id) in SKIPS:
                marks.append(pytest.mark.skip(reason=SKIPS[name, case.id]))
            yield pytest.param(name, case, id=f"{name}-{case.id}", marks=marks)


def _values(store: Store, case: Case) -> tuple[Any, Any]:
    size = _LARGE[store.name] if case.large else _SMALL
    if case.json:
        return {"v": 1, "pad": "a" * size}, {"v": 2, "pad": "b" * size}
    return {"v": 1, "pad": os.urandom(size)}, {"v": 2, "pad": os.urandom(size)}


def _describe(exc: BaseException) -> str:
    chain, seen = [], exc
    while seen is not None and len(chain) < 4:
        chain.append(f"{type(seen).__module__}.{type(seen).__qualname__}: {str(seen)[:160]}")
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(chain)


# ----------------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize(("kind", "case"), list(_params()))
def test_a_fault_keeps_the_stored_value_whole(kind, case, request):
    store: Store = request.getfixturevalue(f"{kind}_store")
    try:
        _run(store, case)
    finally:
        store.proxy.disarm()


def _run(store: Store, case: Case) -> None:
    serializer = JSONSerializer() if case.json else PickleSerializer()
    clean, faulty = store.results(serializer)
    location = "value.json" if case.json else "value.pkl"
    key = clean.key(location)
    v1, v2 = _values(store, case)
    clean.location = faulty.location = location
    first = clean.write(v1)  # cleanly, past the proxy

    if case.op == "write":
        method, match = store.commit(key) if case.target == "commit" else store.upload(key)
    else:
        method, match = store.download(key, later_chunk=case.later_chunk)
    fault = store.proxy.arm(
        case.fault,
        method=method,
        match=match,
        times=case.times,
        stall=_STALL,
        after_headers=case.after_headers,
    )
    started = time.monotonic()
    error: BaseException | None = None
    outcome = None
    try:
        outcome = faulty.write(v2) if case.op == "write" else faulty.read(location)
    except Exception as exc:
        error = exc
    elapsed = time.monotonic() - started
    store.proxy.disarm()

    assert fault.fired >= 1, f"the {case.fault} fault never fired: {list(store.proxy.log)[-10:]}"
    assert elapsed < _BOUND, f"the faulty {case.op} took {elapsed:.1f} s: retries are not bounded"
    if case.op == "write" and case.times is None and case.fault in ("reset_upload", "status_503"):
        assert error is not None, "the write succeeded although every upload request failed"
    if case.op == "read" and error is None:
        assert outcome.value == v1 and outcome.metadata["sha256"] == first.metadata["sha256"]

    # The stored value, read (and verified against its sidecar) past the proxy: whole v1 or whole v2.
    stored = clean.read(location)
    if case.op == "write" and error is None:
        assert stored.value == v2 and stored.metadata["sha256"] == outcome.metadata["sha256"]
    elif case.op == "write" and case.fault == "stall":
        # The upstream applied the upload and only its response was lost: either value may have landed.
        assert stored.value in (v1, v2)
    else:  # the upload never reached the store, or nothing was written
        assert stored.value == v1 and stored.metadata["sha256"] == first.metadata["sha256"]
    # Nothing left behind: no lease, no stray object, no open multipart upload.
    assert store.listing(clean.prefix) == [key, f"{key}.meta.json"]
    assert store.open_uploads(clean.prefix) == []
    assert [p.location for p in clean.list_payloads()] == [location]

    # Last, so that the cases marked as bugs still check everything above.
    expected = ResultWriteError if case.op == "write" else ResultError
    if error is not None and not isinstance(error, expected):
        raise WrongErrorType(f"a failed {case.op} raised {_describe(error)}, not a {expected.__name__}")
