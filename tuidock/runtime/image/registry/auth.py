"""Registry authentication: challenges, bearer tokens, stored credentials.

Credentials come from tuidock's own auth.json (written by `tuidock login`)
and then from Docker's ~/.docker/config.json, both in Docker's format:
{"auths": {"host": {"auth": base64("user:password")}}}.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tuidock.core.reference import DEFAULT_DOMAIN
from tuidock.core.userfiles import DOCUMENT_MAX, read_user_text
from tuidock.errors import TuidockError
from tuidock.runtime.linux.locking import atomic_write
from tuidock.runtime.store import paths

HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")

# key="quoted value" or key=token; the scope value itself holds commas, so the
# header cannot be split on commas.
_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))')


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a WWW-Authenticate header into its challenges (Bearer, Basic, ...)."""
    out: list[Challenge] = []
    pos = 0
    scheme_re = re.compile(r"\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)")
    while pos < len(header):
        m = scheme_re.match(header, pos)
        if not m:
            break
        scheme, pos = m.group(1), m.end()
        params: dict[str, str] = {}
        while True:
            pm = _PARAM.match(header, pos)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            pos = pm.end()
            sep = re.match(r"\s*,\s*", header[pos:])
            if not sep:
                break
            # A comma followed by a new scheme (word then space or end) ends this challenge.
            nxt = header[pos + sep.end() :]
            if (
                re.match(r"[A-Za-z][A-Za-z0-9_-]*(\s+[A-Za-z]|\s*$)", nxt)
                and "=" not in nxt.split(" ", 1)[0]
            ):
                break
            pos += sep.end()
        out.append(Challenge(scheme.lower(), params))
    return out


@dataclass
class Token:
    value: str
    expires_at: float

    def valid(self) -> bool:
        return time.time() < self.expires_at - 5


def token_from_response(data: dict) -> Token:
    value = data.get("token") or data.get("access_token")
    if not value or not isinstance(value, str):
        raise TuidockError("the registry's token service answered without a token")
    try:
        expires_in = int(data.get("expires_in") or 60)
    except (TypeError, ValueError):
        expires_in = 60
    return Token(value, time.time() + max(expires_in, 60))


def _norm_key(key: str) -> str:
    key = key.removeprefix("https://").removeprefix("http://")
    key = key.split("/", 1)[0]
    return DEFAULT_DOMAIN if key in {k.split("/")[2] if "//" in k else k for k in HUB_KEYS} else key


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def own_auth_path() -> Path:
    return paths.config_dir() / "auth.json"


def _read_auths(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(read_user_text(str(path), "credentials file", DOCUMENT_MAX))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except json.JSONDecodeError as exc:
        raise TuidockError(f"cannot read credentials from {path}: {exc}") from None
    auths = data.get("auths") if isinstance(data, dict) else None
    return auths if isinstance(auths, dict) else {}


def lookup_credentials(domain: str) -> tuple[str, str] | None:
    """User and password for a registry domain, from auth.json then Docker's config."""
    want = _norm_key(domain)
    for path in (own_auth_path(), docker_config_path()):
        for key, entry in _read_auths(path).items():
            if _norm_key(key) != want or not isinstance(entry, dict):
                continue
            if entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    raise TuidockError(
                        f"{path}: the 'auth' entry for {key} is not valid base64"
                    ) from None
                return user, password
            if entry.get("username"):
                return entry["username"], entry.get("password", "")
    return None


def store_credentials(domain: str, user: str, password: str) -> Path:
    path = own_auth_path()
    data = {"auths": _read_auths(path)}
    for key in list(data["auths"]):
        if _norm_key(key) == _norm_key(domain):
            del data["auths"][key]
    data["auths"][domain] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1).encode(), mode=0o600)
    return path


def remove_credentials(domain: str) -> bool:
    path = own_auth_path()
    auths = _read_auths(path)
    keys = [k for k in auths if _norm_key(k) == _norm_key(domain)]
    for key in keys:
        del auths[key]
    if keys:
        atomic_write(path, json.dumps({"auths": auths}, indent=1).encode(), mode=0o600)
    return bool(keys)
