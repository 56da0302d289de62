"""A token issuer for Docker's bearer-token flow, enough for distribution 2.8.

    GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]
    -> {"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": ...}

Like Docker Hub: anonymous requests get `pull` on public repositories and
nothing else (the token is still issued, the registry then refuses it);
valid basic-auth credentials get every action asked for; wrong credentials
get 401. Tokens are RS256 JWTs whose header carries the signing certificate
in `x5c`; that certificate is the registry's `rootcertbundle`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from rig.certs import self_signed_rsa
from tuidock.demo.registry import TokenAuth

# DER DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _der_sequence_ints(der: bytes) -> list[int]:
    """The INTEGERs of a DER SEQUENCE (enough for a PKCS#1 RSAPrivateKey)."""

    def length(pos: int) -> tuple[int, int]:
        first = der[pos]
        if first < 0x80:
            return first, pos + 1
        count = first & 0x7F
        return int.from_bytes(der[pos + 1 : pos + 1 + count], "big"), pos + 1 + count

    if der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    _, pos = length(1)
    ints = []
    while pos < len(der):
        tag = der[pos]
        size, pos = length(pos + 1)
        if tag == 0x02:
            ints.append(int.from_bytes(der[pos : pos + size], "big"))
        pos += size
    return ints


class RS256Signer:
    """PKCS#1 v1.5 SHA-256 signatures from an RSA key, without a crypto library.

    The venv has no `cryptography`; the arithmetic is short and openssl only
    has to convert the key once.
    """

    def __init__(self, key_pem: Path) -> None:
        der = subprocess.run(
            ["openssl", "rsa", "-in", str(key_pem), "-outform", "DER", "-traditional"],
            capture_output=True,
            check=True,
        ).stdout
        _version, self.n, self.e, self.d, *_ = _der_sequence_ints(der)
        self.size = (self.n.bit_length() + 7) // 8

    def _encoded(self, message: bytes) -> int:
        digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        padding = b"\xff" * (self.size - len(digest_info) - 3)
        return int.from_bytes(b"\x00\x01" + padding + b"\x00" + digest_info, "big")

    def sign(self, message: bytes) -> bytes:
        return pow(self._encoded(message), self.d, self.n).to_bytes(self.size, "big")


def parse_scopes(values: Iterable[str]) -> list[tuple[str, str, list[str]]]:
    """`repository:a/b:pull,push` -> ("repository", "a/b", ["pull", "push"]).

    Each `scope` parameter may hold several scopes separated by spaces.
    """
    scopes = []
    for value in values:
        for scope in value.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name:
                scopes.append((kind, name, [a for a in actions.split(",") if a]))
    return scopes


@dataclass
class TokenRequest:
    """One request the issuer answered, for tests to inspect."""

    method: str
    path: str
    account: str | None
    service: str | None
    scopes: list[str]
    status: int
    granted: list[dict[str, Any]] = field(default_factory=list)


class TokenServer:
    """The issuer, on 127.0.0.1 at a free port, in a thread of this process."""

    def __init__(
        self,
        workdir: Path,
        *,
        service: str = "tuidock-test-registry",
        issuer: str = "tuidock-test-issuer",
        users: Mapping[str, str] | None = None,
        public_repos: Iterable[str] = (),
        expires_in: int | None = 300,
        response_keys: tuple[str, ...] = ("token", "access_token"),
    ) -> None:
        self.workdir = workdir
        self.service = service
        self.issuer = issuer
        self.users = dict(users or {})
        self.public_repos = set(public_repos)
        # Mutable on purpose: tests may drop `expires_in` or one of the keys.
        self.expires_in = expires_in
        self.response_keys = response_keys
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.cert_path, self.key_path = self_signed_rsa(workdir, "token-signer", issuer)
        self._signer = RS256Signer(self.key_path)
        pem_body = "".join(
            line
            for line in self.cert_path.read_text().splitlines()
            if line and not line.startswith("-----")
        )
        # x5c takes standard base64 DER, which is exactly the PEM body.
        self._x5c = [pem_body]

    # --- tokens ----------------------------------------------------------------

    def issue(
        self,
        account: str | None,
        access: list[dict[str, Any]],
        *,
        lifetime: int = 300,
        now: float | None = None,
    ) -> str:
        """A signed token; tests may mint expired (`now` in the past) or foreign-scope ones."""
        issued = int(time.time() if now is None else now)
        header = {"typ": "JWT", "alg": "RS256", "x5c": self._x5c}
        claims = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": issued + lifetime,
            "nbf": issued,
            "iat": issued,
            "jti": secrets.token_hex(12),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self._signer.sign(signing_input.encode())
        return signing_input + "." + _b64url(signature)

    def grant(self, account: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        access = []
        for kind, name, actions in parse_scopes(scopes):
            if account is not None:
                allowed = actions
            elif kind == "repository" and name in self.public_repos:
                allowed = [a for a in actions if a == "pull"]
            else:
                allowed = []
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        return access

    def _authenticate(self, header: str | None) -> tuple[bool, str | None]:
        """(credentials acceptable, account); no header = anonymous."""
        if not header:
            return True, None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False, None
        if self.users.get(user) == password and user:
            return True, user
        return False, None

    def _answer(self, account: str | None, scopes: list[str]) -> dict[str, Any]:
        token = self.issue(account, self.grant(account, scopes), lifetime=self.expires_in or 60)
        body: dict[str, Any] = {key: token for key in self.response_keys}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        body["issued_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return body

    # --- bookkeeping -----------------------------------------------------------

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # --- server ----------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("token server not started")
        return int(self._server.server_address[1])

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def auth(self) -> TokenAuth:
        """What the registry's `auth.token` section needs."""
        return TokenAuth(
            realm=self.realm,
            service=self.service,
            issuer=self.issuer,
            rootcertbundle=self.cert_path,
        )

    def start(self) -> TokenServer:
        if self._server is not None:
            return self
        # Port 0 on a bound socket: no race, the kernel picks and keeps it.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=f"tokenserver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _handler_for(issuer: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read `issuer.requests` instead

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="tuidock-token"')
            self.end_headers()
            self.wfile.write(raw)

        def _serve(self, service: str | None, scopes: list[str], auth: str | None) -> None:
            ok, account = issuer._authenticate(auth)
            record = TokenRequest(
                self.command, self.path, account, service, scopes, 401 if not ok else 200
            )
            if not ok:
                issuer._record(record)
                self._send(401, {"details": "incorrect username or password"})
                return
            body = issuer._answer(account, scopes)
            record.granted = issuer.grant(account, scopes)
            issuer._record(record)
            self._send(200, body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self._send(404, {"details": "not found"})
                return
            query = urllib.parse.parse_qs(url.query)
            self._serve(
                query.get("service", [None])[0],
                query.get("scope", []),
                self.headers.get("Authorization"),
            )

        def do_POST(self) -> None:
            # OAuth2 password grant, which Docker clients use with identity tokens.
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            if url.path != "/token" or form.get("grant_type") != ["password"]:
                self._send(400, {"details": "unsupported grant"})
                return
            user = form.get("username", [""])[0]
            password = form.get("password", [""])[0]
            basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            self._serve(form.get("service", [None])[0], form.get("scope", []), basic)

    return Handler
