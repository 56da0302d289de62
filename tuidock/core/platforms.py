"""Platforms (os/architecture/variant) and the choice of a manifest in an index."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Platform:
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
    arch, variant = _ARCH.get(_platform.machine().lower(), (_platform.machine().lower(), ""))
    return Platform("linux", arch, variant)


def parse_platform(text: str) -> Platform:
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(
            f"invalid platform {text!r}",
            "Use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8.",
        )
    arch, variant = parts[1], parts[2] if len(parts) == 3 else ""
    if arch in _ARCH and not variant:
        arch, variant = _ARCH[arch][0], ""
    return Platform(parts[0], arch, variant)


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
