"""Image references, normalised the way Docker does it.

`busybox` is `docker.io/library/busybox:latest`; `user/app` is
`docker.io/user/app:latest`; a first component holding `.` or `:` or equal
to `localhost` names a registry; `name@sha256:<hex>` pins a
digest.
"""

from __future__ import annotations

import re
from collections import namedtuple

from tuidock.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
NAME_MAX = 255


# A named tuple, not a frozen dataclass: as immutable and hashable, and it
# keeps dataclasses (and inspect, ast, dis) off every CLI start.
class Reference(
    namedtuple("Reference", ("domain", "path", "tag", "digest"), defaults=(None, None))
):
    domain: str
    path: str
    tag: str | None
    digest: str | None

    __slots__ = ()

    @property
    def name(self) -> str:
        """Fully qualified repository, e.g. docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short form Docker prints: busybox, user/app, host:5000/app."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_PREFIX) :]
            return self.path
        return self.name

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def familiar(self) -> str:
        out = self.familiar_name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    # A first component with capitals but no '.' or ':' (`UPPERCASE/img`) stays a
    # Docker Hub namespace: a registry host is named with a dot or a port, and
    # the user is told the name must be lowercase rather than sent to a host
    # that does not exist.
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse(text: str, default_tag: bool = True) -> Reference:
    """Parse and normalise an image reference, or raise InvalidReference."""
    original = text
    if not text or text != text.strip():
        raise InvalidReference(
            f"invalid reference format: {original!r}",
            "Image names look like busybox, user/app:1.0 or host:5000/ns/app@sha256:<digest>.",
        )
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise InvalidReference(f"invalid reference format: invalid digest {digest!r}")
        if digest.startswith("sha256:") and not _SHA256_RE.match(digest):
            raise InvalidReference(
                f"invalid reference format: {digest!r} is not sha256:<64 hex digits>"
            )
    tag = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InvalidReference(
                f"invalid reference format: invalid tag {tag!r}",
                "A tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'.",
            )
    if not text:
        raise InvalidReference(f"invalid reference format: {original!r} has no repository name")
    domain, path = _split_domain(text)
    if not _DOMAIN_RE.match(domain):
        raise InvalidReference(f"invalid reference format: invalid registry {domain!r}")
    if not _PATH_RE.match(path):
        if path.lower() != path and _PATH_RE.match(path.lower()):
            raise InvalidReference(
                f"invalid reference format: repository name ({path}) must be lowercase",
                f"Use {Reference(domain, path.lower()).familiar_name!r}: repository names "
                "have no capitals (tags may).",
            )
        raise InvalidReference(
            f"invalid reference format: {original!r}",
            "Repository names use lowercase letters, digits and separators (. _ __ -), "
            "with '/' between components.",
        )
    if len(f"{domain}/{path}") > NAME_MAX:
        raise InvalidReference(f"invalid reference format: repository name longer than {NAME_MAX}")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def is_digest(text: str) -> bool:
    return bool(_SHA256_RE.match(text))


def looks_like_id(text: str) -> bool:
    """True for a bare hex string or sha256:hex that could be an ID (prefix)."""
    body = text[7:] if text.startswith("sha256:") else text
    return 0 < len(body) <= 64 and all(c in "0123456789abcdef" for c in body)


def is_full_hex_id(text: str) -> bool:
    return bool(_HEX64_RE.match(text))


def familiar_tag(tag: str) -> str:
    try:
        return parse(tag).familiar()
    except InvalidReference:
        return tag


def familiar_digest(repo_digest: str) -> str:
    name, _, digest = repo_digest.partition("@")
    try:
        return f"{parse(name, default_tag=False).familiar_name}@{digest}"
    except InvalidReference:
        return repo_digest
