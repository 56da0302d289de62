"""Which hosts serve a registry: mirrors, plain-HTTP registries, custom CAs.

Read from <config dir>/registries.toml, e.g.:

    [registries."docker.io"]
    mirrors = ["127.0.0.1:5000"]

    [registries."build.example:5000"]
    insecure = true          # plain HTTP or unverified TLS allowed
    ca_file = "/etc/ssl/my-ca.pem"

Loopback registries (127.0.0.0/8, ::1, localhost) are insecure by default, as
Docker treats them.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tuidock.core.reference import DEFAULT_DOMAIN
from tuidock.core.userfiles import DOCUMENT_MAX, read_user_text
from tuidock.errors import TuidockError
from tuidock.runtime.store import paths

DOCKER_HUB_API = "registry-1.docker.io"
CONFIG_NAME = "registries.toml"


@dataclass(frozen=True)
class Endpoint:
    """One host to ask for a repository of `domain`."""

    host: str
    insecure: bool = False
    ca_file: str | None = None
    mirror: bool = False


def is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class RegistrySettings:
    insecure: bool | None = None  # None: insecure only if loopback
    ca_file: str | None = None
    mirrors: tuple[str, ...] = ()


class RegistriesConfig:
    def __init__(self, settings: dict[str, RegistrySettings] | None = None) -> None:
        self.settings = settings or {}

    @classmethod
    def load(cls, path: Path | None = None) -> RegistriesConfig:
        path = path or paths.config_dir() / CONFIG_NAME
        try:
            data = tomllib.loads(read_user_text(str(path), "config file", DOCUMENT_MAX))
        except FileNotFoundError:
            return cls()
        except tomllib.TOMLDecodeError as exc:
            raise TuidockError(
                f"cannot read {path}: {exc}", "Fix or remove the file; see README for its format."
            ) from None
        settings = {}
        for name, table in (data.get("registries") or {}).items():
            if not isinstance(table, dict):
                raise TuidockError(f"{path}: [registries.{name!r}] must be a table")
            settings[name] = RegistrySettings(
                insecure=bool(table["insecure"]) if "insecure" in table else None,
                ca_file=table.get("ca_file"),
                mirrors=tuple(table.get("mirrors", ())),
            )
        return cls(settings)

    def _endpoint(self, host: str, mirror: bool = False) -> Endpoint:
        s = self.settings.get(host, RegistrySettings())
        insecure = s.insecure if s.insecure is not None else is_loopback(host)
        return Endpoint(host=host, insecure=insecure, ca_file=s.ca_file, mirror=mirror)

    def endpoints(self, domain: str) -> list[Endpoint]:
        """Mirrors first, then the registry itself, in the order to try them."""
        s = self.settings.get(domain, RegistrySettings())
        out = [
            self._endpoint(m.removeprefix("http://").removeprefix("https://"), True)
            for m in s.mirrors
        ]
        if domain == DEFAULT_DOMAIN:
            hub = self._endpoint(DOCKER_HUB_API)
            out.append(Endpoint(hub.host, bool(s.insecure), s.ca_file or hub.ca_file))
        else:
            out.append(self._endpoint(domain))
        return out


def _save(cfg: RegistriesConfig, path: Path) -> None:
    lines = []
    for name, st in cfg.settings.items():
        lines.append(f'[registries."{name}"]')
        if st.mirrors:
            lines.append("mirrors = [" + ", ".join(f'"{m}"' for m in st.mirrors) + "]")
        if st.insecure is not None:
            lines.append(f"insecure = {'true' if st.insecure else 'false'}")
        if st.ca_file:
            lines.append(f'ca_file = "{st.ca_file}"')
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def write_mirror(domain: str, mirror: str, path: Path | None = None) -> Path:
    """Make `mirror` the first mirror of `domain` in the user's registries.toml."""
    path = path or paths.config_dir() / CONFIG_NAME
    cfg = RegistriesConfig.load(path)
    s = cfg.settings.setdefault(domain, RegistrySettings())
    s.mirrors = (mirror, *[m for m in s.mirrors if m != mirror])
    _save(cfg, path)
    return path


def remove_mirror(domain: str, mirror: str, path: Path | None = None) -> None:
    path = path or paths.config_dir() / CONFIG_NAME
    cfg = RegistriesConfig.load(path)
    s = cfg.settings.get(domain)
    if s and mirror in s.mirrors:
        s.mirrors = tuple(m for m in s.mirrors if m != mirror)
        _save(cfg, path)
