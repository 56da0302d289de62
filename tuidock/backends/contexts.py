"""Contexts: named endpoints the user created, and the engines found without configuration.

The store is one JSON file per context under the config dir
(`<config>/contexts/NAME.json`: name, description, host, TLS file paths) and
the current context's name in `<config>/current-context`. `local`, tuidock's
own engine, is built in: never stored, never removable, the default.

Discovery adds, read-only, what a user of Docker or Podman already has:

- `docker`: $DOCKER_HOST, else the local Docker socket /var/run/docker.sock;
- `podman`: the rootful service socket /run/podman/podman.sock;
- `podman-rootless`: $XDG_RUNTIME_DIR/podman/podman.sock;
- `docker:NAME`: each Docker CLI context ($DOCKER_CONFIG, else ~/.docker,
  `contexts/meta/*/meta.json`) with its TLS files when it has some. The colon
  keeps these names apart from created ones (docker's name rule has none).

A created context of the same name hides a discovered one. Sockets are listed
only when they exist (a host without Podman has no `podman` row), but are
still resolved by name, so `--context podman` says what is missing.

Reachability is one `GET /_ping` with a short timeout over a raw socket
(unix, or tcp with TLS through the ssl module): no HTTP library is loaded, so
`context ls` stays as fast as the other listings. ssh:// hosts are not
probed (that would start ssh for each): their reachability is unknown.

Resolution follows the docker CLI: --host, then --context, then
$TUIDOCK_HOST, then $TUIDOCK_CONTEXT, then the current context, then `local`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tuidock.backends.endpoint import (
    CONTEXT_ENV,
    CURRENT_FILE,
    HOST_ENV,
    LOCAL,
    Endpoint,
    TLSConfig,
    parse_host,
)
from tuidock.core.userfiles import DOCUMENT_MAX, UserFileError, read_user_text
from tuidock.errors import Conflict, NotFound, TuidockError, UsageError

if TYPE_CHECKING:
    import socket

PROBE_TIMEOUT = 0.5  # seconds for a /_ping: a local socket answers in a millisecond

# docker's rule for context names (cli/context/store), quoted in its error.
NAME_RE = r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"

# Where each context comes from: created by the user, or found (read-only).
BUILTIN, CREATED, SOCKET, DOCKER_CLI = "builtin", "created", "socket", "docker-cli"

DOCKER_SOCKET = "/var/run/docker.sock"
PODMAN_SOCKET = "/run/podman/podman.sock"

_PING = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: tuidock\r\nConnection: close\r\n\r\n"
_PEM_MAX = 1 << 20


@dataclass(frozen=True)
class Context:
    """One row of `context ls`: a name, its endpoint, where it comes from."""

    name: str
    endpoint: Endpoint
    description: str = ""
    source: str = CREATED
    path: str = ""  # the file it was read from; "" for the built-in and sockets
    error: str = ""  # why it cannot be used (a broken file), "" when it can
    present: bool = True  # a discovered socket that exists (else resolvable, not listed)
    # After probe(): True reachable, False not (see `reason`), None not checked (ssh).
    reachable: bool | None = None
    reason: str = field(default="", compare=False)

    @property
    def discovered(self) -> bool:
        return self.source in (SOCKET, DOCKER_CLI)


BUILTIN_CONTEXT = Context(LOCAL, Endpoint(), "tuidock's own engine", BUILTIN)


# -- reachability -------------------------------------------------------------------------------


def ping(endpoint: Endpoint, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when the engine answers `GET /_ping` with 200, else why not in a few words.

    The embedded engine is always there; ssh:// is not probed ("not checked").
    """
    if endpoint.is_local:
        return None
    import socket

    scheme, rest = endpoint.host.split("://", 1)
    if scheme == "ssh":
        return "not checked (ssh)"
    try:
        if scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(rest)
            except BaseException:
                sock.close()
                raise
        else:
            host, _, port = rest.rpartition(":")
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
            if endpoint.tls is not None:
                sock = _wrap_tls(sock, host.strip("[]"), endpoint.tls)
        with sock:
            sock.sendall(_PING)
            status = sock.recv(64).split(b"\r\n", 1)[0]
    except FileNotFoundError:
        return "no such socket"
    except PermissionError:
        return "permission denied"
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:  # ssl.SSLError is one
        return _os_reason(exc)
    parts = status.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        return "not a Docker API (no HTTP answer to /_ping)"
    if parts[1] != b"200":
        return f"not a Docker API (/_ping answered {parts[1].decode(errors='replace')})"
    return None


