"""One repository on one registry endpoint, over the OCI distribution API.

Authentication is negotiated from the 401 challenge (Bearer tokens, anonymous
or with credentials, or Basic), redirects are followed by hand so that the
Authorization header never travels to another host, and 429 answers are
retried after their Retry-After. A host that does not answer is reported
in a few words (failure_text: refused, no such name, timed out, certificate
not trusted), never with the HTTP libraries' own text.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from tuidock.core import mediatypes as mt
from tuidock.core.digest import sha256_digest, verify_bytes
from tuidock.errors import (
    AuthError,
    DigestMismatch,
    NotFound,
    RegistryError,
    TooLarge,
    Unreachable,
    UnsupportedManifest,
)
from tuidock.runtime.image.registry import auth
from tuidock.runtime.image.registry.config import DOCKER_HUB_API, Endpoint, is_loopback

MAX_MANIFEST_BYTES = 4 << 20
MAX_REDIRECTS = 5
MAX_429_RETRIES = 5
MAX_RETRY_AFTER = 60.0
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
USER_AGENT = "tuidock/0.1 (+requests)"
SEND_BLOCK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str

    def json(self) -> dict:
        try:
            doc = json.loads(self.data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UnsupportedManifest(
                f"the registry sent a manifest that is not JSON: {exc}"
            ) from None
        if not isinstance(doc, dict):
            raise UnsupportedManifest("the registry sent a manifest that is not a JSON object")
        return doc


def detect_media_type(header: str | None, data: bytes) -> str:
    """The manifest's type from Content-Type, else from the document itself."""
    ctype = (header or "").split(";", 1)[0].strip().lower()
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict) and doc.get("schemaVersion") == 1:
        ctype = mt.DOCKER_SCHEMA1
    if ctype in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED):
        raise UnsupportedManifest(
            "unsupported manifest schema 1 (Docker's pre-2017 format)",
            "Ask the image's publisher to push it again with a current Docker or Podman.",
        )
    if ctype in mt.INDEX_TYPES or ctype in mt.MANIFEST_TYPES:
        return ctype
    if isinstance(doc, dict):
        declared = doc.get("mediaType")
        if declared in mt.INDEX_TYPES or declared in mt.MANIFEST_TYPES:
            return declared
        if "manifests" in doc:
            return mt.OCI_INDEX
        if "layers" in doc and "config" in doc:
            return mt.OCI_MANIFEST
    raise UnsupportedManifest(f"unsupported manifest type {ctype or 'unknown'!r}")


def _read_capped(resp: requests.Response, limit: int, what: str) -> bytes:
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        resp.close()
        raise TooLarge(f"{what} is {int(length)} bytes, over the {limit >> 20} MiB limit")
    buf = bytearray()
    try:
        for chunk in resp.iter_content(65536):
            buf += chunk
            if len(buf) > limit:
                resp.close()
                raise TooLarge(f"{what} is over the {limit >> 20} MiB limit")
    except requests.exceptions.RequestException as exc:
        resp.close()
        host = urlsplit(resp.url).netloc
        raise Unreachable(
            f"the {what} from {host} was cut off: {failure_text(exc)}",
            "Try again; check the network if it keeps happening.",
            host,
            failure_text(exc),
        ) from None
    return bytes(buf)


def _retry_after(resp: requests.Response) -> float:
    value = resp.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    with contextlib.suppress(Exception):
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    return 1.0


