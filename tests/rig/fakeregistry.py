"""A programmable OCI distribution registry on loopback, for misbehaviour tests.

A real registry (tuidock.demo.registry) only ever behaves; this one serves a
tiny but valid image and can be told to lie about digests, cut bodies short,
ignore Range, rate-limit, redirect blobs to another host, expire tokens or
send whatever scripted answer a test needs. Every HTTP request is recorded.

    with FakeRegistry(auth="bearer") as reg:
        reg.script("GET", "/manifests/", Reply(429, {"Retry-After": "1"}))
        Engine(root).pull(reg.ref())
        assert len(reg.requests_to("/manifests/")) == 2
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import re
import select
import socket
import tarfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

TOKEN_SERVICE = "fake-registry"
# Long enough that a stuck client cannot hang a test run, short enough to notice.
SOCKET_TIMEOUT = 10.0
TLS_HANDSHAKE = 0x16


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


# -- the image ------------------------------------------------------------------


@dataclass(frozen=True)
class TinyImage:
    """One single-layer image: its blobs and manifest as the registry stores them."""

    files: dict[str, bytes]
    layer_tar: bytes
    layer: bytes
    config: bytes
    manifest: bytes
    architecture: str

    @property
    def layer_digest(self) -> str:
        return sha256(self.layer)

    @property
    def diff_id(self) -> str:
        return sha256(self.layer_tar)

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> dict[str, bytes]:
        return {self.layer_digest: self.layer, self.config_digest: self.config}


def _layer_tar(files: dict[str, bytes], directories: Iterable[str]) -> bytes:
    buf = io.BytesIO()
    # Fixed metadata: two builds of the image must give the same digests, so
    # that a second FakeRegistry (the "CDN") serves the same blobs.
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in directories:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 1_700_000_000
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_image(architecture: str = "amd64", os_name: str = "linux") -> TinyImage:
    """A deterministic image whose layer holds a directory and two files.

    One file is incompressible so the gzip blob is big enough (~64 KiB) to be
    cut in half, resumed and redirected meaningfully.
    """
    files = {
        "app/hello.txt": b"hello from the fake registry\n",
        "app/noise.bin": random.Random(42).randbytes(64 * 1024),
    }
    layer_tar = _layer_tar(files, ["app"])
    layer = gzip.compress(layer_tar, mtime=0)
    config = canonical_json(
        {
            "architecture": architecture,
            "os": os_name,
            "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["/app/hello.txt"], "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "fakeregistry"}],
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(layer), "size": len(layer)}],
        }
    )
    return TinyImage(files, layer_tar, layer, config, manifest, architecture)


def schema1_manifest(repository: str, tag: str) -> bytes:
    """What an old registry answers a client that sent no usable Accept header."""
    return json.dumps(
        {
            "schemaVersion": 1,
            "name": repository,
            "tag": tag,
            "architecture": "amd64",
            "fsLayers": [{"blobSum": sha256(b"")}],
            "history": [{"v1Compatibility": "{}"}],
        },
        indent=3,
    ).encode()


# -- requests and scripted answers ----------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    server: str  # host:port of the FakeRegistry that received it

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    """A canned answer. By default the body is sent with its real Content-Length."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Announce this Content-Length instead of len(body).
    announce_length: int | None = None
    # Send Transfer-Encoding: chunked: the body, then `filler` more bytes.
    chunked: bool = False
    filler: int = 0
    # Send only the headers, then wait for the client to hang up.
    wait_for_hangup: bool = False


@dataclass
class _Script:
    method: str
    route_part: str
    reply: Reply
    times: int


@dataclass(frozen=True)
class Hangup:
    """The client closed the connection while we were still answering."""

    route: str
    body_bytes_sent: int


