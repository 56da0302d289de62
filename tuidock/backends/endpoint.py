"""Endpoint: which engine a command or the UI talks to, and how to reach it.

An endpoint is what a docker context holds: a host URL and, for TCP, the TLS
material. The empty host is tuidock's own embedded engine (no daemon, no
socket); every other host is a Docker Engine API (Docker itself, or Podman's
Docker-compatible service) reached as the docker CLI reaches it:

- `unix:///path/to.sock`, an absolute path;
- `tcp://host[:port]`, port 2376 with TLS and 2375 without (docker's defaults);
- `ssh://[user@]host[:port]` through the system `ssh` client.

Parsing is strict and its errors say what a valid host looks like, because
the string comes from a flag, an environment variable or a context file the
user wrote. Nothing here opens a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from tuidock.errors import UsageError

LOCAL = "local"  # the name of the embedded engine's endpoint (and default context)
# The environment's choice of engine, after the -H/--context flags (docker's DOCKER_HOST/_CONTEXT).
HOST_ENV = "TUIDOCK_HOST"
CONTEXT_ENV = "TUIDOCK_CONTEXT"
CURRENT_FILE = "current-context"  # in the config dir: the name `context use` chose

_HOST_HINT = "Use unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]."


@dataclass(frozen=True)
class TLSConfig:
    """TLS for a tcp:// host, as the docker CLI's --tlsverify/--tlscacert/--tlscert/--tlskey."""

    verify: bool = True  # check the daemon's certificate against `ca`
    ca: str | None = None  # PEM file paths
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """A named way to reach an engine; `host` "" is the embedded engine."""

    name: str = LOCAL
    host: str = ""
    tls: TLSConfig | None = None

    @property
    def is_local(self) -> bool:
        return not self.host

    @property
    def scheme(self) -> str:
        """ "local", "unix", "tcp" or "ssh"."""
        return self.host.split("://", 1)[0] if self.host else LOCAL

    @property
    def display(self) -> str:
        """What the UI's header and `context ls` show for where the engine is."""
        return "embedded engine" if self.is_local else self.host


def parse_host(value: str, tls: bool = False) -> str:
    """The normalized form of a -H/--host value; UsageError naming what is wrong.

    tcp:// gets docker's default port (2376 with TLS, else 2375); unix:// must
    name an absolute path; ssh:// may carry a user and a port, nothing else.
    """
    raw = value.strip()
    if "://" not in raw:
        raise UsageError(f'invalid host "{value}": it has no scheme', _HOST_HINT)
    scheme, rest = raw.split("://", 1)
    scheme = scheme.lower()
    if scheme == "unix":
        if not rest.startswith("/"):
            raise UsageError(
                f'invalid host "{value}": the socket path must be absolute', _HOST_HINT
            )
        return f"unix://{rest}"
    if scheme not in ("tcp", "ssh"):
        raise UsageError(f'invalid host "{value}": unknown scheme "{scheme}"', _HOST_HINT)
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        port = parts.port
    except ValueError:
        raise UsageError(f'invalid host "{value}": bad port', _HOST_HINT) from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f'invalid host "{value}": expected {scheme}://HOST[:PORT]', _HOST_HINT)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if scheme == "tcp":
        if parts.username or parts.password:
            raise UsageError(f'invalid host "{value}": tcp:// takes no user', _HOST_HINT)
        return f"tcp://{host}:{port or (2376 if tls else 2375)}"
    if parts.password:
        raise UsageError(
            f'invalid host "{value}": ssh:// takes no password',
            "Use an ssh key or an ssh agent, as the docker CLI does.",
        )
    user = f"{parts.username}@" if parts.username else ""
    return f"ssh://{user}{host}" + (f":{port}" if port else "")