def _os_reason(exc: OSError) -> str:
    reason = getattr(exc, "reason", None)  # ssl.SSLError: "CERTIFICATE_VERIFY_FAILED"
    if reason:
        return f"TLS: {str(reason).lower().replace('_', ' ')}"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def _wrap_tls(sock: socket.socket, host: str, tls: TLSConfig) -> socket.socket:
    import ssl

    try:
        ctx = (
            ssl.create_default_context(cafile=tls.ca)
            if tls.verify
            else ssl._create_unverified_context()
        )
        if tls.cert:
            ctx.load_cert_chain(tls.cert, tls.key)
        return ctx.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


def probe(contexts: Iterable[Context], timeout: float = PROBE_TIMEOUT) -> list[Context]:
    """`contexts` with `reachable`/`reason` set; the pings run side by side."""
    items = list(contexts)

    def one(ctx: Context) -> Context:
        if ctx.error:
            return replace(ctx, reachable=False, reason=ctx.error)
        why = ping(ctx.endpoint, timeout)
        if why is None:
            return replace(ctx, reachable=True)
        return replace(ctx, reachable=None if why.startswith("not checked") else False, reason=why)

    if len(items) <= 1:
        return [one(c) for c in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        return list(pool.map(one, items))


# -- discovery ----------------------------------------------------------------------------------


def docker_config_dir() -> Path:
    env = os.environ.get("DOCKER_CONFIG")
    return Path(env) if env else Path.home() / ".docker"


def _socket_context(name: str, host: str, description: str) -> Context:
    path = host.removeprefix("unix://")
    return Context(
        name,
        Endpoint(name, host),
        description,
        SOCKET,
        present=not host.startswith("unix://") or os.path.exists(path),
    )


def discover_sockets() -> list[Context]:
    """The local Docker socket ($DOCKER_HOST first) and the two Podman sockets."""
    found: list[Context] = []
    docker_host = os.environ.get("DOCKER_HOST", "").strip()
    if docker_host:
        try:
            host = parse_host(docker_host, tls=bool(os.environ.get("DOCKER_TLS_VERIFY")))
        except UsageError as exc:
            found.append(
                Context(
                    "docker",
                    Endpoint("docker", ""),
                    "Docker ($DOCKER_HOST)",
                    SOCKET,
                    error=f"$DOCKER_HOST: {exc.message}",
                )
            )
        else:
            found.append(_socket_context("docker", host, "Docker ($DOCKER_HOST)"))
    else:
        found.append(_socket_context("docker", f"unix://{DOCKER_SOCKET}", "Docker socket"))
    found.append(_socket_context("podman", f"unix://{PODMAN_SOCKET}", "Podman service (rootful)"))
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    found.append(
        _socket_context(
            "podman-rootless",
            f"unix://{runtime}/podman/podman.sock",
            "Podman service (rootless)",
        )
    )
    return found


def discover_docker_cli() -> list[Context]:
    """The Docker CLI's own contexts, read-only; a broken one is listed with its error."""
    import hashlib

    base = docker_config_dir() / "contexts"
    try:
        metas = sorted((base / "meta").glob("*/meta.json"))
    except OSError:
        return []
    found = []
    for meta in metas:
        try:
            doc = _read_json(meta, "Docker CLI context")
            name = doc.get("Name")
            if not isinstance(name, str) or not name:
                raise UserFileError(f'Docker CLI context "{meta}" has no Name', None)
            docker = (doc.get("Endpoints") or {}).get("docker") or {}
            meta_desc = (doc.get("Metadata") or {}).get("Description", "")
            tls_dir = base / "tls" / hashlib.sha256(name.encode()).hexdigest() / "docker"
            files = {f: str(tls_dir / f"{f}.pem") for f in ("ca", "cert", "key")}
            files = {f: p for f, p in files.items() if os.path.isfile(p)}
            skip = bool(docker.get("SkipTLSVerify"))
            tls = TLSConfig(not skip, files.get("ca"), files.get("cert"), files.get("key"))
            host_text = docker.get("Host") or ""
            if not isinstance(host_text, str) or not host_text:
                raise UserFileError(f'Docker CLI context "{meta}": no docker endpoint host', None)
            use_tls = bool(files) or skip
            host = parse_host(host_text, tls=use_tls)
        except (TuidockError, OSError) as exc:
            label = f"docker:{meta.parent.name[:12]}"
            error = (
                exc.message
                if isinstance(exc, TuidockError)
                else f"reading {meta}: {_os_reason(exc)}"
            )
            found.append(
                Context(
                    label,
                    Endpoint(label, ""),
                    "Docker CLI context",
                    DOCKER_CLI,
                    str(meta),
                    error=error,
                )
            )
            continue
        full = f"docker:{name}"
        tls_cfg = tls if host.startswith("tcp://") and use_tls else None
        found.append(
            Context(
                full,
                Endpoint(full, host, tls_cfg),
                str(meta_desc or "Docker CLI context"),
                DOCKER_CLI,
                str(meta),
            )
        )
    return found


def _read_json(path: Path, what: str) -> dict:
    text = read_user_text(str(path), what, DOCUMENT_MAX)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise UserFileError(f'parsing {what} "{path}": {exc}', "Fix or remove the file.") from None
    if not isinstance(doc, dict):
        raise UserFileError(
            f'parsing {what} "{path}": not a JSON object', "Fix or remove the file."
        )
    return doc


# -- the store ----------------------------------------------------------------------------------


def check_name(name: str) -> None:
    if name == LOCAL:
        raise UsageError(
            f'"{LOCAL}" is a reserved context name', "Choose another name for the context."
        )
    if not re.match(NAME_RE, name):
        raise UsageError(
            f'context name "{name}" is invalid, names are validated against regexp "{NAME_RE}"'
        )


def tls_from_files(
    verify: bool, ca: str | None, cert: str | None, key: str | None
) -> TLSConfig | None:
    """A TLSConfig from the CLI's flags (None: plain TCP); each file must be a readable PEM."""
    if not (verify or ca or cert or key):
        return None
    if bool(cert) != bool(key):
        raise UsageError("--tlscert and --tlskey go together", "Give both, or neither.")
    paths = {}
    for what, path in (("CA certificate", ca), ("certificate", cert), ("key", key)):
        if not path:
            continue
        full = os.path.abspath(os.path.expanduser(path))
        try:
            text = read_user_text(full, f"TLS {what}", _PEM_MAX)
        except OSError as exc:
            raise UsageError(
                f"cannot read TLS {what} {full}: {_os_reason(exc)}", "Give a readable PEM file."
            ) from None
        if "-----BEGIN " not in text:
            raise UsageError(f"TLS {what} {full} is not a PEM file", "Give a PEM file.")
        paths[what] = full
    return TLSConfig(
        verify, paths.get("CA certificate"), paths.get("certificate"), paths.get("key")
    )


class ContextStore:
    """The created contexts and the current one, under `config_dir`."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.dir = config_dir / "contexts"
        self.current_file = config_dir / CURRENT_FILE

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    # -- reading --

    def created(self) -> list[Context]:
        try:
            files = sorted(self.dir.glob("*.json"))
        except OSError:
            return []
        out = []
        for path in files:
            try:
                out.append(self._load(path))
            except TuidockError as exc:
                name = path.stem
                out.append(Context(name, Endpoint(name, ""), "", CREATED, str(path), exc.message))
        return out

    def _load(self, path: Path) -> Context:
        try:
            doc = _read_json(path, "context file")
        except OSError as exc:
            raise UsageError(
                f"reading context file {path}: {_os_reason(exc)}",
                "Fix its permissions or remove it.",
            ) from None
        name = path.stem
        host = doc.get("Host")
        if not isinstance(host, str) or not host:
            raise UsageError(f'context file "{path}": no "Host"', "Fix or remove the file.")
        tls_doc = doc.get("TLS")
        tls = None
        try:
            if isinstance(tls_doc, dict):
                tls = TLSConfig(
                    bool(tls_doc.get("Verify", True)),
                    tls_doc.get("CA") or None,
                    tls_doc.get("Cert") or None,
                    tls_doc.get("Key") or None,
                )
            host = parse_host(host, tls=tls is not None)
        except UsageError as exc:
            raise UsageError(
                f'context file "{path}": {exc.message}', "Fix or remove the file."
            ) from None
        return Context(
            name, Endpoint(name, host, tls), str(doc.get("Description") or ""), CREATED, str(path)
        )

    def current_name(self) -> str:
        """The name `context use` recorded, else `local`."""
        try:
            text = read_user_text(str(self.current_file), "current context file", 4096)
        except FileNotFoundError:
            return LOCAL
        except OSError as exc:
            raise UsageError(
                f"reading {self.current_file}: {_os_reason(exc)}",
                "Fix its permissions or remove it.",
            ) from None
        return text.strip() or LOCAL

    def all(self, listed_only: bool = True) -> list[Context]:
        """local, the created contexts, then the discovered ones not hidden by a created one."""
        builtin = BUILTIN_CONTEXT
        created = self.created()
        names = {c.name for c in created} | {LOCAL}
        found = [c for c in discover_sockets() + discover_docker_cli() if c.name not in names]
        if listed_only:
            found = [c for c in found if c.present]
        return [builtin, *created, *found]

    def get(self, name: str) -> Context:
        """The context called `name`; NotFound, or the error of a broken one."""
        if name == LOCAL:
            return BUILTIN_CONTEXT
        path = self.path(name)
        if re.match(NAME_RE, name) and path.exists():
            return self._load(path)
        for ctx in self.all(listed_only=False):
            if ctx.name == name:
                if ctx.error:
                    raise UsageError(f'context "{name}": {ctx.error}', "Fix or remove the file.")
                return ctx
        raise NotFound(
            f'context "{name}" does not exist',
            "See 'tuidock context ls' for the contexts there are.",
        )

    # -- writing (atomic: a failed write leaves the old file or none) --

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def create(
        self, name: str, host: str, description: str = "", tls: TLSConfig | None = None
    ) -> Context:
        check_name(name)
        host = parse_host(host, tls=tls is not None)
        if not host.startswith("tcp://"):
            tls = None
        path = self.path(name)
        if path.exists():
            raise Conflict(
                f'context "{name}" already exists', "Remove it first, or choose another name."
            )
        doc: dict[str, object] = {"Name": name, "Description": description, "Host": host}
        if tls is not None:
            doc["TLS"] = {"Verify": tls.verify, "CA": tls.ca, "Cert": tls.cert, "Key": tls.key}
        self._write(path, json.dumps(doc, indent=2) + "\n")
        return Context(name, Endpoint(name, host, tls), description, CREATED, str(path))

    def use(self, name: str) -> Context:
        ctx = self.get(name)
        if ctx.name == LOCAL:
            self.current_file.unlink(missing_ok=True)
        else:
            self._write(self.current_file, ctx.name + "\n")
        return ctx

    def remove(self, name: str, force: bool = False) -> None:
        if name == LOCAL:
            raise Conflict(f'context "{LOCAL}" cannot be removed', "It is tuidock's own engine.")
        path = self.path(name)
        if not (re.match(NAME_RE, name) and path.exists()):
            ctx = None
            try:
                ctx = self.get(name)
            except TuidockError:
                pass
            if ctx is not None and ctx.discovered:
                raise Conflict(
                    f'context "{name}" is discovered, not created: nothing to remove',
                    "Discovered contexts are read-only.",
                )
            raise NotFound(f'context "{name}" does not exist')
        current = self.current_name()
        if name == current and not force:
            raise Conflict(f'context "{name}" is in use, set -f flag to force remove')
        path.unlink()
        if name == current:
            self.current_file.unlink(missing_ok=True)


# -- resolution ---------------------------------------------------------------------------------


def resolve(
    config_dir: Path,
    host: str | None = None,
    context: str | None = None,
    tls: TLSConfig | None = None,
    env: dict[str, str] | os._Environ[str] | None = None,
) -> Endpoint:
    """The endpoint a command talks to, in the docker CLI's order (see the module doc)."""
    env = os.environ if env is None else env
    if host and context:
        raise UsageError(
            "conflicting options: either specify --host or --context, not both",
            "Give one of them.",
        )
    if host:
        return _host_endpoint(host, tls, "-H/--host")
    if context:
        return ContextStore(config_dir).get(context).endpoint
    env_host = env.get(HOST_ENV, "").strip()
    if env_host:
        return _host_endpoint(env_host, tls, f"${HOST_ENV}")
    env_ctx = env.get(CONTEXT_ENV, "").strip()
    store = ContextStore(config_dir)
    if env_ctx:
        try:
            return store.get(env_ctx).endpoint
        except NotFound as exc:
            raise NotFound(f"${CONTEXT_ENV}: {exc.message}", exc.hint) from None
    name = store.current_name()
    if name == LOCAL:
        return Endpoint()
    try:
        return store.get(name).endpoint
    except NotFound:
        raise NotFound(
            f'current context "{name}" does not exist',
            "Choose another with 'tuidock context use NAME' (or 'use local').",
        ) from None


def _host_endpoint(host: str, tls: TLSConfig | None, where: str) -> Endpoint:
    try:
        url = parse_host(host, tls=tls is not None)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", exc.hint) from None
    return Endpoint(url, url, tls if url.startswith("tcp://") else None)


def current_context_name(
    config_dir: Path,
    context: str | None = None,
    env: dict[str, str] | os._Environ[str] | None = None,
) -> str:
    """What `context show` prints and `context ls` stars: --context, $TUIDOCK_CONTEXT, current."""
    env = os.environ if env is None else env
    return context or env.get(CONTEXT_ENV, "").strip() or ContextStore(config_dir).current_name()
