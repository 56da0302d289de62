"""A read-only Engine API client over a unix socket: one GET, one JSON answer, no SDK.

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

Callers: cli/remote/__init__.py (dispatch) for the handlers marked get-only
(cli/remote/_shared.py). Cost: one connect and one request per `get`.
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


def _quote(value: str) -> str:
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in value)


def query_string(query: dict[str, object]) -> str:
    """`a=1&b=x`, None values left out, as requests encodes the SDK's params."""
    return "&".join(f"{_quote(k)}={_quote(str(v))}" for k, v in query.items() if v is not None)


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

    def get(self, path: str, query: dict[str, object] | None = None) -> object:
        target = path + ("?" + query_string(query) if query else "")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: tuidock\r\n"
            "Accept: application/json\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            raw = self._exchange(request)
        except TimeoutError:
            raise TuidockError(f"the Docker engine at {self.host} failed: no answer") from None
        except OSError as exc:
            raise unreachable(self.host, (exc.strerror or str(exc)).lower()) from None
        if not raw:  # accepted, then closed without a word
            raise unreachable(self.host, "no answer")
        try:
            status, reason, body = parse_response(raw)
        except ValueError:
            raise TuidockError(
                f"the Docker engine at {self.host} failed: not an Engine API answer"
            ) from None
        if status >= 400:
            raise daemon_error(status, _explanation(body, reason or _REASONS.get(status, "")))
        try:
            return json.loads(body)
        except ValueError:
            raise TuidockError(
                f"the Docker engine at {self.host} failed: not an Engine API answer"
            ) from None