# -- the server ---------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (block_on_close); live connections
    # are shut down first so that joining never waits for a keep-alive timeout.
    daemon_threads = False

    def __init__(self, address: tuple[str, int], fake: FakeRegistry) -> None:
        self.fake = fake
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        with self._live_lock:
            self._live.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[override]
        with self._live_lock:
            self._live.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._live_lock:
            live = list(self._live)
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: _Server

    def handle(self) -> None:
        # Insecure loopback registries are probed with TLS first. http.server
        # would read the ClientHello as a request line and answer 400 only
        # if the hello happens to hold a newline byte; drop TLS connections
        # at once instead, so the fallback to HTTP never depends on luck and
        # the probe is never recorded as a request.
        try:
            first = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if not first or first[0] == TLS_HANDSHAKE:
            return
        super().handle()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def do_HEAD(self) -> None:
        self.server.fake._handle(self)

    # -- answering ------------------------------------------------------

    def send_body(self, body: bytes, route: str) -> bool:
        """Write the body; False (and a recorded hangup) if the client went away."""
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.fake._hangup(route, 0)
            self.close_connection = True
            return False
        return True

    def answer(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        route: str = "",
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.send_body(body, route)

    def answer_error(self, status: int, code: str, message: str, **headers: str) -> None:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self.answer(status, body, {"Content-Type": "application/json", **headers})

    def send_reply(self, reply: Reply, route: str) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            length = reply.announce_length
            self.send_header("Content-Length", str(len(reply.body) if length is None else length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.wait_for_hangup:
            self.wfile.flush()
            self.close_connection = True
            if _wait_for_hangup(self.connection, SOCKET_TIMEOUT / 2):
                self.server.fake._hangup(route, 0)
            return
        if not reply.chunked:
            if reply.body:
                self.send_body(reply.body, route)
            if reply.announce_length is not None and reply.announce_length > len(reply.body):
                self.close_connection = True
            return
        sent = 0
        pad = b" " * 65536
        try:
            for piece in _pieces(reply.body, pad, reply.filler):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.fake._hangup(route, sent)
            self.close_connection = True


def _pieces(body: bytes, pad: bytes, filler: int) -> Iterable[bytes]:
    if body:
        yield body
    while filler > 0:
        piece = pad[: min(len(pad), filler)]
        filler -= len(piece)
        yield piece


def _wait_for_hangup(conn: socket.socket, timeout: float) -> bool:
    """True once the peer closes its end; False if it is still there after `timeout`."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([conn], [], [], left)
        if not ready:
            continue
        try:
            data = conn.recv(65536)
        except OSError:
            return True
        if not data:
            return True
    return False


_MANIFEST_ROUTE = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_ROUTE = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_CDN_ROUTE = re.compile(r"^/cdn/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class FakeRegistry:
    """An OCI registry for one repository, misbehaving on request. A context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        repository: str = "test/app",
        tag: str = "latest",
        auth: str | None = None,
        credentials: tuple[str, str] = ("alice", "s3cret"),
    ) -> None:
        if auth not in (None, "bearer", "basic"):
            raise ValueError(f"unknown auth mode {auth!r}")
        self.host = host
        self.repository = repository
        self.tag = tag
        self.auth = auth
        self.credentials = credentials
        self.image = build_image()
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.add_image(self.image, tag)

        # Misbehaviour, set by tests at any time.
        self.manifest_digest_header: str | None = None  # lie in Docker-Content-Digest
        self.blob_overrides: dict[str, bytes] = {}  # serve these bytes for a digest
        self.cut_blob: dict[str, int] = {}  # digest -> bytes sent before dropping (once)
        self.ignore_range = False  # answer 200 with the whole blob to a Range request
        self.redirect_blobs_to: str | None = None  # base URL of another FakeRegistry
        self.token_expires_in = 300
        self.revoke_tokens_after_manifest = False  # expire every token once, mid-pull

        # Observations.
        self.requests: list[RecordedRequest] = []
        self.issued_tokens: list[str] = []
        self.hangups: list[Hangup] = []

        self._valid_tokens: set[str] = set()
        self._scripts: list[_Script] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- content ---------------------------------------------------------------

    def add_image(self, image: TinyImage, tag: str | None = None) -> None:
        self.blobs.update(image.blobs)
        self.serve_manifest(image.manifest_digest, image.manifest, OCI_MANIFEST)
        if tag:
            self.serve_manifest(tag, image.manifest, OCI_MANIFEST)

    def serve_manifest(self, reference: str, body: bytes, content_type: str) -> None:
        """Answer GET manifests/<reference> (a tag or a digest) with these exact bytes."""
        self.manifests[reference] = (body, content_type)

    def add_index(self, tag: str, entries: list[tuple[dict, TinyImage]]) -> str:
        """An OCI index under `tag` with these (platform, image) entries, after an
        attestation manifest marked unknown/unknown as BuildKit writes; returns its digest."""
        attestation_blob = b'{"_type":"https://in-toto.io/Statement/v0.1"}'
        empty_config = b"{}"
        attestation = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": sha256(empty_config),
                    "size": len(empty_config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.in-toto+json",
                        "digest": sha256(attestation_blob),
                        "size": len(attestation_blob),
                    }
                ],
            }
        )
        self.blobs[sha256(attestation_blob)] = attestation_blob
        self.blobs[sha256(empty_config)] = empty_config
        self.serve_manifest(sha256(attestation), attestation, OCI_MANIFEST)
        manifests = [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(attestation),
                "size": len(attestation),
                "platform": {"os": "unknown", "architecture": "unknown"},
            }
        ]
        for platform, image in entries:
            self.add_image(image)
            manifests.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": image.manifest_digest,
                    "size": len(image.manifest),
                    "platform": platform,
                }
            )
        index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
        self.serve_manifest(tag, index, OCI_INDEX)
        self.serve_manifest(sha256(index), index, OCI_INDEX)
        return sha256(index)

    def script(self, method: str, route_part: str, reply: Reply, times: int = 1) -> None:
        """Answer the next `times` requests whose path contains `route_part` with `reply`."""
        with self._lock:
            self._scripts.append(_Script(method, route_part, reply, times))

    # -- addresses -------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake registry is not running")
        return int(self._server.server_address[1])

    @property
    def domain(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.domain}"

    def ref(self, tag: str | None = None) -> str:
        return f"{self.domain}/{self.repository}:{tag or self.tag}"

    def digest_ref(self, digest: str) -> str:
        return f"{self.domain}/{self.repository}@{digest}"

    # -- observations ------------------------------------------------------------

    def requests_to(self, route_part: str, method: str = "GET") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if route_part in r.route and r.method == method]

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakeRegistry:
        self._server = _Server((self.host, 0), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakeregistry-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.drop_connections()
        server.server_close()  # closes the socket and joins the handler threads
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- request handling (runs in handler threads) -------------------------------

    def _hangup(self, route: str, sent: int) -> None:
        with self._lock:
            self.hangups.append(Hangup(route, sent))

    def _take_script(self, method: str, route: str) -> Reply | None:
        with self._lock:
            for script in self._scripts:
                if script.method == method and script.route_part in route:
                    script.times -= 1
                    if script.times <= 0:
                        self._scripts.remove(script)
                    return script.reply
        return None

    def _handle(self, h: _Handler) -> None:
        route = urlsplit(h.path).path
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    h.command,
                    h.path,
                    {k.lower(): v for k, v in h.headers.items()},
                    f"{self.host}:{h.server.server_address[1]}",
                )
            )
        reply = self._take_script(h.command, route)
        if reply is not None:
            h.send_reply(reply, route)
            return
        if route == "/token":
            self._token(h)
            return
        if m := _CDN_ROUTE.match(route):
            # Signed-URL style: the URL itself is the credential.
            self._blob(h, m["digest"], route)
            return
        if not self._authorized(h):
            return
        if route == "/v2/":
            h.answer(200, b"{}", {"Content-Type": "application/json"})
        elif (m := _MANIFEST_ROUTE.match(route)) and m["repo"] == self.repository:
            self._manifest(h, m["ref"])
        elif (m := _BLOB_ROUTE.match(route)) and m["repo"] == self.repository:
            if self.redirect_blobs_to:
                h.answer(
                    307,
                    headers={"Location": f"{self.redirect_blobs_to}/cdn/blobs/{m['digest']}?sig=x"},
                )
            else:
                self._blob(h, m["digest"], route)
        else:
            h.answer_error(404, "NAME_UNKNOWN", "repository name not known to registry")

    def _authorized(self, h: _Handler) -> bool:
        given = h.headers.get("Authorization", "")
        if self.auth is None:
            return True
        if self.auth == "bearer":
            with self._lock:
                ok = given.startswith("Bearer ") and given[7:] in self._valid_tokens
            if not ok:
                # Scope first and with commas, to exercise the challenge parser.
                challenge = (
                    f'Bearer scope="repository:{self.repository}:pull",'
                    f'realm="{self.url}/token",service="{TOKEN_SERVICE}"'
                )
                h.answer_error(
                    401,
                    "UNAUTHORIZED",
                    "authentication required",
                    **{"WWW-Authenticate": challenge},
                )
            return ok
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        if given != expected:
            h.answer_error(
                401,
                "UNAUTHORIZED",
                "authentication required",
                **{"WWW-Authenticate": 'Basic realm="fake-registry"'},
            )
            return False
        return True

    def _token(self, h: _Handler) -> None:
        query = parse_qs(urlsplit(h.path).query)
        with self._lock:
            token = f"tok-{len(self.issued_tokens) + 1}"
            self.issued_tokens.append(token)
            self._valid_tokens.add(token)
        body = json.dumps(
            {
                "token": token,
                "access_token": token,
                "expires_in": self.token_expires_in,
                "scope": " ".join(query.get("scope", [])),
            }
        ).encode()
        h.answer(200, body, {"Content-Type": "application/json"})

    def _manifest(self, h: _Handler, reference: str) -> None:
        entry = self.manifests.get(reference)
        if entry is None:
            h.answer_error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {reference}")
            return
        body, content_type = entry
        digest = self.manifest_digest_header or sha256(body)
        h.answer(200, body, {"Content-Type": content_type, "Docker-Content-Digest": digest})
        if h.command == "GET" and self.revoke_tokens_after_manifest:
            with self._lock:
                self.revoke_tokens_after_manifest = False
                self._valid_tokens.clear()

    def _blob(self, h: _Handler, digest: str, route: str) -> None:
        data = self.blob_overrides.get(digest, self.blobs.get(digest))
        if data is None:
            h.answer_error(404, "BLOB_UNKNOWN", f"blob unknown: {digest}")
            return
        total = len(data)
        status, start = 200, 0
        headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}
        rng = _RANGE.match(h.headers.get("Range", ""))
        if rng and not self.ignore_range:
            start = int(rng[1])
            end = int(rng[2]) if rng[2] else total - 1
            if start >= total or end < start:
                h.answer(416, headers={"Content-Range": f"bytes */{total}"})
                return
            data = data[start : min(end, total - 1) + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{total}"
        with self._lock:
            cut = self.cut_blob.pop(digest, None) if h.command == "GET" else None
        if cut is None:
            h.answer(status, data, {**headers, "Accept-Ranges": "bytes"}, route)
            return
        # Promise the whole body, then drop the connection part-way, like a
        # proxy or a flaky link would.
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.send_body(data[:cut], route)
        h.close_connection = True
