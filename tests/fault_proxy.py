"""A loopback reverse proxy that injects network faults between a storage client and its emulator.

Stdlib only. :class:`FaultProxy` listens on ``127.0.0.1:<free port>`` and relays every HTTP/1.1 request to one
upstream endpoint (moto_server, gcp-storage-emulator, Azurite). Requests are parsed completely (``Content-Length``
or chunked bodies, ``Expect: 100-continue``) and forwarded with a ``Content-Length`` on a fresh upstream
connection each; the whole upstream response is read, then relayed with a ``Content-Length`` on the client's
keep-alive connection. Links to the upstream in ``Location`` headers and JSON bodies are rewritten to name the
proxy.

Arm a fault for the next matching request(s)::

    with FaultProxy("http://127.0.0.1:9000", flavor="s3") as proxy:
        fault = proxy.arm("reset_download", method="GET", match="/bucket/key")
        ...
        assert fault.fired == 1 and proxy.injected["reset_download"] == 1

Faults (``kind``):

``reset_upload``
    read ``portion`` of the request body, then reset the connection (RST: ``SO_LINGER`` 0). Nothing reaches
    the upstream.
``reset_download``
    forward the request, relay the status, the headers and ``portion`` of the body, then reset the connection.
``status_503``
    read the request and answer 503 without forwarding it: an S3 ``SlowDown`` XML error for ``flavor="s3"``,
    a plain-text body otherwise.
``stall``
    forward the request (the upstream applies it), send the response headers (``after_headers=True``) or
    nothing, wait ``stall`` seconds (longer than the client's read timeout), then close the connection.
``truncate``
    forward the request, relay the headers with the full ``Content-Length`` N but only ``N * portion`` bytes of
    the body, then close the connection (FIN).

A fault fires on the next ``times`` requests it matches (``None``: every one until :meth:`FaultProxy.disarm`);
:attr:`Fault.fired` and :attr:`FaultProxy.injected` count what was injected.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

HOST = "127.0.0.1"
FAULT_KINDS = ("reset_upload", "reset_download", "status_503", "stall", "truncate")

#: Headers that describe one hop (and the framing, which the proxy redoes).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
_MAX_LINE = 65536
_S3_SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>fault-proxy</RequestId><HostId>fault-proxy</HostId></Error>"
)


class _ClientGone(Exception):
    """The client closed its connection (or sent something that is not HTTP)."""


@dataclass(frozen=True)
class Request:
    """What a fault is matched on: the request line and headers (the body is not read yet)."""

    method: str
    target: str  # as sent: path and query, percent-encoded
    headers: tuple[tuple[str, str], ...]

    @property
    def path(self) -> str:
        """The path, percent-decoded (a GCS object name ``a%2Fb`` reads ``a/b``)."""
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> str:
        """The query string, percent-decoded."""
        return unquote(urlsplit(self.target).query)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


Matcher = Callable[[Request], bool]


@dataclass
class Fault:
    """An armed fault; ``fired`` counts the requests it was injected into."""

    kind: str
    method: frozenset[str] | None
    match: Matcher
    times: int | None
    portion: float = 0.5
    stall: float = 3.0
    after_headers: bool = True
    fired: int = 0

    def matches(self, request: Request) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method is not None and request.method not in self.method:
            return False
        return self.match(request)


@dataclass
class _Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    head_only: bool = False  # a HEAD response: headers (with the upstream's Content-Length), no body


class FaultProxy:
    """A threaded HTTP/1.1 reverse proxy to ``upstream`` (``http://host:port``) that injects armed faults.

    :param flavor: ``"s3"`` makes ``status_503`` answer an S3 ``SlowDown`` error; anything else a plain 503.
    :param upstream_timeout: seconds the proxy waits for the upstream.
    :param rewrite_json: rewrite links to the upstream in JSON response bodies too (gcp-storage-emulator
        answers an object's ``mediaLink`` as it was when the object was written, which the client downloads).
    """

    def __init__(
        self,
        upstream: str,
        *,
        flavor: str = "plain",
        upstream_timeout: float = 60.0,
        rewrite_json: bool = True,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.flavor = flavor
        self.rewrite_json = rewrite_json
        self.upstream_timeout = upstream_timeout
        self._listener = socket.create_server((HOST, 0))
        self.port: int = self._listener.getsockname()[1]
        self.endpoint = f"http://{HOST}:{self.port}"
        self.injected: collections.Counter[str] = collections.Counter()
        #: (method, target, outcome) of the last requests: a status, or the fault injected.
        self.log: collections.deque[tuple[str, str, str]] = collections.deque(maxlen=500)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._accepter: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> FaultProxy:
        self._accepter = threading.Thread(target=self._accept, name=f"fault-proxy-{self.port}", daemon=True)
        self._accepter.start()
        return self

    def close(self) -> None:
        """Stop accepting, wake every stalled fault and close every client connection."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing alone does not)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._accepter is not None:
            self._accepter.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def arm(
        self,
        kind: str,
        *,
        method: str | Iterable[str] | None = None,
        match: str | Matcher | None = None,
        times: int | None = 1,
        portion: float = 0.5,
        stall: float = 3.0,
        after_headers: bool = True,
    ) -> Fault:
        """Inject ``kind`` into the next ``times`` requests (``None``: all) with that ``method`` whose target
        (percent-decoded) contains ``match``, or for which ``match(request)`` is true."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (one of {', '.join(FAULT_KINDS)})")
        if not 0 <= portion < 1:
            raise ValueError("portion must be in [0, 1)")
        methods = None if method is None else frozenset([method] if isinstance(method, str) else method)
        if match is None:
            matcher: Matcher = lambda request: True  # noqa: E731
        elif isinstance(match, str):
            needle = match
            matcher = lambda request: needle in unquote(request.target)  # noqa: E731
        else:
            matcher = match
        fault = Fault(kind, methods, matcher, times, portion, stall, after_headers)
        with self._lock:
            self._faults.append(fault)
        return fault

    def disarm(self) -> None:
        """Forget every armed fault (the counts stay)."""
        with self._lock:
            self._faults.clear()

    def _take(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.fired += 1
                    self.injected[fault.kind] += 1
                    return fault
        return None

    # ------------------------------------------------------------------ serving

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._clients.add(sock)
            threading.Thread(target=self._serve, args=(sock,), name="fault-proxy-conn", daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        rfile = sock.makefile("rb", buffering=_MAX_LINE)
        reset = False
        try:
            while not self._stopping.is_set():
                request = _read_head(rfile)
                if request is None:
                    return
                keep_alive = _client_keeps_alive(request)
                fault = self._take(request)
                if fault is not None:
                    self.log.append((request.method, request.target, fault.kind))
                if (request.header("expect") or "").lower() == "100-continue":
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                if fault is not None and fault.kind == "reset_upload":
                    _read_body(rfile, request, portion=fault.portion)
                    reset = True
                    return
                body = _read_body(rfile, request)
                if fault is not None and fault.kind == "status_503":
                    sock.sendall(_encode(self._unavailable(request), keep_alive))
                    if not keep_alive:
                        return
                    continue
                if fault is not None and fault.kind == "stall" and not fault.after_headers:
                    self._forward(request, body)  # the upstream applies it; the answer never comes
                    self._stopping.wait(fault.stall)
                    return
                response = self._forward(request, body)
                if fault is None:
                    self.log.append((request.method, request.target, str(response.status)))
                    sock.sendall(_encode(response, keep_alive))
                    if not keep_alive:
                        return
                    continue
                head = _encode(response, keep_alive, body=False)
                if fault.kind == "stall":
                    sock.sendall(head)
                    self._stopping.wait(fault.stall)
                    return
                part = response.body[: int(len(response.body) * fault.portion)]
                sock.sendall(head + part)
                reset = fault.kind == "reset_download"
                if not reset:  # truncate: an orderly close after N * portion bytes
                    sock.shutdown(socket.SHUT_WR)
                return
        except (_ClientGone, OSError, ValueError):
            return
        finally:
            with self._lock:
                self._clients.discard(sock)
            rfile.close()
            if reset:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    def _unavailable(self, request: Request) -> _Response:
        if self.flavor == "s3":
            body, ctype = _S3_SLOWDOWN, "application/xml"
        else:
            body, ctype = b"Service Unavailable (injected by the fault proxy)", "text/plain"
        head_only = request.method == "HEAD"
        headers = [("Content-Type", ctype)] + ([("Content-Length", "0")] if head_only else [])
        return _Response(503, "Service Unavailable", headers, b"" if head_only else body, head_only)

    def _forward(self, request: Request, body: bytes | None) -> _Response:
        """Send the request upstream on a fresh connection; the whole response (502 if unreachable)."""
        conn = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.upstream_timeout
        )
        try:
            conn.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
            if request.header("host") is None:
                conn.putheader("Host", f"{self.upstream_host}:{self.upstream_port}")
            for name, value in request.headers:
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            upstream = conn.getresponse()
            data = upstream.read()
            head_only = request.method == "HEAD"
            headers = []
            for name, value in upstream.getheaders():
                lower = name.lower()
                if lower == "content-length" and head_only:
                    headers.append((name, value))
                elif lower not in _HOP_BY_HOP:
                    if lower == "location":
                        value = self._rewrite_links(value)
                    headers.append((name, value))
            if self.rewrite_json and "json" in (upstream.getheader("content-type") or "").lower():
                data = self._rewrite_links(data.decode("utf-8", "surrogateescape")).encode(
                    "utf-8", "surrogateescape"
                )
            return _Response(upstream.status, upstream.reason, headers, data, head_only)
        except (OSError, http.client.HTTPException) as exc:
            message = f"fault proxy: upstream failed: {exc!r}".encode()
            return _Response(502, "Bad Gateway", [("Content-Type", "text/plain")], message)
        finally:
            conn.close()

    def _rewrite_links(self, text: str) -> str:
        """``text`` with every ``//<upstream host>:<port>`` of a link made ``//127.0.0.1:<proxy port>``."""
        for host in {self.upstream_host, "localhost", HOST}:
            text = text.replace(f"//{host}:{self.upstream_port}", f"//{HOST}:{self.port}")
        return text


# ---------------------------------------------------------------------- HTTP/1.1 parsing and framing


def _readline(rfile) -> bytes:
    line = rfile.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _ClientGone("line too long")
    return line


def _read_head(rfile) -> Request | None:
    """The next request's line and headers; ``None`` when the client closed the connection between requests."""
    line = _readline(rfile)
    while line in (b"\r\n", b"\n"):  # stray CRLF between keep-alive requests
        line = _readline(rfile)
    if not line:
        return None
    try:
        method, target, _version = line.decode("latin-1").split()
    except ValueError as exc:
        raise _ClientGone(f"bad request line {line!r}") from exc
    headers = []
    while True:
        line = _readline(rfile)
        if not line:
            raise _ClientGone("connection closed inside the headers")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return Request(method.upper(), target, tuple(headers))


def _read_exact(rfile, n: int) -> bytes:
    data = rfile.read(n)
    if len(data) < n:
        raise _ClientGone("connection closed inside the body")
    return data


def _read_body(rfile, request: Request, portion: float | None = None) -> bytes | None:
    """The request body (de-chunked), or ``None`` when the request has no body framing. With ``portion``, only
    that share of it (of the first chunk, for a chunked body), leaving the rest unread."""
    if "chunked" in (request.header("transfer-encoding") or "").lower():
        chunks = []
        while True:
            size_line = _readline(rfile)
            if not size_line:
                raise _ClientGone("connection closed inside a chunked body")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while _readline(rfile) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            if portion is not None:
                return _read_exact(rfile, int(size * portion))
            chunks.append(_read_exact(rfile, size))
            _readline(rfile)  # the CRLF after the chunk
    length = request.header("content-length")
    if length is None:
        return None
    n = int(length)
    return _read_exact(rfile, n if portion is None else int(n * portion))


def _client_keeps_alive(request: Request) -> bool:
    tokens = {t.strip().lower() for t in (request.header("connection") or "").split(",")}
    return "close" not in tokens


def _encode(response: _Response, keep_alive: bool, body: bool = True) -> bytes:
    """The response's status line and headers (with its ``Content-Length``), and its body unless ``body`` is
    false (the ``Content-Length`` still names the whole body)."""
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers]
    no_body = response.status in (204, 304) or response.status < 200
    if not response.head_only and not no_body:
        lines.append(f"Content-Length: {len(response.body)}")
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + response.body if body and not response.head_only else head
