"""sha256 digests: the names of everything in the content-addressed store."""

from __future__ import annotations

import re

from tuidock.errors import DigestMismatch, TuidockError

_DIGEST = re.compile(r"^sha256:([a-f0-9]{64})$")


def hex_of(digest: str) -> str:
    """The hex part of a sha256 digest; anything else is refused."""
    m = _DIGEST.match(digest)
    if not m:
        raise TuidockError(
            f"unsupported or malformed digest {digest!r}", "Only sha256 digests are supported."
        )
    return m.group(1)


def sha256_digest(data: bytes) -> str:
    import hashlib  # ~2.5 ms: only the commands that hash pay for it

    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_bytes(data: bytes, expected: str, what: str) -> None:
    hex_of(expected)
    actual = sha256_digest(data)
    if actual != expected:
        raise DigestMismatch(
            f"{what}: digest mismatch: expected {expected}, got {actual}",
            "The registry served corrupt or tampered content; nothing was stored.",
        )


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(..Ln) = sha256(ChainID(..Ln-1) + ' ' + DiffID(Ln))."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append(sha256_digest(f"{out[-1]} {diff_id}".encode()))
    return out