def _same_origin(a: str, b: str) -> bool:
    sa, sb = urlsplit(a), urlsplit(b)
    return (sa.scheme, sa.hostname, sa.port) == (sb.scheme, sb.hostname, sb.port)


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: requests wraps urllib3, which wraps the socket error."""
    out: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is seen for seen in out):
            continue
        out.append(e)
        todo += [*e.args, getattr(e, "reason", None), e.__cause__, e.__context__]
    return out


def failure_text(exc: BaseException) -> str:
    """Why a connection to a registry failed, in a few words (no library's text)."""
    causes = _causes(exc)

    def has(*kinds: type) -> bool:
        return any(isinstance(e, kinds) for e in causes)

    if has(socket.gaierror):
        return "name does not resolve"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(ssl.SSLCertVerificationError):
        return "TLS certificate not trusted"
    if has(requests.exceptions.ConnectTimeout):
        return f"no connection after {CONNECT_TIMEOUT:g} s"
    if has(requests.exceptions.Timeout, TimeoutError, socket.timeout):
        return f"timed out after {READ_TIMEOUT:g} s"
    if has(ssl.SSLError, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if has(ConnectionResetError):
        return "connection reset"
    if has(ConnectionAbortedError, BrokenPipeError, requests.exceptions.ChunkedEncodingError):
        return "connection closed mid-answer"
    for e in causes:
        if isinstance(e, OSError) and e.errno:
            return os.strerror(e.errno).lower()
    if has(requests.exceptions.ConnectionError):
        return "connection closed without an answer"
    return "connection failed"


def registry_name(host: str) -> str:
    """How a message names a registry host: Docker Hub by its name."""
    return f"Docker Hub ({host})" if host == DOCKER_HUB_API else host


class _BigBlockAdapter(requests.adapters.HTTPAdapter):
    """Sends request bodies (pushed blobs) in 1 MiB writes instead of urllib3's 16 KiB."""

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs["blocksize"] = SEND_BLOCK
        super().init_poolmanager(*args, **kwargs)


class RegistryClient:
    def __init__(
        self,
        endpoint: Endpoint,
        repository: str,
        domain: str,
        credentials: tuple[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.repository = repository
        self.domain = domain
        self.credentials = credentials
        self.sleep = sleep
        self.session = requests.Session()
        # No .netrc credentials or proxies for loopback registries behind our back.
        self.session.trust_env = False
        self.session.headers["User-Agent"] = USER_AGENT
        for scheme in ("http://", "https://"):
            self.session.mount(scheme, _BigBlockAdapter())
        self.verify: bool | str = endpoint.ca_file or True
        self._base: str | None = None
        self._authorization: str | None = None
        self._token: auth.Token | None = None
        self._challenge: auth.Challenge | None = None
        # What the token must allow: "pull", or "pull,push" for a push; extra
        # scopes name the source repositories of cross-repository mounts.
        self.actions = "pull"
        self.extra_scopes: list[str] = []
        self._auth_lock = threading.Lock()
        self._base_lock = threading.Lock()

    # -- connection -------------------------------------------------------

    def _proxies(self, url: str) -> dict[str, str]:
        host = urlsplit(url).netloc
        if is_loopback(host):
            return {}
        return requests.utils.get_environ_proxies(url)

    def base_url(self) -> str:
        """https://host, or http://host for insecure registries that do not speak TLS."""
        with self._base_lock:  # uploads run in threads: probe once, for all of them
            if self._base is None:
                host = self.endpoint.host
                base = f"https://{host}"
                if self.endpoint.insecure:
                    # Docker's rule for insecure registries: TLS without verification
                    # if the registry speaks it, plain HTTP otherwise.
                    try:
                        self._send("GET", f"{base}/v2/", verify=self.endpoint.ca_file or False)
                        self.verify = self.endpoint.ca_file or False
                    except requests.exceptions.ConnectTimeout as exc:
                        raise self._unreachable(exc) from None
                    except requests.exceptions.ConnectionError:
                        base = f"http://{host}"
                    except requests.exceptions.RequestException as exc:
                        # A TLS handshake left unanswered: a plain-HTTP server answers it.
                        raise self._unreachable(exc) from None
                self._base = base
            return self._base

    def _send(
        self, method: str, url: str, verify: bool | str | None = None, **kw
    ) -> requests.Response:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.session.request(
                method,
                url,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                verify=self.verify if verify is None else verify,
                proxies=self._proxies(url),
                allow_redirects=False,
                **kw,
            )

    def _unreachable(self, exc: Exception) -> Unreachable:
        host = self.endpoint.host
        reason = failure_text(exc)
        if reason == "TLS certificate not trusted":
            return Unreachable(
                f"TLS connection to {host} failed: {reason}",
                f'Set ca_file for [registries."{host}"] in registries.toml to the registry\'s CA '
                "certificate (or insecure = true to skip verification).",
                host,
                reason,
            )
        if self.endpoint.mirror:
            return Unreachable(
                f"the {self.domain} mirror at {host} did not answer: {reason}",
                "Start the mirror again, or remove it from registries.toml.",
                host,
                reason,
            )
        return Unreachable(
            f"cannot reach registry {registry_name(host)}: {reason}",
            self._unreachable_hint(reason),
            host,
            reason,
        )

    def _unreachable_hint(self, reason: str) -> str:
        """Advice that fits the registry. Loopback registries are insecure by
        default, so "set insecure" is said only to one that is not insecure."""
        host = self.endpoint.host
        if (
            reason == "TLS handshake failed"
            and host != DOCKER_HUB_API
            and not self.endpoint.insecure
        ):
            return (
                "For a plain-HTTP registry set insecure = true for "
                f'[registries."{host}"] in registries.toml.'
            )
        if is_loopback(host):
            if reason == "connection refused":
                return f"Nothing listens at {host}: start the registry there, or fix the port."
            return f"Check the registry running at {host}."
        return "Check the registry address and your network."

    # -- authentication --------------------------------------------------

    def _scope(self) -> str:
        return f"repository:{self.repository}:{self.actions}"

    def _token_scopes(self, challenge: auth.Challenge) -> str | list[str]:
        own = self._scope()
        asked = (challenge.params.get("scope") or "").split()
        if not self.extra_scopes and self.actions == "pull":
            return challenge.params.get("scope") if own in asked else own  # type: ignore[return-value]
        # Several scopes go as repeated `scope` parameters, as Docker sends them.
        wanted = [own, *self.extra_scopes]
        return wanted + [s for s in asked if s not in wanted and s.startswith("repository:")]

    def _fetch_token(self, challenge: auth.Challenge) -> None:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError(
                f"registry {self.endpoint.host} sent a Bearer challenge without a realm"
            )
        params = {}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        if self.repository:
            params["scope"] = self._token_scopes(challenge)  # type: ignore[assignment]
        kw: dict = {"params": params}
        if self.credentials:
            kw["auth"] = self.credentials
        try:
            resp = self._send("GET", realm, **kw)
        except requests.exceptions.RequestException as exc:
            raise AuthError(
                f"cannot reach the token service {urlsplit(realm).netloc}: {failure_text(exc)}",
                "Check your network, then try again.",
            ) from None
        if resp.status_code in (401, 403):
            raise AuthError(
                f"{self.domain}: authentication failed for {self.repository}",
                f"Check the user name and password (`tuidock login {self.domain}`).",
            )
        if resp.status_code != 200:
            raise AuthError(f"token service {realm} answered HTTP {resp.status_code}")
        try:
            self._token = auth.token_from_response(resp.json())
        except ValueError:
            raise AuthError(
                f"token service {realm} answered with something other than JSON"
            ) from None
        self._authorization = f"Bearer {self._token.value}"

    def _authenticate(self, resp: requests.Response) -> None:
        challenges = auth.parse_challenges(resp.headers.get("WWW-Authenticate", ""))
        by_scheme = {c.scheme: c for c in challenges}
        if "bearer" in by_scheme:
            self._challenge = by_scheme["bearer"]
            self._fetch_token(self._challenge)
        elif "basic" in by_scheme:
            if not self.credentials:
                raise AuthError(
                    f"{self.domain} requires authentication",
                    f"Log in first: tuidock login {self.domain}",
                )
            import base64

            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            self._authorization = f"Basic {token}"
        else:
            raise AuthError(f"{self.domain} answered 401 without a usable authentication challenge")

    # -- requests with auth, redirects and rate limits ---------------------

    def request(
        self,
        method: str,
        path: str,
        headers: dict | None = None,
        stream: bool = False,
        body: Callable[[], bytes | Iterable[bytes]] | None = None,
    ):
        """Send to the registry, authenticating and following redirects as needed.

        `path` is relative to the registry or an absolute URL (an upload's
        Location); `body` makes the request body afresh for every attempt.
        """
        base = self.base_url()
        url = path if path.startswith(("http://", "https://")) else base + path
        # Credentials go only to the registry itself, never to another host.
        origin = base
        attempts_401 = 0
        attempts_429 = 0
        redirects = 0
        while True:
            hdrs = dict(headers or {})
            if self._token is not None and not self._token.valid() and self._challenge:
                self._fetch_token(self._challenge)
            if self._authorization and _same_origin(url, origin):
                hdrs["Authorization"] = self._authorization
            try:
                sent_with = hdrs.get("Authorization")
                data = body() if body is not None else None
                resp = self._send(method, url, headers=hdrs, stream=stream, data=data)
            except requests.exceptions.RequestException as exc:
                raise self._unreachable(exc) from None
            if resp.status_code == 401 and _same_origin(url, origin) and attempts_401 < 2:
                # A second round covers a token that expired in the middle of a pull.
                attempts_401 += 1
                resp.close()
                with self._auth_lock:
                    # Parallel uploads share one token: only the first 401 fetches it.
                    if self._authorization == sent_with or attempts_401 > 1:
                        self._authenticate(resp)
                continue
            if resp.status_code == 429 and attempts_429 < MAX_429_RETRIES:
                attempts_429 += 1
                wait = _retry_after(resp)
                resp.close()
                if wait > MAX_RETRY_AFTER:
                    raise RegistryError(
                        f"{self.endpoint.host} is rate limiting: retry after {int(wait)} s",
                        "Wait and pull again, or log in for a higher limit.",
                    )
                self.sleep(wait)
                continue
            if resp.status_code in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise RegistryError(f"too many redirects from {self.endpoint.host}")
                url = urljoin(url, resp.headers["Location"])
                resp.close()
                continue
            break
        if resp.status_code == 401:
            raise AuthError(
                f"{self.domain}: access to {self.repository} denied",
                f"Log in with `tuidock login {self.domain}` or check the repository name.",
            )
        return resp

    def _error_text(self, resp: requests.Response) -> str:
        try:
            errors = resp.json().get("errors") or []
            return "; ".join(
                f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors
            )
        except Exception:
            return ""

    # -- API -----------------------------------------------------------------

    def ping(self) -> None:
        try:
            resp = self.request("GET", "/v2/")
        except AuthError:
            raise
        if resp.status_code != 200:
            raise RegistryError(
                f"{self.endpoint.host} does not speak the registry API (/v2/ answered "
                f"HTTP {resp.status_code})"
            )

    def login(self) -> None:
        """Check credentials as `docker login` does: /v2/ with them must answer 200.

        With Bearer auth this also asks the token service, with no scope, so
        wrong credentials fail here rather than at the first pull.
        """
        resp = self.request("GET", "/v2/")
        if resp.status_code != 200:
            raise AuthError(f"login to {self.domain} failed: HTTP {resp.status_code}")
        if self._challenge is not None and self._token is None:
            self._fetch_token(self._challenge)

    def get_manifest(self, reference: str) -> Manifest:
        resp = self.request(
            "GET",
            f"/v2/{self.repository}/manifests/{reference}",
            headers={"Accept": mt.ACCEPT},
            stream=True,
        )
        if resp.status_code == 404:
            resp.close()
            raise NotFound(
                f"manifest for {self.domain}/{self.repository}:{reference} not found: "
                "manifest unknown",
                "Check the image name and tag.",
            )
        if resp.status_code == 403:
            raise AuthError(f"{self.domain}: access to {self.repository} denied")
        if resp.status_code != 200:
            detail = self._error_text(resp)
            raise RegistryError(
                f"{self.endpoint.host} answered HTTP {resp.status_code} for the manifest of "
                f"{self.repository}:{reference}" + (f" ({detail})" if detail else "")
            )
        data = _read_capped(resp, MAX_MANIFEST_BYTES, "manifest")
        digest = sha256_digest(data)
        if reference.startswith("sha256:"):
            verify_bytes(data, reference, f"manifest {self.repository}")
        else:
            header = resp.headers.get("Docker-Content-Digest", "")
            if header.startswith("sha256:") and header != digest:
                raise DigestMismatch(
                    f"manifest of {self.repository}:{reference}: the registry says {header} "
                    f"but the content hashes to {digest}",
                    "The registry or a proxy altered the manifest; nothing was stored.",
                )
        media_type = detect_media_type(resp.headers.get("Content-Type"), data)
        return Manifest(data, media_type, digest)

    def get_small_blob(self, digest: str, what: str = "config") -> bytes:
        resp = self.request("GET", f"/v2/{self.repository}/blobs/{digest}", stream=True)
        if resp.status_code == 404:
            raise NotFound(f"{what} blob {digest} not found in {self.repository}")
        if resp.status_code != 200:
            raise RegistryError(
                f"{self.endpoint.host} answered HTTP {resp.status_code} for {what} {digest}"
            )
        data = _read_capped(resp, MAX_MANIFEST_BYTES, what)
        verify_bytes(data, digest, what)
        return data

    def open_blob(self, digest: str, offset: int = 0) -> tuple[requests.Response, int]:
        """Stream a blob from `offset`; returns the response and where it really starts."""
        # The digest covers the bytes as stored: no transfer compression on top.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        path = f"/v2/{self.repository}/blobs/{digest}"
        resp = self.request("GET", path, headers=headers, stream=True)
        if resp.status_code == 206 and offset:
            rng = resp.headers.get("Content-Range", "")
            if rng.startswith(f"bytes {offset}-"):
                return resp, offset
            resp.close()
            resp = self.request("GET", path, headers={"Accept-Encoding": "identity"}, stream=True)
        if resp.status_code == 200:
            return resp, 0
        if resp.status_code == 416 and offset:
            resp.close()
            return self.open_blob(digest, 0)
        if resp.status_code == 404:
            raise NotFound(f"layer {digest} not found in {self.repository}")
        raise RegistryError(
            f"{self.endpoint.host} answered HTTP {resp.status_code} for layer {digest[:19]}"
        )
