"""A lean Engine API client over a unix socket: one request, one JSON answer, no SDK.

`tuidock -H unix://... ps` and `images` ask the engine one question each;
through the Docker SDK that cost ~80 ms before the question (importing
docker, requests, urllib3, http.client and email, then a /version round
trip), six times the docker CLI's whole run. Here a GET is a socket, a
request of four lines with `Connection: close`, the answer read to EOF, its
chunked body decoded and parsed with json: the stdlib modules a CLI start
has loaded anyway, plus socket.

Paths are unversioned (`/containers/json`): Docker and Podman's compatible
service both answer them with their own current API version, which is what
the SDK path negotiates to with its extra /version request.

The error words are the SDK path's (backends/docker.py `api_errors` builds
its errors with `unreachable` and `daemon_error` from here), so a user sees
the same line whichever path ran: "cannot reach the Docker engine at HOST:
no such file or directory", "Error response from daemon: invalid filter
'x'". Both paths read Podman's bare image IDs with `image_id` from here.
Nothing here imports backends/base.py or backends/endpoint.py.

`post` is the same exchange with a JSON body; `upgrade` is a POST that
asks for the hijacked stream (`Connection: Upgrade`, `Upgrade: tcp`) and
hands back the socket itself once the answer's headers are read (exec's
start: backends/execops.py LeanExec; attach: backends/dockerattach.py
LeanAttachOps; the relays of backends/dockerexec.py and attachrelay.py take
it as they take the SDK's hijacked response).

Callers: cli/remote/__init__.py (dispatch) for the handlers marked get-only
(cli/remote/_shared.py) and lean_unix (exec); the shell pane's programs
(backends/dockerexec.py, backends/attachrelay.py) on a unix:// host. Cost:
one connect and one request per call.
"""

from __future__ import annotations

import json
import socket

from tuidock.errors import Conflict, EngineUnreachable, NotFound, TuidockError

TIMEOUT = 60.0  # seconds, the SDK path's default (backends/docker.py make_client)
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_REASONS = {400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}


# -- the words shared with the SDK path -----------------------------------------------------


def unreachable(host: str, reason: str) -> EngineUnreachable:
    """The engine at `host` did not take the request (no socket, refused, no answer)."""
    hint = (
        "Check that `ssh` reaches the host without a prompt (key, known_hosts) "
        "and that `docker` runs there."
        if host.startswith("ssh://")
        else "Is the daemon running (or Podman's service: podman system service)? "
        "Check the host with -H or the context."
    )
    return EngineUnreachable(
        f"cannot reach the Docker engine at {host}: {reason}", hint, host, reason
    )


def daemon_error(status: int, text: str) -> TuidockError:
    """The engine answered `status` (>= 400) with the message `text` (already one line)."""
    if status == 404:
        return NotFound(text)
    # Podman answers 500 "...: container state improper" where Docker answers 409.
    if status == 409 or text.endswith("container state improper"):
        return Conflict(text)
    return TuidockError(f"Error response from daemon: {text}")


def image_id(value: str) -> str:
    """sha256:<hex>; Podman's compat API gives some IDs without the algorithm."""
    if not value or value.startswith("sha256:") or value == "<missing>":
        return value
    return f"sha256:{value}"


# -- the client ---------------------------------------------------------------------------


def quote(value: str) -> str:
    """`value` percent-encoded for a URL path segment or a query value."""
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in value)


def query_string(query: dict[str, object]) -> str:
    """`a=1&b=x`, None values left out, as requests encodes the SDK's params."""
    return "&".join(f"{quote(k)}={quote(str(v))}" for k, v in query.items() if v is not None)


def _dechunk(body: bytes) -> bytes:
    """A chunked transfer-coding body decoded (trailers ignored)."""
    out, pos = [], 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            raise ValueError("truncated chunk size")
        size = int(body[pos:end].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out)
        start = end + 2
        if start + size > len(body):
            raise ValueError("truncated chunk")
        out.append(body[start : start + size])
        pos = start + size + 2


