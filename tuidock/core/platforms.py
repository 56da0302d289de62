"""Platforms (os/architecture/variant) and the choice of a manifest in an index."""

from __future__ import annotations

import os
import re

from tuidock.core.record import Record
from tuidock.errors import PlatformMismatch, UsageError

_ARCH = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


class Platform(Record, frozen=True):
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        return f"{out}/{self.variant}" if self.variant else out

    def matches(self, entry: dict) -> bool:
        if entry.get("os") != self.os or entry.get("architecture") != self.architecture:
            return False
        want = self.variant or _default_variant(self.architecture)
        have = entry.get("variant") or _default_variant(self.architecture)
        return not want or want == have


def _default_variant(arch: str) -> str:
    # An arm64 entry without a variant means v8 (containerd's normalisation).
    return "v8" if arch == "arm64" else ""


def host_platform() -> Platform:
    arch, variant = _ARCH.get(os.uname().machine.lower(), (os.uname().machine.lower(), ""))
    return Platform("linux", arch, variant)


# The OS and architecture names Go knows (containerd's isKnownOS/isKnownArch),
# by which a one-word --platform is told apart from a typo.
_KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "windows",
        "zos",
    ]
)
_KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "ppc64",
        "ppc64le",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ]
)
_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+")


def parse_platform(text: str) -> Platform:
    """`os/arch[/variant]`, or one word naming an OS (the host's architecture) or an
    architecture (linux), with containerd's wording for what does not parse."""
    parts = text.strip().split("/")
    for part in parts:
        if not _COMPONENT.fullmatch(part):
            raise UsageError(
                f'"{part}" is an invalid component of "{text}": platform specifier component '
                'must match "^[A-Za-z0-9_.-]+$": invalid argument',
                _PLATFORM_HINT,
            )
    if len(parts) == 1:
        name = parts[0].lower()
        if name in _KNOWN_OS:
            host = host_platform()
            return Platform(name, host.architecture, host.variant)
        arch = _ARCH.get(name, (name, ""))[0]
        if arch in _KNOWN_ARCH:
            return Platform("linux", arch)
        raise UsageError(
            f'"{text}": unknown operating system or architecture: invalid argument',
            _PLATFORM_HINT,
        )
    if len(parts) > 3:
        raise UsageError(f'"{text}": cannot parse platform specifier: invalid argument')
    arch, variant = parts[1], parts[2] if len(parts) == 3 else ""
    if arch in _ARCH and not variant:
        arch, variant = _ARCH[arch][0], ""
    return Platform(parts[0], arch, variant)


_PLATFORM_HINT = "Use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8."


def describe(entry: dict) -> str:
    plat = entry.get("platform") or {}
    out = f"{plat.get('os', '?')}/{plat.get('architecture', '?')}"
    return out + (f"/{plat['variant']}" if plat.get("variant") else "")


def select_manifest(index: dict, want: Platform, name: str) -> dict:
    """The first entry of an index for `want`; attestations (unknown/unknown) never match."""
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    for entry in entries:
        plat = entry.get("platform") or {}
        if plat.get("os") == "unknown" or plat.get("architecture") == "unknown":
            continue
        if want.matches(plat):
            return entry
    available = sorted(
        {describe(m) for m in entries if (m.get("platform") or {}).get("os") != "unknown"}
    )
    raise PlatformMismatch(
        f"no matching manifest for {want} in {name}",
        "Available platforms: "
        + (", ".join(available) if available else "none")
        + ". Pick one with --platform.",
    )