def parse_response(raw: bytes) -> tuple[int, str, bytes]:
    """(status, reason, body) of a whole HTTP/1.1 response read to EOF."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no end of headers")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError("not an HTTP response")
    status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if len(body) < length:
            raise ValueError("truncated body")
        body = body[:length]
    return status, reason, body


def _explanation(body: bytes, reason: str) -> str:
    """The daemon's message of an error answer on one line, as the SDK's APIError has it."""
    text = ""
    try:
        doc = json.loads(body)
        text = str(doc.get("message") or "") if isinstance(doc, dict) else ""
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
    return " ".join((text or reason or "request failed").split())


class UnixGet:
    """GETs of the Engine API at a unix:// host; `get` returns the parsed JSON answer."""

    def __init__(self, host: str, timeout: float = TIMEOUT) -> None:
        self.host = host  # unix:///path, as the user wrote it after normalization
        self.path = host.removeprefix("unix://")
        self.timeout = timeout

    def _exchange(self, request: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(request)
            chunks = []
            while data := sock.recv(1 << 16):
                chunks.append(data)
        return b"".join(chunks)

    def _failed(self) -> TuidockError:
        return TuidockError(f"the Docker engine at {self.host} failed: not an Engine API answer")

    def _oserror(self, exc: OSError) -> TuidockError:
        if isinstance(exc, TimeoutError):
            return TuidockError(f"the Docker engine at {self.host} failed: no answer")
        return unreachable(self.host, (exc.strerror or str(exc)).lower())

    @staticmethod
    def _request(method: str, target: str, body: object, extra: str = "") -> bytes:
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: tuidock\r\n"
            f"Accept: application/json\r\n{extra}"
        )
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        elif method != "GET":
            head += "Content-Length: 0\r\n"
        return (head + "\r\n").encode() + payload

    def call(
        self,
        method: str,
        path: str,
        query: dict[str, object] | None = None,
        body: object = None,
    ) -> object:
        """One request with `Connection: close`; the JSON answer (None for an empty body)."""
        target = path + ("?" + query_string(query) if query else "")
        request = self._request(method, target, body, "Connection: close\r\n")
        try:
            raw = self._exchange(request)
        except OSError as exc:
            raise self._oserror(exc) from None
        if not raw:  # accepted, then closed without a word
            raise unreachable(self.host, "no answer")
        try:
            status, reason, answer = parse_response(raw)
        except ValueError:
            raise self._failed() from None
        if status >= 400:
            raise daemon_error(status, _explanation(answer, reason or _REASONS.get(status, "")))
        if not answer.strip():
            return None
        try:
            return json.loads(answer)
        except ValueError:
            raise self._failed() from None

    def get(self, path: str, query: dict[str, object] | None = None) -> object:
        return self.call("GET", path, query)

    def post(
        self, path: str, body: object = None, query: dict[str, object] | None = None
    ) -> object:
        return self.call("POST", path, query, body)

    def upgrade(self, path: str, body: object) -> socket.socket:
        """POST `path` asking for the hijacked stream (`Upgrade: tcp`); the socket after
        the answer's headers, blocking, for the caller to relay and close.

        Docker answers 101 Switching Protocols; Podman 101 UPGRADED when asked as
        here, 200 OK (the stream follows the headers all the same) when not, and
        older Podman always 200: both mean the stream. The headers are read with
        MSG_PEEK first, so no byte of the stream is taken with them.
        """
        request = self._request("POST", path, body, "Connection: Upgrade\r\nUpgrade: tcp\r\n")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(request)
            head = self._headers(sock)
            status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
            if status in (101, 200):
                sock.settimeout(None)  # select says when to read; the stream may idle for hours
                return sock
            if status < 400:
                raise self._failed()
            rest = []  # an error answer: its body, to the end
            while data := sock.recv(1 << 16):
                rest.append(data)
        except OSError as exc:
            sock.close()
            raise self._oserror(exc) from None
        except BaseException:
            sock.close()
            raise
        sock.close()
        try:
            _status, reason, answer = parse_response(head + b"".join(rest))
        except ValueError:
            raise self._failed() from None
        raise daemon_error(status, _explanation(answer, reason or _REASONS.get(status, "")))

    def _headers(self, sock: socket.socket) -> bytes:
        """The answer's status line and headers up to the blank line, taken off `sock`:
        each read peeks first and takes no more than the headers' bytes."""
        head = b""
        while True:
            peek = sock.recv(1 << 16, socket.MSG_PEEK)
            if not peek:
                raise unreachable(self.host, "no answer") if not head else self._failed()
            end = (head + peek).find(b"\r\n\r\n")
            want = len(peek) if end < 0 else end + 4 - len(head)
            while want > 0:
                data = sock.recv(want)
                if not data:
                    raise self._failed()
                head += data
                want -= len(data)
            if end >= 0:
                return head
            if len(head) > 1 << 16:
                raise self._failed()
